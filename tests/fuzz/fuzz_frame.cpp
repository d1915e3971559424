// SPDX-License-Identifier: MIT
// libFuzzer harness of FrameReader: arbitrary bytes, delivered in arbitrary
// chunks, must give exactly the frames (and the error) a simple model of the
// format gives; every frame read is then decoded as every message type.
//
// Input: byte 0 picks the chunking, byte 1 the body size limit, the rest is
// the stream.
#include "fuzzcommon.h"
#include "pipedevice.h"

#include <QtCore/QtEndian>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

using namespace QtProcessPool::protocol;
using QppFuzz::fail;

namespace {

constexpr qint64 Limits[] = {0, 1, 8, 16, 64, 1024, 4096, 64 * 1024};

struct Outcome
{
    std::vector<Frame> frames;
    bool error = false;
};

/// The format, read the obvious way from the complete stream.
Outcome model(const QByteArray &stream, qint64 maxBodySize)
{
    Outcome out;
    qsizetype pos = 0;
    while (stream.size() - pos >= HeaderSize) {
        const char *header = stream.constData() + pos;
        const quint32 size = qFromBigEndian<quint32>(header);
        const quint16 type = qFromBigEndian<quint16>(header + 4);
        const quint16 reserved = qFromBigEndian<quint16>(header + 6);
        if (reserved != 0 || qint64(size) > maxBodySize) {
            out.error = true;
            return out;
        }
        if (stream.size() - pos - HeaderSize < qint64(size))
            return out;
        out.frames.push_back(Frame{type, stream.mid(pos + HeaderSize, size)});
        pos += HeaderSize + size;
    }
    return out;
}

/// Chunk sizes for the stream, from the selector byte (deterministic).
class Chunker
{
public:
    Chunker(quint8 selector, size_t streamSize)
        : m_selector(selector)
        , m_state(quint32(selector) * 2654435761u ^ quint32(streamSize) ^ 0x9e3779b9u)
    {
        if (m_state == 0)
            m_state = 1;
    }
    qsizetype next(qsizetype left)
    {
        if (m_selector == 0)
            return left; // all at once
        if (m_selector == 1)
            return 1;             // byte by byte
        m_state ^= m_state << 13; // xorshift32
        m_state ^= m_state >> 17;
        m_state ^= m_state << 5;
        const quint32 spread = 1 + quint32(m_selector & 0x3f) * 4;
        return std::min<qsizetype>(left, 1 + qsizetype(m_state % spread));
    }

private:
    quint8 m_selector;
    quint32 m_state;
};

template <typename Message>
void decodeAs(const Frame &frame, int *acceptedByType)
{
    QppFuzz::checkBody<Message>(frame.body);
    Message m;
    if (decodeMessage(frame, &m))
        ++*acceptedByType;
}

void decodeEveryWay(const Frame &frame)
{
    int accepted = 0;
    decodeAs<Challenge>(frame, &accepted);
    decodeAs<Hello>(frame, &accepted);
    decodeAs<RunTask>(frame, &accepted);
    decodeAs<CancelTask>(frame, &accepted);
    decodeAs<RevokeTask>(frame, &accepted);
    decodeAs<StartTask>(frame, &accepted);
    decodeAs<Heartbeat>(frame, &accepted);
    decodeAs<WorkerHeartbeat>(frame, &accepted);
    decodeAs<SuspendTask>(frame, &accepted);
    decodeAs<TaskResults>(frame, &accepted);
    decodeAs<TaskProgress>(frame, &accepted);
    decodeAs<TaskStarted>(frame, &accepted);
    decodeAs<TaskFinished>(frame, &accepted);
    decodeAs<TaskFailed>(frame, &accepted);
    if (accepted > 1)
        fail("a frame decodes as several message types", QByteArray::number(frame.type));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const quint8 chunking = data[0];
    const qint64 maxBodySize = Limits[data[1] % std::size(Limits)];
    const QByteArray stream(reinterpret_cast<const char *>(data) + 2, qsizetype(size - 2));

    const Outcome expected = model(stream, maxBodySize);

    PipeDevice pipe;
    FrameReader reader(maxBodySize);
    Outcome got;
    FrameReader::Status status = FrameReader::Status::NeedMore;
    Chunker chunker(chunking, stream.size());
    for (qsizetype pos = 0; pos < stream.size() && status != FrameReader::Status::Error;) {
        const qsizetype chunk = chunker.next(stream.size() - pos);
        pipe.write(stream.constData() + pos, chunk);
        pos += chunk;
        for (;;) {
            Frame frame;
            status = reader.read(pipe, &frame);
            if (status != FrameReader::Status::Ready)
                break;
            got.frames.push_back(frame);
        }
    }
    got.error = status == FrameReader::Status::Error;

    if (got.error != expected.error)
        fail("reader and model disagree on the error", reader.errorString().toUtf8());
    if (got.error == reader.errorString().isEmpty())
        fail("errorString() does not match the status", reader.errorString().toUtf8());
    if (got.frames.size() != expected.frames.size())
        fail("reader and model disagree on the number of frames",
             QByteArray::number(qulonglong(got.frames.size())) + " vs " +
                 QByteArray::number(qulonglong(expected.frames.size())));
    qint64 largestBody = 0;
    qint64 framed = 0;
    for (size_t i = 0; i < got.frames.size(); ++i) {
        const Frame &a = got.frames[i];
        const Frame &b = expected.frames[i];
        if (a.type != b.type || a.body != b.body)
            fail("reader and model disagree on a frame", QByteArray::number(qulonglong(i)));
        largestBody = std::max<qint64>(largestBody, a.body.size());
        framed += HeaderSize + a.body.size();
    }
    // Nothing was asked of the device beyond a header or an accepted body.
    if (pipe.largestRead() > std::max<qint64>(HeaderSize, largestBody))
        fail("the reader asked for more than a frame", QByteArray::number(pipe.largestRead()));
    // Of what follows the last frame, at most a header was taken.
    if (!got.error) {
        const qint64 taken = pipe.bytesTaken() - framed;
        if (taken != 0 && taken != HeaderSize)
            fail("the reader took part of an incomplete frame", QByteArray::number(taken));
    }

    // The in-memory reader (the worker's), fed the same chunks, keeping only
    // what it has not consumed: the same frames, the same verdict.
    {
        FrameReader memoryReader(maxBodySize);
        Outcome fromMemory;
        QByteArray pending;
        FrameReader::Status memoryStatus = FrameReader::Status::NeedMore;
        Chunker memoryChunker(chunking, stream.size());
        for (qsizetype pos = 0;
             pos < stream.size() && memoryStatus != FrameReader::Status::Error;) {
            const qsizetype chunk = memoryChunker.next(stream.size() - pos);
            pending.append(stream.constData() + pos, chunk);
            pos += chunk;
            qsizetype offset = 0;
            for (;;) {
                Frame frame;
                memoryStatus = memoryReader.read(pending, &offset, &frame);
                if (memoryStatus != FrameReader::Status::Ready)
                    break;
                fromMemory.frames.push_back(frame);
            }
            if (offset < 0 || offset > pending.size())
                fail("the in-memory reader moved past its bytes", QByteArray::number(offset));
            pending.remove(0, offset);
        }
        fromMemory.error = memoryStatus == FrameReader::Status::Error;
        if (fromMemory.error != expected.error)
            fail("in-memory reader and model disagree on the error",
                 memoryReader.errorString().toUtf8());
        if (fromMemory.frames.size() != expected.frames.size())
            fail("in-memory reader and model disagree on the number of frames",
                 QByteArray::number(qulonglong(fromMemory.frames.size())));
        for (size_t i = 0; i < fromMemory.frames.size(); ++i) {
            if (fromMemory.frames[i].type != expected.frames[i].type ||
                fromMemory.frames[i].body != expected.frames[i].body) {
                fail("in-memory reader and model disagree on a frame",
                     QByteArray::number(qulonglong(i)));
            }
        }
    }

    for (const Frame &frame : got.frames)
        decodeEveryWay(frame);
    return 0;
}
