// SPDX-License-Identifier: MIT
// libFuzzer harness of SharedBodyChannel::resolve() on a real side channel:
// what a hostile peer can announce -- reference frames of both kinds with any
// type, size, offset, end and arena capacity, after a memfd of any size and
// seals (or none) on the side channel -- is either refused or gives exactly
// the bytes at the announced place, its space given back once it is let go;
// no descriptor is ever leaked.
//
// Input: byte 0 picks what goes on the side channel first, bytes 1-4 the
// memfd's size, then reference frames as [kind][length][body] until the end.
#include "sidechannel.h"

#include "protocol/arena.h"
#include "protocol/sharedbody.h"

#include <QtCore/QtEndian>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace QtProcessPool::protocol;

namespace {

[[noreturn]] void fail(const char *what)
{
    std::fprintf(stderr, "shared body fuzz: %s\n", what);
    std::abort();
}

/// The open descriptors of the kinds this code handles, memfds and sockets,
/// as "fd -> target" lines: unchanged after each input, or one leaked. (Not
/// the lowest free descriptor: the sanitizer runtime opens pipes of its own,
/// for its symbolizer, after a leak check between two inputs.)
QByteArray ourDescriptors()
{
    QByteArray listed;
    DIR *dir = ::opendir("/proc/self/fd");
    if (!dir)
        fail("cannot list /proc/self/fd");
    while (const dirent *entry = ::readdir(dir)) {
        if (entry->d_name[0] == '.' || std::atoi(entry->d_name) == ::dirfd(dir))
            continue;
        char target[256] = {};
        const QByteArray link = QByteArray("/proc/self/fd/") + entry->d_name;
        if (::readlink(link.constData(), target, sizeof target - 1) <= 0)
            continue;
        if (std::strncmp(target, "/memfd:", 7) == 0 || std::strncmp(target, "socket:", 7) == 0)
            listed += QByteArray(entry->d_name) + " -> " + target + '\n';
    }
    ::closedir(dir);
    return listed;
}

/// Up to 4 MiB and a little, so that sizes near the arena's edges occur.
constexpr quint32 MaxMemfdSize = (4u << 20) + 4096;

/// A memfd of size bytes, each byte its offset's low byte (but the header,
/// zero), with seals (memfdWith(): -1 if the kernel would not seal it).
int makeMemfd(quint32 size, int seals)
{
    static const QByteArray contents = [] {
        QByteArray bytes(MaxMemfdSize, Qt::Uninitialized);
        for (qsizetype i = 0; i < bytes.size(); ++i)
            bytes[i] = i < ArenaHeaderSize ? '\0' : char(i);
        return bytes;
    }();
    return SideChannel::memfdWith(QByteArray::fromRawData(contents.constData(), size), seals);
}

constexpr int SealChoices[] = {F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, 0,
                               F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE, F_SEAL_GROW};

void run(const quint8 *data, size_t size)
{
    if (size < 5)
        return;
    const quint8 setup = data[0];
    const quint32 memfdSize = qFromBigEndian<quint32>(data + 1) % (MaxMemfdSize + 1);
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
        fail("socketpair");
    SharedBodyChannel receiver;
    receiver.reset(pair[1]);
    int ours = -1; // our descriptor of the memfd sent, to check what was read
    if (setup & 1) {
        ours = makeMemfd(memfdSize, SealChoices[(setup >> 2) & 3]);
        if (ours < 0) {
            ::close(pair[0]);
            return; // not sealed (see memfdWith()); the receiver closes its end
        }
        const quint32 announced = (setup & 2) ? memfdSize + 1 : memfdSize;
        if (!SideChannel::sendRaw(pair[0], announced, {ours}))
            fail("sendmsg");
    }
    const quint8 *at = data + 5;
    const quint8 *const end = data + size;
    while (end - at >= 2) {
        const quint8 kind = at[0];
        const size_t length = std::min<size_t>(at[1], size_t(end - at - 2));
        Frame frame{(kind & 1) ? ArenaBodyFrameType : SharedBodyFrameType,
                    QByteArray(reinterpret_cast<const char *>(at + 2), qsizetype(length))};
        const QByteArray reference = frame.body;
        at += 2 + length;
        const qint64 limit = (kind & 2) ? 1024 : DefaultMaxMessageSize;
        QString why;
        if (!receiver.resolve(&frame, limit, &why)) {
            if (why.isEmpty())
                fail("refused without a reason");
            break; // the connection would be dropped
        }
        // Accepted: exactly the announced bytes, from the announced place.
        const quint32 announcedSize = qFromBigEndian<quint32>(reference.constData() + 2);
        if (frame.body.size() != qsizetype(announcedSize) || qint64(announcedSize) > limit ||
            isBodyReference(frame.type))
            fail("accepted a body other than the one announced");
        if (reference.size() == 22 && ours >= 0) {
            const quint32 offset = qFromBigEndian<quint32>(reference.constData() + 6);
            for (qsizetype i = 0; i < frame.body.size(); i += 4093) {
                if (frame.body.constData()[i] != char(offset + quint32(i)))
                    fail("arena bytes from the wrong place");
            }
            // Let go of (a view is given back only then), the space returns.
            frame = Frame();
            receiver.reclaim();
            quint64 consumed = 0;
            if (::pread(ours, &consumed, sizeof consumed, 0) != ssize_t(sizeof consumed) ||
                consumed != qFromBigEndian<quint64>(reference.constData() + 10))
                fail("consumed position not written back");
        }
    }
    if (ours >= 0)
        ::close(ours);
    ::close(pair[0]);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    const QByteArray before = ourDescriptors();
    run(data, size);
    if (const QByteArray after = ourDescriptors(); after != before) {
        std::fprintf(stderr, "descriptors before:\n%safter:\n%s", before.constData(),
                     after.constData());
        fail("a descriptor was leaked");
    }
    return 0;
}
