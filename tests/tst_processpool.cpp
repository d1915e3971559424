// SPDX-License-Identifier: MIT
// Integration tests: real worker processes (this binary in worker mode).
#include "headertask_runners.h"
#include "tasks.h"
#include "testmain.h"
#include "testutil.h"

#include <QtProcessPool/ProcessPool>

#include <QtCore/QDir>
#include <QtCore/QElapsedTimer>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtCore/QFutureWatcher>
#include <QtCore/QProcess>
#include <QtCore/QSet>
#include <QtCore/QTemporaryDir>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace QtProcessPool;
using namespace TestTasks;
using namespace std::chrono_literals;

using namespace TestUtil;

class TestProcessPool : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void resultTypes();
    void argumentsAreConvertedAndCopiedAtCall();
    void callableKinds();
    void promiseTaskResults();
    void runNamed();
    void unknownTask();
    void headerRegisteredStaticTask();
    void badArguments();
    void dedicatedWorkerProgram();
    void workerRunsCoreApplication();
    void exceptions_data();
    void exceptions();
    void errorsReachHandlersAndResult();
    void crashFailsOnlyItsTask_data();
    void crashFailsOnlyItsTask();
    void killedFromOutside();
    void startFailure_data();
    void startFailure();
    void startFailureDoesNotSpin();
    void destructionStopsEverything();
    void destructionOfIdlePool();
    void resultOnPoolThreadReturns();
    void continuationsAndSignalsOnPoolThread();
    void thousandMixedTasks();
    void bigResult();
    void largePayloadsGoThroughSharedMemory();
    void receivedPayloadsOutliveThePool();
    void idleWorkersSleep();
    void pacedDeliveriesLoseNothing();
    void blockingWaitsAreNotPaced();
    void resultOverMessageLimit();
    void hostileValuesFailCleanly();
    void socketDirectory_data();
    void socketDirectory();
    void staleSocketDirectoriesAreRemoved();
    void descriptorsDoNotLeakIntoWorkers();
    void settingsAndProperties();
    void queueFull();
};

void TestProcessPool::resultTypes()
{
    ProcessPool pool;
    pool.setMaxWorkers(2);

    QCOMPARE(pool.run(square, 12).result(), 144);
    QCOMPARE(pool.run(scale, 1.5, 4.0).result(), 6.0);
    QCOMPARE(pool.run(greet, QStringLiteral("Zoë ✓")).result(), QStringLiteral("hello, Zoë ✓"));
    QCOMPARE(pool.run(reversed, QByteArray("abc\0d", 5)).result(), QByteArray("d\0cba", 5));
    QCOMPARE(pool.run(doubled, QList<int>{1, 2, 3}).result(), (QList<int>{2, 4, 6}));
    const QMap<QString, int> lengths{{QStringLiteral("a"), 1}, {QStringLiteral("bcd"), 3}};
    QCOMPARE(pool.run(wordLengths, QStringLiteral("a bcd a")).result(), lengths);
    QHash<QString, QList<double>> hash;
    hash.insert(QStringLiteral("x"), {1.0, 3.0});
    hash.insert(QStringLiteral("y"), {});
    QHash<QString, QList<double>> halved;
    halved.insert(QStringLiteral("x"), {0.5, 1.5});
    halved.insert(QStringLiteral("y"), {});
    QCOMPARE(pool.run(halves, hash).result(), halved);

    const QVariantMap map{{QStringLiteral("name"), QStringLiteral("n")},
                          {QStringLiteral("list"), QVariantList{1, QStringLiteral("two")}}};
    const QVariantMap described = pool.run(describe, map).result();
    QCOMPARE(described.value(QStringLiteral("name")).toString(), QStringLiteral("n"));
    QCOMPARE(described.value(QStringLiteral("list")).toList().size(), 2);
    QCOMPARE(described.value(QStringLiteral("keys")).toInt(), 2);
    QVERIFY(described.value(QStringLiteral("pid")).toLongLong() !=
            QCoreApplication::applicationPid());

    const Point moved = pool.run(movePoint, Point{1, QStringLiteral("p")}, 41).result();
    QCOMPARE(moved, (Point{42, QStringLiteral("p moved")}));

    QFuture<void> nothing = pool.run(doNothing, 5);
    static_assert(std::is_same_v<decltype(nothing), QFuture<void>>);
    QVERIFY(finishes(nothing));
    QVERIFY(!errorOf(nothing));
    QVERIFY(!nothing.isCanceled());
}

void TestProcessPool::argumentsAreConvertedAndCopiedAtCall()
{
    ProcessPool pool;
    // int -> double, const char * -> QString: converted to the parameter types.
    QCOMPARE(pool.run(scale, 3, 2).result(), 6.0);
    QCOMPARE(pool.run(greet, "bob").result(), QStringLiteral("hello, bob"));

    // Serialized at the call: later changes do not reach the task.
    QString name = QStringLiteral("first");
    QFuture<QString> future = pool.run(greet, name);
    name = QStringLiteral("second");
    QCOMPARE(future.result(), QStringLiteral("hello, first"));

    // A non-const reference parameter gets the worker's own copy.
    QString text = QStringLiteral("hi");
    QCOMPARE(pool.run(appendBang, text).result(), QStringLiteral("hi!"));
    QCOMPARE(text, QStringLiteral("hi"));
}

void TestProcessPool::callableKinds()
{
    ProcessPool pool;
    QCOMPARE(pool.run(&MathTasks::cube, 3).result(), 27); // static member
    QCOMPARE(pool.run(Multiplier{}, 6, 7).result(), 42);  // function object, by type
    QCOMPARE(pool.runNamed<int>(QStringLiteral("add"), 40, 2).result(), 42); // lambda, by name
    QCOMPARE(pool.runNamed<int>(QStringLiteral("multiply"), 3, 5).result(), 15);
    QCOMPARE(pool.runNamed<int>(QStringLiteral("MathTasks::cube"), 2).result(), 8);
}

void TestProcessPool::promiseTaskResults()
{
    ProcessPool pool;
    QFuture<int> future = pool.run(countTo, 5);
    QVERIFY(finishes(future));
    QCOMPARE(future.results(), (QList<int>{1, 2, 3, 4, 5}));
}

void TestProcessPool::runNamed()
{
    ProcessPool pool;
    QCOMPARE(pool.runNamed<int>(QStringLiteral("square"), 9).result(), 81);
    QCOMPARE(pool.runNamed<QString>(QStringLiteral("greet"), "literal").result(),
             QStringLiteral("hello, literal"));
    QFuture<void> v = pool.runNamed<void>(QStringLiteral("doNothing"), 1);
    QVERIFY(finishes(v));
    QVERIFY(!errorOf(v));
}

void TestProcessPool::unknownTask()
{
    ProcessPool pool;
    auto unregistered = pool.run(notRegistered, 1);
    QVERIFY(unregistered.isFinished()); // failed at once, no worker involved
    auto e = errorOf(unregistered);
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::UnknownTask);
    QCOMPARE(e->workerPid(), 0);

    // A lambda is identified by its type: a new lambda is a new, unregistered task.
    e = errorOf(pool.run([](int x) { return x; }, 1));
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::UnknownTask);

    e = errorOf(pool.runNamed<int>(QStringLiteral("no such task"), 1));
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::UnknownTask);
    QVERIFY2(e->message().contains(QStringLiteral("no such task")), qPrintable(e->message()));
    QVERIFY(e->workerPid() > 0);
    QCOMPARE(pool.queuedTaskCount() + pool.runningTaskCount(), 0);
}

void TestProcessPool::headerRegisteredStaticTask()
{
    // Two copies of one `static` function, one name: the first registered
    // is the task, and the other copy is refused with an error that says why.
    ProcessPool pool;
    QFuture<int> a = runHeaderTripleA(pool, 5);
    QFuture<int> b = runHeaderTripleB(pool, 5);
    const auto errorA = errorOf(a);
    const auto errorB = errorOf(b);
    QVERIFY(!errorA != !errorB); // exactly one of the two is the task
    QFuture<int> &works = errorA ? b : a;
    QCOMPARE(works.result(), 15);
    const auto &refused = errorA ? errorA : errorB;
    QCOMPARE(refused->kind(), TaskError::Kind::UnknownTask);
    QVERIFY2(refused->message().contains(QStringLiteral("registered as 'headerTriple'")),
             qPrintable(refused->message()));
    QVERIFY2(refused->message().contains(QStringLiteral("header")), qPrintable(refused->message()));
    QCOMPARE(refused->workerPid(), 0); // known here: no worker involved
}

void TestProcessPool::badArguments()
{
    ProcessPool pool;
    // Known locally: refused before anything is sent.
    auto e = errorOf(pool.runNamed<int>(QStringLiteral("square"), 2.5));
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::BadArguments);
    QVERIFY2(e->message().contains(QStringLiteral("(int)")), qPrintable(e->message()));
    e = errorOf(pool.runNamed<QString>(QStringLiteral("square"), 2));
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::BadArguments);
    e = errorOf(pool.runNamed<int>(QStringLiteral("square"), 2, 3));
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::BadArguments);
    // The pool still works afterwards.
    QCOMPARE(pool.run(square, 3).result(), 9);
}

void TestProcessPool::dedicatedWorkerProgram()
{
    ProcessPool pool;
    pool.setWorkerProgram(QStringLiteral(QPP_DEDICATED_WORKER));
    QCOMPARE(pool.workerProgram(), QStringLiteral(QPP_DEDICATED_WORKER));
    // Only the worker knows this task: the worker checks the signature.
    QCOMPARE(pool.runNamed<int>(QStringLiteral("onlyInWorker"), 4.2).result(), 42);

    auto e = errorOf(pool.runNamed<int>(QStringLiteral("onlyInWorker"), 4));
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::BadArguments);
    QVERIFY2(e->message().contains(QStringLiteral("(double)")), qPrintable(e->message()));
    QVERIFY(e->workerPid() > 0);
    e = errorOf(pool.runNamed<QString>(QStringLiteral("onlyInWorker"), 1.0));
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::BadArguments);

    // Same name, different signature on each side: detected, never decoded.
    e = errorOf(pool.run(square, 3));
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::BadArguments);

    // The test binary's tasks do not exist there.
    e = errorOf(pool.run(greet, QStringLiteral("x")));
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::UnknownTask);
    QCOMPARE(pool.workerCount(), 1); // the same worker served all of that
}

void TestProcessPool::workerRunsCoreApplication()
{
    ProcessPool pool;
    QCOMPARE(pool.run(applicationClass).result(), QStringLiteral("QCoreApplication"));
}

void TestProcessPool::exceptions_data()
{
    QTest::addColumn<int>("which");
    QTest::addColumn<QString>("message");
    QTest::addColumn<QString>("type");
    QTest::newRow("std::runtime_error") << 0 << "bad input ✗"
                                        << "std::runtime_error";
    QTest::newRow("user exception class") << 1 << "custom failure"
                                          << "TestTasks::CustomError";
    QTest::newRow("thrown int") << 2 << "the task threw an exception of type int"
                                << "int";
    QTest::newRow("thrown struct")
        << 3 << "the task threw an exception of type TestTasks::NotAnException"
        << "TestTasks::NotAnException";
}

void TestProcessPool::exceptions()
{
    QFETCH(int, which);
    QFETCH(QString, message);
    QFETCH(QString, type);
    ProcessPool pool;
    QFuture<int> future;
    switch (which) {
    case 0:
        future = pool.run(throwRuntime, message);
        break;
    case 1:
        future = pool.run(throwCustom);
        break;
    case 2:
        future = pool.run(throwInt);
        break;
    default:
        future = pool.run(throwNonStd);
        break;
    }
    const auto e = errorOf(future);
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::Exception);
    QCOMPARE(e->message(), message);
    QCOMPARE(QString::fromUtf8(e->what()), message);
    QCOMPARE(e->remoteType(), type);
    QVERIFY(e->workerPid() > 0);
    // The worker survives a throwing task.
    QCOMPARE(pool.run(workerPid).result(), e->workerPid());
}

void TestProcessPool::errorsReachHandlersAndResult()
{
    ProcessPool pool;
    QVERIFY_THROWS_EXCEPTION(TaskError, pool.run(throwRuntime, QStringLiteral("x")).result());

    std::optional<TaskError> handled;
    QFuture<int> chained = pool.run(throwRuntime, QStringLiteral("boom"))
                               .then(this, [](int v) { return v + 1; })
                               .onFailed(this, [&](const TaskError &error) {
                                   handled = error;
                                   return -1;
                               });
    QVERIFY(finishes(chained));
    QCOMPARE(chained.result(), -1);
    QVERIFY(handled);
    QCOMPARE(handled->kind(), TaskError::Kind::Exception);
    QCOMPARE(handled->message(), QStringLiteral("boom"));

    // clone()/raise() keep the kind and details (QFuture copies exceptions through them).
    const TaskError original(TaskError::Kind::Crashed, QStringLiteral("m"), QStringLiteral("t"), 9);
    std::unique_ptr<TaskError> copy(original.clone());
    QCOMPARE(copy->kind(), TaskError::Kind::Crashed);
    QCOMPARE(copy->workerPid(), 9);
    QVERIFY_THROWS_EXCEPTION(TaskError, copy->raise());
}

void TestProcessPool::crashFailsOnlyItsTask_data()
{
    QTest::addColumn<QString>("task");
    QTest::addColumn<QString>("expected");
    QTest::newRow("segfault") << "crashSegv"
                              << "SIGSEGV";
    QTest::newRow("abort") << "crashAbort"
                           << "SIGABRT";
    QTest::newRow("_Exit(3)") << "crashExit"
                              << "exited with code 3";
}

void TestProcessPool::crashFailsOnlyItsTask()
{
    QFETCH(QString, task);
    QFETCH(QString, expected);
    ProcessPool pool;
    pool.setMaxWorkers(2);
    QSignalSpy crashed(&pool, &ProcessPool::workerCrashed);

    QFuture<int> slow = pool.run(sleepThenSquare, 1500, 3); // on the other worker
    QFuture<int> crash =
        task == QLatin1String("crashExit") ? pool.runNamed<int>(task, 3) : pool.runNamed<int>(task);
    QList<QFuture<int>> queued;
    for (int i = 0; i < 6; ++i)
        queued.append(pool.run(square, i));

    const auto e = errorOf(crash);
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::Crashed);
    QVERIFY2(e->message().contains(expected), qPrintable(e->message()));
    QVERIFY2(e->message().contains(task), qPrintable(e->message()));
    QVERIFY(e->workerPid() > 0);

    QCOMPARE(slow.result(), 9);
    for (int i = 0; i < queued.size(); ++i)
        QCOMPARE(queued[i].result(), i * i);
    QTRY_COMPARE_WITH_TIMEOUT(crashed.size(), 1, Generous);
    QCOMPARE(crashed.at(0).at(0).toLongLong(), e->workerPid());
    QVERIFY(crashed.at(0).at(1).toString().contains(expected));
    QVERIFY(!pool.workerPids().contains(e->workerPid()));
    QVERIFY(processGone(e->workerPid()));
}

void TestProcessPool::killedFromOutside()
{
    ProcessPool pool;
    pool.setMaxWorkers(1);
    QFuture<int> stuck = pool.run(sleepForever);
    QFuture<int> next = pool.run(square, 5);
    QTRY_COMPARE_WITH_TIMEOUT(pool.runningTaskCount(), 1, Generous);
    const QList<qint64> pids = pool.workerPids();
    QCOMPARE(pids.size(), 1);
    QCOMPARE(::kill(pid_t(pids.first()), SIGKILL), 0);

    const auto e = errorOf(stuck);
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::Crashed);
    QVERIFY2(e->message().contains(QStringLiteral("SIGKILL")), qPrintable(e->message()));
    QCOMPARE(next.result(), 25); // on a replacement worker
    QVERIFY(!pool.workerPids().contains(pids.first()));
}

void TestProcessPool::startFailure_data()
{
    QTest::addColumn<QString>("program");
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QString>("expected");
    QTest::newRow("missing program")
        << "/nonexistent/qtprocesspool-worker" << QStringList() << "failed to start";
    QTest::newRow("exits at once")
        << "/bin/sh" << QStringList{"-c", "exit 4"} << "exited with code 4";
    QTest::newRow("never connects")
        << "/bin/sh" << QStringList{"-c", "exec sleep 60"} << "did not connect within 500 ms";
}

void TestProcessPool::startFailure()
{
    QFETCH(QString, program);
    QFETCH(QStringList, arguments);
    QFETCH(QString, expected);
    ProcessPool pool;
    pool.setMaxWorkers(2);
    pool.setWorkerStartTimeout(500ms);
    pool.setWorkerProgram(program, arguments);
    QElapsedTimer timer;
    timer.start();
    QList<QFuture<int>> futures;
    for (int i = 0; i < 5; ++i)
        futures.append(pool.run(square, i));
    for (const QFuture<int> &future : futures) {
        QVERIFY(finishes(future, 30000));
        const auto e = errorOf(future);
        QVERIFY(e);
        QCOMPARE(e->kind(), TaskError::Kind::WorkerStartFailed);
        QVERIFY2(e->message().contains(expected), qPrintable(e->message()));
    }
    QVERIFY2(timer.elapsed() < 20000, "start failure took too long");
    // A worker started in parallel may still be waiting for its own start timeout; it is
    // not restarted once nothing is waiting for it.
    QTRY_COMPARE_WITH_TIMEOUT(pool.workerCount(), 0, 10000);
    QCOMPARE(pool.queuedTaskCount(), 0);
}

void TestProcessPool::startFailureDoesNotSpin()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString log = dir.filePath(QStringLiteral("starts"));
    ProcessPool pool;
    pool.setMaxWorkers(1);
    pool.setWorkerProgram(QStringLiteral("/bin/sh"),
                          {QStringLiteral("-c"),
                           QStringLiteral("echo x >> '%1'; exit 1").arg(log)});
    // Keep asking for two seconds; without back-off this would start ~50 workers.
    QElapsedTimer timer;
    timer.start();
    int failed = 0;
    while (timer.elapsed() < 2000) {
        QFuture<int> future = pool.run(square, 1);
        QVERIFY(finishes(future, 30000));
        const auto e = errorOf(future);
        QVERIFY(e);
        QCOMPARE(e->kind(), TaskError::Kind::WorkerStartFailed);
        ++failed;
    }
    QFile file(log);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const int starts = int(file.readAll().count('\n'));
    QVERIFY2(starts >= 1 && starts <= 6, qPrintable(QString::number(starts)));
    QVERIFY(failed >= 1);
}

void TestProcessPool::destructionStopsEverything()
{
    auto pool = std::make_unique<ProcessPool>();
    pool->setMaxWorkers(2);
    QList<QFuture<int>> futures;
    futures << pool->run(sleepForever) << pool->run(sleepForever);
    for (int i = 0; i < 3; ++i)
        futures << pool->run(square, i);
    QTRY_COMPARE_WITH_TIMEOUT(pool->runningTaskCount(), 2, Generous);
    const QList<qint64> pids = pool->workerPids();
    QCOMPARE(pids.size(), 2);

    QElapsedTimer timer;
    timer.start();
    pool.reset();
    QVERIFY2(timer.elapsed() < 3000, qPrintable(QString::number(timer.elapsed())));
    for (const QFuture<int> &future : futures) {
        QVERIFY(future.isFinished());
        QVERIFY(future.isCanceled());
    }
    for (qint64 pid : pids)
        QVERIFY2(processGone(pid), qPrintable(QString::number(pid)));
}

void TestProcessPool::destructionOfIdlePool()
{
    auto pool = std::make_unique<ProcessPool>();
    QCOMPARE(pool->run(square, 2).result(), 4);
    const QList<qint64> pids = pool->workerPids();
    QCOMPARE(pids.size(), 1);
    QElapsedTimer timer;
    timer.start();
    pool.reset();
    QVERIFY(timer.elapsed() < 3000);
    QVERIFY(processGone(pids.first()));
}

void TestProcessPool::resultOnPoolThreadReturns()
{
    ProcessPool pool;
    // No event loop runs here: the I/O thread alone must fulfil the future.
    QFuture<int> future = pool.run(sleepThenSquare, 100, 6);
    future.waitForFinished();
    QCOMPARE(future.result(), 36);
    QCOMPARE(pool.run(square, 7).result(), 49);
}

void TestProcessPool::continuationsAndSignalsOnPoolThread()
{
    ProcessPool pool;
    QThread *const poolThread = QThread::currentThread();
    QList<QThread *> signalThreads;
    const auto record = [&] { signalThreads.append(QThread::currentThread()); };
    connect(&pool, &ProcessPool::workerStarted, this, record, Qt::DirectConnection);
    connect(&pool, &ProcessPool::workerCrashed, this, record, Qt::DirectConnection);
    connect(&pool, &ProcessPool::queuedTaskCountChanged, this, record, Qt::DirectConnection);
    connect(&pool, &ProcessPool::busyWorkerCountChanged, this, record, Qt::DirectConnection);
    connect(&pool, &ProcessPool::idle, this, record, Qt::DirectConnection);

    QThread *thenThread = nullptr;
    QThread *failedThread = nullptr;
    QFuture<int> chained = pool.run(square, 4).then(this, [&](int v) {
        thenThread = QThread::currentThread();
        return v + 1;
    });
    QFuture<int> failed = pool.run(crashExit, 1).onFailed(this, [&](const TaskError &) {
        failedThread = QThread::currentThread();
        return 0;
    });
    QVERIFY(finishes(chained));
    QVERIFY(finishes(failed));
    QCOMPARE(chained.result(), 17);
    QCOMPARE(thenThread, poolThread);
    QCOMPARE(failedThread, poolThread);
    QVERIFY(pool.waitForDone(Generous));
    QTRY_VERIFY_WITH_TIMEOUT(signalThreads.size() >= 4, Generous);
    for (QThread *thread : signalThreads)
        QCOMPARE(thread, poolThread);
}

void TestProcessPool::thousandMixedTasks()
{
    ProcessPool pool;
    pool.setMaxWorkers(2);
    QSignalSpy idle(&pool, &ProcessPool::idle);
    constexpr int Count = 1000;
    std::vector<std::unique_ptr<QFutureWatcher<int>>> watchers;
    std::vector<int> finishedCount(Count, 0);
    QList<QFuture<void>> voids;
    int crashes = 0;
    for (int i = 0; i < Count; ++i) {
        QFuture<int> future;
        if (i % 250 == 100) {
            future = pool.run(crashExit, 9);
            ++crashes;
        } else if (i % 10 == 3) {
            future = pool.run(throwRuntime, QString::number(i));
        } else if (i % 10 == 7) {
            voids.append(pool.run(doNothing, i));
            future = pool.run(square, i);
        } else {
            future = pool.run(square, i);
        }
        auto watcher = std::make_unique<QFutureWatcher<int>>();
        connect(watcher.get(), &QFutureWatcher<int>::finished, this,
                [&finishedCount, i] { ++finishedCount[size_t(i)]; });
        watcher->setFuture(future);
        watchers.push_back(std::move(watcher));
    }
    QVERIFY(pool.waitForDone(300000));
    QTRY_VERIFY_WITH_TIMEOUT(std::all_of(finishedCount.begin(), finishedCount.end(),
                                         [](int n) { return n >= 1; }),
                             Generous);
    QTest::qWait(200); // any duplicate notification would arrive by now
    int crashed = 0;
    for (int i = 0; i < Count; ++i) {
        QCOMPARE(finishedCount[size_t(i)], 1);
        const QFuture<int> future = watchers[size_t(i)]->future();
        const auto e = errorOf(future);
        if (i % 250 == 100) {
            QVERIFY(e);
            QCOMPARE(e->kind(), TaskError::Kind::Crashed);
            ++crashed;
        } else if (i % 10 == 3) {
            QVERIFY(e);
            QCOMPARE(e->kind(), TaskError::Kind::Exception);
            QCOMPARE(e->message(), QString::number(i));
        } else {
            QVERIFY(!e);
            QCOMPARE(future.result(), i * i);
        }
    }
    QCOMPARE(crashed, crashes);
    for (const QFuture<void> &v : voids) {
        QVERIFY(v.isFinished());
        QVERIFY(!errorOf(v));
    }
    QVERIFY(idle.size() >= 1);
    QCOMPARE(pool.queuedTaskCount(), 0);
    QCOMPARE(pool.runningTaskCount(), 0);
    QVERIFY(pool.workerCount() <= 2);
}

void TestProcessPool::bigResult()
{
    ProcessPool pool;
    constexpr int Size = 64 * 1024 * 1024;
    const QByteArray bytes = pool.run(TestTasks::bigResult, Size).result();
    QCOMPARE(bytes.size(), Size);
    QCOMPARE(bytes.at(0), char(0));
    QCOMPARE(bytes.at(Size - 1), char((Size - 1) % 251));
}

/// The memfds of payload arenas a process has mapped (Linux), by inode.
static QSet<QByteArray> arenaInodes(qint64 pid)
{
    QSet<QByteArray> inodes;
    QFile maps(QStringLiteral("/proc/%1/maps").arg(pid));
    if (!maps.open(QIODevice::ReadOnly))
        return inodes;
    for (const QByteArray &line : maps.readAll().split('\n')) {
        if (line.contains("qtprocesspool-arena"))
            inodes.insert(line.simplified().split(' ').value(4));
    }
    return inodes;
}

void TestProcessPool::largePayloadsGoThroughSharedMemory()
{
    ProcessPool pool;
    pool.setMaxWorkers(1);
    // Small payloads travel inline.
    QCOMPARE(pool.run(reversed, QByteArray("abc")).result(), QByteArray("cba"));
    QCOMPARE(pool.statistics().sharedMemoryTransfers, 0);
    // Large ones -- arguments and result -- through shared memory (Linux),
    // byte for byte.
    const QByteArray big = patternBytes(3 * 1024 * 1024 + 7, 1);
    QCOMPARE(pool.run(reversed, big).result(), reversed(big));
    qint64 expected = 0; // inline where there is no side channel (the portable build)
#if defined(Q_OS_LINUX) && !defined(QPP_PORTABLE)
    expected = 2;
#endif
    QCOMPARE(pool.statistics().sharedMemoryTransfers, expected);
    // A chunk of mapped() with large items, both ways.
    QList<QByteArray> items;
    for (int i = 0; i < 6; ++i)
        items.append(patternBytes(200 * 1024 + i, i));
    const QList<QByteArray> mapped = pool.mapped(reversed, items, 3).results();
    QCOMPARE(mapped.size(), items.size());
    for (int i = 0; i < items.size(); ++i)
        QCOMPARE(mapped[i], reversed(items[i]));
    // Large results streamed by a QPromise task, in order.
    const QList<QByteArray> chunks = pool.run(bigChunks, 5, 1024 * 1024).results();
    QCOMPARE(chunks.size(), 5);
    for (int i = 0; i < chunks.size(); ++i)
        QVERIFY(chunks[i] == patternBytes(1024 * 1024, i));
#if defined(Q_OS_LINUX) && !defined(QPP_PORTABLE)
    QVERIFY(pool.statistics().sharedMemoryTransfers >= expected + 4);
    // All of them through the two arenas, one each way, mapped once on both
    // sides: the pool and its worker map the same two memfds, and no others.
    const auto workers = pool.statistics().workerInfo;
    QCOMPARE(workers.size(), 1);
    const QSet<QByteArray> ours = arenaInodes(QCoreApplication::applicationPid());
    QCOMPARE(ours.size(), 2);
    QCOMPARE(arenaInodes(workers.first().pid), ours);
#else
    QCOMPARE(pool.statistics().sharedMemoryTransfers, 0);
#endif
    QCOMPARE(pool.run(square, 5).result(), 25); // and on it goes
}

void TestProcessPool::receivedPayloadsOutliveThePool()
{
    // Large results are read in place (views of the worker's arena). One
    // kept holds its space: later ones take another way, all byte for byte;
    // and every one stays valid after the worker and the pool are gone.
    const QByteArray big = patternBytes(5 * 1024 * 1024 + 3, 2);
    QByteArray kept;
    QList<QByteArray> later;
    {
        ProcessPool pool;
        pool.setMaxWorkers(1);
        kept = pool.run(reversed, big).result();
        QCOMPARE(kept, reversed(big));
        for (int i = 0; i < 4; ++i) {
            later.append(pool.run(reversed, patternBytes(3 * 1024 * 1024 + i, i)).result());
            QCOMPARE(later.last(), reversed(patternBytes(3 * 1024 * 1024 + i, i)));
        }
        QByteArray changed = later.first(); // a copy of its own once written
        changed[0] = char(changed[0] + 1);
        QCOMPARE(later.first(), reversed(patternBytes(3 * 1024 * 1024, 0)));
    }
    QCOMPARE(kept, reversed(big));
    for (int i = 0; i < 4; ++i)
        QCOMPARE(later[i], reversed(patternBytes(3 * 1024 * 1024 + i, i)));
    kept.append("!"); // detaches: never in place
    QCOMPARE(kept.chopped(1), reversed(big));
}

/// Context switches so far of every thread of a process (Linux), or -1.
static qint64 contextSwitches(qint64 pid)
{
    const QDir tasks(QStringLiteral("/proc/%1/task").arg(pid));
    if (!tasks.exists())
        return -1;
    qint64 total = 0;
    for (const QString &tid : tasks.entryList(QDir::Dirs | QDir::NoDotAndDotDot)) {
        QFile status(tasks.filePath(tid + QStringLiteral("/status")));
        if (!status.open(QIODevice::ReadOnly))
            continue; // a thread that just ended
        for (const QByteArray &line : status.readAll().split('\n')) {
            if (line.contains("ctxt_switches:"))
                total += line.split(':').value(1).trimmed().toLongLong();
        }
    }
    return total;
}

void TestProcessPool::idleWorkersSleep()
{
#ifndef Q_OS_LINUX
    QSKIP("counts context switches in /proc (Linux)");
#else
    // After a burst of quick tasks (the worker keeps its long-task timer
    // armed from task to task), an idle worker stops waking up: its timer
    // disarms itself, and nothing else ticks.
    ProcessPool pool;
    pool.setMaxWorkers(1);
    for (int i = 0; i < 200; ++i)
        QCOMPARE(pool.run(square, i).result(), i * i);
    const qint64 pid = pool.statistics().workerInfo.value(0).pid;
    QVERIFY(pid > 0);
    QTest::qWait(100); // two periods of the timer, and then some
    const qint64 before = contextSwitches(pid);
    QTest::qWait(500);
    const qint64 after = contextSwitches(pid);
    QVERIFY(before >= 0 && after >= before);
    // A timer left ticking every 2 ms would make about 250.
    QVERIFY2(after - before < 25, qPrintable(QString::number(after - before)));
    QCOMPARE(pool.run(square, 7).result(), 49); // and it wakes for the next task
#endif
}

void TestProcessPool::pacedDeliveriesLoseNothing()
{
    // Far more results than one delivery window: reading pauses while the
    // continuations queued on this thread run, and every one of them runs,
    // once, with its own result.
    ProcessPool pool;
    pool.setMaxWorkers(2);
    constexpr int Count = 6000;
    QList<int> seen(Count, 0);
    int continuations = 0;
    for (int i = 0; i < Count; ++i) {
        pool.run(square, i).then(this, [&, i](int value) {
            QCOMPARE(value, i * i);
            ++seen[i];
            ++continuations;
        });
    }
    QTRY_COMPARE_WITH_TIMEOUT(continuations, Count, Generous);
    QVERIFY(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));
    QVERIFY(pool.waitForDone(Generous));
}

void TestProcessPool::blockingWaitsAreNotPaced()
{
    // This thread blocks without running its event loop, so no delivery
    // marker comes back: reading must not wait for it (no deadlock, and the
    // results of the last tasks arrive).
    ProcessPool pool;
    pool.setMaxWorkers(2);
    constexpr int Count = 6000;
    QList<QFuture<int>> futures;
    int continuations = 0;
    for (int i = 0; i < Count; ++i)
        futures.append(pool.run(square, i).then(this, [&](int value) {
            ++continuations;
            return value;
        }));
    QFuture<int> last = pool.run(square, 12345);
    QCOMPARE(last.result(), 12345 * 12345); // blocks this thread
    QCOMPARE(continuations, 0);             // none could run yet: this thread was blocked
    QVERIFY(pool.waitForDone(Generous));    // runs an event loop
    QTRY_COMPARE_WITH_TIMEOUT(continuations, Count, Generous);
    for (int i = 0; i < Count; ++i)
        QCOMPARE(futures[i].result(), i * i);
}

void TestProcessPool::hostileValuesFailCleanly()
{
    ProcessPool pool;
    pool.setMaxWorkers(1);
    // A result announcing two billion strings, whose operator>> then throws, as
    // it is decoded on the pool's I/O thread: the task fails; the application lives.
    auto e = errorOf(pool.run(makeHugeCount));
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::ProtocolError);
    QVERIFY2(e->message().contains(QStringLiteral("does not decode")), qPrintable(e->message()));
    // Arguments announcing as many: the worker refuses them before the task runs.
    e = errorOf(pool.run(countItems, HugeCount{}));
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::BadArguments);
    QCOMPARE(pool.run(square, 3).result(), 9);
}

namespace {
/// The pool's socket path, from a worker's command line.
QString socketPathOf(ProcessPool &pool)
{
    const QStringList arguments = pool.run(workerArguments).result();
    const qsizetype flag = arguments.indexOf(QStringLiteral("--qtprocesspool-worker"));
    return flag >= 0 ? arguments.value(flag + 1) : QString();
}

/// Sets an environment variable for the lifetime of the object.
class ScopedEnvironment
{
public:
    ScopedEnvironment(const char *name, const QByteArray &value)
        : m_name(name)
        , m_old(qgetenv(name))
        , m_had(qEnvironmentVariableIsSet(name))
    {
        qputenv(name, value);
    }
    ~ScopedEnvironment()
    {
        if (m_had)
            qputenv(m_name, m_old);
        else
            qunsetenv(m_name);
    }

private:
    const char *m_name;
    QByteArray m_old;
    bool m_had;
};
} // namespace

void TestProcessPool::socketDirectory_data()
{
    QTest::addColumn<int>("runtimeDirMode");
    QTest::addColumn<bool>("used");
    QTest::newRow("private XDG_RUNTIME_DIR is used") << 0700 << true;
    QTest::newRow("group-readable XDG_RUNTIME_DIR is not") << 0750 << false;
}

void TestProcessPool::socketDirectory()
{
    QFETCH(int, runtimeDirMode);
    QFETCH(bool, used);
    QTemporaryDir runtime;
    QVERIFY(runtime.isValid());
    QVERIFY(::chmod(QFile::encodeName(runtime.path()).constData(), mode_t(runtimeDirMode)) == 0);
    const ScopedEnvironment env("XDG_RUNTIME_DIR", QFile::encodeName(runtime.path()));

    ProcessPool pool;
    pool.setMaxWorkers(1);
    const QString socket = socketPathOf(pool);
    QVERIFY2(!socket.isEmpty(), "no socket path on the worker's command line");
    const QFileInfo directory(QFileInfo(socket).path());
    QCOMPARE(directory.absolutePath() == QFileInfo(runtime.path()).absoluteFilePath(), used);
    QVERIFY2(directory.fileName().startsWith(
                 QStringLiteral("qtprocesspool-%1-").arg(QCoreApplication::applicationPid())),
             qPrintable(directory.fileName()));
    // Only we can enter the directory, whatever the base directory allows.
    struct stat info = {};
    QCOMPARE(::stat(QFile::encodeName(directory.filePath()).constData(), &info), 0);
    QCOMPARE(int(info.st_mode & 0777), 0700);
    QCOMPARE(info.st_uid, ::geteuid());
}

void TestProcessPool::staleSocketDirectoriesAreRemoved()
{
    QTemporaryDir runtime;
    QVERIFY(runtime.isValid());
    QVERIFY(::chmod(QFile::encodeName(runtime.path()).constData(), 0700) == 0);
    const ScopedEnvironment env("XDG_RUNTIME_DIR", QFile::encodeName(runtime.path()));
    // A pool of a process that is gone (SIGKILLed, say) left its directory behind.
    QProcess gone;
    gone.start(QStringLiteral("/bin/true"));
    QVERIFY(gone.waitForFinished(Generous));
    const qint64 deadPid = gone.processId() ? gone.processId() : 999999;
    QDir base(runtime.path());
    const QString stale = QStringLiteral("qtprocesspool-%1-AbC123").arg(deadPid);
    QVERIFY(base.mkpath(stale + QStringLiteral("/leftover")));
    // ...while a live process's directory and unrelated ones must stay.
    const QString live = QStringLiteral("qtprocesspool-%1-XyZ789").arg(::getppid());
    QVERIFY(base.mkdir(live));
    QVERIFY(base.mkdir(QStringLiteral("qtprocesspool-notapid")));

    ProcessPool pool;
    pool.setMaxWorkers(1);
    QCOMPARE(pool.run(square, 5).result(), 25);
    QVERIFY(!base.exists(stale));
    QVERIFY(base.exists(live));
    QVERIFY(base.exists(QStringLiteral("qtprocesspool-notapid")));
}

void TestProcessPool::descriptorsDoNotLeakIntoWorkers()
{
    // The application holds a file open without O_CLOEXEC; workers must not inherit it.
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString marker = dir.filePath(QStringLiteral("held-open-by-the-application"));
    QFile file(marker);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.close();
    const int fd = ::open(QFile::encodeName(marker).constData(), O_RDONLY); // no O_CLOEXEC
    QVERIFY(fd >= 3);
    ProcessPool pool;
    pool.setMaxWorkers(1);
    const QStringList targets = pool.run(openDescriptorTargets).result();
    ::close(fd);
    QVERIFY(!targets.isEmpty()); // the worker's own socket at least
    QVERIFY2(!targets.contains(QFileInfo(marker).canonicalFilePath()),
             qPrintable(targets.join(QLatin1Char(' '))));
    // And nothing of the pool's listening socket directory either.
    for (const QString &target : targets)
        QVERIFY2(!target.contains(QStringLiteral("qtprocesspool-")), qPrintable(target));
}

void TestProcessPool::resultOverMessageLimit()
{
    ProcessPool pool;
    pool.setMaxMessageSize(1024 * 1024);
    const auto e = errorOf(pool.run(TestTasks::bigResult, 4 * 1024 * 1024));
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::ProtocolError);
    QVERIFY2(e->message().contains(QStringLiteral("limit")), qPrintable(e->message()));
    QCOMPARE(pool.run(square, 3).result(), 9); // a replacement serves the next task

    const auto tooBig = errorOf(pool.run(reversed, QByteArray(2 * 1024 * 1024, 'x')));
    QVERIFY(tooBig);
    QCOMPARE(tooBig->kind(), TaskError::Kind::BadArguments);
}

void TestProcessPool::settingsAndProperties()
{
    ProcessPool pool;
    QCOMPARE(pool.maxWorkers(), QThread::idealThreadCount());
    QCOMPARE(pool.property("maxWorkers").toInt(), QThread::idealThreadCount());
    QVERIFY(pool.setProperty("maxWorkers", 3));
    QCOMPARE(pool.maxWorkers(), 3);
    pool.setMaxWorkers(-1);
    QCOMPARE(pool.maxWorkers(), 0); // no local workers (remote ones only)
    QCOMPARE(pool.minWorkers(), 0);
    QCOMPARE(pool.maxQueuedTasks(), 0);
    QCOMPARE(pool.cancelGracePeriod(), 1000ms);
    QCOMPARE(pool.taskTimeout(), 0ms);
    pool.setTaskTimeout(5s);
    QCOMPARE(pool.property("taskTimeout").value<std::chrono::milliseconds>(), 5000ms);
    QCOMPARE(pool.workerCount(), 0);
    QCOMPARE(pool.property("queuedTaskCount").toInt(), 0);

    pool.setMinWorkers(2);
    pool.setMaxWorkers(2);
    QSignalSpy started(&pool, &ProcessPool::workerStarted);
    pool.prestart();
    QTRY_COMPARE_WITH_TIMEOUT(started.size(), 2, Generous);
    QCOMPARE(pool.workerCount(), 2);
    QCOMPARE(pool.workerPids().size(), 2);
}

void TestProcessPool::queueFull()
{
    ProcessPool pool;
    pool.setMaxWorkers(1);
    pool.setMaxQueuedTasks(2);
    QFuture<int> a = pool.run(sleepThenSquare, 200, 1);
    QFuture<int> b = pool.run(sleepThenSquare, 200, 2);
    QFuture<int> c = pool.run(square, 3);
    QVERIFY(c.isFinished());
    const auto e = errorOf(c);
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::QueueFull);
    QCOMPARE(a.result(), 1);
    QCOMPARE(b.result(), 4);
}

QPP_TEST_MAIN(TestProcessPool)

#include "tst_processpool.moc"
