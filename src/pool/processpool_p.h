// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_PROCESSPOOL_P_H
#define QTPROCESSPOOL_PROCESSPOOL_P_H

#include <QtProcessPool/processpool.h>

#include "protocol/frame.h"

#include <QtCore/QMutex>
#include <QtCore/QThread>

#include <atomic>
#include <memory>
#include <vector>

namespace QtProcessPool {

class Engine;

/// The shared end of a mapped() call: one future, filled by several chunks.
/// Created on the pool's thread, then touched by the I/O thread only.
struct TaskGroup
{
    std::unique_ptr<detail::ResultSink> sink;
    int totalItems = 0;
    int finishedItems = 0;
    int pendingChunks = 0;    // chunks not settled yet
    bool settled = false;     // the future has finished
    std::vector<quint64> taskIds; // its chunks, in input order
};

/// One submitted task. Created on the pool's thread, owned by the engine (I/O
/// thread) once it leaves the inbox.
struct Task
{
    enum class State { Queued, Sent, Running };
    detail::TaskRequest request;
    quint64 id = 0;
    State state = State::Queued;
    /// Times the task went back to the queue because its worker died before
    /// starting it; bounded so a task that kills workers early cannot loop.
    int requeues = 0;
    /// The future has finished (result, error or canceled) and the counts no
    /// longer include the task; it may still occupy a worker until that worker
    /// reports back or dies.
    bool settled = false;
    int slotId = 0; // the worker it was sent to
    bool revoking = false; // sent ahead, and asked back (RevokeTask)
    /// Set for a chunk of mapped(): its results go to the group's future at
    /// firstIndex (request.sink is then null).
    std::shared_ptr<TaskGroup> group;
    int firstIndex = 0;
    int itemCount = 0;
};

/// State shared by the pool's thread and its I/O thread. Settings and counts
/// are atomics (read anywhere); the rest is guarded by its mutex.
struct SharedState
{
    std::atomic<int> maxWorkers{1};
    std::atomic<int> minWorkers{0};
    std::atomic<int> maxTasksPerWorker{0};
    std::atomic<int> maxQueuedTasks{0};
    std::atomic<qint64> idleTimeoutMs{0};
    std::atomic<qint64> taskTimeoutMs{0};
    std::atomic<qint64> cancelGracePeriodMs{1000};
    std::atomic<qint64> workerStartTimeoutMs{10000};
    std::atomic<qint64> maxMessageSize{protocol::DefaultMaxMessageSize};

    // Counts. queued: submitted but not started (inbox, queue, sent ahead);
    // running: started; outstanding: submitted and not yet finished.
    std::atomic<int> queued{0};
    std::atomic<int> running{0};
    std::atomic<int> outstanding{0};
    std::atomic<int> workers{0};
    std::atomic<int> busyWorkers{0};
    /// Set while a countsChanged notification is on its way to the pool's thread.
    std::atomic<bool> countsNotificationPending{false};

    mutable QMutex mutex; // guards everything below
    QString program;
    QStringList arguments;
    QProcessEnvironment environment;
    bool environmentSet = false;
    QString workingDirectory;
    QList<qint64> pids;
    std::vector<std::unique_ptr<Task>> inbox;
    std::vector<std::shared_ptr<TaskGroup>> groupInbox; // groups whose chunks are in inbox
};

class ProcessPoolPrivate
{
public:
    SharedState shared;
    QThread thread;         // the I/O thread
    Engine *engine = nullptr; // lives in thread
    int lastQueued = 0;     // last values signalled (pool's thread)
    int lastBusy = 0;
};

} // namespace QtProcessPool

#endif
