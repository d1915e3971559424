// SPDX-License-Identifier: MIT
// Floor A's wire: what the operating system can do. A socketpair to a child
// process (this executable, posix_spawn, in --floor-a-child mode), blocking
// POSIX read/write, 8-byte headers. The workloads are in floors.cpp.
#include "floors.h"

#include <QtCore/QCoreApplication>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace Bench {

void RawBuffer::reserve(size_t size, size_t keep)
{
    if (size <= m_size)
        return;
    std::unique_ptr<char[]> bigger(new char[size]);
    if (keep > 0)
        std::memcpy(bigger.get(), m_data.get(), keep);
    m_data = std::move(bigger);
    m_size = size;
}

QString childProgram()
{
    return QCoreApplication::applicationFilePath();
}

Failure posixFailure(const char *what)
{
    return Failure(QStringLiteral("%1: %2").arg(QLatin1String(what),
                                                QString::fromLocal8Bit(std::strerror(errno))));
}

bool writeAll(int fd, iovec *vectors, int count)
{
    while (count > 0) {
        const ssize_t written = ::writev(fd, vectors, count);
        if (written < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        size_t left = size_t(written);
        while (count > 0 && left >= vectors->iov_len) {
            left -= vectors->iov_len;
            ++vectors;
            --count;
        }
        if (count > 0) {
            vectors->iov_base = static_cast<char *>(vectors->iov_base) + left;
            vectors->iov_len -= left;
        }
    }
    return true;
}

bool writeFrame(int fd, quint32 op, const void *body, size_t length)
{
    Header header{quint32(length), op};
    iovec vectors[2] = {{&header, sizeof header}, {const_cast<void *>(body), length}};
    return writeAll(fd, vectors, length > 0 ? 2 : 1);
}

std::vector<int> allowedCpus()
{
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0)
        return cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (CPU_ISSET(cpu, &set))
            cpus.push_back(cpu);
    }
    return cpus;
}

namespace {

/// sched_setaffinity; pid 0 is the calling thread.
bool setAffinity(pid_t pid, const std::vector<int> &cpus)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu : cpus)
        CPU_SET(cpu, &set);
    return ::sched_setaffinity(pid, sizeof set, &set) == 0;
}

} // namespace

CpuPin::CpuPin(int cpu)
    : m_saved(allowedCpus())
{
    if (!setAffinity(0, {cpu}))
        throw posixFailure("sched_setaffinity");
}

CpuPin::~CpuPin()
{
    setAffinity(0, m_saved);
}

FloorAChild::FloorAChild(const QString &program, int cpu)
{
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
        throw posixFailure("socketpair");
    ::fcntl(fds[0], F_SETFD, FD_CLOEXEC); // the child inherits fds[1] only
    const QByteArray path = program.toLocal8Bit();
    const QByteArray fdArgument = QByteArray::number(fds[1]);
    char *argv[] = {const_cast<char *>(path.constData()), const_cast<char *>(FloorAChildFlag),
                    const_cast<char *>(fdArgument.constData()), nullptr};
    // posix_spawn (vfork-like in glibc): no page-table copy of this process.
    const int error = ::posix_spawn(&m_pid, argv[0], nullptr, nullptr, argv, environ);
    ::close(fds[1]);
    if (error != 0) {
        ::close(fds[0]);
        errno = error;
        throw posixFailure("posix_spawn");
    }
    m_fd = fds[0];
    if (cpu >= 0 && !setAffinity(m_pid, {cpu})) {
        const Failure failure = posixFailure("sched_setaffinity of the floor A child");
        ::close(m_fd); // the child sees the socket close and exits
        ::waitpid(m_pid, nullptr, 0);
        throw failure;
    }
}

FloorAChild::~FloorAChild()
{
    ::close(m_fd);
    int status = 0;
    while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
    }
}

void FloorAChild::send(quint32 op, const void *body, size_t length)
{
    if (!writeFrame(m_fd, op, body, length))
        throw posixFailure("write to floor A child");
}

void FloorAChild::fill()
{
    if (m_buffer.size() - m_end < 65536) {
        if (m_begin > 0) {
            std::memmove(m_buffer.data(), m_buffer.data() + m_begin, m_end - m_begin);
            m_end -= m_begin;
            m_begin = 0;
        }
        m_buffer.reserve(std::max<size_t>(m_end + 65536, m_buffer.size() * 2), m_end);
    }
    ssize_t got;
    do {
        got = ::read(m_fd, m_buffer.data() + m_end, m_buffer.size() - m_end);
    } while (got < 0 && errno == EINTR);
    if (got < 0)
        throw posixFailure("read from floor A child");
    if (got == 0)
        throw Failure(QStringLiteral("floor A child closed the connection"));
    m_end += size_t(got);
}

bool FloorAChild::next(Frame *frame)
{
    if (m_end - m_begin < sizeof(Header))
        return false;
    Header header;
    std::memcpy(&header, m_buffer.data() + m_begin, sizeof header);
    if (m_end - m_begin < sizeof header + header.length)
        return false;
    frame->op = header.op;
    frame->body = QByteArray(m_buffer.data() + m_begin + sizeof header, header.length);
    m_begin += sizeof header + header.length;
    return true;
}

Frame FloorAChild::receive()
{
    Frame frame;
    while (m_end - m_begin < sizeof(Header))
        fill();
    if (next(&frame))
        return frame;
    Header header;
    std::memcpy(&header, m_buffer.data() + m_begin, sizeof header);
    frame.op = header.op;
    frame.body = QByteArray(header.length, Qt::Uninitialized);
    const size_t buffered = m_end - m_begin - sizeof header;
    std::memcpy(frame.body.data(), m_buffer.data() + m_begin + sizeof header, buffered);
    m_begin = m_end = 0;
    readExactly(frame.body.data() + buffered, header.length - buffered);
    return frame;
}

size_t FloorAChild::receiveInto(char *into, size_t capacity, quint32 *op)
{
    while (m_end - m_begin < sizeof(Header))
        fill();
    Header header;
    std::memcpy(&header, m_buffer.data() + m_begin, sizeof header);
    if (header.length > capacity)
        throw Failure(QStringLiteral("floor A child sent %1 bytes, more than the %2 expected")
                          .arg(header.length)
                          .arg(capacity));
    *op = header.op;
    const size_t buffered = std::min<size_t>(m_end - m_begin - sizeof header, header.length);
    std::memcpy(into, m_buffer.data() + m_begin + sizeof header, buffered);
    m_begin += sizeof header + buffered;
    if (m_begin == m_end)
        m_begin = m_end = 0;
    readExactly(into + buffered, header.length - buffered);
    return header.length;
}

void FloorAChild::readExactly(char *into, size_t length)
{
    size_t have = 0;
    while (have < length) {
        const ssize_t got = ::read(m_fd, into + have, length - have);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            throw posixFailure("read from floor A child");
        if (got == 0)
            throw Failure(QStringLiteral("floor A child closed the connection"));
        have += size_t(got);
    }
}

void FloorAChild::expectHello()
{
    if (receive().op != Hello)
        throw Failure(QStringLiteral("floor A child did not say hello"));
}

// ---------------------------------------------------------------------------
// Child mode

int floorAChildMain(int fd)
{
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (!writeFrame(fd, Hello, nullptr, 0))
        return 1;
    RawBuffer buffer;
    buffer.reserve(1 << 17, 0);
    std::vector<char> replies;
    size_t end = 0;
    for (;;) {
        ssize_t got;
        do {
            got = ::read(fd, buffer.data() + end, buffer.size() - end);
        } while (got < 0 && errno == EINTR);
        if (got <= 0)
            return got == 0 ? 0 : 1;
        end += size_t(got);
        size_t begin = 0;
        while (end - begin >= sizeof(Header)) {
            Header header;
            std::memcpy(&header, buffer.data() + begin, sizeof header);
            const size_t frameSize = sizeof header + header.length;
            if (end - begin < frameSize) {
                if (buffer.size() - begin < frameSize) {
                    std::memmove(buffer.data(), buffer.data() + begin, end - begin);
                    end -= begin;
                    begin = 0;
                    buffer.reserve(frameSize, end);
                }
                break;
            }
            const char *body = buffer.data() + begin + sizeof header;
            if (header.op == Increment && header.length == sizeof(qint32)) {
                qint32 value;
                std::memcpy(&value, body, sizeof value);
                ++value;
                const Header reply{sizeof value, Increment};
                replies.insert(replies.end(), reinterpret_cast<const char *>(&reply),
                               reinterpret_cast<const char *>(&reply) + sizeof reply);
                replies.insert(replies.end(), reinterpret_cast<const char *>(&value),
                               reinterpret_cast<const char *>(&value) + sizeof value);
            } else if (header.op == Echo) {
                iovec pending{replies.data(), replies.size()};
                if (!replies.empty() && !writeAll(fd, &pending, 1))
                    return 1;
                replies.clear();
                if (!writeFrame(fd, Echo, body, header.length))
                    return 1;
            } else {
                return 1;
            }
            begin += frameSize;
        }
        if (!replies.empty()) {
            iovec pending{replies.data(), replies.size()};
            if (!writeAll(fd, &pending, 1))
                return 1;
            replies.clear();
        }
        std::memmove(buffer.data(), buffer.data() + begin, end - begin);
        end -= begin;
        buffer.reserve(end + 65536, end);
    }
}
} // namespace Bench
