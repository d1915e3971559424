// SPDX-License-Identifier: MIT
// The engine, part three: how tasks end -- settlement, cancellation
// (futures polled), timeouts, and the kill that first asks back what a
// worker has not started.
#include "pool/engine.h"

#include "logging_p.h"

#include <algorithm>

namespace QtProcessPool {

using namespace protocol;

namespace {
constexpr int RevokeWaitMs = 500;  // a worker answers a RevokeTask by then (see killAfterRevoke())
constexpr int SweepCostShare = 50; // a sweep of the queue runs at most 1/50 of the time
} // namespace

Task *Engine::runningTask(WorkerConnection *w, quint64 taskId) const
{
    // Workers run their tasks in order: only the oldest one can be running.
    if (w->inFlight.empty() || w->inFlight.front()->id != taskId ||
        w->inFlight.front()->state != Task::State::Running) {
        return nullptr;
    }
    return w->inFlight.front();
}

void Engine::onFutureEvent(quint64 taskId, detail::ResultSink::Event event)
{
    Task *task = m_ledger.unsettled(taskId);
    if (!task || m_shuttingDown)
        return;
    switch (event) {
    case detail::ResultSink::Event::Canceled:
        cancelOne(task);
        break;
    case detail::ResultSink::Event::Suspending:
    case detail::ResultSink::Event::Resumed: {
        // Queued tasks of a suspended future wait in the queue (see dispatch());
        // a running one is told, and its suspendIfRequested() blocks.
        // A task sent ahead and not started is queued too: it is asked back
        // (it waits in the queue), and told in case it started meanwhile.
        const bool suspend = event == detail::ResultSink::Event::Suspending;
        WorkerConnection *w = task->state == Task::State::Queued ? nullptr : worker(task->slotId);
        if (w && w->link.isAttached() && w->state == WorkerConnection::State::Ready) {
            if (suspend && task->state == Task::State::Sent && !task->revoking)
                revoke(w, task);
            write(w, encodeMessage(SuspendTask{taskId, quint8(suspend)}));
        }
        if (!suspend)
            dispatch();
        break;
    }
    }
}

// A QFutureWatcher per task would tell us at once, but costs a QObject, its
// connections and a posted event per state change of every task; polling the
// few tasks in workers every FuturePollMs, and the queue now and then, costs
// next to nothing. (A mapped() call, one future for many chunks, keeps its
// watcher.)
void Engine::pollFutures()
{
    const Entry entry(this);
    if (m_ledger.isEmpty() || m_shuttingDown) {
        m_futurePoll.stop();
        return;
    }
    // Sent or running: the worker hears of a cancel or suspend within a tick.
    std::vector<quint64> inWorkers;
    for (const auto &entry : m_workers.all()) {
        for (Task *task : entry.second->inFlight) {
            if (!task->settled && !task->group)
                inWorkers.push_back(task->id);
        }
    }
    for (quint64 id : inWorkers) {
        Task *task = m_ledger.unsettled(id);
        if (!task)
            continue; // settled by an earlier one (its worker was killed)
        const detail::ResultSink &sink = task->sink();
        if (sink.isCanceled()) {
            onFutureEvent(id, detail::ResultSink::Event::Canceled);
        } else if (sink.isSuspendRequested() != task->suspendSeen) {
            task->suspendSeen = !task->suspendSeen;
            onFutureEvent(id, task->suspendSeen ? detail::ResultSink::Event::Suspending
                                                : detail::ResultSink::Event::Resumed);
        }
    }
    // Queued: canceled ones leave the queue (and the counts); resumed ones
    // may go now. A sweep costs time in proportion to the queue, so it waits
    // SweepCostShare times as long as the last one took: every tick for a
    // short queue, about every 100 ms for 100,000 tasks.
    const qint64 now = steadyNow();
    if (now < m_nextSweepAt)
        return;
    const std::vector<Task *> canceled = m_scheduler.queue().removeIf(
        [](Task *task) { return !task->group && task->sink().isCanceled(); });
    m_nextSweepAt = now + SweepCostShare * (steadyNow() - now);
    for (Task *task : canceled)
        m_ledger.cancel(task);
    const bool suspendedSkipped = m_scheduler.takeSuspendedSkipped(); // and cleared
    if (suspendedSkipped || !canceled.empty())
        dispatch(); // also brings the counts up to date
}

void Engine::cancelGroup(TaskGroup &group)
{
    if (m_shuttingDown)
        return;
    // By id: canceling one chunk may release others.
    const std::vector<quint64> ids = group.taskIds;
    for (quint64 id : ids) {
        if (Task *task = m_ledger.unsettled(id))
            cancelOne(task);
    }
}

void Engine::cancelOne(Task *task)
{
    if (task->state == Task::State::Queued) {
        m_scheduler.queue().remove(task); // never starts
        m_ledger.cancel(task);
        notifyCounts();
        return;
    }
    // Sent or running: the future ends now and nothing later reaches it. The
    // worker is told; a task that does not stop in time is killed with its worker.
    m_ledger.settle(task, Outcome::Canceled);
    WorkerConnection *w = worker(task->slotId);
    if (w && w->link.isAttached() && w->state == WorkerConnection::State::Ready) {
        write(w, encodeMessage(CancelTask{task->id}));
        if (task->state == Task::State::Running) {
            // What waits behind it runs elsewhere, out of reach of a grace kill.
            revokeFollowers(w);
            armCancelGrace(w, task);
        }
    }
    notifyCounts();
}

void Engine::armCancelGrace(WorkerConnection *w, Task *task)
{
    const qint64 grace = m_shared->cancelGracePeriodMs;
    if (grace <= 0) {
        killAfterRevoke(
            w, task, QStringLiteral("was killed: task '%1' was canceled").arg(task->request.name));
        return;
    }
    w->taskTimerIsCancelGrace = true;
    w->taskTimer.start(int(std::min<qint64>(grace, INT_MAX)));
}

qint64 Engine::timeoutOf(const Task *task) const
{
    return task->request.timeout.count() > 0 ? task->request.timeout.count()
                                             : m_shared->taskTimeoutMs.load();
}

void Engine::onTaskTimer(int slotId)
{
    const Entry entry(this);
    // Fresh facts first: with deliveries paused, the task's end may be
    // waiting unread in the socket.
    readEverythingSent(slotId);
    WorkerConnection *w = worker(slotId);
    // What was just read may have ended the task the timer was for and
    // started the next, which re-armed it (a timeout, a grace of its own):
    // this expiry is stale.
    if (!w || w->taskTimer.isActive() || w->state != WorkerConnection::State::Ready ||
        w->inFlight.empty() || w->inFlight.front()->state != Task::State::Running) {
        return;
    }
    Task *task = w->inFlight.front();
    if (w->taskTimerIsCancelGrace) {
        // The canceled task ended, and the one now running is healthy.
        if (!task->settled) {
            w->taskTimerIsCancelGrace = false;
            return;
        }
        killAfterRevoke(w, task,
                        QStringLiteral("was killed: task '%1' was still running %2 ms after it "
                                       "was canceled")
                            .arg(task->request.name)
                            .arg(m_shared->cancelGracePeriodMs));
        return;
    }
    if (task->settled)
        return;
    const qint64 timeout = timeoutOf(task);
    if (timeout <= 0)
        return; // the task the timer was for has ended; this one has no timeout
    const qint64 leftNs = task->startedAt + timeout * 1000000 - steadyNow();
    if (leftNs > 0) { // it started later than the timer was armed for
        w->taskTimer.start(int(std::min<qint64>(leftNs / 1000000 + 1, INT_MAX)));
        return;
    }
    const TaskError error(TaskError::Kind::TimedOut,
                          QStringLiteral("task '%1' ran longer than its timeout of %2 ms; its "
                                         "worker %3 was killed")
                              .arg(task->request.name)
                              .arg(timeout)
                              .arg(w->pid),
                          {}, w->pid);
    m_ledger.settle(task, Outcome::Failed, &error);
    killAfterRevoke(w, task,
                    QStringLiteral("was killed: task '%1' timed out").arg(task->request.name));
}

void Engine::revokeFollowers(WorkerConnection *w)
{
    for (size_t i = 1; i < w->inFlight.size(); ++i) {
        Task *task = w->inFlight[i];
        if (task->state == Task::State::Sent && !task->revoking)
            revoke(w, task);
    }
}

void Engine::killAfterRevoke(WorkerConnection *w, Task *culprit, const QString &reason)
{
    if (w->state != WorkerConnection::State::Ready || !w->killPending.isEmpty())
        return;
    // A task sent behind the culprit has not started, or the culprit would
    // have ended (and the kill be void): asked back, it comes back unstarted
    // or starts only after the culprit's end, which calls the kill off.
    w->killPending = reason;
    w->killForTask = culprit->id;
    revokeFollowers(w);
    w->timer.start(RevokeWaitMs);
    m_workers.publish(w);
    notifyCounts();
    settlePendingKill(w);
}

void Engine::settlePendingKill(WorkerConnection *w)
{
    if (w->killPending.isEmpty() || w->state != WorkerConnection::State::Ready)
        return;
    if (w->inFlight.empty() || w->inFlight.front()->id != w->killForTask ||
        w->inFlight.front()->state != Task::State::Running) {
        // The culprit ended after all: the worker is fine, nothing is killed.
        w->killPending.clear();
        w->timer.stop();
        m_workers.publish(w);
        dispatch();
        return;
    }
    const bool waiting = std::any_of(w->inFlight.begin() + 1, w->inFlight.end(),
                                     [](const Task *t) { return t->state == Task::State::Sent; });
    if (!waiting) {
        const Batch batch(this); // the revokes are out before the kill
        m_workers.kill(w, std::exchange(w->killPending, {}));
    }
}

void Engine::failQueued(TaskError::Kind kind, const QString &message)
{
    std::vector<quint64> ids;
    for (Task *task : m_scheduler.queue().takeAll())
        ids.push_back(task->id);
    // By id: failing one chunk of a mapped() call releases its siblings.
    for (quint64 id : ids) {
        if (Task *task = m_ledger.unsettled(id))
            m_ledger.fail(task, TaskError(kind, message));
    }
    notifyCounts();
}

} // namespace QtProcessPool
