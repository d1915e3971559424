// SPDX-License-Identifier: MIT
#include "pool/workerconnection.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtCore/QRegularExpression>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstring>

#ifdef Q_OS_UNIX
#include <sys/stat.h>
#include <unistd.h>
#endif
#ifdef Q_OS_LINUX
#include <sys/socket.h>
#include <sys/types.h>
#endif

namespace QtProcessPool {

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
#ifdef SIGHUP
        QPP_SIGNAL_CASE(SIGHUP)
        QPP_SIGNAL_CASE(SIGQUIT)
        QPP_SIGNAL_CASE(SIGXCPU)
        QPP_SIGNAL_CASE(SIGXFSZ)
        QPP_SIGNAL_CASE(SIGSYS)
        QPP_SIGNAL_CASE(SIGUSR1)
        QPP_SIGNAL_CASE(SIGUSR2)
        QPP_SIGNAL_CASE(SIGALRM)
#endif
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
#ifdef Q_OS_UNIX
        if (const char *description = ::strsignal(signal))
            text += QStringLiteral(" (%1)").arg(QString::fromLocal8Bit(description));
#endif
        return text;
    }
    return QStringLiteral("exited with code %1").arg(process.exitCode());
}

qint64 residentMemory(qint64 pid)
{
#ifdef Q_OS_LINUX
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
#ifdef Q_OS_LINUX
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

} // namespace QtProcessPool
