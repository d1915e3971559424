// SPDX-License-Identifier: MIT
// Field-by-field equality and printing of the protocol messages, shared by the
// protocol unit tests and the fuzz harnesses (no QtTest dependency).
//
// Equality is strict: a null QString or QByteArray differs from an empty one,
// because the wire format tells them apart (0xffffffff vs. 0 length).
#ifndef QTPROCESSPOOL_TESTS_MESSAGECOMPARE_H
#define QTPROCESSPOOL_TESTS_MESSAGECOMPARE_H

#include "protocol/messages.h"

#include <QtCore/QByteArray>
#include <QtCore/QString>
#include <QtCore/QStringList>

#include <cstring>

namespace QtProcessPool::protocol {

namespace compare_detail {

inline bool same(const QByteArray &a, const QByteArray &b)
{
    return a.isNull() == b.isNull() && a == b;
}
inline bool same(const detail::Payload &a, const detail::Payload &b)
{
    return same(a.flattened(), b.flattened());
}
inline bool same(const QString &a, const QString &b)
{
    return a.isNull() == b.isNull() && a == b;
}
inline bool same(const QStringList &a, const QStringList &b)
{
    if (a.size() != b.size())
        return false;
    for (qsizetype i = 0; i < a.size(); ++i) {
        if (!same(a.at(i), b.at(i)))
            return false;
    }
    return true;
}

inline QByteArray show(const QByteArray &bytes)
{
    if (bytes.isNull())
        return "null";
    QByteArray out = QByteArray::number(bytes.size()) + " bytes";
    if (!bytes.isEmpty())
        out += ' ' + bytes.left(16).toHex() + (bytes.size() > 16 ? "..." : "");
    return out;
}
inline QByteArray show(const detail::Payload &payload)
{
    return show(payload.flattened());
}
inline QByteArray show(const QString &text)
{
    if (text.isNull())
        return "null";
    const QString shown = text.size() > 40 ? text.left(40) + QStringLiteral("...") : text;
    return '"' + shown.toUtf8() + "\" (" + QByteArray::number(text.size()) + " chars)";
}
inline QByteArray show(const QStringList &list)
{
    QByteArray out = "[";
    for (qsizetype i = 0; i < list.size(); ++i)
        out += (i ? ", " : "") + show(list.at(i));
    return out + ']';
}

} // namespace compare_detail

inline bool operator==(const Challenge &a, const Challenge &b)
{
    return compare_detail::same(a.nonce, b.nonce);
}
inline bool operator==(const Hello &a, const Hello &b)
{
    return a.protocolVersion == b.protocolVersion && a.slotId == b.slotId && a.pid == b.pid &&
           compare_detail::same(a.proof, b.proof);
}
inline bool operator==(const RunTask &a, const RunTask &b)
{
    using compare_detail::same;
    return a.taskId == b.taskId && same(a.name, b.name) && same(a.argTypes, b.argTypes) &&
           same(a.resultType, b.resultType) && a.itemCount == b.itemCount &&
           same(a.arguments, b.arguments);
}
inline bool operator==(const CancelTask &a, const CancelTask &b)
{
    return a.taskId == b.taskId;
}
inline bool operator==(const RevokeTask &a, const RevokeTask &b)
{
    return a.taskId == b.taskId;
}
inline bool operator==(const StartTask &a, const StartTask &b)
{
    return a.taskId == b.taskId;
}
inline bool operator==(const Heartbeat &, const Heartbeat &)
{
    return true;
}
inline bool operator==(const WorkerHeartbeat &, const WorkerHeartbeat &)
{
    return true;
}
inline bool operator==(const SuspendTask &a, const SuspendTask &b)
{
    return a.taskId == b.taskId && a.suspended == b.suspended;
}
inline bool operator==(const TaskResults &a, const TaskResults &b)
{
    return a.taskId == b.taskId && a.resultCount == b.resultCount &&
           compare_detail::same(a.results, b.results);
}
inline bool operator==(const TaskProgress &a, const TaskProgress &b)
{
    return a.taskId == b.taskId && a.minimum == b.minimum && a.maximum == b.maximum &&
           a.value == b.value && compare_detail::same(a.text, b.text);
}
inline bool operator==(const TaskStarted &a, const TaskStarted &b)
{
    return a.taskId == b.taskId;
}
inline bool operator==(const TaskFinished &a, const TaskFinished &b)
{
    return a.taskId == b.taskId && a.resultCount == b.resultCount &&
           compare_detail::same(a.results, b.results);
}
inline bool operator==(const TaskFailed &a, const TaskFailed &b)
{
    using compare_detail::same;
    return a.taskId == b.taskId && a.kind == b.kind && same(a.message, b.message) &&
           same(a.remoteType, b.remoteType);
}

/// A one-line description of a message, for failure output.
inline QByteArray describe(const Challenge &m)
{
    return "Challenge{nonce=" + compare_detail::show(m.nonce) + '}';
}
inline QByteArray describe(const Hello &m)
{
    return "Hello{version=" + QByteArray::number(m.protocolVersion) +
           ", slot=" + QByteArray::number(m.slotId) + ", pid=" + QByteArray::number(m.pid) +
           ", proof=" + compare_detail::show(m.proof) + '}';
}
inline QByteArray describe(const RunTask &m)
{
    using compare_detail::show;
    return "RunTask{id=" + QByteArray::number(m.taskId) + ", name=" + show(m.name) +
           ", argTypes=" + show(m.argTypes) + ", resultType=" + show(m.resultType) +
           ", itemCount=" + QByteArray::number(m.itemCount) + ", arguments=" + show(m.arguments) +
           '}';
}
inline QByteArray describe(const CancelTask &m)
{
    return "CancelTask{id=" + QByteArray::number(m.taskId) + '}';
}
inline QByteArray describe(const RevokeTask &m)
{
    return "RevokeTask{id=" + QByteArray::number(m.taskId) + '}';
}
inline QByteArray describe(const StartTask &m)
{
    return "StartTask{id=" + QByteArray::number(m.taskId) + '}';
}
inline QByteArray describe(const Heartbeat &)
{
    return "Heartbeat{}";
}
inline QByteArray describe(const WorkerHeartbeat &)
{
    return "WorkerHeartbeat{}";
}
inline QByteArray describe(const SuspendTask &m)
{
    return "SuspendTask{id=" + QByteArray::number(m.taskId) +
           ", suspended=" + QByteArray::number(m.suspended) + '}';
}
inline QByteArray describe(const TaskResults &m)
{
    return "TaskResults{id=" + QByteArray::number(m.taskId) +
           ", count=" + QByteArray::number(m.resultCount) +
           ", results=" + compare_detail::show(m.results) + '}';
}
inline QByteArray describe(const TaskProgress &m)
{
    return "TaskProgress{id=" + QByteArray::number(m.taskId) +
           ", min=" + QByteArray::number(m.minimum) + ", max=" + QByteArray::number(m.maximum) +
           ", value=" + QByteArray::number(m.value) + ", text=" + compare_detail::show(m.text) +
           '}';
}
inline QByteArray describe(const TaskStarted &m)
{
    return "TaskStarted{id=" + QByteArray::number(m.taskId) + '}';
}
inline QByteArray describe(const TaskFinished &m)
{
    return "TaskFinished{id=" + QByteArray::number(m.taskId) +
           ", count=" + QByteArray::number(m.resultCount) +
           ", results=" + compare_detail::show(m.results) + '}';
}
inline QByteArray describe(const TaskFailed &m)
{
    using compare_detail::show;
    return "TaskFailed{id=" + QByteArray::number(m.taskId) +
           ", kind=" + QByteArray::number(m.kind) + ", message=" + show(m.message) +
           ", remoteType=" + show(m.remoteType) + '}';
}

namespace compare_detail {
inline char *toCString(const QByteArray &text)
{
    char *out = new char[size_t(text.size()) + 1];
    std::memcpy(out, text.constData(), size_t(text.size()) + 1);
    return out;
}
} // namespace compare_detail

// Found by QTest::toString through ADL, so QCOMPARE prints messages. Plain
// functions rather than a template, so they win over QTest's own template.
inline char *toString(const Challenge &m)
{
    return compare_detail::toCString(describe(m));
}
inline char *toString(const Hello &m)
{
    return compare_detail::toCString(describe(m));
}
inline char *toString(const RunTask &m)
{
    return compare_detail::toCString(describe(m));
}
inline char *toString(const CancelTask &m)
{
    return compare_detail::toCString(describe(m));
}
inline char *toString(const RevokeTask &m)
{
    return compare_detail::toCString(describe(m));
}
inline char *toString(const StartTask &m)
{
    return compare_detail::toCString(describe(m));
}
inline char *toString(const SuspendTask &m)
{
    return compare_detail::toCString(describe(m));
}
inline char *toString(const TaskResults &m)
{
    return compare_detail::toCString(describe(m));
}
inline char *toString(const TaskProgress &m)
{
    return compare_detail::toCString(describe(m));
}
inline char *toString(const TaskStarted &m)
{
    return compare_detail::toCString(describe(m));
}
inline char *toString(const TaskFinished &m)
{
    return compare_detail::toCString(describe(m));
}
inline char *toString(const TaskFailed &m)
{
    return compare_detail::toCString(describe(m));
}

} // namespace QtProcessPool::protocol

#endif
