// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_ENGINE_H
#define QTPROCESSPOOL_ENGINE_H

#include "pool/delivery.h"
#include "pool/handshake.h"
#include "pool/launcher.h"
#include "pool/lending.h"
#include "pool/processpool_p.h"
#include "pool/scheduler.h"
#include "pool/taskledger.h"
#include "pool/workerconnection.h"
#include "pool/workerset.h"
#include "protocol/messages.h"
#include "remote/tlsidentity.h"

#include <QtProcessPool/workerlauncher.h>

#include <QtCore/QObject>
#include <QtCore/QTimer>

#include <map>
#include <memory>
#include <unordered_map>

namespace QtProcessPool {

/// The pool's machinery: server, workers, queue and promises. Lives in the
/// pool's I/O thread and is only touched there (the pool talks to it through
/// SharedState and queued calls), so no lock guards its members.
class Engine : public QObject,
               private Scheduler::Host,
               private WorkerSet::Host,
               private TaskLedger::Host
{
    Q_OBJECT
public:
    explicit Engine(SharedState *shared);
    ~Engine() override;

    void init();
    /// Makes the socket directory and listens (Handshake::listen()).
    bool listen();
    /// Takes newly submitted tasks from the inbox and dispatches.
    void wake();
    void prestart(int count);
    /// Starts a group of remote workers and keeps launcher.workers() of them.
    void addGroup(int groupId, const WorkerLauncher &launcher);
    /// Its workers finish their running tasks and go (see ProcessPool::removeWorkers()).
    void removeGroup(int groupId);
    /// Cancels every task and stops every worker; blocks up to about a second.
    void shutdown();

Q_SIGNALS:
    void workerStarted(qint64 pid, const QString &host);
    void workerExited(qint64 pid, int exitCode, QProcess::ExitStatus status, const QString &host);
    void workerCrashed(qint64 pid, const QString &reason);
    void workerKilled(qint64 pid, const QString &reason);
    void workerRecycled(qint64 pid, const QString &reason);
    void workerOutput(qint64 pid, QProcess::ProcessChannel channel, const QString &lines);
    /// The counts changed or the pool became idle (SharedState::idleReached);
    /// at most one is on its way (SharedState::notificationPending).
    void stateChanged();
    /// Travels to the pool's thread and back (onDeliveryMarker()): when it
    /// returns, the continuations of the futures finished before it have run.
    void deliveryMarker();

public:
    void onDeliveryMarker();

private:
    /// Every call into the engine from the event loop or from another thread
    /// begins with an Entry (nested ones do nothing). The outermost takes the
    /// lent socket back (SocketLending) before anything else, so no code below
    /// has to think of it; as it ends, it lends an idle worker's socket again
    /// if dispatch() ran and left nothing to do.
    class Entry
    {
    public:
        explicit Entry(Engine *engine);
        ~Entry();
        Entry(const Entry &) = delete;
        Entry &operator=(const Entry &) = delete;

    private:
        Engine *const m_engine;
    };
    /// Frames written during a batch -- a burst of worker frames read, a
    /// wake() -- go out together at its end, after one dispatch().
    class Batch
    {
    public:
        explicit Batch(Engine *engine);
        ~Batch();
        Batch(const Batch &) = delete;
        Batch &operator=(const Batch &) = delete;

    private:
        Engine *const m_engine;
    };
    /// Writes to a worker: at the end of the current Batch, or now outside one.
    void write(WorkerConnection *worker, const QByteArray &bytes);
    /// The same, large bodies through the side channel (counted).
    void write(WorkerConnection *worker, const protocol::OutgoingFrames &frames);

    void dispatch();
    /// Moves what was submitted since the last call into the queue.
    void takeInbox();
    /// Lends an idle worker's socket to the next submission when the engine
    /// has nothing else to do (the outermost Entry's end).
    void lendIdleWorker();
    /// A task that never started goes back to the head of the queue.
    void requeue(Task *task);
    /// Records a task as sent to the worker (the frame is written elsewhere).
    void markSent(WorkerConnection *worker, Task *task);
    /// Remote workers: the StartTasks now due (engine_remote.cpp), appended
    /// to frames, or written when frames is null.
    void allowStarts(WorkerConnection *w, protocol::OutgoingFrames *frames = nullptr);
    /// Tells submitters whether the engine will take the inbox on its own.
    void settleInboxWatch();
    void flushWrites();
    void spawnAsNeeded();
    bool dropped(WorkerConnection *worker, quint64 taskId, quint32 resultCount);
    void spawnWorker();
    /// Forwards the worker's stdout and stderr (workerOutput()).
    void attachOutput(WorkerConnection *worker);

    // Remote workers (engine_remote.cpp).
    struct RemoteGroup
    {
        WorkerLauncher launcher;
        int failures = 0;                // start failures in a row
        std::unique_ptr<QTimer> backoff; // no new worker of the group while it runs
    };
    /// Starts the missing workers of every group (not during its back-off).
    void replenishGroups();
    bool spawnRemoteWorker(int groupId, RemoteGroup &group);
    /// Makes the pool's TLS identity and listens for remote workers, once.
    bool listenRemote(QString *error);
    /// What a remote worker is told on its command line: where to connect.
    QStringList remoteWorkerArguments() const;
    void onGroupStartFailed(int groupId, const QString &message);
    void onGroupWorkerReady(WorkerConnection *worker);
    /// Every HeartbeatIntervalMs while remote workers may exist: a heartbeat
    /// to each, and the end of each one heard from for HeartbeatTimeoutMs.
    void onHeartbeat();
    /// Connects a new worker's process and timers to the engine.
    void wire(WorkerConnection *worker);
    /// What spawnWorker() starts, from the pool's settings.
    LaunchSpec launchSpec() const;
    void send(WorkerConnection *worker, Task *task) override;
    void cancelQueued(Task *task) override;
    void revoke(WorkerConnection *worker, Task *task) override;
    WorkerConnection *worker(int slotId) const;
    WorkerConnection *idleWorker() const;

    /// The worker of slotId proved itself (Handshake): it runs the pool's
    /// initializer, or is ready.
    void onWorkerConnected(Handshake::Proven &&proven);
    /// A worker proved its secret but cannot serve (another build): it is
    /// killed, and its start fails with why.
    void onWorkerRefused(int slotId, const QString &why);
    /// The message a worker's start failure gives (a remote one's launcher's stderr).
    QString startFailure(const WorkerConnection &worker, const WorkerEnd &end) const;

    /// drain: read everything, even while deliveries are paused (the
    /// worker is gone and its last frames must count).
    void onWorkerReadyRead(int slotId, bool drain = false);
    /// Reads and applies every frame the worker has already sent, from the
    /// socket's buffer and from the kernel, paused deliveries or not: called
    /// before any decision about its tasks (timeout, cancel grace, its end).
    void readEverythingSent(int slotId);
    /// Reads the workers whose frames wait while deliveries were paused.
    void readPausedWorkers();
    bool handleWorkerFrame(WorkerConnection *worker, const protocol::Frame &frame);
    // One per message a worker sends; false when the worker broke the protocol.
    bool onTaskStarted(WorkerConnection *worker, const protocol::Frame &frame);
    bool onTaskResults(WorkerConnection *worker, const protocol::Frame &frame);
    bool onTaskProgress(WorkerConnection *worker, const protocol::Frame &frame);
    bool onTaskFinished(WorkerConnection *worker, const protocol::Frame &frame);
    bool onTaskFailed(WorkerConnection *worker, const protocol::Frame &frame);
    void protocolViolation(WorkerConnection *worker, const QString &why);
    void onSocketClosed(int slotId);
    void onProcessEnded(int slotId);
    void onWorkerTimer(int slotId);
    void becomeReady(WorkerConnection *worker);
    bool handleInitializerFrame(WorkerConnection *worker, const protocol::Frame &frame);
    /// Asks back the tasks sent to the worker behind its running one.
    void revokeFollowers(WorkerConnection *worker) override;
    void workerStateChanged() override { notifyCounts(); }
    /// The pool's decision to kill a worker for its running task: first its
    /// sent-ahead tasks are asked back, so none of them dies with it.
    void killAfterRevoke(WorkerConnection *worker, Task *culprit, const QString &reason);
    void settlePendingKill(WorkerConnection *worker);
    qint64 timeoutOf(const Task *task) const;
    void scheduleReap(WorkerConnection *worker);
    void reap(int slotId);
    /// A worker killed or crashed: its tasks, the signals, a start failure.
    void settleLost(WorkerConnection &worker, const WorkerEnd &end);
    /// A worker that ended unasked: its started tasks fail, the others are requeued.
    void settleTasksOfLost(WorkerConnection *worker, const QString &reason);
    /// failures: consecutive ones so far (WorkerSet::startFailures() or
    /// deathsBeforeStart()); the waiting tasks fail with kind after the last.
    void onStartFailed(const QString &message, int failures,
                       TaskError::Kind kind = TaskError::Kind::WorkerStartFailed);

    using Outcome = Delivery::Outcome;
    void onFutureEvent(quint64 taskId, detail::ResultSink::Event event);
    void pollFutures();
    void cancelOne(Task *task);
    void cancelGroup(TaskGroup &group) override;
    void onTaskTimer(int slotId);
    Task *runningTask(WorkerConnection *worker, quint64 taskId) const;
    void armCancelGrace(WorkerConnection *worker, Task *task);
    void failQueued(TaskError::Kind kind, const QString &message);
    void notifyCounts();

    SharedState *const m_shared;
    Handshake m_handshake;
    WorkerSet m_workers;
    Scheduler m_scheduler; // the queue, and who gets what
    SocketLending m_lending;
    int m_entryDepth = 0;      // Entry
    bool m_lendWanted = false; // dispatch() ran in this Entry
    Delivery m_delivery;
    TaskLedger m_ledger;      // every unfinished task
    QTimer m_futurePoll;      // notices cancel/suspend of single tasks' futures
    qint64 m_nextSweepAt = 0; // steady ns: no sweep of the queue before (pollFutures())
    // Within a Batch, dispatch() runs once, at its end.
    int m_batchDepth = 0;
    bool m_dispatchDeferred = false;
    bool m_shuttingDown = false;
    std::map<int, RemoteGroup> m_groups; // by id (ProcessPool::addWorkers())
    TlsIdentity m_identity;              // made when the first group starts
    QTimer m_heartbeat;                  // onHeartbeat(), from the first group on
};

} // namespace QtProcessPool

#endif
