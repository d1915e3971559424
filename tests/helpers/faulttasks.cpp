// SPDX-License-Identifier: MIT
#include "faulttasks.h"

#include <QtProcessPool/Registry>

#include <QtCore/QElapsedTimer>
#include <QtCore/QFile>
#include <QtCore/QThread>

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <fcntl.h>
#include <stdexcept>
#include <unistd.h>

namespace FaultTasks {

namespace {

void appendLine(const QString &path, const QByteArray &line)
{
    const int fd = ::open(QFile::encodeName(path).constData(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd < 0)
        return;
    // One write: lines of concurrent workers never interleave.
    [[maybe_unused]] const ssize_t written = ::write(fd, line.constData(), size_t(line.size()));
    ::close(fd);
}

int recurse(int depth)
{
    volatile char frame[4096];
    frame[0] = char(depth);
    return recurse(depth + 1) + frame[0];
}

[[noreturn]] void hang()
{
    for (;;)
        QThread::sleep(60);
}

} // namespace

int faulty(const QString &log, int index, int fault, int ms)
{
    appendLine(log, QByteArray::number(index) + '\n');
    if (ms > 0)
        QThread::msleep(ms);
    switch (Fault(fault)) {
    case None:
    case FaultCount:
        return index * 2;
    case Abort:
        std::abort();
    case Segv: {
        // Unmapped, but not null: UBSan would stop a null write first.
        volatile int *nowhere = reinterpret_cast<volatile int *>(std::uintptr_t(16));
        *nowhere = index;
        return 0;
    }
    case ExitCode:
        std::_Exit(3);
    case Terminate:
        std::terminate();
    case StackOverflow:
        return recurse(index);
    case Throw:
        throw std::runtime_error("fault " + std::to_string(index));
    case Hang:
        hang();
    case SelfKill:
        ::kill(::getpid(), SIGKILL);
        hang();
    }
    return -1;
}

int forkHelperThen(const QString &pidFile, int fault, int ms)
{
    const pid_t child = ::fork();
    if (child == 0) {
        // The helper holds the worker's descriptors, its socket among them.
        ::sleep(60);
        ::_exit(0);
    }
    appendLine(pidFile, QByteArray::number(qint64(child)) + '\n');
    if (ms > 0)
        QThread::msleep(ms);
    if (fault == Abort)
        std::abort();
    hang();
}

qint64 floodStdout(int ms)
{
    QByteArray chunk;
    for (int i = 0; i < 6553; ++i)
        chunk += "012345678\n";
    QElapsedTimer clock;
    clock.start();
    qint64 bytes = 0;
    while (clock.elapsed() < ms) {
        for (qsizetype done = 0; done < chunk.size();) {
            const ssize_t n = ::write(1, chunk.constData() + done, size_t(chunk.size() - done));
            if (n <= 0)
                return -1;
            done += n;
        }
        bytes += chunk.size();
    }
    return bytes / 10;
}

QList<int> runOrder(const QString &log)
{
    QList<int> order;
    QFile file(log);
    if (!file.open(QIODevice::ReadOnly))
        return order;
    for (const QByteArray &line : file.readAll().split('\n')) {
        bool ok = false;
        const int index = line.toInt(&ok);
        if (ok)
            order.append(index);
    }
    return order;
}

QList<int> runCounts(const QString &log, int tasks)
{
    QList<int> counts(tasks, 0);
    for (int index : runOrder(log)) {
        if (index >= 0 && index < tasks)
            ++counts[index];
    }
    return counts;
}

} // namespace FaultTasks

QPP_REGISTER_TASK_AS("faults.faulty", &FaultTasks::faulty)
QPP_REGISTER_TASK_AS("faults.forkHelperThen", &FaultTasks::forkHelperThen)
QPP_REGISTER_TASK_AS("faults.floodStdout", &FaultTasks::floodStdout)
