// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_PROTOCOL_SHAREDBODY_H
#define QTPROCESSPOOL_PROTOCOL_SHAREDBODY_H

// Large frame bodies through shared memory (Linux). Each worker has a side
// channel, a SOCK_SEQPACKET socket pair made by the pool before the worker
// starts (so no other process can reach it). A frame whose body is at least
// SharedBodyThreshold bytes leaves as a reference frame on the main connection
//   type SharedBodyFrameType, body: quint16 type, quint32 size (big-endian)
// while its body travels in a sealed memfd sent over the side channel just
// before (SCM_RIGHTS). The receiver reads the memfd in one call and handles
// the frame as if its body had come inline: one copy in and one out, instead
// of a trip through two socket buffers in small pieces.
//
// What arrives on the side channel is checked like everything else: exactly
// one descriptor, a regular file of exactly the announced size (within the
// receiver's limit), sealed against writing, growing and shrinking -- so the
// sender cannot change the bytes while they are read.
// Where memfd or the channel is unavailable, bodies go inline as before.
//
// Most bodies do not need a memfd of their own: each direction has a
// persistent arena (arena.h), kept from body to body, and a body placed
// there leaves as an arena reference frame
//   type ArenaBodyFrameType, body: quint16 type, quint32 size, quint32 offset,
//                                 quint64 end, quint32 new arena's capacity
// (big-endian). A non-zero capacity says that a new arena, sent on the side
// channel just before (the 4 bytes announce its capacity), replaces the old
// one from this body on. The receiver hands such a body on as a view of the
// arena (read in place, no copy) and gives its space back once no one holds
// it (reclaim()). A body goes to a sealed memfd of its own only when the
// arena has no room yet or the body is larger than any arena.

#include "protocol/arena.h"
#include "protocol/frame.h"

#include <QtCore/QString>

namespace QtProcessPool::protocol {

/// Frame type of a reference to a body in shared memory (no message uses it).
inline constexpr quint16 SharedBodyFrameType = 0xffff;
/// Frame type of a reference to a body in the sender's arena (likewise).
inline constexpr quint16 ArenaBodyFrameType = 0xfffe;
/// Whether frames of this type stand for a body elsewhere (resolve() them).
constexpr bool isBodyReference(quint16 type)
{
    return type == SharedBodyFrameType || type == ArenaBodyFrameType;
}
/// Bodies of at least this many bytes go through shared memory when they can.
inline constexpr qint64 SharedBodyThreshold = 256 * 1024;

/// One end of a side channel. Not thread-safe: the owner serializes access
/// (the order of sends must match the order of the reference frames).
class SharedBodyChannel
{
public:
    SharedBodyChannel() = default;
    ~SharedBodyChannel();
    SharedBodyChannel(const SharedBodyChannel &) = delete;
    SharedBodyChannel &operator=(const SharedBodyChannel &) = delete;

    /// Makes a connected pair for a new worker: *ours stays with the pool,
    /// *theirs is inherited by the worker (both close-on-exec; clear it in the
    /// child). False where unsupported.
    static bool createPair(int *ours, int *theirs);

    /// Takes ownership of fd (-1: none); closes the previous one.
    void reset(int fd = -1);
    bool isOpen() const { return m_fd >= 0; }

    /// The bytes to write on the main connection for these frames (whole
    /// frames back to back): unchanged, except that every body of at least
    /// SharedBodyThreshold bytes has been sent on the side channel and its
    /// frame replaced by a reference frame. Bodies the channel cannot take
    /// (closed, no memfd, full) stay inline.
    QByteArray divert(const QByteArray &frames);
    /// The same for frames kept in pieces: a large split body goes to shared
    /// memory straight from its pieces, without being put together first.
    QByteArray wire(const OutgoingFrames &frames);

    /// For a frame whose type isBodyReference(): receives the body it
    /// announces and turns *frame into the frame it stands for. False, with
    /// *why, for anything but exactly what was announced; the connection must
    /// then be dropped.
    bool resolve(Frame *frame, qint64 maxBodySize, QString *why);

    /// Gives the peer back the arena space of received bodies no one holds
    /// any more (wire() and divert() do so first, and so does every body
    /// received). Call it when the last views of received bodies may have
    /// gone and nothing is sent soon. Thread-safe against resolve().
    void reclaim();

    /// Bodies sent and received through shared memory so far (arena or not).
    qint64 sentCount() const { return m_sent; }
    qint64 receivedCount() const { return m_received; }
    /// Of those, the ones that went through an arena.
    qint64 arenaSentCount() const { return m_arenaSent; }
    qint64 arenaReceivedCount() const { return m_arenaReceived; }
    /// Of those, the ones received in place (views of the arena, no copy).
    qint64 viewedCount() const { return m_incoming.viewCount(); }

private:
    /// Puts a frame's body, given in pieces, into shared memory (the arena,
    /// else a sealed memfd) and appends the reference frame to out; false: it
    /// goes inline.
    bool share(QByteArray &out, quint16 type, const QList<QByteArray> &body);
    /// Sends the body's pieces, size bytes in all, in a sealed memfd.
    bool sendBody(const QList<QByteArray> &body, quint32 size);
    /// Sends fd on the side channel with the 4-byte announcement; never blocks.
    bool sendDescriptor(int fd, quint32 announced);
    bool resolveArena(Frame *frame, qint64 maxBodySize, QString *why);
    /// A buffer of size bytes for a received body, not shared (fill it, then
    /// keepSpare() it): the spare one when nothing shares it any more.
    QByteArray bodyBuffer(quint32 size);
    /// Keeps a large filled body as the spare, unless the spare is larger.
    void keepSpare(const QByteArray &body);
    static void appendReference(QByteArray &out, quint16 type, quint32 bodySize);

    int m_fd = -1;
    OutgoingArena m_outgoing; // the sending side's
    IncomingArena m_incoming; // the receiving side's (the two run on different threads)
    QByteArray m_spare;       // the receiving side's last large body buffer
    qint64 m_arenaSent = 0;
    qint64 m_arenaReceived = 0;
    qint64 m_sent = 0;
    qint64 m_received = 0;
};

} // namespace QtProcessPool::protocol

#endif
