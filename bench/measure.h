// SPDX-License-Identifier: MIT
// Measurements shared by qtprocesspool-bench and qtprocesspool-remotebench:
// each submits through a function given to it, checks every result and throws
// Failure on an error, a wrong result or a timeout.
#ifndef QTPROCESSPOOL_BENCH_MEASURE_H
#define QTPROCESSPOOL_BENCH_MEASURE_H

#include "bench.h"

#include <QtProcessPool/TaskError>

#include <QtCore/QCoreApplication>
#include <QtCore/QPointer>

#include <functional>

namespace QtProcessPool {
class ProcessPool;
}

namespace Bench {

/// Empty if future finished with a value (stored in *value), else why not.
template <typename T>
QString takeResult(const QFuture<T> &future, T *value)
{
    try {
        QFuture<T> copy = future;
        copy.waitForFinished(); // rethrows the task's error
        if (future.resultCount() < 1)
            return QStringLiteral("finished without a result (canceled)");
        *value = future.result();
        return {};
    } catch (const QtProcessPool::TaskError &error) {
        return QtProcessPool::TaskError::kindName(error.kind()) + QStringLiteral(": ") +
               error.message();
    } catch (const std::exception &error) {
        return QString::fromLocal8Bit(error.what());
    }
}

/// future.then(context, f): f(future) on the main thread once it finishes,
/// while context (an object of the main thread) lives. Qt before 6.5 can run a
/// context continuation of a QtConcurrent future twice, the second time on a
/// moved-from promise (a crash in QFutureInterfaceBase::reportStarted, about
/// once in 400 quick runs). There f is attached without a context and posted
/// to the application, for every system alike so the comparison stays fair.
template <typename T, typename Function>
void whenFinished(QFuture<T> future, QObject *context, Function f)
{
#if QT_VERSION < QT_VERSION_CHECK(6, 5, 0)
    const QPointer<QObject> guard(context);
    future.then([guard, f = std::move(f)](const QFuture<T> &done) {
        QMetaObject::invokeMethod(
            QCoreApplication::instance(),
            [guard, f, done] {
                if (guard)
                    f(done);
            },
            Qt::QueuedConnection);
    });
#else
    future.then(context, std::move(f));
#endif
}

using SubmitInt = std::function<QFuture<int>(int)>;

/// One task at a time, the next one submitted from the previous continuation:
/// latency samples in microseconds.
QList<double> measureLatency(const SubmitInt &submit, int count, const Config &config);

struct ThroughputResult
{
    double tasksPerSecond = 0;
    double submitUsPerTask = 0;
    double maxGapMs = 0;
};

/// After count tasks submitted since total started, whose continuations
/// set error and call waiter.done(): waits for them while a 1 ms timer ticks.
/// Throws Failure(error) if error is set by then, Failure on a timeout.
ThroughputResult awaitTasks(Waiter &waiter, const QElapsedTimer &total, int count,
                            const QString &error, const QString &what, const Config &config);

/// count tasks submitted in a loop, each with a continuation on this thread;
/// then waits for every continuation while a 1 ms timer ticks.
ThroughputResult measureThroughput(const SubmitInt &submit, int count, const Config &config);

/// config.scalingTasks CPU-bound tasks at once; seconds until all are back.
double measureScaling(const std::function<QFuture<quint64>(qint64)> &submit, const Config &config);

struct EchoResult
{
    double ms = 0;       ///< submit to continuation
    double submitMs = 0; ///< run() itself
    double maxGapMs = 0; ///< longest stall of this thread meanwhile
};

/// One echo of payload through pool; throws unless the same bytes come back.
EchoResult measureEcho(QtProcessPool::ProcessPool &pool, const QByteArray &payload,
                       const Config &config);

/// Iterations of burn() taking about ms milliseconds here.
qint64 calibrateBurn(int ms);

/// Waits until count workers of pool have started (workerStarted()), then
/// warms them up with a few tasks. Returns the milliseconds until they started.
double waitForWorkers(QtProcessPool::ProcessPool &pool, int count, const Config &config,
                      const std::function<void()> &start);

/// Throws Failure if a worker of pool crashed.
void checkNoCrash(const QtProcessPool::ProcessPool &pool);

} // namespace Bench

#endif
