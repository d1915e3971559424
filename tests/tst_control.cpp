// SPDX-License-Identifier: MIT
// Control of running work with real workers: streaming results, progress,
// cancel (cooperative and hard), timeouts, priorities.
#include "tasks.h"
#include "testmain.h"
#include "testutil.h"

#include <QtProcessPool/ProcessPool>

#include <QtCore/QElapsedTimer>
#include <QtCore/QFileInfo>
#include <QtCore/QFutureWatcher>
#include <QtCore/QTemporaryDir>
#include <QtCore/QTimer>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

using namespace QtProcessPool;
using namespace TestTasks;
using namespace std::chrono_literals;

using namespace TestUtil;

class TestControl : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void streamingResultsInOrder();
    void progressReachesWatcherOnGuiThread();
    void progressFloodKeepsGuiResponsive();
    void cancelQueuedTaskNeverRuns();
    void cooperativeCancelSeenInWorker();
    void cancelSeenBetweenBurstsOfQuickTasks();
    void tasksRunningEventLoops();
    void hardCancelKillsIgnoringTask_data();
    void hardCancelKillsIgnoringTask();
    void cancelRacesWithCompletion();
    void cancelFinishedFutureIsNoOp();
    void timeoutKillsWorker();
    void queueWaitDoesNotCountTowardsTimeout();
    void priorityOrder();
    void suspendRunningPromiseTask();
    void cancelSentAheadTask();
    void sentAheadTaskMovesToIdleWorker();
    void lastProgressValueArrives();
    void countsStayExactThroughCancelCrashAndTimeout();
    void suspendedQueuedTaskWaits();
};

void TestControl::streamingResultsInOrder()
{
    ProcessPool pool;
    constexpr int Count = 100000;
    QFutureWatcher<int> watcher;
    int readySignals = 0;
    int lastIndex = -1;
    bool inOrder = true;
    connect(&watcher, &QFutureWatcher<int>::resultsReadyAt, this, [&](int begin, int end) {
        ++readySignals;
        inOrder = inOrder && begin == lastIndex + 1;
        lastIndex = end - 1;
    });
    QFuture<int> future = pool.run(streamNumbers, Count);
    watcher.setFuture(future);
    QVERIFY(finishes(future));
    QTRY_COMPARE_WITH_TIMEOUT(lastIndex, Count - 1, Generous);
    QVERIFY(inOrder);
    const QList<int> results = future.results();
    QCOMPARE(results.size(), Count);
    for (int i = 0; i < Count; ++i)
        QCOMPARE(results[i], i + 1);
    // Batched: far fewer notifications than results.
    QVERIFY2(readySignals < Count / 10, qPrintable(QString::number(readySignals)));
}

void TestControl::progressReachesWatcherOnGuiThread()
{
    ProcessPool pool;
    QFutureWatcher<int> watcher;
    QList<int> values;
    int maximum = -1;
    QThread *signalThread = nullptr;
    connect(&watcher, &QFutureWatcher<int>::progressValueChanged, this, [&](int v) {
        values.append(v);
        signalThread = QThread::currentThread();
    });
    connect(&watcher, &QFutureWatcher<int>::progressRangeChanged, this,
            [&](int, int max) { maximum = max; });
    QFuture<int> future = pool.run(streamNumbers, 500);
    watcher.setFuture(future);
    QVERIFY(finishes(future));
    QTRY_VERIFY_WITH_TIMEOUT(!values.isEmpty() && values.last() == 500, Generous);
    QCOMPARE(maximum, 500);
    QCOMPARE(future.progressValue(), 500);
    QCOMPARE(signalThread, QThread::currentThread());
    QVERIFY(std::is_sorted(values.begin(), values.end()));
}

void TestControl::progressFloodKeepsGuiResponsive()
{
    ProcessPool pool;
    pool.prestart();
    QTRY_COMPARE_WITH_TIMEOUT(pool.workerCount(), 1, Generous);
    QFutureWatcher<int> watcher;
    int progressSignals = 0;
    QString lastText;
    connect(&watcher, &QFutureWatcher<int>::progressValueChanged, this, [&] { ++progressSignals; });
    connect(&watcher, &QFutureWatcher<int>::progressTextChanged, this,
            [&](const QString &text) { lastText = text; });
    int ticks = 0;
    QTimer ticker;
    ticker.setInterval(1);
    connect(&ticker, &QTimer::timeout, this, [&] { ++ticks; });
    ticker.start();
    QElapsedTimer elapsed;
    elapsed.start();
    constexpr int Updates = 1000000;
    QFuture<int> future = pool.run(progressFlood, Updates);
    watcher.setFuture(future);
    QVERIFY(finishes(future));
    const qint64 ms = elapsed.elapsed();
    QCOMPARE(future.result(), Updates);
    QTRY_COMPARE_WITH_TIMEOUT(lastText, QStringLiteral("step %1").arg(Updates), Generous);
    // The GUI thread kept running its timer; progress was coalesced.
    QVERIFY2(ticks >= ms / 20, qPrintable(QStringLiteral("%1 ticks in %2 ms").arg(ticks).arg(ms)));
    QVERIFY2(progressSignals < Updates / 100, qPrintable(QString::number(progressSignals)));
}

void TestControl::cancelQueuedTaskNeverRuns()
{
    QTemporaryDir dir;
    ProcessPool pool;
    pool.setMaxWorkers(1);
    QFuture<int> busy = pool.run(sleepThenSquare, 800, 2);
    const QString marker = dir.filePath(QStringLiteral("ran"));
    QFuture<int> queued = pool.run(touchFile, marker);
    QTRY_COMPARE_WITH_TIMEOUT(pool.runningTaskCount(), 1, Generous);
    QCOMPARE(pool.queuedTaskCount(), 1);
    queued.cancel();
    QVERIFY(finishes(queued, 5000));
    QVERIFY(queued.isCanceled());
    QVERIFY(!busy.isFinished()); // canceled at once, not when its turn came
    QTRY_COMPARE_WITH_TIMEOUT(pool.queuedTaskCount(), 0, Generous);
    QCOMPARE(busy.result(), 4);
    QVERIFY(pool.waitForDone(Generous));
    QVERIFY(!QFileInfo::exists(marker));
}

void TestControl::cooperativeCancelSeenInWorker()
{
    QTemporaryDir dir;
    ProcessPool pool;
    pool.setMaxWorkers(1);
    pool.setCancelGracePeriod(30s); // it must stop on its own, not be killed
    const QString marker = dir.filePath(QStringLiteral("canceled"));
    QFuture<int> future = pool.run(waitForCancel, marker);
    QTRY_COMPARE_WITH_TIMEOUT(pool.runningTaskCount(), 1, Generous);
    const qint64 pid = pool.workerPids().value(0);
    QElapsedTimer timer;
    timer.start();
    future.cancel();
    QVERIFY(future.isCanceled());
    QVERIFY(finishes(future, 5000));
    QTRY_VERIFY_WITH_TIMEOUT(QFileInfo::exists(marker), 10000);
    QCOMPARE(pool.run(workerPid).result(), pid); // same worker, not killed
    QCOMPARE(future.resultCount(), 0);
}

void TestControl::cancelSeenBetweenBurstsOfQuickTasks()
{
    // An idle worker's main thread reads the socket itself; a task that runs
    // on hands reading to the worker's I/O thread, and it comes back when the
    // worker is idle. Round after round, quick tasks (read by the main
    // thread) and a task that waits to be canceled (read by the I/O thread)
    // both work, on the same worker, never killed.
    QTemporaryDir dir;
    ProcessPool pool;
    pool.setMaxWorkers(1);
    pool.setCancelGracePeriod(30s); // it must stop on its own, not be killed
    const qint64 pid = pool.run(workerPid).result();
    for (int round = 0; round < 5; ++round) {
        for (int i = 0; i < 20; ++i)
            QCOMPARE(pool.run(square, i).result(), i * i);
        QList<QFuture<int>> burst;
        for (int i = 0; i < 200; ++i)
            burst.append(pool.run(square, i));
        for (int i = 0; i < 200; ++i)
            QCOMPARE(burst[i].result(), i * i);
        const QString marker = dir.filePath(QStringLiteral("canceled-%1").arg(round));
        // result() can return before a future has finished (and left the
        // counts): wait until it has, so the running task below is this one.
        QVERIFY(pool.waitForDone(Generous));
        QFuture<int> waiting = pool.run(waitForCancel, marker);
        QTRY_COMPARE_WITH_TIMEOUT(pool.runningTaskCount(), 1, Generous);
        QTest::qWait(10 * round); // before and after the hand-over
        waiting.cancel();
        QVERIFY(finishes(waiting, 5000));
        QTRY_VERIFY_WITH_TIMEOUT(QFileInfo::exists(marker), 10000);
        QCOMPARE(pool.run(workerPid).result(), pid);
    }
}

void TestControl::tasksRunningEventLoops()
{
    // A task may run an event loop of its own in the worker (a QEventLoop, a
    // local QTimer). Tasks sent ahead meanwhile must wait their turn rather
    // than run inside it, a cancel of one of them must take it back, and the
    // worker must read its socket again afterwards.
    ProcessPool pool;
    pool.setMaxWorkers(1);
    const qint64 pid = pool.run(workerPid).result();
    QList<QFuture<int>> futures;
    for (int i = 0; i < 30; ++i)
        futures.append(i % 5 == 0 ? pool.run(squareAfterEventLoop, 20, i) : pool.run(square, i));
    QFuture<int> dropped = pool.run(squareAfterEventLoop, 20, 1000);
    QFuture<int> after = pool.run(square, 7);
    dropped.cancel();
    for (int i = 0; i < 30; ++i)
        QCOMPARE(futures[i].result(), i * i);
    QCOMPARE(after.result(), 49);
    QVERIFY(dropped.isCanceled());
    QVERIFY(pool.waitForDone(Generous));
    for (int i = 0; i < 50; ++i) // one at a time: the idle worker reads them itself
        QCOMPARE(pool.run(square, i).result(), i * i);
    QCOMPARE(pool.run(workerPid).result(), pid);
}

void TestControl::hardCancelKillsIgnoringTask_data()
{
    QTest::addColumn<int>("graceMs");
    QTest::newRow("after the grace period") << 300;
    QTest::newRow("grace 0: at once") << 0;
}

void TestControl::hardCancelKillsIgnoringTask()
{
    QFETCH(int, graceMs);
    ProcessPool pool;
    pool.setMaxWorkers(1);
    pool.setCancelGracePeriod(std::chrono::milliseconds(graceMs));
    QSignalSpy crashed(&pool, &ProcessPool::workerCrashed);
    QSignalSpy killed(&pool, &ProcessPool::workerKilled); // the pool's decision, not a crash
    QFuture<int> stuck = pool.run(sleepForever);          // never looks at cancellation
    QFuture<int> next = pool.run(square, 6);
    QTRY_COMPARE_WITH_TIMEOUT(pool.runningTaskCount(), 1, Generous);
    const qint64 pid = pool.workerPids().value(0);
    stuck.cancel();
    QVERIFY(finishes(stuck, 5000));
    QVERIFY(stuck.isCanceled());
    QCOMPARE(next.result(), 36); // on a replacement worker
    QTRY_VERIFY_WITH_TIMEOUT(processGone(pid), Generous);
    QTRY_COMPARE_WITH_TIMEOUT(killed.size(), 1, Generous);
    QVERIFY(killed.at(0).at(1).toString().contains(QStringLiteral("canceled")));
    QCOMPARE(crashed.size(), 0);
    QCOMPARE(pool.statistics().workersKilled, qint64(1));
    QCOMPARE(pool.statistics().workersCrashed, qint64(0));
    QCOMPARE(stuck.resultCount(), 0);
}

void TestControl::cancelRacesWithCompletion()
{
    ProcessPool pool;
    pool.setMaxWorkers(2);
    int canceled = 0;
    for (int i = 0; i < 300; ++i) {
        QFuture<int> future = pool.run(square, i);
        if (i % 3 == 1)
            QTest::qWait(i % 5); // sometimes while queued, sometimes running or done
        future.cancel();
        QVERIFY(finishes(future));
        // Either the correct result, or canceled with none; never a hang or a
        // wrong value. (Qt 6.4 also marks a future canceled when cancel() comes
        // after it finished; its result then stays.)
        if (future.resultCount() == 1) {
            QCOMPARE(future.resultAt(0), i * i);
        } else {
            QCOMPARE(future.resultCount(), 0);
            QVERIFY(future.isCanceled());
            ++canceled;
        }
    }
    QVERIFY(pool.waitForDone(Generous));
    QVERIFY(canceled > 0);
    QCOMPARE(pool.queuedTaskCount(), 0);
    QCOMPARE(pool.runningTaskCount(), 0);
    QCOMPARE(pool.run(square, 3).result(), 9);
}

void TestControl::cancelFinishedFutureIsNoOp()
{
    ProcessPool pool;
    QSignalSpy crashed(&pool, &ProcessPool::workerCrashed);
    QFuture<int> future = pool.run(square, 5);
    QCOMPARE(future.result(), 25);
    const qint64 pid = pool.workerPids().value(0);
    future.cancel();
    QTest::qWait(100);
    // The result stays and no worker is touched. (Qt 6.4's QFuture reports
    // isCanceled() after a late cancel(); that flag is Qt's, not the pool's.)
    QCOMPARE(future.resultCount(), 1);
    QCOMPARE(future.resultAt(0), 25);
    QCOMPARE(pool.run(workerPid).result(), pid);
    QCOMPARE(crashed.size(), 0);
}

void TestControl::timeoutKillsWorker()
{
    ProcessPool pool;
    pool.setMaxWorkers(1);
    pool.setTaskTimeout(400ms);
    QFuture<int> stuck = pool.run(sleepForever);
    QFuture<int> next = pool.run(square, 7);
    QTRY_COMPARE_WITH_TIMEOUT(pool.runningTaskCount(), 1, Generous);
    const qint64 pid = pool.workerPids().value(0);
    const auto e = errorOf(stuck);
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::TimedOut);
    QVERIFY2(e->message().contains(QStringLiteral("400 ms")), qPrintable(e->message()));
    QCOMPARE(next.result(), 49);
    QTRY_VERIFY_WITH_TIMEOUT(processGone(pid), Generous);

    // A per-task timeout overrides the pool's.
    TaskOptions options;
    options.timeout = 200ms;
    const auto own = errorOf(pool.run(options, sleepForever));
    QVERIFY(own);
    QCOMPARE(own->kind(), TaskError::Kind::TimedOut);
    QVERIFY2(own->message().contains(QStringLiteral("200 ms")), qPrintable(own->message()));
}

void TestControl::queueWaitDoesNotCountTowardsTimeout()
{
    ProcessPool pool;
    pool.setMaxWorkers(1);
    QFuture<int> first = pool.run(sleepThenSquare, 1000, 2);
    TaskOptions options;
    options.timeout = 800ms; // waits ~1 s in the queue, then runs 100 ms
    QFuture<int> second = pool.run(options, sleepThenSquare, 100, 3);
    QCOMPARE(first.result(), 4);
    QCOMPARE(second.result(), 9);
}

void TestControl::priorityOrder()
{
    ProcessPool pool;
    pool.setMaxWorkers(1);
    QList<int> order;
    // A worker whose task has a timeout is never sent tasks ahead (it may be
    // killed), so all six stay in the queue while it is busy.
    TaskOptions withTimeout;
    withTimeout.timeout = 60s;
    QFuture<int> blocker = pool.run(withTimeout, sleepThenSquare, 500, 0);
    QTRY_COMPARE_WITH_TIMEOUT(pool.runningTaskCount(), 1, Generous);
    const QList<std::pair<int, int>> submissions{{1, 0}, {2, 5}, {3, 1}, {4, 5}, {5, -2}, {6, 1}};
    QList<QFuture<int>> futures;
    for (const auto &[value, priority] : submissions) {
        TaskOptions options;
        options.priority = priority;
        futures.append(pool.run(options, square, value).then(this, [&order, value](int) {
            order.append(value);
            return 0;
        }));
    }
    QVERIFY(pool.waitForDone(Generous));
    for (const QFuture<int> &f : futures)
        QVERIFY(finishes(f));
    QCOMPARE(blocker.result(), 0);
    QCOMPARE(order, (QList<int>{2, 4, 3, 6, 1, 5}));
}

void TestControl::suspendRunningPromiseTask()
{
    ProcessPool pool;
    QFuture<int> future = pool.run(suspendable, 300);
    QTRY_VERIFY_WITH_TIMEOUT(future.resultCount() >= 5, Generous);
    future.suspend();
    QVERIFY(future.isSuspending() || future.isSuspended());
    QTest::qWait(300); // results in flight arrive
    const int atSuspend = future.resultCount();
    QTest::qWait(500); // 50 more would have come without suspension
    QVERIFY2(future.resultCount() <= atSuspend + 1,
             qPrintable(QStringLiteral("%1 -> %2").arg(atSuspend).arg(future.resultCount())));
    QVERIFY(!future.isFinished());
    future.resume();
    QVERIFY(finishes(future));
    const QList<int> results = future.results();
    QCOMPARE(results.size(), 300);
    QCOMPARE(results.last(), 300);
}

void TestControl::suspendedQueuedTaskWaits()
{
    ProcessPool pool;
    pool.setMaxWorkers(1);
    QFuture<int> busy = pool.run(sleepThenSquare, 300, 1);
    QFuture<int> held = pool.run(square, 2);
    held.suspend();
    QCOMPARE(busy.result(), 1);
    QFuture<int> later = pool.run(square, 3); // not blocked behind the suspended one
    QCOMPARE(later.result(), 9);
    QTest::qWait(200);
    QVERIFY(!held.isFinished());
    QCOMPARE(pool.queuedTaskCount(), 1);
    held.resume();
    QVERIFY(finishes(held));
    QCOMPARE(held.result(), 4);
}

void TestControl::cancelSentAheadTask()
{
    QTemporaryDir dir;
    ProcessPool pool;
    pool.setMaxWorkers(1); // so the next task is sent ahead to the busy worker
    QSignalSpy crashed(&pool, &ProcessPool::workerCrashed);
    QFuture<int> busy = pool.run(sleepThenSquare, 800, 2);
    QTRY_COMPARE_WITH_TIMEOUT(pool.runningTaskCount(), 1, Generous);
    const qint64 pid = pool.workerPids().value(0);
    const QString marker = dir.filePath(QStringLiteral("ran"));
    QFuture<int> ahead = pool.run(touchFile, marker);
    QTest::qWait(100); // on its way to the worker
    ahead.cancel();
    QVERIFY(finishes(ahead, 5000));
    QVERIFY(ahead.isCanceled());
    QVERIFY(!busy.isFinished());
    QCOMPARE(busy.result(), 4);
    QCOMPARE(pool.run(workerPid).result(), pid); // nobody was killed
    QVERIFY(!QFileInfo::exists(marker));
    QCOMPARE(crashed.size(), 0);
    QCOMPARE(pool.queuedTaskCount(), 0);
}

void TestControl::sentAheadTaskMovesToIdleWorker()
{
    ProcessPool pool;
    pool.setMaxWorkers(2);
    pool.setMinWorkers(2);
    pool.prestart();
    QTRY_COMPARE_WITH_TIMEOUT(pool.workerPids().size(), 2, Generous);
    QFuture<int> slow = pool.run(sleepThenSquare, 3000, 1);
    QFuture<int> quick = pool.run(sleepThenSquare, 200, 2);
    QTRY_COMPARE_WITH_TIMEOUT(pool.runningTaskCount(), 2, Generous);
    QElapsedTimer timer;
    timer.start();
    QFuture<int> next = pool.run(square, 3); // sent ahead to a busy worker
    QCOMPARE(next.result(), 9);
    // Taken back from the slow worker as soon as the quick one was free.
    QVERIFY2(timer.elapsed() < 2500, qPrintable(QString::number(timer.elapsed())));
    QVERIFY(!slow.isFinished());
    QCOMPARE(quick.result(), 4);
    QCOMPARE(slow.result(), 1);
}

void TestControl::lastProgressValueArrives()
{
    ProcessPool pool;
    // Stops short of the maximum, after many coalesced updates: the last
    // value still reaches the future.
    QFuture<int> future = pool.run(progressTo, 137, 1000);
    QVERIFY(finishes(future));
    QCOMPARE(future.progressMaximum(), 1000);
    QCOMPARE(future.progressValue(), 137);
    QFuture<int> flood = pool.run(progressFlood, 777);
    QVERIFY(finishes(flood));
    QCOMPARE(flood.progressValue(), 777);
    QCOMPARE(flood.progressText(), QStringLiteral("step 777"));
}

void TestControl::countsStayExactThroughCancelCrashAndTimeout()
{
    ProcessPool pool;
    pool.setMaxWorkers(2);
    pool.setCancelGracePeriod(100ms);
    QSignalSpy queuedChanged(&pool, &ProcessPool::queuedTaskCountChanged);
    QSignalSpy busyChanged(&pool, &ProcessPool::busyWorkerCountChanged);
    TaskOptions shortTimeout;
    shortTimeout.timeout = 300ms;
    QList<QFuture<int>> futures;
    futures << pool.run(shortTimeout, sleepForever) << pool.run(crashAbort)
            << pool.run(sleepForever);
    for (int i = 0; i < 20; ++i)
        futures << pool.run(sleepThenSquare, 20, i);
    QFuture<int> canceledQueued = pool.run(square, 1);
    canceledQueued.cancel();
    QTRY_VERIFY_WITH_TIMEOUT(pool.runningTaskCount() >= 1, Generous);
    futures[2].cancel(); // running or queued: either way it ends
    QVERIFY(pool.waitForDone(Generous));
    for (const QFuture<int> &f : futures)
        QVERIFY(f.isFinished());
    QCOMPARE(pool.queuedTaskCount(), 0);
    QCOMPARE(pool.runningTaskCount(), 0);
    QTRY_COMPARE_WITH_TIMEOUT(pool.busyWorkerCount(), 0, Generous);
    QTRY_VERIFY_WITH_TIMEOUT(!queuedChanged.isEmpty() && queuedChanged.last().at(0).toInt() == 0,
                             Generous);
    QTRY_VERIFY_WITH_TIMEOUT(!busyChanged.isEmpty() && busyChanged.last().at(0).toInt() == 0,
                             Generous);
}

QPP_TEST_MAIN(TestControl)

#include "tst_control.moc"
