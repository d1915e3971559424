// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_PROCESSPOOL_H
#define QTPROCESSPOOL_PROCESSPOOL_H

#include <QtProcessPool/detail/sink.h>
#include <QtProcessPool/detail/traits.h>
#include <QtProcessPool/qtprocesspool_export.h>
#include <QtProcessPool/registry.h>
#include <QtProcessPool/statistics.h>
#include <QtProcessPool/taskerror.h>
#include <QtProcessPool/taskoptions.h>
#include <QtProcessPool/worker.h>

#include <QtCore/QFuture>
#include <QtCore/QObject>
#include <QtCore/QProcess>
#include <QtCore/QProcessEnvironment>
#include <QtCore/QStringList>

#include <chrono>
#include <iterator>
#include <memory>
#include <optional>

namespace QtProcessPool {

class ProcessPoolPrivate;

/// A pool of worker processes running registered tasks (see registry.h).
///
/// Threads: create, use and destroy a pool on one thread (the pool's thread,
/// normally the GUI thread). run() never blocks it. Every signal, and every
/// continuation attached with a context object living there
/// (future.then(this, ...)), runs on that thread. Socket I/O, decoding of
/// results and promise fulfilment happen on the pool's own I/O thread; a
/// continuation attached without a context runs there, so keep it short or give
/// it a context.
///
/// Guarantees: every future returned by the pool finishes exactly once, with
/// its results, with a TaskError, or canceled, whatever its worker does.
class QTPROCESSPOOL_EXPORT ProcessPool : public QObject
{
    Q_OBJECT
    Q_DECLARE_PRIVATE(ProcessPool)
    Q_PROPERTY(int maxWorkers READ maxWorkers WRITE setMaxWorkers)
    Q_PROPERTY(int minWorkers READ minWorkers WRITE setMinWorkers)
    Q_PROPERTY(std::chrono::milliseconds idleTimeout READ idleTimeout WRITE setIdleTimeout)
    Q_PROPERTY(int maxTasksPerWorker READ maxTasksPerWorker WRITE setMaxTasksPerWorker)
    Q_PROPERTY(std::chrono::milliseconds taskTimeout READ taskTimeout WRITE setTaskTimeout)
    Q_PROPERTY(std::chrono::milliseconds cancelGracePeriod READ cancelGracePeriod WRITE
                   setCancelGracePeriod)
    Q_PROPERTY(std::chrono::milliseconds workerStartTimeout READ workerStartTimeout WRITE
                   setWorkerStartTimeout)
    Q_PROPERTY(int maxQueuedTasks READ maxQueuedTasks WRITE setMaxQueuedTasks)
    Q_PROPERTY(qint64 maxMessageSize READ maxMessageSize WRITE setMaxMessageSize)
    Q_PROPERTY(qint64 workerMemoryLimit READ workerMemoryLimit WRITE setWorkerMemoryLimit)
    Q_PROPERTY(qint64 maxWorkerRss READ maxWorkerRss WRITE setMaxWorkerRss)
    Q_PROPERTY(QString workerProgram READ workerProgram)
    Q_PROPERTY(int workerCount READ workerCount)
    Q_PROPERTY(int busyWorkerCount READ busyWorkerCount NOTIFY busyWorkerCountChanged)
    Q_PROPERTY(int queuedTaskCount READ queuedTaskCount NOTIFY queuedTaskCountChanged)
    Q_PROPERTY(int runningTaskCount READ runningTaskCount)

public:
    explicit ProcessPool(QObject *parent = nullptr);
    /// Cancels every pending future (queued or running), stops every worker
    /// (idle ones get a moment to exit on their own, busy ones are killed) and
    /// reaps them: no worker process or zombie outlives the pool. Returns
    /// within about a second.
    ~ProcessPool() override;

    /// Runs f(args...) in a worker. f must be registered (QPP_REGISTER_TASK);
    /// the arguments are converted to f's parameter types and serialized now.
    /// Returns QFuture<R> (R: f's result, or T when f takes QPromise<T>&). An
    /// unregistered f gives a future already failed with TaskError::UnknownTask.
    /// A lambda or function object is identified by its type, a function by its
    /// address. Never blocks.
    template <typename F, typename... Args>
    auto run(F f, Args &&...args)
    {
        return run(TaskOptions{}, std::move(f), std::forward<Args>(args)...);
    }

    template <typename F, typename... Args>
    auto run(const TaskOptions &options, F f, Args &&...args)
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
                    return detail::failedFuture<Result>(unregisteredError());
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

    /// Runs the task registered under name, which must take exactly the
    /// argument types given (string literals travel as QString) and return R
    /// (or take QPromise<R>&). A mismatch fails the future with
    /// TaskError::BadArguments, an unknown name with TaskError::UnknownTask;
    /// nothing undecodable ever reaches the task.
    template <typename R, typename... Args>
    QFuture<R> runNamed(const QString &name, Args &&...args)
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
        request.arguments = detail::serializeArguments(static_cast<Params *>(nullptr),
                                                       std::forward<Args>(args)...);
        return submit<R>(TaskOptions{}, std::move(request));
    }

    /// Runs f once per item of items (QList, std::vector, any sequence with
    /// begin()/end()) and returns one future with one result per item, at the
    /// item's index (QFutureWatcher::resultReadyAt fires as chunks finish).
    /// Items are converted to f's parameter type and serialized now, and sent
    /// to workers in chunks of chunkSize items (0: about four chunks per
    /// worker, at most 4096 items each). Progress counts finished items.
    /// An item that throws (or whose worker crashes) fails the whole future
    /// with its TaskError: chunks not started are dropped, running ones stop
    /// at their next item. cancel() does the same without an error; a chunk
    /// still running after cancelGracePeriod() is killed with its worker.
    /// TaskOptions do not apply; taskTimeout() applies to each chunk.
    template <typename F, typename Sequence>
    auto mapped(F f, const Sequence &items, int chunkSize = 0)
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
                    return detail::failedFuture<Result>(unregisteredError());
                detail::MapRequest request;
                request.name = entry->name;
                request.argTypes = entry->argTypes;
                request.resultType = entry->resultType;
                const qsizetype count = qsizetype(std::distance(begin(items), end(items)));
                const int chunk =
                    chunkSize > 0 ? chunkSize : detail::autoChunkSize(count, maxWorkers());
                request.totalItems = int(count);
                QByteArray bytes;
                std::optional<QDataStream> out; // one per chunk, not per item
                int inChunk = 0;
                for (auto it = begin(items); it != end(items); ++it) {
                    if (!out) {
                        out.emplace(&bytes, QIODevice::WriteOnly | QIODevice::Append);
                        out->setVersion(detail::StreamVersion);
                    }
                    detail::writeConverted<Item>(*out, *it);
                    if (++inChunk == chunk) {
                        out.reset();
                        request.chunks.emplace_back(std::move(bytes), inChunk);
                        bytes = QByteArray();
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

    /// Upper bound of worker processes, started lazily as tasks arrive.
    /// Default QThread::idealThreadCount(); at least 1.
    int maxWorkers() const;
    void setMaxWorkers(int count);
    /// Workers kept alive even when idle (started by prestart() or on first
    /// use, and replaced when they end). Default 0.
    int minWorkers() const;
    void setMinWorkers(int count);
    /// Workers above minWorkers() exit after this long without work. Default
    /// 30 s; 0: never.
    std::chrono::milliseconds idleTimeout() const;
    void setIdleTimeout(std::chrono::milliseconds timeout);
    /// A worker retires after this many tasks (between tasks; its replacement
    /// may start while it finishes its last one, so maxWorkers() + 1
    /// processes can exist briefly). workerRecycled() is emitted. 0: never.
    int maxTasksPerWorker() const;
    void setMaxTasksPerWorker(int count);
    /// Longest a task may run, counted from its start in a worker (not its wait
    /// in the queue); past it the task fails with TaskError::TimedOut and its
    /// worker is killed and replaced. TaskOptions::timeout overrides it per
    /// task; for mapped() it applies to each chunk. 0 (default): none.
    std::chrono::milliseconds taskTimeout() const;
    void setTaskTimeout(std::chrono::milliseconds timeout);
    /// After future.cancel() on a running task, how long its worker may take to
    /// stop (a QPromise task sees isCanceled() at once) before it is killed and
    /// replaced. The future itself finishes canceled at once. Default 1 s; 0:
    /// kill at once.
    std::chrono::milliseconds cancelGracePeriod() const;
    void setCancelGracePeriod(std::chrono::milliseconds period);
    /// How long a starting worker may take to connect and prove its secret
    /// before it is killed and counted as a start failure. Default 10 s.
    std::chrono::milliseconds workerStartTimeout() const;
    void setWorkerStartTimeout(std::chrono::milliseconds timeout);
    /// With this many tasks queued, run() returns a future already failed with
    /// TaskError::QueueFull. 0 (default): unlimited.
    int maxQueuedTasks() const;
    void setMaxQueuedTasks(int count);
    /// Frames larger than this (either direction) are refused and close the
    /// connection; a larger result fails its task with ProtocolError. Default 1 GiB.
    qint64 maxMessageSize() const;
    void setMaxMessageSize(qint64 bytes);

    /// The program workers run; default QCoreApplication::applicationFilePath().
    /// Its main() must call isWorkerProcess()/execWorker(). Affects workers
    /// started afterwards.
    QString workerProgram() const;
    QStringList workerArguments() const;
    void setWorkerProgram(const QString &program, const QStringList &arguments = {});
    /// Environment and working directory of workers started afterwards.
    void setWorkerEnvironment(const QProcessEnvironment &environment);
    void setWorkerWorkingDirectory(const QString &directory);

    /// Hard cap of each worker's address space (RLIMIT_AS on Linux), for
    /// workers started afterwards. A task allocating past it fails with
    /// TaskError::Exception (std::bad_alloc) or, if its worker dies of it,
    /// Crashed with the limit named; the pool goes on. 0 (default): none.
    /// Incompatible with AddressSanitizer builds of the worker.
    qint64 workerMemoryLimit() const;
    void setWorkerMemoryLimit(qint64 bytes);
    /// A worker whose resident memory exceeds this after a task is retired
    /// gracefully and replaced (a guard against leaks in task code; Linux).
    /// 0 (default): never.
    qint64 maxWorkerRss() const;
    void setMaxWorkerRss(qint64 bytes);

    /// Runs f(args...) once in every worker started afterwards, before its
    /// first task (e.g. to load a model); f must be registered. If it throws
    /// or crashes, the worker counts as failed to start: waiting tasks fail
    /// with TaskError::WorkerStartFailed carrying its message, after the same
    /// back-off as other start failures. workerStartTimeout() includes it.
    template <typename F, typename... Args>
    void setWorkerInitializer(F f, Args &&...args)
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
                    request.arguments = detail::serializeArguments(
                        static_cast<Params *>(nullptr), std::forward<Args>(args)...);
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
    /// No initializer for workers started afterwards.
    void clearWorkerInitializer();

    /// A snapshot of the counts and timings since the pool was created.
    Statistics statistics() const;

    /// Starts max(minWorkers(), 1) workers now (bounded by maxWorkers()), so the
    /// first tasks do not pay the start-up time.
    void prestart();
    /// Runs a local event loop until nothing is queued or running, or msecs
    /// pass (-1: no limit). Returns true if the pool became idle.
    bool waitForDone(int msecs = -1);

    /// Live counts (any thread; a snapshot).
    int workerCount() const;
    int busyWorkerCount() const;
    int queuedTaskCount() const;
    int runningTaskCount() const;
    QList<qint64> workerPids() const;

Q_SIGNALS:
    void workerStarted(qint64 pid);
    void workerExited(qint64 pid, int exitCode, QProcess::ExitStatus status);
    /// A worker ended without being asked to (signal, exit, OOM kill, an
    /// outside kill). Emitted after workerExited() for the same pid. Never for
    /// a worker the pool killed itself (workerKilled()) or retired.
    void workerCrashed(qint64 pid, const QString &reason);
    /// The pool killed a worker by its own decision: a running task's timeout
    /// or cancel grace period ran out, or the worker broke the protocol.
    /// Emitted after workerExited() for the same pid; never with workerCrashed().
    void workerKilled(qint64 pid, const QString &reason);
    /// The counts and idle() are coalesced: at most one update per 10 ms
    /// reaches this thread (the first at once, the latest at the end of the
    /// interval), so a stream of tiny tasks does not flood it; a count may
    /// skip values it held only briefly, never the one it settles on.
    void queuedTaskCountChanged(int count);
    void busyWorkerCountChanged(int count);
    void workerRecycled(qint64 pid, const QString &reason);
    /// Lines a worker wrote to its stdout or stderr: one or more whole lines,
    /// joined by '\n' (no newline at the end). The first batch is emitted at
    /// once, then at most one per channel every 20 ms while the worker keeps
    /// printing. A batch holds at most 256 KiB; lines past that are dropped
    /// and the batch ends with "[qtprocesspool: N lines of worker output
    /// dropped]". Also forwarded to this process's stderr as
    /// "[worker <pid>] line", with one write per batch.
    void workerOutput(qint64 pid, QProcess::ProcessChannel channel, const QString &lines);
    /// Nothing queued or running any more (within 10 ms of it; see above).
    void idle();

private:
    template <typename Traits>
    static constexpr void checkCallable()
    {
        static_assert(!Traits::isMemberFunction,
                      "A non-static member function cannot run in another process: there is no "
                      "object there. Use a free or static function, or a lambda.");
        static_assert(Traits::isCallable,
                      "The pool runs registered functions, captureless lambdas and function "
                      "objects with one non-template operator().");
    }
    static TaskError unregisteredError()
    {
        return TaskError(TaskError::Kind::UnknownTask,
                         QStringLiteral("this function is not registered as a task; register it "
                                        "with QPP_REGISTER_TASK or QPP_REGISTER_TASK_AS"));
    }

    template <typename Params, typename... Args>
    static constexpr bool argumentsConvert()
    {
        return argumentsConvertImpl<Params, Args...>(
            std::make_index_sequence<std::tuple_size_v<Params>>());
    }
    template <typename Params, typename... Args, std::size_t... I>
    static constexpr bool argumentsConvertImpl(std::index_sequence<I...>)
    {
        return ((std::is_convertible_v<Args &&, std::tuple_element_t<I, Params>> ||
                 std::is_same_v<std::tuple_element_t<I, Params>, detail::WireType<Args>>) &&
                ...);
    }

    template <typename R>
    QFuture<R> submit(const TaskOptions &options, detail::TaskRequest &&request)
    {
        auto sink = std::make_unique<detail::PromiseSink<R>>();
        QFuture<R> future = sink->future();
        request.priority = options.priority;
        request.timeout = options.timeout;
        request.sink = std::move(sink);
        submitRequest(std::move(request));
        return future;
    }
    void setInitializer(detail::TaskRequest &&request);
    /// Takes the mapped() call over: one task per chunk, sharing its future.
    void submitMapped(detail::MapRequest &&request);
    /// Takes the request (and its promise) over; fails it at once on a full queue.
    void submitRequest(detail::TaskRequest &&request);

    std::unique_ptr<ProcessPoolPrivate> d_ptr; // moved out only by ~ProcessPool()
};

} // namespace QtProcessPool

#endif
