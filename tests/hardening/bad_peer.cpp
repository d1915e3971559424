// SPDX-License-Identifier: MIT
// qpp_bad_peer: a worker program (pool.setWorkerProgram) that misbehaves on
// purpose. The pool starts it like any worker: "<mode...> --qtprocesspool-worker
// <server>", with "<slot> <secret in hex>\n" on stdin. Modes:
//
//   stall            prints "qpp_bad_peer stall slot=<n> pid=<p> secret=<hex>" on
//                    stderr and waits (up to 60 s) for SIGUSR1; then serves as a
//                    real worker (execWorker) on the same slot.
//   replay           before serving as a real worker: takes a Challenge on one
//                    connection, answers it correctly but sends that Hello on a
//                    second connection (fresh nonce); then serves as a real
//                    worker. Its task "replayReport" replays the same Hello
//                    once more, and sends a correct Hello for a fresh nonce,
//                    both for its own slot, now taken; returns what happened
//                    as lines "<step> closed=<0|1> extra=<traffic>".
//   hostile <how> [n] authenticates with its own code, waits for a RunTask,
//                    prints "qpp_bad_peer got RunTask id=<id>" and answers it
//                    with a bad frame (see sendBadAnswer()); then waits to be
//                    killed.
//   otherbuild       authenticates correctly, but names another build of the
//                    library in its Hello; then waits for the pool to close.
#include "tasks.h"
#include "wire.h"

#include <QtProcessPool/ProcessPool>

#include <QtCore/QStringList>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <unistd.h>

using namespace QtProcessPool;

namespace {

constexpr char WorkerFlag[] = "--qtprocesspool-worker";
constexpr int WaitMs = 20000;

QByteArray g_server;
quint32 g_slot = 0;
QByteArray g_secret;
QByteArray g_credentialLine;
QByteArray g_replayedHello; // answered a challenge of another connection
QStringList g_report;

/// As src/worker/workermain.cpp reads its credentials: "<slot> <secret in
/// hex>" and possibly more fields, which are kept for execWorker() (the line
/// is handed on whole, and inherited descriptors stay open).
bool readCredentials()
{
    std::string line;
    char c;
    while (line.size() < 1024 && ::read(STDIN_FILENO, &c, 1) == 1 && c != '\n')
        line.push_back(c);
    g_credentialLine = QByteArray::fromStdString(line);
    const QList<QByteArray> parts = g_credentialLine.split(' ');
    if (parts.size() < 2)
        return false;
    bool ok = false;
    g_slot = parts[0].toUInt(&ok);
    g_secret = QByteArray::fromHex(parts[1]);
    return ok && !g_secret.isEmpty();
}

/// Serves as a real worker: execWorker() reads the credentials from stdin again.
int becomeRealWorker(int argc, char **argv)
{
    int fds[2];
    if (::pipe(fds) != 0)
        return 5;
    const QByteArray line = g_credentialLine + '\n';
    if (::write(fds[1], line.constData(), size_t(line.size())) != ssize_t(line.size()))
        return 5;
    ::close(fds[1]);
    ::dup2(fds[0], STDIN_FILENO);
    ::close(fds[0]);
    return execWorker(argc, argv);
}

QByteArray helloFor(const QByteArray &nonce, const QString &build = Wire::buildId())
{
    return Wire::frame(Wire::Hello,
                       Wire::helloBody(Wire::ProtocolVersion, g_slot, qint64(::getpid()),
                                       Wire::proof(nonce, g_secret), build));
}

/// Sends hello on a fresh connection and reports whether the pool closed it
/// without sending anything but its challenge.
QString tryHello(const char *step, const QByteArray *fixedHello)
{
    Wire::RawPeer peer;
    if (!peer.connectTo(g_server))
        return QStringLiteral("%1 closed=0 extra=connect failed").arg(QLatin1String(step));
    const QByteArray nonce = peer.readChallenge(WaitMs);
    if (nonce.isEmpty())
        return QStringLiteral("%1 closed=0 extra=no challenge").arg(QLatin1String(step));
    peer.sendAll(fixedHello ? *fixedHello : helloFor(nonce));
    const bool closed = peer.waitForEof(WaitMs);
    const QString extra = peer.unexpectedTraffic();
    return QStringLiteral("%1 closed=%2 extra=%3")
        .arg(QLatin1String(step))
        .arg(closed ? 1 : 0)
        .arg(extra.isEmpty() ? QStringLiteral("none") : extra);
}

QStringList replayReport()
{
    QStringList report = g_report;
    // This task runs, so this process holds the slot: both must be refused.
    report.append(tryHello("taken-slot-replay", &g_replayedHello));
    report.append(tryHello("taken-slot-fresh-proof", nullptr));
    return report;
}

int replay(int argc, char **argv)
{
    Wire::RawPeer first;
    Wire::RawPeer second;
    if (!first.connectTo(g_server) || !second.connectTo(g_server))
        return 6;
    const QByteArray firstNonce = first.readChallenge(WaitMs);
    if (firstNonce.isEmpty())
        return 6;
    g_replayedHello = helloFor(firstNonce);
    // The slot is free and the proof right -- for the other connection's nonce.
    const QByteArray secondNonce = second.readChallenge(WaitMs);
    if (secondNonce.isEmpty())
        return 6;
    second.sendAll(g_replayedHello);
    const bool closed = second.waitForEof(WaitMs);
    const QString extra = second.unexpectedTraffic();
    g_report.append(QStringLiteral("fresh-nonce-replay closed=%1 extra=%2 nonces-differ=%3")
                        .arg(closed ? 1 : 0)
                        .arg(extra.isEmpty() ? QStringLiteral("none") : extra)
                        .arg(firstNonce != secondNonce ? 1 : 0));
    first.close(); // never answered
    second.close();
    return becomeRealWorker(argc, argv);
}

int stall(int argc, char **argv)
{
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, nullptr); // before anyone can know our pid
    std::fprintf(stderr, "qpp_bad_peer stall slot=%u pid=%lld secret=%s\n", g_slot,
                 static_cast<long long>(::getpid()), g_secret.toHex().constData());
    std::fflush(stderr);
    const timespec timeout{60, 0};
    if (::sigtimedwait(&usr1, nullptr, &timeout) != SIGUSR1)
        return 7;
    return becomeRealWorker(argc, argv);
}

void sendBadAnswer(Wire::RawPeer &peer, const QByteArray &how, quint64 id, quint32 length)
{
    const QByteArray started = Wire::frame(Wire::TaskStarted, Wire::body(id));
    const QByteArray fortyNine = Wire::body(qint32(49));
    if (how == "garbage-finished") {
        peer.sendAll(started +
                     Wire::frame(Wire::TaskFinished, QByteArray("\xde\xad garbage!", 10)));
    } else if (how == "unstarted-garbage") {
        peer.sendAll(Wire::frame(Wire::TaskFinished, QByteArray("\xde\xad garbage!", 10)));
    } else if (how == "unknown-id") {
        peer.sendAll(started +
                     Wire::frame(Wire::TaskFinished, Wire::body(id + 1000, quint32(1), fortyNine)));
    } else if (how == "oversized") {
        // A header announcing more than the pool accepts, then a trickle.
        peer.sendAll(started + Wire::header(length, Wire::TaskFinished));
        for (int i = 0; i < 20 && peer.sendAll(QByteArray(64, 'x')); ++i)
            ::usleep(50000);
    } else if (how == "wrong-type") {
        peer.sendAll(started + helloFor(QByteArray(Wire::NonceSize, 'n')));
    } else if (how == "forbidden-kind") {
        peer.sendAll(started + Wire::frame(Wire::TaskFailed,
                                           Wire::body(id, quint8(TaskError::Kind::Crashed),
                                                      QStringLiteral("forged"), QString())));
    } else if (how == "finished-empty") {
        peer.sendAll(started +
                     Wire::frame(Wire::TaskFinished, Wire::body(id, quint32(0), QByteArray())));
    } else if (how == "finished-two") {
        peer.sendAll(started + Wire::frame(Wire::TaskFinished,
                                           Wire::body(id, quint32(2), fortyNine + fortyNine)));
    } else if (how == "results-streamed") {
        // Results streamed the way only a QPromise task may.
        peer.sendAll(started +
                     Wire::frame(Wire::TaskResults, Wire::body(id, quint32(1), fortyNine)));
    } else if (how == "shared-nothing") {
        // A reference to a body in shared memory, with nothing sent for it.
        QByteArray reference(6, '\0');
        qToBigEndian<quint16>(Wire::TaskFinished, reference.data());
        qToBigEndian<quint32>(300000, reference.data() + 2);
        peer.sendAll(started + Wire::frame(0xffff, reference));
    } else {
        std::fprintf(stderr, "qpp_bad_peer: unknown hostile mode %s\n", how.constData());
        std::exit(8);
    }
}

int hostile(const QByteArray &how, quint32 length)
{
    Wire::RawPeer peer;
    if (!peer.connectTo(g_server))
        return 9;
    const QByteArray nonce = peer.readChallenge(WaitMs);
    if (nonce.isEmpty())
        return 9;
    if (!peer.sendAll(helloFor(nonce)))
        return 9;
    // Wait for the first RunTask.
    for (;;) {
        QByteArray rest;
        const QList<Wire::Frame> frames =
            Wire::splitFrames(peer.received().mid(Wire::ChallengeFrameSize), &rest);
        const Wire::Frame *run = nullptr;
        for (const Wire::Frame &f : frames) {
            if (f.type == Wire::RunTask && f.body.size() >= 8) {
                run = &f;
                break;
            }
        }
        if (run) {
            const quint64 id = qFromBigEndian<quint64>(run->body.constData());
            std::fprintf(stderr, "qpp_bad_peer got RunTask id=%llu\n",
                         static_cast<unsigned long long>(id));
            std::fflush(stderr);
            sendBadAnswer(peer, how, id, length);
            break;
        }
        if (!peer.readAtLeast(peer.received().size() + 1, 60000))
            return 10; // no task within a minute, or the pool closed
    }
    // The pool is expected to kill us; if it only closes the socket, linger so
    // the test sees that we were not killed.
    peer.waitForEof(60000);
    ::sleep(30);
    return 0;
}

int otherBuild()
{
    Wire::RawPeer peer;
    if (!peer.connectTo(g_server))
        return 11;
    const QByteArray nonce = peer.readChallenge(WaitMs);
    if (nonce.isEmpty() ||
        !peer.sendAll(helloFor(nonce, QStringLiteral("QtProcessPool 0.0.1 (protocol 2)"))))
        return 11;
    peer.waitForEof(WaitMs);
    return 0;
}

} // namespace

QPP_REGISTER_TASK_AS("replayReport", replayReport)

int main(int argc, char **argv)
{
    if (!isWorkerProcess(argc, argv) || argc < 4) {
        std::fprintf(stderr, "usage: qpp_bad_peer stall|replay|otherbuild|hostile <how> [length] "
                             "--qtprocesspool-worker <server> (started by a pool)\n");
        return 2;
    }
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::strcmp(argv[i], WorkerFlag) == 0)
            g_server = QByteArray(argv[i + 1]);
    }
    if (!readCredentials()) {
        std::fprintf(stderr, "qpp_bad_peer: no credentials on stdin\n");
        return 3;
    }
    const QByteArray mode = argv[1];
    if (mode == "stall")
        return stall(argc, argv);
    if (mode == "replay")
        return replay(argc, argv);
    if (mode == "otherbuild")
        return otherBuild();
    if (mode == "hostile") {
        const quint32 length = argc > 5 && std::strcmp(argv[3], WorkerFlag) != 0
                                   ? quint32(std::strtoul(argv[3], nullptr, 10))
                                   : 0xffffffffu;
        return hostile(argv[2], length);
    }
    std::fprintf(stderr, "qpp_bad_peer: unknown mode %s\n", argv[1]);
    return 4;
}
