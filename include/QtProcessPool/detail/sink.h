// SPDX-License-Identifier: MIT
// Internal header of QtProcessPool; do not include directly.
#ifndef QTPROCESSPOOL_DETAIL_SINK_H
#define QTPROCESSPOOL_DETAIL_SINK_H

#include <QtProcessPool/detail/serialization.h>
#include <QtProcessPool/qtprocesspool_export.h>
#include <QtProcessPool/taskerror.h>

#include <QtCore/QFuture>
#include <QtCore/QFutureInterface>
#include <QtCore/QFutureWatcher>
#include <QtCore/QPromise>
#include <QtCore/QStringList>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace QtProcessPool::detail {

/// The type-erased end of a task's promise. Created by run() on the caller's
/// thread, then owned and driven by the pool's I/O thread only.
class QTPROCESSPOOL_EXPORT ResultSink
{
public:
    virtual ~ResultSink();
    /// Decodes count values written with StreamVersion and adds them in order,
    /// as one batch, at beginIndex (-1: after the last). Returns false (adding
    /// nothing) if the bytes are not exactly that.
    virtual bool addResults(const QByteArray &bytes, int count, int beginIndex = -1) = 0;
    virtual void setProgress(int minimum, int maximum, int value, const QString &text) = 0;
    virtual void fail(const TaskError &error) = 0;
    virtual void finish() = 0;
    virtual void cancelAndFinish() = 0;
    virtual bool isCanceled() const = 0;
    enum class Event { Canceled, Suspending, Resumed };
    /// Calls onEvent (in context's thread) when the caller cancels, suspends
    /// or resumes the future.
    virtual void watch(QObject *context, std::function<void(Event)> onEvent) = 0;
    /// The caller asked to suspend the future (and has not resumed it).
    virtual bool isSuspendRequested() const = 0;
};

template <typename T>
class PromiseSink final : public ResultSink
{
public:
    PromiseSink() { m_interface.reportStarted(); }
    ~PromiseSink() override
    {
        // Finishing exactly once is the engine's job; this only guards against leaks.
        if (!m_interface.isFinished()) {
            m_interface.cancel();
            m_interface.reportFinished();
        }
    }
    QFuture<T> future() { return m_interface.future(); }

    bool addResults(const QByteArray &bytes, int count, int beginIndex = -1) override
    {
        if constexpr (std::is_void_v<T>) {
            return count == 0 && bytes.isEmpty();
        } else {
            if (count == 0)
                return bytes.isEmpty();
            QDataStream in(bytes);
            in.setVersion(StreamVersion);
            // Each value takes at least one byte, which bounds the reservation;
            // a type whose form can be empty has a fixed bound instead.
            if (count < 0 ||
                (count > bytes.size() && (count > MaxEmptyFormResults || !hasEmptyForm<T>()))) {
                return false;
            }
            QList<T> values(count);
            for (T &value : values) {
                if (!readValue(in, value))
                    return false;
            }
            if (!in.atEnd())
                return false;
            // One batch: one resultsReadyAt for watchers.
            m_interface.reportResults(values, beginIndex, count);
            return true;
        }
    }
    void setProgress(int minimum, int maximum, int value, const QString &text) override
    {
        m_interface.setProgressRange(minimum, maximum);
        m_interface.setProgressValueAndText(value, text);
    }
    void fail(const TaskError &error) override
    {
        m_interface.reportException(error);
        m_interface.reportFinished();
    }
    void finish() override { m_interface.reportFinished(); }
    void cancelAndFinish() override
    {
        m_interface.cancel();
        m_interface.reportFinished();
    }
    bool isCanceled() const override { return m_interface.isCanceled(); }
    void watch(QObject *context, std::function<void(Event)> onEvent) override
    {
        m_watcher = std::make_unique<QFutureWatcher<T>>();
        m_watcher->moveToThread(context->thread());
        QObject::connect(m_watcher.get(), &QFutureWatcherBase::canceled, context,
                         [onEvent] { onEvent(Event::Canceled); });
        QObject::connect(m_watcher.get(), &QFutureWatcherBase::suspending, context,
                         [onEvent] { onEvent(Event::Suspending); });
        QObject::connect(m_watcher.get(), &QFutureWatcherBase::resumed, context,
                         [onEvent] { onEvent(Event::Resumed); });
        m_watcher->setFuture(m_interface.future());
    }
    bool isSuspendRequested() const override
    {
        return m_interface.isSuspending() || m_interface.isSuspended();
    }

private:
    QFutureInterface<T> m_interface;
    std::unique_ptr<QFutureWatcher<T>> m_watcher;
};

/// Everything the pool needs to run one task; built by the run() templates.
struct TaskRequest
{
    QString name;
    QStringList argTypes;
    QString resultType;
    Payload arguments; // serialized (serializeArguments())
    int priority = 0;
    std::chrono::milliseconds timeout{0};
    /// Results one call must deliver: 1 (0 for void) for a plain task; -1 for
    /// a QPromise task, or one this process has not registered (any number).
    int expectedResults = -1;
    std::unique_ptr<ResultSink> sink;
};

/// A mapped() call: the items, serialized in chunks, and the one future they fill.
struct MapRequest
{
    QString name;
    QStringList argTypes;
    QString resultType;
    std::vector<std::pair<Payload, int>> chunks; // serialized items, item count
    int totalItems = 0;
    std::unique_ptr<ResultSink> sink;
};

/// Items per chunk when mapped() is given 0: about four chunks per worker, so
/// the load balances, capped so results and progress still flow.
inline int autoChunkSize(qsizetype items, int workers)
{
    const qsizetype perChunk = (items + 4 * qsizetype(workers) - 1) / (4 * qsizetype(workers));
    return int(std::clamp<qsizetype>(perChunk, 1, 4096));
}

/// A future that has already failed (unknown task, bad arguments, full queue).
template <typename T>
QFuture<T> failedFuture(const TaskError &error)
{
    PromiseSink<T> sink;
    QFuture<T> future = sink.future();
    sink.fail(error);
    return future;
}

} // namespace QtProcessPool::detail

#endif
