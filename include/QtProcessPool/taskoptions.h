// SPDX-License-Identifier: MIT
/// \file
/// TaskOptions: priority and timeout of one task.
#ifndef QTPROCESSPOOL_TASKOPTIONS_H
#define QTPROCESSPOOL_TASKOPTIONS_H

#include <chrono>

namespace QtProcessPool {

/// Per-task options for ProcessPool::run().
struct TaskOptions
{
    /// Higher runs first among tasks not yet sent to a worker; FIFO within one priority.
    int priority = 0;
    /// Longest the task may run once started in a worker; past it the future
    /// fails with TaskError::TimedOut and the worker is killed and replaced.
    /// 0: use the pool's taskTimeout().
    std::chrono::milliseconds timeout{0};
};

} // namespace QtProcessPool

#endif
