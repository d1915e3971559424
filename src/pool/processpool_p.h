// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_PROCESSPOOL_P_H
#define QTPROCESSPOOL_PROCESSPOOL_P_H

#include <QtProcessPool/processpool.h>

#include "protocol/frame.h"
#include "protocol/messages.h"
#include "steadyclock_p.h"

#include <QtCore/QMutex>
#include <QtCore/QThread>
#include <QtCore/QTimer>

#include <atomic>
#include <map>
#include <memory>
#include <vector>

namespace QtProcessPool {

class Engine;

/// The shared end of a mapped() call: one future, filled by several chunks.
/// Created on the pool's thread, then touched by the I/O thread only.
struct TaskGroup
{
    std::unique_ptr<detail::ResultSink> sink;
    int totalItems = 0;
    int finishedItems = 0;
    int pendingChunks = 0;        // chunks not settled yet
    bool settled = false;         // the future has finished
    std::vector<quint64> taskIds; // its chunks, in input order
};

/// One submitted task. Created on the pool's thread, owned by the engine (I/O
/// thread) once it leaves the inbox.
struct Task
{
    /// The task's ledger has two columns. Where it is (state, changed only by
    /// TaskLedger::move(), forward only but for Sent -> Queued, never after
    /// its TaskStarted arrived), and whether its future has finished
    /// (settled): a task canceled or timed out while it runs is settled and
    /// still Running in its worker until that worker reports back or dies.
    enum class State {
        Queued,  // in the inbox or the queue
        Sent,    // written to a worker, its TaskStarted not yet read
        Running, // its TaskStarted arrived: it never runs again
    };
    detail::TaskRequest request;
    quint64 id = 0;
    State state = State::Queued;
    qint64 submittedAt = 0; // steady clock, ns
    /// Sent by the submitting thread straight to a lent worker (SharedState::
    /// lentFd): its slot; the engine records it as sent when it takes the inbox.
    int sentToSlot = 0;
    QByteArray unsentTail; // the part of that frame the socket did not take
    qint64 startedAt = 0;
    /// The future has finished (result, error or canceled) and the counts no
    /// longer include the task; it may still occupy a worker until that worker
    /// reports back or dies.
    bool settled = false;
    int slotId = 0;            // the worker it was sent to
    bool revoking = false;     // sent ahead, and asked back (RevokeTask)
    bool startAllowed = false; // a remote worker was told it may start it (StartTask)
    bool suspendSeen = false;  // the suspend request last passed on to its worker
    /// Set for a chunk of mapped(): its results go to the group's future at
    /// firstIndex (request.sink is then null).
    std::shared_ptr<TaskGroup> group;
    int firstIndex = 0;
    int itemCount = 0;

    /// The future's end: the task's own, or its mapped() call's.
    detail::ResultSink &sink() const { return group ? *group->sink : *request.sink; }
};

/// Durations of the last SampleCount tasks, for percentiles.
class DurationSamples
{
public:
    static constexpr int SampleCount = 10000;
    void add(qint64 nanoseconds);
    Statistics::Durations summary() const;

private:
    std::vector<qint64> m_samples; // ring buffer
    size_t m_next = 0;
    qint64 m_count = 0;
    qint64 m_max = 0;
    double m_sum = 0; // of all samples ever, for the mean
};

/// What statistics() reports about one worker. The engine updates the fields
/// without locking; SharedState::mutex guards the set of records.
struct WorkerRecord
{
    // pid and host: guarded by SharedState::mutex (a remote worker's change
    // once its hello names them).
    qint64 pid = 0;
    QString host;
    int group = 0;
    std::atomic<int> state{int(Statistics::WorkerInfo::State::Starting)};
    std::atomic<qint64> tasksDone{0};
};

/// Counters behind statistics(); guarded by SharedState::mutex.
struct StatisticsCollector
{
    Statistics counts; // durations and live counts are filled in on read
    DurationSamples queueWait;
    DurationSamples runTime;
};

/// State shared by the pool's thread and its I/O thread. Settings and counts
/// are atomics (read anywhere); the rest is guarded by its mutex.
struct SharedState
{
    std::atomic<int> maxWorkers{1};
    std::atomic<int> minWorkers{0};
    std::atomic<int> maxTasksPerWorker{0};
    std::atomic<int> maxQueuedTasks{0};
    std::atomic<qint64> idleTimeoutMs{30000};
    std::atomic<qint64> workerMemoryLimit{0};
    std::atomic<qint64> maxWorkerRss{0};
    std::atomic<qint64> taskTimeoutMs{0};
    std::atomic<qint64> cancelGracePeriodMs{1000};
    std::atomic<qint64> workerStartTimeoutMs{10000};
    std::atomic<qint64> maxMessageSize{protocol::DefaultMaxMessageSize};
    std::atomic<int> nextGroupId{1}; // addWorkers()
    // Groups added and not removed, counted by the caller's thread at once,
    // so a task run() right after addWorkers() waits for the group.
    std::atomic<int> remoteGroups{0};
    std::atomic<quint16> remotePort{0}; // where remote workers connect, once listening

    // Counts. queued: submitted but not started (inbox, queue, sent ahead);
    // running: started; outstanding: submitted and not yet finished.
    std::atomic<int> queued{0};
    std::atomic<int> running{0};
    std::atomic<int> outstanding{0};
    std::atomic<int> workers{0};
    std::atomic<int> busyWorkers{0};
    std::atomic<qint64> sharedMemoryTransfers{0}; // Statistics::sharedMemoryTransfers
    /// run()/mapped() calls made on the pool's thread: it is busy, not blocked.
    std::atomic<quint64> ownThreadSubmissions{0};
    /// The pool's thread as the kernel knows it (Linux tid; 0 elsewhere), to
    /// tell a busy thread from a blocked one (Engine's delivery pacing).
    std::atomic<qint64> poolThreadId{0};
    std::atomic<qint64> submitted{0}; // Statistics::counts.submitted
    /// Steady ns since the I/O thread runs a future's continuations that
    /// were attached without a context (Engine::finishSink()); 0: it does not.
    std::atomic<qint64> userCodeSince{0};
    /// Set while an Engine::stateChanged() is on its way to the pool's thread.
    std::atomic<bool> notificationPending{false};
    /// outstanding reached 0 since the pool's thread last looked (idle()).
    std::atomic<bool> idleReached{false};

    mutable QMutex mutex; // guards everything below
    QString program;
    QStringList arguments;
    QProcessEnvironment environment;
    bool environmentSet = false;
    QString workingDirectory;
    QHostAddress remoteAddress{QHostAddress::Any}; // setRemoteListenAddress()
    quint16 remoteListenPort = 0;
    QList<qint64> pids;
    std::map<int, std::shared_ptr<WorkerRecord>> workerRecords; // by slot, so oldest first
    detail::TaskRequest initializer;                            // name empty: none (sink unused)
    StatisticsCollector statistics; // counts.submitted aside (the atomic above)

    /// Its own lock: submitting never waits for the engine's bookkeeping.
    QMutex inboxMutex; // guards what follows
    std::vector<std::unique_ptr<Task>> inbox;
    std::vector<std::shared_ptr<TaskGroup>> groupInbox; // groups whose chunks are in inbox
    /// Whatever is in the inbox is taken soon: an Engine::wake() is on its way,
    /// or the engine will look on its own (it has tasks waiting for busy
    /// workers, so the next one that reports back makes it dispatch). Only
    /// when neither holds does a submission post a wake-up: a burst of
    /// run() calls costs one, not one each.
    bool wakePosted = false;
    bool engineWillLook = false;
    /// An idle worker's socket, lent by the engine while it has nothing else
    /// to do: the next run() writes its task there itself, from its own
    /// thread, instead of waking the engine to do it (one thread hop less per
    /// round trip). Taken once (set back to -1 by whoever takes it); the
    /// engine takes it back before it touches that worker again, so the
    /// descriptor stays valid while lentFd holds it.
    int lentFd = -1;
    int lentSlot = 0;
    std::atomic<quint64> nextTaskId{1}; // ids for both the engine and lent sends
};

/// The message that runs task in a worker.
protocol::RunTask runTaskMessage(const Task &task);

class ProcessPoolPrivate
{
public:
    /// On the pool's thread, for each Engine::stateChanged(): emits the
    /// count signals whose counts changed, then idle() if it was reached.
    void notifyState();
    /// workerProgram(); shared.mutex held.
    QString effectiveProgram() const;
    /// Shuts the engine down (once): pending futures canceled, workers stopped.
    void stop();
    /// The pool deleted on its own I/O thread (in a continuation attached
    /// without a context): it cannot wait for that thread there, so the
    /// engine shuts down once the continuation returns, and this object is
    /// deleted on the application's thread after the I/O thread ended.
    static void stopFromIoThread(std::unique_ptr<ProcessPoolPrivate> d);
    /// Warns when a context-less continuation holds the I/O thread (a timer
    /// of the pool's thread).
    void watchUserCode();

    bool stopped = false; // pool's thread; after stop() run() returns canceled futures
    SharedState shared;
    QThread thread;           // the I/O thread
    Engine *engine = nullptr; // lives in thread
    ProcessPool *q_ptr = nullptr;
    int lastQueued = 0; // last values signalled (pool's thread)
    int lastRunning = 0;
    int lastBusy = 0;
    int lastWorkers = 0;
    QTimer userCodeWatch;      // pool's thread: watchUserCode()
    qint64 userCodeWarned = 0; // the userCodeSince last warned about
};

} // namespace QtProcessPool

#endif
