// SPDX-License-Identifier: MIT
// Shared by the side-channel tests (tst_sharedbody, tst_arena): both ends of a
// real side channel, reading frames through it, and what a hostile peer
// would send on it. Qt Core only (fuzz_sharedbody uses it too);
// QPP_NEEDS_SIDE_CHANNEL() needs QtTest where it is used.
#ifndef QTPROCESSPOOL_TESTS_SIDECHANNEL_H
#define QTPROCESSPOOL_TESTS_SIDECHANNEL_H

#include "protocol/frame.h"
#include "protocol/sharedbody.h"

#include <QtCore/QBuffer>
#include <QtCore/QDir>
#include <QtCore/QList>
#include <QtCore/QtEndian>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace SideChannel {

using namespace QtProcessPool::protocol;
using Status = FrameReader::Status;

/// Both ends of a side channel, plus a raw descriptor on the receiving end's
/// peer for the hostile cases.
struct Pair
{
    SharedBodyChannel sender;
    SharedBodyChannel receiver;
    int rawSender = -1; // a duplicate of the sender's descriptor

    Pair()
    {
        int a = -1;
        int b = -1;
        if (!SharedBodyChannel::createPair(&a, &b))
            return;
        rawSender = ::dup(a);
        sender.reset(a);
        receiver.reset(b);
    }
    ~Pair()
    {
        if (rawSender >= 0)
            ::close(rawSender);
    }
};

/// All frames in bytes, with references resolved through channel.
inline QList<Frame> readAll(const QByteArray &bytes, SharedBodyChannel &channel,
                            QString *error = nullptr, qint64 limit = DefaultMaxMessageSize)
{
    QByteArray copy = bytes;
    QBuffer buffer(&copy);
    buffer.open(QIODevice::ReadOnly);
    FrameReader reader(limit);
    QList<Frame> frames;
    Frame frame;
    while (reader.read(buffer, &frame) == Status::Ready) {
        if (isBodyReference(frame.type)) {
            QString why;
            if (!channel.resolve(&frame, limit, &why)) {
                if (error)
                    *error = why;
                return frames;
            }
        }
        frames.append(frame);
    }
    return frames;
}

/// Sends the announced size and the given descriptors on fd, as a peer would.
inline bool sendRaw(int fd, quint32 announced, const QList<int> &descriptors)
{
    char data[4];
    qToBigEndian<quint32>(announced, data);
    iovec iov{data, sizeof data};
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))] = {};
    if (!descriptors.isEmpty()) {
        message.msg_control = control;
        message.msg_controllen = CMSG_SPACE(descriptors.size() * sizeof(int));
        cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(descriptors.size() * sizeof(int));
        std::memcpy(CMSG_DATA(header), descriptors.constData(), descriptors.size() * sizeof(int));
    }
    return ::sendmsg(fd, &message, MSG_NOSIGNAL) == ssize_t(sizeof data);
}

/// A memfd holding bytes, with the given seals added.
inline int memfdWith(const QByteArray &bytes, int seals)
{
    const int fd = ::memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -1;
    bool sealed = ::write(fd, bytes.constData(), size_t(bytes.size())) == ssize_t(bytes.size());
    // F_SEAL_WRITE fails with EBUSY while the kernel still holds a page just
    // written (another CPU's LRU batch) for a moment: try again.
    for (int attempt = 0; sealed && seals && ::fcntl(fd, F_ADD_SEALS, seals) != 0; ++attempt) {
        sealed = errno == EBUSY && attempt < 100;
        if (sealed)
            ::usleep(1000);
    }
    if (!sealed) {
        ::close(fd);
        return -1;
    }
    return fd;
}

inline int openDescriptorCount()
{
    return int(QDir(QStringLiteral("/proc/self/fd"))
                   .entryList(QDir::AllEntries | QDir::System | QDir::NoDotAndDotDot)
                   .size());
}

constexpr int AllSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

} // namespace SideChannel

// The side channel is Linux's (memfd, SCM_RIGHTS): the portable build has
// none, and its cases skip there; everywhere else they must run.
#ifdef QPP_PORTABLE
#define QPP_NEEDS_SIDE_CHANNEL()                                                                   \
    QSKIP("the portable build has no memfd side channel (QPP_PORTABLE)")
#else
#define QPP_NEEDS_SIDE_CHANNEL()                                                                   \
    do {                                                                                           \
    } while (false)
#endif

#endif
