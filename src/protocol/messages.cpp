// SPDX-License-Identifier: MIT
#include "protocol/messages.h"

#include <QtProcessPool/detail/serialization.h>

#include <QtCore/QDataStream>
#include <QtCore/QtEndian>

namespace QtProcessPool::protocol {

namespace {

constexpr quint32 NullMarker = 0xffffffffu;

/// The length prefix QDataStream writes for payload, ending the head.
quint32 payloadPrefix(const detail::Payload &payload)
{
    return payload.isNull() ? NullMarker : quint32(payload.size());
}

// Writes fields exactly as QDataStream (StreamVersion, big-endian) would,
// straight into a QByteArray: no QBuffer or QDataStream per message.
class Writer
{
public:
    Writer() = default;
    /// Writes a whole frame of that type: header first, body after it, so a
    /// large payload is copied once rather than into a body and then a frame.
    explicit Writer(MessageType frameType, qsizetype sizeHint = 0)
    {
        if (HeaderSize + sizeHint >= detail::LargeBufferSize)
            detail::reserveLarge(m_bytes, HeaderSize + sizeHint);
        else
            m_bytes.reserve(HeaderSize + sizeHint);
        m_frameType = quint16(frameType);
        m_bytes.resize(HeaderSize);
    }
    template <typename T>
    Writer &operator<<(T value)
    {
        static_assert(std::is_integral_v<T>);
        char bytes[sizeof(T)];
        qToBigEndian<T>(value, bytes);
        m_bytes.append(bytes, sizeof(T));
        return *this;
    }
    Writer &operator<<(const QByteArray &value)
    {
        if (value.isNull())
            return *this << NullMarker;
        *this << quint32(value.size());
        m_bytes.append(value);
        return *this;
    }
    Writer &operator<<(const detail::Payload &value)
    {
        *this << payloadPrefix(value);
        for (const QByteArray &piece : value.pieces())
            m_bytes.append(piece);
        return *this;
    }
    Writer &operator<<(const QString &value)
    {
        if (value.isNull())
            return *this << NullMarker;
        *this << quint32(value.size() * 2);
        const qsizetype at = m_bytes.size();
        m_bytes.resize(at + value.size() * 2);
        qToBigEndian<char16_t>(value.utf16(), value.size(), m_bytes.data() + at);
        return *this;
    }
    Writer &operator<<(const QStringList &value)
    {
        *this << quint32(value.size());
        for (const QString &item : value)
            *this << item;
        return *this;
    }
    QByteArray take()
    {
        if (m_frameType >= 0) {
            Q_ASSERT(m_bytes.size() - HeaderSize <= AbsoluteMaxMessageSize);
            char *header = m_bytes.data();
            qToBigEndian<quint32>(quint32(m_bytes.size() - HeaderSize), header);
            qToBigEndian<quint16>(quint16(m_frameType), header + 4);
            qToBigEndian<quint16>(0, header + 6);
        }
        return std::move(m_bytes);
    }

private:
    QByteArray m_bytes;
    int m_frameType = -1; // a body only
};

// Reads fields with bounds checks: a length prefix larger than what is left of
// the body fails the read instead of allocating.
class Reader
{
public:
    explicit Reader(const QByteArray &body)
        : m_body(body)
    {
    }
    bool ok() const { return m_ok; }
    bool atEnd() const { return m_pos == m_body.size(); }
    /// True when every field decoded and no byte is left over.
    bool finish() const { return m_ok && atEnd(); }

    template <typename T>
    Reader &operator>>(T &value)
    {
        static_assert(std::is_integral_v<T>);
        if (!need(sizeof(T)))
            return *this;
        value = qFromBigEndian<T>(m_body.constData() + m_pos);
        m_pos += sizeof(T);
        return *this;
    }
    Reader &operator>>(QByteArray &value)
    {
        quint32 size = 0;
        *this >> size;
        if (!m_ok)
            return *this;
        if (size == NullMarker) {
            value = QByteArray();
        } else if (need(size)) {
            value = qsizetype(size) >= detail::LargeBufferSize
                        ? detail::sharedSlice(m_body, m_pos, size)
                        : m_body.mid(m_pos, size);
            m_pos += size;
        }
        return *this;
    }
    Reader &operator>>(detail::Payload &value)
    {
        QByteArray bytes;
        *this >> bytes;
        value = std::move(bytes);
        return *this;
    }
    Reader &operator>>(QString &value)
    {
        quint32 size = 0;
        *this >> size;
        if (!m_ok)
            return *this;
        if (size == NullMarker) {
            value = QString();
            return *this;
        }
        if (size % 2 != 0) {
            m_ok = false;
            return *this;
        }
        if (!need(size))
            return *this;
        value.resize(qsizetype(size / 2));
        qFromBigEndian<char16_t>(m_body.constData() + m_pos, size / 2,
                                 reinterpret_cast<char16_t *>(value.data()));
        m_pos += size;
        return *this;
    }
    Reader &operator>>(QStringList &value)
    {
        quint32 count = 0;
        *this >> count;
        // Each string takes at least its 4-byte length. Nothing is reserved
        // from the count: the list grows with the strings actually read.
        if (!m_ok || !fits(qint64(count) * 4))
            return fail();
        value.clear();
        for (quint32 i = 0; i < count && m_ok; ++i) {
            QString s;
            *this >> s;
            value.append(s);
        }
        return *this;
    }

private:
    bool fits(qint64 size) const { return size <= m_body.size() - m_pos; }
    bool need(qint64 size)
    {
        if (!m_ok || !fits(size))
            m_ok = false;
        return m_ok;
    }
    Reader &fail()
    {
        m_ok = false;
        return *this;
    }

    const QByteArray &m_body;
    qsizetype m_pos = 0;
    bool m_ok = true;
};

} // namespace

QByteArray encodeBody(const Challenge &m)
{
    return (Writer() << m.nonce).take();
}
bool decodeBody(const QByteArray &body, Challenge *m)
{
    Reader r(body);
    r >> m->nonce;
    return r.finish() && m->nonce.size() == NonceSize;
}

#ifndef QPP_VERSION_STRING
#define QPP_VERSION_STRING "(unversioned)" // built outside the library (fuzz harnesses)
#endif

QString buildId()
{
    return QStringLiteral("QtProcessPool " QPP_VERSION_STRING " (protocol %1)")
        .arg(ProtocolVersion);
}

QByteArray encodeBody(const Hello &m)
{
    return (Writer() << m.protocolVersion << m.slotId << m.pid << m.proof << m.host << m.build)
        .take();
}
bool decodeBody(const QByteArray &body, Hello *m)
{
    Reader r(body);
    r >> m->protocolVersion >> m->slotId >> m->pid >> m->proof >> m->host >> m->build;
    return r.finish();
}

template <typename W>
W &writeFields(W &w, const RunTask &m)
{
    return w << m.taskId << m.name << m.argTypes << m.resultType << m.itemCount << m.arguments;
}
QByteArray encodeBody(const RunTask &m)
{
    Writer w;
    return writeFields(w, m).take();
}
namespace {
/// Payloads from this size on stay out of the frame (OutgoingFrames).
constexpr qsizetype SplitPayloadSize = 64 * 1024;
} // namespace

void appendMessage(OutgoingFrames &out, const RunTask &m)
{
    if (m.arguments.size() < SplitPayloadSize)
        return out.append(encodeMessage(m));
    Writer head;
    head << m.taskId << m.name << m.argTypes << m.resultType << m.itemCount
         << payloadPrefix(m.arguments);
    out.append(quint16(RunTask::Type), head.take(), m.arguments.pieces());
}

void appendMessage(OutgoingFrames &out, const TaskFinished &m)
{
    if (m.results.size() < SplitPayloadSize)
        return out.append(encodeMessage(m));
    Writer head;
    head << m.taskId << m.resultCount << payloadPrefix(m.results);
    out.append(quint16(TaskFinished::Type), head.take(), m.results.pieces());
}

QByteArray encodeMessage(const RunTask &m)
{
    Writer w(RunTask::Type, 256 + m.arguments.size());
    return writeFields(w, m).take();
}
bool decodeBody(const QByteArray &body, RunTask *m)
{
    Reader r(body);
    r >> m->taskId >> m->name >> m->argTypes >> m->resultType >> m->itemCount >> m->arguments;
    return r.finish();
}

QByteArray encodeBody(const CancelTask &m)
{
    return (Writer() << m.taskId).take();
}
bool decodeBody(const QByteArray &body, CancelTask *m)
{
    Reader r(body);
    r >> m->taskId;
    return r.finish();
}

QByteArray encodeBody(const RevokeTask &m)
{
    return (Writer() << m.taskId).take();
}
bool decodeBody(const QByteArray &body, RevokeTask *m)
{
    Reader r(body);
    r >> m->taskId;
    return r.finish();
}

QByteArray encodeBody(const StartTask &m)
{
    return (Writer() << m.taskId).take();
}
bool decodeBody(const QByteArray &body, StartTask *m)
{
    Reader r(body);
    r >> m->taskId;
    return r.finish();
}

QByteArray encodeBody(const Heartbeat &)
{
    return {};
}
bool decodeBody(const QByteArray &body, Heartbeat *)
{
    return body.isEmpty();
}
QByteArray encodeBody(const WorkerHeartbeat &)
{
    return {};
}
bool decodeBody(const QByteArray &body, WorkerHeartbeat *)
{
    return body.isEmpty();
}

QByteArray encodeBody(const SuspendTask &m)
{
    return (Writer() << m.taskId << m.suspended).take();
}
bool decodeBody(const QByteArray &body, SuspendTask *m)
{
    Reader r(body);
    r >> m->taskId >> m->suspended;
    return r.finish() && m->suspended <= 1;
}

QByteArray encodeBody(const TaskResults &m)
{
    return (Writer() << m.taskId << m.resultCount << m.results).take();
}
QByteArray encodeMessage(const TaskResults &m)
{
    return (Writer(TaskResults::Type, 32 + m.results.size())
            << m.taskId << m.resultCount << m.results)
        .take();
}
bool decodeBody(const QByteArray &body, TaskResults *m)
{
    Reader r(body);
    r >> m->taskId >> m->resultCount >> m->results;
    return r.finish();
}

QByteArray encodeBody(const TaskProgress &m)
{
    return (Writer() << m.taskId << m.minimum << m.maximum << m.value << m.text).take();
}
bool decodeBody(const QByteArray &body, TaskProgress *m)
{
    Reader r(body);
    r >> m->taskId >> m->minimum >> m->maximum >> m->value >> m->text;
    return r.finish();
}

QByteArray encodeBody(const TaskStarted &m)
{
    return (Writer() << m.taskId).take();
}
bool decodeBody(const QByteArray &body, TaskStarted *m)
{
    Reader r(body);
    r >> m->taskId;
    return r.finish();
}

QByteArray encodeBody(const TaskFinished &m)
{
    return (Writer() << m.taskId << m.resultCount << m.results).take();
}
QByteArray encodeMessage(const TaskFinished &m)
{
    return (Writer(TaskFinished::Type, 32 + m.results.size())
            << m.taskId << m.resultCount << m.results)
        .take();
}
bool decodeBody(const QByteArray &body, TaskFinished *m)
{
    Reader r(body);
    r >> m->taskId >> m->resultCount >> m->results;
    return r.finish();
}

QByteArray encodeBody(const TaskFailed &m)
{
    return (Writer() << m.taskId << m.kind << m.message << m.remoteType).take();
}
bool decodeBody(const QByteArray &body, TaskFailed *m)
{
    Reader r(body);
    r >> m->taskId >> m->kind >> m->message >> m->remoteType;
    return r.finish();
}

} // namespace QtProcessPool::protocol
