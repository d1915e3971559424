// SPDX-License-Identifier: MIT
#include "pool/processpool_p.h"

#include "pool/engine.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QEventLoop>
#include <QtCore/QTimer>

namespace QtProcessPool {

namespace {
qint64 toMs(std::chrono::milliseconds value)
{
    return std::max<qint64>(0, value.count());
}
} // namespace

ProcessPool::ProcessPool(QObject *parent)
    : QObject(parent)
    , d_ptr(std::make_unique<ProcessPoolPrivate>())
{
    Q_D(ProcessPool);
    d->shared.maxWorkers = std::max(1, QThread::idealThreadCount());
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
    connect(
        d->engine, &Engine::idle, this,
        [this] {
            if (d_func()->shared.outstanding == 0)
                Q_EMIT idle();
        },
        Qt::QueuedConnection);
    connect(
        d->engine, &Engine::countsChanged, this,
        [this] {
            Q_D(ProcessPool);
            d->shared.countsNotificationPending = false;
            const int queued = d->shared.queued;
            const int busy = d->shared.busyWorkers;
            if (queued != d->lastQueued) {
                d->lastQueued = queued;
                Q_EMIT queuedTaskCountChanged(queued);
            }
            if (busy != d->lastBusy) {
                d->lastBusy = busy;
                Q_EMIT busyWorkerCountChanged(busy);
            }
        },
        Qt::QueuedConnection);

    d->thread.start();
    QMetaObject::invokeMethod(d->engine, &Engine::init, Qt::QueuedConnection);
}

ProcessPool::~ProcessPool()
{
    Q_D(ProcessPool);
    QMetaObject::invokeMethod(d->engine, &Engine::shutdown, Qt::BlockingQueuedConnection);
    d->thread.quit();
    d->thread.wait();
    delete d->engine; // its thread has finished: safe from here
}

void ProcessPool::submitRequest(detail::TaskRequest &&request)
{
    Q_D(ProcessPool);
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
        request.sink->fail(TaskError(TaskError::Kind::QueueFull,
                                     QStringLiteral("the queue is full (%1 tasks waiting)")
                                         .arg(maxQueued)));
        return;
    }
    auto task = std::make_unique<Task>();
    task->request = std::move(request);
    ++d->shared.queued;
    ++d->shared.outstanding;
    bool wake;
    {
        QMutexLocker lock(&d->shared.mutex);
        wake = d->shared.inbox.empty();
        d->shared.inbox.push_back(std::move(task));
    }
    // One wake-up per burst: the engine takes the whole inbox at once.
    if (wake)
        QMetaObject::invokeMethod(d->engine, &Engine::wake, Qt::QueuedConnection);
}

void ProcessPool::submitMapped(detail::MapRequest &&request)
{
    Q_D(ProcessPool);
    const int chunks = int(request.chunks.size());
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
    for (auto &chunk : request.chunks) {
        auto task = std::make_unique<Task>();
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
    d->shared.queued += chunks;
    d->shared.outstanding += chunks;
    bool wake;
    {
        QMutexLocker lock(&d->shared.mutex);
        wake = d->shared.inbox.empty();
        for (auto &task : tasks)
            d->shared.inbox.push_back(std::move(task));
        d->shared.groupInbox.push_back(std::move(group));
    }
    if (wake)
        QMetaObject::invokeMethod(d->engine, &Engine::wake, Qt::QueuedConnection);
}

int ProcessPool::maxWorkers() const
{
    return d_func()->shared.maxWorkers;
}
void ProcessPool::setMaxWorkers(int count)
{
    d_func()->shared.maxWorkers = std::max(1, count);
}
int ProcessPool::minWorkers() const
{
    return d_func()->shared.minWorkers;
}
void ProcessPool::setMinWorkers(int count)
{
    d_func()->shared.minWorkers = std::max(0, count);
}
std::chrono::milliseconds ProcessPool::idleTimeout() const
{
    return std::chrono::milliseconds(d_func()->shared.idleTimeoutMs);
}
void ProcessPool::setIdleTimeout(std::chrono::milliseconds timeout)
{
    d_func()->shared.idleTimeoutMs = toMs(timeout);
}
int ProcessPool::maxTasksPerWorker() const
{
    return d_func()->shared.maxTasksPerWorker;
}
void ProcessPool::setMaxTasksPerWorker(int count)
{
    d_func()->shared.maxTasksPerWorker = std::max(0, count);
}
std::chrono::milliseconds ProcessPool::taskTimeout() const
{
    return std::chrono::milliseconds(d_func()->shared.taskTimeoutMs);
}
void ProcessPool::setTaskTimeout(std::chrono::milliseconds timeout)
{
    d_func()->shared.taskTimeoutMs = toMs(timeout);
}
std::chrono::milliseconds ProcessPool::cancelGracePeriod() const
{
    return std::chrono::milliseconds(d_func()->shared.cancelGracePeriodMs);
}
void ProcessPool::setCancelGracePeriod(std::chrono::milliseconds period)
{
    d_func()->shared.cancelGracePeriodMs = toMs(period);
}
std::chrono::milliseconds ProcessPool::workerStartTimeout() const
{
    return std::chrono::milliseconds(d_func()->shared.workerStartTimeoutMs);
}
void ProcessPool::setWorkerStartTimeout(std::chrono::milliseconds timeout)
{
    d_func()->shared.workerStartTimeoutMs = std::max<qint64>(1, timeout.count());
}
int ProcessPool::maxQueuedTasks() const
{
    return d_func()->shared.maxQueuedTasks;
}
void ProcessPool::setMaxQueuedTasks(int count)
{
    d_func()->shared.maxQueuedTasks = std::max(0, count);
}
qint64 ProcessPool::maxMessageSize() const
{
    return d_func()->shared.maxMessageSize;
}
void ProcessPool::setMaxMessageSize(qint64 bytes)
{
    d_func()->shared.maxMessageSize =
        std::clamp<qint64>(bytes, 64 * 1024, protocol::AbsoluteMaxMessageSize);
}

QString ProcessPool::workerProgram() const
{
    Q_D(const ProcessPool);
    QMutexLocker lock(&d->shared.mutex);
    return d->shared.program.isEmpty() ? QCoreApplication::applicationFilePath()
                                       : d->shared.program;
}
QStringList ProcessPool::workerArguments() const
{
    Q_D(const ProcessPool);
    QMutexLocker lock(&d->shared.mutex);
    return d->shared.arguments;
}
void ProcessPool::setWorkerProgram(const QString &program, const QStringList &arguments)
{
    Q_D(ProcessPool);
    QMutexLocker lock(&d->shared.mutex);
    d->shared.program = program;
    d->shared.arguments = arguments;
}
void ProcessPool::setWorkerEnvironment(const QProcessEnvironment &environment)
{
    Q_D(ProcessPool);
    QMutexLocker lock(&d->shared.mutex);
    d->shared.environment = environment;
    d->shared.environmentSet = true;
}
void ProcessPool::setWorkerWorkingDirectory(const QString &directory)
{
    Q_D(ProcessPool);
    QMutexLocker lock(&d->shared.mutex);
    d->shared.workingDirectory = directory;
}

void ProcessPool::prestart()
{
    Q_D(ProcessPool);
    const int count = std::max(1, d->shared.minWorkers.load());
    QMetaObject::invokeMethod(d->engine, [engine = d->engine, count] { engine->prestart(count); },
                              Qt::QueuedConnection);
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
