// SPDX-License-Identifier: MIT
// Handshake: a connection becomes a worker's only with the right hello --
// protocol version, slot, HMAC of the challenge with that slot's secret, and
// its own pid. The peer is a QLocalSocket in this process (no worker).
#include "pool/handshake.h"
#include "protocol/messages.h"

#include <QtCore/QFileInfo>
#include <QtCore/QMessageAuthenticationCode>
#include <QtCore/QRegularExpression>
#include <QtTest/QTest>

#include <sys/stat.h>
#include <unistd.h>

using namespace QtProcessPool;
using namespace QtProcessPool::protocol;

namespace {

constexpr quint32 Slot = 3;

struct Fixture
{
    QByteArray secret = Handshake::newSecret();
    int acceptedSlot = 0;
    std::unique_ptr<QLocalSocket> accepted;
    QObject parent;
    // As the engine's: a slot's secret is offered until its worker connected.
    Handshake handshake{[this](quint32 slotId) {
                            return slotId == Slot && !accepted ? &secret : nullptr;
                        },
                        [this](Handshake::Proven &&proven) {
                            acceptedSlot = proven.slotId;
                            accepted.reset(static_cast<QLocalSocket *>(proven.socket.release()));
                        },
                        &parent};
    QLocalSocket peer;

    /// Connects and returns the challenge's nonce (empty on failure).
    QByteArray connectAndReadChallenge() { return connectAndReadChallenge(peer); }
    QByteArray connectAndReadChallenge(QLocalSocket &peer)
    {
        if (!handshake.isListening() && !handshake.listen())
            return {};
        peer.connectToServer(handshake.serverName());
        if (!peer.waitForConnected(5000))
            return {};
        FrameReader reader;
        Frame frame;
        QDeadlineTimer deadline(5000);
        while (reader.read(peer, &frame) == FrameReader::Status::NeedMore) {
            if (deadline.hasExpired())
                return {};
            QCoreApplication::processEvents(QEventLoop::AllEvents, 10);
            peer.waitForReadyRead(10);
        }
        Challenge challenge;
        return decodeMessage(frame, &challenge) ? challenge.nonce : QByteArray();
    }
    Hello helloFor(const QByteArray &nonce, const QByteArray &key) const
    {
        Hello hello;
        hello.slotId = Slot;
        hello.pid = ::getpid();
        hello.proof = QMessageAuthenticationCode::hash(nonce, key, QCryptographicHash::Sha256);
        hello.build = buildId();
        return hello;
    }
    void send(const QByteArray &bytes) { send(peer, bytes); }
    static void send(QLocalSocket &peer, const QByteArray &bytes)
    {
        peer.write(bytes);
        peer.flush();
    }
    /// Waits until the pool accepted the connection or dropped it.
    bool waitForVerdict() { return waitForVerdict(peer, false); }
    bool waitForVerdict(QLocalSocket &peer, bool acceptedBefore)
    {
        QDeadlineTimer deadline(10000);
        while ((acceptedBefore || !accepted) && peer.state() == QLocalSocket::ConnectedState) {
            if (deadline.hasExpired())
                return false;
            QCoreApplication::processEvents(QEventLoop::AllEvents, 10);
        }
        return true;
    }
    void expectDropped(const char *why)
    {
        QTest::ignoreMessage(
            QtWarningMsg,
            QRegularExpression(
                QStringLiteral("dropping a connection: \"%1").arg(QLatin1String(why))));
    }
};

} // namespace

class TestHandshake : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void listensInAPrivateDirectory()
    {
        Fixture f;
        QVERIFY2(f.handshake.listen(), qPrintable(f.handshake.errorString()));
        const QFileInfo socket(f.handshake.serverName());
        QVERIFY(socket.exists());
        const QFileInfo directory(socket.absolutePath());
        struct stat info
        {
        };
        QCOMPARE(::stat(QFile::encodeName(directory.absoluteFilePath()).constData(), &info), 0);
        QCOMPARE(info.st_mode & 0777, mode_t(0700)); // only our user reaches the socket
        f.handshake.close();
        QVERIFY(!f.handshake.isListening());
        QVERIFY(!QFileInfo::exists(directory.absoluteFilePath()));
    }

    void rightHelloIsAccepted()
    {
        Fixture f;
        const QByteArray nonce = f.connectAndReadChallenge();
        QCOMPARE(nonce.size(), NonceSize);
        f.send(encodeMessage(f.helloFor(nonce, f.secret)));
        QVERIFY(f.waitForVerdict());
        QVERIFY(f.accepted);
        QCOMPARE(f.acceptedSlot, int(Slot));
        // The socket is the caller's now: what the peer sends next reaches it.
        f.send("next");
        QTRY_VERIFY(f.accepted->bytesAvailable() >= 4 || f.accepted->waitForReadyRead(10));
        QCOMPARE(f.accepted->read(4), QByteArray("next"));
    }

    void wrongHellosAreDropped_data()
    {
        QTest::addColumn<QString>("change");
        QTest::addColumn<QString>("why");
        QTest::newRow("wrong secret") << "secret"
                                      << "wrong secret";
        QTest::newRow("another slot") << "slot"
                                      << "no worker is waiting for slot 4";
        QTest::newRow("old protocol") << "version"
                                      << "protocol version 0, expected 3";
        QTest::newRow("another build")
            << "build"
            << "the worker is another build: it runs QtProcessPool 0\\.0\\.1 \\(protocol 2\\), "
               "this pool QtProcessPool .+ \\(protocol 3\\)";
        QTest::newRow("another pid") << "pid"
                                     << "peer pid \\d+ claims to be 1";
        QTest::newRow("not a hello") << "message"
                                     << "first message is not a hello";
        QTest::newRow("a huge hello") << "size"
                                      << "frame of \\d+ bytes exceeds the limit of 4096";
        QTest::newRow("the challenge replayed") << "nonce"
                                                << "wrong secret";
    }
    void wrongHellosAreDropped()
    {
        QFETCH(QString, change);
        QFETCH(QString, why);
#ifdef QPP_PORTABLE
        if (change == QLatin1String("pid"))
            QSKIP("the peer's pid comes from SO_PEERCRED, which the portable build does not use: "
                  "there the secret alone proves a worker (QPP_PORTABLE)");
#endif
        Fixture f;
        const QByteArray nonce = f.connectAndReadChallenge();
        QVERIFY(!nonce.isEmpty());
        Hello hello = f.helloFor(nonce, f.secret);
        QByteArray bytes;
        if (change == QLatin1String("secret"))
            hello = f.helloFor(nonce, Handshake::newSecret());
        else if (change == QLatin1String("slot"))
            hello.slotId = Slot + 1;
        else if (change == QLatin1String("version"))
            hello.protocolVersion = 0;
        else if (change == QLatin1String("pid"))
            hello.pid = 1;
        else if (change == QLatin1String("build"))
            hello.build = QStringLiteral("QtProcessPool 0.0.1 (protocol 2)");
        else if (change == QLatin1String("nonce"))
            hello = f.helloFor(Handshake::newSecret(), f.secret); // proof for another challenge
        if (change == QLatin1String("message"))
            bytes = encodeMessage(TaskStarted{1});
        else if (change == QLatin1String("size"))
            bytes = encodeMessage(TaskProgress{1, 0, 0, 0, QString(4096, QLatin1Char('x'))});
        else
            bytes = encodeMessage(hello);
        f.expectDropped(qPrintable(why));
        f.send(bytes);
        QVERIFY(f.waitForVerdict());
        QVERIFY(!f.accepted);
        QCOMPARE(f.peer.state(), QLocalSocket::UnconnectedState);
    }

    void oneHelloPerSlot()
    {
        // Once a slot's worker is connected, no second connection becomes it,
        // even with a proof made with the right secret.
        Fixture f;
        const QByteArray nonce = f.connectAndReadChallenge();
        f.send(encodeMessage(f.helloFor(nonce, f.secret)));
        QVERIFY(f.waitForVerdict() && f.accepted);
        QLocalSocket second;
        const QByteArray secondNonce = f.connectAndReadChallenge(second);
        QVERIFY(!secondNonce.isEmpty());
        f.expectDropped("no worker is waiting for slot 3");
        Fixture::send(second, encodeMessage(f.helloFor(secondNonce, f.secret)));
        QVERIFY(f.waitForVerdict(second, true));
        QCOMPARE(second.state(), QLocalSocket::UnconnectedState);
        QCOMPARE(f.accepted->state(), QLocalSocket::ConnectedState); // the first is untouched
    }
};

QTEST_GUILESS_MAIN(TestHandshake)
#include "tst_handshake.moc"
