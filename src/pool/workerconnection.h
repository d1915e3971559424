// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_WORKERCONNECTION_H
#define QTPROCESSPOOL_WORKERCONNECTION_H

#include "pool/framelink.h"
#include "pool/workeroutput.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QProcess>
#include <QtCore/QTimer>
#include <QtNetwork/QLocalSocket>

#include <deque>
#include <memory>

namespace QtProcessPool {

struct Task;
struct WorkerRecord;

/// One worker process and, once it has proven its secret, its connection.
/// Owned by the engine; I/O thread only.
struct WorkerConnection
{
    /// Its life, forward only (WorkerSet::setState() is the one place that
    /// changes it). The last three are ends, and say who decided: reap()
    /// tells a retirement, a crash and the pool's kill apart by them.
    enum class State {
        Starting,     // process launched, no authenticated connection yet
        Initializing, // authenticated, running the pool's worker initializer
        Ready,        // takes tasks (idle or busy: inFlight), unless a retire or kill is pending
        Retiring,     // asked to exit on its own (we closed its connection)
        Lost,         // its process ended or its socket closed without being asked to
        Killing,      // the pool sent SIGKILL (killReason says why)
    };

    int slotId = 0;
    State state = State::Starting;
    qint64 pid = 0;          // on its host (a remote worker's, once its hello gave it)
    qint64 leaderPid = 0;    // its process on this machine: the worker, or its launcher
    int groupId = 0;         // ProcessPool::addWorkers()' group; 0: a local worker
    QString host;            // a remote worker's host; empty for a local one
    QStringList stopCommand; // WorkerLauncher::stopCommandLine(): run once it must end
    QByteArray secret;
    std::unique_ptr<QProcess> process;
    /// Its stdout and stderr. Declared after the process, so it is destroyed
    /// first and stops reading before the process goes.
    WorkerOutput output;
    FrameLink link;   // attached once the worker proved its secret
    QTimer timer;     // start timeout while Starting; grace after the socket closed
    QTimer taskTimer; // the running task's timeout, or its cancel grace period
    bool taskTimerIsCancelGrace = false;
    /// Tasks sent to the worker, oldest first; it runs them in order.
    std::deque<Task *> inFlight;
    bool everReady = false; // connected but never ready: its initializer runs
    // What the OS told, whatever the state: both are needed before reap().
    bool processEnded = false;
    bool socketClosed = false;
    bool reapScheduled = false;
    bool protocolError = false;  // its running task fails with ProtocolError, not Crashed
    bool connectionLost = false; // remote: broke or went silent, launcher alive (WorkerLost)
    QElapsedTimer lastHeard;     // remote: since bytes last arrived (heartbeats)
    bool tokenExpires = false;   // remote: its join token expires before workerStartTimeout
    bool wentSilent = false;
    // Remote: the round trip, measured from a task sent to it idle to its
    // TaskStarted (Scheduler::sendAheadDepth()).
    double roundTripNs = -1;
    quint64 probeTaskId = 0; // the task that measures it; 0: none
    qint64 probeSentAt =
        0; // steady ns     // remote: heartbeat timeout; what it sent last may be lost
    /// The pool decided to kill it for the running task killForTask (timeout,
    /// cancel grace) and first asked back the tasks sent behind that one
    /// (RevokeTask): the kill goes out once none of them can still start
    /// (Engine::settlePendingKill()), or when timer expires. Called off if
    /// that task ends meanwhile. Gets no new work while set.
    QString killPending;
    quint64 killForTask = 0;
    int tasksStarted = 0; // TaskStarted frames received: 0 means it never ran anything
    /// Set when we decided to kill it (protocol error, start timeout), so its
    /// death is explained by that rather than by the signal we sent.
    QString killReason;

    QTimer idleTimer; // retires the worker after idleTimeout() without work
    int tasksSent = 0;
    /// Set when the worker must leave once its tasks are done (recycling):
    /// it gets no new work, and its replacement may start meanwhile.
    QString retireReason;
    bool recycle = false; // retireReason is maxTasksPerWorker / maxWorkerRss (workerRecycled())
    /// What statistics() shows of it (WorkerSet::publish()).
    std::shared_ptr<WorkerRecord> record;

    /// The pool decided it goes (retire or kill) once its current tasks allow.
    bool endDecided() const { return !retireReason.isEmpty() || !killPending.isEmpty(); }
    bool acceptsWork() const { return state == State::Ready && !endDecided(); }
    bool isIdle() const { return acceptsWork() && inFlight.empty(); }
    bool isEnding() const { return state >= State::Retiring; }
    /// Counts against maxWorkers: neither ending nor on its way out.
    bool isLive() const { return !isEnding() && !endDecided(); }
    bool isRemote() const { return groupId != 0; }
};

} // namespace QtProcessPool

#endif
