// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_TASKLEDGER_H
#define QTPROCESSPOOL_TASKLEDGER_H

#include "pool/delivery.h"
#include "pool/processpool_p.h"

#include <memory>
#include <unordered_map>

namespace QtProcessPool {

/// Every unfinished task, and the one way each one ends. A task has two
/// columns: where it is (Task::State, changed only by move()) and whether its
/// future has finished (settled). settle() finishes the future once, after
/// taking the task out of the counts (Delivery::count()), and ends a
/// mapped() call's future with its first chunk that fails or is canceled;
/// release() forgets a settled task once no queue or worker holds it.
/// I/O thread only.
class TaskLedger
{
public:
    using Outcome = Delivery::Outcome;

    /// What the ledger needs from the engine.
    class Host
    {
    public:
        /// A chunk ended its mapped() call's future early: the other chunks
        /// are dropped (queued) or told to stop (running).
        virtual void cancelGroup(TaskGroup &group) = 0;

    protected:
        ~Host() = default;
    };

    TaskLedger(SharedState *shared, Delivery &delivery, Host &host);

    /// Takes a task from the inbox; gives it its id if it has none yet.
    Task *add(std::unique_ptr<Task> task);
    /// The task of that id if it is not settled yet, else nullptr.
    Task *unsettled(quint64 id) const;
    bool isEmpty() const { return m_tasks.empty(); }

    /// Queued -> Sent -> Running; Sent -> Queued only when it never started
    /// (given back, or its worker died first). A started task never goes back.
    static void move(Task *task, Task::State next);

    /// Finishes the task's future (once) and takes it out of the counts.
    void settle(Task *task, Outcome outcome, const TaskError *error = nullptr);
    /// Forgets a task; it must be settled and in no queue or worker.
    void release(Task *task);
    /// settle() and release() together.
    void finish(Task *task);
    void fail(Task *task, const TaskError &error);
    void cancel(Task *task);
    /// Shutdown: every future not finished yet is canceled at once (no
    /// counts, no pacing: nothing reaches the pool's thread any more), and
    /// every task is forgotten.
    void cancelAllAtShutdown();

private:
    SharedState *const m_shared;
    Delivery &m_delivery;
    Host &m_host;
    std::unordered_map<quint64, std::unique_ptr<Task>> m_tasks;
};

} // namespace QtProcessPool

#endif
