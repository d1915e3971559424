// SPDX-License-Identifier: MIT
/// \file
/// Statistics: a snapshot of a pool's counts and timings.
#ifndef QTPROCESSPOOL_STATISTICS_H
#define QTPROCESSPOOL_STATISTICS_H

#include <QtProcessPool/taskerror.h>

#include <QtCore/QList>
#include <QtCore/QMap>

namespace QtProcessPool {

/// A snapshot of a pool's activity since it was created (ProcessPool::statistics()).
/// Counts are of tasks: a run() call is one task, a mapped() chunk is one task.
struct Statistics
{
    /// Milliseconds, over the most recent 10,000 tasks (mean: over all).
    struct Durations
    {
        double mean = 0;    ///< over all tasks measured
        double p50 = 0;     ///< median
        double p95 = 0;     ///< 95th percentile
        double p99 = 0;     ///< 99th percentile
        double max = 0;     ///< longest
        qint64 samples = 0; ///< all tasks measured
    };

    qint64 submitted = 0; ///< accepted by run()/mapped() (not those refused at once)
    qint64 finished = 0;  ///< with their results
    qint64 failed = 0;    ///< with a TaskError; by kind in failedByKind
    /// By QFuture::cancel(), the pool's destruction or the application quitting.
    qint64 canceled = 0;
    QMap<TaskError::Kind, qint64> failedByKind; ///< failed, by TaskError::Kind

    qint64 workersStarted = 0; ///< that connected (and ran the initializer)
    /// Ended without being asked to: a signal, an exit of their own, the OOM
    /// killer, someone else's kill (workerCrashed()).
    qint64 workersCrashed = 0;
    /// Killed by the pool's own decision: a task's timeout or cancel grace
    /// period, a protocol error (workerKilled()). Not counted as crashed.
    qint64 workersKilled = 0;
    /// Retired after maxTasksPerWorker / maxWorkerRss (workerRecycled()).
    qint64 workersRecycled = 0;
    /// Payloads (arguments or results) of at least 256 KiB that went through
    /// shared memory instead of the socket, both ways (Linux; 0 elsewhere and
    /// in the portable build).
    qint64 sharedMemoryTransfers = 0;

    Durations queueWait; ///< from run() to the start in a worker
    Durations runTime;   ///< from the start in a worker to the end

    int queuedTasks = 0;  ///< tasks not started yet, now (ProcessPool::queuedTaskCount())
    int runningTasks = 0; ///< tasks started and not ended, now
    int busyWorkers = 0;  ///< workers with a task, now
    int workers = 0;      ///< worker processes, now

    /// One worker process as it is now.
    struct WorkerInfo
    {
        /// Where the worker is in its life.
        enum class State {
            Starting, ///< launched, not yet connected (or running the initializer)
            Idle,     ///< ready, nothing sent to it
            Busy,     ///< running a task (or has tasks sent ahead)
            Retiring, ///< on its way out: recycled, idle-retired, canceled, crashed or killed
        };
        qint64 pid = 0;                ///< the worker's process id (on its host)
        State state = State::Starting; ///< now
        qint64 tasksDone = 0;          ///< tasks it ended, whatever their outcome
        /// Where it runs: empty for a local worker; for a remote one, the
        /// host name it gave (its launcher's destination until it connected).
        QString host;
        int group = 0; ///< ProcessPool::addWorkers()' id; 0 for a local worker
    };
    /// Every worker process of the pool, oldest first.
    QList<WorkerInfo> workerInfo;
};

} // namespace QtProcessPool

#endif
