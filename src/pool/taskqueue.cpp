// SPDX-License-Identifier: MIT
#include "pool/taskqueue.h"

#include "pool/processpool_p.h"

#include <algorithm>

namespace QtProcessPool {

void TaskQueue::push(Task *task)
{
    m_queues[task->request.priority].push_back(task);
    ++m_size;
}

void TaskQueue::pushFront(Task *task)
{
    m_queues[task->request.priority].push_front(task);
    ++m_size;
}

Task *TaskQueue::peek() const
{
    return m_queues.empty() ? nullptr : m_queues.begin()->second.front();
}

Task *TaskQueue::pop()
{
    if (m_queues.empty())
        return nullptr;
    auto it = m_queues.begin();
    Task *task = it->second.front();
    it->second.pop_front();
    if (it->second.empty())
        m_queues.erase(it);
    --m_size;
    return task;
}

bool TaskQueue::remove(Task *task)
{
    const auto it = m_queues.find(task->request.priority);
    if (it == m_queues.end())
        return false;
    auto &queue = it->second;
    const auto pos = std::find(queue.begin(), queue.end(), task);
    if (pos == queue.end())
        return false;
    queue.erase(pos);
    if (queue.empty())
        m_queues.erase(it);
    --m_size;
    return true;
}

std::vector<Task *> TaskQueue::removeIf(const std::function<bool(Task *)> &pred)
{
    std::vector<Task *> removed;
    for (auto it = m_queues.begin(); it != m_queues.end();) {
        auto &queue = it->second;
        const auto keep = std::stable_partition(queue.begin(), queue.end(),
                                                [&](Task *task) { return !pred(task); });
        removed.insert(removed.end(), keep, queue.end());
        queue.erase(keep, queue.end());
        it = queue.empty() ? m_queues.erase(it) : std::next(it);
    }
    m_size -= int(removed.size());
    return removed;
}

std::deque<Task *> TaskQueue::takeAll()
{
    std::deque<Task *> all;
    while (Task *task = pop())
        all.push_back(task);
    return all;
}

} // namespace QtProcessPool
