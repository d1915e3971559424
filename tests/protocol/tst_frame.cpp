// SPDX-License-Identifier: MIT
// Unit tests of the framing layer on bytes: encodeFrame, appendFrame and
// FrameReader, including every way a peer can send a bad header.
#include "allocationprobe.h"
#include "pattern.h"
#include "pipedevice.h"

#include "protocol/frame.h"

#include <QtCore/QBuffer>
#include <QtCore/QRandomGenerator>
#include <QtCore/QtEndian>
#include <QtTest/QTest>

#include <algorithm>
#include <vector>

using namespace QtProcessPool::protocol;
using Status = FrameReader::Status;

namespace {

/// A header built by hand, independently of the code under test.
QByteArray header(quint32 size, quint16 type, quint16 reserved = 0)
{
    char bytes[HeaderSize];
    qToBigEndian<quint32>(size, bytes);
    qToBigEndian<quint16>(type, bytes + 4);
    qToBigEndian<quint16>(reserved, bytes + 6);
    return QByteArray(bytes, HeaderSize);
}

struct Expected
{
    quint16 type;
    QByteArray body;
};

std::vector<Expected> sampleFrames()
{
    return {
        {1, pattern(40)},      {0, {}},           {0xffff, pattern(1)},
        {21, pattern(300, 3)}, {4, QByteArray()}, {2, pattern(9, 5)},
        {16, pattern(8)},
    };
}

/// sampleFrames() with a large frame among them, for reading in chunks.
std::vector<Expected> sampleWithLargeFrame()
{
    std::vector<Expected> frames = sampleFrames();
    frames.push_back({20, pattern(70000, 9)});
    frames.push_back({18, pattern(3)});
    return frames;
}

/// Hands bytes to feed(data, size) in random chunks of 1 to 5000 bytes.
template <typename Feed>
void inRandomChunks(const QByteArray &bytes, QRandomGenerator &random, Feed &&feed)
{
    for (qsizetype pos = 0; pos < bytes.size();) {
        const qsizetype chunk = qMin<qsizetype>(bytes.size() - pos, 1 + random.bounded(5000));
        feed(bytes.constData() + pos, chunk);
        pos += chunk;
    }
}

QByteArray encodeAll(const std::vector<Expected> &frames)
{
    QByteArray out;
    for (const Expected &f : frames)
        appendFrame(out, f.type, f.body);
    return out;
}

/// Reads frames until the reader stops returning Ready.
Status readAll(FrameReader &reader, QIODevice &device, std::vector<Frame> *frames)
{
    for (;;) {
        Frame frame;
        const Status status = reader.read(device, &frame);
        if (status != Status::Ready)
            return status;
        frames->push_back(frame);
    }
}

bool sameFrames(const std::vector<Frame> &got, const std::vector<Expected> &expected)
{
    if (got.size() != expected.size())
        return false;
    for (size_t i = 0; i < got.size(); ++i) {
        if (got[i].type != expected[i].type || got[i].body != expected[i].body)
            return false;
    }
    return true;
}

} // namespace

class TestFrame : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void encodeFrameLayout();
    void appendFrameAppends();
    void readFromBuffer();
    void emptyBody();
    void byteByByte();
    void manyFramesInOneWrite();
    void randomChunks();
    void partialFrameTakesNoBodyBytes();
    void incompleteFrameStaysInDevice();
    void oversizedLength_data();
    void oversizedLength();
    void lengthAtLimitIsAccepted();
    void lengthAtDefaultLimitWaitsForBody();
    void absoluteLimitAcceptsAnyLength();
    void maxBodySizeChangesBetweenFrames();
    void nonzeroReserved_data();
    void nonzeroReserved();
    void errorIsSticky();
    void unknownTypesAreFramesToo();
    void failingDevice();
    void inMemoryRandomChunks();
    void inMemoryBadHeaders();
};

void TestFrame::initTestCase()
{
    QVERIFY(AllocationProbe::works());
}

void TestFrame::inMemoryRandomChunks()
{
    // As the worker reads its socket: bytes appended in chunks of any size,
    // every whole frame taken, what was consumed dropped, the rest kept.
    const std::vector<Expected> expected = sampleWithLargeFrame();
    const QByteArray bytes = encodeAll(expected);
    QRandomGenerator random(20261126);
    for (int round = 0; round < 50; ++round) {
        FrameReader reader;
        QByteArray pending;
        std::vector<Frame> frames;
        bool consistent = true;
        inRandomChunks(bytes, random, [&](const char *data, qsizetype size) {
            pending.append(data, size);
            qsizetype offset = 0;
            Frame frame;
            Status status;
            while ((status = reader.read(pending, &offset, &frame)) == Status::Ready)
                frames.push_back(frame);
            consistent = consistent && status == Status::NeedMore && offset <= pending.size();
            pending.remove(0, offset);
            // At most one partial frame is kept.
            consistent = consistent && pending.size() < 70000 + 2 * HeaderSize;
        });
        QVERIFY2(consistent, qPrintable(QStringLiteral("round %1").arg(round)));
        QVERIFY2(sameFrames(frames, expected), qPrintable(QStringLiteral("round %1").arg(round)));
        QVERIFY(pending.isEmpty());
    }
}

void TestFrame::inMemoryBadHeaders()
{
    Frame frame;
    {
        FrameReader reader;
        qsizetype offset = 0;
        const QByteArray bytes = header(4, 3, 1) + pattern(4);
        QCOMPARE(reader.read(bytes, &offset, &frame), Status::Error);
        QVERIFY(!reader.errorString().isEmpty());
        QCOMPARE(reader.read(bytes, &offset, &frame), Status::Error); // sticky
    }
    {
        FrameReader reader(100);
        qsizetype offset = 0;
        const QByteArray bytes = header(101, 3); // refused before any body arrives
        QCOMPARE(reader.read(bytes, &offset, &frame), Status::Error);
        QVERIFY(reader.errorString().contains(QStringLiteral("exceeds")));
    }
    {
        FrameReader reader(100);
        qsizetype offset = 0;
        QByteArray bytes = header(100, 3) + pattern(99);
        QCOMPARE(reader.read(bytes, &offset, &frame), Status::NeedMore);
        QCOMPARE(offset, qsizetype(HeaderSize)); // the header is taken, the body waits
        bytes += pattern(100).right(1);
        QCOMPARE(reader.read(bytes, &offset, &frame), Status::Ready);
        QCOMPARE(frame.body, pattern(100));
        QCOMPARE(offset, bytes.size());
    }
}

void TestFrame::encodeFrameLayout()
{
    QCOMPARE(encodeFrame(0x1234, QByteArrayLiteral("abc")),
             QByteArray::fromHex("00000003 1234 0000") + "abc");
    QCOMPARE(encodeFrame(0, QByteArray()), QByteArray::fromHex("0000000000000000"));
    QCOMPARE(encodeFrame(0xffff, pattern(0x10203)), header(0x10203, 0xffff) + pattern(0x10203));
}

void TestFrame::appendFrameAppends()
{
    QByteArray out = QByteArrayLiteral("prefix");
    appendFrame(out, 7, QByteArrayLiteral("one"));
    appendFrame(out, 8, QByteArray());
    appendFrame(out, 9, pattern(100));
    QCOMPARE(out, QByteArrayLiteral("prefix") + encodeFrame(7, QByteArrayLiteral("one")) +
                      encodeFrame(8, QByteArray()) + encodeFrame(9, pattern(100)));
}

void TestFrame::readFromBuffer()
{
    QByteArray bytes = encodeFrame(3, pattern(77));
    QBuffer buffer(&bytes);
    QVERIFY(buffer.open(QIODevice::ReadOnly));
    FrameReader reader;
    Frame frame;
    QCOMPARE(reader.read(buffer, &frame), Status::Ready);
    QCOMPARE(frame.type, quint16(3));
    QCOMPARE(frame.body, pattern(77));
    QCOMPARE(buffer.bytesAvailable(), 0);
    QCOMPARE(reader.read(buffer, &frame), Status::NeedMore);
    QVERIFY(reader.errorString().isEmpty());
}

void TestFrame::emptyBody()
{
    PipeDevice pipe;
    FrameReader reader;
    Frame frame;
    frame.body = QByteArrayLiteral("stale");
    pipe.write(header(0, 4));
    QCOMPARE(reader.read(pipe, &frame), Status::Ready);
    QCOMPARE(frame.type, quint16(4));
    QVERIFY(frame.body.isEmpty());
    QCOMPARE(reader.read(pipe, &frame), Status::NeedMore);
}

void TestFrame::byteByByte()
{
    const std::vector<Expected> expected = sampleFrames();
    const QByteArray bytes = encodeAll(expected);
    // Where each frame ends in the stream: only the byte completing a frame
    // may make it Ready.
    std::vector<qsizetype> ends;
    qsizetype end = 0;
    for (const Expected &f : expected) {
        end += HeaderSize + f.body.size();
        ends.push_back(end);
    }

    PipeDevice pipe;
    FrameReader reader;
    std::vector<Frame> frames;
    for (qsizetype i = 0; i < bytes.size(); ++i) {
        pipe.write(bytes.constData() + i, 1);
        const size_t before = frames.size();
        QCOMPARE(readAll(reader, pipe, &frames), Status::NeedMore);
        const bool completesFrame = std::find(ends.begin(), ends.end(), i + 1) != ends.end();
        QVERIFY2(frames.size() == before + (completesFrame ? 1 : 0),
                 qPrintable(QStringLiteral("after byte %1").arg(i)));
    }
    QVERIFY(sameFrames(frames, expected));
    QCOMPARE(pipe.bytesAvailable(), 0);
}

void TestFrame::manyFramesInOneWrite()
{
    std::vector<Expected> expected;
    for (int i = 0; i < 200; ++i)
        expected.push_back({quint16(i * 331), pattern(i % 17 == 0 ? 0 : i * 3, i)});
    PipeDevice pipe;
    pipe.write(encodeAll(expected));
    FrameReader reader;
    std::vector<Frame> frames;
    QCOMPARE(readAll(reader, pipe, &frames), Status::NeedMore);
    QVERIFY(sameFrames(frames, expected));
    QCOMPARE(pipe.bytesAvailable(), 0);
    QVERIFY(reader.errorString().isEmpty());
}

void TestFrame::randomChunks()
{
    const std::vector<Expected> expected = sampleWithLargeFrame();
    const QByteArray bytes = encodeAll(expected);
    QRandomGenerator random(20240611);
    for (int round = 0; round < 50; ++round) {
        PipeDevice pipe;
        FrameReader reader;
        std::vector<Frame> frames;
        bool needMore = true;
        inRandomChunks(bytes, random, [&](const char *data, qsizetype size) {
            pipe.write(data, size);
            needMore = needMore && readAll(reader, pipe, &frames) == Status::NeedMore;
        });
        QVERIFY2(needMore, qPrintable(QStringLiteral("round %1").arg(round)));
        QVERIFY2(sameFrames(frames, expected), qPrintable(QStringLiteral("round %1").arg(round)));
    }
}

void TestFrame::partialFrameTakesNoBodyBytes()
{
    const QByteArray body = pattern(1000);
    const QByteArray bytes = encodeFrame(2, body);
    PipeDevice pipe;
    FrameReader reader;
    Frame frame;
    pipe.write(bytes.left(HeaderSize + 999));
    QCOMPARE(reader.read(pipe, &frame), Status::NeedMore);
    QCOMPARE(reader.read(pipe, &frame), Status::NeedMore);
    // The header may be consumed, the body must stay until it is complete.
    QVERIFY(pipe.bytesAvailable() >= 999);
    QVERIFY(pipe.largestRead() <= HeaderSize);
    pipe.write(bytes.right(1));
    QCOMPARE(reader.read(pipe, &frame), Status::Ready);
    QCOMPARE(frame.body, body);
}

void TestFrame::incompleteFrameStaysInDevice()
{
    // frame.h: the 8-byte header is taken (and checked) as soon as it is
    // there; the body only once all of it is, so a partial body stays in the
    // device and a later read completes the same frame.
    const QByteArray bytes = encodeFrame(2, pattern(100));
    for (qsizetype cut : {qsizetype(HeaderSize - 1), qsizetype(HeaderSize),
                          qsizetype(HeaderSize + 50), bytes.size() - 1}) {
        PipeDevice pipe;
        pipe.write(bytes.left(cut));
        FrameReader reader;
        Frame frame;
        QCOMPARE(reader.read(pipe, &frame), Status::NeedMore);
        const qsizetype taken = cut < HeaderSize ? 0 : HeaderSize;
        QCOMPARE(pipe.bytesTaken(), taken);
        QCOMPARE(pipe.bytesAvailable(), cut - taken);
        pipe.write(bytes.mid(cut));
        QCOMPARE(reader.read(pipe, &frame), Status::Ready);
        QCOMPARE(frame.type, quint16(2));
        QCOMPARE(frame.body, pattern(100));
        QCOMPARE(pipe.bytesAvailable(), 0);
    }
}

void TestFrame::oversizedLength_data()
{
    QTest::addColumn<qint64>("maxBodySize");
    QTest::addColumn<quint32>("announced");
    QTest::addColumn<qint64>("bodyBytesSent");

    QTest::newRow("0xffffffff, default limit") << DefaultMaxMessageSize << 0xffffffffu << 0LL;
    QTest::newRow("0xffffffff, 64 KiB limit") << 65536LL << 0xffffffffu << 100LL;
    QTest::newRow("default limit + 1")
        << DefaultMaxMessageSize << quint32(DefaultMaxMessageSize + 1) << 0LL;
    QTest::newRow("64 KiB limit + 1") << 65536LL << 65537u << 65537LL;
    QTest::newRow("0x80000000, 64 KiB limit") << 65536LL << 0x80000000u << 10LL;
    QTest::newRow("zero limit, 1 byte") << 0LL << 1u << 1LL;
}

void TestFrame::oversizedLength()
{
    QFETCH(qint64, maxBodySize);
    QFETCH(quint32, announced);
    QFETCH(qint64, bodyBytesSent);

    PipeDevice pipe;
    pipe.write(header(announced, 2) + pattern(bodyBytesSent));
    FrameReader reader(maxBodySize);
    Frame frame;
    Status status;
    std::size_t allocated;
    {
        AllocationProbe probe;
        status = reader.read(pipe, &frame);
        allocated = AllocationProbe::largest();
    }
    QCOMPARE(status, Status::Error);
    QVERIFY(!reader.errorString().isEmpty());
    // Refused on the header alone: not one body byte was asked for, nothing
    // of the announced size allocated.
    QVERIFY(pipe.largestRead() <= HeaderSize);
    QVERIFY(pipe.bytesAvailable() >= bodyBytesSent);
    QVERIFY2(allocated < 4096, QByteArray::number(qulonglong(allocated)).constData());
    QVERIFY(frame.body.isNull());
}

void TestFrame::lengthAtLimitIsAccepted()
{
    const qint64 limit = 65536;
    PipeDevice pipe;
    FrameReader reader(limit);
    pipe.write(encodeFrame(20, pattern(limit)));
    Frame frame;
    QCOMPARE(reader.read(pipe, &frame), Status::Ready);
    QCOMPARE(frame.body, pattern(limit));

    // Just under and at the limit once more, then one byte over.
    pipe.write(encodeFrame(20, pattern(limit - 1)));
    QCOMPARE(reader.read(pipe, &frame), Status::Ready);
    QCOMPARE(frame.body.size(), limit - 1);
    pipe.write(encodeFrame(20, pattern(limit + 1)));
    QCOMPARE(reader.read(pipe, &frame), Status::Error);
}

void TestFrame::lengthAtDefaultLimitWaitsForBody()
{
    PipeDevice pipe;
    FrameReader reader;
    QCOMPARE(reader.maxBodySize(), DefaultMaxMessageSize);
    pipe.write(header(quint32(DefaultMaxMessageSize), 2) + pattern(4096));
    Frame frame;
    {
        AllocationProbe probe;
        QCOMPARE(reader.read(pipe, &frame), Status::NeedMore);
        QCOMPARE(reader.read(pipe, &frame), Status::NeedMore);
        QVERIFY(AllocationProbe::largest() < 4096);
    }
    QVERIFY(reader.errorString().isEmpty());
    QVERIFY(pipe.largestRead() <= HeaderSize);
    QCOMPARE(pipe.bytesAvailable(), 4096);
}

void TestFrame::absoluteLimitAcceptsAnyLength()
{
    PipeDevice pipe;
    FrameReader reader(AbsoluteMaxMessageSize);
    pipe.write(header(0xffffffffu, 2) + pattern(16));
    Frame frame;
    {
        AllocationProbe probe;
        QCOMPARE(reader.read(pipe, &frame), Status::NeedMore);
        QVERIFY(AllocationProbe::largest() < 4096);
    }
    QVERIFY(reader.errorString().isEmpty());
    QVERIFY(pipe.largestRead() <= HeaderSize);
    QCOMPARE(pipe.bytesAvailable(), 16);
}

void TestFrame::maxBodySizeChangesBetweenFrames()
{
    // As the pool does after the handshake: a small limit for Hello, then the
    // configured one.
    PipeDevice pipe;
    FrameReader reader(100);
    pipe.write(encodeFrame(16, pattern(100)) + encodeFrame(20, pattern(5000)));
    Frame frame;
    QCOMPARE(reader.read(pipe, &frame), Status::Ready);
    reader.setMaxBodySize(5000);
    QCOMPARE(reader.maxBodySize(), 5000);
    QCOMPARE(reader.read(pipe, &frame), Status::Ready);
    QCOMPARE(frame.body, pattern(5000));
    reader.setMaxBodySize(4999);
    pipe.write(encodeFrame(20, pattern(5000)));
    QCOMPARE(reader.read(pipe, &frame), Status::Error);
}

void TestFrame::nonzeroReserved_data()
{
    QTest::addColumn<quint16>("reserved");
    QTest::newRow("0x0001") << quint16(0x0001);
    QTest::newRow("0x0100") << quint16(0x0100);
    QTest::newRow("0x8000") << quint16(0x8000);
    QTest::newRow("0xffff") << quint16(0xffff);
}

void TestFrame::nonzeroReserved()
{
    QFETCH(quint16, reserved);
    PipeDevice pipe;
    pipe.write(header(4, 3, reserved) + pattern(4));
    FrameReader reader;
    Frame frame;
    QCOMPARE(reader.read(pipe, &frame), Status::Error);
    QVERIFY(!reader.errorString().isEmpty());
    QVERIFY(pipe.largestRead() <= HeaderSize);
}

void TestFrame::errorIsSticky()
{
    PipeDevice pipe;
    pipe.write(header(1, 3, 1) + "x");
    FrameReader reader;
    Frame frame;
    QCOMPARE(reader.read(pipe, &frame), Status::Error);
    const QString why = reader.errorString();
    pipe.write(encodeFrame(3, pattern(8)));
    QCOMPARE(reader.read(pipe, &frame), Status::Error);
    QCOMPARE(reader.read(pipe, &frame), Status::Error);
    QCOMPARE(reader.errorString(), why);
}

void TestFrame::unknownTypesAreFramesToo()
{
    // The reader does not know message types: whether a type is acceptable is
    // decided by decodeMessage (see tst_messages).
    const std::vector<Expected> expected = {{0, pattern(8)}, {7, pattern(8)}, {0xffff, {}}};
    PipeDevice pipe;
    pipe.write(encodeAll(expected));
    FrameReader reader;
    std::vector<Frame> frames;
    QCOMPARE(readAll(reader, pipe, &frames), Status::NeedMore);
    QVERIFY(sameFrames(frames, expected));
}

void TestFrame::failingDevice()
{
    {
        PipeDevice pipe;
        pipe.write(encodeFrame(3, pattern(8)));
        pipe.setFailReads(true);
        FrameReader reader;
        Frame frame;
        QCOMPARE(reader.read(pipe, &frame), Status::Error);
        QVERIFY(!reader.errorString().isEmpty());
    }
    {
        PipeDevice pipe;
        pipe.write(encodeFrame(3, pattern(8)).left(HeaderSize + 4));
        FrameReader reader;
        Frame frame;
        QCOMPARE(reader.read(pipe, &frame), Status::NeedMore);
        pipe.write(pattern(4));
        pipe.setFailReads(true);
        QCOMPARE(reader.read(pipe, &frame), Status::Error);
        QVERIFY(!reader.errorString().isEmpty());
    }
}

QTEST_GUILESS_MAIN(TestFrame)
#include "tst_frame.moc"
