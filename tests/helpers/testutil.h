// SPDX-License-Identifier: MIT
// Waiting and inspection helpers shared by the integration tests.
#ifndef QTPROCESSPOOL_TESTS_TESTUTIL_H
#define QTPROCESSPOOL_TESTS_TESTUTIL_H

#include <QtProcessPool/TaskError>

#include <QtCore/QDir>
#include <QtCore/QFuture>
#include <QtTest/QTest>

#include <cerrno>
#include <csignal>
#include <optional>
#include <sys/types.h>

namespace TestUtil {

constexpr int Generous = 60000; // ms; the machine is small and shared

/// Runs the event loop until the future finishes (true) or ms pass (false).
template <typename T>
bool finishes(const QFuture<T> &future, int ms = Generous)
{
    return QTest::qWaitFor([&] { return future.isFinished(); }, ms);
}

/// The TaskError a future failed with, if any (waits for it to finish).
template <typename T>
std::optional<QtProcessPool::TaskError> errorOf(QFuture<T> future)
{
    try {
        future.waitForFinished();
    } catch (const QtProcessPool::TaskError &error) {
        return error;
    }
    return std::nullopt;
}

/// True when no process has that pid; a zombie would still answer kill(pid, 0).
inline bool processGone(qint64 pid)
{
    return ::kill(pid_t(pid), 0) == -1 && errno == ESRCH;
}

/// Threads of this process, as the kernel counts them (/proc/self/task).
inline int threadCount()
{
    return int(QDir(QStringLiteral("/proc/self/task"))
                   .entryList(QDir::Dirs | QDir::NoDotAndDotDot)
                   .size());
}

} // namespace TestUtil

#endif
