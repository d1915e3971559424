// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_HANDSHAKE_H
#define QTPROCESSPOOL_HANDSHAKE_H

#include "protocol/frame.h"

#include <QtCore/QObject>
#include <QtCore/QTemporaryDir>
#include <QtCore/QTimer>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QLocalServer>
#include <QtNetwork/QLocalSocket>

#include <functional>
#include <map>
#include <memory>

class QSslServer;

namespace QtProcessPool {

class TlsIdentity;

/// Where workers connect, and the proof a connection gives before it is
/// anyone's worker: local workers at a socket in a fresh 0700 directory,
/// remote ones over TCP with TLS (listenRemote()); a challenge per
/// connection, and its hello checked (protocol version and build, the HMAC
/// of the challenge with the worker's secret, and for local peers the
/// peer's user and pid). One handshake for both transports. Knows nothing
/// of tasks. Lives in the pool's I/O thread.
class Handshake : public QObject
{
public:
    /// A connection that proved to be a worker's: the socket is the
    /// receiver's now (a QLocalSocket, or an encrypted QSslSocket).
    struct Proven
    {
        int slotId = 0;
        std::unique_ptr<QIODevice> socket;
        bool remote = false; // came over TCP + TLS
        qint64 pid = 0;      // as the worker gave it (checked by the kernel for local peers)
        QString host;        // the worker's host name, as it gave it
    };
    /// The secret of the worker a hello claims to be, or null when no worker
    /// of that slot waits for its connection.
    using SecretOf = std::function<const QByteArray *(quint32 slotId)>;
    using Accepted = std::function<void(Proven &&proven)>;
    /// A worker that proved its secret but cannot serve this pool (another
    /// build): why names both builds.
    using Refused = std::function<void(int slotId, const QString &why)>;

    Handshake(SecretOf secretOf, Accepted accepted, QObject *parent);
    ~Handshake() override;
    void setRefused(Refused refused) { m_refused = std::move(refused); }

    /// Makes the socket directory and listens; false, with errorString(), if not.
    bool listen();
    bool isListening() const { return m_server != nullptr; }
    QString errorString() const { return m_error; }
    QString serverName() const;

    /// Also listens for remote workers on address:port (0: a free one),
    /// TCP with TLS under identity; false, with errorString(), if not.
    bool listenRemote(const QHostAddress &address, quint16 port, const TlsIdentity &identity);
    bool isListeningRemote() const { return m_tlsServer != nullptr; }
    quint16 remotePort() const;
    /// Drops the connections still in their handshake, the servers and the directory.
    void close();

    /// A fresh secret for a worker to prove itself with.
    static QByteArray newSecret();
    /// What a worker of this build says in its hello: the library's version
    /// and the protocol's.
    static QString buildId();

private:
    struct Peer;
    void onNewConnection();
    void onNewRemoteConnection();
    template <typename Server>
    void adoptPending(Server *server, bool remote);
    void adopt(std::unique_ptr<QIODevice> socket, bool remote);
    void onPeerReadyRead(QIODevice *socket);
    void dropPeer(QIODevice *socket, const QString &why);
    bool authenticate(Peer &peer, const protocol::Frame &frame, Proven *proven, QString *why) const;

    const SecretOf m_secretOf;
    const Accepted m_accepted;
    Refused m_refused;
    std::unique_ptr<QTemporaryDir> m_directory; // 0700: only our user reaches the socket
    std::unique_ptr<QLocalServer> m_server;
    std::unique_ptr<QSslServer> m_tlsServer;
    QString m_error;
    std::map<QIODevice *, std::unique_ptr<Peer>> m_peers;
};

} // namespace QtProcessPool

#endif
