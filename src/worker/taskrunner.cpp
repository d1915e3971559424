// SPDX-License-Identifier: MIT
// TaskRunner: a task from its RunTask to its last frame -- the registry look-up,
// the signature check, the calls, the QPromise updates and the translation of
// exceptions. execute() runs on the worker's main thread; the requests and
// flush() come from the I/O thread (see taskrunner.h).
#include "worker/taskrunner.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QDataStream>
#include <QtCore/QThread>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <string>
#include <typeinfo>

#if defined(__GNUC__) || defined(__clang__)
#include <cxxabi.h>
#define QPP_HAVE_CXXABI 1
#endif

namespace QtProcessPool {

namespace {

using namespace protocol;

constexpr int SuspendPollMs = 5; // a suspended mapped() chunk checks for resume this often
constexpr char WarmUpTaskName[] = "qtprocesspool.warmup"; // see TaskRunner::warmUp()

int warmUpTask(int value)
{
    return value + 1;
}

QString demangle(const char *mangled)
{
#ifdef QPP_HAVE_CXXABI
    int status = 0;
    char *name = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
    if (status == 0 && name) {
        QString result = QString::fromUtf8(name);
        std::free(name);
        return result;
    }
#endif
    return QString::fromUtf8(mangled);
}

/// Name of the exception being handled, for catch (...).
QString currentExceptionType()
{
#ifdef QPP_HAVE_CXXABI
    if (const std::type_info *type = abi::__cxa_current_exception_type())
        return demangle(type->name());
#endif
    return QStringLiteral("unknown");
}

OutgoingFrames failure(quint64 taskId, TaskError::Kind kind, const QString &message,
                       const QString &type = {})
{
    OutgoingFrames out;
    out.append(encodeMessage(TaskFailed{taskId, quint8(kind), message, type}));
    return out;
}

/// Inside a catch block: the failure the exception being handled stands for.
OutgoingFrames exceptionFailure(quint64 taskId)
{
    constexpr auto Exception = TaskError::Kind::Exception;
    try {
        throw;
    } catch (const std::exception &e) {
        return failure(taskId, Exception, QString::fromUtf8(e.what()), demangle(typeid(e).name()));
    } catch (const char *text) {
        return failure(taskId, Exception, QString::fromUtf8(text), QStringLiteral("const char*"));
    } catch (const std::string &text) {
        return failure(taskId, Exception, QString::fromStdString(text),
                       QStringLiteral("std::string"));
    } catch (const QString &text) {
        return failure(taskId, Exception, text, QStringLiteral("QString"));
    } catch (...) {
        const QString type = currentExceptionType();
        return failure(taskId, Exception,
                       QStringLiteral("the task threw an exception of type %1").arg(type), type);
    }
}

} // namespace

QPP_REGISTER_TASK_AS(WarmUpTaskName, &warmUpTask)

TaskRunner::TaskRunner(Deliver deliver, PromiseStarted promiseStarted)
    : m_deliver(std::move(deliver))
    , m_promiseStarted(std::move(promiseStarted))
{
}

void TaskRunner::select(quint64 taskId)
{
    QMutexLocker lock(&m_mutex);
    selectLocked(taskId);
}

void TaskRunner::selectLocked(quint64 taskId)
{
    m_selected = true;
    m_taskId = taskId;
    m_cancelRequested = false;
    m_suspendRequested = false;
}

bool TaskRunner::execute(const RunTask &task, OutgoingFrames &out)
{
    {
        QMutexLocker lock(&m_mutex);
        if (!m_selected || m_taskId != task.taskId)
            selectLocked(task.taskId);
    }
    out.append(encodeMessage(TaskStarted{task.taskId}));
    const bool delivered = m_deliver(out);
    out.clear();
    OutgoingFrames end;
    if (delivered)
        end = run(task);
    // The last results and progress of a QPromise task precede its end.
    QMutexLocker lock(&m_mutex);
    out.append(takePromiseUpdates());
    m_promise.reset();
    m_selected = false;
    out.append(std::move(end));
    return delivered;
}

OutgoingFrames TaskRunner::run(const RunTask &task)
{
    const detail::TaskEntry *entry = detail::findTask(task.name);
    if (!entry) {
        return failure(task.taskId, TaskError::Kind::UnknownTask,
                       QStringLiteral("no task is registered under the name '%1' in %2")
                           .arg(task.name, QCoreApplication::applicationFilePath()));
    }
    const QString mismatch = detail::signatureMismatch(*entry, task.argTypes, task.resultType);
    if (!mismatch.isEmpty())
        return failure(task.taskId, TaskError::Kind::BadArguments, mismatch);

    detail::TaskOutput output;
    output.promiseStarted = [this, id = task.taskId](std::shared_ptr<detail::RunningPromise> p) {
        promiseStarted(id, std::move(p));
    };
    OutgoingFrames early = call(task, *entry, output);
    if (!early.isEmpty())
        return early;
    output.stream.reset(); // results complete
    if (output.results.size() > AbsoluteMaxMessageSize - 64) {
        return failure(task.taskId, TaskError::Kind::ProtocolError,
                       QStringLiteral("the result of task '%1' is %2 bytes, too large for one "
                                      "message")
                           .arg(task.name)
                           .arg(output.results.size()));
    }
    OutgoingFrames finished;
    appendMessage(finished, TaskFinished{task.taskId, quint32(output.resultCount),
                                         std::move(output.results)});
    return finished;
}

OutgoingFrames TaskRunner::call(const RunTask &task, const detail::TaskEntry &entry,
                                detail::TaskOutput &output)
{
    const auto badArguments = [&] {
        return failure(task.taskId, TaskError::Kind::BadArguments,
                       QStringLiteral("the arguments of task '%1' do not decode as (%2)")
                           .arg(task.name, entry.argTypes.join(QStringLiteral(", "))));
    };
    QDataStream in(task.arguments.flattened());
    in.setVersion(detail::StreamVersion);
    const quint32 calls = std::max<quint32>(task.itemCount, 1);
    try {
        for (quint32 call = 0; call < calls; ++call) {
            // A chunk of mapped() stops between items when canceled, and
            // waits there while suspended.
            while (call > 0 && m_suspendRequested && !m_cancelRequested)
                QThread::msleep(SuspendPollMs);
            if (call > 0 && m_cancelRequested) {
                OutgoingFrames canceled;
                canceled.append(encodeMessage(TaskFinished{task.taskId, 0, {}}));
                return canceled;
            }
            if (!entry.invoke(in, output))
                return badArguments();
        }
        if (!in.atEnd())
            return badArguments();
    } catch (...) {
        return exceptionFailure(task.taskId);
    }
    return {};
}

bool TaskRunner::cancel(quint64 taskId)
{
    QMutexLocker lock(&m_mutex);
    if (!m_selected || taskId != m_taskId)
        return false;
    m_cancelRequested = true; // QPromise tasks see isCanceled(); others run on
    if (m_promise)
        m_promise->cancel();
    return true;
}

void TaskRunner::setSuspended(quint64 taskId, bool suspended)
{
    QMutexLocker lock(&m_mutex);
    if (!m_selected || taskId != m_taskId)
        return;
    m_suspendRequested = suspended;
    if (m_promise)
        m_promise->setSuspended(suspended);
}

bool TaskRunner::flush()
{
    // Delivered under the lock: execute() takes the task's last updates and
    // end only after these have gone out.
    QMutexLocker lock(&m_mutex);
    if (!m_promise)
        return false;
    OutgoingFrames frames;
    frames.append(takePromiseUpdates());
    if (!frames.isEmpty())
        m_deliver(frames);
    return true;
}

// execute()'s thread, from inside the task's invoker, before a QPromise task runs.
void TaskRunner::promiseStarted(quint64 taskId, std::shared_ptr<detail::RunningPromise> promise)
{
    {
        QMutexLocker lock(&m_mutex);
        if (!m_selected || taskId != m_taskId)
            return;
        m_promise = std::move(promise);
        m_resultsSent = 0;
        m_progress = TaskProgress{};
        if (m_cancelRequested)
            m_promise->cancel();
        if (m_suspendRequested)
            m_promise->setSuspended(true);
    }
    if (m_promiseStarted)
        m_promiseStarted();
}

QByteArray TaskRunner::takePromiseUpdates()
{
    QByteArray frames;
    if (!m_promise)
        return frames;
    const int count = m_promise->resultCount();
    if (count > m_resultsSent) {
        appendFrame(frames, quint16(MessageType::TaskResults),
                    encodeBody(TaskResults{m_taskId, quint32(count - m_resultsSent),
                                           m_promise->serializeResults(m_resultsSent, count)}));
        m_resultsSent = count;
    }
    TaskProgress progress{m_taskId, 0, 0, 0, {}};
    m_promise->progress(&progress.minimum, &progress.maximum, &progress.value, &progress.text);
    if (progress.minimum != m_progress.minimum || progress.maximum != m_progress.maximum ||
        progress.value != m_progress.value || progress.text != m_progress.text) {
        m_progress = progress;
        appendFrame(frames, quint16(MessageType::TaskProgress), encodeBody(progress));
    }
    return frames;
}

void TaskRunner::warmUp()
{
    // The same path as a real task, the encoding of what would be sent included.
    TaskRunner runner([](const OutgoingFrames &frames) {
        frames.toByteArray();
        return true;
    });
    const RunTask task{0,
                       QString::fromLatin1(WarmUpTaskName),
                       {QStringLiteral("int")},
                       QStringLiteral("int"),
                       0,
                       detail::serializeArguments(static_cast<std::tuple<int> *>(nullptr), 1)};
    RunTask decoded;
    if (decodeBody(encodeBody(task), &decoded)) {
        OutgoingFrames out;
        runner.execute(decoded, out);
        out.toByteArray();
    }
}

} // namespace QtProcessPool
