// SPDX-License-Identifier: MIT
// PoolConnection, the device path: the socket is a QIODevice of the I/O
// thread, which alone reads and writes it -- a QLocalSocket where there are
// no raw POSIX sockets (other systems, the portable build), and a remote
// worker's QSslSocket: its TLS connection, pinned to the pool's
// certificate, and the heartbeats that tell either side the other is gone.
#include "worker/poolconnection.h"

#include "logging_p.h"
#include "remote/tlsidentity.h"

#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtNetwork/QLocalSocket>
#include <QtNetwork/QSslSocket>

#include <utility>

namespace QtProcessPool {

using namespace protocol;

namespace {

/// "tls:HOST:PORT": a remote worker's pool (the last colon ends the host,
/// which may be an IPv6 address, bracketed or not).
bool parseTlsAddress(const QString &serverName, QString *host, quint16 *port)
{
    if (!serverName.startsWith(QLatin1String("tls:")))
        return false;
    const QString rest = serverName.mid(4);
    const qsizetype colon = rest.lastIndexOf(QLatin1Char(':'));
    bool ok = false;
    *port = colon > 0 ? rest.mid(colon + 1).toUShort(&ok) : 0;
    *host = rest.left(colon);
    if (host->startsWith(QLatin1Char('[')) && host->endsWith(QLatin1Char(']')))
        *host = host->mid(1, host->size() - 2);
    return ok && *port != 0 && !host->isEmpty();
}

} // namespace

// I/O thread: a remote worker's connection, TLS to the certificate whose
// fingerprint came on stdin, and nothing else (no CA, no plaintext).
void PoolConnection::startTls()
{
    QString host;
    quint16 port = 0;
    if (!parseTlsAddress(m_serverName, &host, &port)) {
        qCWarning(lcWorker) << "not a pool address:" << m_serverName;
        onGone();
        return;
    }
    auto *socket = new QSslSocket(this);
    adoptDevice(socket);
    socket->setSslConfiguration(TlsIdentity::clientConfiguration());
    connect(socket, &QAbstractSocket::disconnected, this, &PoolConnection::onSocketReadable);
    // As the pool's end does: no Nagle delay on small frames (set once
    // connected; an unconnected socket has no option to set).
    connect(socket, &QAbstractSocket::connected, this,
            [socket] { socket->setSocketOption(QAbstractSocket::LowDelayOption, 1); });
    connect(socket, &QAbstractSocket::errorOccurred, this, [this, socket] {
        if (!m_encrypted) {
            qCWarning(lcWorker) << "could not reach the pool at" << m_serverName << ":"
                                << socket->errorString();
            onGone();
        }
    });
    connect(socket, &QSslSocket::encrypted, this, [this, socket] {
        // The pin is the check: anything else ends here, before a byte is read.
        if (!TlsIdentity::isPinned(socket->peerCertificate(), m_fingerprint)) {
            qCWarning(lcWorker) << "the server at" << m_serverName
                                << "is not the pool: its certificate is another";
            socket->abort();
            onGone();
            return;
        }
        m_encrypted = true;
        m_connectTimer->stop(); // stopped in its thread (we are deleted in another)
        onSocketReadable();     // the challenge may be there already
    });
    m_connectTimer = new QTimer(this);
    m_connectTimer->setSingleShot(true);
    connect(m_connectTimer, &QTimer::timeout, this, [this] {
        if (!m_encrypted) {
            qCWarning(lcWorker) << "no TLS connection to the pool at" << m_serverName << "in"
                                << ConnectTimeoutMs << "ms";
            onGone();
        }
    });
    connect(QThread::currentThread(), &QThread::finished, m_connectTimer, &QTimer::stop,
            Qt::DirectConnection);
    m_connectTimer->start(ConnectTimeoutMs);
    socket->connectToHostEncrypted(host, port);
}

// I/O thread, once a remote worker is authenticated: a heartbeat every
// HeartbeatIntervalMs, and the end when the pool has been silent too long.
void PoolConnection::startHeartbeats()
{
    m_lastHeard.start();
    m_heartbeatTimer = new QTimer(this);
    m_heartbeatTimer->setInterval(HeartbeatIntervalMs);
    connect(m_heartbeatTimer, &QTimer::timeout, this, [this] {
        if (poolIsSilent()) {
            qCWarning(lcWorker) << "heard nothing from the pool at" << m_serverName << "for"
                                << m_lastHeard.elapsed() << "ms: taking it as gone";
            if (m_socket)
                static_cast<QAbstractSocket *>(m_socket)->abort();
            onGone();
            return;
        }
        if (m_writing == 0)
            writeToSocket(encodeMessage(WorkerHeartbeat{}));
    });
    connect(QThread::currentThread(), &QThread::finished, m_heartbeatTimer, &QTimer::stop,
            Qt::DirectConnection);
    m_heartbeatTimer->start();
}

bool PoolConnection::poolIsSilent() const
{
    return m_lastHeard.isValid() && m_lastHeard.elapsed() > HeartbeatTimeoutMs;
}

// I/O thread: the device path's socket, deleted in its own thread as it ends.
void PoolConnection::adoptDevice(QIODevice *socket)
{
    m_socket = socket;
    connect(
        QThread::currentThread(), &QThread::finished, this,
        [this] { delete std::exchange(m_socket, nullptr); }, Qt::DirectConnection);
    connect(socket, &QIODevice::readyRead, this, &PoolConnection::onSocketReadable);
}

bool PoolConnection::deviceConnected() const
{
    if (const auto *local = qobject_cast<const QLocalSocket *>(m_socket))
        return local->state() == QLocalSocket::ConnectedState;
    const auto *tcp = qobject_cast<const QAbstractSocket *>(m_socket);
    return tcp && tcp->state() == QAbstractSocket::ConnectedState;
}

// Any thread. The socket is the I/O thread's: another thread's frames are
// written there while it waits (a task's TaskStarted is out before the task
// runs). Holds no lock meanwhile, so the I/O thread's own sends -- which may
// hold the runner's lock -- never wait for it. No side channel here: the
// pool makes none without QPP_HAVE_LINUX_FEATURES.
bool PoolConnection::sendThroughIoThread(const QByteArray &wire)
{
    if (QThread::currentThread() == thread())
        return writeToSocket(wire);
    bool written = false;
    QMetaObject::invokeMethod(
        this, [this, &wire, &written] { written = writeToSocket(wire); },
        Qt::BlockingQueuedConnection);
    return written;
}

// I/O thread: whole frames into the socket, handed to the system before this
// returns. While Qt waits for the socket to take them it may read, and tell
// of it: that is handled after the write (onSocketReadable()), never in the
// middle of one.
bool PoolConnection::writeToSocket(const QByteArray &wire)
{
    if (wire.isEmpty())
        return true;
    if (!m_writeOpen || !m_socket || !deviceConnected())
        return false;
    ++m_writing;
    m_socket->write(wire);
    if (auto *local = qobject_cast<QLocalSocket *>(m_socket))
        local->flush();
    else
        static_cast<QAbstractSocket *>(m_socket)->flush();
    // A remote pool that went silent must not hold a write (and this
    // thread) forever: wait in heartbeat intervals, and give up on it. Only
    // bytes from the pool count as hearing it: bytes taken by this side's
    // kernel say nothing of the other end.
    while (m_socket->bytesToWrite() > 0 && deviceConnected()) {
        const qint64 heard = m_socket->bytesAvailable();
        const bool progressed = m_socket->waitForBytesWritten(HeartbeatIntervalMs);
        if (m_socket->bytesAvailable() > heard)
            m_lastHeard.restart();
        else if (!progressed && (m_fingerprint.isEmpty() ? !deviceConnected() : poolIsSilent()))
            break;
    }
    --m_writing;
    const bool written = m_socket->bytesToWrite() == 0 && deviceConnected();
    if (m_writing == 0 && (std::exchange(m_readDeferred, false) || m_socket->bytesAvailable() > 0))
        scheduleRead();
    return written;
}

} // namespace QtProcessPool
