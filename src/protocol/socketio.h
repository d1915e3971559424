// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_PROTOCOL_SOCKETIO_H
#define QTPROCESSPOOL_PROTOCOL_SOCKETIO_H

#include <QtCore/qglobal.h>

#ifdef Q_OS_UNIX
#include <cerrno>
#include <sys/socket.h>

namespace QtProcessPool::protocol {

/// Writes as much of [data, data + size) as the socket takes now, without
/// blocking or SIGPIPE: the bytes written (0 when it takes none), or -1 when
/// the peer is gone.
inline qsizetype sendAvailable(int fd, const char *data, qsizetype size)
{
    qsizetype sent = 0;
    while (sent < size) {
        const ssize_t written =
            ::send(fd, data + sent, size_t(size - sent), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (written > 0)
            sent += written;
        else if (written < 0 && errno == EINTR)
            continue;
        else if (written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        else
            return -1;
    }
    return sent;
}

} // namespace QtProcessPool::protocol

#endif // Q_OS_UNIX

#endif
