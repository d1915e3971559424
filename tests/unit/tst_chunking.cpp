// SPDX-License-Identifier: MIT
// autoChunkSize(): the items per chunk mapped() uses when given 0, about four
// chunks per worker, at least one item and at most 4096.
#include <QtProcessPool/detail/sink.h>

#include <QtTest/QTest>

#include <limits>

using QtProcessPool::detail::autoChunkSize;

class TestChunking : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void chunkSize_data();
    void chunkSize();
    void atMostFourChunksPerWorker_data();
    void atMostFourChunksPerWorker();
};

namespace {
constexpr qsizetype Cap = 4096; // the largest chunk autoChunkSize() returns
}

void TestChunking::chunkSize_data()
{
    QTest::addColumn<qsizetype>("items");
    QTest::addColumn<int>("workers");
    QTest::addColumn<int>("expected");

    QTest::newRow("no items") << qsizetype(0) << 4 << 1;
    QTest::newRow("no items, one worker") << qsizetype(0) << 1 << 1;
    QTest::newRow("one item") << qsizetype(1) << 4 << 1;
    QTest::newRow("fewer items than four chunks per worker") << qsizetype(10) << 4 << 1;
    QTest::newRow("exactly four items per worker") << qsizetype(16) << 4 << 1;
    QTest::newRow("one item past four per worker") << qsizetype(17) << 4 << 2;
    QTest::newRow("one worker, four items") << qsizetype(4) << 1 << 1;
    QTest::newRow("one worker, five items") << qsizetype(5) << 1 << 2;
    QTest::newRow("one worker, a hundred items") << qsizetype(100) << 1 << 25;
    QTest::newRow("one worker, a hundred and one items") << qsizetype(101) << 1 << 26;
    QTest::newRow("many workers") << qsizetype(1000) << 64 << 4;
    QTest::newRow("more workers than items") << qsizetype(3) << 128 << 1;
    QTest::newRow("just under the cap") << qsizetype(4 * 4 * (Cap - 1)) << 4 << int(Cap - 1);
    QTest::newRow("exactly at the cap") << qsizetype(4 * 4 * Cap) << 4 << int(Cap);
    QTest::newRow("one item past the cap") << qsizetype(4 * 4 * Cap + 1) << 4 << int(Cap);
    QTest::newRow("ten million items") << qsizetype(10'000'000) << 4 << int(Cap);
    QTest::newRow("more items than an int holds")
        << qsizetype(std::numeric_limits<int>::max()) * 4 << 2 << int(Cap);
    QTest::newRow("the largest worker count")
        << qsizetype(1000) << std::numeric_limits<int>::max() << 1;
}

void TestChunking::chunkSize()
{
    QFETCH(qsizetype, items);
    QFETCH(int, workers);
    QFETCH(int, expected);
    QCOMPARE(autoChunkSize(items, workers), expected);
}

void TestChunking::atMostFourChunksPerWorker_data()
{
    QTest::addColumn<int>("workers");
    QTest::newRow("one worker") << 1;
    QTest::newRow("two workers") << 2;
    QTest::newRow("three workers") << 3;
    QTest::newRow("sixteen workers") << 16;
}

// Below the cap, the items split into at most four chunks per worker, with the
// smallest chunk that does so (one item less would make more chunks).
void TestChunking::atMostFourChunksPerWorker()
{
    QFETCH(int, workers);
    for (qsizetype items = 1; items <= 3000; ++items) {
        const int chunk = autoChunkSize(items, workers);
        QVERIFY2(chunk >= 1, qPrintable(QString::number(items)));
        const qsizetype chunks = (items + chunk - 1) / chunk;
        QVERIFY2(chunks <= 4 * workers, qPrintable(QString::number(items)));
        if (chunk > 1) // a smaller chunk would make more than four per worker
            QVERIFY2((items + chunk - 2) / (chunk - 1) > 4 * workers,
                     qPrintable(QString::number(items)));
    }
}

QTEST_GUILESS_MAIN(TestChunking)

#include "tst_chunking.moc"
