// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_WORKEROUTPUT_H
#define QTPROCESSPOOL_WORKEROUTPUT_H

#include "pool/outputbatcher.h"

#include <QtCore/QProcess>
#include <QtCore/QTimer>

#include <cstdio>
#include <functional>

namespace QtProcessPool {

/// Forwards what one worker prints: each batch of lines goes to our stderr
/// with a "[worker <pid>]" prefix, and to the sink (the pool's workerOutput()
/// signal). The first batch goes at once, then at most one per IntervalMs
/// while the worker keeps printing, so a flood costs a bounded share of the
/// I/O thread and of the pool's thread (OutputBatcher drops what exceeds a
/// batch, and says so). Part of WorkerConnection; I/O thread only.
class WorkerOutput
{
public:
    using Sink = std::function<void(qint64 pid, QProcess::ProcessChannel, const QString &lines)>;
    static constexpr int IntervalMs = 20;
    static constexpr int TailBytes = 2048;

    WorkerOutput() = default;
    /// Stops reading: the process may outlive it and still signal.
    ~WorkerOutput();
    WorkerOutput(const WorkerOutput &) = delete;
    WorkerOutput &operator=(const WorkerOutput &) = delete;

    /// Reads process's stdout and stderr from now on; pid names the lines
    /// (the process's own id is gone once it ended). echo: where the
    /// prefixed lines go (our stderr unless a test says otherwise).
    void attach(QProcess *process, qint64 pid, Sink sink, std::FILE *echo = stderr);
    /// Everything left, the last line even without its newline (it ended).
    void flush();
    /// A remote worker's lines: named "[worker host:pid]" from now on (its
    /// pid on its host, as its hello gave it).
    void setOrigin(const QString &host, qint64 pid);
    /// The last few lines it wrote on stderr: what a launcher said when it
    /// failed (ssh's "Connection refused", srun's errors).
    QString stderrTail() const { return QString::fromLocal8Bit(m_stderrTail); }

private:
    void read(QProcess::ProcessChannel channel);
    void keepTail(const QByteArray &bytes);
    /// Passes on what was gathered since the last batch; false if nothing.
    bool pass(bool flush);

    QProcess *m_process = nullptr;
    qint64 m_pid = 0;
    QString m_host;
    QByteArray m_stderrTail; // at most TailBytes
    Sink m_sink;
    std::FILE *m_echo = stderr;
    OutputBatcher m_stdout;
    OutputBatcher m_stderr;
    QTimer m_timer; // spaces the batches while the worker keeps printing
    QMetaObject::Connection m_stdoutRead;
    QMetaObject::Connection m_stderrRead;
};

} // namespace QtProcessPool

#endif
