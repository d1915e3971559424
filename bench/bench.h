// SPDX-License-Identifier: MIT
// Shared by the benchmark driver and its systems: configuration, results,
// the benchmark tasks and small measuring helpers.
#ifndef QTPROCESSPOOL_BENCH_H
#define QTPROCESSPOOL_BENCH_H

#include <QtCore/QByteArray>
#include <QtCore/QElapsedTimer>
#include <QtCore/QEventLoop>
#include <QtCore/QFuture>
#include <QtCore/QList>
#include <QtCore/QMap>
#include <QtCore/QObject>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QTimer>

#include <stdexcept>

namespace Bench {

// Systems (table columns), in the order they run within a repetition.
inline const QString ProcessPoolSystem = QStringLiteral("qpp");
inline const QString FloorASystem = QStringLiteral("floorA");
inline const QString MemcpySystem = QStringLiteral("memcpy");
inline const QString FloorBSystem = QStringLiteral("floorB");
inline const QString QtConcurrentSystem = QStringLiteral("qtc");
inline const QString PoolSystem = QStringLiteral("mp");
inline const QString ExecutorSystem = QStringLiteral("cf");

QStringList allSystems();
QString systemTitle(const QString &system);

enum class Workload { Latency, Throughput, Payload, Scaling, ColdStart };
QList<Workload> allWorkloads();
QString workloadId(Workload workload); // "w1" ... "w5"

// Metric ids (table rows). Payload rows are "w3.<MiB or KiB label>", see payloadMetric().
namespace Metric {
inline const QString LatencyP50 = QStringLiteral("w1.p50");
inline const QString LatencyP99 = QStringLiteral("w1.p99");
inline const QString NamedLatencyP50 = QStringLiteral("w1.named.p50");
inline const QString Throughput = QStringLiteral("w2.run");
inline const QString NamedThroughput = QStringLiteral("w2.named");
inline const QString MappedThroughput = QStringLiteral("w2.mapped");
inline const QString ScalingOne = QStringLiteral("w4.t1");
inline const QString ScalingTwo = QStringLiteral("w4.t2");
inline const QString Speedup = QStringLiteral("w4.speedup");
inline const QString ColdStart = QStringLiteral("w5.cold");
inline const QString Prestarted = QStringLiteral("w5.warm");
inline const QString SubmitCost = QStringLiteral("w6.submit");
inline const QString GapRun = QStringLiteral("w6.gap.run");
inline const QString GapMapped = QStringLiteral("w6.gap.mapped");
inline const QString GapPayload = QStringLiteral("w6.gap.payload");
inline const QString SubmitPayload = QStringLiteral("w6.submit.payload");
// Floor A's variants: a W1 or W3 metric with where its two processes ran
// (no suffix: wherever the scheduler put them) and, for W3, "warm" buffers
// (without it: every reply in fresh memory), e.g. "w3.1048576.warm@across".
inline const QString OneCore = QStringLiteral("@one");
inline const QString AcrossCores = QStringLiteral("@across");
inline const QString Warm = QStringLiteral(".warm");
} // namespace Metric

QString sizeLabel(qint64 bytes); // "64 MiB", "64 KiB"
QString payloadMetric(qint64 bytes);

struct Config
{
    bool quick = false;
    int repetitions = 5;
    int latencyRoundTrips = 10000;
    int throughputTasks = 100000;
    // ProcessPoolExecutor.submit() is slow; it runs fewer tasks (the rate is reported).
    int executorThroughputTasks = 20000;
    QList<qint64> payloadSizes;   // bytes; the last one is the W6 payload
    QList<int> payloadIterations; // echoes per size and repetition
    int scalingTasks = 16;
    int scalingTaskMs = 80;
    qint64 burnIterations = 0; // calibrated to scalingTaskMs
    quint64 burnExpected = 0;  // burn(burnIterations)
    int timeoutMs = 120000;    // bound of any single wait
    QString pythonProgram;     // empty: Python systems are skipped
    QString peersScript;

    static Config full();
    static Config smoke();
};

/// Sets config->repetitions from a --repetitions value; false, saying why on
/// stderr, unless it is a positive number.
bool setRepetitions(const QString &value, Config *config);

/// Raised by a system whose measurement failed (wrong result, error, timeout).
class Failure : public std::runtime_error
{
public:
    explicit Failure(const QString &message)
        : std::runtime_error(message.toStdString())
    {
    }
};

/// Samples per metric and system (one per repetition), notes and failures.
class Results
{
public:
    void add(const QString &metric, const QString &system, double value);
    void note(const QString &system, const QString &text);
    void fail(const QString &system, const QString &workload, const QString &message);

    QList<double> samples(const QString &metric, const QString &system) const;
    bool has(const QString &metric, const QString &system) const;
    /// The median over repetitions; NaN without samples.
    double median(const QString &metric, const QString &system) const;
    QStringList notes() const { return m_notes; }
    QStringList failures() const { return m_failures; }
    bool failed(const QString &system) const { return m_failedSystems.contains(system); }

private:
    QMap<QString, QMap<QString, QList<double>>> m_samples;
    QStringList m_notes;
    QStringList m_failures;
    QStringList m_failedSystems;
};

// The benchmark tasks, registered with the pool (common.cpp) and also run by
// the in-process systems.
int increment(int value);
QByteArray echo(const QByteArray &bytes);
quint64 burn(qint64 iterations);

/// Deterministic, position-dependent bytes (so an echo that loses or reorders
/// data is caught).
QByteArray makePayload(qint64 size, quint32 seed);
/// The p-th percentile (0..100) by nearest rank; values is sorted in place.
double percentile(QList<double> &values, double p);
double median(QList<double> values);

/// Runs the calling thread's event loop until done() or a timeout.
class Waiter
{
public:
    void done();
    bool isDone() const { return m_done; }
    /// Throws Failure(what) on timeout.
    void wait(int timeoutMs, const QString &what);

private:
    QEventLoop m_loop;
    bool m_done = false;
};

/// The largest gap between ticks of a 1 ms timer on the calling thread: how
/// long a GUI thread would have been unable to repaint.
class GapMeter : public QObject
{
public:
    GapMeter();
    void start();
    /// Stops and returns the largest gap in milliseconds, including the time
    /// since the last tick.
    double stop();

private:
    void account();

    QTimer m_timer;
    QElapsedTimer m_sinceTick;
    qint64 m_maxNs = 0;
};

double elapsedUs(const QElapsedTimer &timer);
double elapsedMs(const QElapsedTimer &timer);

// The systems. Each records its metrics for one repetition of one workload
// (nothing where the workload does not apply) and throws Failure on error.
void benchProcessPool(Workload workload, const Config &config, Results &results);
void benchQtConcurrent(Workload workload, const Config &config, Results &results);
void benchFloorA(Workload workload, const Config &config, Results &results);
void benchMemcpy(Workload workload, const Config &config, Results &results);
void benchFloorB(Workload workload, const Config &config, Results &results);

// Child modes of this executable, for the floors.
inline constexpr char FloorAChildFlag[] = "--floor-a-child";
inline constexpr char FloorBChildFlag[] = "--floor-b-child";
int floorAChildMain(int fd);
int floorBChildMain(int argc, char **argv);

/// About the run, for the report.
struct RunInfo
{
    QString pythonVersion; // empty when Python did not run
    QString loadAtStart;   // /proc/loadavg
};

/// "1.02 0.87 0.55": the load averages now (Linux), else "unknown".
QString loadAverage();
/// The CPU's model name (/proc/cpuinfo), else its architecture.
QString cpuModel();
/// A figure for a table: 0 to 3 decimals by magnitude; empty for NaN.
QString number(double value);
/// "1.23×"; "–" for NaN and infinity.
QString ratio(double value);

/// The markdown report: machine info, the table with ratios and targets, notes.
QString report(const Config &config, const Results &results, const RunInfo &info);

} // namespace Bench

#endif
