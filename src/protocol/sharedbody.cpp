// SPDX-License-Identifier: MIT
#include "protocol/sharedbody.h"

#include "platformfeatures_p.h"

#include <QtProcessPool/detail/serialization.h>

#include <QtCore/QtEndian>

#include <algorithm>
#include <atomic>
#include <cstring>

#ifdef QPP_HAVE_LINUX_FEATURES
#include <cerrno>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#define QPP_SHARED_BODIES 1
#endif

namespace QtProcessPool::protocol {

namespace {

constexpr int ReferenceSize = 2 + 4; // quint16 type, quint32 size
// quint16 type, quint32 size, quint32 offset, quint64 end, quint32 new capacity
constexpr int ArenaReferenceSize = 2 + 4 + 4 + 8 + 4;

#ifdef QPP_SHARED_BODIES
constexpr int RequiredSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

#endif

} // namespace

SharedBodyChannel::~SharedBodyChannel()
{
    reset();
}

bool SharedBodyChannel::createPair(int *ours, int *theirs)
{
#ifdef QPP_SHARED_BODIES
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
        return false;
    *ours = fds[0];
    *theirs = fds[1];
    return true;
#else
    Q_UNUSED(ours);
    Q_UNUSED(theirs);
    return false;
#endif
}

void SharedBodyChannel::reset(int fd)
{
#ifdef QPP_SHARED_BODIES
    if (m_fd >= 0)
        ::close(m_fd);
#endif
    m_fd = fd;
    m_outgoing.reset();
    m_incoming.reset();
}

bool SharedBodyChannel::share(QByteArray &out, quint16 type, const QList<QByteArray> &body)
{
    const quint32 size = quint32(totalSize(body));
    ArenaPlacement placement;
    if (m_outgoing.place(body, &placement)) {
        if (placement.newFd < 0 || sendDescriptor(placement.newFd, placement.newCapacity)) {
            char reference[ArenaReferenceSize];
            qToBigEndian<quint16>(type, reference);
            qToBigEndian<quint32>(size, reference + 2);
            qToBigEndian<quint32>(placement.offset, reference + 6);
            qToBigEndian<quint64>(placement.end, reference + 10);
            qToBigEndian<quint32>(placement.newCapacity, reference + 18);
            appendFrame(out, ArenaBodyFrameType,
                        QByteArray::fromRawData(reference, ArenaReferenceSize));
            ++m_sent;
            ++m_arenaSent;
            return true;
        }
        m_outgoing.discard(); // the peer never got it
    }
    if (!sendBody(body, size))
        return false;
    appendReference(out, type, size);
    return true;
}

bool SharedBodyChannel::sendDescriptor(int fd, quint32 announced)
{
#ifdef QPP_SHARED_BODIES
    char bytes[4];
    qToBigEndian<quint32>(announced, bytes);
    iovec iov{bytes, sizeof bytes};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(header), &fd, sizeof(int));
    ssize_t result;
    do {
        // Never blocks: a receiver that does not drain its side channel gets
        // the body another way.
        result = ::sendmsg(m_fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (result < 0 && errno == EINTR);
    return result == ssize_t(sizeof bytes);
#else
    Q_UNUSED(fd);
    Q_UNUSED(announced);
    return false;
#endif
}

bool SharedBodyChannel::sendBody(const QList<QByteArray> &body, quint32 size)
{
#ifdef QPP_SHARED_BODIES
    const int memfd = ::memfd_create("qtprocesspool-body", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (memfd < 0)
        return false;
    const bool sent = writePieces(memfd, body, 0) &&
                      ::fcntl(memfd, F_ADD_SEALS, RequiredSeals | F_SEAL_SEAL) == 0 &&
                      sendDescriptor(memfd, size);
    ::close(memfd);
    m_sent += sent;
    return sent;
#else
    Q_UNUSED(body);
    Q_UNUSED(size);
    return false;
#endif
}

void SharedBodyChannel::appendReference(QByteArray &out, quint16 type, quint32 bodySize)
{
    char reference[ReferenceSize];
    qToBigEndian<quint16>(type, reference);
    qToBigEndian<quint32>(bodySize, reference + 2);
    appendFrame(out, SharedBodyFrameType, QByteArray::fromRawData(reference, ReferenceSize));
}

void SharedBodyChannel::reclaim()
{
    m_incoming.reclaim();
}

QByteArray SharedBodyChannel::wire(const OutgoingFrames &frames)
{
    reclaim(); // a peer that waits for our answer may need the space
    const auto &parts = frames.parts();
    if (parts.size() == 1 && !parts.front().split)
        return divert(parts.front().bytes);
    QByteArray out;
    for (const OutgoingFrames::Part &part : parts) {
        if (!part.split) {
            out += divert(part.bytes);
            continue;
        }
        const QList<QByteArray> body = QList<QByteArray>{part.bytes} + part.tail;
        if (m_fd < 0 || totalSize(body) < SharedBodyThreshold || isBodyReference(part.type) ||
            !share(out, part.type, body))
            appendFrame(out, part.type, part.bytes, part.tail);
    }
    return out;
}

QByteArray SharedBodyChannel::divert(const QByteArray &frames)
{
    reclaim();
    if (m_fd < 0 || frames.size() < HeaderSize + SharedBodyThreshold)
        return frames;
    QByteArray out;
    qsizetype copiedUpTo = 0;
    qsizetype pos = 0;
    while (frames.size() - pos >= HeaderSize) {
        const char *header = frames.constData() + pos;
        const quint32 bodySize = qFromBigEndian<quint32>(header);
        const quint16 type = qFromBigEndian<quint16>(header + 4);
        const qsizetype next = pos + HeaderSize + qsizetype(bodySize);
        if (next > frames.size())
            break; // not whole frames: leave the rest alone
        if (bodySize >= SharedBodyThreshold && !isBodyReference(type)) {
            QByteArray reference;
            if (share(reference, type,
                      {QByteArray::fromRawData(header + HeaderSize, qsizetype(bodySize))})) {
                if (out.isEmpty())
                    out.reserve(frames.size() - bodySize);
                out.append(frames.constData() + copiedUpTo, pos - copiedUpTo);
                out += reference;
                copiedUpTo = next;
            }
        }
        pos = next;
    }
    if (copiedUpTo == 0)
        return frames;
    out.append(frames.constData() + copiedUpTo, frames.size() - copiedUpTo);
    return out;
}

#ifdef QPP_SHARED_BODIES
namespace {

/// Receives the message that goes with a reference frame: 4 bytes saying the
/// size, and exactly one descriptor. Whatever descriptors came, we own them:
/// one is kept (*fd, also on failure, for the caller to close), the rest closed.
bool receiveAnnounced(int channel, quint32 size, int *fd, QString *why)
{
    char announced[8]; // room for more than expected, to notice it
    iovec iov{announced, sizeof announced};
    alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))] = {};
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ssize_t received;
    do {
        received = ::recvmsg(channel, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    } while (received < 0 && errno == EINTR);
    if (received < 0) {
        *why = QStringLiteral("no shared memory arrived for a reference");
        return false;
    }
    int descriptors = 0;
    for (cmsghdr *h = CMSG_FIRSTHDR(&message); h; h = CMSG_NXTHDR(&message, h)) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
            continue;
        const size_t count = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
            int receivedFd;
            std::memcpy(&receivedFd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
            if (++descriptors == 1)
                *fd = receivedFd;
            else
                ::close(receivedFd);
        }
    }
    if (received != 4 || (message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || descriptors != 1 ||
        qFromBigEndian<quint32>(announced) != size) {
        *why = QStringLiteral("malformed shared memory message");
        return false;
    }
    return true;
}

/// Checks that fd is sealed memory of exactly size bytes (its bytes are then
/// copied out by the kernel, readFully(): no page faults on a mapping).
bool checkSealed(int fd, quint32 size, QString *why)
{
    struct stat info
    {
    };
    const int seals = ::fcntl(fd, F_GET_SEALS);
    if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) || info.st_size != off_t(size) ||
        seals < 0 || (seals & RequiredSeals) != RequiredSeals) {
        *why = QStringLiteral("shared memory of the wrong kind, size or seals");
        return false;
    }
    return true;
}

} // namespace
#endif

QByteArray SharedBodyChannel::bodyBuffer(quint32 size)
{
    const qsizetype wanted = qsizetype(size);
    QByteArray body;
    if (wanted < detail::LargeBufferSize) {
        body.resize(wanted);
        return body;
    }
    // The last large buffer, if every frame and value that shared it is gone:
    // its memory is already there, where a new one would be faulted in page
    // by page. Taken out, so that filling it does not detach (copy) it.
    if (!m_spare.isNull() && !m_spare.data_ptr().isShared() && m_spare.capacity() >= wanted) {
        std::atomic_thread_fence(std::memory_order_acquire); // after the last holder's release
        body = std::move(m_spare);
        m_spare = QByteArray();
    } else {
        detail::reserveLarge(body, wanted);
    }
    body.resize(wanted);
    return body;
}

void SharedBodyChannel::keepSpare(const QByteArray &body)
{
    if (body.size() >= detail::LargeBufferSize && body.size() >= m_spare.capacity())
        m_spare = body;
}

bool SharedBodyChannel::resolve(Frame *frame, qint64 maxBodySize, QString *why)
{
    if (frame->type == ArenaBodyFrameType)
        return resolveArena(frame, maxBodySize, why);
    if (frame->type != SharedBodyFrameType || frame->body.size() != ReferenceSize) {
        *why = QStringLiteral("malformed shared memory reference");
        return false;
    }
    const quint16 type = qFromBigEndian<quint16>(frame->body.constData());
    const quint32 size = qFromBigEndian<quint32>(frame->body.constData() + 2);
    if (isBodyReference(type)) {
        *why = QStringLiteral("malformed shared memory reference");
        return false;
    }
    if (qint64(size) > maxBodySize) {
        *why = QStringLiteral("frame of %1 bytes exceeds the limit of %2 bytes")
                   .arg(size)
                   .arg(maxBodySize);
        return false;
    }
#ifdef QPP_SHARED_BODIES
    if (m_fd < 0) {
        *why = QStringLiteral("shared memory reference without a side channel");
        return false;
    }
    int fd = -1;
    QByteArray body;
    bool ok = receiveAnnounced(m_fd, size, &fd, why) && checkSealed(fd, size, why);
    if (ok) {
        body = bodyBuffer(size);
        ok = readFully(fd, body.data(), size, 0);
        if (ok)
            keepSpare(body);
        else
            *why = QStringLiteral("could not read shared memory of %1 bytes").arg(size);
    }
    if (fd >= 0)
        ::close(fd);
    if (!ok)
        return false;
    frame->type = type;
    frame->body = std::move(body);
    ++m_received;
    return true;
#else
    *why = QStringLiteral("shared memory references are not supported here");
    return false;
#endif
}

bool SharedBodyChannel::resolveArena(Frame *frame, qint64 maxBodySize, QString *why)
{
    const char *reference = frame->body.constData();
    if (frame->body.size() != ArenaReferenceSize ||
        isBodyReference(qFromBigEndian<quint16>(reference))) {
        *why = QStringLiteral("malformed shared memory reference");
        return false;
    }
    const quint16 type = qFromBigEndian<quint16>(reference);
    const quint32 size = qFromBigEndian<quint32>(reference + 2);
    const quint32 offset = qFromBigEndian<quint32>(reference + 6);
    const quint64 end = qFromBigEndian<quint64>(reference + 10);
    const quint32 newCapacity = qFromBigEndian<quint32>(reference + 18);
    if (qint64(size) > maxBodySize) {
        *why = QStringLiteral("frame of %1 bytes exceeds the limit of %2 bytes")
                   .arg(size)
                   .arg(maxBodySize);
        return false;
    }
#ifdef QPP_SHARED_BODIES
    if (newCapacity != 0) {
        if (m_fd < 0) {
            *why = QStringLiteral("shared memory reference without a side channel");
            return false;
        }
        int fd = -1;
        if (!receiveAnnounced(m_fd, newCapacity, &fd, why)) {
            if (fd >= 0)
                ::close(fd);
            return false;
        }
        if (!m_incoming.adopt(fd, newCapacity, why))
            return false;
    }
    if (!m_incoming.contains(offset, size, why))
        return false;
    QByteArray body;
    if (!m_incoming.view(offset, size, end, &body)) {
        body = bodyBuffer(size);
        if (!m_incoming.read(offset, size, end, body.data(), why))
            return false;
        keepSpare(body);
    }
    frame->type = type;
    frame->body = std::move(body);
    ++m_received;
    ++m_arenaReceived;
    return true;
#else
    Q_UNUSED(type);
    Q_UNUSED(offset);
    Q_UNUSED(end);
    Q_UNUSED(newCapacity);
    *why = QStringLiteral("shared memory references are not supported here");
    return false;
#endif
}

} // namespace QtProcessPool::protocol
