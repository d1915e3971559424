// SPDX-License-Identifier: MIT
#include "pool/scheduler.h"

#include "pool/processpool_p.h"

#include <algorithm>
#include <cmath>

namespace QtProcessPool {

namespace {

constexpr double SendAheadBudgetNs = 2e6; // queued work per busy worker: 2 ms
constexpr int MaxSendAhead = 64;          // tasks in flight per worker, at most

} // namespace

Scheduler::Scheduler(Host &host, const Workers &workers)
    : m_host(host)
    , m_workers(workers)
{
}

WorkerConnection *Scheduler::idleWorker() const
{
    for (const auto &entry : m_workers) {
        if (entry.second->isIdle())
            return entry.second.get();
    }
    return nullptr;
}

size_t Scheduler::assignToIdle()
{
    std::vector<Task *> suspended; // skipped over, keeping their place
    while (Task *task = m_queue.peek()) {
        const detail::ResultSink &sink = task->sink();
        if (sink.isSuspendRequested() && !sink.isCanceled()) {
            suspended.push_back(m_queue.pop());
            m_suspendedSkipped = true;
            continue;
        }
        if (sink.isCanceled()) {
            m_host.cancelQueued(task); // never runs
            continue;
        }
        WorkerConnection *worker = idleWorker();
        if (!worker)
            break;
        m_queue.pop();
        m_host.send(worker, task);
    }
    for (auto it = suspended.rbegin(); it != suspended.rend(); ++it)
        m_queue.pushFront(*it);
    return suspended.size();
}

int Scheduler::sendAheadDepth(double recentRunNs, double roundTripNs)
{
    // Enough to cover SendAheadBudgetNs of work: one task ahead for long
    // tasks, more for tiny ones, whose round trip would otherwise leave the
    // worker waiting. A worker far away also gets enough to run while its
    // next task travels: its round trip's worth, and the one running.
    if (recentRunNs < 0)
        return 2;
    double depth = SendAheadBudgetNs / std::max(recentRunNs, 1.0);
    if (roundTripNs > 0)
        depth = std::max(depth, std::ceil(roundTripNs / std::max(recentRunNs, 1.0)) + 1);
    return int(std::clamp(depth, 2.0, double(MaxSendAhead)));
}

int Scheduler::startsAhead(double recentRunNs, double roundTripNs)
{
    if (recentRunNs < 0 || roundTripNs < 0 || recentRunNs >= 10 * roundTripNs)
        return 0;
    const double ahead = std::ceil(roundTripNs / std::max(recentRunNs, 1.0));
    return int(std::clamp(ahead, 1.0, double(MaxSendAhead)));
}

void Scheduler::sendAhead(size_t suspendedCount, double recentRunNs)
{
    if (m_queue.size() <= int(suspendedCount))
        return;
    for (const auto &entry : m_workers) {
        if (entry.second->state == WorkerConnection::State::Starting)
            return;
    }
    for (bool sent = true; sent;) {
        sent = false;
        for (const auto &entry : m_workers) {
            WorkerConnection *w = entry.second.get();
            const size_t depth = size_t(sendAheadDepth(recentRunNs, w->roundTripNs));
            // Its running task is canceled, timed out or on a deadline we
            // cannot predict: it may be killed, and what waits behind with it.
            if (!w->acceptsWork() || w->inFlight.empty() || w->inFlight.size() >= depth ||
                w->inFlight.front()->settled || w->taskTimer.isActive()) {
                continue;
            }
            Task *task = m_queue.peek();
            if (!task || task->sink().isSuspendRequested() || task->sink().isCanceled())
                return;
            m_queue.pop();
            m_host.send(w, task);
            sent = true;
        }
    }
}

void Scheduler::stealBack()
{
    if (!m_queue.isEmpty() || !idleWorker())
        return;
    for (const auto &entry : m_workers) {
        WorkerConnection *w = entry.second.get();
        if (w->state != WorkerConnection::State::Ready || w->inFlight.size() < 2)
            continue;
        Task *task = w->inFlight.back();
        if (task->state == Task::State::Sent && !task->settled && !task->revoking)
            m_host.revoke(w, task);
    }
}

} // namespace QtProcessPool
