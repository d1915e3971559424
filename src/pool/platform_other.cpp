// SPDX-License-Identifier: MIT
// The pool's OS pieces where there is no POSIX (see platform.h): portable
// fallbacks. Nothing here is Linux's hardening; the secret alone proves a
// worker, and a worker's helpers are not ended with it.
#include "pool/platform.h"

#include <QtNetwork/QLocalSocket>

#include <csignal>

namespace QtProcessPool::platform {

QString signalName(int signal)
{
    switch (signal) {
    case SIGSEGV:
        return QStringLiteral("SIGSEGV");
    case SIGABRT:
        return QStringLiteral("SIGABRT");
    case SIGFPE:
        return QStringLiteral("SIGFPE");
    case SIGILL:
        return QStringLiteral("SIGILL");
    case SIGTERM:
        return QStringLiteral("SIGTERM");
    case SIGINT:
        return QStringLiteral("SIGINT");
    default:
        return QStringLiteral("signal %1").arg(signal);
    }
}

QString describeProcessEnd(const QProcess &process, bool startFailed)
{
    if (startFailed && process.error() == QProcess::FailedToStart)
        return QStringLiteral("failed to start: %1").arg(process.errorString());
    if (process.exitStatus() == QProcess::CrashExit)
        return QStringLiteral("crashed (exit code %1)").arg(process.exitCode());
    return QStringLiteral("exited with code %1").arg(process.exitCode());
}

qint64 residentMemory(qint64)
{
    return -1;
}

bool peerIsSameUser(const QLocalSocket &, qint64 *peerPid)
{
    *peerPid = 0;
    return true;
}

qint64 currentKernelThreadId()
{
    return 0;
}

qint64 threadCpuTime(qint64)
{
    return -1;
}

void prepareChild(QProcess *, const ChildSetup &) {}

void killProcessGroup(qint64) {}

int bytesInKernel(qintptr)
{
    return -1;
}

void closeDescriptor(int) {}

int duplicateSocket(qintptr)
{
    return -1;
}

void readWaiting(int, QByteArray *) {}

} // namespace QtProcessPool::platform
