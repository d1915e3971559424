// SPDX-License-Identifier: MIT
#include <QtProcessPool/detail/sink.h>
#include <QtProcessPool/taskerror.h>

#include <QtCore/QMetaEnum>

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
    const char *name = QMetaEnum::fromType<Kind>().valueToKey(int(kind));
    return name ? QString::fromLatin1(name) : QStringLiteral("Unknown");
}

namespace detail {
ResultSink::~ResultSink() = default;
}

} // namespace QtProcessPool
