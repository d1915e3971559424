// SPDX-License-Identifier: MIT
#include "protocol/frame.h"

#include <QtCore/QtEndian>

#include <algorithm>

namespace QtProcessPool::protocol {

namespace {
/// Room for more bytes in out, growing geometrically: appending frame after
/// frame stays linear.
void reserveFor(QByteArray &out, qint64 more)
{
    const qint64 needed = out.size() + more;
    if (needed > out.capacity())
        out.reserve(qsizetype(std::max<qint64>(needed, 2 * qint64(out.capacity()))));
}
} // namespace

qint64 totalSize(const QList<QByteArray> &pieces)
{
    qint64 size = 0;
    for (const QByteArray &piece : pieces)
        size += piece.size();
    return size;
}

void appendFrame(QByteArray &out, quint16 type, const QByteArray &head,
                 const QList<QByteArray> &tail)
{
    const qint64 bodySize = head.size() + totalSize(tail);
    Q_ASSERT(bodySize <= AbsoluteMaxMessageSize);
    char header[HeaderSize];
    qToBigEndian<quint32>(quint32(bodySize), header);
    qToBigEndian<quint16>(type, header + 4);
    qToBigEndian<quint16>(0, header + 6);
    reserveFor(out, HeaderSize + bodySize);
    out.append(header, HeaderSize);
    out.append(head);
    for (const QByteArray &piece : tail)
        out.append(piece);
}

void appendFrame(QByteArray &out, quint16 type, const QByteArray &body)
{
    appendFrame(out, type, body, {});
}

QByteArray encodeFrame(quint16 type, const QByteArray &body)
{
    QByteArray out;
    appendFrame(out, type, body);
    return out;
}

void OutgoingFrames::append(const QByteArray &frames)
{
    if (frames.isEmpty())
        return;
    // Small frames share a buffer; a large one is not copied into it.
    constexpr qsizetype Small = 64 * 1024;
    if (!m_parts.empty() && !m_parts.back().split && frames.size() < Small &&
        m_parts.back().bytes.size() < Small) {
        m_parts.back().bytes += frames;
    } else {
        m_parts.push_back(Part{frames, {}, 0, false});
    }
}

void OutgoingFrames::append(quint16 type, const QByteArray &head, const QList<QByteArray> &tail)
{
    m_parts.push_back(Part{head, tail, type, true});
}

void OutgoingFrames::append(OutgoingFrames &&other)
{
    for (Part &part : other.m_parts) {
        if (part.split)
            m_parts.push_back(std::move(part));
        else
            append(part.bytes);
    }
    other.clear();
}

QByteArray OutgoingFrames::toByteArray() const
{
    QByteArray out;
    for (const Part &part : m_parts) {
        if (part.split)
            appendFrame(out, part.type, part.bytes, part.tail);
        else
            out += part.bytes;
    }
    return out;
}

bool FrameReader::takeHeader(const char *header)
{
    m_bodySize = qFromBigEndian<quint32>(header);
    m_type = qFromBigEndian<quint16>(header + 4);
    const quint16 reserved = qFromBigEndian<quint16>(header + 6);
    if (reserved != 0) {
        m_error = QStringLiteral("malformed frame header");
        return false;
    }
    if (qint64(m_bodySize) > m_maxBodySize) {
        m_error = QStringLiteral("frame of %1 bytes exceeds the limit of %2 bytes")
                      .arg(m_bodySize)
                      .arg(m_maxBodySize);
        return false;
    }
    m_haveHeader = true;
    return true;
}

FrameReader::Status FrameReader::read(QIODevice &device, Frame *frame)
{
    if (!m_error.isEmpty())
        return Status::Error;
    if (!m_haveHeader) {
        if (device.bytesAvailable() < HeaderSize)
            return Status::NeedMore;
        char header[HeaderSize];
        if (device.read(header, HeaderSize) != HeaderSize) {
            m_error = QStringLiteral("could not read a frame header");
            return Status::Error;
        }
        if (!takeHeader(header))
            return Status::Error;
    }
    if (device.bytesAvailable() < qint64(m_bodySize))
        return Status::NeedMore;
    frame->type = m_type;
    frame->body = device.read(m_bodySize);
    if (frame->body.size() != qsizetype(m_bodySize)) {
        m_error = QStringLiteral("could not read a frame body");
        return Status::Error;
    }
    m_haveHeader = false;
    return Status::Ready;
}

FrameReader::Status FrameReader::read(const QByteArray &bytes, qsizetype *offset, Frame *frame)
{
    if (!m_error.isEmpty())
        return Status::Error;
    if (!m_haveHeader) {
        if (bytes.size() - *offset < HeaderSize)
            return Status::NeedMore;
        if (!takeHeader(bytes.constData() + *offset))
            return Status::Error;
        *offset += HeaderSize;
    }
    if (bytes.size() - *offset < qint64(m_bodySize))
        return Status::NeedMore;
    frame->type = m_type;
    frame->body = bytes.mid(*offset, qsizetype(m_bodySize));
    *offset += qsizetype(m_bodySize);
    m_haveHeader = false;
    return Status::Ready;
}

} // namespace QtProcessPool::protocol
