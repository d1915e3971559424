// SPDX-License-Identifier: MIT
// Counting the system calls of running processes with perf, for
// qtprocesspool-cpucost.
#ifndef QTPROCESSPOOL_BENCH_SYSCALLCOUNT_H
#define QTPROCESSPOOL_BENCH_SYSCALLCOUNT_H

#include <QtCore/QList>
#include <QtCore/QProcess>
#include <QtCore/QString>
#include <QtCore/QTemporaryDir>

namespace Bench {

/// Counts the system calls every thread of some processes enters between
/// start() and stop(): `perf stat -e raw_syscalls:sys_enter -p PIDS`,
/// attached beforehand with counting disabled and switched on and off
/// through its control FIFO, so neither perf's start-up nor its end is in
/// the count. Calls the vDSO answers without entering the kernel
/// (clock_gettime) are not system calls and do not count. Needs perf
/// (Debian: linux-perf) and the right to trace the processes (root, or
/// kernel.perf_event_paranoid <= -1 for tracepoints).
class SyscallCounter
{
public:
    explicit SyscallCounter(const QList<qint64> &pids);
    ~SyscallCounter();
    SyscallCounter(const SyscallCounter &) = delete;
    SyscallCounter &operator=(const SyscallCounter &) = delete;

    /// Switches counting on; false if perf is missing or failed (error() says why).
    bool start();
    /// Switches counting off.
    bool stop();
    /// After stop(): ends perf and reads its count; -1 if none (see error()).
    qint64 count();
    QString error() const { return m_error; }

private:
    /// Sends "enable" or "disable" and waits for perf's "ack".
    bool command(const char *text);
    bool fail(const QString &why);

    QTemporaryDir m_dir;
    QProcess m_perf;
    int m_control = -1;
    int m_ack = -1;
    QString m_error;
};

} // namespace Bench

#endif
