// SPDX-License-Identifier: MIT
// mapped() with real workers: order, chunking, progress, failure, cancel.
#include "tasks.h"
#include "testmain.h"
#include "testutil.h"

#include <QtProcessPool/ProcessPool>

#include <QtCore/QFile>
#include <QtCore/QFutureWatcher>
#include <QtCore/QTemporaryDir>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <list>
#include <vector>

using namespace QtProcessPool;
using namespace TestTasks;
using namespace TestUtil;
using namespace std::chrono_literals;

class TestMapped : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void emptyResultForms();
    void resultsInInputOrder_data();
    void resultsInInputOrder();
    void anySequence();
    void manySmallItems();
    void progressCountsItems();
    void emptySequence();
    void voidResults();
    void failingItemFailsTheFuture();
    void cancelStopsSendingChunks();
    void unknownFunction();
    void suspendAndResume();
};

void TestMapped::resultsInInputOrder_data()
{
    QTest::addColumn<int>("items");
    QTest::addColumn<int>("chunkSize");
    QTest::newRow("auto chunks") << 1000 << 0;
    QTest::newRow("one item per chunk") << 50 << 1;
    QTest::newRow("uneven last chunk") << 103 << 10;
    QTest::newRow("one chunk") << 30 << 1000;
}

void TestMapped::resultsInInputOrder()
{
    QFETCH(int, items);
    QFETCH(int, chunkSize);
    ProcessPool pool;
    pool.setMaxWorkers(2);
    QList<int> input;
    for (int i = 0; i < items; ++i)
        input.append(items - i);
    QFutureWatcher<int> watcher;
    QSet<int> readyIndexes;
    connect(&watcher, &QFutureWatcher<int>::resultReadyAt, this,
            [&](int index) { readyIndexes.insert(index); });
    QFuture<int> future = pool.mapped(square, input, chunkSize);
    watcher.setFuture(future);
    QVERIFY(finishes(future));
    QVERIFY(!errorOf(future));
    QCOMPARE(future.resultCount(), items);
    for (int i = 0; i < items; ++i)
        QCOMPARE(future.resultAt(i), input[i] * input[i]);
    QTRY_COMPARE_WITH_TIMEOUT(readyIndexes.size(), items, Generous);
    QCOMPARE(pool.queuedTaskCount(), 0);
}

void TestMapped::anySequence()
{
    ProcessPool pool;
    const std::vector<int> vector{1, 2, 3};
    QCOMPARE(pool.mapped(square, vector).results(), (QList<int>{1, 4, 9}));
    const std::list<QString> names{QStringLiteral("a"), QStringLiteral("b")};
    QCOMPARE(pool.mapped(greet, names).results(),
             (QList<QString>{QStringLiteral("hello, a"), QStringLiteral("hello, b")}));
    const QList<char> small{2, 3}; // converted to the parameter type (int)
    QCOMPARE(pool.mapped(&MathTasks::cube, small).results(), (QList<int>{8, 27}));
}

void TestMapped::manySmallItems()
{
    ProcessPool pool;
    pool.setMaxWorkers(2);
    constexpr int Count = 100000;
    std::vector<int> input(Count);
    for (int i = 0; i < Count; ++i)
        input[size_t(i)] = i % 1000;
    QFuture<int> future = pool.mapped(square, input);
    QVERIFY(finishes(future));
    const QList<int> results = future.results();
    QCOMPARE(results.size(), Count);
    for (int i = 0; i < Count; ++i)
        QCOMPARE(results[i], (i % 1000) * (i % 1000));
}

void TestMapped::progressCountsItems()
{
    ProcessPool pool;
    pool.setMaxWorkers(2);
    QFutureWatcher<int> watcher;
    QList<int> values;
    int maximum = -1;
    connect(&watcher, &QFutureWatcher<int>::progressValueChanged, this,
            [&](int v) { values.append(v); });
    connect(&watcher, &QFutureWatcher<int>::progressRangeChanged, this,
            [&](int, int max) { maximum = max; });
    QList<int> input(40, 3);
    QFuture<int> future = pool.mapped(slowSquare, input, 5);
    watcher.setFuture(future);
    QVERIFY(finishes(future));
    QTRY_VERIFY_WITH_TIMEOUT(!values.isEmpty() && values.last() == 40, Generous);
    QCOMPARE(maximum, 40);
    QVERIFY(std::is_sorted(values.begin(), values.end()));
    for (int v : values)
        QVERIFY2(v % 5 == 0, "progress moves by whole chunks");
}

void TestMapped::emptySequence()
{
    ProcessPool pool;
    QFuture<int> future = pool.mapped(square, QList<int>());
    QVERIFY(future.isFinished());
    QCOMPARE(future.resultCount(), 0);
    QVERIFY(!future.isCanceled());
    QCOMPARE(pool.workerCount(), 0);
}

void TestMapped::voidResults()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("items"));
    ProcessPool pool;
    QFuture<void> future = pool.mapped(recordItem, QStringList(25, path), 4);
    QVERIFY(finishes(future));
    QVERIFY(!errorOf(future));
    QCOMPARE(future.progressValue(), 25);
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QCOMPARE(file.readAll().count('\n'), 25);
}

void TestMapped::failingItemFailsTheFuture()
{
    ProcessPool pool;
    pool.setMaxWorkers(2);
    QList<int> input;
    for (int i = 0; i < 200; ++i)
        input.append(i);
    QFuture<int> future = pool.mapped(failOnThirteen, input, 10);
    const auto e = errorOf(future);
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::Exception);
    QCOMPARE(e->message(), QStringLiteral("unlucky item"));
    QCOMPARE(e->remoteType(), QStringLiteral("std::domain_error"));
    // The rest is dropped; the pool is idle and serves the next call.
    QVERIFY(pool.waitForDone(Generous));
    QCOMPARE(pool.queuedTaskCount(), 0);
    QCOMPARE(pool.runningTaskCount(), 0);
    QCOMPARE(pool.mapped(failOnThirteen, QList<int>{1, 2}).results(), (QList<int>{1, 2}));
}

void TestMapped::cancelStopsSendingChunks()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("items"));
    ProcessPool pool;
    pool.setMaxWorkers(2);
    pool.setCancelGracePeriod(30s); // chunks stop between items; nobody is killed
    QSignalSpy crashed(&pool, &ProcessPool::workerCrashed);
    QList<int> input(400, 2);
    QFuture<int> future = pool.mapped(slowSquare, input, 4);
    QTRY_VERIFY_WITH_TIMEOUT(future.progressValue() >= 8, Generous);
    const QList<qint64> pids = pool.workerPids();
    future.cancel();
    QVERIFY(finishes(future, 5000));
    QVERIFY(future.isCanceled());
    QVERIFY(pool.waitForDone(Generous));
    QVERIFY2(future.progressValue() < 400, qPrintable(QString::number(future.progressValue())));
    QCOMPARE(crashed.size(), 0);
    QCOMPARE(pool.queuedTaskCount(), 0);
    // The same workers go on.
    const qint64 pid = pool.run(workerPid).result();
    QVERIFY(pids.contains(pid));
}

void TestMapped::unknownFunction()
{
    ProcessPool pool;
    QFuture<int> future = pool.mapped(notRegistered, QList<int>{1});
    QVERIFY(future.isFinished());
    const auto e = errorOf(future);
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::UnknownTask);
}

void TestMapped::suspendAndResume()
{
    ProcessPool pool;
    pool.setMaxWorkers(2);
    QFuture<int> future = pool.mapped(slowSquare, QList<int>(100, 3), 2);
    QTRY_VERIFY_WITH_TIMEOUT(future.progressValue() >= 4, Generous);
    future.suspend();
    QTest::qWait(300); // chunks running at the time stop after their current item
    const int atSuspend = future.progressValue();
    QTest::qWait(600); // ~24 more items would have finished
    QVERIFY2(future.progressValue() <= atSuspend + 4,
             qPrintable(QStringLiteral("%1 -> %2").arg(atSuspend).arg(future.progressValue())));
    future.resume();
    QVERIFY(finishes(future));
    QCOMPARE(future.resultCount(), 100);
    QCOMPARE(future.progressValue(), 100);
}

// A result type whose QDataStream form is empty decodes: one per run(),
// one per item of mapped(), every one a QPromise task adds.
void TestMapped::emptyResultForms()
{
    ProcessPool pool;
    pool.setMaxWorkers(2);
    QFuture<EmptyResult> one = pool.run(makeEmpty);
    QVERIFY(finishes(one));
    QVERIFY2(!errorOf(one), qPrintable(errorOf(one) ? errorOf(one)->message() : QString()));
    QCOMPARE(one.resultCount(), 1);
    QList<int> items;
    for (int i = 0; i < 1000; ++i)
        items.append(i);
    QFuture<EmptyResult> many = pool.mapped(emptyFor, items);
    QVERIFY(finishes(many));
    QVERIFY(!errorOf(many));
    QCOMPARE(many.resultCount(), 1000);
    QFuture<EmptyResult> streamed = pool.run(emptyStream, 5);
    QVERIFY(finishes(streamed));
    QVERIFY(!errorOf(streamed));
    QCOMPARE(streamed.resultCount(), 5);
}

QPP_TEST_MAIN(TestMapped)

#include "tst_mapped.moc"
