// SPDX-License-Identifier: MIT
#include "pool/engine.h"

#include "pool/platform.h"

#include "logging_p.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QDir>

#include <algorithm>

namespace QtProcessPool {

using namespace protocol;

namespace {

constexpr int SocketGraceMs = 1000; // a worker whose socket closed should exit by then
constexpr int KillWaitMs = 2000;    // SIGKILL takes effect by then
constexpr int RevokeWaitMs = 500;   // a worker answers a RevokeTask by then (see killAfterRevoke())
constexpr int ShutdownGraceMs = 300;     // idle workers may exit on their own this long
constexpr quint64 InitializerTaskId = 0; // task ids start at 1
constexpr int FuturePollMs = 5;          // cancel/suspend of a sent or running task seen by then
constexpr int SweepCostShare = 50;       // a sweep of the queue runs at most 1/50 of the time

} // namespace

Engine::Engine(SharedState *shared)
    : m_shared(shared)
    , m_handshake(
          [this](quint32 slotId) -> const QByteArray * {
              WorkerConnection *w = worker(int(slotId));
              return w && w->state == WorkerConnection::State::Starting && !w->link.isAttached()
                         ? &w->secret
                         : nullptr;
          },
          [this](int slotId, std::unique_ptr<QLocalSocket> socket) {
              onWorkerConnected(slotId, std::move(socket));
          },
          this)
    , m_workers(shared, *this, this)
    , m_scheduler(*this, m_workers.all())
    , m_lending(shared)
    , m_delivery(
          shared, [this] { readPausedWorkers(); }, this)
    , m_futurePoll(this)
{
    connect(&m_delivery, &Delivery::stateChanged, this, &Engine::stateChanged);
    connect(&m_delivery, &Delivery::deliveryMarker, this, &Engine::deliveryMarker);
    m_futurePoll.setInterval(FuturePollMs);
    connect(&m_futurePoll, &QTimer::timeout, this, &Engine::pollFutures);
    connect(&m_workers.startBackoff(), &QTimer::timeout, this, [this] {
        const Entry entry(this);
        dispatch();
    });
}

void Engine::onDeliveryMarker()
{
    const Entry entry(this);
    m_delivery.onMarker();
}

void Engine::readPausedWorkers()
{
    const Entry entry(this);
    std::vector<int> slots;
    for (const auto &entry : m_workers.all())
        slots.push_back(entry.first);
    for (int slotId : slots) {
        WorkerConnection *w = worker(slotId);
        if (w && w->link.isAttached() && w->link.socket()->bytesAvailable() > 0)
            onWorkerReadyRead(slotId);
    }
}

Engine::~Engine() = default;

void Engine::init()
{
    const Entry entry(this);
    listen();
}

bool Engine::listen()
{
    return m_handshake.listen();
}

void Engine::wake()
{
    const Entry entry(this);
    const Batch batch(this);
    dispatch(); // at the batch's end; takes the inbox
}

Engine::Batch::Batch(Engine *engine)
    : m_engine(engine)
{
    if (m_engine->m_batchDepth++ > 0)
        return;
    // What is submitted meanwhile is taken at the end: no wake() for it.
    QMutexLocker lock(&m_engine->m_shared->inboxMutex);
    m_engine->m_shared->engineWillLook = true;
}

Engine::Batch::~Batch()
{
    if (--m_engine->m_batchDepth > 0)
        return;
    if (m_engine->m_dispatchDeferred) {
        m_engine->m_dispatchDeferred = false;
        m_engine->dispatch(); // takes the inbox, then settleInboxWatch()
    } else {
        m_engine->settleInboxWatch();
    }
    m_engine->flushWrites();
}

void Engine::write(WorkerConnection *w, const QByteArray &bytes)
{
    Q_ASSERT(m_entryDepth > 0); // so the socket is not lent
    w->link.queue(bytes);
    if (m_batchDepth == 0)
        w->link.flush();
}

void Engine::write(WorkerConnection *w, const OutgoingFrames &frames)
{
    Q_ASSERT(m_entryDepth > 0);
    m_shared->sharedMemoryTransfers += w->link.queue(frames);
    if (m_batchDepth == 0)
        w->link.flush();
}

void Engine::takeInbox()
{
    std::vector<std::unique_ptr<Task>> batch;
    std::vector<std::shared_ptr<TaskGroup>> groups;
    {
        QMutexLocker lock(&m_shared->inboxMutex);
        m_shared->wakePosted = false; // a wake() still on its way finds it empty
        if (m_shared->inbox.empty() && m_shared->groupInbox.empty())
            return;
        batch.swap(m_shared->inbox);
        groups.swap(m_shared->groupInbox);
    }
    for (auto &task : batch) {
        if (task->id == 0)
            task->id = m_shared->nextTaskId++;
        Task *raw = task.get();
        m_tasks.emplace(raw->id, std::move(task));
        WorkerConnection *lent = raw->sentToSlot != 0 ? worker(raw->sentToSlot) : nullptr;
        if (lent && lent->state == WorkerConnection::State::Ready && lent->link.isAttached()) {
            // Written by the submitting thread to the socket we lent it.
            markSent(lent, raw);
            if (!raw->unsentTail.isEmpty())
                write(lent, std::exchange(raw->unsentTail, {}));
            continue;
        }
        if (raw->sentToSlot != 0) // cannot happen: Entry takes the socket back first
            qCWarning(lcPool) << "task" << raw->id << "was sent to a worker that is gone";
        m_scheduler.queue().push(raw);
        if (raw->group)
            raw->group->taskIds.push_back(raw->id);
    }
    if (!batch.empty() && !m_futurePoll.isActive() && !m_shuttingDown)
        m_futurePoll.start();
    for (const auto &group : groups) {
        group->sink->setProgress(0, group->totalItems, 0, {});
        // Weak: the group owns the sink, which owns the watcher holding this.
        group->sink->watch(this, [this, weak = std::weak_ptr<TaskGroup>(group)](
                                     detail::ResultSink::Event event) {
            const Entry entry(this);
            const auto g = weak.lock();
            if (!g || g->settled)
                return;
            if (event == detail::ResultSink::Event::Canceled) {
                cancelGroup(*g);
                return;
            }
            for (quint64 id : g->taskIds)
                onFutureEvent(id, event);
        });
    }
}

Engine::Entry::Entry(Engine *engine)
    : m_engine(engine)
{
    if (m_engine->m_entryDepth++ > 0)
        return;
    // The lent socket comes back first: from here on it is the engine's.
    if (m_engine->m_lending.takeBack())
        m_engine->takeInbox(); // the task written there, before anything else of that worker
}

Engine::Entry::~Entry()
{
    if (--m_engine->m_entryDepth > 0)
        return;
    if (std::exchange(m_engine->m_lendWanted, false))
        m_engine->lendIdleWorker();
}

void Engine::lendIdleWorker()
{
#ifdef Q_OS_UNIX
    Q_ASSERT(m_entryDepth == 0);
    if (m_batchDepth > 0 || m_shuttingDown || !m_scheduler.queue().isEmpty() ||
        m_delivery.readPaused()) {
        return;
    }
    WorkerConnection *w = idleWorker();
    if (!w || !w->link.isWriteIdle() || !w->retireReason.isEmpty()) {
        return;
    }
    const int fd = int(w->link.socket()->socketDescriptor());
    if (fd < 0)
        return;
    m_lending.lend(w->slotId, fd);
#endif
}

void Engine::settleInboxWatch()
{
    // The engine looks at the inbox on its own when it will dispatch anyway:
    // tasks wait that no worker can take now, every worker is busy (or on its
    // way), and no more may start; the first to report back brings dispatch().
    const bool willLook = m_batchDepth == 0 && !m_shuttingDown && m_handshake.isListening() &&
                          !m_scheduler.queue().isEmpty() && !idleWorker() &&
                          m_workers.liveCount() >= std::max(1, m_shared->maxWorkers.load());
    QMutexLocker lock(&m_shared->inboxMutex);
    m_shared->engineWillLook = willLook;
    if (!willLook && !m_shared->wakePosted &&
        (!m_shared->inbox.empty() || !m_shared->groupInbox.empty())) {
        // Submitted while we meant to look: look now.
        m_shared->wakePosted = true;
        QMetaObject::invokeMethod(this, &Engine::wake, Qt::QueuedConnection);
    }
}

void Engine::flushWrites()
{
    for (const auto &entry : m_workers.all())
        entry.second->link.flush();
}

void Engine::prestart(int count)
{
    const Entry entry(this);
    if (!m_handshake.isListening())
        listen();
    const int target = std::min(count, std::max(1, m_shared->maxWorkers.load()));
    for (int live = m_workers.liveCount(); live < target && m_handshake.isListening(); ++live)
        spawnWorker();
    notifyCounts();
}

void Engine::dispatch()
{
    if (m_batchDepth > 0) {
        // Reading a burst of frames: once at its end (onWorkerReadyRead()),
        // not once per finished task.
        m_dispatchDeferred = true;
        return;
    }
    Q_ASSERT(m_entryDepth > 0);
    takeInbox();
    if (m_shuttingDown)
        return;
    if (!m_handshake.isListening()) {
        // Tried again for every batch of tasks that needs workers: a
        // directory that was full or read-only may be fixed by now.
        if (m_scheduler.queue().isEmpty() || !listen()) {
            failQueued(TaskError::Kind::WorkerStartFailed, m_handshake.errorString());
            settleInboxWatch();
            return;
        }
    }
    m_workers.retireSurplus();
    const size_t suspended = m_scheduler.assignToIdle();
    spawnAsNeeded();
    m_scheduler.sendAhead(suspended, m_delivery.recentRunNs());
    m_scheduler.stealBack();
    m_workers.armIdleTimers();
    notifyCounts();
    settleInboxWatch();
    m_lendWanted = true; // as the outermost Entry ends
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
    m_workers.publish(w);
    if (task->settled)
        release(task); // canceled while sent ahead: it never ran
    else
        requeue(task); // revoked: another worker takes it
    dispatch();
    return true;
}

void Engine::spawnAsNeeded()
{
    if (!m_handshake.isListening())
        return;
    for (int n = m_workers.toStart(m_scheduler.queue().size()); n > 0; --n)
        spawnWorker();
}

void Engine::spawnWorker()
{
    WorkerConnection *worker = m_workers.add();
    const int slotId = worker->slotId;
    QProcess *process = worker->process.get();
    // The worker's end of the side channel for large bodies: inherited by
    // this child only, its number told through stdin with the secret.
    int ourBodies = -1;
    int theirBodies = -1;
    if (SharedBodyChannel::createPair(&ourBodies, &theirBodies))
        worker->link.bodies().reset(ourBodies);
    LocalLauncher::prepare(process, launchSpec(), theirBodies);
    wire(worker);
    worker->timer.start(int(std::clamp<qint64>(m_shared->workerStartTimeoutMs, 1, INT_MAX)));
    qCDebug(lcPool) << "starting worker" << slotId << process->program();
    LocalLauncher::start(process, {slotId, worker->secret, theirBodies});
    m_workers.started(worker);
    worker->output.attach(process, process->processId(),
                          [this](qint64 pid, QProcess::ProcessChannel channel,
                                 const QString &lines) {
                              if (!m_shuttingDown)
                                  Q_EMIT workerOutput(pid, channel, lines);
                          });
}

void Engine::wire(WorkerConnection *worker)
{
    const int slotId = worker->slotId;
    QProcess *process = worker->process.get();
    connect(process, &QProcess::finished, this, [this, slotId] { onProcessEnded(slotId); });
    connect(process, &QProcess::errorOccurred, this, [this, slotId](QProcess::ProcessError error) {
        if (error == QProcess::FailedToStart)
            onProcessEnded(slotId);
    });
    connect(&worker->idleTimer, &QTimer::timeout, this, [this, slotId] {
        const Entry entry(this);
        if (WorkerConnection *w = this->worker(slotId))
            m_workers.onIdleTimeout(w);
    });
    connect(&worker->timer, &QTimer::timeout, this, [this, slotId] { onWorkerTimer(slotId); });
    connect(&worker->taskTimer, &QTimer::timeout, this, [this, slotId] { onTaskTimer(slotId); });
}

LaunchSpec Engine::launchSpec() const
{
    LaunchSpec spec;
    QMutexLocker lock(&m_shared->mutex);
    spec.program = m_shared->program;
    spec.arguments = m_shared->arguments;
    spec.serverName = m_handshake.serverName();
    spec.environment = m_shared->environment;
    spec.environmentSet = m_shared->environmentSet;
    spec.workingDirectory = m_shared->workingDirectory;
    spec.memoryLimit = m_shared->workerMemoryLimit.load();
    return spec;
}

void Engine::send(WorkerConnection *worker, Task *task)
{
    OutgoingFrames frames;
    appendMessage(frames, runTaskMessage(*task));
    write(worker, frames);
    markSent(worker, task);
}

void Engine::markSent(WorkerConnection *worker, Task *task)
{
    moveTask(task, Task::State::Sent);
    task->slotId = worker->slotId;
    worker->inFlight.push_back(task);
    m_workers.noteSent(worker);
}

void Engine::moveTask(Task *task, Task::State next)
{
    // Queued -> Sent -> Running; Sent -> Queued only when it never started
    // (given back, or its worker died first). A started task never goes back.
    Q_ASSERT(next == Task::State::Queued ? task->state == Task::State::Sent
                                         : int(next) == int(task->state) + 1);
    task->state = next;
}

void Engine::requeue(Task *task)
{
    moveTask(task, Task::State::Queued);
    task->revoking = false;
    m_scheduler.queue().pushFront(task);
}

WorkerConnection *Engine::worker(int slotId) const
{
    return m_workers.find(slotId);
}

WorkerConnection *Engine::idleWorker() const
{
    return m_scheduler.idleWorker();
}

void Engine::cancelQueued(Task *task)
{
    if (task->group)
        cancelGroup(*task->group);
    else
        cancelOne(task);
}

void Engine::revoke(WorkerConnection *w, Task *task)
{
    task->revoking = true;
    write(w, encodeMessage(RevokeTask{task->id}));
}

// --- handshake --------------------------------------------------------------

void Engine::onWorkerConnected(int slotId, std::unique_ptr<QLocalSocket> proven)
{
    const Entry entry(this);
    WorkerConnection *accepted = worker(slotId);
    QLocalSocket *socket = proven.get();
    accepted->link.attach(std::move(proven));
    connect(socket, &QLocalSocket::readyRead, this, [this, slotId] { onWorkerReadyRead(slotId); });
    connect(socket, &QLocalSocket::disconnected, this, [this, slotId] { onSocketClosed(slotId); });
    accepted->pid = accepted->process->processId();
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
    Q_EMIT workerStarted(w->pid);
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
    moveTask(task, Task::State::Running);
    ++w->tasksStarted;
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
        release(task); // canceled or timed out meanwhile: nothing late is delivered
    } else if (task->sink().addResults(message.results, int(message.resultCount),
                                       task->group ? task->firstIndex : -1)) {
        if (TaskGroup *group = task->group.get()) {
            group->finishedItems += task->itemCount;
            group->sink->setProgress(0, group->totalItems, group->finishedItems, {});
        }
        finishTask(task);
    } else {
        failTask(task, TaskError(TaskError::Kind::ProtocolError,
                                 QStringLiteral("the result of task '%1' does not decode as %2")
                                     .arg(task->request.name, task->request.resultType),
                                 {}, w->pid));
    }
    m_workers.afterTask(w);
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
        release(task);
    else
        failTask(task, TaskError(kind, message.message, message.remoteType, w->pid));
    m_workers.afterTask(w);
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
    // Workers close their connection only when exiting; give it a moment.
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
    } else if (w->state == WorkerConnection::State::Starting) {
        m_workers.kill(
            w, QStringLiteral("did not connect within %1 ms").arg(m_shared->workerStartTimeoutMs));
    } else if (w->state == WorkerConnection::State::Initializing) {
        m_workers.kill(w, QStringLiteral("did not finish its initializer within %1 ms")
                              .arg(m_shared->workerStartTimeoutMs));
    } else if (!w->processEnded && w->state != WorkerConnection::State::Killing) {
        m_workers.kill(w, QStringLiteral("closed its connection but did not exit"));
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
        w->process->waitForFinished(KillWaitMs);
    }
    const WorkerEnd end = WorkerEnd::of(*w, m_shared->workerMemoryLimit);
    m_workers.recordEnd(*w, end.kind);
    switch (end.kind) {
    case WorkerEnd::Kind::StartFailed:
        onStartFailed(QStringLiteral("worker program %1 %2").arg(w->process->program(), end.how),
                      ++m_workers.startFailures());
        break;
    case WorkerEnd::Kind::Retired:
        qCDebug(lcPool) << "worker" << w->pid << "retired:" << w->retireReason;
        Q_EMIT workerExited(w->pid, w->process->exitCode(), w->process->exitStatus());
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

void Engine::settleLost(WorkerConnection &w, const WorkerEnd &end)
{
    const QString reason = QStringLiteral("worker %1 %2").arg(w.pid).arg(end.how);
    qCWarning(lcPool) << reason;
    settleTasksOfLost(&w, reason);
    Q_EMIT workerExited(w.pid, w.process->exitCode(), w.process->exitStatus());
    if (end.kind == WorkerEnd::Kind::Killed)
        Q_EMIT workerKilled(w.pid, reason);
    else
        Q_EMIT workerCrashed(w.pid, reason);
    // A program that dies after its handshake, before running anything, is
    // a start failure: back-off, and after MaxStartAttempts in a row the
    // waiting tasks fail rather than loop (they never ran: not Crashed; a
    // program that answers with garbage fails them with ProtocolError).
    if (end.diedBeforeStart) {
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
            release(task);
        } else if (task->state == Task::State::Running) {
            const auto kind =
                w->protocolError ? TaskError::Kind::ProtocolError : TaskError::Kind::Crashed;
            failTask(task, TaskError(kind,
                                     QStringLiteral("%1 while running task '%2'")
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

// --- task completion --------------------------------------------------------

void Engine::settle(Task *task, Outcome outcome, const TaskError *error)
{
    Q_ASSERT(!task->settled);
    m_delivery.count(*task, outcome, error);
    task->settled = true;
    if (TaskGroup *group = task->group.get()) {
        --group->pendingChunks;
        if (!group->settled && (outcome != Outcome::Finished || group->pendingChunks == 0)) {
            // The first chunk to fail or be canceled ends the whole future;
            // the other chunks are dropped (queued) or told to stop (running).
            group->settled = true;
            m_delivery.finish(*group->sink, outcome, error);
            if (outcome != Outcome::Finished)
                cancelGroup(*group);
        }
        if (--m_shared->outstanding == 0)
            m_delivery.notifyIdle();
        return;
    }
    m_delivery.finish(*task->request.sink, outcome, error);
    // After the future finished: when outstanding reaches 0, every future is done.
    if (--m_shared->outstanding == 0)
        m_delivery.notifyIdle();
    m_delivery.noteDelivered();
}

void Engine::release(Task *task)
{
    m_tasks.erase(task->id); // deletes it
}

void Engine::finishTask(Task *task)
{
    settle(task, Outcome::Finished);
    release(task);
}

void Engine::failTask(Task *task, const TaskError &error)
{
    settle(task, Outcome::Failed, &error);
    release(task);
}

void Engine::cancelTask(Task *task)
{
    settle(task, Outcome::Canceled);
    release(task);
}

Task *Engine::runningTask(WorkerConnection *w, quint64 taskId) const
{
    // Workers run their tasks in order: only the oldest one can be running.
    if (w->inFlight.empty() || w->inFlight.front()->id != taskId ||
        w->inFlight.front()->state != Task::State::Running) {
        return nullptr;
    }
    return w->inFlight.front();
}

void Engine::onFutureEvent(quint64 taskId, detail::ResultSink::Event event)
{
    const auto it = m_tasks.find(taskId);
    if (it == m_tasks.end() || it->second->settled || m_shuttingDown)
        return;
    Task *task = it->second.get();
    switch (event) {
    case detail::ResultSink::Event::Canceled:
        cancelOne(task);
        break;
    case detail::ResultSink::Event::Suspending:
    case detail::ResultSink::Event::Resumed: {
        // Queued tasks of a suspended future wait in the queue (see dispatch());
        // a running one is told, and its suspendIfRequested() blocks.
        // A task sent ahead and not started is queued too: it is asked back
        // (it waits in the queue), and told in case it started meanwhile.
        const bool suspend = event == detail::ResultSink::Event::Suspending;
        WorkerConnection *w = task->state == Task::State::Queued ? nullptr : worker(task->slotId);
        if (w && w->link.isAttached() && w->state == WorkerConnection::State::Ready) {
            if (suspend && task->state == Task::State::Sent && !task->revoking)
                revoke(w, task);
            write(w, encodeMessage(SuspendTask{taskId, quint8(suspend)}));
        }
        if (!suspend)
            dispatch();
        break;
    }
    }
}

// A QFutureWatcher per task would tell us at once, but costs a QObject, its
// connections and a posted event per state change of every task; polling the
// few tasks in workers every FuturePollMs, and the queue now and then, costs
// next to nothing. (A mapped() call, one future for many chunks, keeps its
// watcher.)
void Engine::pollFutures()
{
    const Entry entry(this);
    if (m_tasks.empty() || m_shuttingDown) {
        m_futurePoll.stop();
        return;
    }
    // Sent or running: the worker hears of a cancel or suspend within a tick.
    std::vector<quint64> inWorkers;
    for (const auto &entry : m_workers.all()) {
        for (Task *task : entry.second->inFlight) {
            if (!task->settled && !task->group)
                inWorkers.push_back(task->id);
        }
    }
    for (quint64 id : inWorkers) {
        const auto it = m_tasks.find(id);
        if (it == m_tasks.end() || it->second->settled)
            continue; // settled by an earlier one (its worker was killed)
        Task *task = it->second.get();
        const detail::ResultSink &sink = task->sink();
        if (sink.isCanceled()) {
            onFutureEvent(id, detail::ResultSink::Event::Canceled);
        } else if (sink.isSuspendRequested() != task->suspendSeen) {
            task->suspendSeen = !task->suspendSeen;
            onFutureEvent(id, task->suspendSeen ? detail::ResultSink::Event::Suspending
                                                : detail::ResultSink::Event::Resumed);
        }
    }
    // Queued: canceled ones leave the queue (and the counts); resumed ones
    // may go now. A sweep costs time in proportion to the queue, so it waits
    // SweepCostShare times as long as the last one took: every tick for a
    // short queue, about every 100 ms for 100,000 tasks.
    const qint64 now = steadyNow();
    if (now < m_nextSweepAt)
        return;
    const std::vector<Task *> canceled = m_scheduler.queue().removeIf(
        [](Task *task) { return !task->group && task->sink().isCanceled(); });
    m_nextSweepAt = now + SweepCostShare * (steadyNow() - now);
    for (Task *task : canceled)
        cancelTask(task);
    const bool suspendedSkipped = m_scheduler.takeSuspendedSkipped(); // and cleared
    if (suspendedSkipped || !canceled.empty())
        dispatch(); // also brings the counts up to date
}

void Engine::cancelGroup(TaskGroup &group)
{
    if (m_shuttingDown)
        return;
    // By id: canceling one chunk may release others.
    const std::vector<quint64> ids = group.taskIds;
    for (quint64 id : ids) {
        const auto it = m_tasks.find(id);
        if (it != m_tasks.end() && !it->second->settled)
            cancelOne(it->second.get());
    }
}

void Engine::cancelOne(Task *task)
{
    if (task->state == Task::State::Queued) {
        m_scheduler.queue().remove(task); // never starts
        cancelTask(task);
        notifyCounts();
        return;
    }
    // Sent or running: the future ends now and nothing later reaches it. The
    // worker is told; a task that does not stop in time is killed with its worker.
    settle(task, Outcome::Canceled);
    WorkerConnection *w = worker(task->slotId);
    if (w && w->link.isAttached() && w->state == WorkerConnection::State::Ready) {
        write(w, encodeMessage(CancelTask{task->id}));
        if (task->state == Task::State::Running) {
            // What waits behind it runs elsewhere, out of reach of a grace kill.
            revokeFollowers(w);
            armCancelGrace(w, task);
        }
    }
    notifyCounts();
}

void Engine::armCancelGrace(WorkerConnection *w, Task *task)
{
    const qint64 grace = m_shared->cancelGracePeriodMs;
    if (grace <= 0) {
        killAfterRevoke(
            w, task, QStringLiteral("was killed: task '%1' was canceled").arg(task->request.name));
        return;
    }
    w->taskTimerIsCancelGrace = true;
    w->taskTimer.start(int(std::min<qint64>(grace, INT_MAX)));
}

qint64 Engine::timeoutOf(const Task *task) const
{
    return task->request.timeout.count() > 0 ? task->request.timeout.count()
                                             : m_shared->taskTimeoutMs.load();
}

void Engine::onTaskTimer(int slotId)
{
    const Entry entry(this);
    // Fresh facts first: with deliveries paused, the task's end may be
    // waiting unread in the socket.
    readEverythingSent(slotId);
    WorkerConnection *w = worker(slotId);
    if (!w || w->state != WorkerConnection::State::Ready || w->inFlight.empty() ||
        w->inFlight.front()->state != Task::State::Running) {
        return;
    }
    Task *task = w->inFlight.front();
    if (w->taskTimerIsCancelGrace) {
        killAfterRevoke(w, task,
                        QStringLiteral("was killed: task '%1' was still running %2 ms after it "
                                       "was canceled")
                            .arg(task->request.name)
                            .arg(m_shared->cancelGracePeriodMs));
        return;
    }
    if (task->settled)
        return;
    const qint64 timeout = timeoutOf(task);
    const qint64 leftNs = task->startedAt + timeout * 1000000 - steadyNow();
    if (leftNs > 0) { // it started later than the timer was armed for
        w->taskTimer.start(int(std::min<qint64>(leftNs / 1000000 + 1, INT_MAX)));
        return;
    }
    const TaskError error(TaskError::Kind::TimedOut,
                          QStringLiteral("task '%1' ran longer than its timeout of %2 ms; its "
                                         "worker %3 was killed")
                              .arg(task->request.name)
                              .arg(timeout)
                              .arg(w->pid),
                          {}, w->pid);
    settle(task, Outcome::Failed, &error);
    killAfterRevoke(w, task,
                    QStringLiteral("was killed: task '%1' timed out").arg(task->request.name));
}

void Engine::revokeFollowers(WorkerConnection *w)
{
    for (size_t i = 1; i < w->inFlight.size(); ++i) {
        Task *task = w->inFlight[i];
        if (task->state == Task::State::Sent && !task->revoking)
            revoke(w, task);
    }
}

void Engine::killAfterRevoke(WorkerConnection *w, Task *culprit, const QString &reason)
{
    if (w->state != WorkerConnection::State::Ready || !w->killPending.isEmpty())
        return;
    // A task sent behind the culprit has not started, or the culprit would
    // have ended (and the kill be void): asked back, it comes back unstarted
    // or starts only after the culprit's end, which calls the kill off.
    w->killPending = reason;
    w->killForTask = culprit->id;
    revokeFollowers(w);
    w->timer.start(RevokeWaitMs);
    m_workers.publish(w);
    notifyCounts();
    settlePendingKill(w);
}

void Engine::settlePendingKill(WorkerConnection *w)
{
    if (w->killPending.isEmpty() || w->state != WorkerConnection::State::Ready)
        return;
    if (w->inFlight.empty() || w->inFlight.front()->id != w->killForTask ||
        w->inFlight.front()->state != Task::State::Running) {
        // The culprit ended after all: the worker is fine, nothing is killed.
        w->killPending.clear();
        w->timer.stop();
        m_workers.publish(w);
        dispatch();
        return;
    }
    const bool waiting = std::any_of(w->inFlight.begin() + 1, w->inFlight.end(),
                                     [](const Task *t) { return t->state == Task::State::Sent; });
    if (!waiting) {
        const Batch batch(this); // the revokes are out before the kill
        m_workers.kill(w, std::exchange(w->killPending, {}));
    }
}

void Engine::failQueued(TaskError::Kind kind, const QString &message)
{
    std::vector<quint64> ids;
    for (Task *task : m_scheduler.queue().takeAll())
        ids.push_back(task->id);
    // By id: failing one chunk of a mapped() call releases its siblings.
    for (quint64 id : ids) {
        const auto it = m_tasks.find(id);
        if (it != m_tasks.end() && !it->second->settled)
            failTask(it->second.get(), TaskError(kind, message));
    }
    notifyCounts();
}

void Engine::notifyCounts()
{
    m_shared->busyWorkers = m_workers.busyCount();
    m_delivery.notifyCounts();
}

// --- shutdown ---------------------------------------------------------------

void Engine::shutdown()
{
    const Entry entry(this);
    m_shuttingDown = true;
    m_delivery.stop(); // nothing more reaches the pool's thread from here
    wake();            // take over what is still in the inbox
    m_workers.startBackoff().stop();
    m_futurePoll.stop();
    m_scheduler.queue().takeAll();
    for (auto &entry : m_tasks) {
        Task *task = entry.second.get();
        if (task->settled)
            continue;
        if (TaskGroup *group = task->group.get()) {
            if (!group->settled) {
                group->settled = true;
                group->sink->cancelAndFinish();
            }
        } else {
            task->request.sink->cancelAndFinish();
        }
        --m_shared->outstanding;
    }
    m_tasks.clear();
    m_handshake.close();

    // Idle workers exit on their own when their connection closes; the others are killed.
    std::vector<WorkerConnection *> graceful;
    for (auto &entry : m_workers.all()) {
        WorkerConnection *w = entry.second.get();
        w->process->disconnect(this);
        w->timer.stop();
        if (w->link.isAttached())
            w->link.socket()->disconnect(this);
        if (w->isIdle() && !w->processEnded) {
            w->link.socket()->disconnectFromServer();
            graceful.push_back(w);
        } else if (w->process->state() != QProcess::NotRunning) {
            WorkerSet::endProcessGroup(w); // with its helpers
            w->process->kill();
        }
        w->inFlight.clear();
    }
    const QDeadlineTimer deadline(ShutdownGraceMs);
    for (WorkerConnection *w : graceful) {
        if (w->process->waitForFinished(int(std::max<qint64>(1, deadline.remainingTime()))))
            WorkerSet::endProcessGroup(w); // helpers of its earlier tasks
    }
    for (auto &entry : m_workers.all()) {
        QProcess *process = entry.second->process.get();
        if (process->state() != QProcess::NotRunning) {
            WorkerSet::endProcessGroup(entry.second.get());
            process->kill();
            process->waitForFinished(KillWaitMs); // reaps it: no zombie
        }
        entry.second->output.flush();
    }
    m_workers.all().clear();
    m_shared->workers = 0;
    m_shared->busyWorkers = 0;
    m_shared->queued = 0;
    m_shared->running = 0;
    {
        QMutexLocker lock(&m_shared->mutex);
        m_shared->pids.clear();
        m_shared->workerRecords.clear();
    }
}

} // namespace QtProcessPool
