// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_PROTOCOL_SOCKETIO_H
#define QTPROCESSPOOL_PROTOCOL_SOCKETIO_H

// Raw writes to a local socket's descriptor (QPP_HAVE_RAW_SOCKETS, see
// platformfeatures_p.h); without, nothing here exists and callers write
// through Qt.

#include "platformfeatures_p.h"

#ifdef QPP_HAVE_RAW_SOCKETS
#include <cerrno>
#include <sys/socket.h>

namespace QtProcessPool::protocol {

#ifdef MSG_NOSIGNAL
inline constexpr int NoSignal = MSG_NOSIGNAL;
#else
inline constexpr int NoSignal = 0; // SO_NOSIGPIPE on the socket instead (noSigpipe())
#endif

/// Makes writes to fd never raise SIGPIPE where that is a property of the
/// socket (SO_NOSIGPIPE); a no-op where each write says so (MSG_NOSIGNAL).
/// Call once on every socket sendAvailable() writes to.
inline void noSigpipe(int fd)
{
#if !defined(MSG_NOSIGNAL) && defined(SO_NOSIGPIPE)
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &on, sizeof on);
#else
    Q_UNUSED(fd);
#endif
}

/// Writes as much of [data, data + size) as the socket takes now, without
/// blocking or SIGPIPE: the bytes written (0 when it takes none), or -1 when
/// the peer is gone.
inline qsizetype sendAvailable(int fd, const char *data, qsizetype size)
{
    qsizetype sent = 0;
    while (sent < size) {
        const ssize_t written =
            ::send(fd, data + sent, size_t(size - sent), NoSignal | MSG_DONTWAIT);
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

#endif // QPP_HAVE_RAW_SOCKETS

#endif
