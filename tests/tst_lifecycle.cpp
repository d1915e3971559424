// SPDX-License-Identifier: MIT
// Worker lifecycle with real workers: sizing, retirement, recycling, limits,
// initializers, start failures, environment, output, orphans, statistics.
#include "tasks.h"
#include "testmain.h"
#include "testutil.h"

#include <QtProcessPool/ProcessPool>

#include <QtCore/QFile>
#include <QtCore/QMap>
#include <QtCore/QProcess>
#include <QtCore/QRegularExpression>
#include <QtCore/QSet>
#include <QtCore/QTemporaryDir>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <functional>

#include <signal.h>

using namespace QtProcessPool;
using namespace TestTasks;
using namespace TestUtil;
using namespace std::chrono_literals;

class TestLifecycle : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void burstNeverExceedsMaxWorkers();
    void prestartedPoolRunsWithoutStarting();
    void idleWorkersRetireDownToMinWorkers();
    void recyclingByTaskCount();
    void recyclingByResidentMemory();
#ifndef QPP_TEST_ASAN
    // AddressSanitizer reserves terabytes of shadow address space at start-up,
    // which no RLIMIT_AS can allow: the memory limit is tested in plain builds.
    void memoryLimit();
    void largePayloadsUnderAMemoryLimit();
#endif
    void initializerRunsOncePerWorker();
    void failingInitializer_data();
    void failingInitializer();
    void startFailuresAreBoundedAndReset();
    void environmentAndWorkingDirectory();
    void workerOutputCarriesPid();
    void forwardedStderrIsPrefixedWithPid();
    void noOrphansWhenApplicationIsKilled();
    void aboutToQuitStopsThePool();
    void waitForDone();
    void statisticsAfterMixedRun();
    void workerInfoFollowsEachWorker();
    // A run() on a pool with an idle worker and nothing queued writes its task
    // to that worker's socket from the calling thread (the engine lends it).
    void lentWorkerChainsRoundTrips();
    void lentWorkerCrashFailsOnlyItsTask();
    void lentWorkerKilledWhileIdle();
    void lentWorkerTaskCanceled();
};

void TestLifecycle::burstNeverExceedsMaxWorkers()
{
    ProcessPool pool;
    pool.setMaxWorkers(3);
    int most = 0;
    QSet<qint64> started;
    connect(&pool, &ProcessPool::workerStarted, this, [&](qint64 pid) { started.insert(pid); });
    QTimer sampler;
    connect(&sampler, &QTimer::timeout, this, [&] { most = std::max(most, pool.workerCount()); });
    sampler.start(1);
    QList<QFuture<int>> futures;
    for (int i = 0; i < 1000; ++i)
        futures.append(pool.run(square, i));
    QVERIFY(pool.waitForDone(Generous));
    for (int i = 0; i < 1000; ++i)
        QCOMPARE(futures[i].result(), i * i);
    QVERIFY2(most <= 3, qPrintable(QString::number(most)));
    QVERIFY2(started.size() <= 3, qPrintable(QString::number(started.size())));
    QVERIFY(started.size() >= 2); // several started on the cold burst
}

void TestLifecycle::prestartedPoolRunsWithoutStarting()
{
    ProcessPool pool;
    pool.setMaxWorkers(2);
    pool.setMinWorkers(2);
    QSignalSpy started(&pool, &ProcessPool::workerStarted);
    // The one-argument form DESIGN.md names still connects (string-based,
    // as QML and old-style connects do).
    QSignalSpy startedByName(&pool, SIGNAL(workerStarted(qint64)));
    QVERIFY(startedByName.isValid());
    pool.prestart();
    QTRY_COMPARE_WITH_TIMEOUT(started.size(), 2, Generous);
    QTRY_COMPARE_WITH_TIMEOUT(startedByName.size(), 2, Generous);
    for (const QList<QVariant> &arguments : std::as_const(started))
        QCOMPARE(arguments.at(1).toString(), QString()); // a local worker: no host
    const QList<qint64> warm = pool.workerPids();
    const qint64 pid = pool.run(workerPid).result();
    QVERIFY(warm.contains(pid));
    QCOMPARE(started.size(), 2); // nothing had to start for it
    QVERIFY(pool.statistics().queueWait.max < 1000);
}

void TestLifecycle::idleWorkersRetireDownToMinWorkers()
{
    ProcessPool pool;
    pool.setMaxWorkers(3);
    pool.setMinWorkers(1);
    pool.setIdleTimeout(300ms);
    QCOMPARE(ProcessPool().idleTimeout(), 30000ms); // the default
    QSignalSpy exited(&pool, &ProcessPool::workerExited);
    QSignalSpy crashed(&pool, &ProcessPool::workerCrashed);
    QList<QFuture<int>> futures;
    for (int i = 0; i < 6; ++i)
        futures.append(pool.run(sleepThenSquare, 400, i));
    QTRY_COMPARE_WITH_TIMEOUT(pool.workerCount(), 3, Generous);
    QVERIFY(pool.waitForDone(Generous));
    QTRY_COMPARE_WITH_TIMEOUT(pool.workerCount(), 1, Generous);
    QTest::qWait(600); // and no further
    QCOMPARE(pool.workerCount(), 1);
    QCOMPARE(exited.size(), 2);
    QCOMPARE(crashed.size(), 0);
    QCOMPARE(pool.run(square, 4).result(), 16);
}

void TestLifecycle::recyclingByTaskCount()
{
    ProcessPool pool;
    pool.setMaxWorkers(1);
    pool.setMaxTasksPerWorker(3);
    QSignalSpy recycled(&pool, &ProcessPool::workerRecycled);
    QSignalSpy crashed(&pool, &ProcessPool::workerCrashed);
    QList<QFuture<qint64>> futures;
    for (int i = 0; i < 9; ++i)
        futures.append(pool.run(workerPid));
    QList<qint64> pids;
    for (const auto &f : futures)
        pids.append(f.result());
    for (int i = 0; i < 9; ++i)
        QCOMPARE(pids[i], pids[i - i % 3]); // three tasks per worker
    QCOMPARE(QSet<qint64>(pids.begin(), pids.end()).size(), 3);
    QTRY_VERIFY_WITH_TIMEOUT(recycled.size() >= 2, Generous);
    QVERIFY(recycled.at(0).at(1).toString().contains(QStringLiteral("3 tasks")));
    QCOMPARE(crashed.size(), 0);
    QCOMPARE(pool.statistics().workersRecycled, qint64(recycled.size()));
}

void TestLifecycle::recyclingByResidentMemory()
{
#ifdef QPP_PORTABLE
    {
        // Unsupported there, and said so: once, at the setting.
        ProcessPool pool;
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral(
                                               "setMaxWorkerRss.*not recycled for their memory")));
        pool.setMaxWorkerRss(120 * 1024 * 1024);
        QCOMPARE(pool.maxWorkerRss(), qint64(120 * 1024 * 1024));
    }
    QSKIP("a worker's resident memory is read from /proc, which the portable build does not "
          "use (QPP_PORTABLE)");
#endif
    ProcessPool pool;
    pool.setMaxWorkers(1);
    pool.setMaxWorkerRss(120 * 1024 * 1024);
    QSignalSpy recycled(&pool, &ProcessPool::workerRecycled);
    QSet<qint64> pids;
    for (int i = 0; i < 6; ++i) {
        QCOMPARE(pool.run(leakMegabytes, 50).result(), 50);
        pids.insert(pool.run(workerPid).result());
    }
    // 50 MB leaked per call: a worker passes 120 MB on its third call.
    QVERIFY2(pids.size() >= 2, qPrintable(QString::number(pids.size())));
    QTRY_VERIFY_WITH_TIMEOUT(!recycled.isEmpty(), Generous);
    QVERIFY2(recycled.at(0).at(1).toString().contains(QStringLiteral("resident memory")),
             qPrintable(recycled.at(0).at(1).toString()));
}

#ifndef QPP_TEST_ASAN
void TestLifecycle::memoryLimit()
{
    ProcessPool pool;
    pool.setWorkerMemoryLimit(qint64(768) * 1024 * 1024);
    const auto e = errorOf(pool.run(allocateBytes, qint64(2) * 1024 * 1024 * 1024));
    QVERIFY(e);
    QVERIFY2(e->kind() == TaskError::Kind::Exception || e->kind() == TaskError::Kind::Crashed,
             qPrintable(e->message()));
    if (e->kind() == TaskError::Kind::Exception)
        QCOMPARE(e->remoteType(), QStringLiteral("std::bad_alloc"));
    else
        QVERIFY2(e->message().contains(QStringLiteral("memory limit")), qPrintable(e->message()));
    QCOMPARE(pool.run(allocateBytes, qint64(1024 * 1024)).result(), qint64(1024 * 1024));
}

/// The largest mapping of a payload arena in a process (Linux), in bytes.
static qint64 largestArenaMapping(qint64 pid)
{
    QFile maps(QStringLiteral("/proc/%1/maps").arg(pid));
    qint64 largest = 0;
    if (!maps.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray &line : maps.readAll().split('\n')) {
        if (!line.contains("qtprocesspool-arena"))
            continue;
        const QList<QByteArray> range = line.split(' ').value(0).split('-');
        largest = std::max(largest, range.value(1).toLongLong(nullptr, 16) -
                                        range.value(0).toLongLong(nullptr, 16));
    }
    return largest;
}

void TestLifecycle::largePayloadsUnderAMemoryLimit()
{
    // A worker with a memory limit maps no arena (its header page only): the
    // arena takes none of the address space its tasks may use, and large
    // arguments are read instead, byte for byte.
    ProcessPool pool;
    pool.setMaxWorkers(1);
    pool.setWorkerMemoryLimit(qint64(768) * 1024 * 1024);
    for (int i = 0; i < 3; ++i) {
        const QByteArray big = patternBytes(3 * 1024 * 1024 + i, i);
        QCOMPARE(pool.run(reversed, big).result(), reversed(big));
    }
#if defined(Q_OS_LINUX) && !defined(QPP_PORTABLE)
    QCOMPARE(pool.statistics().sharedMemoryTransfers, 6);
    const qint64 worker = pool.statistics().workerInfo.value(0).pid;
    QVERIFY(worker > 0);
    QCOMPARE(largestArenaMapping(worker), qint64(4096));
    // The pool has no limit: it reads the worker's results in place.
    QVERIFY(largestArenaMapping(QCoreApplication::applicationPid()) > 3 * 1024 * 1024);
#endif
}
#endif

void TestLifecycle::initializerRunsOncePerWorker()
{
    ProcessPool pool;
    pool.setMaxWorkers(2);
    pool.setMinWorkers(2);
    pool.setWorkerInitializer(setInitValue, 42);
    pool.prestart();
    QTRY_COMPARE_WITH_TIMEOUT(pool.workerPids().size(), 2, Generous); // both initialized
    QList<QFuture<int>> values;
    QList<QFuture<int>> calls;
    for (int i = 0; i < 10; ++i) {
        values.append(pool.run(initValue));
        calls.append(pool.run(initCalls));
    }
    for (int i = 0; i < 10; ++i) {
        QCOMPARE(values[i].result(), 42);
        QCOMPARE(calls[i].result(), 1);
    }
    // Workers started after clearWorkerInitializer() start without it.
    const QList<qint64> initialized = pool.workerPids();
    pool.clearWorkerInitializer();
    for (qint64 pid : initialized)
        QCOMPARE(::kill(pid_t(pid), SIGKILL), 0);
    QTRY_VERIFY_WITH_TIMEOUT(pool.workerCount() == 2 &&
                                 !pool.workerPids().contains(initialized.value(0)) &&
                                 !pool.workerPids().contains(initialized.value(1)),
                             Generous);
    for (int i = 0; i < 10; ++i)
        QCOMPARE(pool.run(initValue).result(), -1);
}

void TestLifecycle::failingInitializer_data()
{
    QTest::addColumn<bool>("crash");
    QTest::addColumn<QString>("expected");
    QTest::newRow("throws") << false << "failed in its initializer 'throwRuntime': model missing";
    QTest::newRow("crashes") << true << "SIGSEGV";
}

void TestLifecycle::failingInitializer()
{
    QFETCH(bool, crash);
    QFETCH(QString, expected);
    ProcessPool pool;
    pool.setMaxWorkers(1);
    if (crash)
        pool.setWorkerInitializer(crashSegv);
    else
        pool.setWorkerInitializer(throwRuntime, QStringLiteral("model missing"));
    QSignalSpy started(&pool, &ProcessPool::workerStarted);
    const auto e = errorOf(pool.run(square, 2));
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::WorkerStartFailed);
    QVERIFY2(e->message().contains(expected), qPrintable(e->message()));
    QVERIFY2(e->message().contains(QStringLiteral("3 attempts")), qPrintable(e->message()));
    QCOMPARE(started.size(), 0);
    pool.clearWorkerInitializer();
    QTRY_COMPARE_WITH_TIMEOUT(pool.run(square, 3).result(), 9, Generous);
}

void TestLifecycle::startFailuresAreBoundedAndReset()
{
    QTemporaryDir dir;
    const QString log = dir.filePath(QStringLiteral("starts"));
    const auto starts = [&] {
        QFile file(log);
        return file.open(QIODevice::ReadOnly) ? int(file.readAll().count('\n')) : 0;
    };
    ProcessPool pool;
    pool.setMaxWorkers(1);
    const QString self = pool.workerProgram();
    pool.setWorkerProgram(QStringLiteral("/bin/sh"),
                          {QStringLiteral("-c"),
                           QStringLiteral("echo x >> '%1'; exit 1").arg(log)});
    auto e = errorOf(pool.run(square, 1));
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::WorkerStartFailed);
    QCOMPARE(starts(), 3); // three attempts with back-off, then the task failed

    pool.setWorkerProgram(self);
    QTRY_COMPARE_WITH_TIMEOUT(pool.run(square, 5).result(), 25, Generous);
    // A success resets the guard: a later failing program gets three attempts again.
    const QList<qint64> pids = pool.workerPids();
    pool.setWorkerProgram(QStringLiteral("/bin/sh"),
                          {QStringLiteral("-c"),
                           QStringLiteral("echo x >> '%1'; exit 1").arg(log)});
    ::kill(pid_t(pids.value(0)), SIGKILL);
    QTRY_COMPARE_WITH_TIMEOUT(pool.workerCount(), 0, Generous);
    e = errorOf(pool.run(square, 1));
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::WorkerStartFailed);
    QCOMPARE(starts(), 6);
}

void TestLifecycle::environmentAndWorkingDirectory()
{
    QTemporaryDir dir;
    ProcessPool pool;
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("QPP_TEST_VALUE"), QStringLiteral("from the pool"));
    pool.setWorkerEnvironment(environment);
    pool.setWorkerWorkingDirectory(dir.path());
    QCOMPARE(pool.run(environmentVariable, QStringLiteral("QPP_TEST_VALUE")).result(),
             QStringLiteral("from the pool"));
    QCOMPARE(QFileInfo(pool.run(currentDirectory).result()).canonicalFilePath(),
             QFileInfo(dir.path()).canonicalFilePath());
    // The worker picks Qt's own event dispatcher over GLib's (fewer system
    // calls per task) and leaves the environment as it was given.
#ifdef Q_OS_UNIX
    if (!environment.contains(QStringLiteral("QT_NO_GLIB"))) {
        QCOMPARE(pool.run(environmentVariable, QStringLiteral("QT_NO_GLIB")).result(), QString());
        QCOMPARE(pool.run(eventDispatcherClass).result(), QStringLiteral("QEventDispatcherUNIX"));
    }
#endif
}

void TestLifecycle::workerOutputCarriesPid()
{
    ProcessPool pool;
    QSignalSpy output(&pool, &ProcessPool::workerOutput);
    pool.run(printLines, QStringLiteral("hi")).waitForFinished();
    const qint64 pid = pool.workerPids().value(0);
    QTRY_VERIFY_WITH_TIMEOUT(output.size() >= 2, Generous);
    bool sawOut = false;
    bool sawErr = false;
    for (const QList<QVariant> &args : output) {
        QCOMPARE(args.at(0).toLongLong(), pid);
        const auto channel = args.at(1).value<QProcess::ProcessChannel>();
        sawOut |= channel == QProcess::StandardOutput && args.at(2).toString() == "out: hi";
        sawErr |= channel == QProcess::StandardError && args.at(2).toString() == "err: hi";
    }
    QVERIFY(sawOut);
    QVERIFY(sawErr);
}

void TestLifecycle::forwardedStderrIsPrefixedWithPid()
{
    QProcess app;
    app.start(QStringLiteral(QPP_TEST_APP), {QStringLiteral("print")});
    QVERIFY(app.waitForFinished(Generous));
    QCOMPARE(app.exitCode(), 0);
    const QByteArray out = app.readAllStandardOutput();
    const QByteArray err = app.readAllStandardError();
    const QByteArray pid = out.mid(out.indexOf("pid ") + 4).trimmed();
    QVERIFY(!pid.isEmpty());
    QVERIFY2(err.contains("[worker " + pid + "] err: hello"), err.constData());
    QVERIFY2(err.contains("[worker " + pid + "] out: hello"), err.constData());
}

void TestLifecycle::noOrphansWhenApplicationIsKilled()
{
    QProcess app;
    app.start(QStringLiteral(QPP_TEST_APP), {QStringLiteral("orphan")});
    QVERIFY(app.waitForStarted());
    QTRY_VERIFY_WITH_TIMEOUT(app.canReadLine(), Generous);
    const QList<QByteArray> fields = app.readLine().trimmed().split(' ');
    QCOMPARE(fields.size(), 3);
    const qint64 idle = fields[1].toLongLong();
    const qint64 busy = fields[2].toLongLong();
    QVERIFY(!processGone(idle));
    QVERIFY(!processGone(busy));
    ::kill(pid_t(app.processId()), SIGKILL); // no destructor, no aboutToQuit
    QVERIFY(app.waitForFinished(Generous));
    // Orphans get reparented and reaped by init; both must be gone in seconds.
    QTRY_VERIFY_WITH_TIMEOUT(processGone(idle) && processGone(busy), 10000);
}

void TestLifecycle::aboutToQuitStopsThePool()
{
    QProcess app;
    app.start(QStringLiteral(QPP_TEST_APP), {QStringLiteral("quit")});
    QVERIFY(app.waitForFinished(Generous));
    const QByteArray out = app.readAllStandardOutput();
    QVERIFY2(out.contains("after-quit workers=0 canceled=3"), out.constData());
}

void TestLifecycle::waitForDone()
{
    ProcessPool pool;
    QVERIFY(pool.waitForDone(0)); // nothing to wait for
    QFuture<int> future = pool.run(sleepThenSquare, 1500, 2);
    QVERIFY(!pool.waitForDone(100));
    QVERIFY(!future.isFinished());
    QVERIFY(pool.waitForDone(Generous));
    QVERIFY(future.isFinished());
    QCOMPARE(future.result(), 4);
}

void TestLifecycle::statisticsAfterMixedRun()
{
    ProcessPool pool;
    pool.setMaxWorkers(1);
    TaskOptions options;
    options.timeout = 60s; // nothing is sent ahead of it: the two below stay queued
    QFuture<int> blocker = pool.run(options, sleepThenSquare, 300, 1);
    QList<QFuture<int>> canceled{pool.run(square, 1), pool.run(square, 2)};
    for (QFuture<int> &f : canceled)
        f.cancel();
    QList<QFuture<int>> rest;
    for (int i = 0; i < 10; ++i)
        rest.append(pool.run(square, i));
    for (int i = 0; i < 3; ++i)
        rest.append(pool.run(throwRuntime, QStringLiteral("x")));
    rest.append(pool.run(crashExit, 3));
    QVERIFY(pool.waitForDone(Generous));
    const Statistics stats = pool.statistics();
    QCOMPARE(stats.submitted, qint64(17));
    QCOMPARE(stats.finished, qint64(11));
    QCOMPARE(stats.failed, qint64(4));
    QCOMPARE(stats.failedByKind.value(TaskError::Kind::Exception), qint64(3));
    QCOMPARE(stats.failedByKind.value(TaskError::Kind::Crashed), qint64(1));
    QCOMPARE(stats.canceled, qint64(2));
    QCOMPARE(stats.workersCrashed, qint64(1));
    QVERIFY(stats.workersStarted >= 1);
    QCOMPARE(stats.queueWait.samples, qint64(15)); // every task that started
    QCOMPARE(stats.runTime.samples, qint64(15));
    // The pool times a task from reading its TaskStarted to reading its end:
    // on a loaded machine the first read can come late, so the 300 ms task
    // may measure less (seen: under 300 ms with two CI builds running).
    QVERIFY2(stats.runTime.max >= 150 && stats.runTime.max < 60000,
             qPrintable(QString::number(stats.runTime.max)));
    QVERIFY(stats.runTime.p50 <= stats.runTime.p95 && stats.runTime.p95 <= stats.runTime.max);
    QCOMPARE(stats.queuedTasks, 0);
    QCOMPARE(stats.runningTasks, 0);
}

void TestLifecycle::workerInfoFollowsEachWorker()
{
    using State = Statistics::WorkerInfo::State;
    ProcessPool pool;
    pool.setMaxWorkers(2);
    pool.setMinWorkers(2);
    pool.prestart();
    const auto states = [&pool] {
        QMap<qint64, Statistics::WorkerInfo> byPid;
        for (const Statistics::WorkerInfo &info : pool.statistics().workerInfo)
            byPid.insert(info.pid, info);
        return byPid;
    };
    const auto allIdle = [&states] {
        const auto now = states();
        return now.size() == 2 && std::all_of(now.begin(), now.end(), [](const auto &info) {
                   return info.state == State::Idle;
               });
    };
    QTRY_VERIFY_WITH_TIMEOUT(allIdle(), Generous);
    const QList<qint64> pids = pool.workerPids();
    const auto initial = states();
    QCOMPARE(QSet<qint64>(pids.begin(), pids.end()),
             QSet<qint64>(initial.keyBegin(), initial.keyEnd()));

    QFuture<int> slow = pool.run(sleepThenSquare, 60000, 2);
    QTRY_VERIFY_WITH_TIMEOUT(pool.runningTaskCount() == 1, Generous);
    auto now = states();
    const qint64 busyPid = [&] {
        for (const auto &info : now)
            if (info.state == State::Busy)
                return info.pid;
        return qint64(0);
    }();
    QVERIFY(busyPid != 0);
    const qint64 idlePid = pids.first() == busyPid ? pids.last() : pids.first();
    QCOMPARE(now.value(idlePid).state, State::Idle);
    for (int i = 0; i < 5; ++i)
        QCOMPARE(pool.run(square, i).result(), i * i); // all on the idle worker
    QTRY_COMPARE_WITH_TIMEOUT(states().value(idlePid).tasksDone, qint64(5), Generous);
    QCOMPARE(states().value(busyPid).tasksDone, qint64(0));

    // Canceled past its grace period, the busy worker is killed: it shows as
    // retiring until reaped, then disappears, and a replacement starts.
    pool.setCancelGracePeriod(0ms);
    slow.cancel();
    QTRY_VERIFY_WITH_TIMEOUT(!states().contains(busyPid), Generous);
    QTRY_COMPARE_WITH_TIMEOUT(states().size(), 2, Generous);
    QVERIFY(states().contains(idlePid));
}

void TestLifecycle::lentWorkerChainsRoundTrips()
{
    // One task at a time, each submitted from the previous one's continuation
    // (the pool's thread, while the engine has just gone idle).
    ProcessPool pool;
    pool.setMaxWorkers(2);
    QObject context;
    constexpr int Count = 500;
    int done = 0;
    int wrong = 0;
    std::function<void()> next = [&] {
        const int i = done;
        pool.run(square, i).then(&context, [&, i](int value) {
            wrong += value != i * i;
            if (++done < Count)
                next();
        });
    };
    next();
    QTRY_COMPARE_WITH_TIMEOUT(done, Count, Generous);
    QCOMPARE(wrong, 0);
    QVERIFY(pool.waitForDone(Generous));
    const Statistics stats = pool.statistics();
    QCOMPARE(stats.submitted, qint64(Count));
    QCOMPARE(stats.finished, qint64(Count));
    QCOMPARE(pool.queuedTaskCount(), 0);
    QCOMPARE(pool.runningTaskCount(), 0);
}

void TestLifecycle::lentWorkerCrashFailsOnlyItsTask()
{
    ProcessPool pool;
    pool.setMaxWorkers(1);
    for (int round = 0; round < 5; ++round) {
        QCOMPARE(pool.run(square, 3).result(), 9); // the worker is idle (lent) after this
        QFuture<int> crash = pool.run(crashSegv);
        QVERIFY(finishes(crash));
        try {
            crash.waitForFinished();
            QFAIL("a crashing task finished");
        } catch (const TaskError &error) {
            QCOMPARE(error.kind(), TaskError::Kind::Crashed);
        }
    }
    // Each crash killed one worker and was not run again on another.
    QTRY_COMPARE_WITH_TIMEOUT(pool.statistics().workersCrashed, qint64(5), Generous);
    QCOMPARE(pool.statistics().failedByKind.value(TaskError::Kind::Crashed), qint64(5));
    QCOMPARE(pool.run(square, 4).result(), 16);
}

void TestLifecycle::lentWorkerKilledWhileIdle()
{
    // The idle worker dies just before a task is written to it: the task runs
    // on its replacement, whether the write failed or reached the dead socket.
    ProcessPool pool;
    pool.setMaxWorkers(1);
    for (int round = 0; round < 20; ++round) {
        QCOMPARE(pool.run(square, round).result(), round * round);
        const QList<qint64> pids = pool.workerPids();
        QCOMPARE(pids.size(), 1);
        QCOMPARE(::kill(pid_t(pids.first()), SIGKILL), 0);
        if (round % 2)
            QThread::msleep(5); // sometimes dead for sure, sometimes still dying
        QFuture<int> after = pool.run(square, round + 1);
        QVERIFY(finishes(after));
        QCOMPARE(after.result(), (round + 1) * (round + 1));
    }
    QVERIFY(pool.waitForDone(Generous));
}

void TestLifecycle::lentWorkerTaskCanceled()
{
    ProcessPool pool;
    pool.setMaxWorkers(1);
    pool.setCancelGracePeriod(std::chrono::milliseconds(100));
    for (int round = 0; round < 10; ++round) {
        QCOMPARE(pool.run(square, 2).result(), 4);
        QFuture<int> slow = pool.run(sleepThenSquare, 5000, 3);
        if (round % 2)
            QThread::msleep(20); // running by now
        slow.cancel();
        QVERIFY(finishes(slow));
        QVERIFY(slow.isCanceled());
    }
    QVERIFY(pool.waitForDone(Generous));
    QCOMPARE(pool.run(square, 5).result(), 25);
}

QPP_TEST_MAIN(TestLifecycle)

#include "tst_lifecycle.moc"
