// SPDX-License-Identifier: MIT
// OutputBatcher: whole lines in batches, bounded, every line accounted for.
#include "pool/outputbatcher.h"

#include <QtCore/QFile>
#include <QtTest/QTest>

using namespace QtProcessPool;

class TestOutputBatcher : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void linesSplitAcrossReads();
    void partialLineWaitsUntilFlush();
    void endlessLineIsCut();
    void onlyLineFeedEndsALine_data();
    void onlyLineFeedEndsALine();
    void longLineIsCutHoweverItIsRead_data();
    void longLineIsCutHoweverItIsRead();
    void floodIsBoundedAndCounted();
    void floodKeepsNoMoreThanABatch();
    void prefixesEveryLine();
};

void TestOutputBatcher::linesSplitAcrossReads()
{
    OutputBatcher lines;
    lines.append("one\ntw");
    lines.append("o\nthr");
    QCOMPARE(lines.take(false).text, QByteArray("one\ntwo\n"));
    lines.append("ee\n\nfour\n");
    const OutputBatcher::Batch batch = lines.take(false);
    QCOMPARE(batch.text, QByteArray("three\n\nfour\n"));
    QCOMPARE(batch.dropped, 0);
    QVERIFY(lines.take(false).isEmpty());
}

void TestOutputBatcher::partialLineWaitsUntilFlush()
{
    OutputBatcher lines;
    lines.append("no newline yet");
    QVERIFY(lines.take(false).isEmpty());
    QCOMPARE(lines.take(true).text, QByteArray("no newline yet\n"));
}

void TestOutputBatcher::endlessLineIsCut()
{
    OutputBatcher lines;
    lines.append(QByteArray(OutputBatcher::MaxLineBytes + 10, 'x'));
    const QByteArray text = lines.take(false).text;
    QCOMPARE(text, QByteArray(OutputBatcher::MaxLineBytes, 'x') + '\n');
    QCOMPARE(lines.take(true).text, QByteArray(10, 'x') + '\n');
}

// As before batching: a CR before the LF stays in the line, a lone CR does
// not end one.
void TestOutputBatcher::onlyLineFeedEndsALine_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::newRow("CRLF") << QByteArray("a\r\nb\r\n");
    QTest::newRow("lone CR") << QByteArray("progress 1\rprogress 2\n");
}

void TestOutputBatcher::onlyLineFeedEndsALine()
{
    QFETCH(QByteArray, text);
    OutputBatcher lines;
    for (qsizetype i = 0; i < text.size(); ++i) // one byte per read: CR and LF apart
        lines.append(text.mid(i, 1));
    QCOMPARE(lines.take(false).text, text);
}

void TestOutputBatcher::longLineIsCutHoweverItIsRead_data()
{
    constexpr qsizetype Max = OutputBatcher::MaxLineBytes;
    QTest::addColumn<qsizetype>("length");
    QTest::addColumn<qsizetype>("readSize");
    QTest::addColumn<QList<qsizetype>>("pieces");
    QTest::newRow("exactly the limit, newline in the next read")
        << Max << qsizetype(1024) << QList<qsizetype>{Max};
    QTest::newRow("exactly the limit, in one read") << Max << Max + 1 << QList<qsizetype>{Max};
    QTest::newRow("100 KiB in 1 KiB reads")
        << qsizetype(100 * 1024) << qsizetype(1024) << QList<qsizetype>{Max, 100 * 1024 - Max};
    QTest::newRow("100 KiB in one read") << qsizetype(100 * 1024) << qsizetype(100 * 1024 + 1)
                                         << QList<qsizetype>{Max, 100 * 1024 - Max};
    QTest::newRow("1 MiB in one read, more than a batch holds")
        << qsizetype(1024 * 1024) << qsizetype(1024 * 1024 + 1)
        << QList<qsizetype>(OutputBatcher::MaxBatchBytes / (Max + 1), Max);
}

void TestOutputBatcher::longLineIsCutHoweverItIsRead()
{
    QFETCH(qsizetype, length);
    QFETCH(qsizetype, readSize);
    QFETCH(QList<qsizetype>, pieces);
    const QByteArray line = QByteArray(length, 'x') + '\n';
    OutputBatcher lines;
    for (qsizetype pos = 0; pos < line.size(); pos += readSize)
        lines.append(line.mid(pos, readSize));
    const OutputBatcher::Batch batch = lines.take(true);
    QVERIFY(batch.text.endsWith('\n'));
    QList<qsizetype> got;
    for (const QByteArray &piece : batch.text.chopped(1).split('\n'))
        got.append(piece.size());
    QCOMPARE(got, pieces);
    qsizetype kept = 0;
    for (qsizetype size : pieces)
        kept += size;
    // What did not fit is counted as the pieces it would have been.
    constexpr qsizetype Max = OutputBatcher::MaxLineBytes;
    QCOMPARE(batch.dropped, qint64((length - kept + Max - 1) / Max));
}

void TestOutputBatcher::floodIsBoundedAndCounted()
{
    QByteArray chunk;
    for (int i = 0; i < 6553; ++i)
        chunk += "012345678\n";
    OutputBatcher lines;
    qint64 kept = 0;
    qint64 dropped = 0;
    const int reads = 1600; // 100 MiB of 10-byte lines
    for (int round = 0; round < reads; ++round) {
        lines.append(chunk.left(37)); // reads end mid-line
        lines.append(chunk.mid(37));
        if (round % 100 == 99) {
            const OutputBatcher::Batch batch = lines.take(false);
            QVERIFY(batch.text.size() <= OutputBatcher::MaxBatchBytes);
            kept += batch.text.count('\n');
            dropped += batch.dropped;
        }
    }
    QCOMPARE(kept + dropped, qint64(reads) * 6553);
    QVERIFY(dropped > 0);
}

// 100 MiB of 10-byte lines taken in one batch: what it holds stays about one
// batch (resident memory, Linux), and every line is kept or counted.
void TestOutputBatcher::floodKeepsNoMoreThanABatch()
{
    const auto resident = [] {
        QFile statm(QStringLiteral("/proc/self/statm"));
        if (!statm.open(QIODevice::ReadOnly))
            return qint64(-1);
        const QList<QByteArray> fields = statm.readAll().split(' ');
        return fields.size() > 1 ? fields[1].toLongLong() * 4096 : qint64(-1);
    };
    QByteArray pattern;
    while (pattern.size() < 65536 + 10)
        pattern += "123456789\n";
    constexpr qsizetype Total = qsizetype(100) << 20;
    constexpr qsizetype ReadSize = 65533; // reads end mid-line
    OutputBatcher lines;
    const qint64 before = resident();
    for (qsizetype sent = 0; sent < Total; sent += ReadSize) {
        const qsizetype size = std::min(ReadSize, Total - sent);
        lines.append(QByteArray::fromRawData(pattern.constData() + sent % 10, size));
    }
    const qint64 after = resident();
    const OutputBatcher::Batch batch = lines.take(true);
    QCOMPARE(batch.text.count('\n'), OutputBatcher::MaxBatchBytes / 10);
    QCOMPARE(batch.dropped, qint64(Total / 10 - OutputBatcher::MaxBatchBytes / 10));
    if (before >= 0)
        QVERIFY2(after - before < (qint64(8) << 20), "the flood was kept in memory");
}

void TestOutputBatcher::prefixesEveryLine()
{
    QCOMPARE(prefixLines(42, "a\nbc\n"), QByteArray("[worker 42] a\n[worker 42] bc\n"));
}

QTEST_GUILESS_MAIN(TestOutputBatcher)
#include "tst_outputbatcher.moc"
