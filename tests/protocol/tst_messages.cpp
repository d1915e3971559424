// SPDX-License-Identifier: MIT
// Unit tests of the message bodies on bytes: every message round-trips through
// a frame, the wire format is pinned, and every malformed body is refused.
#include "allocationprobe.h"
#include "messagecompare.h"
#include "pipedevice.h"

#include "protocol/frame.h"
#include "protocol/messages.h"

#include <QtCore/QBuffer>
#include <QtCore/QDataStream>
#include <QtCore/QtEndian>
#include <QtTest/QTest>

#include <algorithm>
#include <functional>
#include <limits>
#include <vector>

using namespace QtProcessPool::protocol;
using Status = FrameReader::Status;

namespace {

constexpr quint64 MaxId = std::numeric_limits<quint64>::max();
/// What a container allocates on top of its elements (its header).
constexpr std::size_t AllocationOverhead = 64;

/// Calls f with a default instance of every message type.
template <typename F>
void forEachMessageType(F &&f)
{
    f(Challenge{});
    f(Hello{});
    f(RunTask{});
    f(CancelTask{});
    f(RevokeTask{});
    f(StartTask{});
    f(Heartbeat{});
    f(WorkerHeartbeat{});
    f(SuspendTask{});
    f(TaskResults{});
    f(TaskProgress{});
    f(TaskStarted{});
    f(TaskFinished{});
    f(TaskFailed{});
}

std::vector<quint16> allMessageTypes()
{
    std::vector<quint16> types;
    forEachMessageType([&](auto m) { types.push_back(quint16(decltype(m)::Type)); });
    return types;
}

/// The message types as which decodeMessage accepts the frame.
std::vector<quint16> acceptingTypes(const Frame &frame)
{
    std::vector<quint16> types;
    forEachMessageType([&](auto m) {
        if (decodeMessage(frame, &m))
            types.push_back(quint16(decltype(m)::Type));
    });
    return types;
}

/// Whether the body decodes (decodeBody) as the message type with that number.
bool bodyDecodesAs(quint16 type, const QByteArray &body)
{
    bool ok = false;
    forEachMessageType([&](auto m) {
        if (quint16(decltype(m)::Type) == type)
            ok = decodeBody(body, &m);
    });
    return ok;
}

QByteArray pattern(qsizetype size, int seed = 0)
{
    QByteArray bytes(size, Qt::Uninitialized);
    for (qsizetype i = 0; i < size; ++i)
        bytes[i] = char((i * 251 + seed * 13 + 7) & 0xff);
    return bytes;
}

/// Big-endian fields written by hand, to build bodies without the encoder.
class Body
{
public:
    Body &u8(quint8 v) { return raw(QByteArray(1, char(v))); }
    Body &u32(quint32 v)
    {
        char b[4];
        qToBigEndian(v, b);
        return raw(QByteArray(b, 4));
    }
    Body &u64(quint64 v)
    {
        char b[8];
        qToBigEndian(v, b);
        return raw(QByteArray(b, 8));
    }
    Body &utf16(const QString &s)
    {
        u32(quint32(s.size() * 2));
        for (QChar c : s)
            raw(QByteArray(1, char(c.unicode() >> 8)) + char(c.unicode() & 0xff));
        return *this;
    }
    Body &raw(const QByteArray &bytes)
    {
        m_bytes += bytes;
        return *this;
    }
    QByteArray bytes() const { return m_bytes; }

private:
    QByteArray m_bytes;
};

/// One encoded message and how to check what comes back.
struct Sample
{
    QByteArray name;
    quint16 type = 0;
    QByteArray body;
    QByteArray frame;
    /// Decodes the frame as the sample's type; empty if it equals the
    /// original and re-encodes to the same body, else what went wrong.
    std::function<QByteArray(const Frame &)> checkDecoded;
    /// Decodes the body into a message that already holds other values (those
    /// of each other sample of the same type in turn); empty if fine.
    std::function<QByteArray(const QByteArray &)> checkDecodedOver;
};

template <typename M>
Sample makeSample(const char *name, const M &original)
{
    Sample s;
    s.name = name;
    s.type = quint16(M::Type);
    s.body = encodeBody(original);
    s.frame = encodeMessage(original);
    s.checkDecoded = [original](const Frame &frame) -> QByteArray {
        M decoded;
        if (!decodeMessage(frame, &decoded))
            return "decodeMessage refused " + describe(original);
        if (!(decoded == original))
            return "decoded " + describe(decoded) + "\n   expected " + describe(original);
        if (encodeBody(decoded) != frame.body)
            return "re-encoding " + describe(decoded) + " gives other bytes";
        return {};
    };
    s.checkDecodedOver = [original](const QByteArray &otherBody) -> QByteArray {
        M used;
        if (!decodeBody(otherBody, &used))
            return "other sample does not decode";
        if (!decodeBody(encodeBody(original), &used))
            return "decodeBody refused " + describe(original) + " over " + describe(used);
        if (!(used == original))
            return "decoded over other values: " + describe(used) + "\n   expected " +
                   describe(original);
        return {};
    };
    return s;
}

const std::vector<Sample> &samples()
{
    static const std::vector<Sample> all = [] {
        const QString unicode = QStringLiteral(u"t\u00e4sk \u540d\u524d \U0001F642 \u00ff\u0100");
        const QString loneSurrogate = QString(QChar(0xd800)) + QStringLiteral("x");
        const QByteArray megabyte = pattern(1 << 20, 1);
        QString longText;
        for (int i = 0; i < 20000; ++i)
            longText += QStringLiteral(u"\u00e9t\u00e9\U0001F600");

        std::vector<Sample> v;
        v.push_back(makeSample("Challenge/pattern", Challenge{pattern(NonceSize, 2)}));
        v.push_back(makeSample("Challenge/zeros", Challenge{QByteArray(NonceSize, '\0')}));

        v.push_back(makeSample("Hello/typical", Hello{ProtocolVersion, 3, 4242, pattern(32, 3),
                                                      QStringLiteral("node-7"), buildId()}));
        v.push_back(makeSample("Hello/extremes",
                               Hello{0xffffffffu, 0xffffffffu, std::numeric_limits<qint64>::min(),
                                     pattern(32, 4), QString(QChar(0xffff)), QString()}));
        v.push_back(makeSample("Hello/max pid", Hello{0, 0, std::numeric_limits<qint64>::max(),
                                                      QByteArray(), QString(), QString()}));
        v.push_back(makeSample("Hello/empty proof", Hello{1, 1, -1, QByteArray(""),
                                                          QStringLiteral(""), QStringLiteral("")}));

        v.push_back(makeSample("RunTask/default", RunTask{}));
        v.push_back(
            makeSample("RunTask/unicode",
                       RunTask{MaxId, unicode,
                               QStringList{QStringLiteral("int"), QStringLiteral("QList<QString>"),
                                           QString(), QStringLiteral(""), unicode},
                               QStringLiteral("QMap<QString,int>"), 0, pattern(100, 5)}));
        v.push_back(makeSample("RunTask/chunk", RunTask{1,
                                                        QStringLiteral("square"),
                                                        {QStringLiteral("int")},
                                                        QStringLiteral("int"),
                                                        1000,
                                                        pattern(4000, 6)}));
        v.push_back(makeSample("RunTask/max itemCount",
                               RunTask{0x8000000000000000ULL, QStringLiteral(""), QStringList{},
                                       QString(), 0xffffffffu, QByteArray("")}));
        v.push_back(makeSample("RunTask/1 MiB arguments", RunTask{7,
                                                                  QStringLiteral("big"),
                                                                  {QStringLiteral("QByteArray")},
                                                                  QStringLiteral("void"),
                                                                  0,
                                                                  megabyte}));

        v.push_back(makeSample("CancelTask/0", CancelTask{0}));
        v.push_back(makeSample("CancelTask/max", CancelTask{MaxId}));
        v.push_back(makeSample("RevokeTask/0", RevokeTask{0}));
        v.push_back(makeSample("RevokeTask/max", RevokeTask{MaxId}));
        v.push_back(makeSample("StartTask/0", StartTask{0}));
        v.push_back(makeSample("StartTask/max", StartTask{MaxId}));
        v.push_back(makeSample("Heartbeat", Heartbeat{}));
        v.push_back(makeSample("WorkerHeartbeat", WorkerHeartbeat{}));
        v.push_back(makeSample("SuspendTask/on", SuspendTask{MaxId, 1}));
        v.push_back(makeSample("SuspendTask/off", SuspendTask{12, 0}));

        v.push_back(makeSample("TaskResults/empty", TaskResults{1, 0, QByteArray()}));
        v.push_back(makeSample("TaskResults/some", TaskResults{2, 3, pattern(33, 7)}));
        v.push_back(makeSample("TaskResults/1 MiB", TaskResults{MaxId, 0xffffffffu, megabyte}));

        v.push_back(makeSample("TaskProgress/unicode",
                               TaskProgress{5, std::numeric_limits<qint32>::min(),
                                            std::numeric_limits<qint32>::max(), -5, unicode}));
        v.push_back(makeSample("TaskProgress/null text", TaskProgress{MaxId, 0, 0, 0, QString()}));
        v.push_back(makeSample("TaskProgress/empty text",
                               TaskProgress{3, 0, 100, 100, QStringLiteral("")}));
        v.push_back(makeSample("TaskProgress/long text", TaskProgress{4, 0, 10, 3, longText}));

        v.push_back(makeSample("TaskStarted/0", TaskStarted{0}));
        v.push_back(makeSample("TaskStarted/max", TaskStarted{MaxId}));

        v.push_back(makeSample("TaskFinished/empty", TaskFinished{MaxId, 0, QByteArray()}));
        v.push_back(makeSample("TaskFinished/results", TaskFinished{8, 2, pattern(16, 8)}));
        v.push_back(makeSample("TaskFinished/1 MiB", TaskFinished{9, 1, megabyte}));

        v.push_back(
            makeSample("TaskFailed/unicode", TaskFailed{MaxId, 255, unicode + loneSurrogate,
                                                        QStringLiteral("std::runtime_error")}));
        v.push_back(makeSample("TaskFailed/null strings", TaskFailed{0, 0, QString(), QString()}));
        v.push_back(makeSample("TaskFailed/empty strings",
                               TaskFailed{1, 3, QStringLiteral(""), QStringLiteral("")}));
        return v;
    }();
    return all;
}

void addSampleRows()
{
    QTest::addColumn<int>("index");
    for (size_t i = 0; i < samples().size(); ++i)
        QTest::newRow(samples()[i].name.constData()) << int(i);
}

/// Every cut point of a sequence of that size, or a spread of them for big ones
/// (every prefix of a megabyte would be a terabyte of copying).
std::vector<qsizetype> cutPoints(qsizetype size)
{
    std::vector<qsizetype> cuts;
    if (size <= 8192) {
        for (qsizetype i = 0; i < size; ++i)
            cuts.push_back(i);
        return cuts;
    }
    for (qsizetype i = 0; i < 64; ++i)
        cuts.push_back(i);
    for (qsizetype i = 64; i < size - 64; i += 4099)
        cuts.push_back(i);
    for (qsizetype i = size - 64; i < size; ++i)
        cuts.push_back(i);
    return cuts;
}

Status readOne(const QByteArray &bytes, Frame *frame)
{
    QByteArray copy = bytes;
    QBuffer buffer(&copy);
    buffer.open(QIODevice::ReadOnly);
    FrameReader reader;
    return reader.read(buffer, frame);
}

} // namespace

class TestMessages : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void roundTrip_data() { addSampleRows(); }
    void roundTrip();
    void decodeOverOtherValues_data() { addSampleRows(); }
    void decodeOverOtherValues();
    void everyPrefixNeedsMore_data() { addSampleRows(); }
    void everyPrefixNeedsMore();
    void truncatedBodyFails_data() { addSampleRows(); }
    void truncatedBodyFails();
    void trailingBytesFail_data() { addSampleRows(); }
    void trailingBytesFail();
    void mismatchedTypeFails_data() { addSampleRows(); }
    void mismatchedTypeFails();
    void sameLayoutOtherTypeFails();
    void unknownTypeIsReadButNotDecoded_data();
    void unknownTypeIsReadButNotDecoded();
    void wireFormat_data();
    void wireFormat();
    void matchesQDataStream();
    void strings_data();
    void strings();
    void byteArrays_data();
    void byteArrays();
    void stringLists_data();
    void stringLists();
    void listCountAllocatesNoMoreThanBody();
    void challengeNonceSize_data();
    void challengeNonceSize();
    void suspendedFlag_data();
    void suspendedFlag();
    void helloProofKeptAsSent_data();
    void helloProofKeptAsSent();
    void retiredTypeStaysUnused();
};

void TestMessages::initTestCase()
{
    QVERIFY(AllocationProbe::works());
}

void TestMessages::roundTrip()
{
    QFETCH(int, index);
    const Sample &sample = samples()[size_t(index)];

    // Twice in one buffer: the reader must stop exactly at the frame's end.
    QByteArray bytes = sample.frame + sample.frame;
    QBuffer buffer(&bytes);
    QVERIFY(buffer.open(QIODevice::ReadOnly));
    FrameReader reader(AbsoluteMaxMessageSize);
    for (int i = 0; i < 2; ++i) {
        Frame frame;
        QCOMPARE(reader.read(buffer, &frame), Status::Ready);
        QCOMPARE(frame.type, sample.type);
        QCOMPARE(frame.body, sample.body);
        const QByteArray problem = sample.checkDecoded(frame);
        QVERIFY2(problem.isEmpty(), problem.constData());
        QCOMPARE(acceptingTypes(frame), std::vector<quint16>{sample.type});
    }
    Frame frame;
    QCOMPARE(reader.read(buffer, &frame), Status::NeedMore);
    QCOMPARE(buffer.bytesAvailable(), 0);
}

void TestMessages::decodeOverOtherValues()
{
    QFETCH(int, index);
    const Sample &sample = samples()[size_t(index)];
    int others = 0;
    for (const Sample &other : samples()) {
        if (other.type != sample.type || &other == &sample)
            continue;
        ++others;
        const QByteArray problem = sample.checkDecodedOver(other.body);
        QVERIFY2(problem.isEmpty(), (other.name + ": " + problem).constData());
    }
    QVERIFY(others > 0 || sample.body.isEmpty()); // a message without fields has one value
}

void TestMessages::everyPrefixNeedsMore()
{
    QFETCH(int, index);
    const Sample &sample = samples()[size_t(index)];
    for (qsizetype cut : cutPoints(sample.frame.size())) {
        PipeDevice pipe;
        pipe.write(sample.frame.left(cut));
        FrameReader reader(AbsoluteMaxMessageSize);
        Frame frame;
        const QByteArray where = "prefix of " + QByteArray::number(cut) + " bytes";
        QVERIFY2(reader.read(pipe, &frame) == Status::NeedMore, where.constData());
        QVERIFY2(reader.read(pipe, &frame) == Status::NeedMore, where.constData());
        QVERIFY2(pipe.largestRead() <= HeaderSize, where.constData());
        pipe.write(sample.frame.mid(cut));
        QVERIFY2(reader.read(pipe, &frame) == Status::Ready, where.constData());
        const QByteArray problem = sample.checkDecoded(frame);
        QVERIFY2(problem.isEmpty(), (where + ": " + problem).constData());
    }
}

void TestMessages::truncatedBodyFails()
{
    QFETCH(int, index);
    const Sample &sample = samples()[size_t(index)];
    for (qsizetype cut : cutPoints(sample.body.size())) {
        const QByteArray body = sample.body.left(cut);
        const QByteArray where = "body cut to " + QByteArray::number(cut) + " bytes";
        QVERIFY2(!bodyDecodesAs(sample.type, body), where.constData());
        // The same, with the header fixed up to the shorter length: the frame
        // is read, then refused by every message type.
        Frame frame;
        QVERIFY2(readOne(encodeFrame(sample.type, body), &frame) == Status::Ready,
                 where.constData());
        QVERIFY2(acceptingTypes(frame).empty(), where.constData());
    }
}

void TestMessages::trailingBytesFail()
{
    QFETCH(int, index);
    const Sample &sample = samples()[size_t(index)];
    for (const QByteArray &extra :
         {QByteArray(1, '\0'), QByteArray(1, '\xff'), QByteArray(4, '\0'), pattern(9)}) {
        const QByteArray body = sample.body + extra;
        const QByteArray where = "extra " + extra.toHex();
        QVERIFY2(!bodyDecodesAs(sample.type, body), where.constData());
        Frame frame;
        QVERIFY2(readOne(encodeFrame(sample.type, body), &frame) == Status::Ready,
                 where.constData());
        QVERIFY2(acceptingTypes(frame).empty(), where.constData());
    }
}

void TestMessages::mismatchedTypeFails()
{
    QFETCH(int, index);
    const Sample &sample = samples()[size_t(index)];
    // The sample's frame, decoded as any other type.
    Frame frame;
    QCOMPARE(readOne(sample.frame, &frame), Status::Ready);
    forEachMessageType([&](auto m) {
        if (quint16(decltype(m)::Type) != sample.type)
            QVERIFY2(!decodeMessage(frame, &m), describe(m).constData());
    });
    // The sample's body under every other type number: never decoded as the
    // sample's type, even though the body is valid for it.
    for (quint16 type : allMessageTypes()) {
        if (type == sample.type)
            continue;
        Frame relabeled;
        QCOMPARE(readOne(encodeFrame(type, sample.body), &relabeled), Status::Ready);
        const std::vector<quint16> accepted = acceptingTypes(relabeled);
        QVERIFY(accepted.empty() || accepted == std::vector<quint16>{type});
        QVERIFY(std::find(accepted.begin(), accepted.end(), sample.type) == accepted.end());
    }
}

void TestMessages::sameLayoutOtherTypeFails()
{
    // CancelTask, RevokeTask, StartTask and TaskStarted share a layout: only
    // the type in the header tells them apart.
    const QByteArray body = encodeBody(CancelTask{77});
    QCOMPARE(encodeBody(RevokeTask{77}), body);
    QCOMPARE(encodeBody(TaskStarted{77}), body);
    QCOMPARE(encodeBody(StartTask{77}), body);
    Frame frame{quint16(MessageType::RevokeTask), body};
    CancelTask cancel;
    QVERIFY(decodeBody(frame.body, &cancel));
    QVERIFY(!decodeMessage(frame, &cancel));
    TaskStarted started;
    QVERIFY(!decodeMessage(frame, &started));
    RevokeTask revoke;
    QVERIFY(decodeMessage(frame, &revoke));
    QCOMPARE(revoke.taskId, quint64(77));

    // TaskResults and TaskFinished too.
    const TaskResults results{5, 2, pattern(10)};
    frame = Frame{quint16(MessageType::TaskFinished), encodeBody(results)};
    TaskResults decodedResults;
    QVERIFY(!decodeMessage(frame, &decodedResults));
    TaskFinished finished;
    QVERIFY(decodeMessage(frame, &finished));
    QCOMPARE(finished.results, results.results);
}

void TestMessages::unknownTypeIsReadButNotDecoded_data()
{
    QTest::addColumn<quint16>("type");
    QTest::addColumn<QByteArray>("body");
    for (quint16 type : {0, 4, 9, 15, 23, 24, 0x100, 0x1001, 0x8000, 0xffff}) {
        const QByteArray name = QByteArray::number(type);
        QTest::newRow((name + " empty").constData()) << type << QByteArray();
        QTest::newRow((name + " id").constData()) << type << encodeBody(CancelTask{1});
        QTest::newRow((name + " challenge").constData())
            << type << encodeBody(Challenge{pattern(NonceSize)});
    }
}

void TestMessages::unknownTypeIsReadButNotDecoded()
{
    QFETCH(quint16, type);
    QFETCH(QByteArray, body);
    // The reader passes any type on; decodeMessage refuses it for every message.
    PipeDevice pipe;
    pipe.write(encodeFrame(type, body) + encodeMessage(TaskStarted{3}));
    FrameReader reader;
    Frame frame;
    QCOMPARE(reader.read(pipe, &frame), Status::Ready);
    QCOMPARE(frame.type, type);
    QCOMPARE(frame.body, body);
    QVERIFY(acceptingTypes(frame).empty());
    // The stream stays in step.
    QCOMPARE(reader.read(pipe, &frame), Status::Ready);
    TaskStarted started;
    QVERIFY(decodeMessage(frame, &started));
    QCOMPARE(started.taskId, quint64(3));
}

void TestMessages::wireFormat_data()
{
    QTest::addColumn<QByteArray>("encoded");
    QTest::addColumn<QByteArray>("expectedHex");

    QByteArray nonce;
    for (int i = 0; i < NonceSize; ++i)
        nonce += char(i);
    QTest::newRow("Challenge") << encodeMessage(Challenge{nonce})
                               << QByteArray("00000024 0001 0000 00000020" + nonce.toHex());
    QTest::newRow("RunTask") << encodeMessage(RunTask{1,
                                                      QStringLiteral("f"),
                                                      {QStringLiteral("int")},
                                                      QStringLiteral(""),
                                                      2,
                                                      QByteArray("xy")})
                             << QByteArray("0000002a 0002 0000 0000000000000001 00000002 0066"
                                           "00000001 00000006 0069006e0074 00000000"
                                           "00000002 00000002 7879");
    QTest::newRow("CancelTask") << encodeMessage(CancelTask{0x0102030405060708ULL})
                                << QByteArray("00000008 0003 0000 0102030405060708");
    QTest::newRow("SuspendTask") << encodeMessage(SuspendTask{0xfffffffffffffffeULL, 1})
                                 << QByteArray("00000009 0005 0000 fffffffffffffffe 01");
    QTest::newRow("RevokeTask") << encodeMessage(RevokeTask{3})
                                << QByteArray("00000008 0006 0000 0000000000000003");
    QTest::newRow("Hello") << encodeMessage(Hello{1, 2, -1, QByteArray("\xab\xcd"),
                                                  QStringLiteral("h"), QStringLiteral("b")})
                           << QByteArray("00000022 0010 0000 00000001 00000002"
                                         "ffffffffffffffff 00000002 abcd 00000002 0068"
                                         "00000002 0062");
    QTest::newRow("TaskStarted") << encodeMessage(TaskStarted{42})
                                 << QByteArray("00000008 0011 0000 000000000000002a");
    QTest::newRow("TaskFinished") << encodeMessage(TaskFinished{42, 0, QByteArray("")})
                                  << QByteArray("00000010 0012 0000 000000000000002a"
                                                "00000000 00000000");
    QTest::newRow("TaskFailed") << encodeMessage(TaskFailed{7, 3, QString(), QStringLiteral("E")})
                                << QByteArray("00000013 0013 0000 0000000000000007 03"
                                              "ffffffff 00000002 0045");
    QTest::newRow("TaskResults") << encodeMessage(TaskResults{5, 2, QByteArray()})
                                 << QByteArray("00000010 0014 0000 0000000000000005"
                                               "00000002 ffffffff");
    QTest::newRow("TaskProgress")
        << encodeMessage(TaskProgress{9, -1, 100, 50, QStringLiteral(u"\u00e9")})
        << QByteArray("0000001a 0015 0000 0000000000000009 ffffffff 00000064 00000032"
                      "00000002 00e9");
}

void TestMessages::wireFormat()
{
    QFETCH(QByteArray, encoded);
    QFETCH(QByteArray, expectedHex);
    QCOMPARE(encoded.toHex(), QByteArray::fromHex(expectedHex).toHex());
}

void TestMessages::matchesQDataStream()
{
    // The bodies are what QDataStream (pinned version) writes, field by field,
    // and what it writes is decoded.
    const RunTask task{MaxId,
                       QStringLiteral(u"n\u00e4me"),
                       {QStringLiteral("a"), QString(), QStringLiteral("")},
                       QStringLiteral("r"),
                       17,
                       pattern(50)};
    QByteArray written;
    {
        QDataStream out(&written, QIODevice::WriteOnly);
        out.setVersion(QDataStream::Qt_6_0);
        out << task.taskId << task.name << task.argTypes << task.resultType << task.itemCount
            << task.arguments.flattened();
    }
    QCOMPARE(encodeBody(task).toHex(), written.toHex());
    RunTask decoded;
    QVERIFY(decodeBody(written, &decoded));
    QCOMPARE(decoded, task);

    const TaskFailed failed{3, 2, QStringLiteral(u"\u00fcber"), QString()};
    written.clear();
    {
        QDataStream out(&written, QIODevice::WriteOnly);
        out.setVersion(QDataStream::Qt_6_0);
        out << failed.taskId << failed.kind << failed.message << failed.remoteType;
    }
    QCOMPARE(encodeBody(failed).toHex(), written.toHex());
    TaskFailed decodedFailed;
    QVERIFY(decodeBody(written, &decodedFailed));
    QCOMPARE(decodedFailed, failed);

    // A null and an empty payload differ on the wire, as with QDataStream.
    for (const QByteArray &payload : {QByteArray(), QByteArray("")}) {
        const TaskFinished finished{4, 0, payload};
        written.clear();
        {
            QDataStream out(&written, QIODevice::WriteOnly);
            out.setVersion(QDataStream::Qt_6_0);
            out << finished.taskId << finished.resultCount << finished.results.flattened();
        }
        QCOMPARE(encodeBody(finished).toHex(), written.toHex());
        QCOMPARE(encodeMessage(finished), encodeFrame(quint16(TaskFinished::Type), written));
    }
}

void TestMessages::strings_data()
{
    // TaskFailed.message as written on the wire, followed by a null
    // remoteType: whether the body decodes, and to what.
    QTest::addColumn<QByteArray>("field");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<QString>("expected");

    QTest::newRow("null marker") << Body().u32(0xffffffffu).bytes() << true << QString();
    QTest::newRow("empty") << Body().u32(0).bytes() << true << QStringLiteral("");
    QTest::newRow("one char") << Body().utf16(QStringLiteral("a")).bytes() << true
                              << QStringLiteral("a");
    QTest::newRow("surrogate pair") << Body().utf16(QStringLiteral(u"\U0001F642")).bytes() << true
                                    << QStringLiteral(u"\U0001F642");
    QTest::newRow("odd length 1") << Body().u32(1).raw("a").bytes() << false << QString();
    QTest::newRow("odd length 3") << Body().u32(3).raw("abc").bytes() << false << QString();
    QTest::newRow("odd huge length") << Body().u32(0xfffffffdu).bytes() << false << QString();
    QTest::newRow("length past end") << Body().u32(8).raw("ab").bytes() << false << QString();
    QTest::newRow("length eats next field")
        << Body().u32(4).bytes() << false << QString(); // takes remoteType's marker
    QTest::newRow("0xfffffffe") << Body().u32(0xfffffffeu).bytes() << false << QString();
    QTest::newRow("0x7ffffffe") << Body().u32(0x7ffffffeu).raw("abcd").bytes() << false
                                << QString();
    QTest::newRow("length cut") << Body().raw(QByteArray(3, '\0')).bytes() << false << QString();
}

void TestMessages::strings()
{
    QFETCH(QByteArray, field);
    QFETCH(bool, valid);
    QFETCH(QString, expected);

    const QByteArray body = Body().u64(9).u8(1).raw(field).u32(0xffffffffu).bytes();
    TaskFailed m;
    bool decoded;
    {
        AllocationProbe probe;
        decoded = decodeBody(body, &m);
        QVERIFY(AllocationProbe::largest() <= std::size_t(body.size()) + AllocationOverhead);
    }
    QCOMPARE(decoded, valid);
    if (valid) {
        QCOMPARE(m.message, expected);
        QCOMPARE(m.message.isNull(), expected.isNull());
        QVERIFY(m.remoteType.isNull());
        QCOMPARE(encodeBody(m), body);
    }
    // The same field as TaskProgress.text, last in its body.
    const QByteArray progress = Body().u64(9).u32(0).u32(10).u32(5).raw(field).bytes();
    TaskProgress p;
    QCOMPARE(decodeBody(progress, &p), valid);
    if (valid) {
        QCOMPARE(p.text, expected);
        QCOMPARE(p.text.isNull(), expected.isNull());
    }
}

void TestMessages::byteArrays_data()
{
    // TaskResults.results as written on the wire.
    QTest::addColumn<QByteArray>("field");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<QByteArray>("expected");

    QTest::newRow("null marker") << Body().u32(0xffffffffu).bytes() << true << QByteArray();
    QTest::newRow("empty") << Body().u32(0).bytes() << true << QByteArray("");
    QTest::newRow("odd length") << Body().u32(3).raw("abc").bytes() << true << QByteArray("abc");
    QTest::newRow("length past end") << Body().u32(4).raw("abc").bytes() << false << QByteArray();
    QTest::newRow("length short") << Body().u32(2).raw("abc").bytes() << false << QByteArray();
    QTest::newRow("0xfffffffe") << Body().u32(0xfffffffeu).raw("abc").bytes() << false
                                << QByteArray();
    QTest::newRow("0x80000000") << Body().u32(0x80000000u).bytes() << false << QByteArray();
    QTest::newRow("length cut") << Body().raw(QByteArray(2, '\0')).bytes() << false << QByteArray();
    QTest::newRow("no field") << QByteArray() << false << QByteArray();
}

void TestMessages::byteArrays()
{
    QFETCH(QByteArray, field);
    QFETCH(bool, valid);
    QFETCH(QByteArray, expected);

    const QByteArray body = Body().u64(1).u32(1).raw(field).bytes();
    TaskResults m;
    bool decoded;
    {
        AllocationProbe probe;
        decoded = decodeBody(body, &m);
        QVERIFY(AllocationProbe::largest() <= std::size_t(body.size()) + AllocationOverhead);
    }
    QCOMPARE(decoded, valid);
    if (valid) {
        QCOMPARE(m.results, expected);
        QCOMPARE(m.results.isNull(), expected.isNull());
        QCOMPARE(encodeBody(m), body);
    }
    // The same as Challenge.nonce, whose size must be NonceSize on top.
    Challenge c;
    QVERIFY(!decodeBody(field, &c));
}

void TestMessages::stringLists_data()
{
    // RunTask.argTypes as written on the wire.
    QTest::addColumn<QByteArray>("field");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<QStringList>("expected");

    QTest::newRow("empty") << Body().u32(0).bytes() << true << QStringList();
    QTest::newRow("one null") << Body().u32(1).u32(0xffffffffu).bytes() << true
                              << QStringList{QString()};
    QTest::newRow("two")
        << Body().u32(2).utf16(QStringLiteral("int")).utf16(QStringLiteral("")).bytes() << true
        << QStringList{QStringLiteral("int"), QStringLiteral("")};
    QTest::newRow("count past end")
        << Body().u32(2).utf16(QStringLiteral("int")).bytes() << false << QStringList();
    QTest::newRow("count 0xffffffff") << Body().u32(0xffffffffu).bytes() << false << QStringList();
    QTest::newRow("count 0x40000000")
        << Body().u32(0x40000000u).u32(0).bytes() << false << QStringList();
    QTest::newRow("bad string inside")
        << Body().u32(2).u32(0).u32(3).raw("abc").bytes() << false << QStringList();
    QTest::newRow("count cut") << Body().raw(QByteArray(3, '\0')).bytes() << false << QStringList();
}

void TestMessages::stringLists()
{
    QFETCH(QByteArray, field);
    QFETCH(bool, valid);
    QFETCH(QStringList, expected);

    // RunTask: id, name, argTypes, resultType, itemCount, arguments.
    const QByteArray tail = Body().u32(0xffffffffu).u32(0).u32(0xffffffffu).bytes();
    const QByteArray body = Body().u64(1).utf16(QStringLiteral("f")).raw(field).raw(tail).bytes();
    RunTask m;
    m.argTypes = QStringList{QStringLiteral("stale")};
    QCOMPARE(decodeBody(body, &m), valid);
    if (valid) {
        QCOMPARE(m.argTypes, expected);
        for (qsizetype i = 0; i < expected.size(); ++i)
            QCOMPARE(m.argTypes.at(i).isNull(), expected.at(i).isNull());
        QCOMPARE(encodeBody(m), body);
    }
}

void TestMessages::listCountAllocatesNoMoreThanBody()
{
    // messages.h promises that decoding "never allocates more than the body's
    // own size because of a length it announces". Here argTypes announces as
    // many strings as the rest of the body has room for 4-byte lengths, but
    // what follows is no string at all (odd length 0x01010101).
    const quint32 count = 1 << 16;
    const QByteArray body = Body()
                                .u64(1)
                                .utf16(QStringLiteral("f"))
                                .u32(count)
                                .raw(QByteArray(qsizetype(count) * 4, '\x01'))
                                .bytes();
    RunTask m;
    bool decoded;
    std::size_t allocated;
    {
        AllocationProbe probe;
        decoded = decodeBody(body, &m);
        allocated = AllocationProbe::largest();
    }
    QVERIFY(!decoded);
    QVERIFY2(allocated <= std::size_t(body.size()) + AllocationOverhead,
             qPrintable(QStringLiteral("a body of %1 bytes made decodeBody allocate %2 bytes at "
                                       "once (argTypes capacity now %3)")
                            .arg(body.size())
                            .arg(allocated)
                            .arg(m.argTypes.capacity())));
}

void TestMessages::challengeNonceSize_data()
{
    QTest::addColumn<QByteArray>("nonce");
    QTest::addColumn<bool>("valid");
    QTest::newRow("null") << QByteArray() << false;
    QTest::newRow("empty") << QByteArray("") << false;
    QTest::newRow("1") << pattern(1) << false;
    QTest::newRow("31") << pattern(NonceSize - 1) << false;
    QTest::newRow("32") << pattern(NonceSize) << true;
    QTest::newRow("33") << pattern(NonceSize + 1) << false;
    QTest::newRow("64") << pattern(2 * NonceSize) << false;
}

void TestMessages::challengeNonceSize()
{
    QFETCH(QByteArray, nonce);
    QFETCH(bool, valid);
    const QByteArray body =
        Body().u32(nonce.isNull() ? 0xffffffffu : quint32(nonce.size())).raw(nonce).bytes();
    QCOMPARE(encodeBody(Challenge{nonce}), body);
    Challenge m;
    QCOMPARE(decodeBody(body, &m), valid);
    if (valid)
        QCOMPARE(m.nonce, nonce);
}

void TestMessages::suspendedFlag_data()
{
    QTest::addColumn<quint8>("flag");
    QTest::addColumn<bool>("valid");
    QTest::newRow("0") << quint8(0) << true;
    QTest::newRow("1") << quint8(1) << true;
    QTest::newRow("2") << quint8(2) << false;
    QTest::newRow("0x80") << quint8(0x80) << false;
    QTest::newRow("0xff") << quint8(0xff) << false;
}

void TestMessages::suspendedFlag()
{
    QFETCH(quint8, flag);
    QFETCH(bool, valid);
    SuspendTask m;
    QCOMPARE(decodeBody(Body().u64(4).u8(flag).bytes(), &m), valid);
    if (valid) {
        QCOMPARE(m.taskId, quint64(4));
        QCOMPARE(m.suspended, flag);
    }
}

void TestMessages::helloProofKeptAsSent_data()
{
    // decodeBody(Hello) does not check the proof's size (the pool compares it
    // with the expected HMAC, sizes included): whatever was sent must come out
    // unchanged, neither padded nor cut to 32 bytes.
    QTest::addColumn<QByteArray>("proof");
    QTest::newRow("null") << QByteArray();
    QTest::newRow("empty") << QByteArray("");
    QTest::newRow("31") << pattern(31);
    QTest::newRow("32") << pattern(32);
    QTest::newRow("33") << pattern(33);
    QTest::newRow("1000") << pattern(1000);
}

void TestMessages::helloProofKeptAsSent()
{
    QFETCH(QByteArray, proof);
    const Hello hello{ProtocolVersion, 1, 99, proof, QStringLiteral("host"), buildId()};
    Hello m;
    QVERIFY(decodeBody(encodeBody(hello), &m));
    QCOMPARE(m, hello);
    QCOMPARE(m.proof.size(), proof.size());
}

void TestMessages::retiredTypeStaysUnused()
{
    // 4 was Shutdown, which no pool ever sent: an old peer's frame of that
    // type must stay unknown rather than mean something new.
    const std::vector<quint16> types = allMessageTypes();
    QVERIFY(std::find(types.begin(), types.end(), quint16(4)) == types.end());
}

QTEST_GUILESS_MAIN(TestMessages)
#include "tst_messages.moc"
