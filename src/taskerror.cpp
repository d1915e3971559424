// SPDX-License-Identifier: MIT
#include <QtProcessPool/detail/sink.h>
#include <QtProcessPool/taskerror.h>

namespace QtProcessPool {

TaskError::TaskError(Kind kind, const QString &message, const QString &remoteType, qint64 workerPid)
    : m_kind(kind)
    , m_message(message)
    , m_remoteType(remoteType)
    , m_workerPid(workerPid)
    , m_what(message.toUtf8())
{
}

const char *TaskError::what() const noexcept
{
    return m_what.constData();
}

void TaskError::raise() const
{
    throw *this;
}

TaskError *TaskError::clone() const
{
    return new TaskError(*this);
}

QString TaskError::kindName(Kind kind)
{
    switch (kind) {
    case Kind::Exception:
        return QStringLiteral("Exception");
    case Kind::Crashed:
        return QStringLiteral("Crashed");
    case Kind::TimedOut:
        return QStringLiteral("TimedOut");
    case Kind::UnknownTask:
        return QStringLiteral("UnknownTask");
    case Kind::BadArguments:
        return QStringLiteral("BadArguments");
    case Kind::ProtocolError:
        return QStringLiteral("ProtocolError");
    case Kind::WorkerStartFailed:
        return QStringLiteral("WorkerStartFailed");
    case Kind::QueueFull:
        return QStringLiteral("QueueFull");
    }
    return QStringLiteral("Unknown");
}

namespace detail {
ResultSink::~ResultSink() = default;
}

} // namespace QtProcessPool
