// SPDX-License-Identifier: MIT
// Exact outcomes under faults, with real worker processes: every future's own
// result or error kind is checked, and every task's executions are counted
// (each appends its index to a log file opened with O_APPEND).
#include "faulttasks.h"
#include "tasks.h"
#include "testmain.h"
#include "testutil.h"

#include <QtProcessPool/ProcessPool>

#include <QtCore/QDeadlineTimer>
#include <QtCore/QDir>
#include <QtCore/QElapsedTimer>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtCore/QRegularExpression>
#include <QtCore/QSet>
#include <QtCore/QTemporaryDir>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <fcntl.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace QtProcessPool;
using namespace TestTasks;
using namespace TestUtil;
using FaultTasks::Fault;

namespace {

/// What the task with that index does in a matrix of n tasks, one fault
/// every `every` tasks, the kinds taken in turn.
Fault faultOf(int index, int every)
{
    if (every <= 0 || index % every != every - 1)
        return Fault::None;
    return Fault(1 + (index / every) % (int(Fault::FaultCount) - 1));
}

QString describe(const std::optional<TaskError> &e)
{
    return e ? QStringLiteral("kind %1: %2").arg(int(e->kind())).arg(e->message())
             : QStringLiteral("no error");
}

/// Keeps the calling thread on a CPU for ms without running its event loop.
void computeFor(int ms)
{
    QElapsedTimer timer;
    timer.start();
    volatile quint64 sink = 0;
    while (timer.elapsed() < ms)
        sink = sink + 1;
}

QList<qint64> readPids(const QString &path)
{
    QList<qint64> pids;
    QFile file(path);
    if (file.open(QIODevice::ReadOnly)) {
        for (const QByteArray &line : file.readAll().split('\n')) {
            if (!line.isEmpty())
                pids.append(line.toLongLong());
        }
    }
    return pids;
}

} // namespace

class TestFaults : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void faultMatrix_data();
    void faultMatrix();
    void busyPoolThreadCausesNoTimeout();
    void busyPoolThreadCausesNoCancelKill();
    void timeoutAtTheBoundaryRunsNothingTwice();
    void suspendHoldsSentAheadTask();
    void lowerMaxWorkersAtRunTime();
    void helpersDieWithTheirWorker_data();
    void helpersDieWithTheirWorker();
    void helpersDieWithThePool();
    void largerMessageSizeAppliesToRunningWorkers();
    void badTemporaryDirectory_data();
    void badTemporaryDirectory();
    void outputFloodIsBounded();
    void blockingContinuationIsNamed();
    void poolDeletedInContinuationWithoutContext();
};

void TestFaults::faultMatrix_data()
{
    QTest::addColumn<int>("workers");
    QTest::addColumn<int>("tasks");
    QTest::addColumn<int>("every"); // one fault in that many tasks
    for (int workers : {1, 2, 4}) {
        QTest::addRow("%d workers, sparse (1 in 60)", workers) << workers << 360 << 60;
        QTest::addRow("%d workers, dense (1 in 20)", workers) << workers << 400 << 20;
    }
    QTest::newRow("2 workers, deep queue of 10,000") << 2 << 10000 << 500;
}

// abort, SIGSEGV, _Exit(3), std::terminate, stack overflow, throw, timeout
// (a hang with a 300 ms timeout), an outside SIGKILL, and a cancel of a
// running plain task, mixed among quick tasks that are sent ahead behind
// them: each faulting task fails with its own kind, every other one gets its
// own value, and every task ran exactly once.
void TestFaults::faultMatrix()
{
    QFETCH(int, workers);
    QFETCH(int, tasks);
    QFETCH(int, every);
    QTemporaryDir dir;
    const QString log = dir.filePath(QStringLiteral("runs"));
    ProcessPool pool;
    pool.setMaxWorkers(workers);
    pool.setCancelGracePeriod(std::chrono::milliseconds(100));
    QSignalSpy crashed(&pool, &ProcessPool::workerCrashed);
    QSignalSpy killed(&pool, &ProcessPool::workerKilled);

    std::vector<QFuture<int>> futures;
    std::vector<int> toCancel;
    futures.reserve(size_t(tasks));
    for (int i = 0; i < tasks; ++i) {
        const Fault fault = faultOf(i, every);
        TaskOptions options;
        if (fault == Fault::Hang && (i / every) % 2 == 0)
            options.timeout = std::chrono::milliseconds(300);
        else if (fault == Fault::Hang)
            toCancel.push_back(i);
        futures.push_back(pool.run(options, FaultTasks::faulty, log, i, int(fault), 0));
    }
    // A hang without a timeout is canceled once it runs (its index is in the log).
    QDeadlineTimer deadline(600000);
    while (!toCancel.empty() && !deadline.hasExpired()) {
        const QList<int> counts = FaultTasks::runCounts(log, tasks);
        for (auto it = toCancel.begin(); it != toCancel.end();) {
            if (counts[*it] > 0) {
                futures[size_t(*it)].cancel();
                it = toCancel.erase(it);
            } else {
                ++it;
            }
        }
        QTest::qWait(5);
    }
    QVERIFY(toCancel.empty());
    QVERIFY2(pool.waitForDone(600000), qPrintable(QStringLiteral("%1 queued, %2 running")
                                                      .arg(pool.queuedTaskCount())
                                                      .arg(pool.runningTaskCount())));

    const QList<int> counts = FaultTasks::runCounts(log, tasks);
    int crashes = 0;
    int kills = 0;
    for (int i = 0; i < tasks; ++i) {
        const Fault fault = faultOf(i, every);
        QFuture<int> &future = futures[size_t(i)];
        QVERIFY2(future.isFinished(), qPrintable(QString::number(i)));
        QVERIFY2(counts[i] == 1, qPrintable(QStringLiteral("task %1 (fault %2) ran %3 times")
                                                .arg(i)
                                                .arg(int(fault))
                                                .arg(counts[i])));
        if (fault == Fault::None) {
            const auto e = errorOf(future);
            QVERIFY2(!e && future.resultCount() == 1 && future.result() == i * 2,
                     qPrintable(QStringLiteral("innocent task %1: %2").arg(i).arg(describe(e))));
            continue;
        }
        if (fault == Fault::Hang && (i / every) % 2 == 1) { // canceled while running
            QVERIFY2(future.isCanceled() && future.resultCount() == 0,
                     qPrintable(QStringLiteral("canceled task %1").arg(i)));
            ++kills;
            continue;
        }
        const auto e = errorOf(future);
        QVERIFY2(
            e, qPrintable(
                   QStringLiteral("faulting task %1 (fault %2) succeeded").arg(i).arg(int(fault))));
        TaskError::Kind expected = TaskError::Kind::Crashed;
        QString mentions;
        switch (fault) {
        case Fault::Abort:
        case Fault::Terminate:
            mentions = QStringLiteral("SIGABRT");
            break;
        case Fault::Segv:
        case Fault::StackOverflow:
            mentions = QStringLiteral("SIGSEGV");
            break;
        case Fault::ExitCode:
            mentions = QStringLiteral("exited with code 3");
            break;
        case Fault::SelfKill:
            mentions = QStringLiteral("SIGKILL");
            break;
        case Fault::Throw:
            expected = TaskError::Kind::Exception;
            mentions = QStringLiteral("fault %1").arg(i);
            break;
        case Fault::Hang:
            expected = TaskError::Kind::TimedOut;
            mentions = QStringLiteral("timeout");
            break;
        default:
            break;
        }
        QVERIFY2(
            e->kind() == expected && e->message().contains(mentions),
            qPrintable(
                QStringLiteral("task %1 (fault %2): %3").arg(i).arg(int(fault)).arg(describe(e))));
        if (expected == TaskError::Kind::Crashed)
            ++crashes;
        else if (expected == TaskError::Kind::TimedOut)
            ++kills;
    }
    // Signals are queued: the last ones may still be on their way.
    QTRY_COMPARE_WITH_TIMEOUT(crashed.size(), crashes, Generous);
    QTRY_COMPARE_WITH_TIMEOUT(killed.size(), kills, Generous);
    const Statistics statistics = pool.statistics();
    QCOMPARE(statistics.workersCrashed, qint64(crashes));
    QCOMPARE(statistics.workersKilled, qint64(kills));
    QCOMPARE(statistics.failedByKind.value(TaskError::Kind::Crashed), qint64(crashes));
}

// 2 workers; a 300 ms task with a 1500 ms timeout while the pool's thread
// runs the continuations of 3,000 tiny tasks and then computes for 3 s
// (deliveries are paused meanwhile): the task succeeds, nobody is killed, and
// the task sent ahead behind it ran once.
void TestFaults::busyPoolThreadCausesNoTimeout()
{
    QTemporaryDir dir;
    const QString log = dir.filePath(QStringLiteral("runs"));
    ProcessPool pool;
    pool.setMaxWorkers(2);
    QSignalSpy killed(&pool, &ProcessPool::workerKilled);
    pool.setMinWorkers(2);
    pool.prestart();
    QTRY_COMPARE_WITH_TIMEOUT(pool.workerCount(), 2, Generous);
    TaskOptions timed;
    timed.timeout = std::chrono::milliseconds(1500);
    QFuture<int> slow = pool.run(timed, FaultTasks::faulty, log, 0, int(Fault::None), 300);
    QFuture<int> behind = pool.run(FaultTasks::faulty, log, 1, int(Fault::None), 0);
    QTRY_COMPARE_WITH_TIMEOUT(pool.runningTaskCount() + pool.queuedTaskCount() < 2, true,
                              Generous); // slow has started (its timer runs)
    // The results of 3,000 tiny tasks fill the delivery windows while this
    // thread is busy (continuations, then computing): reading pauses, and
    // slow's end waits unread past its timer.
    int continued = 0;
    for (int i = 0; i < 3000; ++i) {
        pool.run(square, i).then(this, [&continued](int) {
            ++continued;
            QThread::usleep(1000);
        });
    }
    computeFor(3000);
    QVERIFY(finishes(slow));
    const auto e = errorOf(slow);
    QVERIFY2(!e, qPrintable(describe(e)));
    QCOMPARE(slow.result(), 0);
    QCOMPARE(behind.result(), 2);
    QVERIFY(pool.waitForDone(Generous));
    QTRY_COMPARE_WITH_TIMEOUT(continued, 3000, Generous);
    QCOMPARE(killed.size(), 0);
    QCOMPARE(FaultTasks::runCounts(log, 2), (QList<int>{1, 1}));
}

// A canceled QPromise task that ends at once while the pool's thread is
// busy for longer than the grace period: its end is read before the grace
// decision, so its worker is not killed.
void TestFaults::busyPoolThreadCausesNoCancelKill()
{
    QTemporaryDir dir;
    ProcessPool pool;
    pool.setMaxWorkers(2);
    pool.setCancelGracePeriod(std::chrono::milliseconds(400));
    QSignalSpy killed(&pool, &ProcessPool::workerKilled);
    pool.prestart();
    const QString marker = dir.filePath(QStringLiteral("canceled"));
    QFuture<int> task = pool.run(waitForCancel, marker);
    QTRY_COMPARE_WITH_TIMEOUT(pool.runningTaskCount(), 1, Generous);
    const QList<qint64> pids = pool.workerPids();
    // Results of the other worker fill the delivery windows while this
    // thread computes, so reading pauses while the canceled task ends.
    for (int i = 0; i < 3000; ++i)
        pool.run(square, i).then(this, [](int) { QThread::usleep(200); });
    // Canceled once reading has paused; it ends at once, unread meanwhile.
    std::thread canceler([task]() mutable {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        task.cancel();
    });
    computeFor(1500);
    canceler.join();
    QVERIFY(pool.waitForDone(Generous));
    QTRY_VERIFY_WITH_TIMEOUT(QFileInfo::exists(marker), Generous); // it saw the cancel, ended
    QCOMPARE(killed.size(), 0);
    for (qint64 pid : pids)
        QVERIFY(pool.workerPids().contains(pid));
}

// 1 worker; task A with a timeout equal to its duration (30 ms), task B sent
// ahead behind it; 200 rounds. A succeeds or times out; B always succeeds,
// once: it is asked back before A's worker is killed, or it started after
// A's end, which calls the kill off.
void TestFaults::timeoutAtTheBoundaryRunsNothingTwice()
{
    QTemporaryDir dir;
    const QString log = dir.filePath(QStringLiteral("runs"));
    ProcessPool pool;
    pool.setMaxWorkers(1);
    TaskOptions timed;
    timed.timeout = std::chrono::milliseconds(30);
    const int rounds = 200;
    int timedOut = 0;
    for (int round = 0; round < rounds; ++round) {
        QFuture<int> a = pool.run(timed, FaultTasks::faulty, log, 2 * round, int(Fault::None), 30);
        QFuture<int> b = pool.run(FaultTasks::faulty, log, 2 * round + 1, int(Fault::None), 0);
        QVERIFY(finishes(b));
        const auto eb = errorOf(b);
        QVERIFY2(!eb, qPrintable(QStringLiteral("round %1: B %2").arg(round).arg(describe(eb))));
        QCOMPARE(b.result(), 2 * (2 * round + 1));
        QVERIFY(finishes(a));
        if (const auto ea = errorOf(a)) {
            QVERIFY2(ea->kind() == TaskError::Kind::TimedOut, qPrintable(describe(ea)));
            ++timedOut;
        } else {
            QCOMPARE(a.result(), 4 * round);
        }
    }
    QVERIFY(pool.waitForDone(Generous));
    const QList<int> counts = FaultTasks::runCounts(log, 2 * rounds);
    for (int i = 0; i < 2 * rounds; ++i)
        QVERIFY2(counts[i] == 1,
                 qPrintable(QStringLiteral("task %1 ran %2 times").arg(i).arg(counts[i])));
    qInfo("%d of %d rounds timed out", timedOut, rounds);
}

// A task sent ahead to a busy worker and then suspended waits, as queued
// tasks of a suspended future do; resumed, it delivers everything.
void TestFaults::suspendHoldsSentAheadTask()
{
    ProcessPool pool;
    pool.setMaxWorkers(1);
    QFuture<int> busy = pool.run(sleepThenSquare, 400, 3);
    QTRY_COMPARE_WITH_TIMEOUT(pool.runningTaskCount(), 1, Generous);
    QFuture<int> ahead = pool.run(suspendable, 5);
    QTest::qWait(50); // sent ahead to the busy worker by now
    ahead.suspend();
    QCOMPARE(busy.result(), 9);
    QTest::qWait(500); // it would have run and delivered by now
    QCOMPARE(ahead.resultCount(), 0);
    QVERIFY(!ahead.isFinished());
    QCOMPARE(pool.runningTaskCount(), 0);
    QCOMPARE(pool.queuedTaskCount(), 1);
    ahead.resume();
    QVERIFY(finishes(ahead));
    QCOMPARE(ahead.results(), (QList<int>{1, 2, 3, 4, 5}));
}

// After a burst on 4 workers, setMaxWorkers(1): the surplus retire between
// tasks and the next tasks all run on one worker, one at a time.
void TestFaults::lowerMaxWorkersAtRunTime()
{
    ProcessPool pool;
    pool.setMaxWorkers(4);
    QList<QFuture<int>> burst;
    for (int i = 0; i < 8; ++i)
        burst.append(pool.run(sleepThenSquare, 200, i));
    QTRY_COMPARE_WITH_TIMEOUT(pool.workerCount(), 4, Generous);
    pool.setMaxWorkers(1);
    QList<QFuture<qint64>> next;
    for (int i = 0; i < 20; ++i)
        next.append(pool.run(workerPid));
    QVERIFY(pool.waitForDone(Generous));
    for (int i = 0; i < burst.size(); ++i)
        QCOMPARE(burst[i].result(), i * i);
    QSet<qint64> pids;
    for (const QFuture<qint64> &f : next)
        pids.insert(f.result());
    QCOMPARE(pids.size(), 1); // no surplus worker took any of them
    QTRY_COMPARE_WITH_TIMEOUT(pool.workerCount(), 1, Generous);
    QCOMPARE(pool.workerPids(), QList<qint64>{*pids.begin()});
}

void TestFaults::helpersDieWithTheirWorker_data()
{
    QTest::addColumn<int>("fault");
    QTest::addColumn<int>("kind");
    QTest::newRow("timeout") << int(Fault::Hang) << int(TaskError::Kind::TimedOut);
    QTest::newRow("crash") << int(Fault::Abort) << int(TaskError::Kind::Crashed);
}

// A task forks a helper (which holds the worker's socket) and then hangs past
// its 300 ms timeout or crashes after 50 ms: the right kind (a crash is never
// reported as TimedOut, though the helper keeps the socket open), and the
// helper is gone soon after.
void TestFaults::helpersDieWithTheirWorker()
{
    QFETCH(int, fault);
    QFETCH(int, kind);
    QTemporaryDir dir;
    const QString pidFile = dir.filePath(QStringLiteral("helper"));
    ProcessPool pool;
    pool.setMaxWorkers(1);
    TaskOptions timed;
    timed.timeout = std::chrono::milliseconds(300);
    QElapsedTimer clock;
    clock.start();
    QFuture<int> task = pool.run(timed, FaultTasks::forkHelperThen, pidFile, fault, 50);
    QVERIFY(finishes(task));
    const auto e = errorOf(task);
    QVERIFY2(e && int(e->kind()) == kind, qPrintable(describe(e)));
    const QList<qint64> helpers = readPids(pidFile);
    QCOMPARE(helpers.size(), 1);
    QTRY_VERIFY_WITH_TIMEOUT(processGone(helpers.first()), 5000);
    QCOMPARE(pool.run(square, 4).result(), 16); // the pool goes on
}

void TestFaults::helpersDieWithThePool()
{
    QTemporaryDir dir;
    const QString pidFile = dir.filePath(QStringLiteral("helper"));
    {
        ProcessPool pool;
        QFuture<int> task = pool.run(FaultTasks::forkHelperThen, pidFile, int(Fault::Hang), 0);
        QTRY_COMPARE_WITH_TIMEOUT(readPids(pidFile).size(), 1, Generous);
    }
    QTRY_VERIFY_WITH_TIMEOUT(processGone(readPids(pidFile).first()), 5000);
}

// setMaxMessageSize() raised after the workers started applies to what
// they send back too.
void TestFaults::largerMessageSizeAppliesToRunningWorkers()
{
    ProcessPool pool;
    pool.setMaxWorkers(1);
    const qint64 pid = pool.run(workerPid).result(); // started with the default limit
    pool.setMaxMessageSize(64 * 1024);
    QFuture<QByteArray> refused = pool.run(bigResult, 100 * 1024);
    QVERIFY(finishes(refused));
    const auto e = errorOf(refused);
    QVERIFY2(e && e->kind() == TaskError::Kind::ProtocolError, qPrintable(describe(e)));
    // Its worker was dropped; the next one starts under the 64 KiB limit.
    const qint64 next = pool.run(workerPid).result();
    QVERIFY(next != pid);
    pool.setMaxMessageSize(1024 * 1024);
    QFuture<QByteArray> big = pool.run(bigResult, 100 * 1024);
    QCOMPARE(big.result().size(), 100 * 1024);
    QCOMPARE(pool.run(workerPid).result(), next);
}

void TestFaults::badTemporaryDirectory_data()
{
    QTest::addColumn<QString>("tmpdir");
    QTest::newRow("a regular file") << QStringLiteral("a-file");
    QTest::newRow("missing") << QStringLiteral("missing/below");
    QTest::newRow("socket path longer than sun_path") << QString(120, QLatin1Char('d'));
}

// A $TMPDIR the socket cannot live in: the pool falls back to /tmp and works.
void TestFaults::badTemporaryDirectory()
{
    QFETCH(QString, tmpdir);
    QTemporaryDir scratch;
    QFile file(scratch.filePath(QStringLiteral("a-file")));
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.close();
    const QString path = scratch.filePath(tmpdir);
    if (tmpdir.size() > 100)
        QVERIFY(QDir().mkpath(path));
    const QByteArray oldTemp = qgetenv("TMPDIR");
    const QByteArray oldRuntime = qgetenv("XDG_RUNTIME_DIR");
    qputenv("TMPDIR", QFile::encodeName(path));
    qunsetenv("XDG_RUNTIME_DIR");
    QString socket;
    int result = 0;
    {
        ProcessPool pool;
        pool.setMaxWorkers(1);
        result = pool.run(square, 7).result();
        for (const QString &argument : pool.run(workerArguments).result()) {
            if (argument.contains(QLatin1String("qtprocesspool-")))
                socket = argument;
        }
    }
    qputenv("TMPDIR", oldTemp);
    if (!oldRuntime.isEmpty())
        qputenv("XDG_RUNTIME_DIR", oldRuntime);
    QCOMPARE(result, 49);
    QVERIFY2(socket.startsWith(QLatin1String("/tmp/qtprocesspool-")), qPrintable(socket));
}

namespace {
/// Median round trip of n square() calls, in microseconds.
double medianRoundTripUs(ProcessPool &pool, int n)
{
    std::vector<qint64> us;
    QElapsedTimer clock;
    for (int i = 0; i < n; ++i) {
        clock.start();
        pool.run(square, i).waitForFinished();
        us.push_back(clock.nsecsElapsed() / 1000);
    }
    std::sort(us.begin(), us.end());
    return double(us[us.size() / 2]);
}
} // namespace

// A worker floods its stdout with 10-byte lines: batches (not one signal per
// line), every line either delivered or counted as dropped, and another
// worker's round trips stay fast. (The round-trip figure proper is in bench/.)
void TestFaults::outputFloodIsBounded()
{
    ProcessPool pool;
    pool.setMaxWorkers(2);
    pool.setMinWorkers(2);
    pool.prestart();
    QTRY_COMPARE_WITH_TIMEOUT(pool.workerCount(), 2, Generous);
    const double quiet = medianRoundTripUs(pool, 200);
    QList<QList<QVariant>> batches;
    connect(&pool, &ProcessPool::workerOutput, this,
            [&batches](qint64 pid, QProcess::ProcessChannel channel, const QString &lines) {
                batches.append({pid, int(channel), lines});
            });
    // The forwarded copy on our stderr would fill the test log: hide it.
    const int savedStderr = ::dup(2);
    const int devNull = ::open("/dev/null", O_WRONLY);
    ::dup2(devNull, 2);
    QElapsedTimer clock;
    clock.start();
    QFuture<qint64> flood = pool.run(FaultTasks::floodStdout, 1500);
    QTest::qWait(200);
    const double loud = medianRoundTripUs(pool, 200);
    QVERIFY(finishes(flood));
    QTest::qWait(200); // the last batch
    const qint64 elapsedMs = clock.elapsed();
    ::dup2(savedStderr, 2);
    ::close(savedStderr);
    ::close(devNull);

    const qint64 written = flood.result();
    QVERIFY(written > 10000);
    qint64 delivered = 0;
    qint64 dropped = 0;
    int floodBatches = 0;
    static const QRegularExpression note(
        QStringLiteral("^\\[qtprocesspool: (\\d+) lines of worker output dropped\\]$"));
    for (const QList<QVariant> &batch : batches) {
        if (batch.at(1).toInt() != int(QProcess::StandardOutput))
            continue;
        ++floodBatches;
        for (const QString &line : batch.at(2).toString().split(QLatin1Char('\n'))) {
            const QRegularExpressionMatch match = note.match(line);
            if (match.hasMatch()) {
                dropped += match.captured(1).toLongLong();
            } else {
                QCOMPARE(line, QStringLiteral("012345678"));
                ++delivered;
            }
        }
    }
    qInfo("%lld lines written, %lld delivered, %lld dropped in %d batches over %lld ms; "
          "round trip p50 %.0f us quiet, %.0f us during the flood",
          written, delivered, dropped, floodBatches, elapsedMs, quiet, loud);
    QCOMPARE(delivered + dropped, written); // every line accounted for
    QVERIFY(dropped > 0);
    QVERIFY2(floodBatches <= elapsedMs / 20 + 10, qPrintable(QString::number(floodBatches)));
    QVERIFY2(loud < std::max(20 * quiet, 20000.0), qPrintable(QString::number(loud)));
}

// A continuation attached without a context runs on the pool's I/O thread;
// one that blocks there holds every task of the pool, and the pool says so.
void TestFaults::blockingContinuationIsNamed()
{
    ProcessPool pool;
    pool.setMaxWorkers(1);
    QTest::ignoreMessage(QtWarningMsg,
                         QRegularExpression(QStringLiteral(
                             "continuation attached without a context has held the pool's I/O "
                             "thread for \\d+ ms.*then\\(this")));
    std::atomic<bool> returned{false};
    // Still running when then() is attached, so its continuation runs where
    // the future finishes: on the I/O thread.
    QFuture<int> first = pool.run(sleepThenSquare, 300, 2);
    auto blocked = first.then([&returned](int x) {
        QThread::sleep(4); // stands in for result() of another task of this pool
        returned = true;
        return x;
    });
    QTRY_VERIFY_WITH_TIMEOUT(returned.load(), Generous);
    QCOMPARE(blocked.result(), 4);
    QCOMPARE(pool.run(square, 5).result(), 25); // and the pool goes on
}

// Deleting the pool in a continuation without a context (on its I/O thread)
// does not deadlock: what is pending is canceled and every worker stops.
void TestFaults::poolDeletedInContinuationWithoutContext()
{
    const int threadsBefore = threadCount();
    auto *pool = new ProcessPool;
    pool->setMaxWorkers(1);
    const qint64 pid = pool->run(workerPid).result();
    QTest::ignoreMessage(QtWarningMsg,
                         QRegularExpression(QStringLiteral("deleted in a continuation attached "
                                                           "without a context")));
    std::atomic<bool> deleted{false};
    QFuture<int> first = pool->run(sleepThenSquare, 300, 3); // not finished at then()
    QFuture<int> pending = pool->run(sleepThenSquare, 60000, 4);
    auto done = first.then([pool, &deleted](int) {
        delete pool;
        deleted = true;
    });
    QTRY_VERIFY_WITH_TIMEOUT(deleted.load(), Generous);
    QVERIFY(finishes(pending));
    QVERIFY(pending.isCanceled());
    QTRY_VERIFY_WITH_TIMEOUT(processGone(pid), Generous);
    // Its I/O thread ends, and then the rest of the pool is deleted here
    // (posted by that thread as it ended), before the application goes.
    QTRY_VERIFY_WITH_TIMEOUT(threadCount() <= threadsBefore, Generous);
    QCoreApplication::sendPostedEvents();
}

QPP_TEST_MAIN(TestFaults)

#include "tst_faults.moc"
