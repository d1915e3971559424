// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_SCHEDULER_H
#define QTPROCESSPOOL_SCHEDULER_H

#include "pool/taskqueue.h"
#include "pool/workerconnection.h"

#include <map>
#include <memory>
#include <utility>

namespace QtProcessPool {

/// Which task goes to which worker, and when: queued tasks to idle workers
/// (priority, then FIFO; suspended ones keep their place, canceled ones
/// leave), tasks sent ahead to busy workers so each starts the moment the
/// previous one ends, and unstarted tasks asked back for an idle worker. It
/// decides; the Host writes the frames and keeps the tasks' ledger. Does not
/// own tasks or workers. I/O thread only.
class Scheduler
{
public:
    class Host
    {
    public:
        /// Writes the task to the worker and records it as sent.
        virtual void send(WorkerConnection *worker, Task *task) = 0;
        /// A queued task whose future was canceled: take it out of the queue
        /// (with the rest of its mapped() call) and settle it.
        virtual void cancelQueued(Task *task) = 0;
        /// Asks the worker for a task it has not started back (Task::revoking).
        virtual void revoke(WorkerConnection *worker, Task *task) = 0;

    protected:
        ~Host() = default;
    };
    using Workers = std::map<int, std::unique_ptr<WorkerConnection>>;

    Scheduler(Host &host, const Workers &workers);

    TaskQueue &queue() { return m_queue; }
    const TaskQueue &queue() const { return m_queue; }
    WorkerConnection *idleWorker() const;

    /// Gives queued tasks to idle workers, best first. Returns how many
    /// suspended tasks it skipped over (they keep their place).
    size_t assignToIdle();
    /// When no worker is idle or starting: busy workers get their next tasks
    /// now, round by round, up to sendAheadDepth() each. Never to a worker
    /// that may be killed (its running task is settled or on a timer).
    void sendAhead(size_t suspendedCount, double recentRunNs);
    /// An idle worker while another holds tasks it has not started: the last
    /// of those is asked back (it returns unstarted, or starts anyway).
    void stealBack();
    /// Tasks in flight per worker to cover about 2 ms of work: 2 for long
    /// tasks (or none measured yet: recentRunNs < 0), up to 64 for tiny ones.
    /// roundTripNs: the worker's measured round trip (remote workers; -1:
    /// none), which the tasks in flight must cover too.
    static int sendAheadDepth(double recentRunNs, double roundTripNs = -1);
    /// How many tasks a remote worker may start beyond the one it runs
    /// (StartTask): as many as run in one round trip, so short tasks keep
    /// it busy; none for tasks that take ten round trips or more (or none
    /// measured yet), which start when the one before has ended, an idle
    /// round trip each. Those it was not allowed to start are queued again
    /// if it goes silent.
    static int startsAhead(double recentRunNs, double roundTripNs);
    /// A suspended task was skipped since the last call (so a resume must dispatch).
    bool takeSuspendedSkipped() { return std::exchange(m_suspendedSkipped, false); }

private:
    Host &m_host;
    const Workers &m_workers;
    TaskQueue m_queue;
    bool m_suspendedSkipped = false;
};

} // namespace QtProcessPool

#endif
