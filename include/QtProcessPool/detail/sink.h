// SPDX-License-Identifier: MIT
// Internal header of QtProcessPool; do not include directly.
#ifndef QTPROCESSPOOL_DETAIL_SINK_H
#define QTPROCESSPOOL_DETAIL_SINK_H

#include <QtProcessPool/detail/serialization.h>
#include <QtProcessPool/qtprocesspool_export.h>
#include <QtProcessPool/taskerror.h>

#include <QtCore/QFuture>
#include <QtCore/QPromise>
#include <QtCore/QStringList>

#include <chrono>
#include <memory>
#include <vector>

namespace QtProcessPool::detail {

/// The type-erased end of a task's QPromise. Created by run() on the caller's
/// thread, then owned and driven by the pool's I/O thread only.
class QTPROCESSPOOL_EXPORT ResultSink
{
public:
    virtual ~ResultSink();
    /// Decodes count values written with StreamVersion and adds them in order.
    /// Returns false (adding nothing) if the bytes are not exactly that.
    virtual bool addResults(const QByteArray &bytes, int count) = 0;
    virtual void fail(const TaskError &error) = 0;
    virtual void finish() = 0;
    virtual void cancelAndFinish() = 0;
    virtual bool isCanceled() const = 0;
};

template <typename T>
class PromiseSink final : public ResultSink
{
public:
    PromiseSink() { m_promise.start(); }
    QFuture<T> future() { return m_promise.future(); }

    bool addResults(const QByteArray &bytes, int count) override
    {
        if constexpr (std::is_void_v<T>) {
            return count == 0 && bytes.isEmpty();
        } else {
            QDataStream in(bytes);
            in.setVersion(StreamVersion);
            std::vector<T> values(static_cast<size_t>(count));
            for (T &value : values) {
                if (!readValue(in, value))
                    return false;
            }
            if (!in.atEnd())
                return false;
            for (T &value : values)
                m_promise.addResult(std::move(value));
            return true;
        }
    }
    void fail(const TaskError &error) override
    {
        m_promise.setException(error);
        m_promise.finish();
    }
    void finish() override { m_promise.finish(); }
    void cancelAndFinish() override
    {
        m_promise.future().cancel();
        m_promise.finish();
    }
    bool isCanceled() const override { return m_promise.isCanceled(); }

private:
    QPromise<T> m_promise;
};

/// Everything the pool needs to run one task; built by the run() templates.
struct TaskRequest
{
    QString name;
    QStringList argTypes;
    QString resultType;
    QByteArray arguments;
    int priority = 0;
    std::chrono::milliseconds timeout{0};
    std::unique_ptr<ResultSink> sink;
};

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
