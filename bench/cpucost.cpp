// SPDX-License-Identifier: MIT
// qtprocesspool-cpucost: where the CPU time of a task goes. Runs the W1 and
// W2 shapes of the benchmark (one task at a time; 100,000 at once) on a pool
// of 2 workers and prints, per task, the CPU time of each thread involved:
// the caller's thread, the pool's I/O thread, and each worker's threads
// (from /proc/<pid>/task/<tid>/schedstat, in nanoseconds). Unlike wall-clock
// figures, these hardly move when the machine is shared, so they show what a
// change to the hot path saves.
//
// The W1 shape also counts, over all processes (this one and the workers,
// every thread), the context switches (/proc/<pid>/task/*/status) and the
// system calls (perf stat -e raw_syscalls:sys_enter, see syscallcount.h) per
// round trip, and does the same for floor A's round trip (floor_a.cpp).
#include "floors.h"
#include "syscallcount.h"

#include <QtProcessPool/ProcessPool>

#include <QtConcurrent/QtConcurrentRun>
#include <QtCore/QCoreApplication>
#include <QtCore/QDir>
#include <QtCore/QElapsedTimer>
#include <QtCore/QEventLoop>
#include <QtCore/QFile>
#include <QtCore/QMap>
#include <QtCore/QTextStream>
#include <QtCore/QTimer>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

int increment(int x)
{
    return x + 1;
}

struct ThreadCost
{
    qint64 ns = 0;       // on CPU
    qint64 switches = 0; // context switches, voluntary or not: sleeps and wake-ups
};

/// What every thread of a process has cost so far, by thread name.
QMap<QString, ThreadCost> threadTimes(qint64 pid)
{
    QMap<QString, ThreadCost> times;
    const QString base = QStringLiteral("/proc/%1/task").arg(pid);
    for (const QString &tid : QDir(base).entryList(QDir::Dirs | QDir::NoDotAndDotDot)) {
        QFile comm(base + QLatin1Char('/') + tid + QStringLiteral("/comm"));
        QFile stat(base + QLatin1Char('/') + tid + QStringLiteral("/schedstat"));
        QFile status(base + QLatin1Char('/') + tid + QStringLiteral("/status"));
        if (!comm.open(QIODevice::ReadOnly) || !stat.open(QIODevice::ReadOnly) ||
            !status.open(QIODevice::ReadOnly)) {
            continue;
        }
        ThreadCost &cost = times[QString::fromUtf8(comm.readAll().trimmed())];
        cost.ns += stat.readAll().split(' ').value(0).toLongLong();
        for (const QByteArray &line : status.readAll().split('\n')) {
            if (line.contains("ctxt_switches:"))
                cost.switches += line.mid(line.indexOf(':') + 1).trimmed().toLongLong();
        }
    }
    return times;
}

/// Minor page faults of a process so far (/proc/<pid>/stat, field 10).
qint64 pageFaults(qint64 pid)
{
    QFile stat(QStringLiteral("/proc/%1/stat").arg(pid));
    if (!stat.open(QIODevice::ReadOnly))
        return 0;
    const QByteArray line = stat.readAll();
    // After the ")" closing the command name: state is field 3, minflt field 10.
    const QList<QByteArray> fields = line.mid(line.lastIndexOf(')') + 2).split(' ');
    return fields.value(7).toLongLong();
}

struct Snapshot
{
    qint64 ownFaults = 0;
    qint64 workerFaults = 0;
    QMap<QString, ThreadCost> times; // "this process: <thread>", "workers: <thread>" (summed)
};

Snapshot snapshot(const QtProcessPool::ProcessPool &pool)
{
    Snapshot s;
    const auto own = threadTimes(QCoreApplication::applicationPid());
    for (auto it = own.begin(); it != own.end(); ++it)
        s.times[QStringLiteral("this process: ") + it.key()] = it.value();
    s.ownFaults = pageFaults(QCoreApplication::applicationPid());
    for (const auto &info : pool.statistics().workerInfo) {
        s.workerFaults += pageFaults(info.pid);
        const auto times = threadTimes(info.pid);
        for (auto it = times.begin(); it != times.end(); ++it) {
            ThreadCost &cost = s.times[QStringLiteral("workers: ") + it.key()];
            cost.ns += it.value().ns;
            cost.switches += it.value().switches;
        }
    }
    return s;
}

void report(const char *title, const Snapshot &before, const Snapshot &after, int tasks,
            double wallMs)
{
    QTextStream out(stdout);
    out << "\n"
        << title << ": " << tasks << " tasks in " << wallMs << " ms ("
        << qRound64(tasks / (wallMs / 1e3)) << "/s)\n";
    qint64 total = 0;
    qint64 totalSwitches = 0;
    for (auto it = after.times.begin(); it != after.times.end(); ++it) {
        const qint64 ns = it.value().ns - before.times.value(it.key()).ns;
        const qint64 switches = it.value().switches - before.times.value(it.key()).switches;
        if (ns < 1000000)
            continue; // threads that did (next to) nothing
        total += ns;
        totalSwitches += switches;
        out << QStringLiteral("  %1 %2 µs/task %3 switches/task\n")
                   .arg(it.key(), -36)
                   .arg(double(ns) / tasks / 1e3, 7, 'f', 2)
                   .arg(double(switches) / tasks, 6, 'f', 2);
    }
    out << QStringLiteral("  page faults per task: %1 in this process, %2 in the workers\n")
               .arg(double(after.ownFaults - before.ownFaults) / tasks, 0, 'f', 3)
               .arg(double(after.workerFaults - before.workerFaults) / tasks, 0, 'f', 3);
    out << QStringLiteral("  %1 %2 µs/task %3 switches/task\n")
               .arg(QStringLiteral("total"), -36)
               .arg(double(total) / tasks / 1e3, 7, 'f', 2)
               .arg(double(totalSwitches) / tasks, 6, 'f', 2);
}

void waitFor(const std::function<bool()> &done)
{
    while (!done())
        QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents);
}

/// Context switches so far, voluntary or not, of every thread of pids.
qint64 contextSwitches(const QList<qint64> &pids)
{
    qint64 switches = 0;
    for (qint64 pid : pids) {
        for (const ThreadCost &cost : threadTimes(pid))
            switches += cost.switches;
    }
    return switches;
}

struct PerRoundTrip
{
    double switches = 0;
    double syscalls = -1; // -1: not counted
    QString why;          // why not
};

/// Runs round trips (run()) and counts what all threads of pids did meanwhile.
PerRoundTrip countPerRoundTrip(const QList<qint64> &pids, int roundTrips,
                               const std::function<void()> &run)
{
    Bench::SyscallCounter syscalls(pids); // perf attached before the count starts
    const qint64 switchesBefore = contextSwitches(pids);
    const bool counting = syscalls.start();
    run();
    const bool stopped = counting && syscalls.stop();
    const qint64 switches = contextSwitches(pids) - switchesBefore; // before perf ends
    const qint64 calls = stopped ? syscalls.count() : -1;
    PerRoundTrip result;
    result.switches = double(switches) / roundTrips;
    result.syscalls = calls < 0 ? -1 : double(calls) / roundTrips;
    result.why = syscalls.error();
    return result;
}

void printPerRoundTrip(const PerRoundTrip &counts, bool withTargets)
{
    QTextStream out(stdout);
    out << "  per round trip, all processes and threads: ";
    if (counts.syscalls < 0)
        out << "system calls not counted (" << counts.why << ")";
    else
        out << QString::number(counts.syscalls, 'f', 2) << " system calls"
            << (withTargets ? " (target <= 10)" : "");
    out << ", " << QString::number(counts.switches, 'f', 2) << " context switches"
        << (withTargets ? " (target <= 3)" : "") << "\n";
}

/// Floor A's W1 as qtprocesspool-bench runs it (a socketpair to a child,
/// blocking read/write), under the same counters.
void floorARoundTrips(int roundTrips)
{
    Bench::FloorAChild child(QCoreApplication::applicationFilePath());
    child.expectHello();
    qint32 value = 0;
    const auto roundTrip = [&] {
        child.sendIncrement(value);
        const Bench::Frame frame = child.receive();
        qint32 answer = 0;
        if (frame.body.size() == sizeof answer)
            std::memcpy(&answer, frame.body.constData(), sizeof answer);
        if (frame.op != Bench::Increment || answer != value + 1)
            qFatal("floor A: wrong reply");
        ++value;
    };
    for (int i = 0; i < 2000; ++i) // warm up, as the pool is
        roundTrip();
    QElapsedTimer wall;
    wall.start();
    const PerRoundTrip counts =
        countPerRoundTrip({QCoreApplication::applicationPid(), child.pid()}, roundTrips, [&] {
            for (int i = 0; i < roundTrips; ++i)
                roundTrip();
        });
    QTextStream(stdout) << "\nfloor A W1 shape: " << roundTrips << " round trips in "
                        << wall.nsecsElapsed() / 1e6 << " ms\n";
    printPerRoundTrip(counts, false);
}

/// The W1 shape: one run() at a time, the next from the previous continuation.
void poolRoundTrips(QtProcessPool::ProcessPool &pool, int roundTrips)
{
    QObject context;
    QList<qint64> pids = {QCoreApplication::applicationPid()};
    for (const auto &info : pool.statistics().workerInfo)
        pids.append(info.pid);
    int done = 0;
    const Snapshot before = snapshot(pool);
    QElapsedTimer wall;
    wall.start();
    const PerRoundTrip counts = countPerRoundTrip(pids, roundTrips, [&] {
        std::function<void()> next = [&] {
            pool.run(increment, done).then(&context, [&](int) {
                if (++done < roundTrips)
                    next();
            });
        };
        next();
        waitFor([&] { return done == roundTrips; });
    });
    report("W1 shape: one run() at a time", before, snapshot(pool), roundTrips,
           wall.nsecsElapsed() / 1e6);
    printPerRoundTrip(counts, true);
}

} // namespace

QPP_REGISTER_TASK(increment)

int main(int argc, char **argv)
{
    if (QtProcessPool::isWorkerProcess(argc, argv))
        return QtProcessPool::execWorker(argc, argv);
    if (argc == 3 && std::strcmp(argv[1], Bench::FloorAChildFlag) == 0)
        return Bench::floorAChildMain(std::atoi(argv[2]));
    QCoreApplication app(argc, argv);
    const int throughputTasks = argc > 1 ? QString::fromLocal8Bit(argv[1]).toInt() : 100000;
    // An optional second argument picks shapes, comma-separated: w1, w2,
    // qtc or qtc-first (W2's caller code on QtConcurrent::run), map; or w5.
    const QList<QByteArray> only = argc > 2 ? QByteArray(argv[2]).split(',') : QList<QByteArray>();
    const auto wanted = [&](const char *shape) { return only.isEmpty() || only.contains(shape); };
    const int roundTrips = wanted("w1") ? std::max(2000, throughputTasks / 10) : 0;
    const int burst = throughputTasks;

    if (only.contains("w5")) {
        // The first round trips after prestart(): what a fresh worker costs
        // (this process's side warmed up by another pool first).
        {
            QtProcessPool::ProcessPool warm;
            for (int i = 0; i < 100; ++i)
                warm.run(increment, i).waitForFinished();
        }
        QtProcessPool::ProcessPool fresh;
        QEventLoop started;
        QObject::connect(&fresh, &QtProcessPool::ProcessPool::workerStarted, &started,
                         &QEventLoop::quit);
        fresh.prestart();
        started.exec();
        QTextStream out(stdout);
        for (int i = 0; i < 5; ++i) {
            QElapsedTimer wall;
            wall.start();
            fresh.run(increment, i).waitForFinished();
            out << "round trip " << i + 1 << " after prestart(): " << wall.nsecsElapsed() / 1000
                << " µs\n";
        }
        return 0;
    }

    if (roundTrips > 0) // before the pool exists: its threads stay out of the count
        floorARoundTrips(roundTrips);
    QtProcessPool::ProcessPool pool;
    pool.setMaxWorkers(2);
    pool.setMinWorkers(2);
    pool.prestart();
    for (int i = 0; i < 2000; ++i) // warm up: both workers started and paged in
        pool.run(increment, i).waitForFinished();

    QObject context;
    if (roundTrips > 0)
        poolRoundTrips(pool, roundTrips);
    // The same caller code with threads, for comparison ("qtc"; "qtc-first"
    // runs it before W2, to see what it leaves behind in this process).
    const bool qtcFirst = only.contains("qtc-first");
    const auto runQtc = [&] {
        int done = 0;
        const Snapshot before = snapshot(pool);
        QElapsedTimer wall;
        wall.start();
        for (int i = 0; i < burst; ++i)
            QtConcurrent::run(increment, i).then(&context, [&](int) { ++done; });
        waitFor([&] { return done == burst; });
        report("W2 shape with QtConcurrent::run", before, snapshot(pool), burst,
               wall.nsecsElapsed() / 1e6);
    };
    if (qtcFirst)
        runQtc();
    if (wanted("w2")) {
        int done = 0;
        const Snapshot before = snapshot(pool);
        QElapsedTimer wall;
        wall.start();
        for (int i = 0; i < burst; ++i)
            pool.run(increment, i).then(&context, [&](int) { ++done; });
        // The largest gap between ticks of a 1 ms timer while results come
        // back, and how many continuations ran during it.
        QElapsedTimer sinceTick;
        sinceTick.start();
        qint64 maxGapNs = 0;
        qint64 gapEndNs = 0; // CLOCK_MONOTONIC, to find the gap in a trace
        int doneBeforeGap = 0;
        int doneInGap = 0;
        int doneAtTick = done;
        QTimer tick;
        tick.setTimerType(Qt::PreciseTimer);
        QObject::connect(&tick, &QTimer::timeout, [&] {
            const qint64 gap = sinceTick.nsecsElapsed();
            if (gap > maxGapNs) {
                maxGapNs = gap;
                gapEndNs = QElapsedTimer::clockType() == QElapsedTimer::MonotonicClock
                               ? sinceTick.msecsSinceReference() * 1000000 + gap
                               : 0;
                doneBeforeGap = doneAtTick;
                doneInGap = done - doneAtTick;
            }
            sinceTick.restart();
            doneAtTick = done;
        });
        tick.start(1);
        waitFor([&] { return done == burst; });
        tick.stop();
        report("W2 shape: run() all at once", before, snapshot(pool), burst,
               wall.nsecsElapsed() / 1e6);
        QTextStream(stdout) << QStringLiteral("  largest gap of a 1 ms timer: %1 ms, after %2 "
                                              "results, %3 continuations ran in it (ended at "
                                              "%4 s, CLOCK_MONOTONIC)\n")
                                   .arg(maxGapNs / 1e6, 0, 'f', 2)
                                   .arg(doneBeforeGap)
                                   .arg(doneInGap)
                                   .arg(gapEndNs / 1e9, 0, 'f', 6);
    }
    if (!only.isEmpty() && only.contains("map")) {
        // W2's mapped(): 100,000 items, 20 times.
        QList<int> items(throughputTasks);
        for (int i = 0; i < items.size(); ++i)
            items[i] = i;
        const Snapshot before = snapshot(pool);
        QElapsedTimer wall;
        wall.start();
        for (int round = 0; round < 20; ++round) {
            QFuture<int> all = pool.mapped(increment, items);
            all.waitForFinished();
            if (all.resultCount() != items.size() || all.resultAt(items.size() - 1) != items.size())
                qFatal("mapped() gave wrong results");
        }
        report("W2 shape: mapped() over all items, 20 times", before, snapshot(pool),
               20 * throughputTasks, wall.nsecsElapsed() / 1e6);
    }
    if (wanted("qtc") && !qtcFirst)
        runQtc();
    return 0;
}
