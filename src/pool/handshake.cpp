// SPDX-License-Identifier: MIT
#include "pool/handshake.h"

#include "pool/platform.h"
#include "pool/socketdirectory.h"

#include "logging_p.h"
#include "protocol/messages.h"

#include <QtCore/QMessageAuthenticationCode>
#include <QtCore/QRandomGenerator>

#include <climits>

namespace QtProcessPool {

using namespace protocol;

namespace {

constexpr int SecretSize = 32;
constexpr int MaxHelloSize = 4096;   // an unauthenticated peer gets no more
constexpr int HelloTimeoutMs = 5000; // for connections that never say hello

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
    std::unique_ptr<QLocalSocket> socket;
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
    m_server.reset();
    m_directory.reset();
}

void Handshake::onNewConnection()
{
    while (QLocalSocket *socket = m_server->nextPendingConnection()) {
        auto peer = std::make_unique<Peer>();
        socket->setParent(nullptr);
        peer->socket.reset(socket);
        peer->nonce = randomBytes(NonceSize);
        connect(socket, &QLocalSocket::readyRead, this,
                [this, socket] { onPeerReadyRead(socket); });
        connect(socket, &QLocalSocket::disconnected, this,
                [this, socket] { dropPeer(socket, QStringLiteral("disconnected before hello")); });
        peer->timer.setSingleShot(true);
        connect(&peer->timer, &QTimer::timeout, this,
                [this, socket] { dropPeer(socket, QStringLiteral("no hello in time")); });
        peer->timer.start(HelloTimeoutMs);
        socket->write(encodeMessage(Challenge{peer->nonce}));
        m_peers.emplace(socket, std::move(peer));
    }
}

void Handshake::dropPeer(QLocalSocket *socket, const QString &why)
{
    const auto it = m_peers.find(socket);
    if (it == m_peers.end())
        return;
    qCWarning(lcProtocol) << "dropping a connection:" << why;
    std::unique_ptr<Peer> peer = std::move(it->second);
    m_peers.erase(it);
    socket->disconnect(this);
    socket->abort();
    peer->socket.release()->deleteLater(); // we may be inside one of its signals
}

bool Handshake::authenticate(Peer &peer, const Frame &frame, int *slotId, QString *why) const
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
    // Without platform::hasPeerCredentials the kernel vouches for nothing:
    // peerIsSameUser() says yes and peerPid stays 0, so the secret alone
    // decides and the pid in the hello is taken as given.
    qint64 peerPid = 0;
    if (!platform::peerIsSameUser(*peer.socket, &peerPid)) {
        *why = QStringLiteral("peer runs as another user");
        return false;
    }
    if (peerPid != 0 && peerPid != hello.pid) {
        *why = QStringLiteral("peer pid %1 claims to be %2").arg(peerPid).arg(hello.pid);
        return false;
    }
    *slotId = int(hello.slotId);
    return true;
}

void Handshake::onPeerReadyRead(QLocalSocket *socket)
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
    int slotId = 0;
    if (status == FrameReader::Status::Error || !authenticate(peer, frame, &slotId, &why)) {
        dropPeer(socket, why);
        return;
    }
    socket->disconnect(this);
    std::unique_ptr<QLocalSocket> proven = std::move(peer.socket);
    m_peers.erase(it);
    m_accepted(slotId, std::move(proven));
}

} // namespace QtProcessPool
