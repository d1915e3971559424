// SPDX-License-Identifier: MIT
// The workloads on QtProcessPool (run, runNamed, mapped) and on
// QtConcurrent::run / QtConcurrent::mapped (threads, in-process).
//
// Every result is checked. Continuations are attached with a context object
// on this (the main) thread, as a GUI application would, and each measurement
// declares its context after its own state: destroying the context first
// drops continuations that arrive late (only after a failure).
#include "measure.h"

#include <QtProcessPool/ProcessPool>

#include <QtConcurrent/QtConcurrentMap>
#include <QtConcurrent/QtConcurrentRun>
#include <QtCore/QThreadPool>

#include <functional>
#include <memory>
#include <numeric>

namespace Bench {

namespace {

using QtProcessPool::ProcessPool;

/// Checks a mapped() result: value i + 1 at index i, for every item.
QString checkMapped(const QFuture<int> &future, int count)
{
    try {
        QFuture<int> copy = future;
        copy.waitForFinished();
    } catch (const QtProcessPool::TaskError &error) {
        return error.message();
    } catch (const std::exception &error) {
        return QString::fromLocal8Bit(error.what());
    }
    if (future.resultCount() != count)
        return QStringLiteral("mapped: %1 results for %2 items")
            .arg(future.resultCount())
            .arg(count);
    for (int i = 0; i < count; ++i) {
        if (future.resultAt(i) != i + 1)
            return QStringLiteral("mapped: item %1 gave %2").arg(i).arg(future.resultAt(i));
    }
    return {};
}

QList<int> sequence(int count)
{
    QList<int> items(count);
    std::iota(items.begin(), items.end(), 0);
    return items;
}

// ---------------------------------------------------------------------------
// Measurements not shared with the remote benchmark (see measure.h).

/// One future with count results (mapped()); same measurement.
ThroughputResult measureMapped(const std::function<QFuture<int>(const QList<int> &)> &map,
                               int count, const Config &config)
{
    const QList<int> items = sequence(count);
    QString error;
    Waiter waiter;
    QObject context;
    QElapsedTimer total;
    total.start();
    whenFinished(map(items), &context, [&](const QFuture<int> &future) {
        error = checkMapped(future, count);
        waiter.done();
    });
    return awaitTasks(waiter, total, count, error,
                      QStringLiteral("mapped over %1 items").arg(count), config);
}

/// Time from submit to the continuation, in milliseconds.
double measureFirstResult(const std::function<QFuture<int>()> &submit, const Config &config)
{
    QString error;
    Waiter waiter;
    QObject context;
    QElapsedTimer timer;
    timer.start();
    double ms = 0;
    whenFinished(submit(), &context, [&](const QFuture<int> &future) {
        ms = elapsedMs(timer);
        int value = 0;
        error = takeResult(future, &value);
        if (error.isEmpty() && value != 2)
            error = QStringLiteral("increment(1) gave %1").arg(value);
        waiter.done();
    });
    waiter.wait(config.timeoutMs, QStringLiteral("first result"));
    if (!error.isEmpty())
        throw Failure(error);
    return ms;
}

// ---------------------------------------------------------------------------
// QtProcessPool

/// A pool with workers started, connected and warmed up.
std::unique_ptr<ProcessPool> readyPool(int workers, const Config &config)
{
    auto pool = std::make_unique<ProcessPool>();
    pool->setMaxWorkers(workers);
    pool->setMinWorkers(workers);
    waitForWorkers(*pool, workers, config, [&] { pool->prestart(); });
    return pool;
}

void poolLatency(const Config &config, Results &results)
{
    const auto pool = readyPool(2, config);
    QList<double> samples = measureLatency([&](int i) { return pool->run(increment, i); },
                                           config.latencyRoundTrips, config);
    results.add(Metric::LatencyP50, ProcessPoolSystem, percentile(samples, 50));
    results.add(Metric::LatencyP99, ProcessPoolSystem, percentile(samples, 99));
    const QString name = QStringLiteral("increment");
    samples = measureLatency([&](int i) { return pool->runNamed<int>(name, i); },
                             config.latencyRoundTrips, config);
    results.add(Metric::NamedLatencyP50, ProcessPoolSystem, percentile(samples, 50));
    checkNoCrash(*pool);
}

void poolThroughput(const Config &config, Results &results)
{
    const auto pool = readyPool(2, config);
    ThroughputResult run = measureThroughput([&](int i) { return pool->run(increment, i); },
                                             config.throughputTasks, config);
    results.add(Metric::Throughput, ProcessPoolSystem, run.tasksPerSecond);
    results.add(Metric::SubmitCost, ProcessPoolSystem, run.submitUsPerTask);
    results.add(Metric::GapRun, ProcessPoolSystem, run.maxGapMs);

    const QString name = QStringLiteral("increment");
    run = measureThroughput([&](int i) { return pool->runNamed<int>(name, i); },
                            config.throughputTasks, config);
    results.add(Metric::NamedThroughput, ProcessPoolSystem, run.tasksPerSecond);

    run = measureMapped([&](const QList<int> &items) { return pool->mapped(increment, items); },
                        config.throughputTasks, config);
    results.add(Metric::MappedThroughput, ProcessPoolSystem, run.tasksPerSecond);
    results.add(Metric::GapMapped, ProcessPoolSystem, run.maxGapMs);
    checkNoCrash(*pool);
}

/// W4's figures from the seconds with 1 and 2 workers (or threads).
void addScaling(Results &results, const QString &system, const double (&seconds)[2])
{
    results.add(Metric::ScalingOne, system, seconds[0]);
    results.add(Metric::ScalingTwo, system, seconds[1]);
    results.add(Metric::Speedup, system, seconds[0] / seconds[1]);
}

void poolPayload(const Config &config, Results &results)
{
    const auto pool = readyPool(2, config);
    for (int s = 0; s < config.payloadSizes.size(); ++s) {
        const qint64 size = config.payloadSizes.at(s);
        const QByteArray payload = makePayload(size, quint32(s + 1));
        const bool last = s == config.payloadSizes.size() - 1;
        const int iterations = config.payloadIterations.at(s);
        // First as they come (the arenas' first use of this size), then warm,
        // as floor A's warm buffers: after one untimed echo more.
        double totalMs = 0;
        double warmMs = 0;
        for (int iteration = 0; iteration < 2 * iterations + 1; ++iteration) {
            const EchoResult echoed = measureEcho(*pool, payload, config);
            if (iteration < iterations)
                totalMs += echoed.ms;
            else if (iteration > iterations)
                warmMs += echoed.ms;
            if (last && iteration == 0) {
                results.add(Metric::GapPayload, ProcessPoolSystem, echoed.maxGapMs);
                results.add(Metric::SubmitPayload, ProcessPoolSystem, echoed.submitMs);
            }
        }
        const double bytes = 2.0 * double(size) * iterations;
        results.add(payloadMetric(size), ProcessPoolSystem, bytes / (totalMs / 1e3) / 1e6);
        results.add(payloadMetric(size) + Metric::Warm, ProcessPoolSystem,
                    bytes / (warmMs / 1e3) / 1e6);
    }
    checkNoCrash(*pool);
}

void poolScaling(const Config &config, Results &results)
{
    double seconds[2] = {};
    for (int workers = 1; workers <= 2; ++workers) {
        const auto pool = readyPool(workers, config);
        seconds[workers - 1] =
            measureScaling([&](qint64 iterations) { return pool->run(burn, iterations); }, config);
        checkNoCrash(*pool);
    }
    addScaling(results, ProcessPoolSystem, seconds);
}

void poolColdStart(const Config &config, Results &results)
{
    {
        std::unique_ptr<ProcessPool> pool;
        const double ms = measureFirstResult(
            [&] {
                pool = std::make_unique<ProcessPool>();
                pool->setMaxWorkers(2);
                return pool->run(increment, 1);
            },
            config);
        results.add(Metric::ColdStart, ProcessPoolSystem, ms);
        checkNoCrash(*pool);
    }
    {
        ProcessPool pool;
        pool.setMaxWorkers(2);
        Waiter started;
        QObject::connect(&pool, &ProcessPool::workerStarted, &pool, [&] { started.done(); });
        pool.prestart();
        started.wait(config.timeoutMs, QStringLiteral("prestart()"));
        const double ms = measureFirstResult([&] { return pool.run(increment, 1); }, config);
        results.add(Metric::Prestarted, ProcessPoolSystem, ms);
        checkNoCrash(pool);
    }
}

// ---------------------------------------------------------------------------
// QtConcurrent

void concurrentLatency(const Config &config, Results &results)
{
    QList<double> samples = measureLatency([](int i) { return QtConcurrent::run(increment, i); },
                                           config.latencyRoundTrips, config);
    results.add(Metric::LatencyP50, QtConcurrentSystem, percentile(samples, 50));
    results.add(Metric::LatencyP99, QtConcurrentSystem, percentile(samples, 99));
}

void concurrentThroughput(const Config &config, Results &results)
{
    ThroughputResult run = measureThroughput([](int i) { return QtConcurrent::run(increment, i); },
                                             config.throughputTasks, config);
    results.add(Metric::Throughput, QtConcurrentSystem, run.tasksPerSecond);
    results.add(Metric::SubmitCost, QtConcurrentSystem, run.submitUsPerTask);
    results.add(Metric::GapRun, QtConcurrentSystem, run.maxGapMs);

    run = measureMapped(
        [](const QList<int> &items) { return QtConcurrent::mapped(items, increment); },
        config.throughputTasks, config);
    results.add(Metric::MappedThroughput, QtConcurrentSystem, run.tasksPerSecond);
    results.add(Metric::GapMapped, QtConcurrentSystem, run.maxGapMs);
}

void concurrentScaling(const Config &config, Results &results)
{
    double seconds[2] = {};
    for (int threads = 1; threads <= 2; ++threads) {
        QThreadPool threadPool;
        threadPool.setMaxThreadCount(threads);
        measureThroughput([&](int i) { return QtConcurrent::run(&threadPool, increment, i); },
                          8 * threads, config);
        seconds[threads - 1] = measureScaling(
            [&](qint64 iterations) { return QtConcurrent::run(&threadPool, burn, iterations); },
            config);
    }
    addScaling(results, QtConcurrentSystem, seconds);
}

void concurrentColdStart(const Config &config, Results &results)
{
    std::unique_ptr<QThreadPool> threadPool;
    const double ms = measureFirstResult(
        [&] {
            threadPool = std::make_unique<QThreadPool>();
            threadPool->setMaxThreadCount(2);
            return QtConcurrent::run(threadPool.get(), increment, 1);
        },
        config);
    results.add(Metric::ColdStart, QtConcurrentSystem, ms);
}

} // namespace

void benchProcessPool(Workload workload, const Config &config, Results &results)
{
    switch (workload) {
    case Workload::Latency:
        return poolLatency(config, results);
    case Workload::Throughput:
        return poolThroughput(config, results);
    case Workload::Payload:
        return poolPayload(config, results);
    case Workload::Scaling:
        return poolScaling(config, results);
    case Workload::ColdStart:
        return poolColdStart(config, results);
    }
}

void benchQtConcurrent(Workload workload, const Config &config, Results &results)
{
    switch (workload) {
    case Workload::Latency:
        return concurrentLatency(config, results);
    case Workload::Throughput:
        return concurrentThroughput(config, results);
    case Workload::Payload:
        // In-process: the QByteArray would be shared, not copied; nothing to compare.
        return;
    case Workload::Scaling:
        return concurrentScaling(config, results);
    case Workload::ColdStart:
        return concurrentColdStart(config, results);
    }
}

} // namespace Bench
