// SPDX-License-Identifier: MIT
#include "pool/workeroutput.h"

namespace QtProcessPool {

WorkerOutput::~WorkerOutput()
{
    QObject::disconnect(m_stdoutRead);
    QObject::disconnect(m_stderrRead);
}

void WorkerOutput::attach(QProcess *process, qint64 pid, Sink sink, std::FILE *echo)
{
    m_process = process;
    m_pid = pid;
    m_sink = std::move(sink);
    m_echo = echo;
    m_stdoutRead = QObject::connect(process, &QProcess::readyReadStandardOutput, process,
                                    [this] { read(QProcess::StandardOutput); });
    m_stderrRead = QObject::connect(process, &QProcess::readyReadStandardError, process,
                                    [this] { read(QProcess::StandardError); });
    QObject::connect(&m_timer, &QTimer::timeout, &m_timer, [this] {
        if (!pass(false))
            m_timer.stop(); // quiet again: the next line goes at once
    });
}

void WorkerOutput::setOrigin(const QString &host, qint64 pid)
{
    m_host = host;
    m_pid = pid;
}

void WorkerOutput::keepTail(const QByteArray &bytes)
{
    m_stderrTail += bytes;
    if (m_stderrTail.size() > TailBytes)
        m_stderrTail.remove(0, m_stderrTail.size() - TailBytes);
}

void WorkerOutput::read(QProcess::ProcessChannel channel)
{
    if (channel == QProcess::StandardOutput) {
        m_stdout.append(m_process->readAllStandardOutput());
    } else {
        const QByteArray bytes = m_process->readAllStandardError();
        keepTail(bytes);
        m_stderr.append(bytes);
    }
    if (!m_timer.isActive()) {
        pass(false);
        m_timer.start(IntervalMs);
    }
}

void WorkerOutput::flush()
{
    if (!m_process)
        return;
    m_stdout.append(m_process->readAllStandardOutput());
    const QByteArray bytes = m_process->readAllStandardError();
    keepTail(bytes);
    m_stderr.append(bytes);
    pass(true);
    m_timer.stop();
}

bool WorkerOutput::pass(bool flush)
{
    bool any = false;
    for (const auto channel : {QProcess::StandardOutput, QProcess::StandardError}) {
        OutputBatcher &lines = channel == QProcess::StandardOutput ? m_stdout : m_stderr;
        OutputBatcher::Batch batch = lines.take(flush);
        if (batch.isEmpty())
            continue;
        any = true;
        if (batch.dropped > 0) {
            batch.text += "[qtprocesspool: " + QByteArray::number(batch.dropped) +
                          " lines of worker output dropped]\n";
        }
        const QByteArray echo = prefixLines(m_pid, batch.text, m_host);
        std::fwrite(echo.constData(), 1, size_t(echo.size()), m_echo);
        if (m_sink)
            m_sink(m_pid, channel,
                   QString::fromLocal8Bit(batch.text.constData(), batch.text.size() - 1));
    }
    return any;
}

} // namespace QtProcessPool
