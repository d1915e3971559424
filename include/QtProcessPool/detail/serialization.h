// SPDX-License-Identifier: MIT
// Internal header of QtProcessPool; do not include directly.
#ifndef QTPROCESSPOOL_DETAIL_SERIALIZATION_H
#define QTPROCESSPOOL_DETAIL_SERIALIZATION_H

#include <QtProcessPool/qtprocesspool_export.h>

#include <QtCore/QByteArray>
#include <QtCore/QDataStream>
#include <QtCore/QIODevice>
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

/// The bytes QDataStream needs for value where cheaply known, else 0.
template <typename T>
qsizetype serializedSizeHint(const T &value)
{
    if constexpr (std::is_same_v<T, QByteArray>)
        return 4 + value.size();
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

template <typename P, typename A>
void writeConverted(QDataStream &out, A &&arg)
{
    using Decayed = std::decay_t<A>;
    if constexpr (std::is_same_v<Decayed, P>) {
        out << static_cast<const P &>(arg);
    } else if constexpr (std::is_same_v<P, QString> && (std::is_same_v<Decayed, const char *> ||
                                                        std::is_same_v<Decayed, char *>)) {
        out << QString::fromUtf8(arg); // also under QT_NO_CAST_FROM_ASCII
    } else {
        const P converted = std::forward<A>(arg); // implicit conversion, as a call would do
        out << converted;
    }
}

/// Converts each argument to its parameter type and writes it, now: later
/// changes to the caller's objects cannot reach the task.
template <typename... P, typename... A>
QByteArray serializeArguments(std::tuple<P...> *, A &&...args)
{
    QByteArray bytes = bufferFor((qsizetype(0) + ... + serializedSizeHint(std::as_const(args))));
    QDataStream out(&bytes, QIODevice::WriteOnly);
    out.setVersion(StreamVersion);
    (writeConverted<P>(out, std::forward<A>(args)), ...);
    return bytes;
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
