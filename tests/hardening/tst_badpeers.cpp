// SPDX-License-Identifier: MIT
// Hostile peers on the pool's real socket, and hostile workers (qpp_bad_peer):
// every bad connection is closed by the pool without a job or result being
// exchanged, the pool's memory does not grow, and tasks go on with normal
// results. Real sockets and processes only.
#include "tasks.h"
#include "testmain.h"
#include "testutil.h"
#include "wire.h"

#include <QtProcessPool/ProcessPool>

#include <QtCore/QDir>
#include <QtCore/QElapsedTimer>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtCore/QMutex>
#include <QtCore/QRandomGenerator>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <csignal>
#include <memory>
#include <vector>

using namespace QtProcessPool;
using namespace TestTasks;
using namespace TestUtil;
using namespace std::chrono_literals;

namespace {

constexpr int HelloTimeoutMs = 5000; // src/pool/engine.cpp: an unauthenticated connection's time
constexpr int ImmediateMs = 4000;    // "closed on sight": well before the hello timeout
constexpr int CloseBoundMs = 10000;  // a peer sees EOF by then (past its trigger)
constexpr qint64 MaxRssGrowthKiB = 32 * 1024;
constexpr int HealthTasks = 20;

qint64 rssKiB()
{
    QFile status(QStringLiteral("/proc/self/status"));
    if (!status.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray &line : status.readAll().split('\n')) {
        if (line.startsWith("VmRSS:"))
            return line.mid(6).trimmed().split(' ').value(0).toLongLong();
    }
    return -1;
}

/// Sockets this process holds open (the pool's server side of each peer too).
int socketCount()
{
    const QDir fds(QStringLiteral("/proc/self/fd"));
    int sockets = 0;
    for (const QString &fd : fds.entryList(QDir::AllEntries | QDir::System | QDir::NoDotAndDotDot))
        sockets += QFile::symLinkTarget(fds.filePath(fd)).contains(QLatin1String("socket:["));
    return sockets;
}

/// The socket of the one pool of this process: <base>/qtprocesspool-<pid>-XXXXXX/s.
QByteArray poolSocketPath()
{
    QStringList bases{QDir::tempPath()};
    const QString runtime = qEnvironmentVariable("XDG_RUNTIME_DIR");
    if (!runtime.isEmpty() && QFileInfo(runtime).isDir())
        bases.prepend(runtime);
    QStringList found;
    const QString pattern =
        QStringLiteral("qtprocesspool-%1-*").arg(QCoreApplication::applicationPid());
    for (const QString &base : bases) {
        const QDir dir(base);
        for (const QString &entry : dir.entryList({pattern}, QDir::Dirs | QDir::Hidden)) {
            const QString socket = dir.filePath(entry) + QStringLiteral("/s");
            if (QFileInfo::exists(socket) && !found.contains(socket))
                found.append(socket);
        }
    }
    return found.size() == 1 ? QFile::encodeName(found.first()) : QByteArray();
}

// What the pool logs under qtprocesspool.protocol (from its I/O thread).
QMutex g_logMutex;
QStringList g_protocolLog;
QtMessageHandler g_previousHandler = nullptr;

void recordMessage(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    if (context.category && qstrcmp(context.category, "qtprocesspool.protocol") == 0) {
        QMutexLocker lock(&g_logMutex);
        g_protocolLog.append(message);
    }
    if (g_previousHandler)
        g_previousHandler(type, context, message);
}

int protocolLogSize()
{
    QMutexLocker lock(&g_logMutex);
    return int(g_protocolLog.size());
}

/// Lines logged since index `from` that contain `what`.
QStringList protocolLogSince(int from, const QString &what = {})
{
    QMutexLocker lock(&g_logMutex);
    QStringList lines;
    for (qsizetype i = from; i < g_protocolLog.size(); ++i) {
        if (g_protocolLog[i].contains(what))
            lines.append(g_protocolLog[i]);
    }
    return lines;
}

QByteArray randomBytes(int size)
{
    QByteArray bytes(size, Qt::Uninitialized);
    QRandomGenerator::global()->generate(bytes.begin(), bytes.end());
    return bytes;
}

/// A pool with two ready workers that stay (no idle timeout), its socket, and
/// the baselines a bad peer must not change.
struct Fixture
{
    std::unique_ptr<ProcessPool> pool;
    QByteArray path;
    QList<qint64> workers;
    qint64 rss = 0;
    int sockets = 0;
};

} // namespace

class TestBadPeers : public QObject
{
    Q_OBJECT

private:
    void setUp(Fixture *f);
    void runsTasks(ProcessPool &pool);
    void checkHealthy(Fixture &f);
    void expectClosedByPool(Wire::RawPeer &peer, const QElapsedTimer &since, qint64 minMs,
                            qint64 maxMs);
    void connectAndGreet(const Fixture &f, Wire::RawPeer *peer, QByteArray *nonce = nullptr);

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void garbageInsteadOfHello_data();
    void garbageInsteadOfHello();
    void hugeLengthPrefix_data();
    void hugeLengthPrefix();
    void truncatedFrame_data();
    void truncatedFrame();
    void badHelloBody_data();
    void badHelloBody();
    void wrongSecret_data();
    void wrongSecret();
    void replayedHandshake();
    void otherBuild();
    void silentConnection();
    void hundredIdleConnections();
    void hostileWorker_data();
    void hostileWorker();
};

void TestBadPeers::initTestCase()
{
    g_previousHandler = qInstallMessageHandler(recordMessage);
    QVERIFY2(QFileInfo(QStringLiteral(QPP_BAD_PEER)).isExecutable(), QPP_BAD_PEER);
}

void TestBadPeers::cleanupTestCase()
{
    qInstallMessageHandler(g_previousHandler);
}

void TestBadPeers::runsTasks(ProcessPool &pool)
{
    QList<QFuture<int>> futures;
    for (int i = 0; i < HealthTasks; ++i)
        futures.append(pool.run(square, i));
    for (int i = 0; i < HealthTasks; ++i) {
        QVERIFY(finishes(futures[i]));
        const auto e = errorOf(futures[i]);
        QVERIFY2(!e, e ? qPrintable(e->message()) : "");
        QCOMPARE(futures[i].result(), i * i);
    }
}

void TestBadPeers::setUp(Fixture *f)
{
    f->pool = std::make_unique<ProcessPool>();
    ProcessPool &pool = *f->pool;
    pool.setMaxWorkers(2);
    pool.setMinWorkers(2);
    pool.setIdleTimeout(0ms);
    pool.prestart();
    QTRY_COMPARE_WITH_TIMEOUT(pool.workerPids().size(), 2, Generous);
    runsTasks(pool);
    if (QTest::currentTestFailed())
        return;
    f->workers = pool.workerPids();
    std::sort(f->workers.begin(), f->workers.end());
    f->path = poolSocketPath();
    QVERIFY2(!f->path.isEmpty(), "cannot find the pool's socket (exactly one expected)");
    f->rss = rssKiB();
    f->sockets = socketCount();
    QVERIFY(f->rss > 0);
}

/// After a bad peer: its connection is gone on the pool's side too, the same
/// two workers still run tasks correctly, and memory has not grown.
void TestBadPeers::checkHealthy(Fixture &f)
{
    QTRY_VERIFY2_WITH_TIMEOUT(socketCount() <= f.sockets,
                              qPrintable(QStringLiteral("%1 sockets open, %2 before the peer")
                                             .arg(socketCount())
                                             .arg(f.sockets)),
                              CloseBoundMs);
    runsTasks(*f.pool);
    if (QTest::currentTestFailed())
        return;
    QList<qint64> workers = f.pool->workerPids();
    std::sort(workers.begin(), workers.end());
    QCOMPARE(workers, f.workers); // no worker was disturbed
    const qint64 growth = rssKiB() - f.rss;
    QVERIFY2(growth < MaxRssGrowthKiB,
             qPrintable(QStringLiteral("RSS grew by %1 KiB").arg(growth)));
}

/// The pool closes the peer's connection between minMs and maxMs after
/// `since`, and sends it nothing but its challenge.
void TestBadPeers::expectClosedByPool(Wire::RawPeer &peer, const QElapsedTimer &since, qint64 minMs,
                                      qint64 maxMs)
{
    const bool closed = peer.waitForEof(int(std::max<qint64>(1, maxMs - since.elapsed())));
    const qint64 ms = since.elapsed();
    QVERIFY2(closed, qPrintable(QStringLiteral("the pool did not close the connection within "
                                               "%1 ms")
                                    .arg(maxMs)));
    QVERIFY2(ms >= minMs,
             qPrintable(
                 QStringLiteral("closed after %1 ms, expected at least %2").arg(ms).arg(minMs)));
    QVERIFY2(peer.unexpectedTraffic().isEmpty(),
             qPrintable(QStringLiteral("the pool sent more than its challenge: ") +
                        peer.unexpectedTraffic()));
}

void TestBadPeers::connectAndGreet(const Fixture &f, Wire::RawPeer *peer, QByteArray *nonce)
{
    QVERIFY2(peer->connectTo(f.path),
             qPrintable(QStringLiteral("connect: errno %1").arg(peer->error())));
    const QByteArray n = peer->readChallenge(Generous);
    QCOMPARE(n.size(), Wire::NonceSize);
    if (nonce)
        *nonce = n;
}

#define QPP_CHECK(call)                                                                            \
    do {                                                                                           \
        call;                                                                                      \
        if (QTest::currentTestFailed())                                                            \
            return;                                                                                \
    } while (false)

// --- garbage ------------------------------------------------------------------

void TestBadPeers::garbageInsteadOfHello_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::newRow("random 64 KiB") << randomBytes(64 * 1024);
    QTest::newRow("zeros 64 KiB") << QByteArray(64 * 1024, '\0');
    QTest::newRow("0xff 64 KiB") << QByteArray(64 * 1024, '\xff');
    QTest::newRow("an HTTP request") << QByteArray("GET / HTTP/1.1\r\nHost: pool\r\n\r\n");
}

void TestBadPeers::garbageInsteadOfHello()
{
    QFETCH(QByteArray, bytes);
    Fixture f;
    QPP_CHECK(setUp(&f));
    Wire::RawPeer peer;
    QPP_CHECK(connectAndGreet(f, &peer));
    QElapsedTimer since;
    since.start();
    peer.sendAll(bytes); // may fail half-way: the pool closes on the first bad header
    QPP_CHECK(expectClosedByPool(peer, since, 0, ImmediateMs));
    peer.close();
    checkHealthy(f);
}

// --- huge length prefixes -------------------------------------------------------

void TestBadPeers::hugeLengthPrefix_data()
{
    QTest::addColumn<int>("which"); // 0: 0xffffffff, 1: maxMessageSize() + 1, 2: 0xfffffffe
    QTest::addColumn<bool>("trickle");
    for (bool trickle : {false, true}) {
        const char *then = trickle ? "then a trickle" : "then silence";
        QTest::addRow("0xffffffff, %s", then) << 0 << trickle;
        QTest::addRow("maxMessageSize+1, %s", then) << 1 << trickle;
        QTest::addRow("0xfffffffe (just under the absolute limit), %s", then) << 2 << trickle;
    }
}

void TestBadPeers::hugeLengthPrefix()
{
    QFETCH(int, which);
    QFETCH(bool, trickle);
    Fixture f;
    QPP_CHECK(setUp(&f));
    const quint32 length = which == 0   ? 0xffffffffu
                           : which == 1 ? quint32(f.pool->maxMessageSize() + 1)
                                        : 0xfffffffeu;
    QVERIFY(qint64(length) > f.pool->maxMessageSize() || which != 1);
    Wire::RawPeer peer;
    QPP_CHECK(connectAndGreet(f, &peer));
    QElapsedTimer since;
    since.start();
    QVERIFY(peer.sendAll(Wire::header(length, Wire::Hello)));
    if (trickle) {
        // One byte every 50 ms until the pool hangs up (a send fails or EOF).
        while (since.elapsed() < CloseBoundMs && peer.sendAll(QByteArray(1, 'x')) &&
               !peer.eofNow()) {
            QTest::qSleep(50);
        }
    }
    // Rejected from the header alone: well before the hello timeout, and
    // without allocating the announced body.
    QPP_CHECK(expectClosedByPool(peer, since, 0, ImmediateMs));
    peer.close();
    checkHealthy(f);
}

// --- truncated frames -----------------------------------------------------------

void TestBadPeers::truncatedFrame_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<bool>("peerCloses");
    const QByteArray half = Wire::header(100, Wire::Hello).left(Wire::HeaderSize / 2);
    const QByteArray partial = Wire::header(100, Wire::Hello) + QByteArray(50, 'p');
    QTest::newRow("half a header, then silence") << half << false;
    QTest::newRow("half a header, then close") << half << true;
    QTest::newRow("header of 100 bytes + 50 bytes, then silence") << partial << false;
    QTest::newRow("header of 100 bytes + 50 bytes, then close") << partial << true;
    QTest::newRow("header of 100 bytes alone, then close")
        << Wire::header(100, Wire::Hello) << true;
}

void TestBadPeers::truncatedFrame()
{
    QFETCH(QByteArray, bytes);
    QFETCH(bool, peerCloses);
    Fixture f;
    QPP_CHECK(setUp(&f));
    Wire::RawPeer peer;
    QElapsedTimer since;
    since.start(); // the pool's hello timer starts when it accepts
    QPP_CHECK(connectAndGreet(f, &peer));
    QVERIFY(peer.sendAll(bytes));
    if (peerCloses) {
        // The pool must notice and let go of its end (checkHealthy counts sockets).
        peer.close();
    } else {
        // Waiting for the rest, which never comes: the hello timeout closes it.
        QPP_CHECK(
            expectClosedByPool(peer, since, HelloTimeoutMs - 1000, HelloTimeoutMs + CloseBoundMs));
        peer.close();
    }
    checkHealthy(f);
}

// --- valid framing, bad bodies -------------------------------------------------------

void TestBadPeers::badHelloBody_data()
{
    QTest::addColumn<QByteArray>("bytes");
    const qint64 pid = QCoreApplication::applicationPid();
    const QByteArray proof(32, 'p');
    const quint32 slot = 0x7fffffff;
    const QByteArray valid = Wire::helloBody(Wire::ProtocolVersion, slot, pid, proof);
    QTest::newRow("garbage body") << Wire::frame(Wire::Hello, randomBytes(64));
    QTest::newRow("empty body") << Wire::frame(Wire::Hello, {});
    QTest::newRow("truncated QDataStream")
        << Wire::frame(Wire::Hello, valid.left(valid.size() / 2));
    QTest::newRow("proof length beyond the body") << Wire::frame(
        Wire::Hello, Wire::body(Wire::ProtocolVersion, slot, pid, quint32(0x7fffffff), qint64(0)));
    QTest::newRow("trailing byte") << Wire::frame(Wire::Hello, valid + 'x');
    for (quint32 version : {0u, 1u, 3u, 0xffffffffu}) {
        QTest::addRow("protocol version %u", version)
            << Wire::frame(Wire::Hello, Wire::helloBody(version, slot, pid, proof));
    }
    QTest::newRow("TaskFinished instead of Hello")
        << Wire::frame(Wire::TaskFinished,
                       Wire::body(quint64(1), quint32(1), Wire::body(qint32(49))));
    QTest::newRow("reserved header bits set")
        << Wire::header(quint32(valid.size()), Wire::Hello, 1) + valid;
}

void TestBadPeers::badHelloBody()
{
    QFETCH(QByteArray, bytes);
    Fixture f;
    QPP_CHECK(setUp(&f));
    Wire::RawPeer peer;
    QPP_CHECK(connectAndGreet(f, &peer));
    QElapsedTimer since;
    since.start();
    QVERIFY(peer.sendAll(bytes));
    QPP_CHECK(expectClosedByPool(peer, since, 0, ImmediateMs));
    peer.close();
    checkHealthy(f);
}

// --- wrong secret ---------------------------------------------------------------

void TestBadPeers::wrongSecret_data()
{
    QTest::addColumn<QString>("variant");
    QTest::addColumn<QString>("reason"); // a word of the pool's log line
    QTest::newRow("random proof") << "random"
                                  << "secret";
    QTest::newRow("empty proof") << "empty"
                                 << "secret";
    QTest::newRow("the secret itself as proof") << "raw secret"
                                                << "secret";
    QTest::newRow("right proof for another slot") << "other slot"
                                                  << "slot";
    QTest::newRow("right proof, the worker's pid claimed from another process") << "claimed pid"
                                                                                << "pid";
}

void TestBadPeers::wrongSecret()
{
    QFETCH(QString, variant);
    QFETCH(QString, reason);
#ifdef QPP_PORTABLE
    if (variant == QLatin1String("claimed pid"))
        QSKIP("the peer's pid comes from SO_PEERCRED, which the portable build does not use: "
              "there the secret alone proves a worker (QPP_PORTABLE)");
#endif
    // A worker that reads its secret, tells us its slot (and secret), and
    // stalls before connecting: its slot waits, so a Hello for it is judged by
    // its proof.
    ProcessPool pool;
    pool.setMaxWorkers(1);
    pool.setWorkerStartTimeout(std::chrono::milliseconds(Generous));
    pool.setWorkerProgram(QStringLiteral(QPP_BAD_PEER), {QStringLiteral("stall")});
    QSignalSpy output(&pool, &ProcessPool::workerOutput);
    QSignalSpy started(&pool, &ProcessPool::workerStarted);
    const qint64 rss = rssKiB();
    QFuture<int> task = pool.run(square, 9);
    QString announcement;
    QVERIFY(QTest::qWaitFor(
        [&] {
            for (const QList<QVariant> &args : output) {
                if (args.at(2).toString().startsWith(QLatin1String("qpp_bad_peer stall ")))
                    announcement = args.at(2).toString();
            }
            return !announcement.isEmpty();
        },
        Generous));
    QMap<QString, QString> fields;
    for (const QString &part : announcement.split(QLatin1Char(' ')).mid(2))
        fields.insert(part.section(QLatin1Char('='), 0, 0), part.section(QLatin1Char('='), 1));
    const quint32 slot = fields.value(QStringLiteral("slot")).toUInt();
    const qint64 stalledPid = fields.value(QStringLiteral("pid")).toLongLong();
    const QByteArray secret =
        QByteArray::fromHex(fields.value(QStringLiteral("secret")).toLatin1());
    QVERIFY2(stalledPid > 0 && secret.size() == 32, qPrintable(announcement));
    QCOMPARE(started.size(), 0);

    const QByteArray path = poolSocketPath();
    QVERIFY(!path.isEmpty());
    const int sockets = socketCount();
    Wire::RawPeer peer;
    QVERIFY(peer.connectTo(path));
    const QByteArray nonce = peer.readChallenge(Generous);
    QCOMPARE(nonce.size(), Wire::NonceSize);
    quint32 helloSlot = slot;
    qint64 helloPid = QCoreApplication::applicationPid();
    QByteArray proof;
    if (variant == QLatin1String("random")) {
        proof = randomBytes(32);
    } else if (variant == QLatin1String("raw secret")) {
        proof = secret;
    } else if (variant == QLatin1String("other slot")) {
        proof = Wire::proof(nonce, secret);
        helloSlot = slot + 1;
    } else if (variant == QLatin1String("claimed pid")) {
        proof = Wire::proof(nonce, secret);
        helloPid = stalledPid;
    }
    const int logged = protocolLogSize();
    QElapsedTimer since;
    since.start();
    QVERIFY(peer.sendAll(Wire::frame(Wire::Hello, Wire::helloBody(Wire::ProtocolVersion, helloSlot,
                                                                  helloPid, proof))));
    QPP_CHECK(expectClosedByPool(peer, since, 0, ImmediateMs));
    peer.close();
    QTRY_VERIFY_WITH_TIMEOUT(!protocolLogSince(logged, QStringLiteral("dropping")).isEmpty(),
                             CloseBoundMs);
    const QStringList why = protocolLogSince(logged, QStringLiteral("dropping"));
    QVERIFY2(why.first().contains(reason), qPrintable(why.join(QLatin1Char('\n'))));
    QTRY_VERIFY_WITH_TIMEOUT(socketCount() <= sockets, CloseBoundMs);
    QCOMPARE(started.size(), 0);

    // The refused attempt did not use up the slot: the real worker, told to go
    // on, authenticates on it and runs the waiting task.
    QCOMPARE(::kill(pid_t(stalledPid), SIGUSR1), 0);
    QVERIFY(finishes(task));
    const auto e = errorOf(task);
    QVERIFY2(!e, e ? qPrintable(e->message()) : "");
    QCOMPARE(task.result(), 81);
    // workerStarted() reaches this thread queued: the future can finish first.
    QTRY_COMPARE_WITH_TIMEOUT(started.size(), 1, Generous);
    QCOMPARE(started.first().first().toLongLong(), stalledPid);
    pool.setWorkerProgram(QString());
    runsTasks(pool);
    const qint64 growth = rssKiB() - rss;
    QVERIFY2(growth < MaxRssGrowthKiB,
             qPrintable(QStringLiteral("RSS grew by %1 KiB").arg(growth)));
}

// --- replayed handshake ------------------------------------------------------------

void TestBadPeers::replayedHandshake()
{
    ProcessPool pool;
    pool.setMaxWorkers(1);
    pool.setWorkerProgram(QStringLiteral(QPP_BAD_PEER), {QStringLiteral("replay")});
    QSignalSpy started(&pool, &ProcessPool::workerStarted);
    const qint64 rss = rssKiB();
    const int logged = protocolLogSize();
    QFuture<QStringList> report = pool.runNamed<QStringList>(QStringLiteral("replayReport"));
    QVERIFY(finishes(report));
    const auto e = errorOf(report);
    QVERIFY2(!e, e ? qPrintable(e->message()) : "");
    const QStringList lines = report.result();
    qInfo().noquote() << "qpp_bad_peer replay report:\n " << lines.join(QStringLiteral("\n  "));
    QCOMPARE(lines.size(), 3);
    // The worker's own Hello, answered for another connection's nonce, while
    // its slot still waited: refused (every connection has a fresh nonce).
    QVERIFY2(lines[0].startsWith(QLatin1String("fresh-nonce-replay closed=1 extra=none")) &&
                 lines[0].contains(QLatin1String("nonces-differ=1")),
             qPrintable(lines[0]));
    // Once the slot is taken: the same bytes again, and a correct proof for a
    // fresh nonce, from the worker's own process (so its pid is right).
    QCOMPARE(lines[1], QStringLiteral("taken-slot-replay closed=1 extra=none"));
    QCOMPARE(lines[2], QStringLiteral("taken-slot-fresh-proof closed=1 extra=none"));
    const QStringList drops = protocolLogSince(logged, QStringLiteral("dropping"));
    const auto mentions = [&drops](const char *word) {
        return std::count_if(drops.begin(), drops.end(), [word](const QString &line) {
            return line.contains(QLatin1String(word));
        });
    };
    QVERIFY2(mentions("secret") >= 1, qPrintable(drops.join(QLatin1Char('\n'))));
    QVERIFY2(mentions("slot") >= 2, qPrintable(drops.join(QLatin1Char('\n'))));
    // Only the real handshake made a worker (its workerStarted() comes queued).
    QTRY_COMPARE_WITH_TIMEOUT(started.size(), 1, Generous);

    runsTasks(pool); // on the same worker, which serves normally
    QCOMPARE(pool.workerPids(), QList<qint64>{started.first().first().toLongLong()});
    pool.setWorkerProgram(QString());
    runsTasks(pool);
    const qint64 growth = rssKiB() - rss;
    QVERIFY2(growth < MaxRssGrowthKiB,
             qPrintable(QStringLiteral("RSS grew by %1 KiB").arg(growth)));
}

// --- version skew ----------------------------------------------------------------

void TestBadPeers::otherBuild()
{
    // A worker of another build proves its secret but is refused at the
    // handshake; its start fails (with the usual back-off) naming both builds.
    ProcessPool pool;
    pool.setMaxWorkers(1);
    pool.setWorkerProgram(QStringLiteral(QPP_BAD_PEER), {QStringLiteral("otherbuild")});
    QSignalSpy started(&pool, &ProcessPool::workerStarted);
    QFuture<int> task = pool.run(square, 5);
    QVERIFY(finishes(task));
    const auto e = errorOf(task);
    QVERIFY(e);
    QCOMPARE(e->kind(), TaskError::Kind::WorkerStartFailed);
    QVERIFY2(e->message().contains(QLatin1String("it runs QtProcessPool 0.0.1 (protocol 2)")) &&
                 e->message().contains(Wire::buildId()),
             qPrintable(e->message()));
    QCOMPARE(started.size(), 0);
    pool.setWorkerProgram(QString());
    runsTasks(pool);
}

// --- silence ---------------------------------------------------------------------

void TestBadPeers::silentConnection()
{
    Fixture f;
    QPP_CHECK(setUp(&f));
    Wire::RawPeer peer;
    QElapsedTimer since;
    since.start();
    QPP_CHECK(connectAndGreet(f, &peer));
    QPP_CHECK(runsTasks(*f.pool)); // meanwhile
    QVERIFY(!peer.eofNow());
    QPP_CHECK(
        expectClosedByPool(peer, since, HelloTimeoutMs - 1000, HelloTimeoutMs + CloseBoundMs));
    qInfo("closed after %lld ms (hello timeout %d ms)", since.elapsed(), HelloTimeoutMs);
    peer.close();
    checkHealthy(f);
}

void TestBadPeers::hundredIdleConnections()
{
    constexpr int Peers = 100;
    constexpr int Tasks = 200;
    Fixture f;
    QPP_CHECK(setUp(&f));
    QElapsedTimer since;
    since.start();
    std::vector<std::unique_ptr<Wire::RawPeer>> peers;
    for (int i = 0; i < Peers; ++i) {
        peers.push_back(std::make_unique<Wire::RawPeer>());
        QVERIFY2(peers.back()->connectTo(f.path),
                 qPrintable(
                     QStringLiteral("connection %1: errno %2").arg(i).arg(peers.back()->error())));
    }
    QList<QFuture<int>> futures;
    for (int i = 0; i < Tasks; ++i)
        futures.append(f.pool->run(square, i));
    for (int i = 0; i < Peers; ++i)
        QCOMPARE(peers[size_t(i)]->readChallenge(Generous).size(), Wire::NonceSize);
    for (int i = 0; i < Tasks; ++i) {
        QVERIFY(finishes(futures[i]));
        QVERIFY(!errorOf(futures[i]));
        QCOMPARE(futures[i].result(), i * i);
    }
    const qint64 tasksDone = since.elapsed();
    int stillOpen = 0;
    for (const auto &peer : peers)
        stillOpen += !peer->eofNow();
    qInfo("%d tasks done after %lld ms with %d of %d idle connections open", Tasks, tasksDone,
          stillOpen, Peers);
    QVERIFY2(stillOpen > 0, "the tasks only finished once the idle connections were gone");

    for (int i = 0; i < Peers; ++i) {
        QPP_CHECK(expectClosedByPool(*peers[size_t(i)], since, HelloTimeoutMs - 1000,
                                     HelloTimeoutMs + 2 * CloseBoundMs));
    }
    qInfo("all %d closed after %lld ms", Peers, since.elapsed());
    peers.clear();
    checkHealthy(f);
}

// --- hostile workers ----------------------------------------------------------------

void TestBadPeers::hostileWorker_data()
{
    QTest::addColumn<QString>("how");
    QTest::addColumn<qint64>("length");         // for "oversized": the announced body
    QTest::addColumn<qint64>("maxMessageSize"); // 0: the default
    QTest::newRow("garbage TaskFinished body") << "garbage-finished" << qint64(0) << qint64(0);
    QTest::newRow("TaskFinished for a task never sent") << "unknown-id" << qint64(0) << qint64(0);
    QTest::newRow("length 0xffffffff") << "oversized" << qint64(0xffffffff) << qint64(0);
    QTest::newRow("length maxMessageSize+1 (1 MiB limit)")
        << "oversized" << qint64((1 << 20) + 1) << qint64(1 << 20);
    QTest::newRow("a second Hello") << "wrong-type" << qint64(0) << qint64(0);
    QTest::newRow("TaskFailed with kind Crashed") << "forbidden-kind" << qint64(0) << qint64(0);
    QTest::newRow("garbage TaskFinished before TaskStarted")
        << "unstarted-garbage" << qint64(0) << qint64(0);
    // A single run() of a non-void task has exactly one result. Accepting
    // none finishes the future without a result (future.result() then
    // dereferences nothing: SIGSEGV in the application); accepting two gives
    // results().size() == 2 for one call.
    QTest::newRow("TaskFinished with no result for an int task")
        << "finished-empty" << qint64(0) << qint64(0);
    QTest::newRow("TaskFinished with two results for one task")
        << "finished-two" << qint64(0) << qint64(0);
    QTest::newRow("TaskResults from a task that is no QPromise task")
        << "results-streamed" << qint64(0) << qint64(0);
    QTest::newRow("shared memory reference with nothing behind it")
        << "shared-nothing" << qint64(0) << qint64(0);
}

void TestBadPeers::hostileWorker()
{
    QFETCH(QString, how);
    QFETCH(qint64, length);
    QFETCH(qint64, maxMessageSize);
    ProcessPool pool;
    pool.setMaxWorkers(1);
    if (maxMessageSize > 0)
        pool.setMaxMessageSize(maxMessageSize);
    QStringList arguments{QStringLiteral("hostile"), how};
    if (length > 0)
        arguments.append(QString::number(length));
    pool.setWorkerProgram(QStringLiteral(QPP_BAD_PEER), arguments);
    QSignalSpy started(&pool, &ProcessPool::workerStarted);
    QSignalSpy exited(&pool, &ProcessPool::workerExited);
    QSignalSpy crashed(&pool, &ProcessPool::workerCrashed);
    QSignalSpy killed(&pool, &ProcessPool::workerKilled);
    QSignalSpy output(&pool, &ProcessPool::workerOutput);
    const qint64 rss = rssKiB();

    QFuture<int> task = pool.run(square, 7);
    QVERIFY(finishes(task));
    const auto e = errorOf(task); // never task.result(): it may hold no result at all
    QVERIFY2(e, qPrintable(QStringLiteral("a hostile answer finished the task with %1 result(s)")
                               .arg(task.resultCount())));
    QVERIFY2(e->kind() == TaskError::Kind::ProtocolError,
             qPrintable(QStringLiteral("kind %1: %2").arg(int(e->kind())).arg(e->message())));
    qInfo().noquote() << "task failed:" << e->message();

    // Every hostile worker that got the task was killed by the pool (SIGKILL)
    // and reaped: workerKilled, never workerCrashed. (A task whose TaskStarted
    // never came back is given to the next worker; each one is hostile too.)
    QVERIFY(started.size() >= 1);
    QTRY_COMPARE_WITH_TIMEOUT(exited.size(), started.size(), Generous);
    // workerKilled is posted right after workerExited: it may arrive a turn later.
    QTRY_COMPARE_WITH_TIMEOUT(killed.size(), started.size(), Generous);
    QCOMPARE(crashed.size(), 0);
    for (const QList<QVariant> &s : started) {
        const qint64 pid = s.first().toLongLong();
        const auto ended =
            std::find_if(exited.begin(), exited.end(),
                         [pid](const QList<QVariant> &x) { return x.first().toLongLong() == pid; });
        QVERIFY2(ended != exited.end(), qPrintable(QString::number(pid)));
        QCOMPARE(ended->at(2).value<QProcess::ExitStatus>(), QProcess::CrashExit);
        QCOMPARE(ended->at(1).toInt(), int(SIGKILL));
        const bool gotTask =
            std::any_of(output.begin(), output.end(), [pid](const QList<QVariant> &o) {
                return o.first().toLongLong() == pid &&
                       o.at(2).toString().startsWith(QLatin1String("qpp_bad_peer got RunTask"));
            });
        QVERIFY2(gotTask,
                 qPrintable(QStringLiteral("worker %1 never reported its RunTask").arg(pid)));
        QTRY_VERIFY_WITH_TIMEOUT(processGone(pid), 10000);
    }
    qInfo("%lld hostile worker(s) killed", qint64(started.size()));
    QTRY_COMPARE_WITH_TIMEOUT(pool.workerCount(), 0, Generous);

    pool.setWorkerProgram(QString());
    runsTasks(pool);
    const qint64 growth = rssKiB() - rss;
    QVERIFY2(growth < MaxRssGrowthKiB,
             qPrintable(QStringLiteral("RSS grew by %1 KiB").arg(growth)));
}

// A peer's write after the pool hung up must fail with EPIPE, not kill the test.
QPP_TEST_MAIN_WITH_SETUP(TestBadPeers, [] { std::signal(SIGPIPE, SIG_IGN); })

#include "tst_badpeers.moc"
