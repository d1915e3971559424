// SPDX-License-Identifier: MIT
// The pool's OS pieces on Linux and other Unix systems (see platform.h). The
// Linux-only ones (QPP_HAVE_LINUX_FEATURES) are off on other Unix systems and
// in the portable build; descriptor-level socket calls follow
// QPP_HAVE_RAW_SOCKETS (platformfeatures_p.h).
#include "pool/platform.h"

#include <QtCore/QFile>
#include <QtNetwork/QLocalSocket>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef QPP_HAVE_LINUX_FEATURES
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#if __has_include(<linux/close_range.h>)
#include <linux/close_range.h>
#endif
#endif

namespace QtProcessPool::platform {

namespace {

/// Between fork and exec (async-signal-safe): only stdin, stdout and stderr
/// reach the worker. Descriptors the application opened without O_CLOEXEC --
/// files, sockets, other pools' pipes -- close at exec.
void closeInheritedDescriptorsOnExec()
{
#if defined(QPP_HAVE_LINUX_FEATURES) && defined(SYS_close_range) && defined(CLOSE_RANGE_CLOEXEC)
    if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return;
#endif
    rlimit files{};
    const int last = ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY
                         ? int(std::min<rlim_t>(files.rlim_cur, 65536))
                         : 65536;
    for (int fd = 3; fd < last; ++fd) {
        const int flags = ::fcntl(fd, F_GETFD);
        if (flags >= 0 && !(flags & FD_CLOEXEC))
            ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
}

} // namespace

QString signalName(int signal)
{
    switch (signal) {
#define QPP_SIGNAL_CASE(name)                                                                      \
    case name:                                                                                     \
        return QStringLiteral(#name);
        QPP_SIGNAL_CASE(SIGSEGV)
        QPP_SIGNAL_CASE(SIGABRT)
        QPP_SIGNAL_CASE(SIGKILL)
        QPP_SIGNAL_CASE(SIGTERM)
        QPP_SIGNAL_CASE(SIGBUS)
        QPP_SIGNAL_CASE(SIGFPE)
        QPP_SIGNAL_CASE(SIGILL)
        QPP_SIGNAL_CASE(SIGINT)
        QPP_SIGNAL_CASE(SIGPIPE)
        QPP_SIGNAL_CASE(SIGTRAP)
        QPP_SIGNAL_CASE(SIGHUP)
        QPP_SIGNAL_CASE(SIGQUIT)
        QPP_SIGNAL_CASE(SIGXCPU)
        QPP_SIGNAL_CASE(SIGXFSZ)
        QPP_SIGNAL_CASE(SIGSYS)
        QPP_SIGNAL_CASE(SIGUSR1)
        QPP_SIGNAL_CASE(SIGUSR2)
        QPP_SIGNAL_CASE(SIGALRM)
#undef QPP_SIGNAL_CASE
    default:
        return QStringLiteral("signal %1").arg(signal);
    }
}

QString describeProcessEnd(const QProcess &process, bool startFailed)
{
    if (startFailed && process.error() == QProcess::FailedToStart)
        return QStringLiteral("failed to start: %1").arg(process.errorString());
    if (process.exitStatus() == QProcess::CrashExit) {
        // On Unix QProcess reports the terminating signal as the exit code.
        const int signal = process.exitCode();
        QString text = QStringLiteral("crashed with %1").arg(signalName(signal));
        if (const char *description = ::strsignal(signal))
            text += QStringLiteral(" (%1)").arg(QString::fromLocal8Bit(description));
        return text;
    }
    return QStringLiteral("exited with code %1").arg(process.exitCode());
}

qint64 residentMemory(qint64 pid)
{
#ifdef QPP_HAVE_LINUX_FEATURES
    QFile statm(QStringLiteral("/proc/%1/statm").arg(pid));
    if (!statm.open(QIODevice::ReadOnly))
        return -1;
    const QList<QByteArray> fields = statm.readAll().split(' ');
    bool ok = false;
    const qint64 pages = fields.size() > 1 ? fields[1].toLongLong(&ok) : 0;
    return ok ? pages * ::sysconf(_SC_PAGESIZE) : -1;
#else
    Q_UNUSED(pid);
    return -1;
#endif
}

bool peerIsSameUser(const QLocalSocket &socket, qint64 *peerPid)
{
    *peerPid = 0;
#ifdef QPP_HAVE_LINUX_FEATURES
    ucred credentials{};
    socklen_t size = sizeof(credentials);
    if (::getsockopt(int(socket.socketDescriptor()), SOL_SOCKET, SO_PEERCRED, &credentials,
                     &size) != 0) {
        return false;
    }
    *peerPid = credentials.pid;
    return credentials.uid == ::geteuid();
#else
    Q_UNUSED(socket);
    return true;
#endif
}

qint64 currentKernelThreadId()
{
#ifdef QPP_HAVE_LINUX_FEATURES
    return qint64(::syscall(SYS_gettid));
#else
    return 0;
#endif
}

qint64 threadCpuTime(qint64 kernelThreadId)
{
#ifdef QPP_HAVE_LINUX_FEATURES
    if (kernelThreadId <= 0)
        return -1;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/task/%lld/schedstat",
                  static_cast<long long>(kernelThreadId));
    std::FILE *file = std::fopen(path, "re");
    if (!file)
        return -1;
    long long ns = -1;
    if (std::fscanf(file, "%lld", &ns) != 1)
        ns = -1;
    std::fclose(file);
    return ns;
#else
    Q_UNUSED(kernelThreadId);
    return -1;
#endif
}

void prepareChild(QProcess *process, const ChildSetup &setup)
{
    const pid_t parent = ::getpid();
    const rlim_t memoryLimit = rlim_t(setup.memoryLimit);
    const int inherited = setup.inheritedFd;
    process->setChildProcessModifier([parent, memoryLimit, inherited] {
        // Runs in the child between fork and exec: async-signal-safe calls only.
        // Its own process group: a task's helpers (fork, startDetached) end
        // with it (killProcessGroup()).
        ::setpgid(0, 0);
        if (memoryLimit > 0) {
            const rlimit limit{memoryLimit, memoryLimit};
            ::setrlimit(RLIMIT_AS, &limit);
        }
        closeInheritedDescriptorsOnExec();
        if (inherited >= 0)
            ::fcntl(inherited, F_SETFD, 0);
#ifdef QPP_HAVE_LINUX_FEATURES
        // The worker dies with this thread's process even if it is SIGKILLed;
        // if the parent is already gone, the signal would never come.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent)
            ::_exit(1);
#else
        Q_UNUSED(parent);
#endif
    });
}

void killProcessGroup(qint64 pid)
{
    // The group outlives its leader while members remain, and its id is not
    // reused meanwhile, so this reaches only the worker's own helpers.
    if (pid > 0)
        ::kill(-pid_t(pid), SIGKILL);
}

int bytesInKernel(qintptr descriptor)
{
#ifdef QPP_HAVE_RAW_SOCKETS
    int waiting = 0;
    if (descriptor < 0 || ::ioctl(int(descriptor), FIONREAD, &waiting) != 0)
        return -1;
    return std::max(waiting, 0);
#else
    Q_UNUSED(descriptor);
    return -1;
#endif
}

void closeDescriptor(int fd)
{
    if (fd >= 0)
        ::close(fd);
}

int duplicateSocket(qintptr descriptor)
{
    return descriptor < 0 ? -1 : ::fcntl(int(descriptor), F_DUPFD_CLOEXEC, 0);
}

void readWaiting(int fd, QByteArray *bytes)
{
    char buffer[65536];
    while (fd >= 0) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n > 0)
            bytes->append(buffer, qsizetype(n));
        else if (n == 0 || errno != EINTR)
            return; // the end, nothing more now (EAGAIN), or the peer reset it
    }
}

} // namespace QtProcessPool::platform
