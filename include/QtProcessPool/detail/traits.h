// SPDX-License-Identifier: MIT
// Internal header of QtProcessPool; do not include directly.
#ifndef QTPROCESSPOOL_DETAIL_TRAITS_H
#define QTPROCESSPOOL_DETAIL_TRAITS_H

#include <QtCore/QDataStream>
#include <QtCore/QMetaType>
#include <QtCore/QPromise>
#include <QtCore/QString>
#include <QtCore/QStringList>

#include <tuple>
#include <type_traits>

namespace QtProcessPool::detail {

/// What a task's signature means to the pool. Params: the decayed types that
/// travel on the wire; RawParams: the declared ones (to pass lvalue references
/// as lvalues). A first parameter QPromise<T>& makes it a promise task of T.
template <typename R, typename... P>
struct Signature
{
    static constexpr bool isCallable = true;
    static constexpr bool hasPromise = false;
    static constexpr bool returnsVoidIfPromise = true;
    using Result = std::decay_t<R>;
    using Params = std::tuple<std::decay_t<P>...>;
    using RawParams = std::tuple<P...>;
};

template <typename R, typename T, typename... P>
struct Signature<R, QPromise<T> &, P...>
{
    static constexpr bool isCallable = true;
    static constexpr bool hasPromise = true;
    static constexpr bool returnsVoidIfPromise = std::is_void_v<R>;
    using Result = T;
    using Params = std::tuple<std::decay_t<P>...>;
    using RawParams = std::tuple<P...>;
};

/// isStateless: run(f) can find f's registered copy by f's type (and address)
/// alone, because f carries no state the worker would need: a function
/// pointer, a captureless lambda or a function object without data members
/// (an empty class). A capturing lambda is none of these, nor a function
/// object with members: the worker would run the registered copy's state.
template <typename F, typename = void>
struct FunctionTraits
{
    static constexpr bool isCallable = false;
    static constexpr bool isMemberFunction = false;
    static constexpr bool isStateless = true;
};

template <typename R, typename... P>
struct FunctionTraits<R (*)(P...), void> : Signature<R, P...>
{
    static constexpr bool isMemberFunction = false;
    static constexpr bool isStateless = true;
};
template <typename R, typename... P>
struct FunctionTraits<R (*)(P...) noexcept, void> : Signature<R, P...>
{
    static constexpr bool isMemberFunction = false;
    static constexpr bool isStateless = true;
};

template <typename M>
struct MemberTraits
{
    static constexpr bool isCallable = false;
    using FunctionPointer = void;
};
// FunctionPointer: what a captureless lambda with this operator() converts to.
#define QPP_DETAIL_MEMBER_TRAITS(QUALIFIERS)                                                       \
    template <typename R, typename C, typename... P>                                               \
    struct MemberTraits<R (C::*)(P...) QUALIFIERS> : Signature<R, P...>                            \
    {                                                                                              \
        using FunctionPointer = R (*)(P...);                                                       \
    };
QPP_DETAIL_MEMBER_TRAITS()
QPP_DETAIL_MEMBER_TRAITS(const)
QPP_DETAIL_MEMBER_TRAITS(noexcept)
QPP_DETAIL_MEMBER_TRAITS(const noexcept)
#undef QPP_DETAIL_MEMBER_TRAITS

// Lambdas and function objects: the signature of their (single, non-template) operator().
template <typename F>
struct FunctionTraits<F,
                      std::enable_if_t<std::is_class_v<F>, std::void_t<decltype(&F::operator())>>>
    : MemberTraits<decltype(&F::operator())>
{
    static constexpr bool isMemberFunction = false;
    static constexpr bool isStateless = std::is_empty_v<F>;
};

// Non-static member functions cannot run in another process: there is no object there.
template <typename M>
struct FunctionTraits<M, std::enable_if_t<std::is_member_function_pointer_v<M>>>
{
    static constexpr bool isCallable = false;
    static constexpr bool isMemberFunction = true;
    static constexpr bool isStateless = true;
};

template <typename T>
inline constexpr bool isStreamable = QTypeTraits::has_ostream_operator_v<QDataStream, T>
    &&QTypeTraits::has_istream_operator_v<QDataStream, T>;

template <typename Tuple>
struct AllStreamable;
template <typename... P>
struct AllStreamable<std::tuple<P...>> : std::bool_constant<(isStreamable<P> && ...)>
{
};

template <typename Tuple>
struct AllDefaultConstructible;
template <typename... P>
struct AllDefaultConstructible<std::tuple<P...>>
    : std::bool_constant<(std::is_default_constructible_v<P> && ...)>
{
};

/// The name a type travels under, so both sides can check a call matches the
/// task's signature without decoding anything.
template <typename T>
QString typeName()
{
    if constexpr (std::is_void_v<T>)
        return QStringLiteral("void");
    else
        return QString::fromLatin1(QMetaType::fromType<T>().name());
}

template <typename Tuple>
struct TypeNames;
template <typename... P>
struct TypeNames<std::tuple<P...>>
{
    static QStringList get() { return QStringList{typeName<P>()...}; }
};

/// The type a runNamed() argument travels as: string literals become QString.
template <typename A>
using WireType = std::conditional_t<std::is_same_v<std::decay_t<A>, const char *> ||
                                        std::is_same_v<std::decay_t<A>, char *>,
                                    QString, std::decay_t<A>>;

} // namespace QtProcessPool::detail

#endif
