// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_PROTOCOL_FRAME_H
#define QTPROCESSPOOL_PROTOCOL_FRAME_H

// Framing of the pool <-> worker byte stream. Plain functions and a reader on
// QIODevice: no sockets, no QObject, so every malformed input is unit-testable.
//
// A frame is an 8-byte header -- quint32 body length, quint16 message type,
// quint16 reserved (zero), all big-endian -- followed by the body.

#include <QtCore/QByteArray>
#include <QtCore/QIODevice>
#include <QtCore/QList>
#include <QtCore/QString>

#include <vector>

namespace QtProcessPool::protocol {

inline constexpr int HeaderSize = 8;
/// Default limit of a frame body; a frame announcing more is refused before
/// anything is allocated for it.
inline constexpr qint64 DefaultMaxMessageSize = qint64(1) << 30;
/// The largest body a header can describe.
inline constexpr qint64 AbsoluteMaxMessageSize = 0xffffffffLL;

struct Frame
{
    quint16 type = 0;
    QByteArray body;
};

/// Header followed by body. The body must not exceed AbsoluteMaxMessageSize.
QByteArray encodeFrame(quint16 type, const QByteArray &body);
/// Appends the frame to out (saves a copy when batching frames).
void appendFrame(QByteArray &out, quint16 type, const QByteArray &body);
/// The bytes of pieces sent back to back.
qint64 totalSize(const QList<QByteArray> &pieces);
/// The same for a body given in pieces, head then each piece of tail.
void appendFrame(QByteArray &out, quint16 type, const QByteArray &head,
                 const QList<QByteArray> &tail);

/// Frames on their way out, in order. A frame whose body ends with a large
/// payload is kept in pieces, its head and the payload's own pieces
/// (detail::Payload), so the payload is never copied into a frame: it can go
/// through shared memory straight from its own buffers
/// (SharedBodyChannel::wire()).
class OutgoingFrames
{
public:
    struct Part
    {
        QByteArray bytes;       // whole frames; or, when split, the head of one body
        QList<QByteArray> tail; // split: the rest of the body, in pieces
        quint16 type = 0;       // split: the frame's type
        bool split = false;
    };

    /// Whole frames, back to back.
    void append(const QByteArray &frames);
    /// One frame of that type whose body is head followed by tail.
    void append(quint16 type, const QByteArray &head, const QList<QByteArray> &tail);
    void append(OutgoingFrames &&other);
    bool isEmpty() const { return m_parts.empty(); }
    void clear() { m_parts.clear(); }
    const std::vector<Part> &parts() const { return m_parts; }
    /// Everything as plain frames in one buffer.
    QByteArray toByteArray() const;

private:
    std::vector<Part> m_parts;
};

/// Reads frames from a device as bytes become available. The 8-byte header is
/// taken (and checked) as soon as it is there; the body only once all of it
/// is, so a peer announcing a large body makes us allocate nothing until it
/// has actually sent it.
class FrameReader
{
public:
    enum class Status { NeedMore, Ready, Error };

    explicit FrameReader(qint64 maxBodySize = DefaultMaxMessageSize)
        : m_maxBodySize(maxBodySize)
    {
    }
    void setMaxBodySize(qint64 bytes) { m_maxBodySize = bytes; }
    qint64 maxBodySize() const { return m_maxBodySize; }

    /// Ready: *frame holds the next frame. NeedMore: call again after more
    /// bytes arrive. Error: the stream is unusable (errorString() says why);
    /// close the connection.
    Status read(QIODevice &device, Frame *frame);
    /// The same for bytes already in memory, from *offset on; *offset moves
    /// past what was consumed (a header alone may be consumed: keep the
    /// bytes from *offset on for the next call).
    Status read(const QByteArray &bytes, qsizetype *offset, Frame *frame);
    QString errorString() const { return m_error; }

private:
    /// Checks and takes an 8-byte header; false (Error) if it is refused.
    bool takeHeader(const char *header);

    qint64 m_maxBodySize;
    bool m_haveHeader = false;
    quint32 m_bodySize = 0;
    quint16 m_type = 0;
    QString m_error;
};

} // namespace QtProcessPool::protocol

#endif
