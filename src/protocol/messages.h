// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_PROTOCOL_MESSAGES_H
#define QTPROCESSPOOL_PROTOCOL_MESSAGES_H

// The messages exchanged between pool and worker, and their bodies (QDataStream
// with a pinned version). Pure functions on QByteArray: decode() returns false
// for any body that is not exactly one well-formed message, and never
// allocates more than the body's own size because of a length it announces.
//
// Conversation:
//   pool -> worker  Challenge{nonce}                  on connection
//   worker -> pool  Hello{version, slot, pid, HMAC-SHA256(secret, nonce), host, build}
//   pool -> worker  RunTask{...}, CancelTask{id}, RevokeTask{id}, SuspendTask{id, on/off}
//                   StartTask{id} (remote connections only: a remote worker
//                   starts a task it was sent only once told it may)
//   worker -> pool  TaskStarted, any number of TaskResults / TaskProgress
//                   (QPromise tasks), then TaskFinished or TaskFailed.
//                   A task canceled before it started ends with an empty
//                   TaskFinished.
//   both ways       Heartbeat / WorkerHeartbeat (empty), on remote
//                   connections only: every HeartbeatIntervalMs; a side that
//                   hears nothing for HeartbeatTimeoutMs takes the other as gone.

#include "protocol/frame.h"

#include <QtProcessPool/detail/serialization.h>

#include <QtCore/QByteArray>
#include <QtCore/QString>
#include <QtCore/QStringList>

namespace QtProcessPool::protocol {

/// 2: Hello names the worker's host and build; heartbeats (remote workers).
/// 3: remote workers start a task only after its StartTask.
inline constexpr quint32 ProtocolVersion = 3;
/// Remote connections: how often each side sends a heartbeat, and how long
/// a side waits, hearing nothing at all, before it takes the other as gone.
inline constexpr int HeartbeatIntervalMs = 1000;
inline constexpr int HeartbeatTimeoutMs = 6000;
/// The argument that puts the application's executable in worker mode; the
/// pool's socket name follows it (isWorkerProcess(), Engine::spawnWorker()).
inline constexpr char WorkerFlag[] = "--qtprocesspool-worker";
/// A remote worker's credentials in its arguments instead of on stdin
/// (WorkerLauncher::setJoinToken()): "slot.secret.fingerprint", in hex.
inline constexpr char JoinFlag[] = "--qtprocesspool-join";
inline constexpr int NonceSize = 32;
/// What a worker of this build says in its hello (Hello::build): the
/// library's version and the protocol's; a pool refuses other builds.
QString buildId();

enum class MessageType : quint16 {
    // pool -> worker
    Challenge = 1,
    RunTask = 2,
    CancelTask = 3,
    // 4 is retired (it was Shutdown, never sent): never reuse it.
    SuspendTask = 5,
    RevokeTask = 6,
    Heartbeat = 7,
    StartTask = 8,
    // worker -> pool
    Hello = 16,
    TaskStarted = 17,
    TaskFinished = 18,
    TaskFailed = 19,
    TaskResults = 20,
    TaskProgress = 21,
    WorkerHeartbeat = 22,
};

struct Challenge
{
    static constexpr MessageType Type = MessageType::Challenge;
    QByteArray nonce;
};

struct Hello
{
    static constexpr MessageType Type = MessageType::Hello;
    quint32 protocolVersion = ProtocolVersion;
    quint32 slotId = 0;
    qint64 pid = 0;
    QByteArray proof; // HMAC-SHA256(secret, nonce)
    QString host;     // the worker's host name (QSysInfo::machineHostName())
    QString build;    // Handshake::buildId() of the worker's library
};

struct RunTask
{
    static constexpr MessageType Type = MessageType::RunTask;
    quint64 taskId = 0;
    QString name;
    QStringList argTypes;
    QString resultType;
    /// 0: arguments hold one call. N > 0: a chunk of mapped(): arguments hold
    /// N calls back to back, and the task produces N results in order.
    quint32 itemCount = 0;
    /// Decoded: one piece. Sent: as serialized, large QByteArray values spliced.
    detail::Payload arguments;
};

struct CancelTask
{
    static constexpr MessageType Type = MessageType::CancelTask;
    quint64 taskId = 0;
};

/// Give back a task sent ahead if it has not started (answered with an empty
/// TaskFinished); ignored once it runs. Unlike CancelTask, never cancels.
/// "Still here" (remote connections), pool -> worker; no body.
struct Heartbeat
{
    static constexpr MessageType Type = MessageType::Heartbeat;
};

/// "Still here" (remote connections), worker -> pool; no body.
struct WorkerHeartbeat
{
    static constexpr MessageType Type = MessageType::WorkerHeartbeat;
};

/// Remote connections: the worker may start this task, sent to it before.
/// What it was never allowed to start, it did not start: a worker gone
/// silent leaves that fact behind, and those tasks run elsewhere.
struct StartTask
{
    static constexpr MessageType Type = MessageType::StartTask;
    quint64 taskId = 0;
};

struct RevokeTask
{
    static constexpr MessageType Type = MessageType::RevokeTask;
    quint64 taskId = 0;
};

struct SuspendTask
{
    static constexpr MessageType Type = MessageType::SuspendTask;
    quint64 taskId = 0;
    quint8 suspended = 0; // 1: suspend, 0: resume
};

struct TaskResults
{
    static constexpr MessageType Type = MessageType::TaskResults;
    quint64 taskId = 0;
    quint32 resultCount = 0;
    QByteArray results; // resultCount values, back to back
};

struct TaskProgress
{
    static constexpr MessageType Type = MessageType::TaskProgress;
    quint64 taskId = 0;
    qint32 minimum = 0;
    qint32 maximum = 0;
    qint32 value = 0;
    QString text;
};

struct TaskStarted
{
    static constexpr MessageType Type = MessageType::TaskStarted;
    quint64 taskId = 0;
};

struct TaskFinished
{
    static constexpr MessageType Type = MessageType::TaskFinished;
    quint64 taskId = 0;
    quint32 resultCount = 0;
    detail::Payload results; // as RunTask::arguments
};

struct TaskFailed
{
    static constexpr MessageType Type = MessageType::TaskFailed;
    quint64 taskId = 0;
    quint8 kind = 0; // TaskError::Kind
    QString message;
    QString remoteType;
};

QByteArray encodeBody(const Challenge &m);
QByteArray encodeBody(const Hello &m);
QByteArray encodeBody(const RunTask &m);
QByteArray encodeBody(const CancelTask &m);
QByteArray encodeBody(const RevokeTask &m);
QByteArray encodeBody(const StartTask &m);
QByteArray encodeBody(const Heartbeat &m);
QByteArray encodeBody(const WorkerHeartbeat &m);
QByteArray encodeBody(const SuspendTask &m);
QByteArray encodeBody(const TaskResults &m);
QByteArray encodeBody(const TaskProgress &m);
QByteArray encodeBody(const TaskStarted &m);
QByteArray encodeBody(const TaskFinished &m);
QByteArray encodeBody(const TaskFailed &m);

bool decodeBody(const QByteArray &body, Challenge *m);
bool decodeBody(const QByteArray &body, Hello *m);
bool decodeBody(const QByteArray &body, RunTask *m);
bool decodeBody(const QByteArray &body, CancelTask *m);
bool decodeBody(const QByteArray &body, RevokeTask *m);
bool decodeBody(const QByteArray &body, StartTask *m);
bool decodeBody(const QByteArray &body, Heartbeat *m);
bool decodeBody(const QByteArray &body, WorkerHeartbeat *m);
bool decodeBody(const QByteArray &body, SuspendTask *m);
bool decodeBody(const QByteArray &body, TaskResults *m);
bool decodeBody(const QByteArray &body, TaskProgress *m);
bool decodeBody(const QByteArray &body, TaskStarted *m);
bool decodeBody(const QByteArray &body, TaskFinished *m);
bool decodeBody(const QByteArray &body, TaskFailed *m);

/// The whole frame of a message that may carry a large payload, written in
/// one buffer (no copy of the body into the frame).
QByteArray encodeMessage(const RunTask &m);
QByteArray encodeMessage(const TaskResults &m);
QByteArray encodeMessage(const TaskFinished &m);

/// Adds the frame of a message to out, leaving a large payload in its own
/// buffer (see OutgoingFrames).
void appendMessage(OutgoingFrames &out, const RunTask &m);
void appendMessage(OutgoingFrames &out, const TaskFinished &m);

/// The whole frame (header and body) of a message.
template <typename Message>
QByteArray encodeMessage(const Message &m)
{
    return encodeFrame(quint16(Message::Type), encodeBody(m));
}

/// Decodes a frame as Message: false if the type differs or the body is malformed.
template <typename Message>
bool decodeMessage(const Frame &frame, Message *m)
{
    return frame.type == quint16(Message::Type) && decodeBody(frame.body, m);
}

} // namespace QtProcessPool::protocol

#endif
