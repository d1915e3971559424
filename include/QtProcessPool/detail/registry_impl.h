// SPDX-License-Identifier: MIT
// Internal header of QtProcessPool; do not include directly (include
// <QtProcessPool/registry.h>). What QPP_REGISTER_TASK expands to: the task
// table's entries, the invokers that decode a call and run it in the worker,
// and the static registrar.
#ifndef QTPROCESSPOOL_DETAIL_REGISTRY_IMPL_H
#define QTPROCESSPOOL_DETAIL_REGISTRY_IMPL_H

#include <QtProcessPool/detail/serialization.h>
#include <QtProcessPool/detail/traits.h>
#include <QtProcessPool/qtprocesspool_export.h>

#include <QtCore/QByteArray>
#include <QtCore/QDataStream>
#include <QtCore/QFuture>
#include <QtCore/QPromise>
#include <QtCore/QString>
#include <QtCore/QStringList>

#include <functional>
#include <memory>
#include <typeindex>
#include <utility>

namespace QtProcessPool::detail {

/// A QPromise task while it runs in the worker: the worker's I/O thread polls
/// it for new results and progress, and cancels it, while the task runs on the
/// main thread. Every member is thread-safe (QFuture's own locking).
class RunningPromise
{
public:
    virtual ~RunningPromise() = default;
    virtual int resultCount() const = 0;
    /// Results [from, to), serialized with StreamVersion, back to back.
    virtual QByteArray serializeResults(int from, int to) const = 0;
    virtual void progress(int *minimum, int *maximum, int *value, QString *text) const = 0;
    virtual void cancel() = 0;
    virtual void setSuspended(bool suspended) = 0;
};

template <typename T>
class RunningPromiseOf final : public RunningPromise
{
public:
    explicit RunningPromiseOf(QFuture<T> future)
        : m_future(std::move(future))
    {
    }
    int resultCount() const override
    {
        if constexpr (std::is_void_v<T>)
            return 0;
        else
            return m_future.resultCount();
    }
    QByteArray serializeResults(int from, int to) const override
    {
        QByteArray bytes;
        if constexpr (!std::is_void_v<T>) {
            QDataStream out(&bytes, QIODevice::WriteOnly);
            out.setVersion(StreamVersion);
            for (int i = from; i < to; ++i)
                out << m_future.resultAt(i);
        }
        return bytes;
    }
    void progress(int *minimum, int *maximum, int *value, QString *text) const override
    {
        *minimum = m_future.progressMinimum();
        *maximum = m_future.progressMaximum();
        *value = m_future.progressValue();
        *text = m_future.progressText();
    }
    void cancel() override { m_future.cancel(); }
    void setSuspended(bool suspended) override { m_future.setSuspended(suspended); }

private:
    QFuture<T> m_future;
};

/// What a task produced, serialized with StreamVersion (filled in the worker).
struct TaskOutput
{
    Payload results;
    int resultCount = 0;
    /// Appends to results: one stream for all the results of a call or a
    /// chunk, not one (with its QBuffer) per value. Reset before taking results.
    std::unique_ptr<QDataStream> stream;
    /// Called (main thread) before a QPromise task runs; its results and
    /// progress travel through the handle rather than through results above.
    std::function<void(std::shared_ptr<RunningPromise>)> promiseStarted;
};

struct TaskEntry
{
    QString name;
    QStringList argTypes;
    QString resultType;
    bool hasPromise = false;
    /// Identity for run(f): the callable's type, plus the address for function pointers.
    std::type_index type = typeid(void);
    quintptr address = 0;
    /// Decodes one call's arguments from the stream, runs the task and appends
    /// its results. Returns false, without running anything, when the
    /// arguments do not decode. Exceptions thrown by the task propagate.
    std::function<bool(QDataStream &arguments, TaskOutput &output)> invoke;
};

QTPROCESSPOOL_EXPORT void registerTask(TaskEntry entry);
/// nullptr when no task has that name. Thread-safe after static initialization.
QTPROCESSPOOL_EXPORT const TaskEntry *findTask(const QString &name);
QTPROCESSPOOL_EXPORT const TaskEntry *findTask(std::type_index type, quintptr address);
/// Why findTask(type, address) found nothing, for the UnknownTask error.
QTPROCESSPOOL_EXPORT QString unregisteredReason(std::type_index type, quintptr address);
/// Empty when a call with these argument and result types matches the entry,
/// else a sentence saying what differs.
QTPROCESSPOOL_EXPORT QString signatureMismatch(const TaskEntry &entry, const QStringList &argTypes,
                                               const QString &resultType);

template <typename F>
quintptr callableAddress(const F &f)
{
    if constexpr (std::is_pointer_v<F>)
        return reinterpret_cast<quintptr>(f);
    else
        return 0;
}

template <typename Raw, typename T>
decltype(auto) passArgument(T &value)
{
    // A parameter declared as a non-const lvalue reference gets the decoded
    // object itself; everything else gets it moved.
    if constexpr (std::is_lvalue_reference_v<Raw> && !std::is_const_v<std::remove_reference_t<Raw>>)
        return static_cast<T &>(value);
    else
        return static_cast<T &&>(value);
}

template <typename T>
void writeResult(TaskOutput &output, const T &value)
{
    if (!output.stream) {
        if (output.results.isEmpty())
            output.results = bufferFor(serializedSizeHint(value));
        output.stream = std::make_unique<QDataStream>(output.results.bytes(),
                                                      QIODevice::WriteOnly | QIODevice::Append);
        output.stream->setVersion(StreamVersion);
    }
    writeValue(*output.stream, output.results, value);
    ++output.resultCount;
}

template <typename Traits, typename F, std::size_t... I>
bool invokeTask(const F &f, QDataStream &in, TaskOutput &output, std::index_sequence<I...>)
{
    using Params = typename Traits::Params;
    using RawParams = typename Traits::RawParams;
    using Result = typename Traits::Result;

    Params args;
    if (!(readValue(in, std::get<I>(args)) && ...))
        return false;

    if constexpr (Traits::hasPromise) {
        QPromise<Result> promise;
        promise.start();
        if (output.promiseStarted)
            output.promiseStarted(std::make_shared<RunningPromiseOf<Result>>(promise.future()));
        f(promise, passArgument<std::tuple_element_t<I, RawParams>>(std::get<I>(args))...);
        promise.finish();
        if (!output.promiseStarted && !promise.isCanceled()) {
            if constexpr (!std::is_void_v<Result>) {
                for (const Result &value : promise.future().results())
                    writeResult(output, value);
            }
        }
    } else if constexpr (std::is_void_v<Result>) {
        f(passArgument<std::tuple_element_t<I, RawParams>>(std::get<I>(args))...);
    } else {
        writeResult(output,
                    f(passArgument<std::tuple_element_t<I, RawParams>>(std::get<I>(args))...));
    }
    return true;
}

template <typename F>
TaskEntry makeTaskEntry(const char *name, F f)
{
    using Traits = FunctionTraits<F>;
    static_assert(!Traits::isMemberFunction,
                  "A non-static member function cannot be a task: there is no object in the "
                  "worker process. Register a free or static function, or a lambda.");
    static_assert(Traits::isCallable,
                  "A task must be a function, a captureless lambda or a function object with one "
                  "non-template operator().");
    if constexpr (Traits::isCallable) {
        using Params = typename Traits::Params;
        using Result = typename Traits::Result;
        static_assert(Traits::returnsVoidIfPromise,
                      "A task taking QPromise<T>& reports its results through the promise and "
                      "must return void.");
        static_assert(AllStreamable<Params>::value,
                      "Every task parameter type needs QDataStream operators << and >>.");
        static_assert(AllDefaultConstructible<Params>::value,
                      "Every task parameter type must be default-constructible (it is decoded "
                      "into a default-constructed value).");
        static_assert(std::is_void_v<Result> || isStreamable<Result>,
                      "The task's result type needs QDataStream operators << and >>.");

        TaskEntry entry;
        entry.name = QString::fromUtf8(name);
        entry.argTypes = TypeNames<Params>::get();
        entry.resultType = typeName<Result>();
        entry.hasPromise = Traits::hasPromise;
        entry.type = typeid(F);
        entry.address = callableAddress(f);
        entry.invoke = [f](QDataStream &in, TaskOutput &output) {
            return invokeTask<Traits>(f, in, output,
                                      std::make_index_sequence<std::tuple_size_v<Params>>());
        };
        return entry;
    } else {
        return {};
    }
}

struct Registrar
{
    template <typename F>
    Registrar(const char *name, F &&f)
    {
        registerTask(makeTaskEntry(name, std::decay_t<F>(std::forward<F>(f))));
    }
};

} // namespace QtProcessPool::detail

#define QPP_DETAIL_CONCAT2(a, b) a##b
#define QPP_DETAIL_CONCAT(a, b) QPP_DETAIL_CONCAT2(a, b)

#endif
