// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_PROTOCOL_ARENA_H
#define QTPROCESSPOOL_PROTOCOL_ARENA_H

// A persistent shared-memory arena for large frame bodies, one per direction
// of a side channel (see sharedbody.h). The sender owns a memfd and writes
// each body into it (pwrite) as a ring; the receiver keeps the same memfd and
// reads each body in place: the body it hands on is a QByteArray over its own
// private mapping of the arena (a view), with no copy. Once nothing holds a
// view any more, the receiver gives its space back by storing the body's end
// into the arena's header, which both sides map shared.
//
//   [ page 0: quint64 consumed (written by the receiver) | unused         ]
//   [ data from ArenaDataOffset: slots of ArenaSlotSize bytes, as a ring  ]
//
// Positions are logical (they only grow). A body starts on a slot boundary,
// ArenaSlotRoom bytes in, and never wraps: when it does not fit before the
// end of the ring, it starts at the beginning again. The room before a body
// is the receiver's: a view's QArrayData header goes there, in the
// receiver's private copy of that page (copy-on-write), so the peer can never
// touch it; the page is dropped (MADV_DONTNEED) when the space is given back.
// Every view holds one reference of its own that Qt never drops (so Qt never
// frees or reallocates a view in place: any write or growth detaches); a
// view no one else holds has a reference count of 1, which the receiver
// checks, in ring order, whenever it receives or sends (reclaim()).
//
// Neither side trusts the other's numbers. The receiver checks every offset
// and size against its own mapping, and the memfd's seals (it cannot shrink,
// so no read ever faults); it makes a view only of a body whose room begins
// on a page of its own that no view it holds uses, and reads any other body
// with pread. The sender checks the consumed position it reads (never behind
// what it saw, never ahead of what it wrote) and stops using an arena whose
// header makes no sense. Bytes a peer writes where it promised not to are
// only what that peer could have sent anyway: they can change what a view of
// its own bodies shows, never the receiver's memory beyond them.
//
// Linux only (memfd); elsewhere nothing is ever placed and every reference
// is refused.

#include <QtCore/QByteArray>
#include <QtCore/QList>
#include <QtCore/QString>

#include <deque>
#include <memory>
#include <mutex>

namespace QtProcessPool::protocol {

/// The arena's header: the receiver's consumed position, then padding.
inline constexpr qint64 ArenaHeaderSize = 64;
/// Where the ring starts: the header has the first page to itself.
inline constexpr qint64 ArenaDataOffset = 4096;
/// Bodies start on slot boundaries (a page), this many bytes in.
inline constexpr qint64 ArenaSlotSize = 4096;
inline constexpr qint64 ArenaSlotRoom = 64;
/// The smallest arena made (data bytes): bodies start at SharedBodyThreshold.
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
/// header, mapped shared (the receiver maps the whole arena too, privately,
/// for views: IncomingArena). Not thread-safe.
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

/// A private mapping of a whole arena (unmapped when the last view of it is
/// given back).
struct ArenaMapping;

/// A body the receiver has taken, until its space is given back.
struct HeldBody
{
    QArrayData *header = nullptr; // a view's (nullptr: read with pread)
    quint64 end = 0;              // the sender's position after it
    std::shared_ptr<ArenaMapping> mapping;
    /// Whether no one but the arena holds it any more.
    bool isReleased() const;
};

/// The receiving side. Thread-safe: bodies arrive on one thread while
/// reclaim() may run on the one that sends.
class IncomingArena
{
public:
    IncomingArena() = default;
    ~IncomingArena() { reset(); }
    IncomingArena(const IncomingArena &) = delete;
    IncomingArena &operator=(const IncomingArena &) = delete;

    /// Takes fd (always: kept or closed here) as the new arena of capacity
    /// bytes, after checking it: a regular file of exactly that size, sealed
    /// against shrinking, within ArenaMaximumData. The previous one is let go
    /// (views of it stay valid).
    bool adopt(int fd, quint32 capacity, QString *why);
    /// Whether size bytes at offset lie inside the arena; if not, *why.
    bool contains(quint32 offset, quint32 size, QString *why) const;
    /// The body of size bytes at offset (contains()), which ends the
    /// sender's position end, as a view (no copy); false where it cannot be
    /// one (then read() it).
    bool view(quint32 offset, quint32 size, quint64 end, QByteArray *body);
    /// Reads that body into `into` (pread). False, with *why, if the bytes
    /// could not be read.
    bool read(quint32 offset, quint32 size, quint64 end, char *into, QString *why);
    /// Gives the sender back the space of the bodies no one holds any more,
    /// in ring order.
    void reclaim();
    /// Views made so far.
    qint64 viewCount() const;
    /// Lets the arena go, for a new peer (views of it stay valid).
    void reset();

private:
    void reclaimLocked();
    void retireLocked();

    mutable std::mutex m_mutex;
    ArenaFile m_file;
    std::shared_ptr<ArenaMapping> m_mapping; // the whole arena, private
    std::deque<HeldBody> m_held;             // in ring order
    qint64 m_views = 0;
};

} // namespace QtProcessPool::protocol

#endif
