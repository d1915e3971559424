// SPDX-License-Identifier: MIT
// Internal header of QtProcessPool; do not include directly.
#ifndef QTPROCESSPOOL_DETAIL_SERIALIZATION_H
#define QTPROCESSPOOL_DETAIL_SERIALIZATION_H

#include <QtCore/QByteArray>
#include <QtCore/QDataStream>
#include <QtCore/QIODevice>
#include <QtCore/QString>

#include <tuple>
#include <utility>

namespace QtProcessPool::detail {

/// Every payload (arguments and results) is written with this version on both
/// sides, so a worker built against a later Qt still reads what the pool wrote.
inline constexpr QDataStream::Version StreamVersion = QDataStream::Qt_6_0;

template <typename P, typename A>
void writeConverted(QDataStream &out, A &&arg)
{
    using Decayed = std::decay_t<A>;
    if constexpr (std::is_same_v<Decayed, P>) {
        out << static_cast<const P &>(arg);
    } else if constexpr (std::is_same_v<P, QString> &&
                         (std::is_same_v<Decayed, const char *> || std::is_same_v<Decayed, char *>)) {
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
    QByteArray bytes;
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
        in >> value;
    } catch (...) {
        in.setStatus(QDataStream::ReadCorruptData);
        return false;
    }
    return in.status() == QDataStream::Ok;
}

} // namespace QtProcessPool::detail

#endif
