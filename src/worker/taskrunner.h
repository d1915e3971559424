// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_WORKER_TASKRUNNER_H
#define QTPROCESSPOOL_WORKER_TASKRUNNER_H

// Runs the tasks the pool sends, one at a time, and turns what each does into
// the frames the worker answers with: TaskStarted, the results and progress of
// a QPromise task, then TaskFinished or TaskFailed (exceptions translated).
// It knows nothing of sockets or of who reads them: frames leave through a
// callback, so a test runs tasks with no process and no socket.
//
// Threads: execute() runs on one thread (the worker's main thread); select(),
// cancel(), setSuspended() and flush() may come from any other (the I/O
// thread). m_mutex guards the running task's state.

#include "protocol/frame.h"
#include "protocol/messages.h"

#include <QtProcessPool/registry.h>
#include <QtProcessPool/taskerror.h>

#include <QtCore/QMutex>

#include <atomic>
#include <functional>
#include <memory>

namespace QtProcessPool {

class TaskRunner
{
public:
    /// Writes frames to the pool now, in order: false when the pool is gone.
    /// Called on the thread of execute(), and on that of flush() (with the
    /// runner's lock held, so nothing the runner sends later can overtake them).
    using Deliver = std::function<bool(const protocol::OutgoingFrames &frames)>;
    /// Called on the thread of execute() when a QPromise task starts: until
    /// execute() returns, flush() should be called now and then.
    using PromiseStarted = std::function<void()>;

    explicit TaskRunner(Deliver deliver, PromiseStarted promiseStarted = {});
    TaskRunner(const TaskRunner &) = delete;
    TaskRunner &operator=(const TaskRunner &) = delete;

    /// Makes taskId the task execute() runs next: cancel() and setSuspended()
    /// for it count from now on. Call it where the task leaves the caller's
    /// queue, under the queue's lock, so no request falls in between. Any
    /// thread; execute() selects its task itself when this was not called.
    void select(quint64 taskId);

    /// Runs task on the calling thread. Appends TaskStarted to out and
    /// delivers out (a task that kills the process has been seen to start),
    /// then runs the task; appends its last results and progress and its end,
    /// TaskFinished or TaskFailed, to out, which the caller sends when it
    /// likes (with the next task's start, say). Returns false, without running
    /// the task, when that delivery fails. Never throws: a task's exception
    /// becomes a TaskFailed of kind Exception with its what() and type.
    bool execute(const protocol::RunTask &task, protocol::OutgoingFrames &out);

    /// Any thread. True, and the selected task is canceled (a QPromise task
    /// sees isCanceled(), a mapped() chunk stops between items), if it is taskId.
    bool cancel(quint64 taskId);
    /// Any thread. Suspends or resumes the selected task if it is taskId.
    void setSuspended(quint64 taskId, bool suspended);
    /// Any thread, while a QPromise task runs: delivers what it produced since
    /// the last time. False when no QPromise task runs (stop calling it).
    bool flush();

    /// Runs a task of its own through decoding, the registry, the call and the
    /// encoding of its end, delivering nothing, so that a fresh process pays
    /// its page faults before the first real task does.
    static void warmUp();

private:
    /// The task's frames after TaskStarted, but for a QPromise task's last updates.
    protocol::OutgoingFrames run(const protocol::RunTask &task);
    /// Decodes the calls and makes them: the frames that end the task early
    /// (a failure, a canceled chunk), or none.
    protocol::OutgoingFrames call(const protocol::RunTask &task, const detail::TaskEntry &entry,
                                  detail::TaskOutput &output);
    void promiseStarted(quint64 taskId, std::shared_ptr<detail::RunningPromise> promise);
    /// m_mutex held.
    void selectLocked(quint64 taskId);
    /// m_mutex held. What the running QPromise task produced since the last call.
    QByteArray takePromiseUpdates();

    const Deliver m_deliver;
    const PromiseStarted m_promiseStarted;

    QMutex m_mutex; // guards what follows, except the atomics
    bool m_selected = false;
    quint64 m_taskId = 0;                       // the selected task, if m_selected
    std::atomic<bool> m_cancelRequested{false}; // read between mapped() items
    std::atomic<bool> m_suspendRequested{false};
    std::shared_ptr<detail::RunningPromise> m_promise; // of the running QPromise task
    int m_resultsSent = 0;
    protocol::TaskProgress m_progress; // last progress sent
};

} // namespace QtProcessPool

#endif
