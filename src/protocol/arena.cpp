// SPDX-License-Identifier: MIT
#include "protocol/arena.h"

#include "platformfeatures_p.h"
#include "protocol/frame.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <iterator>
#include <vector>

#ifdef QPP_HAVE_LINUX_FEATURES
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#define QPP_ARENAS 1
#endif

namespace QtProcessPool::protocol {

#ifdef QPP_ARENAS
namespace {

/// Calls transfer(done) (a pread or pwrite of what is left) until size bytes
/// are done, again after a signal; false on an error or an end of file.
template <typename Transfer>
bool transferAll(qint64 size, Transfer transfer)
{
    for (qint64 done = 0; done < size;) {
        const ssize_t n = transfer(done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        done += n;
    }
    return true;
}

} // namespace
#endif

bool writePieces(int fd, const QList<QByteArray> &pieces, qint64 offset)
{
#ifdef QPP_ARENAS
    std::vector<iovec> iov;
    iov.reserve(size_t(pieces.size()));
    qint64 size = 0;
    for (const QByteArray &piece : pieces) {
        if (piece.isEmpty())
            continue;
        iov.push_back(iovec{const_cast<char *>(piece.constData()), size_t(piece.size())});
        size += piece.size();
    }
    size_t first = 0; // the first piece not written whole
    return transferAll(size, [&](qint64 done) {
        const int count = int(std::min<size_t>(iov.size() - first, IOV_MAX));
        const ssize_t n = ::pwritev(fd, iov.data() + first, count, off_t(offset + done));
        for (ssize_t left = std::max<ssize_t>(n, 0); left > 0;) {
            const size_t step = std::min(size_t(left), iov[first].iov_len);
            iov[first].iov_base = static_cast<char *>(iov[first].iov_base) + step;
            iov[first].iov_len -= step;
            left -= ssize_t(step);
            first += iov[first].iov_len == 0;
        }
        return n;
    });
#else
    Q_UNUSED(fd);
    Q_UNUSED(pieces);
    Q_UNUSED(offset);
    return false;
#endif
}

// ---------------------------------------------------------------------------

bool ArenaFile::open(int fd, qint64 capacity)
{
#ifdef QPP_ARENAS
    void *header =
        ::mmap(nullptr, size_t(ArenaHeaderSize), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (header == MAP_FAILED) {
        ::close(fd);
        return false;
    }
    close();
    m_header = static_cast<char *>(header);
    m_fd = fd;
    m_capacity = capacity;
    return true;
#else
    Q_UNUSED(fd);
    Q_UNUSED(capacity);
    return false;
#endif
}

void ArenaFile::close()
{
#ifdef QPP_ARENAS
    if (m_header)
        ::munmap(m_header, size_t(ArenaHeaderSize));
    if (m_fd >= 0)
        ::close(m_fd);
#endif
    m_header = nullptr;
    m_fd = -1;
    m_capacity = 0;
}

// The header's first 8 bytes (aligned: the mapping starts on a page).
quint64 ArenaFile::consumed() const
{
#ifdef QPP_ARENAS
    return __atomic_load_n(reinterpret_cast<const quint64 *>(m_header), __ATOMIC_ACQUIRE);
#else
    return 0;
#endif
}

void ArenaFile::setConsumed(quint64 end)
{
#ifdef QPP_ARENAS
    __atomic_store_n(reinterpret_cast<quint64 *>(m_header), end, __ATOMIC_RELEASE);
#else
    Q_UNUSED(end);
#endif
}

// ---------------------------------------------------------------------------

bool OutgoingArena::create(qint64 bodySize)
{
#ifdef QPP_ARENAS
    // The body in whole 2 MiB steps, and when it grows at least twice what it
    // was, so that a run of growing bodies makes few arenas. No page is
    // allocated until a body is written there.
    constexpr qint64 Step = ArenaMinimumData;
    const qint64 wanted =
        std::max((bodySize + Step - 1) / Step * Step, 2 * (m_file.capacity() - ArenaDataOffset));
    const qint64 capacity =
        ArenaDataOffset + std::clamp(wanted, ArenaMinimumData, ArenaMaximumData);
    discard();
    const int fd = ::memfd_create("qtprocesspool-arena", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return false;
    // Sealed against shrinking: the receiver's reads can never fault.
    if (::ftruncate(fd, off_t(capacity)) != 0 ||
        ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
        ::close(fd);
        return false;
    }
    // Pages are allocated by the first write there, as a memfd of their own
    // would be, and stay for the next body.
    return m_file.open(fd, capacity);
#else
    Q_UNUSED(bodySize);
    return false;
#endif
}

bool OutgoingArena::place(const QList<QByteArray> &body, ArenaPlacement *placement)
{
#ifdef QPP_ARENAS
    const qint64 size = totalSize(body);
    *placement = ArenaPlacement();
    // Each body takes whole slots: ArenaSlotRoom bytes, then the body and a
    // '\0' (a view of it ends as a QByteArray does), then up to the next
    // ArenaSlotSize boundary.
    const qint64 taken = ArenaSlotRoom + size + 1;
    if (m_broken || size <= 0 || taken > ArenaMaximumData)
        return false;
    if (!m_file.isOpen() || taken > m_file.capacity() - ArenaDataOffset) {
        if (!create(taken))
            return false;
        placement->newCapacity = quint32(m_file.capacity());
        placement->newFd = m_file.fd();
    } else {
        const quint64 consumed = m_file.consumed();
        if (consumed < m_consumed || consumed > m_head) {
            // Not a position this side ever gave: the peer wrote nonsense.
            m_broken = true;
            discard();
            return false;
        }
        m_consumed = consumed;
    }
    const quint64 data = quint64(m_file.capacity() - ArenaDataOffset); // whole slots
    quint64 start = (m_head + ArenaSlotSize - 1) / ArenaSlotSize * ArenaSlotSize;
    if (start % data + quint64(taken) > data)
        start += data - start % data; // a body never wraps
    if (start + quint64(taken) - m_consumed > data)
        return false; // not given back yet: the caller takes another way
    const qint64 at = ArenaDataOffset + qint64(start % data) + ArenaSlotRoom;
    QList<QByteArray> pieces = body;
    pieces.append(QByteArray::fromRawData("", 1));
    if (!writePieces(m_file.fd(), pieces, at))
        return false; // (what the arena held is unchanged for the peer)
    m_head = start + quint64(taken);
    placement->offset = quint32(at);
    placement->end = m_head;
    return true;
#else
    Q_UNUSED(body);
    Q_UNUSED(placement);
    return false;
#endif
}

void OutgoingArena::discard()
{
    m_file.close();
    m_head = 0;
    m_consumed = 0;
}

void OutgoingArena::reset()
{
    discard();
    m_broken = false;
}

// ---------------------------------------------------------------------------

struct ArenaMapping
{
    ArenaMapping(char *b, qint64 s)
        : base(b)
        , size(s)
    {
    }
    ~ArenaMapping()
    {
#ifdef QPP_ARENAS
        ::munmap(base, size_t(size));
#endif
    }
    ArenaMapping(const ArenaMapping &) = delete;
    ArenaMapping &operator=(const ArenaMapping &) = delete;
    char *const base;
    const qint64 size;
};

bool HeldBody::isReleased() const
{
    // Only the arena's own reference is left: no QByteArray points here. The
    // last holder's release (an ordered decrement) happens before this.
    return !header || header->ref_.loadAcquire() == 1;
}

namespace {

/// Views of arenas let go (a new arena, a peer gone) that someone still
/// holds, with their mappings, until they are released. Never destroyed: a
/// view may outlive static destruction.
struct Orphans
{
    std::mutex mutex;
    std::vector<HeldBody> held;
};
Orphans &orphans()
{
    static auto *all = new Orphans;
    return *all;
}
void sweepOrphans()
{
    Orphans &o = orphans();
    std::lock_guard<std::mutex> lock(o.mutex);
    o.held.erase(std::remove_if(o.held.begin(), o.held.end(),
                                [](const HeldBody &held) { return held.isReleased(); }),
                 o.held.end());
}

qint64 pageSize()
{
#ifdef QPP_ARENAS
    static const qint64 size = ::sysconf(_SC_PAGESIZE);
    return size;
#else
    return 4096;
#endif
}

} // namespace

bool IncomingArena::adopt(int fd, quint32 capacity, QString *why)
{
#ifdef QPP_ARENAS
    struct stat info
    {
    };
    const int seals = ::fcntl(fd, F_GET_SEALS);
    const bool fits = qint64(capacity) > ArenaHeaderSize &&
                      qint64(capacity) <= ArenaDataOffset + ArenaMaximumData;
    if (!fits || ::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) ||
        info.st_size != off_t(capacity) || seals < 0 || !(seals & F_SEAL_SHRINK)) {
        ::close(fd);
        *why = QStringLiteral("shared memory arena of the wrong kind, size or seals");
        return false;
    }
    std::lock_guard<std::mutex> lock(m_mutex);
    if (!m_file.open(fd, capacity)) {
        *why = QStringLiteral("could not map a shared memory arena's header");
        return false;
    }
    retireLocked();
    // Private: a view's header goes into our own copy of its page. Where the
    // address space is limited (a worker's memory limit, RLIMIT_AS), bodies
    // are read instead: the arena must not take what the tasks may use.
    rlimit space{};
    if (::getrlimit(RLIMIT_AS, &space) == 0 && space.rlim_cur != RLIM_INFINITY)
        return true;
    void *all = ::mmap(nullptr, size_t(capacity), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (all != MAP_FAILED)
        m_mapping = std::make_shared<ArenaMapping>(static_cast<char *>(all), qint64(capacity));
    return true;
#else
    Q_UNUSED(fd);
    Q_UNUSED(capacity);
    *why = QStringLiteral("shared memory arenas are not supported here");
    return false;
#endif
}

bool IncomingArena::contains(quint32 offset, quint32 size, QString *why) const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    if (!m_file.isOpen()) {
        *why = QStringLiteral("arena reference without an arena");
        return false;
    }
    const qint64 capacity = m_file.capacity();
    if (qint64(offset) < ArenaHeaderSize || qint64(offset) > capacity ||
        qint64(size) > capacity - qint64(offset)) {
        *why = QStringLiteral("arena reference outside the arena");
        return false;
    }
    return true;
}

bool IncomingArena::view(quint32 offset, quint32 size, quint64 end, QByteArray *body)
{
#ifdef QPP_ARENAS
    static_assert(ArenaSlotRoom >= qint64(sizeof(QArrayData)) &&
                  ArenaSlotRoom % alignof(QArrayData) == 0);
    std::lock_guard<std::mutex> lock(m_mutex);
    reclaimLocked();
    // (Its room starts a page, and a byte follows it inside the mapping:
    // reading a view's terminating '\0' never faults.)
    const qint64 slot = qint64(offset) - ArenaSlotRoom;
    if (!m_mapping || size == 0 || slot < ArenaDataOffset || slot % pageSize() != 0 ||
        qint64(offset) + size >= m_mapping->size)
        return false;
    char *data = m_mapping->base + offset;
    auto *header = reinterpret_cast<QArrayData *>(data - sizeof(QArrayData));
    for (const HeldBody &held : m_held) {
        if (held.header == header)
            return false; // a page a view uses (the peer did not keep its word)
    }
    // A QByteArray's header right before its bytes, as Qt makes them, with a
    // reference of our own: Qt never frees it, and any change detaches.
    header->ref_.storeRelaxed(2);
    header->flags = {};
    header->alloc = size;
    QByteArray::DataPointer pointer(static_cast<QTypedArrayData<char> *>(header), data, size);
    Q_ASSERT(pointer.freeSpaceAtBegin() == 0 && pointer.freeSpaceAtEnd() == 0);
    *body = QByteArray(std::move(pointer));
    m_held.push_back(HeldBody{header, end, m_mapping});
    ++m_views;
    return true;
#else
    Q_UNUSED(offset);
    Q_UNUSED(size);
    Q_UNUSED(end);
    Q_UNUSED(body);
    return false;
#endif
}

bool IncomingArena::read(quint32 offset, quint32 size, quint64 end, char *into, QString *why)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    Q_ASSERT(m_file.isOpen() && qint64(offset) + size <= m_file.capacity());
    if (!readFully(m_file.fd(), into, size, offset)) {
        *why = QStringLiteral("could not read %1 bytes from a shared memory arena").arg(size);
        return false;
    }
    m_held.push_back(HeldBody{nullptr, end, nullptr}); // given back in its turn
    reclaimLocked();
    return true;
}

void IncomingArena::reclaim()
{
    std::lock_guard<std::mutex> lock(m_mutex);
    reclaimLocked();
}

void IncomingArena::reclaimLocked()
{
    sweepOrphans();
    bool advanced = false;
    quint64 consumed = 0;
    while (!m_held.empty() && m_held.front().isReleased()) {
        const HeldBody &front = m_held.front();
#ifdef QPP_ARENAS
        if (front.header) {
            // Our copy of the page its header went into is dropped: the
            // arena's own page shows again, with what the sender writes next.
            char *page =
                reinterpret_cast<char *>(front.header) + sizeof(QArrayData) - ArenaSlotRoom;
            ::madvise(page, size_t(pageSize()), MADV_DONTNEED);
        }
#endif
        consumed = front.end;
        advanced = true;
        m_held.pop_front();
    }
    if (advanced && m_file.isOpen())
        m_file.setConsumed(consumed); // the sender may write there again
}

void IncomingArena::retireLocked()
{
    std::vector<HeldBody> held;
    for (HeldBody &body : m_held) {
        if (!body.isReleased())
            held.push_back(std::move(body));
    }
    m_held.clear();
    m_mapping.reset();
    if (held.empty())
        return;
    Orphans &o = orphans();
    std::lock_guard<std::mutex> lock(o.mutex);
    std::move(held.begin(), held.end(), std::back_inserter(o.held));
}

void IncomingArena::reset()
{
    std::lock_guard<std::mutex> lock(m_mutex);
    m_file.close();
    retireLocked();
}

qint64 IncomingArena::viewCount() const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_views;
}

bool readFully(int fd, char *into, qint64 size, qint64 offset)
{
#ifdef QPP_ARENAS
    return transferAll(size, [&](qint64 done) {
        return ::pread(fd, into + done, size_t(size - done), off_t(offset + done));
    });
#else
    Q_UNUSED(fd);
    Q_UNUSED(into);
    Q_UNUSED(offset);
    return size == 0;
#endif
}

} // namespace QtProcessPool::protocol
