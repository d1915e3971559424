// SPDX-License-Identifier: MIT
// OutputBatcher: whole lines in batches, bounded, every line accounted for.
#include "pool/outputbatcher.h"

#include <QtTest/QTest>

using namespace QtProcessPool;

class TestOutputBatcher : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void linesSplitAcrossReads();
    void partialLineWaitsUntilFlush();
    void endlessLineIsCut();
    void floodIsBoundedAndCounted();
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

void TestOutputBatcher::prefixesEveryLine()
{
    QCOMPARE(prefixLines(42, "a\nbc\n"), QByteArray("[worker 42] a\n[worker 42] bc\n"));
}

QTEST_GUILESS_MAIN(TestOutputBatcher)
#include "tst_outputbatcher.moc"
