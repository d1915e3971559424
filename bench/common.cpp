// SPDX-License-Identifier: MIT
#include "bench.h"

#include <QtProcessPool/Registry>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

namespace Bench {

int increment(int value)
{
    return value + 1;
}

QByteArray echo(const QByteArray &bytes)
{
    return bytes;
}

quint64 burn(qint64 iterations)
{
    // xorshift64: a serial dependency chain the compiler cannot shorten.
    quint64 x = 0x9E3779B97F4A7C15ull;
    for (qint64 i = 0; i < iterations; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return x;
}

} // namespace Bench

QPP_REGISTER_TASK_AS("increment", &Bench::increment)
QPP_REGISTER_TASK_AS("echo", &Bench::echo)
QPP_REGISTER_TASK_AS("burn", &Bench::burn)

namespace Bench {

QStringList allSystems()
{
    return {ProcessPoolSystem,  FloorASystem, MemcpySystem,  FloorBSystem,
            QtConcurrentSystem, PoolSystem,   ExecutorSystem};
}

QString systemTitle(const QString &system)
{
    static const QMap<QString, QString> titles = {
        {ProcessPoolSystem, QStringLiteral("QtProcessPool")},
        {FloorASystem, QStringLiteral("floor A: socketpair")},
        {MemcpySystem, QStringLiteral("memcpy echo")},
        {FloorBSystem, QStringLiteral("floor B: QLocalSocket (reference, not a target)")},
        {QtConcurrentSystem, QStringLiteral("QtConcurrent")},
        {PoolSystem, QStringLiteral("mp.Pool")},
        {ExecutorSystem, QStringLiteral("ProcessPoolExecutor")},
    };
    return titles.value(system, system);
}

QList<Workload> allWorkloads()
{
    return {Workload::Latency, Workload::Throughput, Workload::Payload, Workload::Scaling,
            Workload::ColdStart};
}

QString workloadId(Workload workload)
{
    switch (workload) {
    case Workload::Latency:
        return QStringLiteral("w1");
    case Workload::Throughput:
        return QStringLiteral("w2");
    case Workload::Payload:
        return QStringLiteral("w3");
    case Workload::Scaling:
        return QStringLiteral("w4");
    case Workload::ColdStart:
        return QStringLiteral("w5");
    }
    return {};
}

QString sizeLabel(qint64 bytes)
{
    if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0)
        return QStringLiteral("%1 MiB").arg(bytes / (1024 * 1024));
    if (bytes >= 1024 && bytes % 1024 == 0)
        return QStringLiteral("%1 KiB").arg(bytes / 1024);
    return QStringLiteral("%1 B").arg(bytes);
}

QString payloadMetric(qint64 bytes)
{
    return QStringLiteral("w3.") + QString::number(bytes);
}

Config Config::full()
{
    Config config;
    config.payloadSizes = {1 << 20, 16 << 20, 64 << 20};
    config.payloadIterations = {16, 2, 1};
    return config;
}

Config Config::smoke()
{
    Config config;
    config.quick = true;
    config.repetitions = 1;
    config.latencyRoundTrips = 200;
    config.throughputTasks = 2000;
    config.executorThroughputTasks = 2000;
    config.payloadSizes = {64 << 10, 1 << 20, 4 << 20};
    config.payloadIterations = {2, 1, 1};
    config.scalingTasks = 4;
    config.scalingTaskMs = 10;
    config.timeoutMs = 60000;
    return config;
}

bool setRepetitions(const QString &value, Config *config)
{
    bool ok = false;
    config->repetitions = value.toInt(&ok);
    if (ok && config->repetitions >= 1)
        return true;
    std::fprintf(stderr, "--repetitions needs a positive number\n");
    return false;
}

void Results::add(const QString &metric, const QString &system, double value)
{
    m_samples[metric][system].append(value);
}

void Results::note(const QString &system, const QString &text)
{
    const QString line =
        system.isEmpty() ? text : systemTitle(system) + QStringLiteral(": ") + text;
    if (!m_notes.contains(line))
        m_notes.append(line);
}

void Results::fail(const QString &system, const QString &workload, const QString &message)
{
    m_failures.append(QStringLiteral("%1 %2: %3").arg(systemTitle(system), workload, message));
    if (!m_failedSystems.contains(system))
        m_failedSystems.append(system);
}

QList<double> Results::samples(const QString &metric, const QString &system) const
{
    return m_samples.value(metric).value(system);
}

bool Results::has(const QString &metric, const QString &system) const
{
    return !samples(metric, system).isEmpty();
}

double Results::median(const QString &metric, const QString &system) const
{
    return Bench::median(samples(metric, system));
}

QByteArray makePayload(qint64 size, quint32 seed)
{
    QByteArray bytes(size, Qt::Uninitialized);
    char *data = bytes.data();
    quint32 word = seed * 2654435761u + 1;
    qint64 i = 0;
    for (; i + 4 <= size; i += 4) {
        word = word * 1664525u + 1013904223u;
        std::memcpy(data + i, &word, 4);
    }
    for (; i < size; ++i)
        data[i] = char(i ^ seed);
    return bytes;
}

double percentile(QList<double> &values, double p)
{
    if (values.isEmpty())
        return std::numeric_limits<double>::quiet_NaN();
    std::sort(values.begin(), values.end());
    const qsizetype rank = qsizetype(std::ceil(p / 100.0 * double(values.size())));
    return values.at(std::clamp<qsizetype>(rank - 1, 0, values.size() - 1));
}

double median(QList<double> values)
{
    if (values.isEmpty())
        return std::numeric_limits<double>::quiet_NaN();
    std::sort(values.begin(), values.end());
    const qsizetype n = values.size();
    return n % 2 ? values.at(n / 2) : (values.at(n / 2 - 1) + values.at(n / 2)) / 2;
}

void Waiter::done()
{
    m_done = true;
    m_loop.quit();
}

void Waiter::wait(int timeoutMs, const QString &what)
{
    if (m_done)
        return;
    QTimer timer;
    timer.setSingleShot(true);
    QObject::connect(&timer, &QTimer::timeout, &m_loop, &QEventLoop::quit);
    timer.start(timeoutMs);
    while (!m_done && timer.isActive())
        m_loop.exec();
    if (!m_done)
        throw Failure(QStringLiteral("timed out after %1 s: %2").arg(timeoutMs / 1000).arg(what));
}

GapMeter::GapMeter()
{
    m_timer.setTimerType(Qt::PreciseTimer);
    m_timer.setInterval(1);
    connect(&m_timer, &QTimer::timeout, this, &GapMeter::account);
}

void GapMeter::start()
{
    m_maxNs = 0;
    m_sinceTick.start();
    m_timer.start();
}

double GapMeter::stop()
{
    account();
    m_timer.stop();
    return double(m_maxNs) / 1e6;
}

void GapMeter::account()
{
    m_maxNs = std::max(m_maxNs, m_sinceTick.nsecsElapsed());
    m_sinceTick.restart();
}

double elapsedUs(const QElapsedTimer &timer)
{
    return double(timer.nsecsElapsed()) / 1e3;
}

double elapsedMs(const QElapsedTimer &timer)
{
    return double(timer.nsecsElapsed()) / 1e6;
}

} // namespace Bench
