// SPDX-License-Identifier: MIT
// Tasks for the exact-outcome fault tests: each appends its index to a log
// file opened with O_APPEND before anything else, so a test can count how
// often every task ran, then behaves as its fault says.
#ifndef QTPROCESSPOOL_TESTS_FAULTTASKS_H
#define QTPROCESSPOOL_TESTS_FAULTTASKS_H

#include <QtCore/QList>
#include <QtCore/QString>

namespace FaultTasks {

enum Fault {
    None,          // returns index * 2
    Abort,         // abort(): SIGABRT
    Segv,          // a write through a null pointer: SIGSEGV
    ExitCode,      // _Exit(3)
    Terminate,     // std::terminate(): SIGABRT
    StackOverflow, // unbounded recursion: SIGSEGV
    Throw,         // std::runtime_error("fault <index>")
    Hang,          // sleeps until killed (timeouts, cancel)
    SelfKill,      // SIGKILL from "outside" the pool: kill(getpid(), SIGKILL)
    FaultCount
};

/// Appends "<index>\n" to log (O_APPEND), sleeps ms, then does fault.
int faulty(const QString &log, int index, int fault, int ms);
/// Forks a helper that sleeps a minute, writes its pid to pidFile, then
/// does fault (Hang or Abort) after ms.
int forkHelperThen(const QString &pidFile, int fault, int ms);

/// Writes 10-byte lines to stdout as fast as it can for ms; returns how many.
qint64 floodStdout(int ms);

/// How often each index appears in log.
QList<int> runCounts(const QString &log, int tasks);
/// The indexes in log, in the order the tasks started.
QList<int> runOrder(const QString &log);

} // namespace FaultTasks

#endif
