// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_SHELLQUOTE_H
#define QTPROCESSPOOL_SHELLQUOTE_H

#include <QtCore/QStringList>

namespace QtProcessPool::remote {

/// word as one word for a POSIX shell: in single quotes, each ' as '\''
/// (words of only safe characters stay as they are).
QString shellQuote(const QString &word);
/// The words quoted and joined with spaces: a command line a remote shell
/// (ssh's) splits back into exactly these words.
QString shellJoin(const QStringList &words);

} // namespace QtProcessPool::remote

#endif
