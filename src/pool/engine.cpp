// SPDX-License-Identifier: MIT
// The engine, part one: the wiring of the parts, the entry into the engine,
// the inbox and dispatch, starting workers, and shutdown. Parts two and
// three: engine_workers.cpp, engine_tasks.cpp.
#include "pool/engine.h"

#include "logging_p.h"
#include "pool/platform.h"

#include <QtCore/QDeadlineTimer>

#include <algorithm>

namespace QtProcessPool {

using namespace protocol;

namespace {

constexpr int ShutdownGraceMs = 300; // idle workers may exit on their own this long
constexpr int FuturePollMs = 5;      // cancel/suspend of a sent or running task seen by then

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
          [this](Handshake::Proven &&proven) { onWorkerConnected(std::move(proven)); }, this)
    , m_workers(shared, *this, this)
    , m_scheduler(*this, m_workers.all())
    , m_lending(shared)
    , m_delivery(
          shared, [this] { readPausedWorkers(); }, this)
    , m_ledger(shared, m_delivery, *this)
    , m_futurePoll(this)
    , m_heartbeat(this)
{
    m_handshake.setRefused(
        [this](int slotId, const QString &why) { onWorkerRefused(slotId, why); });
    connect(&m_delivery, &Delivery::stateChanged, this, &Engine::stateChanged);
    connect(&m_delivery, &Delivery::deliveryMarker, this, &Engine::deliveryMarker);
    m_futurePoll.setInterval(FuturePollMs);
    connect(&m_futurePoll, &QTimer::timeout, this, &Engine::pollFutures);
    m_heartbeat.setInterval(HeartbeatIntervalMs); // started by the first group (addGroup())
    connect(&m_heartbeat, &QTimer::timeout, this, &Engine::onHeartbeat);
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
        if (w && w->link.isAttached() && w->link.hasUnread())
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
        Task *raw = m_ledger.add(std::move(task));
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
    if (!platform::hasDirectSocketWrites)
        return; // SocketLending::trySend() needs send() on the descriptor
    Q_ASSERT(m_entryDepth == 0);
    if (m_batchDepth > 0 || m_shuttingDown || !m_scheduler.queue().isEmpty() ||
        m_delivery.readPaused()) {
        return;
    }
    WorkerConnection *w = idleWorker();
    if (!w || !w->link.isWriteIdle() || !w->retireReason.isEmpty()) {
        return;
    }
    const int fd = w->link.localSocket() ? int(w->link.localSocket()->socketDescriptor()) : -1;
    if (fd < 0)
        return; // a remote worker's is TLS: only the engine writes there
    m_lending.lend(w->slotId, fd);
}

void Engine::settleInboxWatch()
{
    // The engine looks at the inbox on its own when it will dispatch anyway:
    // tasks wait that no worker can take now, every worker is busy (or on its
    // way), and no more may start; the first to report back brings dispatch().
    const bool willLook = m_batchDepth == 0 && !m_shuttingDown && m_handshake.isListening() &&
                          !m_scheduler.queue().isEmpty() && !idleWorker() &&
                          m_workers.liveCount() >= m_shared->maxWorkers.load();
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
    const int target = std::min(count, m_shared->maxWorkers.load());
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
    replenishGroups();
    if (m_shared->maxWorkers == 0 && m_shared->remoteGroups == 0 &&
        !m_scheduler.queue().isEmpty()) {
        failQueued(TaskError::Kind::WorkerStartFailed,
                   QStringLiteral("no worker can run it: maxWorkers() is 0 and no remote "
                                  "workers were added"));
    }
    m_scheduler.sendAhead(suspended, m_delivery.recentRunNs());
    m_scheduler.stealBack();
    m_workers.armIdleTimers();
    notifyCounts();
    settleInboxWatch();
    m_lendWanted = true; // as the outermost Entry ends
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
    LocalLauncher::start(process, {slotId, worker->secret, theirBodies, {}});
    m_workers.started(worker);
    attachOutput(worker);
}

void Engine::attachOutput(WorkerConnection *worker)
{
    QProcess *process = worker->process.get();
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
    markSent(worker, task);
    allowStarts(worker, &frames);
    write(worker, frames);
}

void Engine::markSent(WorkerConnection *worker, Task *task)
{
    TaskLedger::move(task, Task::State::Sent);
    task->slotId = worker->slotId;
    if (worker->isRemote() && worker->inFlight.empty()) {
        worker->probeTaskId = task->id; // it starts at once: its TaskStarted times the trip
        worker->probeSentAt = steadyNow();
    }
    worker->inFlight.push_back(task);
    m_workers.noteSent(worker);
}

void Engine::requeue(Task *task)
{
    TaskLedger::move(task, Task::State::Queued);
    task->revoking = false;
    task->startAllowed = false;
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
    m_heartbeat.stop();
    m_scheduler.queue().takeAll();
    m_ledger.cancelAllAtShutdown();
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
            w->link.disconnectFromPeer();
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
            process->waitForFinished(WorkerSet::KillWaitMs); // reaps it: no zombie
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
