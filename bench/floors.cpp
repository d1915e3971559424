// SPDX-License-Identifier: MIT
// The floors QtProcessPool is measured against.
//
// Floor A: what the operating system can do. A socketpair to a child process
// (this executable, posix_spawn, in --floor-a-child mode), blocking POSIX
// read/write, 8-byte headers; plus memcpy for the payload sizes.
//
// Floor B: what a hand-written Qt solution gets. A QLocalServer in this
// thread's event loop, a child started with QProcess (this executable in
// --floor-b-child mode) connecting with a QLocalSocket, frames of a quint32
// length and a QDataStream body.
//
// Both speak the same operations: Increment (int32 x -> x + 1), Echo (bytes
// -> the same bytes); each child first sends a Hello.
#include "bench.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QDataStream>
#include <QtCore/QProcess>
#include <QtNetwork/QLocalServer>
#include <QtNetwork/QLocalSocket>

#include <cerrno>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

namespace Bench {

namespace {

enum Op : quint32 { Hello = 0, Increment = 1, Echo = 2 };

// Requests kept in flight per child in the throughput workload.
constexpr int Window = 64;

// ---------------------------------------------------------------------------
// Floor A

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
    void reserve(size_t size, size_t keep)
    {
        if (size <= m_size)
            return;
        std::unique_ptr<char[]> bigger(new char[size]);
        if (keep > 0)
            std::memcpy(bigger.get(), m_data.get(), keep);
        m_data = std::move(bigger);
        m_size = size;
    }

private:
    std::unique_ptr<char[]> m_data;
    size_t m_size = 0;
};

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

/// The parent's end of a floor A child: blocking, buffered reads.
class FloorAChild
{
public:
    explicit FloorAChild(const QString &program)
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
    }
    ~FloorAChild()
    {
        ::close(m_fd);
        int status = 0;
        while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    FloorAChild(const FloorAChild &) = delete;
    FloorAChild &operator=(const FloorAChild &) = delete;

    int fd() const { return m_fd; }

    void send(quint32 op, const void *body, size_t length)
    {
        if (!writeFrame(m_fd, op, body, length))
            throw posixFailure("write to floor A child");
    }
    void sendIncrement(qint32 value) { send(Increment, &value, sizeof value); }

    /// One read(): call when poll() says readable, or to block for more.
    void fill()
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

    /// A complete frame from the buffer, if there is one.
    bool next(Frame *frame)
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

    /// Blocks for the next frame; a large body is read straight into its array.
    Frame receive()
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
        size_t have = buffered;
        while (have < header.length) {
            const ssize_t got = ::read(m_fd, frame.body.data() + have, header.length - have);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0)
                throw posixFailure("read from floor A child");
            if (got == 0)
                throw Failure(QStringLiteral("floor A child closed the connection"));
            have += size_t(got);
        }
        return frame;
    }

    void expectHello()
    {
        if (receive().op != Hello)
            throw Failure(QStringLiteral("floor A child did not say hello"));
    }

private:
    pid_t m_pid = -1;
    int m_fd = -1;
    RawBuffer m_buffer;
    size_t m_begin = 0;
    size_t m_end = 0;
};

qint32 incrementResult(const Frame &frame)
{
    qint32 value = 0;
    if (frame.op != Increment || frame.body.size() != sizeof value)
        throw Failure(QStringLiteral("unexpected reply (op %1)").arg(frame.op));
    std::memcpy(&value, frame.body.constData(), sizeof value);
    return value;
}

void checkIncrement(qint32 sent, qint32 received)
{
    if (received != sent + 1)
        throw Failure(QStringLiteral("increment(%1) gave %2").arg(sent).arg(received));
}

QString program()
{
    return QCoreApplication::applicationFilePath();
}

void floorALatency(const Config &config, Results &results)
{
    FloorAChild child(program());
    child.expectHello();
    QList<double> samples;
    samples.reserve(config.latencyRoundTrips);
    QElapsedTimer timer;
    for (qint32 i = 0; i < config.latencyRoundTrips; ++i) {
        timer.start();
        child.sendIncrement(i);
        const qint32 value = incrementResult(child.receive());
        samples.append(elapsedUs(timer));
        checkIncrement(i, value);
    }
    results.add(Metric::LatencyP50, FloorASystem, percentile(samples, 50));
    results.add(Metric::LatencyP99, FloorASystem, percentile(samples, 99));
}

void floorAThroughput(const Config &config, Results &results)
{
    FloorAChild children[2] = {FloorAChild(program()), FloorAChild(program())};
    std::deque<qint32> expected[2];
    for (FloorAChild &child : children)
        child.expectHello();
    const int count = config.throughputTasks;
    int sent = 0;
    int received = 0;
    std::vector<char> batch;
    // Sends up to n requests to child c in one write.
    const auto sendBatch = [&](int c, int n) {
        batch.clear();
        for (; n > 0 && sent < count; --n, ++sent) {
            const Header header{sizeof(qint32), Increment};
            const qint32 value = sent;
            batch.insert(batch.end(), reinterpret_cast<const char *>(&header),
                         reinterpret_cast<const char *>(&header) + sizeof header);
            batch.insert(batch.end(), reinterpret_cast<const char *>(&value),
                         reinterpret_cast<const char *>(&value) + sizeof value);
            expected[c].push_back(value + 1);
        }
        if (!batch.empty()) {
            iovec vector{batch.data(), batch.size()};
            if (!writeAll(children[c].fd(), &vector, 1))
                throw posixFailure("write to floor A child");
        }
    };
    QElapsedTimer timer;
    timer.start();
    for (int c = 0; c < 2; ++c)
        sendBatch(c, Window);
    pollfd fds[2] = {{children[0].fd(), POLLIN, 0}, {children[1].fd(), POLLIN, 0}};
    while (received < count) {
        if (::poll(fds, 2, config.timeoutMs) <= 0)
            throw Failure(QStringLiteral("floor A throughput: no reply"));
        for (int c = 0; c < 2; ++c) {
            if (!fds[c].revents)
                continue;
            children[c].fill();
            Frame frame;
            int replies = 0;
            while (children[c].next(&frame)) {
                const qint32 value = incrementResult(frame);
                if (expected[c].empty() || value != expected[c].front())
                    throw Failure(QStringLiteral("floor A throughput: wrong reply %1").arg(value));
                expected[c].pop_front();
                ++replies;
            }
            received += replies;
            sendBatch(c, replies);
        }
    }
    results.add(Metric::Throughput, FloorASystem, count / (elapsedMs(timer) / 1e3));
}

void floorAPayload(const Config &config, Results &results)
{
    FloorAChild child(program());
    child.expectHello();
    for (int s = 0; s < config.payloadSizes.size(); ++s) {
        const qint64 size = config.payloadSizes.at(s);
        const QByteArray payload = makePayload(size, quint32(s + 1));
        double totalNs = 0;
        for (int iteration = 0; iteration < config.payloadIterations.at(s); ++iteration) {
            QElapsedTimer timer;
            timer.start();
            child.send(Echo, payload.constData(), size_t(size));
            const Frame frame = child.receive();
            totalNs += double(timer.nsecsElapsed());
            if (frame.op != Echo || frame.body != payload)
                throw Failure(
                    QStringLiteral("echo of %1 came back different").arg(sizeLabel(size)));
        }
        const double bytes = 2.0 * double(size) * config.payloadIterations.at(s);
        results.add(payloadMetric(size), FloorASystem, bytes / (totalNs / 1e9) / 1e6);
    }
}

void floorAColdStart(Results &results)
{
    {
        QElapsedTimer timer;
        timer.start();
        FloorAChild child(program());
        child.sendIncrement(1);
        child.expectHello();
        const qint32 value = incrementResult(child.receive());
        results.add(Metric::ColdStart, FloorASystem, elapsedMs(timer));
        checkIncrement(1, value);
    }
    {
        FloorAChild child(program());
        child.expectHello();
        QElapsedTimer timer;
        timer.start();
        child.sendIncrement(1);
        const qint32 value = incrementResult(child.receive());
        results.add(Metric::Prestarted, FloorASystem, elapsedMs(timer));
        checkIncrement(1, value);
    }
}

// ---------------------------------------------------------------------------
// Floor B

QByteArray floorBFrame(quint8 op, const std::function<void(QDataStream &)> &writeBody)
{
    QByteArray block;
    QDataStream out(&block, QIODevice::WriteOnly);
    out.setVersion(QDataStream::Qt_6_0);
    out << quint32(0) << op;
    writeBody(out);
    out.device()->seek(0);
    out << quint32(block.size() - sizeof(quint32));
    return block;
}

/// Splits what a QLocalSocket receives into frames: the usual hand-written way.
class FrameReader
{
public:
    using Handler = std::function<void(quint8 op, QDataStream &in)>;

    /// Calls handler for each complete frame available on socket.
    void read(QLocalSocket *socket, const Handler &handler)
    {
        for (;;) {
            if (m_length == 0) {
                if (socket->bytesAvailable() < qint64(sizeof(quint32)))
                    return;
                QDataStream in(socket);
                in >> m_length;
            }
            if (socket->bytesAvailable() < m_length)
                return;
            const QByteArray body = socket->read(m_length);
            m_length = 0;
            QDataStream in(body);
            in.setVersion(QDataStream::Qt_6_0);
            quint8 op = 0;
            in >> op;
            handler(op, in);
        }
    }

private:
    quint32 m_length = 0;
};

/// The parent's end of a floor B child, driven by this thread's event loop.
class FloorBPeer : public QObject
{
public:
    using Handler = FrameReader::Handler;

    /// Listens, starts the child; the handler sees every frame (Hello first).
    explicit FloorBPeer(const Handler &handler)
        : m_handler(handler)
    {
        static int serial = 0;
        const QString name = QStringLiteral("qtprocesspool-bench-%1-%2")
                                 .arg(QCoreApplication::applicationPid())
                                 .arg(++serial);
        QLocalServer::removeServer(name);
        m_server.setSocketOptions(QLocalServer::UserAccessOption);
        if (!m_server.listen(name))
            throw Failure(QStringLiteral("QLocalServer::listen: ") + m_server.errorString());
        connect(&m_server, &QLocalServer::newConnection, this, [this] {
            m_socket = m_server.nextPendingConnection();
            connect(m_socket, &QLocalSocket::readyRead, this,
                    [this] { m_reader.read(m_socket, m_handler); });
            for (const QByteArray &frame : std::as_const(m_pending))
                m_socket->write(frame);
            m_pending.clear();
            m_reader.read(m_socket, m_handler);
        });
        m_process.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        m_process.start(program(),
                        {QString::fromLatin1(FloorBChildFlag), m_server.fullServerName()});
    }
    ~FloorBPeer() override
    {
        if (m_socket)
            m_socket->disconnectFromServer();
        m_process.closeWriteChannel();
        if (!m_process.waitForFinished(5000)) {
            m_process.kill();
            m_process.waitForFinished(5000);
        }
    }

    /// Writes a frame now, or as soon as the child connects.
    void send(const QByteArray &frame)
    {
        if (m_socket)
            m_socket->write(frame);
        else
            m_pending.append(frame);
    }
    void sendIncrement(qint32 value)
    {
        send(floorBFrame(Increment, [value](QDataStream &out) { out << value; }));
    }

private:
    Handler m_handler;
    QLocalServer m_server;
    QProcess m_process;
    QLocalSocket *m_socket = nullptr;
    FrameReader m_reader;
    QList<QByteArray> m_pending;
};

/// Counts Hello frames and checks Increment replies for the floor B workloads.
struct IncrementChecker
{
    int hellos = 0;
    std::deque<qint32> expected;
    QString error;

    /// True for a correct Increment reply.
    bool take(quint8 op, QDataStream &in)
    {
        if (op == Hello) {
            ++hellos;
            return false;
        }
        qint32 value = 0;
        in >> value;
        if (op != Increment || expected.empty() || value != expected.front()) {
            if (error.isEmpty())
                error = QStringLiteral("unexpected reply (op %1, value %2)").arg(op).arg(value);
            return false;
        }
        expected.pop_front();
        return true;
    }
};

void waitForHello(Waiter &waiter, const Config &config)
{
    waiter.wait(config.timeoutMs, QStringLiteral("floor B child to connect"));
}

void floorBLatency(const Config &config, Results &results)
{
    IncrementChecker checker;
    Waiter connected;
    Waiter finished;
    QList<double> samples;
    samples.reserve(config.latencyRoundTrips);
    QElapsedTimer timer;
    qint32 index = 0;
    std::unique_ptr<FloorBPeer> peer;
    peer = std::make_unique<FloorBPeer>([&](quint8 op, QDataStream &in) {
        if (op == Hello) {
            connected.done();
            return;
        }
        const bool ok = checker.take(op, in);
        samples.append(elapsedUs(timer));
        if (!ok || ++index == config.latencyRoundTrips) {
            finished.done();
            return;
        }
        timer.start();
        checker.expected.push_back(index + 1);
        peer->sendIncrement(index);
    });
    waitForHello(connected, config);
    timer.start();
    checker.expected.push_back(1);
    peer->sendIncrement(0);
    finished.wait(config.timeoutMs, QStringLiteral("floor B round trips"));
    if (!checker.error.isEmpty())
        throw Failure(checker.error);
    results.add(Metric::LatencyP50, FloorBSystem, percentile(samples, 50));
    results.add(Metric::LatencyP99, FloorBSystem, percentile(samples, 99));
}

void floorBThroughput(const Config &config, Results &results)
{
    const int count = config.throughputTasks;
    IncrementChecker checkers[2];
    Waiter connected;
    Waiter finished;
    int sent = 0;
    int received = 0;
    std::unique_ptr<FloorBPeer> peers[2];
    const auto sendTo = [&](int c) {
        if (sent < count) {
            checkers[c].expected.push_back(sent + 1);
            peers[c]->sendIncrement(sent++);
        }
    };
    for (int c = 0; c < 2; ++c) {
        peers[c] = std::make_unique<FloorBPeer>([&, c](quint8 op, QDataStream &in) {
            if (op == Hello) {
                if (checkers[0].hellos + checkers[1].hellos == 1)
                    connected.done();
                checkers[c].take(op, in);
                return;
            }
            if (!checkers[c].take(op, in)) {
                finished.done();
                return;
            }
            if (++received == count)
                finished.done();
            else
                sendTo(c);
        });
    }
    waitForHello(connected, config);
    GapMeter gaps;
    QElapsedTimer timer;
    timer.start();
    gaps.start();
    for (int i = 0; i < Window; ++i) {
        sendTo(0);
        sendTo(1);
    }
    finished.wait(config.timeoutMs, QStringLiteral("floor B throughput"));
    const double gapMs = gaps.stop();
    for (const IncrementChecker &checker : checkers) {
        if (!checker.error.isEmpty())
            throw Failure(checker.error);
    }
    results.add(Metric::Throughput, FloorBSystem, count / (elapsedMs(timer) / 1e3));
    results.add(Metric::GapRun, FloorBSystem, gapMs);
}

void floorBPayload(const Config &config, Results &results)
{
    Waiter connected;
    std::unique_ptr<Waiter> finished;
    QByteArray echoed;
    QString error;
    QElapsedTimer timer;
    GapMeter gaps;
    double totalNs = 0;
    double gapMs = 0;
    FloorBPeer peer([&](quint8 op, QDataStream &in) {
        if (op == Hello) {
            connected.done();
            return;
        }
        totalNs += double(timer.nsecsElapsed());
        gapMs = gaps.stop();
        in >> echoed;
        if (op != Echo || in.status() != QDataStream::Ok)
            error = QStringLiteral("unexpected reply (op %1)").arg(op);
        finished->done();
    });
    waitForHello(connected, config);
    for (int s = 0; s < config.payloadSizes.size(); ++s) {
        const qint64 size = config.payloadSizes.at(s);
        const QByteArray payload = makePayload(size, quint32(s + 1));
        const bool last = s == config.payloadSizes.size() - 1;
        totalNs = 0;
        for (int iteration = 0; iteration < config.payloadIterations.at(s); ++iteration) {
            finished = std::make_unique<Waiter>();
            timer.start();
            peer.send(floorBFrame(Echo, [&](QDataStream &out) { out << payload; }));
            const double submitMs = elapsedMs(timer);
            gaps.start();
            finished->wait(config.timeoutMs, QStringLiteral("floor B echo"));
            if (error.isEmpty() && echoed != payload)
                error = QStringLiteral("echo of %1 came back different").arg(sizeLabel(size));
            if (!error.isEmpty())
                throw Failure(error);
            echoed.clear();
            if (last && iteration == 0) {
                results.add(Metric::GapPayload, FloorBSystem, gapMs);
                results.add(Metric::SubmitPayload, FloorBSystem, submitMs);
            }
        }
        const double bytes = 2.0 * double(size) * config.payloadIterations.at(s);
        results.add(payloadMetric(size), FloorBSystem, bytes / (totalNs / 1e9) / 1e6);
    }
}

void floorBColdStart(const Config &config, Results &results)
{
    // Cold: listen, start the process, connect, first round trip.
    {
        IncrementChecker checker;
        Waiter finished;
        QElapsedTimer timer;
        timer.start();
        double ms = 0;
        checker.expected.push_back(2);
        FloorBPeer peer([&](quint8 op, QDataStream &in) {
            if (checker.take(op, in) || !checker.error.isEmpty()) {
                ms = elapsedMs(timer);
                finished.done();
            }
        });
        peer.sendIncrement(1);
        finished.wait(config.timeoutMs, QStringLiteral("floor B cold start"));
        if (!checker.error.isEmpty())
            throw Failure(checker.error);
        results.add(Metric::ColdStart, FloorBSystem, ms);
    }
    // Started and connected beforehand: the first round trip.
    {
        IncrementChecker checker;
        Waiter connected;
        Waiter finished;
        QElapsedTimer timer;
        double ms = 0;
        FloorBPeer peer([&](quint8 op, QDataStream &in) {
            if (op == Hello) {
                connected.done();
                return;
            }
            ms = elapsedMs(timer);
            checker.take(op, in);
            finished.done();
        });
        waitForHello(connected, config);
        checker.expected.push_back(2);
        timer.start();
        peer.sendIncrement(1);
        finished.wait(config.timeoutMs, QStringLiteral("floor B first round trip"));
        if (!checker.error.isEmpty())
            throw Failure(checker.error);
        results.add(Metric::Prestarted, FloorBSystem, ms);
    }
}

// ---------------------------------------------------------------------------
// memcpy

void memcpyPayload(const Config &config, Results &results)
{
    for (int s = 0; s < config.payloadSizes.size(); ++s) {
        const qint64 size = config.payloadSizes.at(s);
        const QByteArray payload = makePayload(size, quint32(s + 1));
        QByteArray there(size, '\0'); // touched: no page faults in the copies
        QByteArray back(size, '\0');
        QElapsedTimer timer;
        timer.start();
        for (int iteration = 0; iteration < config.payloadIterations.at(s); ++iteration) {
            std::memcpy(there.data(), payload.constData(), size_t(size));
            std::memcpy(back.data(), there.constData(), size_t(size));
        }
        const double seconds = elapsedMs(timer) / 1e3;
        if (back != payload)
            throw Failure(QStringLiteral("memcpy of %1 differs").arg(sizeLabel(size)));
        const double bytes = 2.0 * double(size) * config.payloadIterations.at(s);
        results.add(payloadMetric(size), MemcpySystem, bytes / seconds / 1e6);
    }
}

} // namespace

void benchFloorA(Workload workload, const Config &config, Results &results)
{
    switch (workload) {
    case Workload::Latency:
        return floorALatency(config, results);
    case Workload::Throughput:
        return floorAThroughput(config, results);
    case Workload::Payload:
        return floorAPayload(config, results);
    case Workload::Scaling:
        return;
    case Workload::ColdStart:
        return floorAColdStart(results);
    }
}

void benchMemcpy(Workload workload, const Config &config, Results &results)
{
    if (workload == Workload::Payload)
        memcpyPayload(config, results);
}

void benchFloorB(Workload workload, const Config &config, Results &results)
{
    switch (workload) {
    case Workload::Latency:
        return floorBLatency(config, results);
    case Workload::Throughput:
        return floorBThroughput(config, results);
    case Workload::Payload:
        return floorBPayload(config, results);
    case Workload::Scaling:
        return;
    case Workload::ColdStart:
        return floorBColdStart(config, results);
    }
}

// ---------------------------------------------------------------------------
// Child modes

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

int floorBChildMain(int argc, char **argv)
{
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    QCoreApplication app(argc, argv);
    const QString serverName = QString::fromLocal8Bit(argv[2]);
    QLocalSocket socket;
    FrameReader reader;
    QObject::connect(&socket, &QLocalSocket::connected, &socket,
                     [&] { socket.write(floorBFrame(Hello, [](QDataStream &) {})); });
    QObject::connect(&socket, &QLocalSocket::readyRead, &socket, [&] {
        reader.read(&socket, [&](quint8 op, QDataStream &in) {
            if (op == Increment) {
                qint32 value = 0;
                in >> value;
                socket.write(
                    floorBFrame(Increment, [value](QDataStream &out) { out << value + 1; }));
            } else if (op == Echo) {
                QByteArray bytes;
                in >> bytes;
                socket.write(floorBFrame(Echo, [&bytes](QDataStream &out) { out << bytes; }));
            } else {
                QCoreApplication::exit(1);
            }
        });
    });
    QObject::connect(&socket, &QLocalSocket::disconnected, &app, &QCoreApplication::quit);
    QObject::connect(&socket, &QLocalSocket::errorOccurred, &app,
                     [] { QCoreApplication::exit(2); });
    socket.connectToServer(serverName);
    return app.exec();
}

} // namespace Bench
