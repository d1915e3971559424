// SPDX-License-Identifier: MIT
#include "pool/socketdirectory.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtCore/QRegularExpression>

#include <cerrno>
#include <climits>
#include <csignal>

#ifdef Q_OS_UNIX
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#endif

namespace QtProcessPool {

namespace {

/// The longest socket path a local socket address holds (without its NUL).
qsizetype maxSocketPath()
{
#ifdef Q_OS_UNIX
    return qsizetype(sizeof(sockaddr_un::sun_path)) - 1;
#else
    return 256; // named pipes: no such limit that matters here
#endif
}

} // namespace

QStringList socketDirectoryCandidates()
{
    QStringList candidates;
#ifdef Q_OS_UNIX
    // $XDG_RUNTIME_DIR is per user and private by specification; use it only
    // when it really is: a directory of ours that nobody else can enter.
    const QByteArray runtime = qgetenv("XDG_RUNTIME_DIR");
    struct stat info = {};
    if (!runtime.isEmpty() && ::lstat(runtime.constData(), &info) == 0 && S_ISDIR(info.st_mode) &&
        info.st_uid == ::geteuid() && (info.st_mode & 0077) == 0) {
        candidates.append(QFile::decodeName(runtime));
    }
#endif
    // $TMPDIR as given (QDir::tempPath() turns a missing one into "/").
    const QString temp = qEnvironmentVariableIsEmpty("TMPDIR")
                             ? QDir::tempPath()
                             : QDir::cleanPath(qEnvironmentVariable("TMPDIR"));
    if (!candidates.contains(temp))
        candidates.append(temp);
#ifdef Q_OS_UNIX
    if (!candidates.contains(QStringLiteral("/tmp")))
        candidates.append(QStringLiteral("/tmp"));
#endif
    return candidates;
}

std::unique_ptr<QTemporaryDir> createSocketDirectory(QString *error, const QStringList &candidates)
{
    QStringList refused;
    for (const QString &base : candidates.isEmpty() ? socketDirectoryCandidates() : candidates) {
        // The random part has as many characters as the template's XXXXXX.
        const qsizetype pathSize = QFile::encodeName(socketDirectoryTemplate(base)).size() + 1 +
                                   qsizetype(sizeof SocketFileName) - 1;
        if (pathSize > maxSocketPath()) {
            refused.append(QStringLiteral("%1: the socket path would be %2 bytes, more than the "
                                          "%3 a local socket address holds")
                               .arg(base)
                               .arg(pathSize)
                               .arg(maxSocketPath()));
            continue;
        }
        removeStaleSocketDirectories(base);
        auto directory = std::make_unique<QTemporaryDir>(socketDirectoryTemplate(base));
        if (!directory->isValid()) {
            refused.append(QStringLiteral("%1: %2").arg(base, directory->errorString()));
            continue;
        }
        return directory;
    }
    *error = QStringLiteral("no directory for the pool's socket could be made (%1)")
                 .arg(refused.join(QStringLiteral("; ")));
    return nullptr;
}

QString socketDirectoryTemplate(const QString &base)
{
    return QStringLiteral("%1/%2%3-XXXXXX")
        .arg(base, QLatin1String(SocketDirectoryPrefix))
        .arg(QCoreApplication::applicationPid());
}

int removeStaleSocketDirectories(const QString &base)
{
    int removed = 0;
#ifdef Q_OS_UNIX
    static const QRegularExpression name(
        QStringLiteral("^%1(\\d+)-[A-Za-z0-9]{6}$").arg(QLatin1String(SocketDirectoryPrefix)));
    const QStringList candidates =
        QDir(base).entryList({QLatin1String(SocketDirectoryPrefix) + QLatin1Char('*')},
                             QDir::Dirs | QDir::NoSymLinks | QDir::Hidden);
    for (const QString &entry : candidates) {
        const QRegularExpressionMatch match = name.match(entry);
        if (!match.hasMatch())
            continue;
        bool ok = false;
        const qint64 pid = match.captured(1).toLongLong(&ok);
        const QString path = base + QLatin1Char('/') + entry;
        struct stat info = {};
        if (!ok || pid <= 0 || pid > INT_MAX ||
            ::lstat(QFile::encodeName(path).constData(), &info) != 0 || !S_ISDIR(info.st_mode) ||
            info.st_uid != ::geteuid()) {
            continue;
        }
        // Only directories whose pool's process is gone; a live one is left alone.
        if (::kill(pid_t(pid), 0) == 0 || errno != ESRCH)
            continue;
        if (QDir(path).removeRecursively())
            ++removed;
    }
#else
    Q_UNUSED(base);
#endif
    return removed;
}

} // namespace QtProcessPool
