// SPDX-License-Identifier: MIT
// The engine, part two: what a worker says (its frames, read to the last
// byte before any decision) and how a worker ends (reap, its tasks' fates).
#include "pool/engine.h"

#include "logging_p.h"

#include <algorithm>

namespace QtProcessPool {

using namespace protocol;

namespace {
constexpr int SocketGraceMs = 1000;      // a worker whose socket closed should exit by then
constexpr quint64 InitializerTaskId = 0; // task ids start at 1
} // namespace

// --- handshake --------------------------------------------------------------

void Engine::onWorkerConnected(Handshake::Proven &&proven)
{
    const Entry entry(this);
    const int slotId = proven.slotId;
    WorkerConnection *accepted = worker(slotId);
    QIODevice *socket = proven.socket.get();
    accepted->link.attach(std::move(proven.socket));
    accepted->lastHeard.start();
    connect(socket, &QIODevice::readyRead, this, [this, slotId, accepted] {
        accepted->lastHeard.restart(); // bytes arrived: alive, whatever we make of them
        onWorkerReadyRead(slotId);
    });
    if (QLocalSocket *local = accepted->link.localSocket())
        connect(local, &QLocalSocket::disconnected, this,
                [this, slotId] { onSocketClosed(slotId); });
    else
        connect(static_cast<QAbstractSocket *>(socket), &QAbstractSocket::disconnected, this,
                [this, slotId] { onSocketClosed(slotId); });
    accepted->pid = accepted->process->processId();
    m_workers.identify(accepted, proven.host, proven.pid);
    RunTask initializer;
    {
        QMutexLocker lock(&m_shared->mutex);
        const detail::TaskRequest &request = m_shared->initializer;
        initializer =
            RunTask{InitializerTaskId, request.name, request.argTypes, request.resultType, 0,
                    request.arguments};
    }
    if (!initializer.name.isEmpty()) {
        // Ready once the initializer has run; the start timeout still applies.
        m_workers.setState(accepted, WorkerConnection::State::Initializing);
        OutgoingFrames frames;
        appendMessage(frames, initializer);
        write(accepted, frames);
    } else {
        becomeReady(accepted);
    }
    if (socket->bytesAvailable() > 0)
        onWorkerReadyRead(slotId);
}

void Engine::becomeReady(WorkerConnection *w)
{
    m_workers.becomeReady(w);
    if (w->isRemote())
        onGroupWorkerReady(w);
    Q_EMIT workerStarted(w->pid, w->host);
    if (!w->retireReason.isEmpty())
        m_workers.retire(w); // surplus since it was started (maxWorkers() lowered)
    dispatch();
}

bool Engine::handleInitializerFrame(WorkerConnection *w, const Frame &frame)
{
    TaskStarted started;
    TaskFinished finished;
    TaskFailed failed;
    if (decodeMessage(frame, &started) && started.taskId == InitializerTaskId)
        return true;
    if (decodeMessage(frame, &finished) && finished.taskId == InitializerTaskId) {
        becomeReady(w);
        return true;
    }
    if (decodeMessage(frame, &failed) && failed.taskId == InitializerTaskId) {
        QString name;
        {
            QMutexLocker lock(&m_shared->mutex);
            name = m_shared->initializer.name;
        }
        m_workers.kill(w, QStringLiteral("failed in its initializer '%1': %2%3")
                              .arg(name, failed.message,
                                   failed.remoteType.isEmpty()
                                       ? QString()
                                       : QStringLiteral(" (%1)").arg(failed.remoteType)));
        return false;
    }
    protocolViolation(w, QStringLiteral("unexpected message while initializing"));
    return false;
}

// --- worker traffic ---------------------------------------------------------

void Engine::onWorkerReadyRead(int slotId, bool drain)
{
    const Entry entry(this); // a task written by a submitter is known before its answer
    WorkerConnection *w = worker(slotId);
    if (!w || !w->link.isAttached() || w->link.isPulling())
        return;
    // setMaxMessageSize() applies to running workers too.
    w->link.setMaxBodySize(m_shared->maxMessageSize);
    // Every finished task of the burst first, then one dispatch() and one
    // write per worker for the tasks that follow them.
    const Batch batch(this);
    Frame frame;
    // Also after a kill: what it sent before counts (a task that started
    // must not run again). Not after a protocol error: the stream is garbage.
    while (!w->protocolError && (drain || !m_delivery.readPaused())) {
        QString why;
        bool viaSharedMemory = false;
        const FrameLink::Status status = w->link.read(&frame, &why, &viaSharedMemory);
        if (status == FrameLink::Status::NeedMore)
            return;
        if (status == FrameLink::Status::Error) {
            protocolViolation(w, why);
            return;
        }
        m_shared->sharedMemoryTransfers += viaSharedMemory;
        if (!handleWorkerFrame(w, frame))
            return;
        if (!w->killPending.isEmpty())
            settlePendingKill(w);
    }
}

void Engine::readEverythingSent(int slotId)
{
    for (int round = 0; round < 64; ++round) {
        onWorkerReadyRead(slotId, true);
        WorkerConnection *w = worker(slotId);
        if (!w || w->protocolError)
            return;
        if (!w->link.pull()) {
            onWorkerReadyRead(slotId, true); // what came with the last pull
            return;
        }
    }
}

bool Engine::handleWorkerFrame(WorkerConnection *w, const Frame &frame)
{
    // Not the state: a worker whose process end was seen first is Lost while
    // its last frames (the initializer's TaskStarted) are still being read.
    // Connected and never ready: its initializer is what runs.
    if (frame.type == quint16(MessageType::WorkerHeartbeat) && w->isRemote()) {
        if (frame.body.isEmpty())
            return true; // its arrival was the news (lastHeard)
        protocolViolation(w, QStringLiteral("malformed WorkerHeartbeat"));
        return false;
    }
    if (!w->everReady)
        return handleInitializerFrame(w, frame);
    switch (MessageType(frame.type)) {
    case MessageType::TaskStarted:
        return onTaskStarted(w, frame);
    case MessageType::TaskResults:
        return onTaskResults(w, frame);
    case MessageType::TaskProgress:
        return onTaskProgress(w, frame);
    case MessageType::TaskFinished:
        return onTaskFinished(w, frame);
    case MessageType::TaskFailed:
        return onTaskFailed(w, frame);
    default:
        protocolViolation(w, QStringLiteral("unexpected message type %1").arg(frame.type));
        return false;
    }
}

bool Engine::onTaskStarted(WorkerConnection *w, const Frame &frame)
{
    TaskStarted message;
    if (!decodeBody(frame.body, &message)) {
        protocolViolation(w, QStringLiteral("malformed TaskStarted"));
        return false;
    }
    const auto it = std::find_if(w->inFlight.begin(), w->inFlight.end(),
                                 [](Task *t) { return t->state == Task::State::Sent; });
    if (it == w->inFlight.end() || (*it)->id != message.taskId) {
        protocolViolation(w, QStringLiteral("started task %1 out of order").arg(message.taskId));
        return false;
    }
    Task *task = *it;
    if (w->isRemote() && !task->startAllowed) {
        protocolViolation(w, QStringLiteral("started task %1 unasked").arg(message.taskId));
        return false;
    }
    if (w->probeTaskId == message.taskId) {
        const double trip = double(steadyNow() - w->probeSentAt);
        w->roundTripNs = w->roundTripNs < 0 ? trip : 0.8 * w->roundTripNs + 0.2 * trip;
        w->probeTaskId = 0;
    }
    TaskLedger::move(task, Task::State::Running);
    ++w->tasksStarted;
    allowStarts(w);
    m_workers.deathsBeforeStart() = 0;
    if (task->settled) {
        armCancelGrace(w, task); // canceled on its way to the worker
        return true;
    }
    --m_shared->queued;
    ++m_shared->running;
    task->startedAt = steadyNow();
    {
        QMutexLocker lock(&m_shared->mutex);
        m_shared->statistics.queueWait.add(task->startedAt - task->submittedAt);
    }
    const qint64 timeout = timeoutOf(task);
    if (timeout > 0) {
        w->taskTimerIsCancelGrace = false;
        w->taskTimer.start(int(std::min<qint64>(timeout, INT_MAX)));
    }
    notifyCounts();
    return true;
}

bool Engine::onTaskResults(WorkerConnection *w, const Frame &frame)
{
    TaskResults message;
    Task *task = decodeBody(frame.body, &message) ? runningTask(w, message.taskId) : nullptr;
    // Only a QPromise task streams results; a plain task or a chunk of
    // mapped() delivers them with its end.
    if (!task || message.resultCount > INT_MAX || task->group ||
        task->request.expectedResults >= 0) {
        protocolViolation(w, QStringLiteral("unexpected or malformed TaskResults"));
        return false;
    }
    if (!task->settled && !task->sink().addResults(message.results, int(message.resultCount))) {
        protocolViolation(w, QStringLiteral("results of task '%1' do not decode as %2")
                                 .arg(task->request.name, task->request.resultType));
        return false;
    }
    return true;
}

bool Engine::onTaskProgress(WorkerConnection *w, const Frame &frame)
{
    TaskProgress message;
    Task *task = decodeBody(frame.body, &message) ? runningTask(w, message.taskId) : nullptr;
    if (!task) {
        protocolViolation(w, QStringLiteral("unexpected or malformed TaskProgress"));
        return false;
    }
    if (!task->settled)
        task->sink().setProgress(message.minimum, message.maximum, message.value, message.text);
    return true;
}

bool Engine::onTaskFinished(WorkerConnection *w, const Frame &frame)
{
    TaskFinished message;
    if (!decodeBody(frame.body, &message) || w->inFlight.empty() || message.resultCount > INT_MAX) {
        protocolViolation(w, QStringLiteral("malformed TaskFinished"));
        return false;
    }
    if (w->inFlight.front()->id != message.taskId) {
        // Not the oldest: a task sent ahead that the worker dropped unstarted.
        return dropped(w, message.taskId, message.resultCount);
    }
    Task *task = w->inFlight.front();
    w->inFlight.pop_front();
    w->taskTimer.stop();
    if (task->state == Task::State::Sent) { // dropped before it started
        w->inFlight.push_front(task);
        return dropped(w, message.taskId, message.resultCount);
    }
    // A chunk of mapped() ends with one result per item, a plain task with
    // exactly one (none for void); only a QPromise task decides how many.
    int expected = int(message.resultCount);
    if (task->group)
        expected = task->request.resultType != QLatin1String("void") ? task->itemCount : 0;
    else if (task->request.expectedResults >= 0)
        expected = task->request.expectedResults;
    // (A canceled task may stop early: it delivers nothing anyway.)
    if (!task->settled && int(message.resultCount) != expected) {
        w->inFlight.push_front(task); // fails with the others of this worker
        protocolViolation(w, QStringLiteral("task %1 ended with %2 results instead of %3")
                                 .arg(message.taskId)
                                 .arg(message.resultCount)
                                 .arg(expected));
        return false;
    }
    if (task->settled) {
        m_ledger.release(task); // canceled or timed out meanwhile: nothing late is delivered
    } else if (task->sink().addResults(message.results.flattened(), int(message.resultCount),
                                       task->group ? task->firstIndex : -1)) {
        if (TaskGroup *group = task->group.get()) {
            group->finishedItems += task->itemCount;
            group->sink->setProgress(0, group->totalItems, group->finishedItems, {});
        }
        m_ledger.finish(task);
    } else {
        m_ledger.fail(task,
                      TaskError(TaskError::Kind::ProtocolError,
                                QStringLiteral("the result of task '%1' does not decode as %2")
                                    .arg(task->request.name, task->request.resultType),
                                {}, w->pid));
    }
    m_workers.afterTask(w);
    allowStarts(w);
    dispatch();
    return true;
}

bool Engine::onTaskFailed(WorkerConnection *w, const Frame &frame)
{
    TaskFailed message;
    const bool valid = decodeBody(frame.body, &message) && !w->inFlight.empty() &&
                       w->inFlight.front()->id == message.taskId;
    const auto kind = TaskError::Kind(message.kind);
    if (!valid ||
        (kind != TaskError::Kind::Exception && kind != TaskError::Kind::UnknownTask &&
         kind != TaskError::Kind::BadArguments && kind != TaskError::Kind::ProtocolError)) {
        protocolViolation(w, QStringLiteral("unexpected or malformed TaskFailed"));
        return false;
    }
    Task *task = w->inFlight.front();
    w->inFlight.pop_front();
    w->taskTimer.stop();
    if (task->settled)
        m_ledger.release(task);
    else
        m_ledger.fail(task, TaskError(kind, message.message, message.remoteType, w->pid));
    m_workers.afterTask(w);
    allowStarts(w);
    dispatch();
    return true;
}

void Engine::protocolViolation(WorkerConnection *w, const QString &why)
{
    qCWarning(lcProtocol) << "worker" << w->pid << "broke the protocol:" << why;
    w->protocolError = true;
    m_workers.kill(w, QStringLiteral("was killed after a protocol error (%1)").arg(why));
}

void Engine::onSocketClosed(int slotId)
{
    const Entry entry(this);
    WorkerConnection *w = worker(slotId);
    if (!w || w->socketClosed)
        return;
    onWorkerReadyRead(slotId, true); // what it sent before closing still counts
    w->socketClosed = true;
    if (w->processEnded) {
        scheduleReap(w);
        return;
    }
    // Workers close their connection only when exiting; give it a moment
    // (a remote one's launcher ends once the worker has ended).
    m_workers.setState(w, WorkerConnection::State::Lost);
    if (w->state != WorkerConnection::State::Killing)
        w->timer.start(SocketGraceMs);
}

void Engine::onProcessEnded(int slotId)
{
    const Entry entry(this);
    WorkerConnection *w = worker(slotId);
    if (!w || w->processEnded)
        return;
    w->processEnded = true;
    // The process's end is the fact that decides: not the socket's EOF, which
    // a helper it forked may hold open. Its helpers end with it, and what it
    // wrote before it ended is all in the socket by now.
    WorkerSet::endProcessGroup(w);
    w->output.flush();
    m_workers.setState(w, WorkerConnection::State::Lost);
    readEverythingSent(slotId);
    if (WorkerConnection *ended = worker(slotId))
        scheduleReap(ended);
}

void Engine::onWorkerTimer(int slotId)
{
    const Entry entry(this);
    WorkerConnection *w = worker(slotId);
    if (!w)
        return;
    if (!w->killPending.isEmpty() && w->state == WorkerConnection::State::Ready) {
        // Its sent-ahead tasks did not come back in time: what started dies.
        m_workers.kill(w, std::exchange(w->killPending, {}));
    } else if (w->state == WorkerConnection::State::Starting && w->tokenExpires) {
        m_workers.kill(w, QStringLiteral("did not connect before its join token expired"));
    } else if (w->state == WorkerConnection::State::Starting) {
        m_workers.kill(
            w, QStringLiteral("did not connect within %1 ms").arg(m_shared->workerStartTimeoutMs));
    } else if (w->state == WorkerConnection::State::Initializing) {
        m_workers.kill(w, QStringLiteral("did not finish its initializer within %1 ms")
                              .arg(m_shared->workerStartTimeoutMs));
    } else if (!w->processEnded && w->state != WorkerConnection::State::Killing) {
        // A remote worker's launcher still runs: the connection broke, and
        // nothing says the worker ended (WorkerLost).
        w->connectionLost = w->isRemote();
        m_workers.kill(w, w->isRemote() ? QStringLiteral("lost its connection to the pool")
                                        : QStringLiteral("closed its connection but did not exit"));
    } else {
        scheduleReap(w); // ended, but the socket or the kill never reported back
    }
}

void Engine::scheduleReap(WorkerConnection *w)
{
    m_workers.setState(w, WorkerConnection::State::Lost);
    if (w->reapScheduled)
        return;
    w->reapScheduled = true;
    // Deferred: we may be inside a signal of the process or socket being deleted.
    QMetaObject::invokeMethod(
        this, [this, slotId = w->slotId] { reap(slotId); }, Qt::QueuedConnection);
}

void Engine::reap(int slotId)
{
    const Entry entry(this);
    if (!worker(slotId))
        return;
    readEverythingSent(slotId); // the last facts before its tasks' fates are decided
    const std::unique_ptr<WorkerConnection> w = m_workers.take(slotId);
    w->output.flush();
    w->process->disconnect(this);
    if (w->link.isAttached())
        w->link.socket()->disconnect(this);
    if (w->process->state() != QProcess::NotRunning) {
        WorkerSet::endProcessGroup(w.get()); // while its leader lives, the group is surely its own
        w->process->kill();
        w->process->waitForFinished(WorkerSet::KillWaitMs);
    }
    const WorkerEnd end = WorkerEnd::of(*w, m_shared->workerMemoryLimit);
    m_workers.recordEnd(*w, end.kind);
    switch (end.kind) {
    case WorkerEnd::Kind::StartFailed:
        if (w->isRemote())
            onGroupStartFailed(w->groupId, startFailure(*w, end));
        else
            onStartFailed(startFailure(*w, end), ++m_workers.startFailures());
        break;
    case WorkerEnd::Kind::Retired:
        qCDebug(lcPool) << "worker" << w->pid << "retired:" << w->retireReason;
        Q_EMIT workerExited(w->pid, w->process->exitCode(), w->process->exitStatus(), w->host);
        if (w->recycle)
            Q_EMIT workerRecycled(w->pid, w->retireReason);
        break;
    case WorkerEnd::Kind::Killed:
    case WorkerEnd::Kind::Crashed:
        settleLost(*w, end);
        break;
    }
    dispatch();
}

QString Engine::startFailure(const WorkerConnection &w, const WorkerEnd &end) const
{
    if (!w.isRemote())
        return QStringLiteral("worker program %1 %2").arg(w.process->program(), end.how);
    // What the launcher said is the explanation: ssh's "Connection refused",
    // srun's "Unable to allocate resources", the other build's hello.
    const QString said = w.output.stderrTail().trimmed();
    return QStringLiteral("remote worker launcher '%1' %2%3")
        .arg(w.process->program(), end.how,
             said.isEmpty() ? QString() : QStringLiteral("; it said: %1").arg(said));
}

void Engine::onWorkerRefused(int slotId, const QString &why)
{
    const Entry entry(this);
    if (WorkerConnection *w = worker(slotId))
        m_workers.kill(w, QStringLiteral("was refused at its handshake: %1").arg(why));
}

void Engine::settleLost(WorkerConnection &w, const WorkerEnd &end)
{
    const QString reason = QStringLiteral("worker %1 %2").arg(w.pid).arg(end.how);
    qCWarning(lcPool) << reason;
    settleTasksOfLost(&w, reason);
    Q_EMIT workerExited(w.pid, w.process->exitCode(), w.process->exitStatus(), w.host);
    if (end.kind == WorkerEnd::Kind::Killed)
        Q_EMIT workerKilled(w.pid, reason);
    else
        Q_EMIT workerCrashed(w.pid, reason);
    // A program that dies after its handshake, before running anything, is
    // a start failure: back-off, and after MaxStartAttempts in a row the
    // waiting tasks fail rather than loop (they never ran: not Crashed; a
    // program that answers with garbage fails them with ProtocolError).
    if (end.diedBeforeStart && w.isRemote()) {
        onGroupStartFailed(w.groupId,
                           startFailure(w, end) + QStringLiteral(" before it started a task"));
    } else if (end.diedBeforeStart) {
        onStartFailed(QStringLiteral("worker program %1 %2 before it started a task")
                          .arg(w.process->program(), end.how),
                      ++m_workers.deathsBeforeStart(),
                      w.protocolError ? TaskError::Kind::ProtocolError
                                      : TaskError::Kind::WorkerStartFailed);
    }
}

void Engine::settleTasksOfLost(WorkerConnection *w, const QString &reason)
{
    // Decided by what it said: a task whose TaskStarted arrived may have had
    // effects and never runs again, so it fails; one that never started goes
    // back to the head of the queue, however many workers died under it.
    for (auto t = w->inFlight.rbegin(); t != w->inFlight.rend(); ++t) {
        Task *task = *t;
        if (task->settled) {
            m_ledger.release(task);
        } else if (task->state == Task::State::Running) {
            const auto kind = w->protocolError    ? TaskError::Kind::ProtocolError
                              : w->connectionLost ? TaskError::Kind::WorkerLost
                                                  : TaskError::Kind::Crashed;
            m_ledger.fail(task, TaskError(kind,
                                          QStringLiteral("%1 while running task '%2'")
                                              .arg(reason, task->request.name),
                                          {}, w->pid));
        } else if (w->wentSilent && task->startAllowed) {
            // What a silent worker sent last may never arrive: a TaskStarted
            // lost with the link. Allowed to start, it may have started, so
            // it never runs again; one it was not allowed to start did not.
            m_ledger.fail(task, TaskError(TaskError::Kind::WorkerLost,
                                          QStringLiteral("%1 with task '%2' sent to it: it may "
                                                         "have started it")
                                              .arg(reason, task->request.name),
                                          {}, w->pid));
        } else {
            requeue(task);
        }
    }
    w->inFlight.clear();
}

void Engine::onStartFailed(const QString &message, int failures, TaskError::Kind kind)
{
    if (m_workers.startFailed(message, failures)) {
        failQueued(kind, QStringLiteral("could not start a worker (%1 attempts): %2")
                             .arg(failures)
                             .arg(message));
    }
}

bool Engine::dropped(WorkerConnection *w, quint64 taskId, quint32 resultCount)
{
    const auto it = std::find_if(w->inFlight.begin(), w->inFlight.end(),
                                 [taskId](Task *t) { return t->id == taskId; });
    if (it == w->inFlight.end() || (*it)->state != Task::State::Sent || resultCount != 0) {
        protocolViolation(w, QStringLiteral("unexpected TaskFinished for task %1").arg(taskId));
        return false;
    }
    Task *task = *it;
    w->inFlight.erase(it);
    allowStarts(w);
    m_workers.publish(w);
    if (task->settled)
        m_ledger.release(task); // canceled while sent ahead: it never ran
    else
        requeue(task); // revoked: another worker takes it
    dispatch();
    return true;
}

} // namespace QtProcessPool
