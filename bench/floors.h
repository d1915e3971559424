// SPDX-License-Identifier: MIT
// What the floors share: their operations, and floor A's wire (a socketpair
// to a child process, blocking POSIX read/write, 8-byte headers), which
// qtprocesspool-cpucost also drives.
#ifndef QTPROCESSPOOL_BENCH_FLOORS_H
#define QTPROCESSPOOL_BENCH_FLOORS_H

#include "bench.h"

#include <memory>
#include <vector>

#include <sys/types.h>
#include <sys/uio.h>

namespace Bench {

// Both floors speak these: Increment (int32 x -> x + 1), Echo (bytes -> the
// same bytes); each child first sends a Hello.
enum Op : quint32 { Hello = 0, Increment = 1, Echo = 2 };

// Requests kept in flight per child in the throughput workload.
inline constexpr int Window = 64;

struct Header
{
    quint32 length; // of the body
    quint32 op;
};

struct Frame
{
    quint32 op = 0;
    QByteArray body;
};

/// Bytes that grow without being zero-filled (a 64 MiB frame costs no memset).
class RawBuffer
{
public:
    char *data() { return m_data.get(); }
    size_t size() const { return m_size; }
    /// At least size bytes, keeping the first keep ones.
    void reserve(size_t size, size_t keep);

private:
    std::unique_ptr<char[]> m_data;
    size_t m_size = 0;
};

/// This executable, which is also the floors' child.
QString childProgram();

Failure posixFailure(const char *what);
bool writeAll(int fd, iovec *vectors, int count);
bool writeFrame(int fd, quint32 op, const void *body, size_t length);

/// The CPUs the calling thread may run on (sched_getaffinity), in order.
std::vector<int> allowedCpus();

/// Pins the calling thread to one CPU while it lives, then restores its
/// affinity. A child spawned meanwhile starts on that CPU too.
class CpuPin
{
public:
    explicit CpuPin(int cpu);
    ~CpuPin();
    CpuPin(const CpuPin &) = delete;
    CpuPin &operator=(const CpuPin &) = delete;

private:
    std::vector<int> m_saved;
};

/// The parent's end of a floor A child: blocking, buffered reads.
class FloorAChild
{
public:
    /// Spawns program in child mode; with cpu >= 0, pins the child to that
    /// CPU (sched_setaffinity).
    explicit FloorAChild(const QString &program, int cpu = -1);
    ~FloorAChild();
    FloorAChild(const FloorAChild &) = delete;
    FloorAChild &operator=(const FloorAChild &) = delete;

    int fd() const { return m_fd; }
    pid_t pid() const { return m_pid; }

    void send(quint32 op, const void *body, size_t length);
    void sendIncrement(qint32 value) { send(Increment, &value, sizeof value); }

    /// One read(): call when poll() says readable, or to block for more.
    void fill();
    /// A complete frame from the buffer, if there is one.
    bool next(Frame *frame);
    /// Blocks for the next frame; a large body is read straight into its array.
    Frame receive();
    /// Blocks for the next frame and reads its body into into, which holds
    /// capacity bytes (a longer body throws); returns the body's length.
    size_t receiveInto(char *into, size_t capacity, quint32 *op);
    void expectHello();

private:
    void readExactly(char *into, size_t length);

    pid_t m_pid = -1;
    int m_fd = -1;
    RawBuffer m_buffer;
    size_t m_begin = 0;
    size_t m_end = 0;
};

} // namespace Bench

#endif
