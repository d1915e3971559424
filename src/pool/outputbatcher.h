// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_OUTPUTBATCHER_H
#define QTPROCESSPOOL_OUTPUTBATCHER_H

#include <QtCore/QByteArray>
#include <QtCore/QString>

namespace QtProcessPool {

/// Gathers one output channel of one worker (stdout or stderr) into batches
/// of whole lines, so a worker printing millions of short lines costs one
/// write and one signal per batch, not per line, and bounded memory: past
/// MaxBatchBytes in one batch, lines are dropped and counted. Owned by the
/// engine's WorkerConnection; I/O thread only.
class OutputBatcher
{
public:
    /// A line with no newline this long is passed on as it is.
    static constexpr qsizetype MaxLineBytes = 64 * 1024;
    /// Text kept per batch (the engine takes one every OutputIntervalMs at most).
    static constexpr qsizetype MaxBatchBytes = 256 * 1024;

    struct Batch
    {
        QByteArray text;    // whole lines, each ending with '\n'
        qint64 dropped = 0; // lines left out since the last batch
        bool isEmpty() const { return text.isEmpty() && dropped == 0; }
    };

    /// Bytes as read from the channel.
    void append(const QByteArray &bytes);
    /// The lines gathered since the last call; with flush, also a last line
    /// that has no newline (the process ended).
    Batch take(bool flush);
    bool hasPending() const { return !m_lines.isEmpty() || m_dropped > 0; }

private:
    void keep(const char *lines, qsizetype size); // whole lines, '\n' included

    QByteArray m_partial; // after the last newline
    QByteArray m_lines;
    qint64 m_dropped = 0;
};

/// "[worker <pid>] line" for each line of text: what goes to our stderr.
QByteArray prefixLines(qint64 pid, const QByteArray &text, const QString &host = {});

} // namespace QtProcessPool

#endif
