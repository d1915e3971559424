// SPDX-License-Identifier: MIT
#include "syscallcount.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QFile>
#include <QtCore/QStandardPaths>
#include <QtCore/QThread>

#include <cerrno>
#include <csignal>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

namespace Bench {

namespace {

constexpr int TimeoutMs = 10000;

const char Event[] = "raw_syscalls:sys_enter";

} // namespace

SyscallCounter::SyscallCounter(const QList<qint64> &pids)
{
    const QString perf = QStandardPaths::findExecutable(QStringLiteral("perf"));
    if (perf.isEmpty()) {
        fail(QStringLiteral("perf not found (Debian: apt-get install linux-perf)"));
        return;
    }
    const QString control = m_dir.filePath(QStringLiteral("control"));
    const QString ack = m_dir.filePath(QStringLiteral("ack"));
    if (!m_dir.isValid() || ::mkfifo(QFile::encodeName(control).constData(), 0600) != 0 ||
        ::mkfifo(QFile::encodeName(ack).constData(), 0600) != 0) {
        fail(QStringLiteral("cannot make perf's control FIFOs"));
        return;
    }
    QStringList pidList;
    for (qint64 pid : pids)
        pidList.append(QString::number(pid));
    m_perf.setProcessChannelMode(QProcess::MergedChannels);
    m_perf.start(perf, {QStringLiteral("stat"), QStringLiteral("-x,"), QStringLiteral("-e"),
                        QString::fromLatin1(Event), QStringLiteral("--delay=-1"),
                        QStringLiteral("--control"), QStringLiteral("fifo:%1,%2").arg(control, ack),
                        QStringLiteral("-o"), m_dir.filePath(QStringLiteral("counts")),
                        QStringLiteral("-p"), pidList.join(u',')});
    // perf opens both FIFOs once it has parsed its options; until then
    // opening the control FIFO for writing fails with ENXIO.
    QElapsedTimer waited;
    waited.start();
    while ((m_control = ::open(QFile::encodeName(control).constData(),
                               O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
        if (errno != ENXIO || m_perf.state() == QProcess::NotRunning ||
            waited.elapsed() > TimeoutMs) {
            m_perf.waitForFinished(TimeoutMs);
            fail(QStringLiteral("perf did not start: ") +
                 QString::fromLocal8Bit(m_perf.readAll()).trimmed());
            return;
        }
        QThread::msleep(5);
        m_perf.waitForReadyRead(0); // notices perf's exit
    }
    ::fcntl(m_control, F_SETFL, 0);
    m_ack = ::open(QFile::encodeName(ack).constData(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
}

SyscallCounter::~SyscallCounter()
{
    if (m_perf.state() != QProcess::NotRunning) {
        ::kill(pid_t(m_perf.processId()), SIGINT);
        if (!m_perf.waitForFinished(TimeoutMs))
            m_perf.kill();
        m_perf.waitForFinished(TimeoutMs);
    }
    if (m_control >= 0)
        ::close(m_control);
    if (m_ack >= 0)
        ::close(m_ack);
}

bool SyscallCounter::fail(const QString &why)
{
    if (m_error.isEmpty())
        m_error = why;
    return false;
}

bool SyscallCounter::command(const char *text)
{
    if (m_control < 0 || m_ack < 0)
        return fail(QStringLiteral("perf is not running"));
    const size_t length = std::strlen(text);
    if (::write(m_control, text, length) != ssize_t(length) || ::write(m_control, "\n", 1) != 1)
        return fail(QStringLiteral("cannot write to perf's control FIFO"));
    pollfd ready{m_ack, POLLIN, 0};
    char answer[16] = {};
    if (::poll(&ready, 1, TimeoutMs) != 1 || ::read(m_ack, answer, sizeof answer - 1) <= 0 ||
        std::strncmp(answer, "ack", 3) != 0)
        return fail(QStringLiteral("perf did not acknowledge '%1'").arg(QLatin1String(text)));
    return true;
}

bool SyscallCounter::start()
{
    return command("enable");
}

bool SyscallCounter::stop()
{
    return command("disable");
}

qint64 SyscallCounter::count()
{
    if (!m_error.isEmpty())
        return -1;
    ::kill(pid_t(m_perf.processId()), SIGINT); // perf stat prints its counts and exits
    if (!m_perf.waitForFinished(TimeoutMs)) {
        fail(QStringLiteral("perf did not exit"));
        return -1;
    }
    QFile counts(m_dir.filePath(QStringLiteral("counts")));
    if (!counts.open(QIODevice::ReadOnly | QIODevice::Text)) {
        fail(QStringLiteral("perf wrote no counts: ") +
             QString::fromLocal8Bit(m_perf.readAll()).trimmed());
        return -1;
    }
    // CSV (-x,): "<count>,<unit>,<event>,..."; "<not counted>" when nothing ran.
    for (const QByteArray &line : counts.readAll().split('\n')) {
        const QList<QByteArray> fields = line.split(',');
        if (fields.size() >= 3 && fields.at(2) == Event) {
            bool ok = false;
            const qint64 count = fields.at(0).toLongLong(&ok);
            return ok ? count : 0;
        }
    }
    fail(QStringLiteral("no %1 count in perf's output").arg(QLatin1String(Event)));
    return -1;
}

} // namespace Bench
