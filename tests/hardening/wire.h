// SPDX-License-Identifier: MIT
// The pool's wire format, written independently of src/protocol (so a change
// of the real format shows up here), and a raw AF_UNIX peer with timeouts.
// Used by tst_badpeers and qpp_bad_peer to play hostile peers byte by byte.
#ifndef QTPROCESSPOOL_TESTS_HARDENING_WIRE_H
#define QTPROCESSPOOL_TESTS_HARDENING_WIRE_H

#include <QtCore/QByteArray>
#include <QtCore/QCryptographicHash>
#include <QtCore/QDataStream>
#include <QtCore/QElapsedTimer>
#include <QtCore/QIODevice>
#include <QtCore/QList>
#include <QtCore/QMessageAuthenticationCode>
#include <QtCore/QString>
#include <QtCore/QtEndian>

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

namespace Wire {

// Message types (src/protocol/messages.h).
enum Type : quint16 {
    Challenge = 1,
    RunTask = 2,
    CancelTask = 3,
    // 4 is retired (it was Shutdown): never reuse it.
    Heartbeat = 7, // remote connections only
    Hello = 16,
    TaskStarted = 17,
    TaskFinished = 18,
    TaskFailed = 19,
    TaskResults = 20,
};
constexpr int HeaderSize = 8;
constexpr quint32 ProtocolVersion = 3;
constexpr int NonceSize = 32;
constexpr int ChallengeFrameSize = HeaderSize + 4 + NonceSize;

inline QByteArray header(quint32 length, quint16 type, quint16 reserved = 0)
{
    char bytes[HeaderSize];
    qToBigEndian<quint32>(length, bytes);
    qToBigEndian<quint16>(type, bytes + 4);
    qToBigEndian<quint16>(reserved, bytes + 6);
    return QByteArray(bytes, HeaderSize);
}

inline QByteArray frame(quint16 type, const QByteArray &body)
{
    return header(quint32(body.size()), type) + body;
}

/// A body written as the library writes its messages (QDataStream, Qt_6_0).
template <typename... Fields>
QByteArray body(const Fields &...fields)
{
    QByteArray bytes;
    QDataStream out(&bytes, QIODevice::WriteOnly);
    out.setVersion(QDataStream::Qt_6_0);
    (out << ... << fields);
    return bytes;
}

/// The build a worker names in its Hello: the pool refuses any other
/// (QPP_VERSION_STRING is the project's version, set by tests/hardening's CMake).
inline QString buildId()
{
    return QStringLiteral("QtProcessPool " QPP_VERSION_STRING " (protocol %1)")
        .arg(ProtocolVersion);
}

inline QByteArray helloBody(quint32 version, quint32 slot, qint64 pid, const QByteArray &proof,
                            const QString &build = buildId())
{
    return body(version, slot, pid, proof, QStringLiteral("wire-peer"), build);
}

inline QByteArray proof(const QByteArray &nonce, const QByteArray &secret)
{
    return QMessageAuthenticationCode::hash(nonce, secret, QCryptographicHash::Sha256);
}

struct Frame
{
    quint16 type = 0;
    QByteArray body;
};

/// Splits bytes into whole frames; what is left (a partial frame) stays in *rest.
inline QList<Frame> splitFrames(const QByteArray &bytes, QByteArray *rest = nullptr)
{
    QList<Frame> frames;
    qsizetype pos = 0;
    while (bytes.size() - pos >= HeaderSize) {
        const quint32 length = qFromBigEndian<quint32>(bytes.constData() + pos);
        const quint16 type = qFromBigEndian<quint16>(bytes.constData() + pos + 4);
        if (qint64(bytes.size() - pos - HeaderSize) < qint64(length))
            break;
        frames.append(Frame{type, bytes.mid(pos + HeaderSize, qsizetype(length))});
        pos += HeaderSize + qsizetype(length);
    }
    if (rest)
        *rest = bytes.mid(pos);
    return frames;
}

/// The nonce of a Challenge body, or an empty array if it is not one.
inline QByteArray challengeNonce(const Frame &f)
{
    if (f.type != Challenge || f.body.size() != 4 + NonceSize ||
        qFromBigEndian<quint32>(f.body.constData()) != quint32(NonceSize)) {
        return {};
    }
    return f.body.mid(4);
}

/// A blocking AF_UNIX stream socket used with poll() timeouts: the test
/// decides every byte, and sees EOF exactly when the pool closes.
class RawPeer
{
public:
    RawPeer() = default;
    RawPeer(const RawPeer &) = delete;
    RawPeer &operator=(const RawPeer &) = delete;
    ~RawPeer() { close(); }

    bool connectTo(const QByteArray &path)
    {
        close();
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        if (size_t(path.size()) >= sizeof(address.sun_path))
            return false;
        std::memcpy(address.sun_path, path.constData(), size_t(path.size()));
        m_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (m_fd < 0)
            return false;
        if (::connect(m_fd, reinterpret_cast<sockaddr *>(&address), sizeof(address)) != 0) {
            m_error = errno;
            close();
            return false;
        }
        return true;
    }
    bool isOpen() const { return m_fd >= 0; }
    int error() const { return m_error; }
    void close()
    {
        if (m_fd >= 0)
            ::close(m_fd);
        m_fd = -1;
    }

    /// False when the pool has closed its end (EPIPE / ECONNRESET) or on error.
    bool sendAll(const QByteArray &bytes)
    {
        const char *data = bytes.constData();
        qsizetype left = bytes.size();
        while (left > 0) {
            const ssize_t n = ::send(m_fd, data, size_t(left), MSG_NOSIGNAL);
            if (n > 0) {
                data += n;
                left -= n;
            } else if (n < 0 && errno == EINTR) {
                continue;
            } else {
                m_error = errno;
                return false;
            }
        }
        return true;
    }

    /// Reads until at least `total` bytes have arrived in all, EOF, or ms pass.
    bool readAtLeast(qsizetype total, int ms)
    {
        QElapsedTimer timer;
        timer.start();
        while (m_received.size() < total && !m_eof) {
            const qint64 left = ms - timer.elapsed();
            if (left <= 0 || !readSome(int(left)))
                break;
        }
        return m_received.size() >= total;
    }

    /// Reads (keeping everything) until the pool closes the connection; true
    /// if it did within ms.
    bool waitForEof(int ms)
    {
        QElapsedTimer timer;
        timer.start();
        while (!m_eof) {
            const qint64 left = ms - timer.elapsed();
            if (left <= 0 || !readSome(int(left)))
                break;
        }
        return m_eof;
    }

    /// Non-blocking look: has EOF arrived by now?
    bool eofNow()
    {
        while (!m_eof && readSome(0)) {
        }
        return m_eof;
    }

    /// Reads the Challenge the pool sends on connection; its nonce, or empty.
    QByteArray readChallenge(int ms)
    {
        if (!readAtLeast(ChallengeFrameSize, ms))
            return {};
        const QList<Frame> frames = splitFrames(m_received.left(ChallengeFrameSize));
        return frames.size() == 1 ? challengeNonce(frames.first()) : QByteArray();
    }

    const QByteArray &received() const { return m_received; }
    bool sawEof() const { return m_eof; }

    /// What the pool sent besides its one Challenge (empty when that is all),
    /// described for a failure message.
    QString unexpectedTraffic() const
    {
        QByteArray rest;
        const QList<Frame> frames = splitFrames(m_received, &rest);
        if (frames.size() == 1 && rest.isEmpty() && !challengeNonce(frames.first()).isEmpty())
            return {};
        QString text = QStringLiteral("%1 bytes:").arg(m_received.size());
        for (const Frame &f : frames)
            text += QStringLiteral(" frame(type %1, %2 bytes)").arg(f.type).arg(f.body.size());
        if (!rest.isEmpty())
            text += QStringLiteral(" + %1 stray bytes").arg(rest.size());
        return text;
    }

private:
    // One poll + recv; false on timeout (or when the socket is gone).
    bool readSome(int ms)
    {
        if (m_fd < 0)
            return false;
        pollfd ready{m_fd, POLLIN, 0};
        int r;
        do {
            r = ::poll(&ready, 1, ms);
        } while (r < 0 && errno == EINTR);
        if (r <= 0)
            return false;
        char buffer[65536];
        const ssize_t n = ::recv(m_fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n > 0) {
            m_received.append(buffer, qsizetype(n));
        } else if (n == 0 || errno == ECONNRESET) {
            m_eof = true; // the pool closed its end
        } else if (errno != EINTR && errno != EAGAIN) {
            m_error = errno;
            m_eof = true;
        }
        return true;
    }

    int m_fd = -1;
    int m_error = 0;
    bool m_eof = false;
    QByteArray m_received;
};

} // namespace Wire

#endif
