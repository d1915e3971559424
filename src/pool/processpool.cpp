// SPDX-License-Identifier: MIT
#include "pool/processpool_p.h"

#include "pool/engine.h"
#include "pool/lending.h"
#include "pool/platform.h"

#include "logging_p.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QEventLoop>
#include <QtCore/QPointer>
#include <QtCore/QTimer>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace QtProcessPool {

namespace {
/// A count as the pool's thread last signalled it; true if now differs.
bool update(int &signalled, int now)
{
    if (now == signalled)
        return false;
    signalled = now;
    return true;
}

/// For delivery pacing: a pool's thread that submits is busy, not blocked.
void noteSubmission(SharedState &shared, const QObject &pool)
{
    if (QThread::currentThread() == pool.thread())
        shared.ownThreadSubmissions.fetch_add(1, std::memory_order_relaxed);
}

// On the pool's thread, once per delivery window (Engine::deliveryMarker()).
// glibc keeps the small blocks a thread frees in "fastbins" and merges them
// only when something asks it for a large block. A continuation frees a few
// small blocks that the pool's thread allocated when then() was called; after
// a burst of 100,000 results, the one merge of all of them took 20-50 ms on
// the pool's thread, in a single step (bench W6). A large block requested now
// and then makes glibc merge them in steps of one window's worth (well under
// a millisecond). Elsewhere this is one cheap allocation more.
void consolidateFreedMemory()
{
#ifdef __GLIBC__
    constexpr size_t LargeBlock = 4096; // above glibc's per-thread cache (1 KiB)
    void *block = std::malloc(LargeBlock);
    asm volatile("" : : "r"(block) : "memory"); // the pair is not optimized away
    std::free(block);
#endif
}

// inboxMutex held, after adding to the inbox: whether to post Engine::wake().
bool needsWake(SharedState &shared)
{
    if (shared.inbox.size() == 1 && shared.inbox.back()->sentToSlot != 0 &&
        shared.inbox.back()->unsentTail.isEmpty()) {
        return false; // it went to a lent worker, whose answer wakes the engine
    }
    if (shared.wakePosted || shared.engineWillLook)
        return false;
    shared.wakePosted = true;
    return true;
}
} // namespace

protocol::RunTask runTaskMessage(const Task &task)
{
    return protocol::RunTask{task.id,
                             task.request.name,
                             task.request.argTypes,
                             task.request.resultType,
                             quint32(task.group ? task.itemCount : 0),
                             task.request.arguments};
}

void DurationSamples::add(qint64 nanoseconds)
{
    if (m_samples.size() < size_t(SampleCount))
        m_samples.push_back(nanoseconds);
    else
        m_samples[m_next] = nanoseconds;
    m_next = (m_next + 1) % size_t(SampleCount);
    ++m_count;
    m_sum += double(nanoseconds);
    m_max = std::max(m_max, nanoseconds);
}

Statistics::Durations DurationSamples::summary() const
{
    Statistics::Durations d;
    d.samples = m_count;
    if (m_samples.empty())
        return d;
    std::vector<qint64> sorted = m_samples;
    std::sort(sorted.begin(), sorted.end());
    const auto percentile = [&](double p) {
        const size_t index = std::min(sorted.size() - 1, size_t(p * double(sorted.size())));
        return double(sorted[index]) / 1e6;
    };
    d.mean = m_sum / double(m_count) / 1e6;
    d.p50 = percentile(0.50);
    d.p95 = percentile(0.95);
    d.p99 = percentile(0.99);
    d.max = double(m_max) / 1e6;
    return d;
}

ProcessPool::ProcessPool(QObject *parent)
    : QObject(parent)
    , d_ptr(std::make_unique<ProcessPoolPrivate>())
{
    Q_D(ProcessPool);
    d->q_ptr = this;
    d->shared.maxWorkers = std::max(1, QThread::idealThreadCount());
    d->shared.poolThreadId = platform::currentKernelThreadId();
    d->thread.setObjectName(QStringLiteral("QtProcessPool I/O"));
    d->engine = new Engine(&d->shared);
    d->engine->moveToThread(&d->thread);

    // Queued: every signal reaches users on the pool's thread.
    connect(d->engine, &Engine::workerStarted, this, &ProcessPool::workerStarted,
            Qt::QueuedConnection);
    connect(d->engine, &Engine::workerExited, this, &ProcessPool::workerExited,
            Qt::QueuedConnection);
    connect(d->engine, &Engine::workerCrashed, this, &ProcessPool::workerCrashed,
            Qt::QueuedConnection);
    connect(d->engine, &Engine::workerKilled, this, &ProcessPool::workerKilled,
            Qt::QueuedConnection);
    connect(d->engine, &Engine::workerRecycled, this, &ProcessPool::workerRecycled,
            Qt::QueuedConnection);
    connect(d->engine, &Engine::workerOutput, this, &ProcessPool::workerOutput,
            Qt::QueuedConnection);
    connect(
        d->engine, &Engine::stateChanged, this, [this] { d_func()->notifyState(); },
        Qt::QueuedConnection);

    // Delivery pacing: the marker comes back once this thread has run what
    // was posted to it before (the continuations of finished futures).
    connect(
        d->engine, &Engine::deliveryMarker, this,
        [engine = d->engine, shared = &d->shared] {
            shared->poolThreadId = platform::currentKernelThreadId(); // the pool may have moved
            consolidateFreedMemory();
            QMetaObject::invokeMethod(engine, &Engine::onDeliveryMarker, Qt::QueuedConnection);
        },
        Qt::QueuedConnection);

    d->thread.start();
    QMetaObject::invokeMethod(d->engine, &Engine::init, Qt::QueuedConnection);
    // Runs only while tasks are outstanding (notifyState() starts it): an
    // idle pool does not wake its thread.
    d->userCodeWatch.setInterval(1000);
    connect(&d->userCodeWatch, &QTimer::timeout, this, [d] { d->watchUserCode(); });

    // The application is quitting: cancel pending work and stop the workers
    // now, while the event loop can still deliver the cancellations.
    if (QCoreApplication *app = QCoreApplication::instance()) {
        connect(app, &QCoreApplication::aboutToQuit, this, [this] { d_func()->stop(); });
    }
}

void ProcessPoolPrivate::notifyState()
{
    ProcessPool *q = q_ptr;
    shared.notificationPending = false;
    if (shared.outstanding > 0 && !stopped && !userCodeWatch.isActive())
        userCodeWatch.start(); // watchUserCode() stops it once nothing is outstanding
    const bool idleReached = shared.idleReached.exchange(false);
    // All counts read before any signal: a slot may change them, or delete
    // the pool (then nothing more is emitted).
    const bool queuedChanged = update(lastQueued, shared.queued);
    const bool runningChanged = update(lastRunning, shared.running);
    const bool busyChanged = update(lastBusy, shared.busyWorkers);
    const bool workersChanged = update(lastWorkers, shared.workers);
    const QPointer<ProcessPool> alive(q);
    const int queued = lastQueued;
    const int running = lastRunning;
    const int busy = lastBusy;
    const int workers = lastWorkers;
    if (queuedChanged)
        Q_EMIT q->queuedTaskCountChanged(queued);
    if (runningChanged && alive)
        Q_EMIT q->runningTaskCountChanged(running);
    if (busyChanged && alive)
        Q_EMIT q->busyWorkerCountChanged(busy);
    if (workersChanged && alive)
        Q_EMIT q->workerCountChanged(workers);
    // Read now: a task submitted by a slot above means the pool is not idle.
    if (idleReached && alive && shared.outstanding == 0)
        Q_EMIT q->idle();
}

void ProcessPoolPrivate::stop()
{
    if (stopped)
        return;
    stopped = true;
    QMetaObject::invokeMethod(engine, &Engine::shutdown, Qt::BlockingQueuedConnection);
}

void ProcessPoolPrivate::watchUserCode()
{
    if (shared.outstanding == 0) {
        userCodeWatch.stop(); // nothing can run in a continuation now
        return;
    }
    constexpr qint64 StallNs = 2000000000; // 2 s
    const qint64 since = shared.userCodeSince.load(std::memory_order_relaxed);
    const qint64 held = steadyNow() - since;
    if (since == 0 || since == userCodeWarned || held < StallNs)
        return;
    userCodeWarned = since;
    qCWarning(lcPool).nospace()
        << "a continuation attached without a context has held the pool's I/O thread for "
        << held / 1000000
        << " ms: no task of this pool makes progress meanwhile. If it waits for another task of "
           "this pool (result(), waitForFinished()), it waits for good. Attach it with a "
           "context (future.then(this, ...)) so it runs on that object's thread.";
}

void ProcessPoolPrivate::stopFromIoThread(std::unique_ptr<ProcessPoolPrivate> owned)
{
    ProcessPoolPrivate *d = owned.release();
    qCWarning(lcPool) << "a ProcessPool was deleted in a continuation attached without a "
                         "context, on its own I/O thread; it shuts down once the continuation "
                         "returns. Attach continuations that delete the pool with a context.";
    d->stopped = true; // its timer stops with it (on its own thread)
    // Deleted where a thread can be waited for, once the I/O thread ended;
    // connected now, while the application surely exists.
    if (QCoreApplication *app = QCoreApplication::instance()) {
        QObject::connect(
            &d->thread, &QThread::finished, app,
            [d] {
                d->thread.wait();
                delete d->engine;
                delete d;
            },
            Qt::QueuedConnection);
    }
    // After the continuation returns: the engine's bookkeeping is not in the
    // middle of anything then.
    QMetaObject::invokeMethod(
        d->engine,
        [d] {
            d->engine->shutdown();
            d->thread.quit(); // without an application, d is left behind
        },
        Qt::QueuedConnection);
}

ProcessPool::~ProcessPool()
{
    Q_D(ProcessPool);
    if (QThread::currentThread() == &d->thread) {
        ProcessPoolPrivate::stopFromIoThread(std::move(d_ptr));
        return;
    }
    d->userCodeWatch.stop();
    d->stop();
    d->thread.quit();
    d->thread.wait();
    delete d->engine; // its thread has finished: safe from here
}

void ProcessPool::submitRequest(detail::TaskRequest &&request)
{
    Q_D(ProcessPool);
    if (d->stopped) { // the application is quitting
        request.sink->cancelAndFinish();
        return;
    }
    const qint64 limit = d->shared.maxMessageSize;
    if (request.arguments.size() > limit - 4096) {
        request.sink->fail(TaskError(TaskError::Kind::BadArguments,
                                     QStringLiteral("the arguments of task '%1' take %2 bytes, "
                                                    "more than maxMessageSize (%3)")
                                         .arg(request.name)
                                         .arg(request.arguments.size())
                                         .arg(limit)));
        return;
    }
    const int maxQueued = d->shared.maxQueuedTasks;
    if (maxQueued > 0 && d->shared.queued >= maxQueued) {
        request.sink->fail(
            TaskError(TaskError::Kind::QueueFull,
                      QStringLiteral("the queue is full (%1 tasks waiting)").arg(maxQueued)));
        return;
    }
    auto task = std::make_unique<Task>();
    task->request = std::move(request);
    task->submittedAt = steadyNow();
    ++d->shared.submitted;
    ++d->shared.queued;
    ++d->shared.outstanding;
    noteSubmission(d->shared, *this);
    bool wake;
    {
        QMutexLocker lock(&d->shared.inboxMutex);
        SocketLending::trySend(d->shared, *task);
        d->shared.inbox.push_back(std::move(task));
        wake = needsWake(d->shared);
    }
    if (wake)
        QMetaObject::invokeMethod(d->engine, &Engine::wake, Qt::QueuedConnection);
}

void ProcessPool::submitMapped(detail::MapRequest &&request)
{
    Q_D(ProcessPool);
    const int chunks = int(request.chunks.size());
    if (d->stopped) { // the application is quitting
        request.sink->cancelAndFinish();
        return;
    }
    if (chunks == 0) { // nothing to map: finished at once, no results
        request.sink->setProgress(0, 0, 0, {});
        request.sink->finish();
        return;
    }
    const qint64 limit = d->shared.maxMessageSize;
    for (const auto &chunk : request.chunks) {
        if (chunk.first.size() > limit - 4096) {
            request.sink->fail(TaskError(TaskError::Kind::BadArguments,
                                         QStringLiteral("a chunk of %1 items of mapped() task "
                                                        "'%2' takes %3 bytes, more than "
                                                        "maxMessageSize (%4); pass a smaller "
                                                        "chunkSize")
                                             .arg(chunk.second)
                                             .arg(request.name)
                                             .arg(chunk.first.size())
                                             .arg(limit)));
            return;
        }
    }
    const int maxQueued = d->shared.maxQueuedTasks;
    if (maxQueued > 0 && d->shared.queued + chunks > maxQueued) {
        request.sink->fail(TaskError(TaskError::Kind::QueueFull,
                                     QStringLiteral("the queue is full (%1 tasks waiting; "
                                                    "mapped() needs %2)")
                                         .arg(maxQueued)
                                         .arg(chunks)));
        return;
    }
    auto group = std::make_shared<TaskGroup>();
    group->sink = std::move(request.sink);
    group->totalItems = request.totalItems;
    group->pendingChunks = chunks;
    std::vector<std::unique_ptr<Task>> tasks;
    tasks.reserve(size_t(chunks));
    int firstIndex = 0;
    const qint64 now = steadyNow();
    for (auto &chunk : request.chunks) {
        auto task = std::make_unique<Task>();
        task->submittedAt = now;
        task->request.name = request.name;
        task->request.argTypes = request.argTypes;
        task->request.resultType = request.resultType;
        task->request.arguments = std::move(chunk.first);
        task->group = group;
        task->firstIndex = firstIndex;
        task->itemCount = chunk.second;
        firstIndex += chunk.second;
        tasks.push_back(std::move(task));
    }
    d->shared.submitted += chunks;
    d->shared.queued += chunks;
    d->shared.outstanding += chunks;
    noteSubmission(d->shared, *this);
    bool wake;
    {
        QMutexLocker lock(&d->shared.inboxMutex);
        for (auto &task : tasks)
            d->shared.inbox.push_back(std::move(task));
        d->shared.groupInbox.push_back(std::move(group));
        wake = needsWake(d->shared);
    }
    if (wake)
        QMetaObject::invokeMethod(d->engine, &Engine::wake, Qt::QueuedConnection);
}

void ProcessPool::setInitializer(detail::TaskRequest &&request)
{
    Q_D(ProcessPool);
    QMutexLocker lock(&d->shared.mutex);
    d->shared.initializer = std::move(request);
}
void ProcessPool::clearWorkerInitializer()
{
    setInitializer(detail::TaskRequest());
}

Statistics ProcessPool::statistics() const
{
    Q_D(const ProcessPool);
    Statistics result;
    {
        QMutexLocker lock(&d->shared.mutex);
        result = d->shared.statistics.counts;
        result.submitted = d->shared.submitted;
        result.queueWait = d->shared.statistics.queueWait.summary();
        result.runTime = d->shared.statistics.runTime.summary();
        for (const auto &entry : d->shared.workerRecords) {
            const WorkerRecord &record = *entry.second;
            result.workerInfo.append({record.pid,
                                      Statistics::WorkerInfo::State(record.state.load()),
                                      record.tasksDone.load(), record.host, record.group});
        }
    }
    result.queuedTasks = d->shared.queued;
    result.runningTasks = d->shared.running;
    result.busyWorkers = d->shared.busyWorkers;
    result.workers = d->shared.workers;
    result.sharedMemoryTransfers = d->shared.sharedMemoryTransfers;
    return result;
}

void ProcessPool::setRemoteListenAddress(const QHostAddress &address, quint16 port)
{
    Q_D(ProcessPool);
    QMutexLocker lock(&d->shared.mutex);
    d->shared.remoteAddress = address;
    d->shared.remoteListenPort = port;
}

int ProcessPool::addWorkers(const WorkerLauncher &launcher)
{
    Q_D(ProcessPool);
    const int groupId = d->shared.nextGroupId++;
    if (d->engine && !d->stopped) {
        ++d->shared.remoteGroups;
        QMetaObject::invokeMethod(
            d->engine,
            [engine = d->engine, groupId, launcher] { engine->addGroup(groupId, launcher); },
            Qt::QueuedConnection);
    }
    return groupId;
}

void ProcessPool::removeWorkers(int groupId)
{
    Q_D(ProcessPool);
    if (d->engine && !d->stopped) {
        QMetaObject::invokeMethod(
            d->engine, [engine = d->engine, groupId] { engine->removeGroup(groupId); },
            Qt::QueuedConnection);
    }
}

quint16 ProcessPool::remotePort() const
{
    Q_D(const ProcessPool);
    return d->shared.remotePort;
}

void ProcessPool::prestart()
{
    Q_D(ProcessPool);
    const int count = std::max(1, d->shared.minWorkers.load());
    QMetaObject::invokeMethod(
        d->engine, [engine = d->engine, count] { engine->prestart(count); }, Qt::QueuedConnection);
}

bool ProcessPool::waitForDone(int msecs)
{
    Q_D(ProcessPool);
    if (d->shared.outstanding == 0)
        return true;
    QEventLoop loop;
    connect(this, &ProcessPool::idle, &loop, &QEventLoop::quit);
    QTimer timer;
    if (msecs >= 0) {
        timer.setSingleShot(true);
        connect(&timer, &QTimer::timeout, &loop, &QEventLoop::quit);
        timer.start(msecs);
    }
    loop.exec();
    return d->shared.outstanding == 0;
}

int ProcessPool::workerCount() const
{
    return d_func()->shared.workers;
}
int ProcessPool::busyWorkerCount() const
{
    return d_func()->shared.busyWorkers;
}
int ProcessPool::queuedTaskCount() const
{
    return d_func()->shared.queued;
}
int ProcessPool::runningTaskCount() const
{
    return d_func()->shared.running;
}
QList<qint64> ProcessPool::workerPids() const
{
    Q_D(const ProcessPool);
    QMutexLocker lock(&d->shared.mutex);
    return d->shared.pids;
}

} // namespace QtProcessPool
