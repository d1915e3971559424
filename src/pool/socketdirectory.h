// SPDX-License-Identifier: MIT
// Where a pool's private socket directory lives. Plain functions, any thread.
#ifndef QTPROCESSPOOL_SOCKETDIRECTORY_H
#define QTPROCESSPOOL_SOCKETDIRECTORY_H

#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QTemporaryDir>

#include <memory>

namespace QtProcessPool {

/// Private socket directories are named <prefix><pid of the pool's process>-XXXXXX.
inline constexpr char SocketDirectoryPrefix[] = "qtprocesspool-";
/// The pool's socket inside its directory.
inline constexpr char SocketFileName[] = "s";

/// Where a pool may make its directory, in order: $XDG_RUNTIME_DIR when it is
/// a directory of ours that no one else can enter, then $TMPDIR, then /tmp.
QStringList socketDirectoryCandidates();
/// The QTemporaryDir template for a pool of this process under base.
QString socketDirectoryTemplate(const QString &base);
/// Removes the socket directories under base that pools of processes no longer
/// running left behind (e.g. after a crash or SIGKILL); returns how many.
int removeStaleSocketDirectories(const QString &base);
/// A fresh 0700 directory for the pool's socket, in the first candidate
/// (socketDirectoryCandidates() when empty) where one can be made and its
/// socket path fits a local socket address. nullptr if none: then *error
/// names every directory tried and why it was refused.
std::unique_ptr<QTemporaryDir> createSocketDirectory(QString *error,
                                                     const QStringList &candidates = {});

} // namespace QtProcessPool

#endif
