// SPDX-License-Identifier: MIT
// ProcessPool's settings: their getters and setters, each setter emitting its
// change signal exactly when the stored value changes (on the calling
// thread). The engine reads them from SharedState.
#include "pool/engine.h"
#include "pool/platform.h"
#include "pool/processpool_p.h"

#include "logging_p.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QSet>

#include <algorithm>
#include <limits>

namespace QtProcessPool {

namespace {
/// A setting that cannot act on this system says so, once per process.
void warnOnce(const QString &message)
{
    static QMutex mutex;
    static QSet<QString> warned;
    QMutexLocker lock(&mutex);
    if (!warned.contains(message)) {
        warned.insert(message);
        qCWarning(lcPool).noquote() << message;
    }
}

qint64 toMs(std::chrono::milliseconds value)
{
    return std::max<qint64>(0, value.count());
}

/// The int milliseconds properties' view of a duration setting.
int clampedMs(const std::atomic<qint64> &ms)
{
    return int(std::clamp<qint64>(ms, 0, std::numeric_limits<int>::max()));
}

/// Stores a setting; true if that changed it (its setter then notifies).
template <typename T>
bool store(std::atomic<T> &setting, T value)
{
    return setting.exchange(value) != value;
}
} // namespace

int ProcessPool::maxWorkers() const
{
    return d_func()->shared.maxWorkers;
}
void ProcessPool::setMaxWorkers(int count)
{
    Q_D(ProcessPool);
    const int value = std::max(0, count);
    if (!store(d->shared.maxWorkers, value))
        return;
    // Fewer: the engine retires the surplus now; more: it may start workers.
    if (d->engine && !d->stopped)
        QMetaObject::invokeMethod(d->engine, &Engine::wake, Qt::QueuedConnection);
    Q_EMIT maxWorkersChanged(value);
}
int ProcessPool::minWorkers() const
{
    return d_func()->shared.minWorkers;
}
void ProcessPool::setMinWorkers(int count)
{
    const int value = std::max(0, count);
    if (store(d_func()->shared.minWorkers, value))
        Q_EMIT minWorkersChanged(value);
}
std::chrono::milliseconds ProcessPool::idleTimeout() const
{
    return std::chrono::milliseconds(d_func()->shared.idleTimeoutMs);
}
void ProcessPool::setIdleTimeout(std::chrono::milliseconds timeout)
{
    if (store(d_func()->shared.idleTimeoutMs, toMs(timeout)))
        Q_EMIT idleTimeoutChanged();
}
int ProcessPool::idleTimeoutMs() const
{
    return clampedMs(d_func()->shared.idleTimeoutMs);
}
void ProcessPool::setIdleTimeoutMs(int ms)
{
    setIdleTimeout(std::chrono::milliseconds(ms));
}
int ProcessPool::maxTasksPerWorker() const
{
    return d_func()->shared.maxTasksPerWorker;
}
void ProcessPool::setMaxTasksPerWorker(int count)
{
    const int value = std::max(0, count);
    if (store(d_func()->shared.maxTasksPerWorker, value))
        Q_EMIT maxTasksPerWorkerChanged(value);
}
std::chrono::milliseconds ProcessPool::taskTimeout() const
{
    return std::chrono::milliseconds(d_func()->shared.taskTimeoutMs);
}
void ProcessPool::setTaskTimeout(std::chrono::milliseconds timeout)
{
    if (store(d_func()->shared.taskTimeoutMs, toMs(timeout)))
        Q_EMIT taskTimeoutChanged();
}
int ProcessPool::taskTimeoutMs() const
{
    return clampedMs(d_func()->shared.taskTimeoutMs);
}
void ProcessPool::setTaskTimeoutMs(int ms)
{
    setTaskTimeout(std::chrono::milliseconds(ms));
}
std::chrono::milliseconds ProcessPool::cancelGracePeriod() const
{
    return std::chrono::milliseconds(d_func()->shared.cancelGracePeriodMs);
}
void ProcessPool::setCancelGracePeriod(std::chrono::milliseconds period)
{
    if (store(d_func()->shared.cancelGracePeriodMs, toMs(period)))
        Q_EMIT cancelGracePeriodChanged();
}
int ProcessPool::cancelGracePeriodMs() const
{
    return clampedMs(d_func()->shared.cancelGracePeriodMs);
}
void ProcessPool::setCancelGracePeriodMs(int ms)
{
    setCancelGracePeriod(std::chrono::milliseconds(ms));
}
std::chrono::milliseconds ProcessPool::workerStartTimeout() const
{
    return std::chrono::milliseconds(d_func()->shared.workerStartTimeoutMs);
}
void ProcessPool::setWorkerStartTimeout(std::chrono::milliseconds timeout)
{
    if (store(d_func()->shared.workerStartTimeoutMs, std::max<qint64>(1, timeout.count())))
        Q_EMIT workerStartTimeoutChanged();
}
int ProcessPool::workerStartTimeoutMs() const
{
    return clampedMs(d_func()->shared.workerStartTimeoutMs);
}
void ProcessPool::setWorkerStartTimeoutMs(int ms)
{
    setWorkerStartTimeout(std::chrono::milliseconds(ms));
}
int ProcessPool::maxQueuedTasks() const
{
    return d_func()->shared.maxQueuedTasks;
}
void ProcessPool::setMaxQueuedTasks(int count)
{
    const int value = std::max(0, count);
    if (store(d_func()->shared.maxQueuedTasks, value))
        Q_EMIT maxQueuedTasksChanged(value);
}
qint64 ProcessPool::maxMessageSize() const
{
    return d_func()->shared.maxMessageSize;
}
void ProcessPool::setMaxMessageSize(qint64 bytes)
{
    const qint64 value = std::clamp<qint64>(bytes, 64 * 1024, protocol::AbsoluteMaxMessageSize);
    if (store(d_func()->shared.maxMessageSize, value))
        Q_EMIT maxMessageSizeChanged(value);
}

qint64 ProcessPool::workerMemoryLimit() const
{
    return d_func()->shared.workerMemoryLimit;
}
void ProcessPool::setWorkerMemoryLimit(qint64 bytes)
{
    if (bytes > 0 && !platform::hasChildSetup) {
        warnOnce(QStringLiteral("setWorkerMemoryLimit(): workers' memory cannot be limited on "
                                "this system; the limit has no effect"));
    }
    const qint64 value = std::max<qint64>(0, bytes);
    if (store(d_func()->shared.workerMemoryLimit, value))
        Q_EMIT workerMemoryLimitChanged(value);
}
qint64 ProcessPool::maxWorkerRss() const
{
    return d_func()->shared.maxWorkerRss;
}
void ProcessPool::setMaxWorkerRss(qint64 bytes)
{
    if (bytes > 0 && !platform::hasResidentMemory) {
        // The setting is kept (maxWorkerRss() reads it back) but never acts.
        warnOnce(QStringLiteral("setMaxWorkerRss(): a worker's resident memory cannot be read on "
                                "this system (or in the portable build); workers are not "
                                "recycled for their memory"));
    }
    const qint64 value = std::max<qint64>(0, bytes);
    if (store(d_func()->shared.maxWorkerRss, value))
        Q_EMIT maxWorkerRssChanged(value);
}

QString ProcessPool::workerProgram() const
{
    Q_D(const ProcessPool);
    QMutexLocker lock(&d->shared.mutex);
    return d->effectiveProgram();
}
QString ProcessPoolPrivate::effectiveProgram() const
{
    return shared.program.isEmpty() ? QCoreApplication::applicationFilePath() : shared.program;
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
    QString now;
    {
        QMutexLocker lock(&d->shared.mutex);
        const QString before = d->effectiveProgram();
        d->shared.program = program;
        d->shared.arguments = arguments;
        now = d->effectiveProgram();
        if (now == before)
            return;
    }
    Q_EMIT workerProgramChanged(now); // unlocked: a slot may read the settings
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

} // namespace QtProcessPool
