// SPDX-License-Identifier: MIT
// qtprocesspool-cpucost: where the CPU time of a task goes. Runs the W1 and
// W2 shapes of the benchmark (one task at a time; 100,000 at once) on a pool
// of 2 workers and prints, per task, the CPU time of each thread involved:
// the caller's thread, the pool's I/O thread, and each worker's threads
// (from /proc/<pid>/task/<tid>/schedstat, in nanoseconds). Unlike wall-clock
// figures, these hardly move when the machine is shared, so they show what a
// change to the hot path saves.
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

#include <cstdio>

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

} // namespace

QPP_REGISTER_TASK(increment)

int main(int argc, char **argv)
{
    if (QtProcessPool::isWorkerProcess(argc, argv))
        return QtProcessPool::execWorker(argc, argv);
    QCoreApplication app(argc, argv);
    const int throughputTasks = argc > 1 ? QString::fromLocal8Bit(argv[1]).toInt() : 100000;
    // An optional second argument picks shapes, comma-separated: w1, w2,
    // qtc or qtc-first (W2's caller code on QtConcurrent::run), map; or w5.
    const QList<QByteArray> only = argc > 2 ? QByteArray(argv[2]).split(',') : QList<QByteArray>();
    const auto wanted = [&](const char *shape) { return only.isEmpty() || only.contains(shape); };
    const int roundTrips = wanted("w1") ? throughputTasks / 10 : 0;
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

    QtProcessPool::ProcessPool pool;
    pool.setMaxWorkers(2);
    pool.setMinWorkers(2);
    pool.prestart();
    for (int i = 0; i < 2000; ++i) // warm up: both workers started and paged in
        pool.run(increment, i).waitForFinished();

    QObject context;
    if (roundTrips > 0) {
        int done = 0;
        const Snapshot before = snapshot(pool);
        QElapsedTimer wall;
        wall.start();
        std::function<void()> next = [&] {
            pool.run(increment, done).then(&context, [&](int) {
                if (++done < roundTrips)
                    next();
            });
        };
        next();
        waitFor([&] { return done == roundTrips; });
        report("W1 shape: one run() at a time", before, snapshot(pool), roundTrips,
               wall.nsecsElapsed() / 1e6);
    }
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
