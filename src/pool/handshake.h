// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_HANDSHAKE_H
#define QTPROCESSPOOL_HANDSHAKE_H

#include "protocol/frame.h"

#include <QtCore/QObject>
#include <QtCore/QTemporaryDir>
#include <QtCore/QTimer>
#include <QtNetwork/QLocalServer>
#include <QtNetwork/QLocalSocket>

#include <functional>
#include <map>
#include <memory>

namespace QtProcessPool {

/// Where workers connect, and the proof a connection gives before it is
/// anyone's worker: the listening socket in a fresh 0700 directory, a
/// challenge per connection, and its hello checked (protocol version, the
/// HMAC of the challenge with the worker's secret, the peer's user and pid).
/// Knows nothing of tasks. Lives in the pool's I/O thread.
class Handshake : public QObject
{
public:
    /// The secret of the worker a hello claims to be, or null when no worker
    /// of that slot waits for its connection.
    using SecretOf = std::function<const QByteArray *(quint32 slotId)>;
    /// A connection proved to be the worker of slotId, whose pid it gave;
    /// the socket is the caller's now.
    using Accepted = std::function<void(int slotId, std::unique_ptr<QLocalSocket> socket)>;

    Handshake(SecretOf secretOf, Accepted accepted, QObject *parent);
    ~Handshake() override;

    /// Makes the socket directory and listens; false, with errorString(), if not.
    bool listen();
    bool isListening() const { return m_server != nullptr; }
    QString errorString() const { return m_error; }
    QString serverName() const;
    /// Drops the connections still in their handshake, the server and its directory.
    void close();

    /// A fresh secret for a worker to prove itself with.
    static QByteArray newSecret();

private:
    struct Peer;
    void onNewConnection();
    void onPeerReadyRead(QLocalSocket *socket);
    void dropPeer(QLocalSocket *socket, const QString &why);
    bool authenticate(Peer &peer, const protocol::Frame &frame, int *slotId, QString *why) const;

    const SecretOf m_secretOf;
    const Accepted m_accepted;
    std::unique_ptr<QTemporaryDir> m_directory; // 0700: only our user reaches the socket
    std::unique_ptr<QLocalServer> m_server;
    QString m_error;
    std::map<QLocalSocket *, std::unique_ptr<Peer>> m_peers;
};

} // namespace QtProcessPool

#endif
