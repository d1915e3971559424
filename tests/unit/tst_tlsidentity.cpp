// SPDX-License-Identifier: MIT
// TlsIdentity: a pool's own key and self-signed certificate, and a client
// that accepts exactly the certificate it pinned. Both ends in this process,
// over TCP on 127.0.0.1.
#include "remote/tlsidentity.h"

#include <QtNetwork/QSslServer>
#include <QtNetwork/QSslSocket>
#include <QtTest/QTest>

using namespace QtProcessPool;

namespace {

/// A TLS server with identity on a free loopback port, echoing what it reads.
struct Server
{
    QSslServer server;
    QList<QSslSocket *> accepted;

    explicit Server(const TlsIdentity &identity)
    {
        server.setSslConfiguration(identity.serverConfiguration());
        QObject::connect(&server, &QTcpServer::pendingConnectionAvailable, &server, [this] {
            while (auto *socket = qobject_cast<QSslSocket *>(server.nextPendingConnection())) {
                accepted.append(socket);
                QObject::connect(socket, &QIODevice::readyRead, socket,
                                 [socket] { socket->write(socket->readAll()); });
            }
        });
        server.listen(QHostAddress::LocalHost);
    }
};

/// Connects with the client configuration; true once encrypted and the
/// server's certificate is the pinned one. The server runs in this thread:
/// the client waits in the event loop, not in waitForEncrypted().
bool connectPinned(QSslSocket &client, quint16 port, const QByteArray &fingerprint)
{
    client.setSslConfiguration(TlsIdentity::clientConfiguration());
    bool failed = false;
    QObject::connect(&client, &QAbstractSocket::errorOccurred, &client,
                     [&failed] { failed = true; });
    client.connectToHostEncrypted(QStringLiteral("127.0.0.1"), port);
    QDeadlineTimer deadline(10000);
    while (!client.isEncrypted() && !failed && !deadline.hasExpired())
        QCoreApplication::processEvents(QEventLoop::AllEvents, 10);
    return client.isEncrypted() && TlsIdentity::isPinned(client.peerCertificate(), fingerprint);
}

} // namespace

class TestTlsIdentity : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
        if (!QSslSocket::supportsSsl())
            QFAIL("Qt has no TLS backend: install Qt's OpenSSL plugin (libqt6network6)");
    }

    void freshIdentity()
    {
        QString error;
        const TlsIdentity identity = TlsIdentity::create(30, &error);
        QVERIFY2(!identity.isNull(), qPrintable(error));
        QCOMPARE(identity.key().algorithm(), QSsl::Ec);
        QCOMPARE(identity.key().type(), QSsl::PrivateKey);
        QCOMPARE(identity.key().length(), 256);
        const QSslCertificate &certificate = identity.certificate();
        QVERIFY(certificate.isSelfSigned());
        QVERIFY(certificate.effectiveDate() <= QDateTime::currentDateTimeUtc());
        QVERIFY(certificate.expiryDate() > QDateTime::currentDateTimeUtc().addDays(29));
        QVERIFY(certificate.expiryDate() < QDateTime::currentDateTimeUtc().addDays(31));
        QCOMPARE(identity.fingerprint().size(), 32);
        // Another pool, another key: another fingerprint.
        const TlsIdentity other = TlsIdentity::create(30, &error);
        QVERIFY(other.fingerprint() != identity.fingerprint());
        QVERIFY(other.certificate().serialNumber() != certificate.serialNumber());
    }

    void pinnedServerIsAccepted()
    {
        QString error;
        const TlsIdentity identity = TlsIdentity::create(1, &error);
        QVERIFY2(!identity.isNull(), qPrintable(error));
        Server server(identity);
        QVERIFY(server.server.isListening());
        QSslSocket client;
        QVERIFY2(connectPinned(client, server.server.serverPort(), identity.fingerprint()),
                 qPrintable(client.errorString()));
        QVERIFY(client.sessionProtocol() >= QSsl::TlsV1_2);
        client.write("hello");
        QByteArray echoed;
        QTRY_VERIFY((echoed += client.readAll()).size() >= 5);
        QCOMPARE(echoed, QByteArray("hello"));
    }

    void anotherServerIsRefused()
    {
        QString error;
        const TlsIdentity pool = TlsIdentity::create(1, &error);
        const TlsIdentity impostor = TlsIdentity::create(1, &error);
        Server server(impostor);
        QSslSocket client;
        QVERIFY(!connectPinned(client, server.server.serverPort(), pool.fingerprint()));
    }

    void pinChecksItsInput()
    {
        QString error;
        const TlsIdentity identity = TlsIdentity::create(1, &error);
        QVERIFY(TlsIdentity::isPinned(identity.certificate(), identity.fingerprint()));
        QVERIFY(!TlsIdentity::isPinned(identity.certificate(), identity.fingerprint().left(31)));
        QVERIFY(!TlsIdentity::isPinned(identity.certificate(), QByteArray()));
        QVERIFY(!TlsIdentity::isPinned(QSslCertificate(), identity.fingerprint()));
        QByteArray flipped = identity.fingerprint();
        flipped[31] = char(flipped[31] ^ 1);
        QVERIFY(!TlsIdentity::isPinned(identity.certificate(), flipped));
    }

    void plaintextNeverReachesThePool()
    {
        // A client that does not speak TLS is dropped in the handshake: the
        // pool never sees the connection.
        QString error;
        const TlsIdentity identity = TlsIdentity::create(1, &error);
        Server server(identity);
        QTcpSocket plain;
        plain.connectToHost(QHostAddress::LocalHost, server.server.serverPort());
        QVERIFY(plain.waitForConnected(10000));
        plain.write("GET / HTTP/1.0\r\n\r\n");
        QTRY_COMPARE_WITH_TIMEOUT(plain.state(), QAbstractSocket::UnconnectedState, 10000);
        QVERIFY(server.accepted.isEmpty());
    }
};

QTEST_GUILESS_MAIN(TestTlsIdentity)
#include "tst_tlsidentity.moc"
