// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_PROTOCOL_ARENA_H
#define QTPROCESSPOOL_PROTOCOL_ARENA_H

// A persistent shared-memory arena for large frame bodies, one per direction
// of a side channel (see sharedbody.h). The sender owns a memfd and writes
// each body into it (pwrite) as a ring; the receiver keeps the same memfd,
// reads each body out (pread) when its reference frame arrives, and then says
// how far it has read by storing the body's end into the arena's header, the
// one part both sides map -- one system call per body on either side, into
// memory that stays allocated from body to body.
//
//   [ header: quint64 consumed (written by the receiver) | 56 bytes unused ]
//   [ data: capacity - ArenaHeaderSize bytes, used as a ring              ]
//
// Positions are logical (they only grow); a body never wraps: when it does
// not fit before the end of the ring, it starts at the beginning again.
//
// Neither side trusts the other's numbers. The receiver checks every offset
// and size against its own mapping, and the memfd's seals (it cannot shrink,
// so no read ever faults). The sender checks the consumed position it reads
// (never behind what it saw, never ahead of what it wrote) and stops using an
// arena whose header makes no sense. Bytes a peer changes while the other
// side copies them are only what that peer could have sent anyway: the
// receiver decodes its own copy.
//
// Linux only (memfd); elsewhere nothing is ever placed and every reference
// is refused.

#include <QtCore/QByteArray>
#include <QtCore/QList>
#include <QtCore/QString>

namespace QtProcessPool::protocol {

/// The arena's header: the receiver's consumed position, then padding.
inline constexpr qint64 ArenaHeaderSize = 64;
/// The smallest arena made: bodies start at SharedBodyThreshold.
inline constexpr qint64 ArenaMinimumData = qint64(2) << 20;
/// The largest arena made or accepted (data bytes); larger bodies take a
/// sealed memfd of their own.
inline constexpr qint64 ArenaMaximumData = qint64(256) << 20;

/// Where a body was placed, for its reference frame.
struct ArenaPlacement
{
    quint32 offset = 0;      // from the start of the mapping
    quint64 end = 0;         // the logical position after the body
    quint32 newCapacity = 0; // non-zero: a new arena, to be sent first
    int newFd = -1;          // its memfd (still owned by the arena)
};

/// Reads size bytes at offset of fd into `into` (pread, whole). False on an
/// error or a file that ends first.
bool readFully(int fd, char *into, qint64 size, qint64 offset);
/// Writes the pieces back to back at offset of fd (pwritev, whole); false on
/// an error.
bool writePieces(int fd, const QList<QByteArray> &pieces, qint64 offset);

/// An arena's memfd as one side holds it: the descriptor, its size, and its
/// header, the only part mapped (bodies go through pwrite()/pread(): no
/// address space, so a worker's memory limit is not spent on arenas, and no
/// page faults). Not thread-safe.
class ArenaFile
{
public:
    ArenaFile() = default;
    ~ArenaFile() { close(); }
    ArenaFile(const ArenaFile &) = delete;
    ArenaFile &operator=(const ArenaFile &) = delete;

    /// Takes fd (always: kept, or closed on failure) as an arena of capacity
    /// bytes and maps its header; the previous one is let go only on success.
    bool open(int fd, qint64 capacity);
    void close();
    bool isOpen() const { return m_fd >= 0; }
    int fd() const { return m_fd; }
    qint64 capacity() const { return m_capacity; }
    /// The receiver's consumed position, as it stored it last.
    quint64 consumed() const;
    void setConsumed(quint64 end);

private:
    char *m_header = nullptr;
    int m_fd = -1;
    qint64 m_capacity = 0; // the memfd's size, header included
};

/// The sending side. Not thread-safe.
class OutgoingArena
{
public:
    /// Copies the body's pieces, back to back, into the arena, making a new
    /// one (placement's newCapacity, newFd) when the body is larger than the
    /// current one can ever hold. False when there is no room yet (the
    /// receiver has not read what is there), the body is too large, or arenas
    /// are unavailable.
    bool place(const QList<QByteArray> &body, ArenaPlacement *placement);
    /// The new arena of the last placement could not be sent: forget it.
    void discard();
    /// Forgets everything, for a new peer.
    void reset();
    /// False once the peer's consumed position made no sense (no more use).
    bool isUsable() const { return !m_broken; }

private:
    bool create(qint64 dataSize);

    ArenaFile m_file;
    quint64 m_head = 0;     // logical position of the next body
    quint64 m_consumed = 0; // the last consumed position read (never goes back)
    bool m_broken = false;
};

/// The receiving side. Not thread-safe.
class IncomingArena
{
public:
    /// Takes fd (always: kept or closed here) as the new arena of capacity
    /// bytes, after checking it: a regular file of exactly that size, sealed
    /// against shrinking, within ArenaMaximumData. The previous one is let go.
    bool adopt(int fd, quint32 capacity, QString *why);
    /// Whether size bytes at offset lie inside the arena; if not, *why.
    bool contains(quint32 offset, quint32 size, QString *why) const;
    /// Reads size bytes at offset (contains()) into `into`, then tells the
    /// sender that everything up to end was read. False, with *why, if the
    /// bytes could not be read.
    bool take(quint32 offset, quint32 size, quint64 end, char *into, QString *why);
    /// Lets the arena go, for a new peer.
    void reset() { m_file.close(); }

private:
    ArenaFile m_file;
};

} // namespace QtProcessPool::protocol

#endif
