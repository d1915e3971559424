// SPDX-License-Identifier: MIT
#include "pool/taskledger.h"

namespace QtProcessPool {

TaskLedger::TaskLedger(SharedState *shared, Delivery &delivery, Host &host)
    : m_shared(shared)
    , m_delivery(delivery)
    , m_host(host)
{
}

Task *TaskLedger::add(std::unique_ptr<Task> task)
{
    if (task->id == 0)
        task->id = m_shared->nextTaskId++;
    Task *raw = task.get();
    m_tasks.emplace(raw->id, std::move(task));
    return raw;
}

Task *TaskLedger::unsettled(quint64 id) const
{
    const auto it = m_tasks.find(id);
    return it == m_tasks.end() || it->second->settled ? nullptr : it->second.get();
}

void TaskLedger::move(Task *task, Task::State next)
{
    Q_ASSERT(next == Task::State::Queued ? task->state == Task::State::Sent
                                         : int(next) == int(task->state) + 1);
    task->state = next;
}

void TaskLedger::settle(Task *task, Outcome outcome, const TaskError *error)
{
    Q_ASSERT(!task->settled);
    m_delivery.count(*task, outcome, error);
    task->settled = true;
    if (TaskGroup *group = task->group.get()) {
        --group->pendingChunks;
        if (!group->settled && (outcome != Outcome::Finished || group->pendingChunks == 0)) {
            group->settled = true;
            m_delivery.finish(*group->sink, outcome, error);
            if (outcome != Outcome::Finished)
                m_host.cancelGroup(*group);
        }
        if (--m_shared->outstanding == 0)
            m_delivery.notifyIdle();
        return;
    }
    m_delivery.finish(*task->request.sink, outcome, error);
    // After the future finished: when outstanding reaches 0, every future is done.
    if (--m_shared->outstanding == 0)
        m_delivery.notifyIdle();
    m_delivery.noteDelivered();
}

void TaskLedger::release(Task *task)
{
    m_tasks.erase(task->id); // deletes it
}

void TaskLedger::finish(Task *task)
{
    settle(task, Outcome::Finished);
    release(task);
}

void TaskLedger::fail(Task *task, const TaskError &error)
{
    settle(task, Outcome::Failed, &error);
    release(task);
}

void TaskLedger::cancel(Task *task)
{
    settle(task, Outcome::Canceled);
    release(task);
}

void TaskLedger::cancelAllAtShutdown()
{
    for (auto &entry : m_tasks) {
        Task *task = entry.second.get();
        if (task->settled)
            continue;
        if (TaskGroup *group = task->group.get()) {
            if (!group->settled) {
                group->settled = true;
                group->sink->cancelAndFinish();
            }
        } else {
            task->request.sink->cancelAndFinish();
        }
        --m_shared->outstanding;
    }
    m_tasks.clear();
}

} // namespace QtProcessPool
