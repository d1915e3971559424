// SPDX-License-Identifier: MIT
// Worker mode: isWorkerProcess() and execWorker(), the process's bootstrap.
// Reads the pool's socket name (argv) and credentials (stdin), sets the
// process up, then runs the main thread's event loop -- tasks run there --
// while a PoolConnection on an I/O thread talks to the pool. Main thread.
#include "platformfeatures_p.h"
#include "protocol/messages.h"
#include "worker/poolconnection.h"
#include "worker/taskrunner.h"

#include <QtProcessPool/worker.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QSemaphore>
#include <QtCore/QThread>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#ifdef Q_OS_UNIX
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif
#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace QtProcessPool {

namespace {

using protocol::JoinFlag;
using protocol::WorkerFlag;

/// Payloads are read into fresh buffers, which glibc maps anew for each one
/// and gives back when freed (above M_MMAP_THRESHOLD, or when the free space
/// at the top of the heap passes M_TRIM_THRESHOLD): every page of every large
/// argument is then faulted in again, which costs more than copying it (a
/// 1 MiB echo ran at 140 MB/s instead of 440 in the benchmark). A worker
/// starts at the thresholds glibc's own dynamic adjustment ends at after its
/// first large free (32 MiB and twice that), so buffers up to 32 MiB are
/// reused from message to message. Only in worker processes.
void keepLargeBuffersWarm()
{
#ifdef __GLIBC__
    constexpr int MmapThreshold = 32 * 1024 * 1024;
    mallopt(M_MMAP_THRESHOLD, MmapThreshold);
    mallopt(M_TRIM_THRESHOLD, 2 * MmapThreshold);
#endif
}

/// One byte of stdin, unbuffered where POSIX allows; false at its end.
bool readStdinByte(char *c)
{
#ifdef Q_OS_UNIX
    return ::read(STDIN_FILENO, c, 1) == 1;
#else
    const int got = std::fgetc(stdin);
    *c = char(got);
    return got != EOF;
#endif
}

/// Reads "<slot> <secret in hex>[ <side channel fd>]\n" from stdin, written
/// there by the pool; a remote worker's (remote: its pool is "tls:...") ends
/// with the pool's certificate fingerprint in hex instead. *bodiesFd is -1
/// without a usable side channel (always without QPP_HAVE_LINUX_FEATURES:
/// the pool makes none).
/// From stdin ("slot secret [fingerprint or side channel]"), or from the
/// join token in the arguments ("slot.secret.fingerprint", remote only).
bool readCredentials(bool remote, const QByteArray &joinToken, quint32 *slotId, QByteArray *secret,
                     int *bodiesFd, QByteArray *fingerprint)
{
    std::string line;
    char c;
    while (joinToken.isEmpty() && line.size() < 1024 && readStdinByte(&c) && c != '\n')
        line.push_back(c);
    const QList<QByteArray> parts =
        joinToken.isEmpty() ? QByteArray::fromStdString(line).split(' ') : joinToken.split('.');
    if (!joinToken.isEmpty() && (!remote || parts.size() != 3))
        return false;
    if (parts.size() != 2 && parts.size() != 3)
        return false;
    bool ok = false;
    *slotId = parts[0].toUInt(&ok);
    *secret = QByteArray::fromHex(parts[1]);
    *bodiesFd = -1;
    if (remote) {
        *fingerprint = parts.size() == 3 ? QByteArray::fromHex(parts[2]) : QByteArray();
        return ok && !secret->isEmpty() && fingerprint->size() == 32;
    }
#ifdef QPP_HAVE_LINUX_FEATURES
    if (parts.size() == 3) {
        bool fdOk = false;
        const int fd = parts[2].toInt(&fdOk);
        struct stat info
        {
        };
        if (fdOk && fd > STDERR_FILENO && ::fstat(fd, &info) == 0 && S_ISSOCK(info.st_mode)) {
            ::fcntl(fd, F_SETFD, FD_CLOEXEC); // not for processes the tasks start
            *bodiesFd = fd;
        }
    }
#endif
    return ok && !secret->isEmpty();
}

} // namespace

bool isWorkerProcess(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::strcmp(argv[i], WorkerFlag) == 0)
            return true;
    }
    return false;
}

int execWorker(int argc, char **argv)
{
    QString serverName;
    QByteArray joinToken;
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::strcmp(argv[i], WorkerFlag) == 0)
            serverName = QString::fromLocal8Bit(argv[i + 1]);
        else if (std::strcmp(argv[i], JoinFlag) == 0)
            joinToken = QByteArray(argv[i + 1]);
    }
    quint32 slotId = 0;
    QByteArray secret;
    int bodiesFd = -1;
    QByteArray fingerprint;
    const bool remote = serverName.startsWith(QLatin1String("tls:"));
    if (serverName.isEmpty() ||
        !readCredentials(remote, joinToken, &slotId, &secret, &bodiesFd, &fingerprint)) {
        std::fprintf(stderr, "QtProcessPool: this program was started as a worker without a "
                             "pool to serve; exiting\n");
        return 2;
    }

    keepLargeBuffersWarm();
    // Qt's own event dispatcher rather than GLib's, for the worker's two
    // threads (unless the environment chose): GLib's signals its wake-up
    // eventfd whenever a socket notifier is switched, two writes and a read
    // more per task. Set while they are made, then as it was.
    const bool chooseDispatcher =
        !QCoreApplication::instance() && !qEnvironmentVariableIsSet("QT_NO_GLIB");
    if (chooseDispatcher)
        qputenv("QT_NO_GLIB", "1");
    std::unique_ptr<QCoreApplication> ownApp;
    if (!QCoreApplication::instance())
        ownApp = std::make_unique<QCoreApplication>(argc, argv);

    QThread ioThread;
    ioThread.setObjectName(QStringLiteral("QtProcessPool worker I/O"));
    auto *connection = new PoolConnection(serverName, slotId, secret, bodiesFd, fingerprint);
    connection->moveToThread(&ioThread);
    ioThread.start();
    if (chooseDispatcher) { // once the thread runs events, its dispatcher exists
        QSemaphore running;
        QMetaObject::invokeMethod(
            connection, [&running] { running.release(); }, Qt::QueuedConnection);
        running.acquire();
        qunsetenv("QT_NO_GLIB");
    }
    QMetaObject::invokeMethod(
        connection, [connection] { connection->start(); }, Qt::QueuedConnection);
    // As an event, so the path a task takes into the main thread warms up too.
    QMetaObject::invokeMethod(
        QCoreApplication::instance(),
        [connection] {
            TaskRunner::warmUp();
            connection->markWarm();
        },
        Qt::QueuedConnection);

    const int code = QCoreApplication::exec();
    ioThread.quit();
    ioThread.wait();
    delete connection; // its thread has finished: safe to delete from here
    return code;
}

} // namespace QtProcessPool
