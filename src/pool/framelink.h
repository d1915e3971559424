// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_FRAMELINK_H
#define QTPROCESSPOOL_FRAMELINK_H

#include "protocol/frame.h"
#include "protocol/sharedbody.h"

#include <QtNetwork/QAbstractSocket>
#include <QtNetwork/QLocalSocket>

#include <memory>

namespace QtProcessPool {

/// A worker's authenticated socket as frames, both ways -- a QLocalSocket,
/// or for a remote worker an encrypted QSslSocket (one frame codec, two
/// transports; the kernel tricks below are the local socket's only): writes gathered
/// during the engine's batch and sent in one go, straight to the kernel when
/// Qt holds nothing back; frames read with their large bodies brought in
/// from the shared-memory side channel; and on demand, what the worker wrote
/// that is still in the kernel. Knows nothing of tasks. Part of
/// WorkerConnection; I/O thread only.
class FrameLink
{
public:
    enum class Status { Frame, NeedMore, Error };

    FrameLink() = default;
    ~FrameLink();
    FrameLink(const FrameLink &) = delete;
    FrameLink &operator=(const FrameLink &) = delete;

    /// The socket, once the worker proved its secret (Handshake).
    void attach(std::unique_ptr<QIODevice> socket);
    QIODevice *socket() const { return m_socket.get(); }
    /// The socket when it is a local one (direct writes, lending), else null.
    QLocalSocket *localSocket() const { return m_local; }
    bool isRemote() const { return m_tcp != nullptr; }
    bool isAttached() const { return m_socket != nullptr; }
    bool isConnected() const
    {
        return m_local ? m_local->state() == QLocalSocket::ConnectedState
                       : m_tcp && m_tcp->state() == QAbstractSocket::ConnectedState;
    }
    /// Closes the connection once what is queued is written.
    void disconnectFromPeer();

    /// The side channel for large bodies (closed where unsupported).
    protocol::SharedBodyChannel &bodies() { return m_bodies; }
    void setMaxBodySize(qint64 bytes) { m_reader.setMaxBodySize(bytes); }

    /// Adds bytes to what goes out at the next flush().
    void queue(const QByteArray &bytes) { m_outgoing += bytes; }
    /// Adds frames, their large bodies through the side channel: returns how
    /// many bodies went there.
    qint64 queue(const protocol::OutgoingFrames &frames);
    /// Nothing waits to be written, here or in Qt's buffer.
    bool isWriteIdle() const;
    void flush();

    /// The next whole frame. Error: the stream is unusable (why says so).
    Status read(protocol::Frame *frame, QString *why, bool *viaSharedMemory);
    /// Moves what the worker wrote that is still in the kernel into the
    /// socket's buffer now; false when nothing was there or it could not.
    /// The socket's readyRead() meanwhile is this read (isPulling()).
    bool pull();
    bool isPulling() const { return m_pulling; }
    /// Frames wait to be read: in the socket, or saved from it (salvage()).
    bool hasUnread() const;

private:
    /// The socket reports an error, and Qt is about to abort it: on a
    /// failed write (the worker died), Qt drops what it had read but not yet
    /// handed over. What the worker sent before it died decides its tasks'
    /// fates, so that is taken now and read() goes on from it: what Qt had
    /// read, then what it had not read from the kernel yet. Qt has closed its
    /// descriptor by then; the latter comes through m_duplicate.
    void salvage();
    void closeDuplicate();

    qintptr descriptor() const;

    std::unique_ptr<QIODevice> m_socket;
    QLocalSocket *m_local = nullptr;  // m_socket, when local
    QAbstractSocket *m_tcp = nullptr; // m_socket, when remote (a QSslSocket)
    QByteArray m_outgoing;            // written during the engine's current batch
    protocol::FrameReader m_reader;
    protocol::SharedBodyChannel m_bodies;
    bool m_pulling = false;
    QByteArray m_salvaged; // salvage(): read before the socket (its bytes came first)
    // A local socket's descriptor again, open until the link is done with the
    // connection (salvage(), disconnected, disconnectFromPeer()): -1 without.
    int m_duplicate = -1;
    qsizetype m_salvagedOffset = 0;
};

} // namespace QtProcessPool

#endif
