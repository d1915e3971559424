// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_TASKOPTIONS_H
#define QTPROCESSPOOL_TASKOPTIONS_H

#include <chrono>

namespace QtProcessPool {

/// Per-task options for ProcessPool::run().
struct TaskOptions
{
    /// Higher runs first among tasks not yet sent to a worker; FIFO within one priority.
    int priority = 0;
    /// 0: use the pool's taskTimeout(). Stored now; enforced once timeouts land
    /// (see README "Status"); until then no task is timed out.
    std::chrono::milliseconds timeout{0};
};

} // namespace QtProcessPool

#endif
