// SPDX-License-Identifier: MIT
#include "measure.h"

#include <QtProcessPool/ProcessPool>

#include <algorithm>
#include <limits>

namespace Bench {

using QtProcessPool::ProcessPool;

QList<double> measureLatency(const SubmitInt &submit, int count, const Config &config)
{
    QList<double> samples;
    samples.reserve(count);
    QString error;
    Waiter waiter;
    QElapsedTimer timer;
    int index = 0;
    std::function<void()> next;
    QObject context;
    next = [&] {
        timer.start();
        whenFinished(submit(index), &context, [&](const QFuture<int> &future) {
            samples.append(elapsedUs(timer));
            int value = 0;
            error = takeResult(future, &value);
            if (error.isEmpty() && value != index + 1)
                error = QStringLiteral("increment(%1) gave %2").arg(index).arg(value);
            if (!error.isEmpty() || ++index == count)
                waiter.done();
            else
                next();
        });
    };
    next();
    waiter.wait(config.timeoutMs, QStringLiteral("latency round trips"));
    if (!error.isEmpty())
        throw Failure(error);
    return samples;
}

ThroughputResult awaitTasks(Waiter &waiter, const QElapsedTimer &total, int count,
                            const QString &error, const QString &what, const Config &config)
{
    ThroughputResult result;
    result.submitUsPerTask = elapsedUs(total) / count;
    GapMeter gaps;
    gaps.start();
    waiter.wait(config.timeoutMs, what);
    result.maxGapMs = gaps.stop();
    result.tasksPerSecond = count / (elapsedMs(total) / 1e3);
    if (!error.isEmpty())
        throw Failure(error);
    return result;
}

ThroughputResult measureThroughput(const SubmitInt &submit, int count, const Config &config)
{
    int finished = 0;
    QString error;
    Waiter waiter;
    QObject context;
    QElapsedTimer total;
    total.start();
    for (int i = 0; i < count; ++i) {
        whenFinished(submit(i), &context, [&, i](const QFuture<int> &future) {
            int value = 0;
            QString why = takeResult(future, &value);
            if (why.isEmpty() && value != i + 1)
                why = QStringLiteral("increment(%1) gave %2").arg(i).arg(value);
            if (!why.isEmpty() && error.isEmpty())
                error = why;
            if (++finished == count)
                waiter.done();
        });
    }
    return awaitTasks(waiter, total, count, error, QStringLiteral("%1 tasks").arg(count), config);
}

double measureScaling(const std::function<QFuture<quint64>(qint64)> &submit, const Config &config)
{
    int finished = 0;
    QString error;
    Waiter waiter;
    QObject context;
    QElapsedTimer total;
    total.start();
    for (int i = 0; i < config.scalingTasks; ++i) {
        whenFinished(submit(config.burnIterations), &context, [&](const QFuture<quint64> &future) {
            quint64 value = 0;
            QString why = takeResult(future, &value);
            if (why.isEmpty() && value != config.burnExpected)
                why =
                    QStringLiteral("burn gave %1, expected %2").arg(value).arg(config.burnExpected);
            if (!why.isEmpty() && error.isEmpty())
                error = why;
            if (++finished == config.scalingTasks)
                waiter.done();
        });
    }
    waiter.wait(config.timeoutMs, QStringLiteral("scaling tasks"));
    if (!error.isEmpty())
        throw Failure(error);
    return elapsedMs(total) / 1e3;
}

EchoResult measureEcho(ProcessPool &pool, const QByteArray &payload, const Config &config)
{
    EchoResult result;
    QString error;
    Waiter waiter;
    GapMeter gaps;
    QByteArray echoed;
    QObject context;
    QElapsedTimer timer;
    timer.start();
    QFuture<QByteArray> future = pool.run(echo, payload);
    result.submitMs = elapsedMs(timer);
    gaps.start();
    whenFinished(future, &context, [&](const QFuture<QByteArray> &done) {
        result.ms = elapsedMs(timer);
        result.maxGapMs = gaps.stop();
        error = takeResult(done, &echoed);
        waiter.done();
    });
    const QString size = sizeLabel(payload.size());
    waiter.wait(config.timeoutMs, QStringLiteral("echo of %1").arg(size));
    if (error.isEmpty() && echoed != payload)
        error = QStringLiteral("echo of %1 came back as %2 different bytes")
                    .arg(size)
                    .arg(echoed.size());
    if (!error.isEmpty())
        throw Failure(error);
    return result;
}

qint64 calibrateBurn(int ms)
{
    qint64 iterations = 1000000;
    for (int round = 0; round < 2; ++round) {
        double best = std::numeric_limits<double>::max();
        for (int i = 0; i < 3; ++i) {
            QElapsedTimer timer;
            timer.start();
            volatile quint64 sink = burn(iterations);
            Q_UNUSED(sink);
            best = std::min(best, elapsedMs(timer));
        }
        iterations = std::max<qint64>(1000, qint64(double(iterations) * ms / std::max(best, 0.01)));
    }
    return iterations;
}

double waitForWorkers(ProcessPool &pool, int count, const Config &config,
                      const std::function<void()> &start)
{
    Waiter started;
    int seen = 0;
    const QMetaObject::Connection connection =
        QObject::connect(&pool, &ProcessPool::workerStarted, &pool, [&] {
            if (++seen == count)
                started.done();
        });
    QElapsedTimer timer;
    timer.start();
    start();
    started.wait(config.timeoutMs, QStringLiteral("%1 workers to start").arg(count));
    const double ms = elapsedMs(timer);
    QObject::disconnect(connection);
    measureThroughput([&](int i) { return pool.run(increment, i); }, 8 * count, config);
    return ms;
}

void checkNoCrash(const ProcessPool &pool)
{
    const qint64 crashed = pool.statistics().workersCrashed;
    if (crashed > 0)
        throw Failure(QStringLiteral("%1 worker(s) crashed").arg(crashed));
}

} // namespace Bench
