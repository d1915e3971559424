// SPDX-License-Identifier: MIT
/// \file
/// TaskError: why a task's future failed.
#ifndef QTPROCESSPOOL_TASKERROR_H
#define QTPROCESSPOOL_TASKERROR_H

#include <QtProcessPool/qtprocesspool_export.h>

#include <QtCore/QByteArray>
#include <QtCore/QException>
#include <QtCore/QString>
#include <QtCore/qobjectdefs.h> // Q_GADGET, Q_ENUM

namespace QtProcessPool {

/// Why a task's future failed. Reaches the caller through QFuture: result() and
/// waitForFinished() rethrow it, and onFailed(const QtProcessPool::TaskError &)
/// handlers receive it. A plain value type; copy it freely, from any thread.
///
/// A Q_GADGET, so that Kind is a Q_ENUM: qDebug() prints its name
/// (QtProcessPool::TaskError::Kind::Crashed), QMetaEnum::fromType<Kind>()
/// names every value, and QML sees the names.
class QTPROCESSPOOL_EXPORT TaskError : public QException
{
    Q_GADGET
public:
    /// What went wrong; the README's table says when each happens.
    enum class Kind {
        Exception,     ///< the task threw; message() is what(), remoteType() its type
        Crashed,       ///< the worker died while running the task (signal or exit code in message)
        TimedOut,      ///< the task ran past its timeout and its worker was killed
        UnknownTask,   ///< no task registered under that name / function
        BadArguments,  ///< arguments do not match the registered signature, or do not decode
        ProtocolError, ///< the worker broke the protocol
        WorkerStartFailed, ///< no worker could be started or connected
        QueueFull,         ///< maxQueuedTasks reached
        /// A remote worker's connection broke, or it went silent, while it
        /// ran the task (ProcessPool::addWorkers()): it may still have run.
        WorkerLost
    };
    Q_ENUM(Kind)

    /// An error of kind with a human-readable message; remoteType names the
    /// exception type a task threw, workerPid the worker involved (0: none).
    TaskError(Kind kind, const QString &message, const QString &remoteType = {},
              qint64 workerPid = 0);

    /// What went wrong.
    Kind kind() const noexcept { return m_kind; }
    /// Human-readable, e.g. "worker 4242 crashed with SIGSEGV (Segmentation fault)".
    QString message() const { return m_message; }
    /// Demangled type name of the exception the task threw (Kind::Exception), else empty.
    QString remoteType() const { return m_remoteType; }
    /// Pid of the worker involved; 0 when no worker was involved.
    qint64 workerPid() const noexcept { return m_workerPid; }

    /// The message, UTF-8 encoded.
    const char *what() const noexcept override;
    /// Throws a copy of this error (QException; how QFuture carries it across threads).
    void raise() const override;
    /// A heap copy of this error, owned by the caller (QException).
    TaskError *clone() const override;

    /// "Crashed", "UnknownTask", ... (for logs and messages).
    static QString kindName(Kind kind);

private:
    Kind m_kind;
    QString m_message;
    QString m_remoteType;
    qint64 m_workerPid;
    QByteArray m_what;
};

} // namespace QtProcessPool

#endif
