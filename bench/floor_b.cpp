// SPDX-License-Identifier: MIT
// Floor B, a reference (not a target): what a hand-written Qt solution gets.
// A QLocalServer in this thread's event loop, a child started with QProcess
// (this executable in --floor-b-child mode) connecting with a QLocalSocket,
// frames of a quint32 length and a QDataStream body.
#include "floors.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QDataStream>
#include <QtCore/QProcess>
#include <QtNetwork/QLocalServer>
#include <QtNetwork/QLocalSocket>

#include <csignal>
#include <deque>
#include <functional>
#include <memory>

#include <sys/prctl.h>

namespace Bench {

namespace {

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
        m_process.start(childProgram(),
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

} // namespace

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
