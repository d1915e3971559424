// SPDX-License-Identifier: MIT
// Unit tests of large bodies through shared memory (protocol/sharedbody.h) on
// a real socket pair: what divert()/wire() send arrives through resolve()
// unchanged, in order; what a hostile peer can put on the side channel (no
// descriptor, two, a pipe, an unsealed or resized memfd, a body over the
// limit) is refused; bodies the channel cannot take stay inline.
#include "pattern.h"
#include "sidechannel.h"

#include "protocol/frame.h"
#include "protocol/messages.h"
#include "protocol/sharedbody.h"

#include <QtProcessPool/detail/serialization.h>

#include <QtCore/QBuffer>
#include <QtCore/QtEndian>
#include <QtTest/QTest>

using namespace QtProcessPool::protocol;

namespace {

using namespace SideChannel;

/// The reference frame for a body of size bytes and type.
QByteArray reference(quint16 type, quint32 size)
{
    char body[6];
    qToBigEndian<quint16>(type, body);
    qToBigEndian<quint32>(size, body + 2);
    return encodeFrame(SharedBodyFrameType, QByteArray(body, 6));
}

} // namespace

class TestSharedBody : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void sideChannelWhereSupported();
    void largeBodiesGoThroughSharedMemory();
    void splitBodiesAreNotPutTogether();
    void splicedPayloadsArriveWhole_data();
    void splicedPayloadsArriveWhole();
    void closedChannelKeepsBodiesInline();
    void fullChannelKeepsBodiesInline();
    void hostileSideChannel_data();
    void hostileSideChannel();
    void referenceWithoutChannel();
    void referenceOverTheLimit();
    void malformedReference();
    void largeFieldsShareTheBody();
    void readByteArrayRefusesOverlongCounts();
};

void TestSharedBody::sideChannelWhereSupported()
{
    // Made on Linux, never in the portable build: bodies go inline there.
    int a = -1;
    int b = -1;
    const bool made = SharedBodyChannel::createPair(&a, &b);
#ifdef QPP_PORTABLE
    QVERIFY(!made);
#else
    QVERIFY(made);
    ::close(a);
    ::close(b);
#endif
}

void TestSharedBody::largeBodiesGoThroughSharedMemory()
{
    QPP_NEEDS_SIDE_CHANNEL();
    Pair pair;
    QVERIFY(pair.sender.isOpen());
    const QByteArray big1 = pattern(SharedBodyThreshold, 1);
    const QByteArray big2 = pattern(3 * SharedBodyThreshold + 5, 2);
    QByteArray frames;
    appendFrame(frames, 7, QByteArrayLiteral("small before"));
    appendFrame(frames, 18, big1);
    appendFrame(frames, 9, pattern(SharedBodyThreshold - 1, 3)); // just under: inline
    appendFrame(frames, 20, big2);
    appendFrame(frames, 8, QByteArray());
    const QByteArray wire = pair.sender.divert(frames);
    QCOMPARE(pair.sender.sentCount(), 2);
    QVERIFY(wire.size() < frames.size() - big1.size() - big2.size() + 100);

    const QList<Frame> got = readAll(wire, pair.receiver);
    QCOMPARE(got.size(), 5);
    QCOMPARE(got[0].type, quint16(7));
    QCOMPARE(got[1].type, quint16(18));
    QCOMPARE(got[1].body, big1);
    QCOMPARE(got[2].body, pattern(SharedBodyThreshold - 1, 3));
    QCOMPARE(got[3].type, quint16(20));
    QCOMPARE(got[3].body, big2);
    QCOMPARE(got[4].type, quint16(8));
    QCOMPARE(pair.receiver.receivedCount(), 2);
}

void TestSharedBody::splitBodiesAreNotPutTogether()
{
    QPP_NEEDS_SIDE_CHANNEL();
    Pair pair;
    RunTask task{42,
                 QStringLiteral("echo"),
                 {QStringLiteral("QByteArray")},
                 QStringLiteral("QByteArray"),
                 0,
                 pattern(2 * SharedBodyThreshold, 4)};
    TaskFinished finished{43, 1, pattern(SharedBodyThreshold + 17, 5)};
    OutgoingFrames out;
    out.append(encodeMessage(TaskStarted{41}));
    appendMessage(out, task);
    appendMessage(out, finished);
    out.append(encodeMessage(CancelTask{44}));
    // Put together, the pieces are exactly the plain encoding.
    QCOMPARE(out.toByteArray(), encodeMessage(TaskStarted{41}) + encodeMessage(task) +
                                    encodeMessage(finished) + encodeMessage(CancelTask{44}));
    const QList<Frame> got = readAll(pair.sender.wire(out), pair.receiver);
    QCOMPARE(pair.sender.sentCount(), 2);
    QCOMPARE(got.size(), 4);
    RunTask decodedTask;
    QVERIFY(decodeMessage(got[1], &decodedTask));
    QCOMPARE(decodedTask.taskId, task.taskId);
    QCOMPARE(decodedTask.arguments, task.arguments);
    TaskFinished decodedFinished;
    QVERIFY(decodeMessage(got[2], &decodedFinished));
    QCOMPARE(decodedFinished.results, finished.results);
    CancelTask cancel;
    QVERIFY(decodeMessage(got[3], &cancel));
}

void TestSharedBody::splicedPayloadsArriveWhole_data()
{
    QTest::addColumn<qsizetype>("size"); // of each of the two large values
    QTest::addColumn<int>("shared");     // bodies expected through shared memory
    QTest::newRow("inline") << qsizetype(QtProcessPool::detail::SpliceSize) << 0;
    QTest::newRow("shared memory") << qsizetype(SharedBodyThreshold) << 2;
}

void TestSharedBody::splicedPayloadsArriveWhole()
{
    // Arguments and results whose large QByteArray values stayed in their own
    // buffers arrive exactly as QDataStream would have written them.
    QPP_NEEDS_SIDE_CHANNEL();
    QFETCH(qsizetype, size);
    QFETCH(int, shared);
    using QtProcessPool::detail::serializeArguments;
    const QByteArray first = pattern(size, 7);
    const QByteArray second = pattern(size + 3, 8);
    RunTask task{42, QStringLiteral("join"), {}, QStringLiteral("QByteArray"), 0, {}};
    task.arguments =
        serializeArguments(static_cast<std::tuple<QByteArray, int, QByteArray> *>(nullptr), first,
                           5, second);
    TaskFinished finished{42, 2, {}};
    finished.results =
        serializeArguments(static_cast<std::tuple<QByteArray, QByteArray> *>(nullptr), second,
                           first);
    QVERIFY(task.arguments.pieces().size() > 1);
    QVERIFY(finished.results.pieces().size() > 1);

    Pair pair;
    OutgoingFrames out;
    appendMessage(out, task);
    appendMessage(out, finished);
    const QList<Frame> got = readAll(pair.sender.wire(out), pair.receiver);
    QCOMPARE(pair.sender.sentCount(), shared);
    QCOMPARE(got.size(), 2);
    RunTask decodedTask;
    QVERIFY(decodeMessage(got[0], &decodedTask));
    QCOMPARE(decodedTask.arguments.flattened(), task.arguments.flattened());
    TaskFinished decodedFinished;
    QVERIFY(decodeMessage(got[1], &decodedFinished));
    QCOMPARE(decodedFinished.results.flattened(), finished.results.flattened());
    // Put together, the pieces are the plain encoding of the flattened payloads.
    RunTask flatTask = task;
    flatTask.arguments = task.arguments.flattened();
    TaskFinished flatFinished = finished;
    flatFinished.results = finished.results.flattened();
    QCOMPARE(out.toByteArray(), encodeMessage(flatTask) + encodeMessage(flatFinished));
}

void TestSharedBody::closedChannelKeepsBodiesInline()
{
    SharedBodyChannel closed;
    QByteArray frames;
    appendFrame(frames, 18, pattern(2 * SharedBodyThreshold));
    QCOMPARE(closed.divert(frames), frames);
    OutgoingFrames out;
    appendMessage(out, TaskFinished{1, 1, pattern(SharedBodyThreshold)});
    QCOMPARE(closed.wire(out), out.toByteArray());
    QCOMPARE(closed.sentCount(), 0);
}

void TestSharedBody::fullChannelKeepsBodiesInline()
{
    QPP_NEEDS_SIDE_CHANNEL();
    // A receiver that never drains its side channel: the sender never blocks,
    // bodies past what the channel holds go inline, and everything arrives.
    Pair pair;
    QByteArray frames;
    const int count = 600; // more than a socket queue of descriptors holds
    const QByteArray body = pattern(SharedBodyThreshold);
    for (int i = 0; i < count; ++i)
        appendFrame(frames, quint16(100 + i % 50), body);
    const QByteArray wire = pair.sender.divert(frames);
    QVERIFY(pair.sender.sentCount() > 0);
    QVERIFY2(pair.sender.sentCount() < count, "the side channel never filled up");
    const QList<Frame> got = readAll(wire, pair.receiver);
    QCOMPARE(got.size(), count);
    for (int i = 0; i < count; ++i) {
        QCOMPARE(got[i].type, quint16(100 + i % 50));
        QVERIFY(got[i].body == body);
    }
}

void TestSharedBody::hostileSideChannel_data()
{
    QTest::addColumn<QString>("what");
    QTest::newRow("no descriptor") << "none";
    QTest::newRow("two descriptors") << "two";
    QTest::newRow("a pipe") << "pipe";
    QTest::newRow("unsealed memfd") << "unsealed";
    QTest::newRow("sealed against shrinking only") << "shrink-only";
    QTest::newRow("smaller than announced") << "short";
    QTest::newRow("size on the channel differs") << "mismatch";
    QTest::newRow("nothing on the channel") << "nothing";
}

void TestSharedBody::hostileSideChannel()
{
    QFETCH(QString, what);
    QPP_NEEDS_SIDE_CHANNEL();
    Pair pair;
    const quint32 size = 300000;
    const QByteArray body = pattern(size);
    const int before = openDescriptorCount();
    QList<int> toClose;
    if (what == QLatin1String("none")) {
        QVERIFY(sendRaw(pair.rawSender, size, {}));
    } else if (what == QLatin1String("two")) {
        const int a = memfdWith(body, AllSeals);
        const int b = memfdWith(body, AllSeals);
        toClose << a << b;
        QVERIFY(sendRaw(pair.rawSender, size, {a, b}));
    } else if (what == QLatin1String("pipe")) {
        int fds[2];
        QCOMPARE(::pipe(fds), 0);
        toClose << fds[0] << fds[1];
        QVERIFY(sendRaw(pair.rawSender, size, {fds[0]}));
    } else if (what == QLatin1String("unsealed")) {
        const int fd = memfdWith(body, 0);
        toClose << fd;
        QVERIFY(sendRaw(pair.rawSender, size, {fd}));
    } else if (what == QLatin1String("shrink-only")) {
        const int fd = memfdWith(body, F_SEAL_SHRINK);
        toClose << fd;
        QVERIFY(sendRaw(pair.rawSender, size, {fd}));
    } else if (what == QLatin1String("short")) {
        const int fd = memfdWith(body.left(size - 1), AllSeals);
        toClose << fd;
        QVERIFY(sendRaw(pair.rawSender, size, {fd}));
    } else if (what == QLatin1String("mismatch")) {
        const int fd = memfdWith(body, AllSeals);
        toClose << fd;
        QVERIFY(sendRaw(pair.rawSender, size + 1, {fd}));
    }
    QString error;
    const QList<Frame> got = readAll(reference(18, size), pair.receiver, &error);
    QVERIFY(got.isEmpty());
    QVERIFY2(!error.isEmpty(), qPrintable(what));
    QCOMPARE(pair.receiver.receivedCount(), 0);
    for (int fd : toClose)
        ::close(fd);
    // Whatever came with a refused message was closed, not leaked.
    QCOMPARE(openDescriptorCount(), before);
}

void TestSharedBody::referenceWithoutChannel()
{
    SharedBodyChannel closed;
    QString error;
    QVERIFY(readAll(reference(18, 300000), closed, &error).isEmpty());
    QVERIFY(!error.isEmpty());
}

void TestSharedBody::referenceOverTheLimit()
{
    QPP_NEEDS_SIDE_CHANNEL();
    // The limit applies to the announced size before anything is received.
    Pair pair;
    const QByteArray body = pattern(400000);
    QByteArray frames;
    appendFrame(frames, 18, body);
    const QByteArray wire = pair.sender.divert(frames);
    QCOMPARE(pair.sender.sentCount(), 1);
    QString error;
    QVERIFY(readAll(wire, pair.receiver, &error, 300000).isEmpty());
    QVERIFY2(error.contains(QStringLiteral("limit")), qPrintable(error));
}

void TestSharedBody::malformedReference()
{
    Pair pair;
    QString error;
    // Too short, too long, and a reference to a reference.
    for (const QByteArray &frame : {encodeFrame(SharedBodyFrameType, QByteArray(5, '\0')),
                                    encodeFrame(SharedBodyFrameType, QByteArray(7, '\0')),
                                    reference(SharedBodyFrameType, 300000)}) {
        error.clear();
        QVERIFY(readAll(frame, pair.receiver, &error).isEmpty());
        QVERIFY(!error.isEmpty());
    }
}

void TestSharedBody::largeFieldsShareTheBody()
{
    // Decoding a large payload does not copy it: the field shares the body.
    const QByteArray payload = pattern(QtProcessPool::detail::LargeBufferSize, 6);
    const QByteArray body = encodeBody(TaskFinished{5, 1, payload});
    TaskFinished decoded;
    QVERIFY(decodeBody(body, &decoded));
    QByteArray results = decoded.results.flattened();
    QCOMPARE(results, payload);
    QVERIFY(results.constData() >= body.constData() &&
            results.constData() < body.constData() + body.size());
    // Writing to it copies: the body stays as it was.
    decoded = TaskFinished();
    results[0] = char(results[0] + 1);
    QVERIFY(!(results.constData() >= body.constData() &&
              results.constData() < body.constData() + body.size()));
    TaskFinished again;
    QVERIFY(decodeBody(body, &again));
    QCOMPARE(again.results, payload);
    // Small fields are copies of their own.
    const QByteArray smallBody = encodeBody(TaskFinished{5, 1, pattern(100)});
    QVERIFY(decodeBody(smallBody, &decoded));
    results = decoded.results.flattened();
    QVERIFY(!(results.constData() >= smallBody.constData() &&
              results.constData() < smallBody.constData() + smallBody.size()));
}

void TestSharedBody::readByteArrayRefusesOverlongCounts()
{
    using QtProcessPool::detail::readValue;
    for (quint32 announced : {quint32(5), quint32(1) << 20, quint32(0xfffffffe)}) {
        QByteArray bytes;
        {
            QDataStream out(&bytes, QIODevice::WriteOnly);
            out << announced;
            out.writeRawData("abcd", 4);
        }
        QDataStream in(bytes);
        QByteArray value;
        QVERIFY(!readValue(in, value));
    }
    // And reads exactly what QDataStream wrote, large, small, empty and null.
    for (const QByteArray &original : {pattern(QtProcessPool::detail::LargeBufferSize + 3),
                                       pattern(10), QByteArray(""), QByteArray()}) {
        QByteArray bytes;
        {
            QDataStream out(&bytes, QIODevice::WriteOnly);
            out.setVersion(QtProcessPool::detail::StreamVersion);
            out << original << qint32(77);
        }
        QDataStream in(bytes);
        in.setVersion(QtProcessPool::detail::StreamVersion);
        QByteArray value;
        QVERIFY(readValue(in, value));
        QCOMPARE(value, original);
        QCOMPARE(value.isNull(), original.isNull());
        qint32 after = 0;
        in >> after;
        QCOMPARE(after, 77);
    }
}

QTEST_GUILESS_MAIN(TestSharedBody)
#include "tst_sharedbody.moc"
