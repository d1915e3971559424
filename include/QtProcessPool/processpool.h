// SPDX-License-Identifier: MIT
/// \file
/// ProcessPool: runs registered tasks in worker processes; results as QFutures.
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
#include <QtProcessPool/workerlauncher.h>

#include <QtCore/QFuture>
#include <QtCore/QObject>
#include <QtCore/QProcess>
#include <QtCore/QProcessEnvironment>
#include <QtCore/QStringList>
#include <QtNetwork/QHostAddress>

#include <chrono>
#include <cstddef>
#include <memory>
#include <utility>

/// QtProcessPool's public API (QtProcessPool::detail is not part of it).
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
    // Every property has a NOTIFY signal (see the signals below). The
    // durations are also int milliseconds properties (idleTimeoutMs, ...), for
    // QML and QMetaProperty, which cannot use std::chrono; they share the
    // change signal of their std::chrono property.
    Q_PROPERTY(int maxWorkers READ maxWorkers WRITE setMaxWorkers NOTIFY maxWorkersChanged)
    Q_PROPERTY(int minWorkers READ minWorkers WRITE setMinWorkers NOTIFY minWorkersChanged)
    Q_PROPERTY(std::chrono::milliseconds idleTimeout READ idleTimeout WRITE setIdleTimeout NOTIFY
                   idleTimeoutChanged)
    Q_PROPERTY(
        int idleTimeoutMs READ idleTimeoutMs WRITE setIdleTimeoutMs NOTIFY idleTimeoutChanged)
    Q_PROPERTY(int maxTasksPerWorker READ maxTasksPerWorker WRITE setMaxTasksPerWorker NOTIFY
                   maxTasksPerWorkerChanged)
    Q_PROPERTY(std::chrono::milliseconds taskTimeout READ taskTimeout WRITE setTaskTimeout NOTIFY
                   taskTimeoutChanged)
    Q_PROPERTY(
        int taskTimeoutMs READ taskTimeoutMs WRITE setTaskTimeoutMs NOTIFY taskTimeoutChanged)
    Q_PROPERTY(std::chrono::milliseconds cancelGracePeriod READ cancelGracePeriod WRITE
                   setCancelGracePeriod NOTIFY cancelGracePeriodChanged)
    Q_PROPERTY(int cancelGracePeriodMs READ cancelGracePeriodMs WRITE setCancelGracePeriodMs NOTIFY
                   cancelGracePeriodChanged)
    Q_PROPERTY(std::chrono::milliseconds workerStartTimeout READ workerStartTimeout WRITE
                   setWorkerStartTimeout NOTIFY workerStartTimeoutChanged)
    Q_PROPERTY(int workerStartTimeoutMs READ workerStartTimeoutMs WRITE setWorkerStartTimeoutMs
                   NOTIFY workerStartTimeoutChanged)
    Q_PROPERTY(
        int maxQueuedTasks READ maxQueuedTasks WRITE setMaxQueuedTasks NOTIFY maxQueuedTasksChanged)
    Q_PROPERTY(qint64 maxMessageSize READ maxMessageSize WRITE setMaxMessageSize NOTIFY
                   maxMessageSizeChanged)
    Q_PROPERTY(qint64 workerMemoryLimit READ workerMemoryLimit WRITE setWorkerMemoryLimit NOTIFY
                   workerMemoryLimitChanged)
    Q_PROPERTY(
        qint64 maxWorkerRss READ maxWorkerRss WRITE setMaxWorkerRss NOTIFY maxWorkerRssChanged)
    Q_PROPERTY(QString workerProgram READ workerProgram NOTIFY workerProgramChanged)
    Q_PROPERTY(int workerCount READ workerCount NOTIFY workerCountChanged)
    Q_PROPERTY(int busyWorkerCount READ busyWorkerCount NOTIFY busyWorkerCountChanged)
    Q_PROPERTY(int queuedTaskCount READ queuedTaskCount NOTIFY queuedTaskCountChanged)
    Q_PROPERTY(int runningTaskCount READ runningTaskCount NOTIFY runningTaskCountChanged)

public:
    /// Starts the pool's I/O thread, no worker yet (they start on demand, or
    /// with prestart()). The thread creating the pool is the pool's thread.
    /// When the application's aboutToQuit() arrives, the pool stops as its
    /// destructor would; run() then returns futures already canceled.
    explicit ProcessPool(QObject *parent = nullptr);
    /// Cancels every pending future (queued or running), stops every worker
    /// (idle ones get a moment to exit on their own, busy ones are killed) and
    /// reaps them: no worker process or zombie outlives the pool. Returns
    /// within about a second.
    ~ProcessPool() override;

    /// Runs f(args...) in a worker process. f must be registered
    /// (QPP_REGISTER_TASK): a function (identified by its address), a
    /// captureless lambda or a default-constructible function object
    /// (identified by its type; the worker runs its registered copy). A
    /// capturing lambda is a compile error: its captures cannot reach the
    /// worker. The arguments are converted to f's parameter types and
    /// serialized now, on the calling thread; the caller keeps them.
    ///
    /// Returns QFuture<R> (R: f's result, or T when f takes QPromise<T>&).
    /// Thread: call it on the pool's thread; it never blocks (no worker is
    /// waited for). The future finishes exactly once (on the pool's I/O
    /// thread, or before run() returns for the failures below): with f's
    /// results; with a TaskError (Exception, Crashed, TimedOut, ProtocolError,
    /// WorkerStartFailed...); or canceled (by QFuture::cancel(), the pool's
    /// destruction or the application quitting). Failed at once, without
    /// reaching a worker: an unregistered f (TaskError::UnknownTask),
    /// arguments larger than maxMessageSize() (BadArguments), a full queue
    /// (QueueFull). A task whose worker dies before the task started is
    /// queued again; once started, it never runs a second time.
    template <typename F, typename... Args>
    [[nodiscard]] auto run(F f, Args &&...args);
    /// As run(f, args...), with a priority and a timeout for this task
    /// (TaskOptions).
    template <typename F, typename... Args>
    [[nodiscard]] auto run(const TaskOptions &options, F f, Args &&...args);

    /// Runs the task registered under name, which must take exactly the
    /// argument types given (string literals travel as QString) and return R
    /// (or take QPromise<R>&). A mismatch fails the future with
    /// TaskError::BadArguments, an unknown name with TaskError::UnknownTask;
    /// nothing undecodable ever reaches the task.
    /// Thread, failures and guarantees as run(); a task known only to the
    /// worker program is checked by the worker (the future then fails there,
    /// with the worker's pid).
    template <typename R, typename... Args>
    [[nodiscard]] QFuture<R> runNamed(const QString &name, Args &&...args);

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
    /// Thread and registration as run(); an unregistered f fails the future
    /// at once with TaskError::UnknownTask, empty items finish it at once with
    /// no results. Finishes exactly once.
    template <typename F, typename Sequence>
    [[nodiscard]] auto mapped(F f, const Sequence &items, int chunkSize = 0);

    /// Upper bound of local worker processes, started lazily as tasks
    /// arrive. Default QThread::idealThreadCount(). 0: no local workers,
    /// every task waits for a remote one (addWorkers()); without any, tasks
    /// fail with TaskError::WorkerStartFailed.
    int maxWorkers() const;
    /// Sets maxWorkers().
    void setMaxWorkers(int count);
    /// Workers kept alive even when idle (started by prestart() or on first
    /// use, and replaced when they end). Default 0.
    int minWorkers() const;
    /// Sets minWorkers().
    void setMinWorkers(int count);
    /// Workers above minWorkers() exit after this long without work. Default
    /// 30 s; 0: never.
    std::chrono::milliseconds idleTimeout() const;
    /// Sets idleTimeout().
    void setIdleTimeout(std::chrono::milliseconds timeout);
    /// A worker retires after this many tasks (between tasks; its replacement
    /// may start while it finishes its last one, so maxWorkers() + 1
    /// processes can exist briefly). workerRecycled() is emitted. 0: never.
    int maxTasksPerWorker() const;
    /// Sets maxTasksPerWorker().
    void setMaxTasksPerWorker(int count);
    /// Longest a task may run, counted from its start in a worker (not its wait
    /// in the queue); past it the task fails with TaskError::TimedOut and its
    /// worker is killed and replaced. TaskOptions::timeout overrides it per
    /// task; for mapped() it applies to each chunk. 0 (default): none.
    std::chrono::milliseconds taskTimeout() const;
    /// Sets taskTimeout().
    void setTaskTimeout(std::chrono::milliseconds timeout);
    /// After future.cancel() on a running task, how long its worker may take to
    /// stop (a QPromise task sees isCanceled() at once) before it is killed and
    /// replaced. The future itself finishes canceled at once. Default 1 s; 0:
    /// kill at once.
    std::chrono::milliseconds cancelGracePeriod() const;
    /// Sets cancelGracePeriod().
    void setCancelGracePeriod(std::chrono::milliseconds period);
    /// How long a starting worker may take to connect and prove its secret
    /// before it is killed and counted as a start failure. Default 10 s.
    std::chrono::milliseconds workerStartTimeout() const;
    /// Sets workerStartTimeout().
    void setWorkerStartTimeout(std::chrono::milliseconds timeout);
    /// With this many tasks queued, run() returns a future already failed with
    /// TaskError::QueueFull. 0 (default): unlimited.
    int maxQueuedTasks() const;
    /// Sets maxQueuedTasks().
    void setMaxQueuedTasks(int count);
    /// Frames larger than this (either direction) are refused and close the
    /// connection; a larger result fails its task with ProtocolError. Default 1 GiB.
    qint64 maxMessageSize() const;
    /// Sets maxMessageSize().
    void setMaxMessageSize(qint64 bytes);

    /// The program workers run; default QCoreApplication::applicationFilePath().
    /// Its main() must call isWorkerProcess()/execWorker(). Affects workers
    /// started afterwards.
    QString workerProgram() const;
    /// The arguments workers get before the pool's own (default: none).
    QStringList workerArguments() const;
    /// Sets workerProgram() and workerArguments().
    void setWorkerProgram(const QString &program, const QStringList &arguments = {});
    /// Environment of workers started afterwards (default: this process's).
    void setWorkerEnvironment(const QProcessEnvironment &environment);
    /// Working directory of workers started afterwards (default: this process's).
    void setWorkerWorkingDirectory(const QString &directory);

    /// Hard cap of each worker's address space (RLIMIT_AS on Linux), for
    /// workers started afterwards. A task allocating past it fails with
    /// TaskError::Exception (std::bad_alloc) or, if its worker dies of it,
    /// Crashed with the limit named; the pool goes on. 0 (default): none.
    /// Incompatible with AddressSanitizer builds of the worker. Unix only:
    /// elsewhere it has no effect, and says so once (a warning).
    qint64 workerMemoryLimit() const;
    /// Sets workerMemoryLimit().
    void setWorkerMemoryLimit(qint64 bytes);
    /// A worker whose resident memory exceeds this after a task is retired
    /// gracefully and replaced (a guard against leaks in task code; Linux).
    /// 0 (default): never. Where resident memory cannot be read (other
    /// systems, the portable build) a no-op that warns once.
    qint64 maxWorkerRss() const;
    /// Sets maxWorkerRss().
    void setMaxWorkerRss(qint64 bytes);

    /// Runs f(args...) once in every worker started afterwards, before its
    /// first task (e.g. to load a model); f must be registered. If it throws
    /// or crashes, the worker counts as failed to start: waiting tasks fail
    /// with TaskError::WorkerStartFailed carrying its message, after the same
    /// back-off as other start failures. workerStartTimeout() includes it.
    /// An unregistered f does not fail here: every worker then fails to start,
    /// saying so. Call it on the pool's thread; the arguments are serialized
    /// now. Replaces any earlier initializer.
    template <typename F, typename... Args>
    void setWorkerInitializer(F f, Args &&...args);
    /// No initializer for workers started afterwards.
    void clearWorkerInitializer();

    /// A snapshot of the counts and timings since the pool was created (a
    /// value; any thread).
    Statistics statistics() const;

    /// Starts max(minWorkers(), 1) workers now (bounded by maxWorkers()), so the
    /// first tasks do not pay the start-up time. Never blocks; a start failure
    /// shows only in the tasks that wait for a worker.
    void prestart();
    /// Runs a local event loop until nothing is queued or running, or msecs
    /// pass (-1: no limit). Returns true if the pool became idle. Call it on the
    /// pool's thread. Futures that failed at once (see run()) do not count.
    bool waitForDone(int msecs = -1);

    // Workers on other machines. They connect back over TCP with TLS to a
    // certificate made for this pool, which they pin, and prove a secret
    // inside it (see WorkerLauncher); they take tasks from the same queue.

    /// Where remote workers connect back: an address of this machine they
    /// can reach, and a port (0: a free one). Default: every address, a
    /// free port. Takes effect at the next addWorkers() that starts listening.
    void setRemoteListenAddress(const QHostAddress &address, quint16 port = 0);
    /// Starts launcher.workers() workers now, and keeps that many running
    /// (one that ends is replaced, with the start back-off of local
    /// workers). Returns the group's id (> 0) for removeWorkers(). They do
    /// not count against maxWorkers(), which bounds the local workers only
    /// (0: every task runs remotely). A
    /// launcher that fails (ssh refused, no SLURM, a worker that never
    /// connects) fails the waiting tasks with TaskError::WorkerStartFailed,
    /// carrying what the launcher printed on stderr.
    int addWorkers(const WorkerLauncher &launcher);
    /// The group's workers finish their running tasks, give back what they
    /// have not started, and go; their launchers end (ssh sessions closed,
    /// SLURM steps canceled). Unknown ids are ignored.
    void removeWorkers(int groupId);
    /// The TCP port remote workers connect to; 0 until the first addWorkers().
    quint16 remotePort() const;

    /// Live counts (any thread; a snapshot): worker processes from their
    /// start to their reaping (starting and retiring ones included).
    int workerCount() const;
    /// Workers running a task (or holding tasks sent ahead).
    int busyWorkerCount() const;
    /// Tasks not started yet, including those sent ahead to a busy worker.
    int queuedTaskCount() const;
    /// Tasks started in a worker and not ended.
    int runningTaskCount() const;
    /// Pids of the workers that started (workerStarted()) and have not exited.
    QList<qint64> workerPids() const;

    // Signals. Every one is emitted on the pool's thread (the thread the
    // ProcessPool object lives in): the I/O thread decides, and a queued
    // connection delivers, so a slot may call back into the pool (the
    // settings' signals, at the end of this list, come from their setters
    // instead). For one
    // worker they arrive in the order they happened:
    //   workerOutput()*  workerStarted()  workerOutput()*  workerExited()
    //   then at most one of workerRecycled(), workerCrashed(), workerKilled().
    // None is emitted for workers stopped by the destructor or by the
    // application quitting, and none arrives after the pool is destroyed.
    // A worker that never became ready (it failed to start, to connect in
    // workerStartTimeout(), or in its initializer) emits no workerStarted(),
    // workerExited(), workerCrashed() nor workerKilled(): the tasks waiting
    // for it fail with TaskError::WorkerStartFailed after repeated failures.
Q_SIGNALS:
    /// A worker is ready for tasks: connected, authenticated and past its
    /// initializer (setWorkerInitializer()). Its pid is in workerPids() from
    /// now on. Emitted once per worker, before any of its other signals but
    /// workerOutput(). host: where it runs (Statistics::WorkerInfo::host):
    /// empty for a local worker, the name a remote one gave (pids are only
    /// unique on their host). A slot may leave it out: connections to
    /// workerStarted(qint64) keep working.
    void workerStarted(qint64 pid, const QString &host = QString());
    /// A worker that had started (workerStarted()) has ended and been reaped,
    /// for whatever reason: retired (idle, recycled, surplus after
    /// setMaxWorkers()), crashed or killed. Emitted once per started worker
    /// that ends while the pool runs, after its last workerOutput() and before
    /// its workerRecycled(), workerCrashed() or workerKilled(); its pid has
    /// left workerPids(). The futures of the tasks it was running have already
    /// failed, and the tasks it had not started are queued again. host: as
    /// in workerStarted(); a remote worker's exit code is its launcher's.
    void workerExited(qint64 pid, int exitCode, QProcess::ExitStatus status,
                      const QString &host = QString());
    /// A worker ended without being asked to (signal, non-zero exit, OOM kill,
    /// an outside kill). Emitted right after workerExited() for the same pid;
    /// the tasks it was running failed with TaskError::Crashed. Never for a
    /// worker the pool killed itself (workerKilled() instead), never for one
    /// that never started, and never for a retirement that ends in a clean exit
    /// (code 0): a retiring worker that crashes or exits non-zero on its way
    /// out does emit it.
    void workerCrashed(qint64 pid, const QString &reason);
    /// The pool killed a worker by its own decision: a running task's timeout
    /// or cancel grace period ran out, the worker broke the protocol (its
    /// tasks fail with TaskError::ProtocolError), or it closed its connection
    /// but did not exit. Emitted right after workerExited() for the same pid;
    /// never together with workerCrashed() or workerRecycled().
    void workerKilled(qint64 pid, const QString &reason);
    /// The queued-task count changed (queuedTaskCount()).
    /// The counts and idle() are coalesced: at most one update per 10 ms
    /// reaches this thread (the first at once, the latest at the end of the
    /// interval), so a stream of tiny tasks does not flood it; a count may
    /// skip values it held only briefly, never the one it settles on. A count
    /// signal is emitted only when its count differs from the value it last
    /// carried; in one update the changed ones come in the order
    /// queuedTaskCountChanged(), runningTaskCountChanged(),
    /// busyWorkerCountChanged(), workerCountChanged(), then idle(). Their
    /// order relative to the per-worker signals above is not fixed. None is
    /// emitted when the pool stops (destructor, application quitting), though
    /// the counts then drop to 0.
    void queuedTaskCountChanged(int count);
    /// The running-task count changed (runningTaskCount()); coalesced as
    /// queuedTaskCountChanged().
    void runningTaskCountChanged(int count);
    /// The busy-worker count changed (busyWorkerCount()); coalesced as
    /// queuedTaskCountChanged().
    void busyWorkerCountChanged(int count);
    /// The worker-process count changed (workerCount()): a worker process was
    /// started (before its workerStarted(), or without one if it fails to
    /// start) or reaped. Coalesced as queuedTaskCountChanged().
    void workerCountChanged(int count);
    /// A worker retired by recycling (maxTasksPerWorker() reached, or its
    /// resident memory past maxWorkerRss()) has exited cleanly; reason says
    /// which. Emitted right after workerExited() for the same pid. Never for a
    /// worker retired for being idle or surplus, nor for one that crashed or
    /// was killed on its way out (workerCrashed() or workerKilled() instead).
    void workerRecycled(qint64 pid, const QString &reason);
    /// Lines a worker wrote to its stdout or stderr: one or more whole lines,
    /// joined by '\\n' (no newline at the end). The first batch is emitted at
    /// once, then at most one per channel every 20 ms while the worker keeps
    /// printing. A batch holds at most 256 KiB; lines past that are dropped
    /// and the batch ends with "[qtprocesspool: N lines of worker output
    /// dropped]". Also forwarded to this process's stderr as
    /// "[worker <pid>] line", with one write per batch. Also for workers that
    /// never start (pid is then the process id); a worker's last batch comes
    /// before its workerExited(). Not emitted once the pool is stopping (the
    /// lines still go to stderr).
    void workerOutput(qint64 pid, QProcess::ProcessChannel channel, const QString &lines);
    /// Nothing queued or running any more: the last outstanding future has
    /// finished (before this arrives) and nothing was submitted since.
    /// Coalesced as queuedTaskCountChanged(): several such moments within
    /// 10 ms give one idle(), and none if a new task is outstanding when it
    /// would arrive. Never caused by futures that failed at once (see run()),
    /// and not emitted when the pool stops.
    void idle();

    // Settings changed. Each is emitted by its setter, before the setter
    // returns and on the thread calling it (the pool's thread), exactly when
    // the stored value changes: setting the value the pool already has (or
    // one the setter clamps to it, e.g. setMaxWorkers(0) when maxWorkers() is
    // 1) emits nothing. The pool itself never changes a setting, so nothing
    // else emits them. The int values are the new ones, after clamping.
    /// maxWorkers() changed (see above for when setting signals are emitted).
    void maxWorkersChanged(int count);
    /// minWorkers() changed.
    void minWorkersChanged(int count);
    /// maxTasksPerWorker() changed.
    void maxTasksPerWorkerChanged(int count);
    /// maxQueuedTasks() changed.
    void maxQueuedTasksChanged(int count);
    /// maxMessageSize() changed.
    void maxMessageSizeChanged(qint64 bytes);
    /// workerMemoryLimit() changed.
    void workerMemoryLimitChanged(qint64 bytes);
    /// maxWorkerRss() changed.
    void maxWorkerRssChanged(qint64 bytes);
    /// idleTimeout() changed. The duration signals take no argument: each
    /// notifies both the std::chrono property (idleTimeout()) and its int
    /// milliseconds twin (idleTimeoutMs); read whichever you use.
    void idleTimeoutChanged();
    /// taskTimeout() changed (and taskTimeoutMs).
    void taskTimeoutChanged();
    /// cancelGracePeriod() changed (and cancelGracePeriodMs).
    void cancelGracePeriodChanged();
    /// workerStartTimeout() changed (and workerStartTimeoutMs).
    void workerStartTimeoutChanged();
    /// workerProgram() changed: setWorkerProgram() with another program (an
    /// empty one means the application's own). New arguments alone do not
    /// emit it.
    void workerProgramChanged(const QString &program);

private:
    // The int milliseconds properties (idleTimeoutMs, ...), for QML and
    // QMetaProperty; C++ uses the std::chrono accessors. Reading clamps to
    // INT_MAX (about 24.8 days); writing behaves as the std::chrono setter.
    int idleTimeoutMs() const;
    void setIdleTimeoutMs(int ms);
    int taskTimeoutMs() const;
    void setTaskTimeoutMs(int ms);
    int cancelGracePeriodMs() const;
    void setCancelGracePeriodMs(int ms);
    int workerStartTimeoutMs() const;
    void setWorkerStartTimeoutMs(int ms);

    template <typename Traits>
    static constexpr void checkCallable();
    static TaskError unregisteredError(std::type_index type, quintptr address);

    template <typename Params, typename... Args>
    static constexpr bool argumentsConvert();
    template <typename Params, typename... Args, std::size_t... I>
    static constexpr bool argumentsConvertImpl(std::index_sequence<I...>);

    template <typename R>
    QFuture<R> submit(const TaskOptions &options, detail::TaskRequest &&request);
    void setInitializer(detail::TaskRequest &&request);
    /// Takes the mapped() call over: one task per chunk, sharing its future.
    void submitMapped(detail::MapRequest &&request);
    /// Takes the request (and its promise) over; fails it at once on a full queue.
    void submitRequest(detail::TaskRequest &&request);

    std::unique_ptr<ProcessPoolPrivate> d_ptr; // moved out only by ~ProcessPool()
};

} // namespace QtProcessPool

// The template bodies, out of the class so that it reads as the API.
#include <QtProcessPool/detail/processpool_impl.h>

#endif
