// SPDX-License-Identifier: MIT
#include "protocol/arena.h"

#include "platformfeatures_p.h"

#include <QtProcessPool/detail/serialization.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#ifdef QPP_HAVE_LINUX_FEATURES
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define QPP_ARENAS 1
#endif

namespace QtProcessPool::protocol {

#ifdef QPP_ARENAS
namespace {

/// The consumed position in a mapped arena's header (8-byte aligned: the
/// mapping starts on a page).
quint64 *consumedField(char *map)
{
    return reinterpret_cast<quint64 *>(map);
}

/// Makes the pages of a fresh mapping resident now, so that no body written
/// later waits for the kernel to find memory.
void prefault(char *map, qint64 size)
{
#ifdef MADV_HUGEPAGE
    ::madvise(map, size_t(size), MADV_HUGEPAGE); // used where shmem huge pages are on
#endif
#ifdef MADV_POPULATE_WRITE
    if (::madvise(map, size_t(size), MADV_POPULATE_WRITE) == 0)
        return;
#endif
    const long page = ::sysconf(_SC_PAGESIZE);
    const qint64 step = page > 0 ? page : 4096;
    for (qint64 at = 0; at < size; at += step)
        map[at] = 0;
}

} // namespace
#endif

// ---------------------------------------------------------------------------

OutgoingArena::~OutgoingArena()
{
    release();
}

void OutgoingArena::release()
{
#ifdef QPP_ARENAS
    if (m_map)
        ::munmap(m_map, size_t(m_capacity));
    if (m_fd >= 0)
        ::close(m_fd);
#endif
    m_map = nullptr;
    m_fd = -1;
    m_capacity = 0;
    m_head = 0;
    m_consumed = 0;
}

bool OutgoingArena::create(qint64 bodySize)
{
#ifdef QPP_ARENAS
    release();
    // Room for the body and a quarter more, in whole 2 MiB steps (a huge page),
    // so a slightly larger body next time does not make a new arena.
    constexpr qint64 Step = ArenaMinimumData;
    const qint64 wanted = (bodySize + bodySize / 4 + Step - 1) / Step * Step;
    const qint64 data = std::clamp(wanted, std::max(bodySize, ArenaMinimumData), ArenaMaximumData);
    const qint64 capacity = ArenaHeaderSize + data;
    const int fd = ::memfd_create("qtprocesspool-arena", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return false;
    // Sealed against shrinking: the receiver's reads can never fault.
    if (::ftruncate(fd, off_t(capacity)) != 0 ||
        ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
        ::close(fd);
        return false;
    }
    void *map = ::mmap(nullptr, size_t(capacity), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        ::close(fd);
        return false;
    }
    m_map = static_cast<char *>(map);
    m_fd = fd;
    m_capacity = capacity;
    prefault(m_map, m_capacity);
    return true;
#else
    Q_UNUSED(bodySize);
    return false;
#endif
}

bool OutgoingArena::place(const char *head, qint64 headSize, const char *tail, qint64 tailSize,
                          ArenaPlacement *placement)
{
#ifdef QPP_ARENAS
    const qint64 size = headSize + tailSize;
    *placement = ArenaPlacement();
    if (m_broken || size <= 0 || size > ArenaMaximumData)
        return false;
    if (!m_map || size > m_capacity - ArenaHeaderSize) {
        if (!create(size))
            return false;
        placement->newCapacity = quint32(m_capacity);
        placement->newFd = m_fd;
    } else {
        const quint64 consumed = __atomic_load_n(consumedField(m_map), __ATOMIC_ACQUIRE);
        if (consumed < m_consumed || consumed > m_head) {
            // Not a position this side ever gave: the peer wrote nonsense.
            m_broken = true;
            release();
            return false;
        }
        m_consumed = consumed;
    }
    const quint64 data = quint64(m_capacity - ArenaHeaderSize);
    quint64 start = m_head;
    if (start % data + quint64(size) > data)
        start += data - start % data; // a body never wraps
    if (start + quint64(size) - m_consumed > data)
        return false; // not read yet: the caller takes another way
    char *to = m_map + ArenaHeaderSize + start % data;
    std::memcpy(to, head, size_t(headSize));
    if (tailSize > 0)
        std::memcpy(to + headSize, tail, size_t(tailSize));
    m_head = start + quint64(size);
    placement->offset = quint32(ArenaHeaderSize + start % data);
    placement->end = m_head;
    return true;
#else
    Q_UNUSED(head);
    Q_UNUSED(headSize);
    Q_UNUSED(tail);
    Q_UNUSED(tailSize);
    Q_UNUSED(placement);
    return false;
#endif
}

void OutgoingArena::discard()
{
    release();
}

void OutgoingArena::reset()
{
    release();
    m_broken = false;
}

// ---------------------------------------------------------------------------

IncomingArena::~IncomingArena()
{
    release();
}

void IncomingArena::release()
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

void IncomingArena::reset()
{
    release();
}

bool IncomingArena::adopt(int fd, quint32 capacity, QString *why)
{
#ifdef QPP_ARENAS
    struct stat info
    {
    };
    const int seals = ::fcntl(fd, F_GET_SEALS);
    const bool fits = qint64(capacity) > ArenaHeaderSize &&
                      qint64(capacity) <= ArenaHeaderSize + ArenaMaximumData;
    if (!fits || ::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) ||
        info.st_size != off_t(capacity) || seals < 0 || !(seals & F_SEAL_SHRINK)) {
        ::close(fd);
        *why = QStringLiteral("shared memory arena of the wrong kind, size or seals");
        return false;
    }
    // Only the header is mapped (to say how far this side has read); bodies
    // are read with pread(), which costs no address space (a worker may have
    // a memory limit) and no page faults.
    void *header =
        ::mmap(nullptr, size_t(ArenaHeaderSize), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (header == MAP_FAILED) {
        ::close(fd);
        *why = QStringLiteral("could not map a shared memory arena's header");
        return false;
    }
    release();
    m_header = static_cast<char *>(header);
    m_fd = fd;
    m_capacity = capacity;
    return true;
#else
    Q_UNUSED(fd);
    Q_UNUSED(capacity);
    *why = QStringLiteral("shared memory arenas are not supported here");
    return false;
#endif
}

bool IncomingArena::take(quint32 offset, quint32 size, quint64 end, QByteArray *body, QString *why)
{
#ifdef QPP_ARENAS
    if (m_fd < 0) {
        *why = QStringLiteral("arena reference without an arena");
        return false;
    }
    if (qint64(offset) < ArenaHeaderSize || qint64(offset) > m_capacity ||
        qint64(size) > m_capacity - qint64(offset)) {
        *why = QStringLiteral("arena reference outside the arena");
        return false;
    }
    if (qsizetype(size) >= detail::LargeBufferSize)
        detail::reserveLarge(*body, qsizetype(size));
    body->resize(qsizetype(size));
    for (qsizetype done = 0; done < body->size();) {
        const ssize_t n = ::pread(m_fd, body->data() + done, size_t(body->size() - done),
                                  off_t(offset) + off_t(done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            *why = QStringLiteral("could not read %1 bytes from a shared memory arena").arg(size);
            return false;
        }
        done += n;
    }
    // Read: the sender may write there again.
    __atomic_store_n(consumedField(m_header), end, __ATOMIC_RELEASE);
    return true;
#else
    Q_UNUSED(offset);
    Q_UNUSED(size);
    Q_UNUSED(end);
    Q_UNUSED(body);
    *why = QStringLiteral("shared memory arenas are not supported here");
    return false;
#endif
}

} // namespace QtProcessPool::protocol
