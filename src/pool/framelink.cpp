// SPDX-License-Identifier: MIT
#include "pool/framelink.h"

#include "pool/platform.h"

#include "protocol/socketio.h"

#include <utility>

namespace QtProcessPool {

namespace {

/// Calls f on the socket's errors, but for a timeout: waitForReadyRead(0) in
/// pull() reports one, and the socket stays. Direct: f must run before
/// Qt's abort() that follows the signal.
template <typename Socket, typename Error, typename F>
void onFailure(Socket *socket, Error timeout, F f)
{
    QObject::connect(
        socket, &Socket::errorOccurred, socket,
        [timeout, f](Error error) {
            if (error != timeout)
                f();
        },
        Qt::DirectConnection);
}

} // namespace

qint64 FrameLink::queue(const protocol::OutgoingFrames &frames)
{
    const qint64 before = m_bodies.sentCount();
    m_outgoing += m_bodies.wire(frames);
    return m_bodies.sentCount() - before;
}

bool FrameLink::isWriteIdle() const
{
    return m_outgoing.isEmpty() && (!m_socket || m_socket->bytesToWrite() == 0);
}

qintptr FrameLink::descriptor() const
{
    return m_local ? m_local->socketDescriptor() : m_tcp ? m_tcp->socketDescriptor() : -1;
}

FrameLink::~FrameLink()
{
    closeDuplicate();
}

void FrameLink::closeDuplicate()
{
    platform::closeDescriptor(std::exchange(m_duplicate, -1));
}

void FrameLink::disconnectFromPeer()
{
    // Else the peer would not see the end while the duplicate holds it open.
    closeDuplicate();
    if (m_local)
        m_local->disconnectFromServer();
    else if (m_tcp)
        m_tcp->disconnectFromHost();
}

void FrameLink::flush()
{
    if (m_outgoing.isEmpty() || !m_socket)
        return;
    const char *data = m_outgoing.constData();
    qsizetype left = m_outgoing.size();
#ifdef QPP_HAVE_RAW_SOCKETS
    // Straight to the kernel while Qt holds nothing back for this socket: no
    // write notifier to arm and disarm (each a wake-up of this thread).
    // Without raw sockets (platform::hasDirectSocketWrites) all goes through Qt.
    const int fd = m_local ? int(m_local->socketDescriptor()) : -1; // not under TLS
    if (fd >= 0 && m_socket->bytesToWrite() == 0) {
        const qsizetype sent = protocol::sendAvailable(fd, data, left);
        if (sent < 0) {
            left = 0; // the worker is gone; reading its socket tells
        } else {
            data += sent;
            left -= sent;
        }
    }
#endif
    if (left > 0)
        m_socket->write(data, left); // the rest when the socket can take it
    m_outgoing.resize(0);            // keeps its capacity for the next batch
}

void FrameLink::attach(std::unique_ptr<QIODevice> socket)
{
    closeDuplicate();
    m_socket = std::move(socket);
    m_local = qobject_cast<QLocalSocket *>(m_socket.get());
    m_tcp = m_local ? nullptr : qobject_cast<QAbstractSocket *>(m_socket.get());
    if (m_local) {
        m_duplicate = platform::duplicateSocket(m_local->socketDescriptor());
        onFailure(m_local, QLocalSocket::SocketTimeoutError, [this] { salvage(); });
        QObject::connect(
            m_local, &QLocalSocket::disconnected, m_local, [this] { closeDuplicate(); },
            Qt::DirectConnection);
    } else if (m_tcp) {
        onFailure(m_tcp, QAbstractSocket::SocketTimeoutError, [this] { salvage(); });
    }
#ifdef QPP_HAVE_RAW_SOCKETS
    if (m_local)
        protocol::noSigpipe(int(m_local->socketDescriptor())); // flush() writes to it
#endif
}

void FrameLink::salvage()
{
    // Qt's socket engine may have closed its descriptor by now (a failed
    // write): what Qt already read is in its buffer until abort(), and what
    // it had not is still in the kernel, reachable through the duplicate.
    // Once only: the socket holds nothing after the abort that follows.
    if (!isConnected())
        return;
    m_salvaged += m_socket->readAll(); // came first
    platform::readWaiting(m_duplicate, &m_salvaged);
    closeDuplicate();
}

bool FrameLink::hasUnread() const
{
    return m_salvagedOffset < m_salvaged.size() || (m_socket && m_socket->bytesAvailable() > 0);
}

FrameLink::Status FrameLink::read(protocol::Frame *frame, QString *why, bool *viaSharedMemory)
{
    *viaSharedMemory = false;
    if (!m_socket)
        return Status::NeedMore;
    // Saved bytes came before anything the (aborted) socket could still hold.
    const protocol::FrameReader::Status status =
        m_salvagedOffset < m_salvaged.size() ? m_reader.read(m_salvaged, &m_salvagedOffset, frame)
                                             : m_reader.read(*m_socket, frame);
    if (status == protocol::FrameReader::Status::NeedMore)
        return Status::NeedMore;
    if (status == protocol::FrameReader::Status::Error) {
        *why = m_reader.errorString();
        return Status::Error;
    }
    if (protocol::isBodyReference(frame->type)) {
        if (!m_bodies.resolve(frame, m_reader.maxBodySize(), why))
            return Status::Error;
        *viaSharedMemory = true;
    }
    return Status::Frame;
}

bool FrameLink::pull()
{
    // Qt moves bytes from the kernel into the socket's buffer only when its
    // notifier fires; what a worker wrote before it died or timed out may
    // still be in the kernel. waitForReadyRead(0) pulls it in now. Where the
    // kernel's count is unknown (-1), it is tried anyway: it returns at once.
    // Under TLS the kernel holds records: a whole frame may need several,
    // and a partial one waits; this reads what is there.
    if (!isConnected() || platform::bytesInKernel(descriptor()) == 0)
        return false;
    m_pulling = true;
    const bool pulled = m_socket->waitForReadyRead(0);
    m_pulling = false;
    return pulled;
}

} // namespace QtProcessPool
