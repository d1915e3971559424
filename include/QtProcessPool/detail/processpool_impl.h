// SPDX-License-Identifier: MIT
// Internal header of QtProcessPool; do not include directly (include
// <QtProcessPool/processpool.h>, which includes it at its end). The bodies of
// ProcessPool's templates: they check the call, serialize the arguments, make
// the promise and hand everything to the exported submit functions.
#ifndef QTPROCESSPOOL_DETAIL_PROCESSPOOL_IMPL_H
#define QTPROCESSPOOL_DETAIL_PROCESSPOOL_IMPL_H

#include <QtProcessPool/detail/registry_impl.h>
#include <QtProcessPool/detail/serialization.h>
#include <QtProcessPool/detail/sink.h>
#include <QtProcessPool/detail/traits.h>
#include <QtProcessPool/processpool.h>

#include <QtCore/QDataStream>
#include <QtCore/QIODevice>

#include <iterator>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace QtProcessPool {

template <typename F, typename... Args>
auto ProcessPool::run(const TaskOptions &options, F f, Args &&...args)
{
    using Traits = detail::FunctionTraits<F>;
    checkCallable<Traits>();
    if constexpr (Traits::isCallable) {
        using Params = typename Traits::Params;
        using Result = typename Traits::Result;
        static_assert(std::tuple_size_v<Params> == sizeof...(Args),
                      "run() was given a different number of arguments than the task takes "
                      "(a QPromise<T>& first parameter is supplied by the pool).");
        if constexpr (std::tuple_size_v<Params> == sizeof...(Args)) {
            static_assert(detail::AllStreamable<Params>::value,
                          "Every task parameter type needs QDataStream operators << and >> "
                          "(arguments are serialized to reach the worker process).");
            static_assert(std::is_void_v<Result> || detail::isStreamable<Result>,
                          "The task's result type needs QDataStream operators << and >> "
                          "(results are serialized to come back from the worker process).");
            static_assert(std::is_void_v<Result> || std::is_default_constructible_v<Result>,
                          "The task's result type must be default-constructible (results "
                          "are decoded into a default-constructed value).");
            static_assert(argumentsConvert<Params, Args...>(),
                          "Each argument given to run() must convert implicitly to the "
                          "task's parameter type.");
            const detail::TaskEntry *entry =
                detail::findTask(typeid(F), detail::callableAddress(f));
            if (!entry)
                return detail::failedFuture<Result>(
                    unregisteredError(typeid(F), detail::callableAddress(f)));
            detail::TaskRequest request;
            request.name = entry->name;
            request.argTypes = entry->argTypes;
            request.resultType = entry->resultType;
            request.expectedResults = Traits::hasPromise ? -1 : std::is_void_v<Result> ? 0 : 1;
            request.arguments = detail::serializeArguments(static_cast<Params *>(nullptr),
                                                           std::forward<Args>(args)...);
            return submit<Result>(options, std::move(request));
        }
    }
}

template <typename F, typename... Args>
auto ProcessPool::run(F f, Args &&...args)
{
    return run(TaskOptions{}, std::move(f), std::forward<Args>(args)...);
}

template <typename R, typename... Args>
QFuture<R> ProcessPool::runNamed(const QString &name, Args &&...args)
{
    using Params = std::tuple<detail::WireType<Args>...>;
    static_assert(detail::AllStreamable<Params>::value,
                  "Every argument type given to runNamed() needs QDataStream operators << "
                  "and >>.");
    static_assert(std::is_void_v<R> || detail::isStreamable<R>,
                  "The result type of runNamed<R>() needs QDataStream operators << and >>.");
    static_assert(std::is_void_v<R> || std::is_default_constructible_v<R>,
                  "The result type of runNamed<R>() must be default-constructible.");
    detail::TaskRequest request;
    request.name = name;
    request.argTypes = detail::TypeNames<Params>::get();
    request.resultType = detail::typeName<R>();
    // Checked here too when this process registers the task: fails at once.
    if (const detail::TaskEntry *entry = detail::findTask(name)) {
        const QString mismatch =
            detail::signatureMismatch(*entry, request.argTypes, request.resultType);
        if (!mismatch.isEmpty())
            return detail::failedFuture<R>(TaskError(TaskError::Kind::BadArguments, mismatch));
        request.expectedResults = entry->hasPromise ? -1 : std::is_void_v<R> ? 0 : 1;
    }
    request.arguments =
        detail::serializeArguments(static_cast<Params *>(nullptr), std::forward<Args>(args)...);
    return submit<R>(TaskOptions{}, std::move(request));
}

template <typename F, typename Sequence>
auto ProcessPool::mapped(F f, const Sequence &items, int chunkSize)
{
    using Traits = detail::FunctionTraits<F>;
    checkCallable<Traits>();
    if constexpr (Traits::isCallable) {
        using Params = typename Traits::Params;
        using Result = typename Traits::Result;
        static_assert(!Traits::hasPromise,
                      "mapped() takes a function of one item; a QPromise<T>& task cannot be "
                      "mapped.");
        static_assert(std::tuple_size_v<Params> == 1,
                      "mapped() needs a function taking exactly one parameter (the item).");
        if constexpr (!Traits::hasPromise && std::tuple_size_v<Params> == 1) {
            using Item = std::tuple_element_t<0, Params>;
            using std::begin;
            using std::end;
            static_assert(argumentsConvert<Params, decltype(*begin(items))>(),
                          "The items given to mapped() must convert implicitly to the "
                          "function's parameter type.");
            static_assert(detail::isStreamable<Item>,
                          "The parameter type of a mapped() function needs QDataStream "
                          "operators << and >>.");
            static_assert(std::is_void_v<Result> || detail::isStreamable<Result>,
                          "The result type of a mapped() function needs QDataStream "
                          "operators << and >>.");
            const detail::TaskEntry *entry =
                detail::findTask(typeid(F), detail::callableAddress(f));
            if (!entry)
                return detail::failedFuture<Result>(
                    unregisteredError(typeid(F), detail::callableAddress(f)));
            detail::MapRequest request;
            request.name = entry->name;
            request.argTypes = entry->argTypes;
            request.resultType = entry->resultType;
            const qsizetype count = qsizetype(std::distance(begin(items), end(items)));
            const int chunk =
                chunkSize > 0 ? chunkSize : detail::autoChunkSize(count, maxWorkers());
            request.totalItems = int(count);
            detail::Payload bytes;
            std::optional<QDataStream> out; // one per chunk, not per item
            int inChunk = 0;
            for (auto it = begin(items); it != end(items); ++it) {
                if (!out) {
                    out.emplace(bytes.bytes(), QIODevice::WriteOnly | QIODevice::Append);
                    out->setVersion(detail::StreamVersion);
                }
                detail::writeConverted<Item>(*out, bytes, *it);
                if (++inChunk == chunk) {
                    out.reset();
                    request.chunks.emplace_back(std::move(bytes), inChunk);
                    bytes = detail::Payload();
                    inChunk = 0;
                }
            }
            out.reset();
            if (inChunk > 0)
                request.chunks.emplace_back(std::move(bytes), inChunk);
            auto sink = std::make_unique<detail::PromiseSink<Result>>();
            QFuture<Result> future = sink->future();
            request.sink = std::move(sink);
            submitMapped(std::move(request));
            return future;
        }
    }
}

template <typename F, typename... Args>
void ProcessPool::setWorkerInitializer(F f, Args &&...args)
{
    using Traits = detail::FunctionTraits<F>;
    checkCallable<Traits>();
    if constexpr (Traits::isCallable) {
        using Params = typename Traits::Params;
        static_assert(!Traits::hasPromise, "A worker initializer cannot take a QPromise.");
        static_assert(std::tuple_size_v<Params> == sizeof...(Args),
                      "setWorkerInitializer() was given a different number of arguments "
                      "than the function takes.");
        if constexpr (!Traits::hasPromise && std::tuple_size_v<Params> == sizeof...(Args)) {
            static_assert(argumentsConvert<Params, Args...>(),
                          "Each argument must convert implicitly to the initializer's "
                          "parameter type.");
            detail::TaskRequest request;
            if (const detail::TaskEntry *entry =
                    detail::findTask(typeid(F), detail::callableAddress(f))) {
                request.name = entry->name;
                request.argTypes = entry->argTypes;
                request.resultType = entry->resultType;
                request.arguments = detail::serializeArguments(static_cast<Params *>(nullptr),
                                                               std::forward<Args>(args)...);
            } else {
                // No worker has it: each fails to start, saying so.
                request.name = QStringLiteral("<unregistered initializer: register it with "
                                              "QPP_REGISTER_TASK>");
                request.resultType = QStringLiteral("void");
            }
            setInitializer(std::move(request));
        }
    }
}

template <typename Traits>
constexpr void ProcessPool::checkCallable()
{
    static_assert(!Traits::isMemberFunction,
                  "A non-static member function cannot run in another process: there is no "
                  "object there. Use a free or static function, or a lambda.");
    static_assert(Traits::isCallable,
                  "The pool runs registered functions, captureless lambdas and function "
                  "objects with one non-template operator().");
    // A capturing lambda is never registered (each lambda has its own type) and
    // its captures could not reach the worker anyway: without this it would
    // compile and fail at run time with TaskError::UnknownTask.
    static_assert(!Traits::isCallable || Traits::isStateless,
                  "A capturing lambda, or a function object with data members, cannot be sent "
                  "to a worker: the worker runs the registered task, without the captures or "
                  "members. Pass the values as arguments to a registered function or "
                  "captureless lambda (or call a registered function object by name with "
                  "runNamed()).");
}

inline TaskError ProcessPool::unregisteredError(std::type_index type, quintptr address)
{
    return TaskError(TaskError::Kind::UnknownTask, detail::unregisteredReason(type, address));
}

template <typename Params, typename... Args>
constexpr bool ProcessPool::argumentsConvert()
{
    return argumentsConvertImpl<Params, Args...>(
        std::make_index_sequence<std::tuple_size_v<Params>>());
}

template <typename Params, typename... Args, std::size_t... I>
constexpr bool ProcessPool::argumentsConvertImpl(std::index_sequence<I...>)
{
    return ((std::is_convertible_v<Args &&, std::tuple_element_t<I, Params>> ||
             std::is_same_v<std::tuple_element_t<I, Params>, detail::WireType<Args>>)&&...);
}

template <typename R>
QFuture<R> ProcessPool::submit(const TaskOptions &options, detail::TaskRequest &&request)
{
    auto sink = std::make_unique<detail::PromiseSink<R>>();
    QFuture<R> future = sink->future();
    request.priority = options.priority;
    request.timeout = options.timeout;
    request.sink = std::move(sink);
    submitRequest(std::move(request));
    return future;
}

} // namespace QtProcessPool

#endif
