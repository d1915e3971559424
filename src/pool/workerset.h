// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_WORKERSET_H
#define QTPROCESSPOOL_WORKERSET_H

#include "pool/processpool_p.h"
#include "pool/workerconnection.h"

#include <QtCore/QTimer>

#include <map>
#include <memory>

namespace QtProcessPool {

/// How a worker's process ended, as reap() reads it from what the pool
/// decided and what the OS said.
struct WorkerEnd
{
    enum class Kind {
        StartFailed, // never ready: it did not connect, or its initializer failed
        Retired,     // asked to exit, and it did so cleanly with nothing in hand
        Killed,      // the pool killed it (killReason)
        Crashed,     // it ended unasked
    };
    Kind kind = Kind::Crashed;
    /// It said hello and died (or broke the protocol) before it started a
    /// task: a start failure too (back-off), though it was ready.
    bool diedBeforeStart = false;
    QString how; // "was killed by signal 11 (SIGSEGV)", the killReason...

    /// Reads w, whose process has ended (QProcess::NotRunning).
    static WorkerEnd of(const WorkerConnection &w, qint64 memoryLimit);
};

/// The workers' lives: how many to start, their states (setState() is the
/// one place a worker's state changes), retiring the surplus and the idle,
/// killing, the start back-off, and the pids and records the pool shows.
/// The engine wires each worker's signals and decides what happens to its
/// tasks; this part knows nothing of frames or tasks beyond their count.
/// I/O thread only.
class WorkerSet
{
public:
    using Map = std::map<int, std::unique_ptr<WorkerConnection>>;

    /// What the set needs from the engine.
    class Host
    {
    public:
        /// A worker's state changed: the pool's counts may have.
        virtual void workerStateChanged() = 0;
        /// The worker will leave: ask back what it has not started.
        virtual void revokeFollowers(WorkerConnection *worker) = 0;

    protected:
        ~Host() = default;
    };

    WorkerSet(SharedState *shared, Host &host, QObject *timerParent);

    Map &all() { return m_workers; }
    const Map &all() const { return m_workers; }
    WorkerConnection *find(int slotId) const;
    /// Local workers counted against maxWorkers (WorkerConnection::isLive()).
    int liveCount() const;
    /// Ready and with a task in hand.
    int busyCount() const;

    /// How many workers to start now for queued waiting tasks: enough to give
    /// each one a worker (counting those on their way) and minWorkers kept,
    /// within maxWorkers; none during a start back-off.
    int toStart(int queued) const;
    /// A new worker record, not yet started: slot, secret, its QProcess, the
    /// frame reader's limit. The engine wires it, then calls started().
    WorkerConnection *add(int groupId = 0, const QString &host = {});
    /// Its process was launched: its record appears in statistics().
    void started(WorkerConnection *worker);
    /// Takes the worker out of the set and of statistics().
    std::unique_ptr<WorkerConnection> take(int slotId);

    /// A remote worker's hello named its host and pid: statistics() and
    /// its output's prefix show them from now on (a local one's stay).
    void identify(WorkerConnection *worker, const QString &host, qint64 pid);
    /// Forward only (see WorkerConnection::State).
    void setState(WorkerConnection *worker, WorkerConnection::State next);
    /// Brings the worker's record in statistics() up to date with its state.
    void publish(WorkerConnection *worker);
    /// Authenticated and past its initializer: it takes tasks from now on.
    void becomeReady(WorkerConnection *worker);
    /// SIGKILL to it and its process group; the first reason given stays.
    void kill(WorkerConnection *worker, const QString &reason);
    /// Graceful: the worker exits on its own once its connection closes.
    void retire(WorkerConnection *worker);
    /// After a task: retires a worker that is due (maxTasksPerWorker,
    /// maxWorkerRss, maxWorkers lowered) once its hands are empty.
    void afterTask(WorkerConnection *worker);
    /// Sent a task: counts it against maxTasksPerWorker.
    void noteSent(WorkerConnection *worker);
    /// maxWorkers() lowered: the surplus workers get no new tasks, give back
    /// what they have not started, and retire between tasks.
    void retireSurplus();
    void armIdleTimers();
    /// The worker's idle timer fired: it retires unless minWorkers keeps it.
    void onIdleTimeout(WorkerConnection *worker);
    /// Ends what is left of the worker's process group (a task's helpers).
    static void endProcessGroup(WorkerConnection *worker);
    /// Records the end in the pool's pids and counts.
    void recordEnd(const WorkerConnection &worker, WorkerEnd::Kind kind);

    /// A start failed (failures in a row so far): no new worker starts for
    /// an exponentially growing while. True when the waiting tasks should
    /// fail: no worker is alive and MaxStartAttempts were made.
    bool startFailed(const QString &message, int failures);
    /// Consecutive start failures; reset by a worker that became ready.
    int &startFailures() { return m_startFailures; }
    /// Consecutive workers that said hello and died before starting a task
    /// (a program that fails after its handshake); reset by a TaskStarted.
    int &deathsBeforeStart() { return m_deathsBeforeStart; }
    QTimer &startBackoff() { return m_startBackoff; }
    static int backoffMs(int failures);

    static constexpr int MaxStartAttempts = 3;
    static constexpr int KillWaitMs = 2000; // SIGKILL takes effect by then

private:
    SharedState *const m_shared;
    Host &m_host;
    Map m_workers;
    int m_nextSlotId = 1;
    int m_startFailures = 0;
    int m_deathsBeforeStart = 0;
    QTimer m_startBackoff; // no new worker is started while it runs
};

} // namespace QtProcessPool

#endif
