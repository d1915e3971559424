// SPDX-License-Identifier: MIT
// Internal header of QtProcessPool; do not include directly.
#ifndef QTPROCESSPOOL_DETAIL_SERIALIZATION_H
#define QTPROCESSPOOL_DETAIL_SERIALIZATION_H

#include <QtProcessPool/qtprocesspool_export.h>

#include <QtCore/QByteArray>
#include <QtCore/QDataStream>
#include <QtCore/QIODevice>
#include <QtCore/QList>
#include <QtCore/QString>

#include <tuple>
#include <type_traits>
#include <utility>

namespace QtProcessPool::detail {

/// Every payload (arguments and results) is written with this version on both
/// sides, so a worker built against a later Qt still reads what the pool wrote.
inline constexpr QDataStream::Version StreamVersion = QDataStream::Qt_6_0;

/// Payloads from this size on are written into buffers reserved once and
/// backed by transparent huge pages where the system offers them on request:
/// copying tens of megabytes into fresh memory otherwise costs more in page
/// faults than in copying (several times more in a virtual machine).
inline constexpr qsizetype LargeBufferSize = qsizetype(1) << 20;

/// Makes room for capacity bytes in an empty bytes, as described above.
QTPROCESSPOOL_EXPORT void reserveLarge(QByteArray &bytes, qsizetype capacity);

/// size bytes of whole from pos, sharing its buffer rather than copying
/// (the slice keeps all of whole alive, and copies on write). Copies where
/// whole does not own its bytes (QByteArray::fromRawData()).
QTPROCESSPOOL_EXPORT QByteArray sharedSlice(const QByteArray &whole, qsizetype pos, qsizetype size);

/// What QDataStream writes for a QByteArray, never allocating more than the
/// stream holds; a large one read from a QBuffer shares the buffer's bytes
/// (sharedSlice()), else it is read into a buffer from reserveLarge(). False
/// if corrupt.
QTPROCESSPOOL_EXPORT bool readByteArray(QDataStream &in, QByteArray &value);

/// QByteArray values from this size on are spliced into a Payload rather
/// than copied into it.
inline constexpr qsizetype SpliceSize = 64 * 1024;

/// Serialized values: exactly what QDataStream writes, except that a large
/// QByteArray value is not copied in. Its length prefix is written, and the
/// value itself is kept at that point as a piece of its own, sharing its
/// buffer as any copy of a QByteArray does (so the caller's later changes
/// still cannot reach it: they detach). Sending a payload copies each piece
/// once, straight from where it is, into shared memory or a socket.
class QTPROCESSPOOL_EXPORT Payload
{
public:
    Payload() = default;
    /// Bytes serialized already, nothing spliced (a received payload).
    Payload(QByteArray bytes) // NOLINT(google-explicit-constructor): a payload is bytes
        : m_bytes(std::move(bytes))
    {
    }

    /// Where a QDataStream writes everything that is not spliced.
    QByteArray *bytes() { return &m_bytes; }
    /// Writes value through out, which writes into bytes(), as out << value
    /// would: a large value that owns its bytes is spliced, not copied.
    void write(QDataStream &out, const QByteArray &value);
    /// Whether write() splices value.
    static bool splices(const QByteArray &value)
    {
        // No capacity: raw data (QByteArray::fromRawData()), which the
        // caller may free once the call returns. That is copied.
        return value.size() >= SpliceSize && value.capacity() > 0;
    }

    qsizetype size() const;
    bool isEmpty() const { return size() == 0; }
    /// As QByteArray::isNull() for the bytes it stands for (a null payload
    /// is written as a null QByteArray).
    bool isNull() const { return m_bytes.isNull() && m_splices.isEmpty(); }
    /// Everything in order, as pieces to be sent back to back; no bytes are
    /// copied. Empty pieces are left out.
    QList<QByteArray> pieces() const;
    /// Everything in one buffer: the bytes themselves when nothing is
    /// spliced, else a copy.
    QByteArray flattened() const;

    friend bool operator==(const Payload &a, const Payload &b)
    {
        return a.isNull() == b.isNull() && a.flattened() == b.flattened();
    }
    friend bool operator!=(const Payload &a, const Payload &b) { return !(a == b); }

private:
    struct Splice
    {
        qsizetype at = 0; // where in m_bytes the value goes
        QByteArray value;
    };
    QByteArray m_bytes;
    QList<Splice> m_splices;
};

/// The bytes QDataStream needs for value where cheaply known, else 0 (the
/// bytes a Payload holds for it: a spliced value takes only its prefix).
template <typename T>
qsizetype serializedSizeHint(const T &value)
{
    if constexpr (std::is_same_v<T, QByteArray>)
        return Payload::splices(value) ? 4 : 4 + value.size();
    else if constexpr (std::is_same_v<T, QString>)
        return 4 + 2 * value.size();
    else
        return 0;
}

/// A buffer for values whose size hints add up to hint bytes.
inline QByteArray bufferFor(qsizetype hint)
{
    QByteArray bytes;
    if (hint >= LargeBufferSize)
        reserveLarge(bytes, hint + 64);
    return bytes;
}

/// Writes value into payload through out (which writes into payload.bytes()).
template <typename T>
void writeValue(QDataStream &out, Payload &payload, const T &value)
{
    if constexpr (std::is_same_v<T, QByteArray>)
        payload.write(out, value);
    else
        out << value;
}

template <typename P, typename A>
void writeConverted(QDataStream &out, Payload &payload, A &&arg)
{
    using Decayed = std::decay_t<A>;
    if constexpr (std::is_same_v<Decayed, P>) {
        writeValue(out, payload, static_cast<const P &>(arg));
    } else if constexpr (std::is_same_v<P, QString> && (std::is_same_v<Decayed, const char *> ||
                                                        std::is_same_v<Decayed, char *>)) {
        out << QString::fromUtf8(arg); // also under QT_NO_CAST_FROM_ASCII
    } else {
        const P converted = std::forward<A>(arg); // implicit conversion, as a call would do
        writeValue(out, payload, converted);
    }
}

/// Converts each argument to its parameter type and writes it, now: later
/// changes to the caller's objects cannot reach the task.
template <typename... P, typename... A>
Payload serializeArguments(std::tuple<P...> *, A &&...args)
{
    Payload payload(bufferFor((qsizetype(0) + ... + serializedSizeHint(std::as_const(args)))));
    QDataStream out(payload.bytes(), QIODevice::WriteOnly);
    out.setVersion(StreamVersion);
    (writeConverted<P>(out, payload, std::forward<A>(args)), ...);
    return payload;
}

/// Reads a value written with StreamVersion; false if the bytes do not hold
/// exactly one value of T.
///
/// Bytes from another process are not trusted: a count of billions of items
/// makes Qt reserve that many (std::bad_alloc), and a user's operator>> may
/// throw on garbage. Either way the value does not decode, and no exception
/// escapes into the pool's I/O thread.
template <typename T>
bool readValue(QDataStream &in, T &value)
{
    try {
        if constexpr (std::is_same_v<T, QByteArray>) {
            if (!readByteArray(in, value))
                in.setStatus(QDataStream::ReadCorruptData);
        } else {
            in >> value;
        }
    } catch (...) {
        in.setStatus(QDataStream::ReadCorruptData);
        return false;
    }
    return in.status() == QDataStream::Ok;
}

/// Results of a type whose QDataStream form can be empty (an empty struct
/// with both operators) that one frame may carry; other types are bounded by
/// the frame's size, at least one byte each.
inline constexpr int MaxEmptyFormResults = 1 << 20;

/// True when a default T writes no bytes: then a count of results is not
/// bounded by their size. Computed once per type.
template <typename T>
bool hasEmptyForm()
{
    static const bool empty = [] {
        if constexpr (std::is_default_constructible_v<T>) {
            QByteArray bytes;
            QDataStream out(&bytes, QIODevice::WriteOnly);
            out.setVersion(StreamVersion);
            out << T{};
            return bytes.isEmpty();
        } else {
            return false;
        }
    }();
    return empty;
}

} // namespace QtProcessPool::detail

#endif
