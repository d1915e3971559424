// SPDX-License-Identifier: MIT
#include "pool/handshake.h"

#include "pool/platform.h"
#include "pool/socketdirectory.h"

#include "logging_p.h"
#include "protocol/messages.h"
#include "remote/tlsidentity.h"

#include <QtCore/QMessageAuthenticationCode>
#include <QtCore/QRandomGenerator>
#include <QtNetwork/QSslServer>
#include <QtNetwork/QSslSocket>
#include <type_traits>

#include <climits>

namespace QtProcessPool {

using namespace protocol;

namespace {

constexpr int SecretSize = 32;
constexpr int MaxHelloSize = 4096;          // an unauthenticated peer gets no more
constexpr int HelloTimeoutMs = 5000;        // for connections that never say hello
constexpr int TlsHandshakeTimeoutMs = 5000; // for TCP peers that never finish TLS

QByteArray randomBytes(int size)
{
    QByteArray bytes(size, Qt::Uninitialized);
    QRandomGenerator::system()->generate(bytes.begin(), bytes.end());
    return bytes;
}

bool equalConstantTime(const QByteArray &a, const QByteArray &b)
{
    if (a.size() != b.size())
        return false;
    unsigned char diff = 0;
    for (qsizetype i = 0; i < a.size(); ++i)
        diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

} // namespace

struct Handshake::Peer
{
    std::unique_ptr<QIODevice> socket;
    bool remote = false;
    QByteArray nonce;
    FrameReader reader{MaxHelloSize};
    QTimer timer;
};

Handshake::Handshake(SecretOf secretOf, Accepted accepted, QObject *parent)
    : QObject(parent)
    , m_secretOf(std::move(secretOf))
    , m_accepted(std::move(accepted))
{
}

Handshake::~Handshake()
{
    close();
}

QByteArray Handshake::newSecret()
{
    return randomBytes(SecretSize);
}

QString Handshake::buildId()
{
    return protocol::buildId();
}

bool Handshake::listenRemote(const QHostAddress &address, quint16 port, const TlsIdentity &identity)
{
    m_error.clear();
    auto server = std::make_unique<QSslServer>();
    server->setSslConfiguration(identity.serverConfiguration());
    server->setHandshakeTimeout(TlsHandshakeTimeoutMs);
    // Only encrypted connections are pending: plaintext or a failed TLS
    // handshake never reaches the challenge.
    connect(server.get(), &QTcpServer::pendingConnectionAvailable, this,
            &Handshake::onNewRemoteConnection);
    connect(server.get(), &QSslServer::errorOccurred, this,
            [](QSslSocket *, QAbstractSocket::SocketError error) {
                qCWarning(lcProtocol) << "dropping a TCP connection before TLS:" << error;
            });
    if (!server->listen(address, port)) {
        m_error = QStringLiteral("could not listen for remote workers at %1:%2: %3")
                      .arg(address.toString())
                      .arg(port)
                      .arg(server->errorString());
        qCWarning(lcPool) << m_error;
        return false;
    }
    m_tlsServer = std::move(server);
    return true;
}

quint16 Handshake::remotePort() const
{
    return m_tlsServer ? m_tlsServer->serverPort() : 0;
}

bool Handshake::listen()
{
    // A fresh 0700 directory (mkdtemp) holds the socket: only our user can reach it.
    m_error.clear();
    m_directory = createSocketDirectory(&m_error);
    if (m_directory) {
        m_server = std::make_unique<QLocalServer>();
        m_server->setSocketOptions(QLocalServer::UserAccessOption);
        connect(m_server.get(), &QLocalServer::newConnection, this, &Handshake::onNewConnection);
        const QString path = m_directory->filePath(QLatin1String(SocketFileName));
        if (m_server->listen(path))
            return true;
        m_error = QStringLiteral("could not listen for workers at %1: %2")
                      .arg(path, m_server->errorString());
        m_server.reset();
        m_directory.reset();
    }
    qCWarning(lcPool) << m_error;
    return false;
}

QString Handshake::serverName() const
{
    return m_server ? m_server->fullServerName() : QString();
}

void Handshake::close()
{
    for (auto &entry : m_peers)
        entry.first->disconnect(this); // deleting it emits disconnected()
    m_peers.clear();
    m_tlsServer.reset();
    m_server.reset();
    m_directory.reset();
}

template <typename Server>
void Handshake::adoptPending(Server *server, bool remote)
{
    while (auto *socket = server->nextPendingConnection()) {
        socket->setParent(nullptr);
        if (auto *tcp = qobject_cast<QAbstractSocket *>(socket)) {
            // Without it, Nagle's algorithm holds a small reply until the
            // peer's delayed ACK: 40 ms per round trip (bench/remote.md).
            tcp->setSocketOption(QAbstractSocket::LowDelayOption, 1);
        }
        connect(socket, &std::remove_pointer_t<decltype(socket)>::disconnected, this,
                [this, socket] { dropPeer(socket, QStringLiteral("disconnected before hello")); });
        adopt(std::unique_ptr<QIODevice>(socket), remote);
    }
}

void Handshake::onNewConnection()
{
    adoptPending(m_server.get(), false);
}

void Handshake::onNewRemoteConnection()
{
    adoptPending(m_tlsServer.get(), true);
}

void Handshake::adopt(std::unique_ptr<QIODevice> socket, bool remote)
{
    auto peer = std::make_unique<Peer>();
    QIODevice *device = socket.get();
    peer->socket = std::move(socket);
    peer->remote = remote;
    peer->nonce = randomBytes(NonceSize);
    connect(device, &QIODevice::readyRead, this, [this, device] { onPeerReadyRead(device); });
    peer->timer.setSingleShot(true);
    connect(&peer->timer, &QTimer::timeout, this,
            [this, device] { dropPeer(device, QStringLiteral("no hello in time")); });
    peer->timer.start(HelloTimeoutMs);
    device->write(encodeMessage(Challenge{peer->nonce}));
    m_peers.emplace(device, std::move(peer));
}

void Handshake::dropPeer(QIODevice *socket, const QString &why)
{
    const auto it = m_peers.find(socket);
    if (it == m_peers.end())
        return;
    qCWarning(lcProtocol) << "dropping a connection:" << why;
    std::unique_ptr<Peer> peer = std::move(it->second);
    m_peers.erase(it);
    socket->disconnect(this);
    if (auto *local = qobject_cast<QLocalSocket *>(socket))
        local->abort();
    else if (auto *tcp = qobject_cast<QAbstractSocket *>(socket))
        tcp->abort();
    peer->socket.release()->deleteLater(); // we may be inside one of its signals
}

bool Handshake::authenticate(Peer &peer, const Frame &frame, Proven *proven, QString *why) const
{
    Hello hello;
    if (!decodeMessage(frame, &hello)) {
        *why = QStringLiteral("first message is not a hello");
        return false;
    }
    if (hello.protocolVersion != ProtocolVersion) {
        *why = QStringLiteral("protocol version %1, expected %2")
                   .arg(hello.protocolVersion)
                   .arg(ProtocolVersion);
        return false;
    }
    const QByteArray *secret = hello.slotId <= uint(INT_MAX) ? m_secretOf(hello.slotId) : nullptr;
    if (!secret) {
        *why = QStringLiteral("no worker is waiting for slot %1").arg(hello.slotId);
        return false;
    }
    const QByteArray expected =
        QMessageAuthenticationCode::hash(peer.nonce, *secret, QCryptographicHash::Sha256);
    if (!equalConstantTime(expected, hello.proof)) {
        *why = QStringLiteral("wrong secret");
        return false;
    }
    if (!peer.remote) {
        // Without platform::hasPeerCredentials the kernel vouches for
        // nothing: peerIsSameUser() says yes and peerPid stays 0, so the
        // secret alone decides and the pid in the hello is taken as given.
        qint64 peerPid = 0;
        if (!platform::peerIsSameUser(*static_cast<QLocalSocket *>(peer.socket.get()), &peerPid)) {
            *why = QStringLiteral("peer runs as another user");
            return false;
        }
        if (peerPid != 0 && peerPid != hello.pid) {
            *why = QStringLiteral("peer pid %1 claims to be %2").arg(peerPid).arg(hello.pid);
            return false;
        }
    }
    proven->slotId = int(hello.slotId);
    proven->remote = peer.remote;
    proven->pid = hello.pid;
    proven->host = hello.host.left(255);
    if (hello.build != buildId()) {
        // Proven, so the slot is its: its start fails with both names.
        *why = QStringLiteral("the worker is another build: it runs %1, this pool %2")
                   .arg(hello.build.isEmpty() ? QStringLiteral("an unnamed build")
                                              : hello.build.left(200),
                        buildId());
        return false;
    }
    return true;
}

void Handshake::onPeerReadyRead(QIODevice *socket)
{
    const auto it = m_peers.find(socket);
    if (it == m_peers.end())
        return;
    Peer &peer = *it->second;
    Frame frame;
    const FrameReader::Status status = peer.reader.read(*socket, &frame);
    if (status == FrameReader::Status::NeedMore)
        return;
    QString why = peer.reader.errorString();
    Proven proven;
    if (status == FrameReader::Status::Error || !authenticate(peer, frame, &proven, &why)) {
        dropPeer(socket, why);
        if (proven.slotId != 0 && m_refused)
            m_refused(proven.slotId, why);
        return;
    }
    socket->disconnect(this);
    proven.socket = std::move(peer.socket);
    m_peers.erase(it);
    m_accepted(std::move(proven));
}

} // namespace QtProcessPool
