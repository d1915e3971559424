// SPDX-License-Identifier: MIT
// The markdown report: machine, table of medians with ratios to QtProcessPool,
// the targets computed from the same run, notes and failures.
#include "bench.h"

#include <QtCore/QDateTime>
#include <QtCore/QFile>
#include <QtCore/QLocale>
#include <QtCore/QSysInfo>
#include <QtCore/QThread>

#include <cmath>
#include <optional>

#ifndef QPP_BENCH_COMPILER
#define QPP_BENCH_COMPILER "unknown compiler"
#endif
#ifndef QPP_BENCH_BUILD_TYPE
#define QPP_BENCH_BUILD_TYPE ""
#endif

namespace Bench {

namespace {

struct Row
{
    QString metric;
    QString label;
    bool lowerIsBetter;
    QStringList systems; // the systems that measure it
};

QList<Row> rows(const Config &config)
{
    const QString qpp = ProcessPoolSystem, floorA = FloorASystem, floorB = FloorBSystem,
                  qtc = QtConcurrentSystem, mp = PoolSystem, cf = ExecutorSystem;
    const QStringList everyRunner = {qpp, floorA, floorB, qtc, mp, cf};
    const QString tasks = QLocale(QLocale::English).toString(config.throughputTasks);
    const QString largest = sizeLabel(config.payloadSizes.constLast());
    QList<Row> list = {
        {Metric::LatencyP50, QStringLiteral("W1 latency p50, run() (µs)"), true, everyRunner},
        {Metric::LatencyP99, QStringLiteral("W1 latency p99, run() (µs)"), true, everyRunner},
        {Metric::NamedLatencyP50, QStringLiteral("W1 latency p50, runNamed() (µs)"), true, {qpp}},
        {Metric::Throughput, QStringLiteral("W2 %1 × run() (tasks/s)").arg(tasks), false,
         everyRunner},
        {Metric::NamedThroughput,
         QStringLiteral("W2 %1 × runNamed() (tasks/s)").arg(tasks),
         false,
         {qpp}},
        {Metric::MappedThroughput,
         QStringLiteral("W2 mapped() over %1 (items/s)").arg(tasks),
         false,
         {qpp, qtc, mp, cf}},
    };
    for (qint64 size : config.payloadSizes)
        list.append({payloadMetric(size),
                     QStringLiteral("W3 echo %1 (MB/s)").arg(sizeLabel(size)),
                     false,
                     {qpp, floorA, MemcpySystem, floorB, mp, cf}});
    const QString scaling =
        QStringLiteral("%1 × %2 ms").arg(config.scalingTasks).arg(config.scalingTaskMs);
    const QStringList pools = {qpp, qtc, mp, cf};
    list += {
        {Metric::ScalingOne, QStringLiteral("W4 %1, 1 worker (s)").arg(scaling), true, pools},
        {Metric::ScalingTwo, QStringLiteral("W4 %1, 2 workers (s)").arg(scaling), true, pools},
        {Metric::Speedup, QStringLiteral("W4 speedup, 2 workers vs 1"), false, pools},
        {Metric::ColdStart, QStringLiteral("W5 cold start → first result (ms)"), true, everyRunner},
        {Metric::Prestarted,
         QStringLiteral("W5 first result after prestart() (ms)"),
         true,
         {qpp, floorA, floorB}},
        {Metric::SubmitCost, QStringLiteral("W6 caller cost of run() + then() (µs/task)"), true,
         pools},
        {Metric::GapRun,
         QStringLiteral("W6 max 1 ms-timer gap, W2 run() results (ms)"),
         true,
         {qpp, floorB, qtc}},
        {Metric::GapMapped,
         QStringLiteral("W6 max 1 ms-timer gap, W2 mapped() result (ms)"),
         true,
         {qpp, qtc}},
        {Metric::GapPayload,
         QStringLiteral("W6 max 1 ms-timer gap, %1 echo returning (ms)").arg(largest),
         true,
         {qpp, floorB}},
        {Metric::SubmitPayload,
         QStringLiteral("W6 caller cost of submitting %1 (ms)").arg(largest),
         true,
         {qpp, floorB}},
    };
    return list;
}

struct Target
{
    QString metric;      // the row it belongs to
    QString description; // what is required
    QString measured;    // the figure compared
    std::optional<bool> met;
};

QList<Target> targets(const Config &config, const Results &results)
{
    const auto m = [&](const QString &metric, const QString &system) {
        return results.median(metric, system);
    };
    const QString qpp = ProcessPoolSystem;
    QList<Target> list;
    // A target over a ratio of two medians: met when check(value) holds.
    const auto add = [&](const QString &metric, const QString &description, double value,
                         bool isRatio, const std::function<bool(double)> &check) {
        Target target{metric, description, {}, std::nullopt};
        if (!std::isnan(value) && !std::isinf(value)) {
            target.measured = isRatio ? ratio(value) : number(value);
            target.met = check(value);
        } else {
            target.measured = QStringLiteral("no data");
        }
        list.append(target);
    };
    add(Metric::LatencyP50, QStringLiteral("W1 p50 ≥ 10× faster than ProcessPoolExecutor"),
        m(Metric::LatencyP50, ExecutorSystem) / m(Metric::LatencyP50, qpp), true,
        [](double v) { return v >= 10; });
    add(Metric::Throughput, QStringLiteral("W2 run() ≥ QtConcurrent::run tasks/s"),
        m(Metric::Throughput, qpp) / m(Metric::Throughput, QtConcurrentSystem), true,
        [](double v) { return v >= 1; });
    add(Metric::MappedThroughput, QStringLiteral("W2 mapped() ≥ multiprocessing Pool.map"),
        m(Metric::MappedThroughput, qpp) / m(Metric::MappedThroughput, PoolSystem), true,
        [](double v) { return v >= 1; });
    // W3 against what the system can do, warm against warm: floor A with warm
    // buffers (where the scheduler put it, as the pool's processes are) and,
    // from 16 MiB, half the memcpy echo.
    for (qint64 size : config.payloadSizes) {
        const QString payload = payloadMetric(size);
        const QString warm = payload + Metric::Warm;
        add(warm, QStringLiteral("W3 %1 warm ≥ floor A with warm buffers").arg(sizeLabel(size)),
            m(warm, qpp) / m(warm, FloorASystem), true, [](double v) { return v >= 1; });
        if (size >= 16 << 20)
            add(warm, QStringLiteral("W3 %1 warm ≥ ½ memcpy echo").arg(sizeLabel(size)),
                m(warm, qpp) / m(payload, MemcpySystem), true, [](double v) { return v >= 0.5; });
    }
    add(Metric::Speedup, QStringLiteral("W4 speedup ≥ 1.9"), m(Metric::Speedup, qpp), false,
        [](double v) { return v >= 1.9; });
    add(Metric::ColdStart, QStringLiteral("W5 first result within 2× of floor B's start"),
        m(Metric::ColdStart, qpp) / m(Metric::ColdStart, FloorBSystem), true,
        [](double v) { return v <= 2; });
    add(Metric::Prestarted,
        QStringLiteral("W5 after prestart(): ≤ 0.5 ms more than the W1 p50 (extra, ms)"),
        m(Metric::Prestarted, qpp) - m(Metric::LatencyP50, qpp) / 1e3, false,
        [](double v) { return v <= 0.5; });
    add(Metric::SubmitCost, QStringLiteral("W6 run() costs the caller less than QtConcurrent::run"),
        m(Metric::SubmitCost, qpp) / m(Metric::SubmitCost, QtConcurrentSystem), true,
        [](double v) { return v < 1; });
    for (const QString &metric : {Metric::GapRun, Metric::GapMapped, Metric::GapPayload}) {
        add(metric, QStringLiteral("W6 GUI thread never stalls > 16 ms (ms)"), m(metric, qpp),
            false, [](double v) { return v <= 16; });
    }
    return list;
}

/// "value (ratio to QtProcessPool's)", as in the main table; empty without data.
QString cell(const Results &results, const QString &metric, const QString &system, double reference)
{
    if (!results.has(metric, system))
        return {};
    const double value = results.median(metric, system);
    if (std::isnan(reference) || reference == 0)
        return number(value);
    return QStringLiteral("%1 (%2)").arg(number(value), ratio(value / reference));
}

/// Floor A where its processes ran and with which buffers, next to
/// QtProcessPool and the memcpy echo.
QString floorATable(const Config &config, const Results &results)
{
    struct DetailRow
    {
        QString label;
        QString metric;    // floor A's, without a placement suffix
        QString reference; // QtProcessPool's
        QString memcpy;    // the memcpy echo's (warm echoes only)
    };
    QList<DetailRow> rows = {
        {QStringLiteral("W1 latency p50 (µs) ↓"), Metric::LatencyP50, Metric::LatencyP50, {}},
        {QStringLiteral("W1 latency p99 (µs) ↓"), Metric::LatencyP99, Metric::LatencyP99, {}},
    };
    for (qint64 size : config.payloadSizes) {
        const QString payload = payloadMetric(size);
        const QString label =
            QStringLiteral("W3 echo %1, %2 buffers (MB/s) ↑").arg(sizeLabel(size));
        rows.append({label.arg(QStringLiteral("fresh")), payload, payload, {}});
        rows.append({label.arg(QStringLiteral("warm")), payload + Metric::Warm,
                     payload + Metric::Warm, payload});
    }
    const QStringList suffixes = {QString(), Metric::OneCore, Metric::AcrossCores};
    QString out = QStringLiteral("| Floor A | QtProcessPool | floor A, scheduler's choice | "
                                 "floor A, one core | floor A, across cores | memcpy echo |\n"
                                 "|---|---:|---:|---:|---:|---:|\n");
    for (const DetailRow &row : std::as_const(rows)) {
        const double reference = results.median(row.reference, ProcessPoolSystem);
        QString text = QStringLiteral("| %1 | ").arg(row.label);
        if (!std::isnan(reference))
            text += QStringLiteral("**%1**").arg(number(reference));
        for (const QString &suffix : suffixes)
            text +=
                QStringLiteral(" | ") + cell(results, row.metric + suffix, FloorASystem, reference);
        text +=
            QStringLiteral(" | ") +
            (row.memcpy.isEmpty() ? QString() : cell(results, row.memcpy, MemcpySystem, reference));
        out += text + QStringLiteral(" |\n");
    }
    return out;
}

/// Floor A in detail, and where the system calls and context switches are.
QString floorASection(const Config &config, const Results &results)
{
    if (!results.has(Metric::LatencyP50 + Metric::OneCore, FloorASystem) &&
        !results.has(payloadMetric(config.payloadSizes.constFirst()) + Metric::Warm, FloorASystem))
        return {};
    return QStringLiteral(
               "## Floor A: one core, across cores, warm buffers\n\n"
               "Floor A's W1 and W3 with its two processes where the scheduler put them (the main "
               "table's column; the pool's processes are not pinned either), both pinned to one "
               "core, and pinned to two (`sched_setaffinity` on the parent's thread and the "
               "spawned child). **Fresh** buffers: every reply is read into a new allocation, "
               "which the kernel faults in (as in the main table); **warm**: into one buffer "
               "faulted in beforehand and reused, after one untimed echo that warms the child's "
               "buffer too. The **memcpy echo** copies the payload there and back (two "
               "`memcpy`s into preallocated, pre-faulted buffers): the most a copy of it each "
               "way can reach. QtProcessPool's **fresh** figure is the main table's (the first "
               "echoes of each size through its arenas); its **warm** one the same number of "
               "echoes again, after one untimed echo more. The targets, warm against warm: W3 "
               "at least floor A with warm buffers, and from 16 MiB at least half the memcpy "
               "echo. (n×) is the value divided by QtProcessPool's (bold).\n\n") +
           floorATable(config, results) + u'\n';
}

QString mark(const Target &target)
{
    if (!target.met)
        return QStringLiteral("–");
    return *target.met ? QStringLiteral("✅") : QStringLiteral("❌");
}

} // namespace

QString number(double value)
{
    if (std::isnan(value))
        return {};
    const double magnitude = std::abs(value);
    const int decimals = magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : magnitude >= 1 ? 2 : 3;
    return QLocale(QLocale::English).toString(value, 'f', decimals);
}

QString ratio(double value)
{
    if (std::isnan(value) || std::isinf(value))
        return QStringLiteral("–");
    const int decimals = value >= 100 ? 0 : value >= 10 ? 1 : 2;
    return QLocale(QLocale::English).toString(value, 'f', decimals) + QStringLiteral("×");
}

QString cpuModel()
{
    QFile file(QStringLiteral("/proc/cpuinfo"));
    if (file.open(QIODevice::ReadOnly | QIODevice::Text)) {
        for (const QByteArray &line : file.readAll().split('\n')) {
            if (line.startsWith("model name")) {
                const qsizetype colon = line.indexOf(':');
                return QString::fromUtf8(line.mid(colon + 1).trimmed());
            }
        }
    }
    return QSysInfo::currentCpuArchitecture();
}

QString loadAverage()
{
    QFile file(QStringLiteral("/proc/loadavg"));
    if (!file.open(QIODevice::ReadOnly | QIODevice::Text))
        return QStringLiteral("unknown");
    const QList<QByteArray> fields = file.readAll().split(' ');
    return fields.size() >= 3 ? QString::fromLatin1(fields.mid(0, 3).join(' '))
                              : QStringLiteral("unknown");
}

QString report(const Config &config, const Results &results, const RunInfo &info)
{
    QString out;
    const auto line = [&out](const QString &text = {}) { out += text + u'\n'; };
    const QString buildType = QStringLiteral(QPP_BENCH_BUILD_TYPE);

    line(QStringLiteral("# QtProcessPool benchmark"));
    line();
    line(QStringLiteral("- Date: %1").arg(QDateTime::currentDateTime().toString(Qt::ISODate)));
    line(QStringLiteral("- CPU: %1, %2 cores (QThread::idealThreadCount)")
             .arg(cpuModel())
             .arg(QThread::idealThreadCount()));
    line(
        QStringLiteral("- Kernel: %1 %2; OS: %3")
            .arg(QSysInfo::kernelType(), QSysInfo::kernelVersion(), QSysInfo::prettyProductName()));
    line(QStringLiteral("- Qt: %1 (built against %2); compiler: %3; build type: %4")
             .arg(QString::fromLatin1(qVersion()), QStringLiteral(QT_VERSION_STR),
                  QStringLiteral(QPP_BENCH_COMPILER),
                  buildType.isEmpty() ? QStringLiteral("(none)") : buildType));
    line(QStringLiteral("- Python: %1")
             .arg(info.pythonVersion.isEmpty() ? QStringLiteral("not run") : info.pythonVersion));
    line(QStringLiteral("- Load average (1, 5, 15 min): %1 at the start, %2 at the end")
             .arg(info.loadAtStart, loadAverage()));
    line(QStringLiteral("- Run: %1, %2 repetition(s), systems interleaved; medians over "
                        "repetitions")
             .arg(config.quick ? QStringLiteral("**--quick smoke mode** (tiny workloads, not "
                                                "comparable to a full run)")
                               : QStringLiteral("full"))
             .arg(config.repetitions));
    line();

    const QStringList systems = allSystems();
    QString header = QStringLiteral("| Metric |");
    QString rule = QStringLiteral("|---|");
    for (const QString &system : systems) {
        header += u' ' + systemTitle(system) + QStringLiteral(" |");
        rule += QStringLiteral("---:|");
    }
    line(header + QStringLiteral(" Target |"));
    line(rule + QStringLiteral("---|"));

    const QList<Target> allTargets = targets(config, results);
    for (const Row &row : rows(config)) {
        bool any = false;
        for (const QString &system : systems)
            any = any || results.has(row.metric, system);
        if (!any)
            continue;
        const double reference = results.median(row.metric, ProcessPoolSystem);
        QString text =
            QStringLiteral("| %1 %2 |")
                .arg(row.label, row.lowerIsBetter ? QStringLiteral("↓") : QStringLiteral("↑"));
        for (const QString &system : systems) {
            QString cell;
            if (results.has(row.metric, system)) {
                const double value = results.median(row.metric, system);
                cell = number(value);
                if (system != ProcessPoolSystem && !std::isnan(reference) && reference != 0)
                    cell += QStringLiteral(" (%1)").arg(ratio(value / reference));
                if (system == ProcessPoolSystem)
                    cell = QStringLiteral("**%1**").arg(cell);
            } else if (results.failed(system) && row.systems.contains(system)) {
                cell = QStringLiteral("error");
            }
            text += u' ' + cell + QStringLiteral(" |");
        }
        QStringList targetTexts;
        for (const Target &target : allTargets) {
            if (target.metric == row.metric)
                targetTexts.append(QStringLiteral("%1 %2: %3")
                                       .arg(mark(target), target.description, target.measured));
        }
        line(text + u' ' + targetTexts.join(QStringLiteral("<br>")) + QStringLiteral(" |"));
    }
    line();
    line(QStringLiteral("↓ lower is better, ↑ higher is better. Each cell is the median; "
                        "(n×) is that system's value divided by QtProcessPool's (bold)."));
    line();

    line(QStringLiteral("## Targets"));
    line();
    int missed = 0;
    for (const Target &target : allTargets) {
        line(QStringLiteral("- %1 %2: %3").arg(mark(target), target.description, target.measured));
        if (target.met && !*target.met)
            ++missed;
    }
    line();
    line(QStringLiteral("%1 of %2 targets missed.").arg(missed).arg(allTargets.size()));
    line();

    out += floorASection(config, results);
    line(QStringLiteral("## What each system does"));
    line();
    line(QStringLiteral(
        "- **QtProcessPool**: 2 worker processes (this executable), prestarted and warmed up "
        "except in W5; results through `future.then(&context, ...)` on the main thread."));
    line(QStringLiteral(
        "- **floor A**: a child (this executable, started with `posix_spawn`) on a `socketpair`, "
        "blocking POSIX `read`/`write`, 8-byte headers; W2 keeps 64 requests in flight per child "
        "on 2 children (`poll`). In the main table its processes run where the scheduler puts "
        "them and every W3 reply lands in fresh memory; the section above pins them and reuses "
        "warm buffers. **memcpy echo**: the payload copied there and back in warm memory."));
    line(QStringLiteral(
        "- **floor B** (a reference, not a target): a child started with `QProcess` connecting "
        "to a `QLocalServer` in the main thread's event loop, frames of a quint32 length and a "
        "`QDataStream` body; W2 keeps 64 requests in flight per child on 2 children."));
    line(QStringLiteral(
        "- System calls and context switches per W1 round trip (targets: at most 10 and 3, "
        "over all processes) are counted by `qtprocesspool-cpucost`, which `bench/run` runs "
        "after the benchmark and appends below."));
    line(QStringLiteral(
        "- **QtConcurrent**: `QtConcurrent::run(...).then(&context, ...)` and "
        "`QtConcurrent::mapped` on threads (global pool; W4 and W5 on a `QThreadPool` of 1 or 2 "
        "threads); W3 does not apply (in-process, nothing is copied)."));
    line(QStringLiteral(
        "- **mp.Pool** (`multiprocessing.Pool(2)`: `apply_async`, `map` with its default "
        "chunksize) and **ProcessPoolExecutor** (2 workers: `submit`, `map` with the same "
        "chunksize), Python stdlib, default start method; W1 waits on each result, W2 submits "
        "everything then collects."));
    line(QStringLiteral(
             "- W1: one `increment` at a time, %1 round trips. W2: %2 independent tasks (W6 "
             "measures the submit loop and, after it, a 1 ms `QTimer` on the main thread while the "
             "results come back). W3: echo of %3 per repetition, MB/s = 10^6 bytes sent + returned "
             "per "
             "second. W4: CPU-bound tasks calibrated to %4 ms. W5: from constructing the pool "
             "(floor A: `posix_spawn`; floor B: listen + `QProcess` start) to the first result.")
             .arg(QLocale(QLocale::English).toString(config.latencyRoundTrips),
                  QLocale(QLocale::English).toString(config.throughputTasks))
             .arg([&] {
                 QStringList sizes;
                 for (int i = 0; i < config.payloadSizes.size(); ++i)
                     sizes.append(QStringLiteral("%1 (×%2)")
                                      .arg(sizeLabel(config.payloadSizes.at(i)))
                                      .arg(config.payloadIterations.at(i)));
                 return sizes.join(QStringLiteral(", "));
             }())
             .arg(config.scalingTaskMs));
    line();

    QStringList notes = results.notes();
    const double controlSpeedup = results.median(Metric::Speedup, QtConcurrentSystem);
    if (controlSpeedup < 1.9) {
        notes.append(
            QStringLiteral("W4: QtConcurrent, the same CPU-bound tasks on 2 threads in-process, "
                           "reached only %1 speedup: the machine did not offer two free cores "
                           "throughout (shared host), so W4 is not conclusive in this run.")
                .arg(ratio(controlSpeedup)));
    }
    if (!notes.isEmpty()) {
        line(QStringLiteral("## Notes"));
        line();
        for (const QString &note : std::as_const(notes))
            line(QStringLiteral("- ") + note);
        line();
    }
    if (!results.failures().isEmpty()) {
        line(QStringLiteral("## Failures"));
        line();
        for (const QString &failure : results.failures())
            line(QStringLiteral("- ") + failure);
        line();
    }
    return out;
}

} // namespace Bench
