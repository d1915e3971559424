// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_TASKQUEUE_H
#define QTPROCESSPOOL_TASKQUEUE_H

#include <deque>
#include <functional>
#include <map>
#include <vector>

namespace QtProcessPool {

struct Task;

/// Tasks waiting for a worker: higher priority first, FIFO within a priority.
/// Does not own the tasks. I/O thread only.
class TaskQueue
{
public:
    void push(Task *task);
    /// Back to the head of its priority: for tasks that had already been
    /// dispatched once and must keep their place.
    void pushFront(Task *task);
    Task *peek() const;
    Task *pop();
    bool remove(Task *task);
    /// Removes the tasks for which pred is true; returns them in queue order.
    std::vector<Task *> removeIf(const std::function<bool(Task *)> &pred);
    bool isEmpty() const { return m_size == 0; }
    int size() const { return m_size; }
    /// Removes and returns every task, in dispatch order.
    std::deque<Task *> takeAll();

private:
    std::map<int, std::deque<Task *>, std::greater<int>> m_queues;
    int m_size = 0;
};

} // namespace QtProcessPool

#endif
