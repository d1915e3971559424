// SPDX-License-Identifier: MIT
// detail::Payload: serialized arguments and results are exactly what
// QDataStream writes, while a large QByteArray value is kept in its own buffer
// (spliced) rather than copied; raw data, which the caller may free, is copied.
#include <QtProcessPool/detail/registry_impl.h>
#include <QtProcessPool/detail/serialization.h>

#include <QtTest/QTest>

#include <tuple>

using QtProcessPool::detail::Payload;
using QtProcessPool::detail::serializeArguments;
using QtProcessPool::detail::SpliceSize;

class TestPayload : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void writtenAsQDataStreamWould_data();
    void writtenAsQDataStreamWould();
    void largeValuesAreNotCopied();
    void rawDataIsCopied();
    void callersLaterChangesDoNotReachIt();
    void resultsAreSplicedToo();
    void nullAndEmptyDiffer();
};

namespace {

QByteArray pattern(qsizetype size, int seed)
{
    QByteArray bytes(size, Qt::Uninitialized);
    for (qsizetype i = 0; i < size; ++i)
        bytes[i] = char((i * 131 + seed) & 0xff);
    return bytes;
}

template <typename... T>
QByteArray plainStream(const T &...values)
{
    QByteArray bytes;
    QDataStream out(&bytes, QIODevice::WriteOnly);
    out.setVersion(QtProcessPool::detail::StreamVersion);
    (out << ... << values);
    return bytes;
}

QByteArray joined(const QList<QByteArray> &pieces)
{
    QByteArray all;
    for (const QByteArray &piece : pieces)
        all += piece;
    return all;
}

/// Whether some piece of payload is the very buffer of value.
bool sharesBuffer(const Payload &payload, const QByteArray &value)
{
    for (const QByteArray &piece : payload.pieces()) {
        if (piece.constData() == value.constData() && piece.size() == value.size())
            return true;
    }
    return false;
}

} // namespace

void TestPayload::writtenAsQDataStreamWould_data()
{
    QTest::addColumn<QByteArray>("first");
    QTest::addColumn<QByteArray>("second");
    QTest::addColumn<int>("spliced"); // values kept in their own buffers
    const QByteArray large = pattern(SpliceSize, 1);
    const QByteArray larger = pattern(3 * SpliceSize + 5, 2);
    const QByteArray small = pattern(SpliceSize - 1, 3);
    QTest::newRow("small, small") << small << small << 0;
    QTest::newRow("large, small") << large << small << 1;
    QTest::newRow("small, large") << small << large << 1;
    QTest::newRow("large, larger") << large << larger << 2;
    QTest::newRow("null, large") << QByteArray() << larger << 1;
    QTest::newRow("large, empty") << large << QByteArray("") << 1;
}

void TestPayload::writtenAsQDataStreamWould()
{
    QFETCH(QByteArray, first);
    QFETCH(QByteArray, second);
    QFETCH(int, spliced);
    const QString text = QStringLiteral(u"b\u00e4r");
    const Payload payload =
        serializeArguments(static_cast<std::tuple<int, QByteArray, QString, QByteArray> *>(nullptr),
                           7, first, text, second);
    const QByteArray expected = plainStream(qint32(7), first, text, second);
    QCOMPARE(payload.flattened(), expected);
    QCOMPARE(joined(payload.pieces()), expected);
    QCOMPARE(payload.size(), expected.size());
    QCOMPARE(int(sharesBuffer(payload, first)) + int(sharesBuffer(payload, second)), spliced);
    for (const QByteArray &piece : payload.pieces())
        QVERIFY(!piece.isEmpty());
}

void TestPayload::largeValuesAreNotCopied()
{
    const QByteArray large = pattern(8 * SpliceSize, 4);
    const Payload payload =
        serializeArguments(static_cast<std::tuple<QByteArray> *>(nullptr), large);
    QVERIFY(sharesBuffer(payload, large));
    // Only the length prefix was written: the buffer QDataStream wrote into
    // did not grow with the value (no large reservation either).
    Payload copy = payload;
    QCOMPARE(copy.bytes()->size(), 4);
    QVERIFY(copy.bytes()->capacity() < SpliceSize);
}

void TestPayload::rawDataIsCopied()
{
    const QByteArray owned = pattern(2 * SpliceSize, 5);
    // The caller may free raw data as soon as run() returns: it is copied.
    const QByteArray raw = QByteArray::fromRawData(owned.constData(), owned.size());
    const Payload payload = serializeArguments(static_cast<std::tuple<QByteArray> *>(nullptr), raw);
    QCOMPARE(payload.flattened(), plainStream(owned));
    for (const QByteArray &piece : payload.pieces()) {
        QVERIFY(piece.constData() + piece.size() <= owned.constData() ||
                piece.constData() >= owned.constData() + owned.size());
    }
}

void TestPayload::callersLaterChangesDoNotReachIt()
{
    QByteArray large = pattern(2 * SpliceSize, 6);
    const QByteArray before = large;
    const Payload payload =
        serializeArguments(static_cast<std::tuple<QByteArray> *>(nullptr), large);
    large[0] = char(large[0] + 1); // detaches the caller's copy
    large.append("more");
    QCOMPARE(payload.flattened(), plainStream(before));
}

void TestPayload::resultsAreSplicedToo()
{
    // What a task returns goes into TaskOutput the same way.
    QtProcessPool::detail::TaskOutput output;
    const QByteArray large = pattern(4 * SpliceSize, 7);
    QtProcessPool::detail::writeResult(output, large);
    QtProcessPool::detail::writeResult(output, qint32(9));
    QtProcessPool::detail::writeResult(output, large);
    output.stream.reset();
    QCOMPARE(output.resultCount, 3);
    QVERIFY(sharesBuffer(output.results, large));
    QCOMPARE(output.results.flattened(), plainStream(large, qint32(9), large));
    QCOMPARE(output.results.pieces().size(), 4); // prefix, large, int and prefix, large
}

void TestPayload::nullAndEmptyDiffer()
{
    QVERIFY(Payload().isNull());
    QVERIFY(Payload(QByteArray()).isNull());
    QVERIFY(!Payload(QByteArray("")).isNull());
    QVERIFY(Payload(QByteArray("")).isEmpty());
    QVERIFY(Payload() != Payload(QByteArray("")));
    QVERIFY(Payload().pieces().isEmpty());
    const Payload spliced =
        serializeArguments(static_cast<std::tuple<QByteArray> *>(nullptr), pattern(SpliceSize, 8));
    QVERIFY(!spliced.isNull());
    QCOMPARE(spliced, Payload(spliced.flattened()));
}

QTEST_GUILESS_MAIN(TestPayload)
#include "tst_payload.moc"
