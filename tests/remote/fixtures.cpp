// SPDX-License-Identifier: MIT
#include "fixtures.h"

#include <QtCore/QDeadlineTimer>
#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtCore/QMultiHash>
#include <QtCore/QProcess>
#include <QtCore/QRandomGenerator>
#include <QtCore/QRegularExpression>
#include <QtCore/QTemporaryDir>
#include <QtCore/QThread>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>

#include <csignal>
#include <sys/types.h>
#include <unistd.h>

namespace RemoteFixtures {

namespace {

constexpr int TermGraceMs = 5000;
constexpr int PollMs = 50;

QString readText(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    return QString::fromLocal8Bit(file.readAll());
}

/// The last lines of a file, for error messages.
QString tail(const QString &path, int lines = 15)
{
    QStringList all = readText(path).split(QLatin1Char('\n'));
    if (all.size() > lines)
        all = all.mid(all.size() - lines);
    return all.join(QLatin1Char('\n')).trimmed();
}

bool writeText(const QString &path, const QString &text, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate) ||
        file.write(text.toLocal8Bit()) < 0) {
        *error = QStringLiteral("cannot write %1: %2").arg(path, file.errorString());
        return false;
    }
    return true;
}

qint64 parentOf(qint64 pid)
{
    const QString stat = readText(QStringLiteral("/proc/%1/stat").arg(pid));
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const qsizetype close = stat.lastIndexOf(QLatin1Char(')'));
    if (close < 0)
        return -1;
    return stat.mid(close + 2).split(QLatin1Char(' ')).value(1).toLongLong();
}

QList<qint64> allPids()
{
    QList<qint64> pids;
    const QStringList entries = QDir(QStringLiteral("/proc")).entryList(QDir::Dirs);
    for (const QString &entry : entries) {
        bool ok = false;
        const qint64 pid = entry.toLongLong(&ok);
        if (ok)
            pids.append(pid);
    }
    return pids;
}

/// Every process below pid (children, their children...), read from /proc.
QList<qint64> descendantsOf(qint64 pid)
{
    QMultiHash<qint64, qint64> children;
    for (qint64 p : allPids())
        children.insert(parentOf(p), p);
    QList<qint64> result;
    QList<qint64> todo{pid};
    while (!todo.isEmpty()) {
        const QList<qint64> direct = children.values(todo.takeFirst());
        result += direct;
        todo += direct;
    }
    return result;
}

/// Pids of the processes whose environment holds entry ("NAME=value").
QList<qint64> processesWithEnvironment(const QByteArray &entry)
{
    QList<qint64> found;
    for (qint64 pid : allPids()) {
        QFile file(QStringLiteral("/proc/%1/environ").arg(pid));
        if (file.open(QIODevice::ReadOnly) && file.readAll().split('\0').contains(entry))
            found.append(pid);
    }
    return found;
}

/// SIGTERM to each, SIGKILL after the grace time to those left; waits until
/// they are gone or zombies (a child QProcess reaps its own afterwards).
void killPids(const QList<qint64> &pids)
{
    for (qint64 pid : pids)
        ::kill(pid_t(pid), SIGTERM);
    QDeadlineTimer grace(TermGraceMs);
    auto allDown = [&] {
        for (qint64 pid : pids) {
            if (!isZombieOrGone(pid))
                return false;
        }
        return true;
    };
    while (!allDown() && !grace.hasExpired())
        QThread::msleep(PollMs);
    for (qint64 pid : pids) {
        if (!isZombieOrGone(pid))
            ::kill(pid_t(pid), SIGKILL);
    }
    QDeadlineTimer hard(TermGraceMs);
    while (!allDown() && !hard.hasExpired())
        QThread::msleep(PollMs);
}

/// Stops a child daemon and everything it started, by pid, and reaps it.
void stopDaemon(std::unique_ptr<QProcess> &process)
{
    if (!process)
        return;
    const qint64 pid = process->processId();
    if (pid > 0 && process->state() != QProcess::NotRunning) {
        // The daemon first, so it starts no more; then what it left.
        const QList<qint64> below = descendantsOf(pid);
        killPids({pid});
        process->waitForFinished(TermGraceMs);
        killPids(below);
    }
    process.reset();
}

bool isRoot()
{
    return ::geteuid() == 0;
}

} // namespace

bool runCommand(const QString &program, const QStringList &arguments, QString *output,
                int timeoutMs, const QProcessEnvironment &environment, const QByteArray &input)
{
    QProcess process;
    process.setProcessEnvironment(environment);
    process.setProcessChannelMode(QProcess::MergedChannels);
    process.start(program, arguments);
    if (!process.waitForStarted(timeoutMs)) {
        if (output)
            *output = QStringLiteral("%1: %2").arg(program, process.errorString());
        return false;
    }
    if (!input.isEmpty())
        process.write(input);
    process.closeWriteChannel();
    const bool finished = process.waitForFinished(timeoutMs);
    if (!finished) {
        process.kill();
        process.waitForFinished(TermGraceMs);
    }
    if (output) {
        *output = QString::fromLocal8Bit(process.readAll());
        if (!finished)
            *output += QStringLiteral("\n(%1 timed out after %2 ms)").arg(program).arg(timeoutMs);
    }
    return finished && process.exitStatus() == QProcess::NormalExit && process.exitCode() == 0;
}

QList<qint64> processesWithArgument(const QString &needle)
{
    QList<qint64> found;
    const qint64 self = qint64(::getpid());
    for (qint64 pid : allPids()) {
        if (pid == self)
            continue;
        QFile file(QStringLiteral("/proc/%1/cmdline").arg(pid));
        if (!file.open(QIODevice::ReadOnly))
            continue;
        const QList<QByteArray> args = file.readAll().split('\0');
        for (const QByteArray &arg : args) {
            if (QString::fromLocal8Bit(arg).contains(needle)) {
                found.append(pid);
                break;
            }
        }
    }
    return found;
}

bool isZombieOrGone(qint64 pid)
{
    const QString stat = readText(QStringLiteral("/proc/%1/stat").arg(pid));
    if (stat.isEmpty())
        return true;
    const qsizetype close = stat.lastIndexOf(QLatin1Char(')'));
    return close > 0 && stat.mid(close + 2, 1) == QLatin1String("Z");
}

QString describeProcesses(const QList<qint64> &pids)
{
    QStringList lines;
    for (qint64 pid : pids) {
        QFile status(QStringLiteral("/proc/%1/status").arg(pid));
        QFile cmdline(QStringLiteral("/proc/%1/cmdline").arg(pid));
        QString state, parent;
        if (status.open(QIODevice::ReadOnly)) {
            for (const QByteArray &line : status.readAll().split('\n')) {
                if (line.startsWith("State:"))
                    state = QString::fromLatin1(line.mid(6).trimmed());
                else if (line.startsWith("PPid:"))
                    parent = QString::fromLatin1(line.mid(5).trimmed());
            }
        }
        const QByteArray args =
            cmdline.open(QIODevice::ReadOnly) ? cmdline.readAll() : QByteArray();
        lines.append(QStringLiteral("%1 [%2, parent %3] %4")
                         .arg(pid)
                         .arg(state, parent,
                              QString::fromLocal8Bit(args).replace(QChar(u'\0'), QChar(u' '))));
    }
    return lines.join(QLatin1Char('\n'));
}

quint16 freePort()
{
    QTcpServer server;
    if (!server.listen(QHostAddress::LocalHost, 0))
        return 0;
    return server.serverPort();
}

// ---------------------------------------------------------------------------
// SshServer

namespace {

/// Set by sshd (SetEnv) in every session, so stop() finds their processes.
constexpr char SshMarker[] = "QPP_SSHD_FIXTURE";

} // namespace

SshServer::SshServer() = default;

SshServer::~SshServer()
{
    stop();
}

QString SshServer::configPath() const
{
    return m_dir ? m_dir->filePath(QStringLiteral("sshd_config")) : QString();
}

QString SshServer::clientKeyPath() const
{
    return m_dir ? m_dir->filePath(QStringLiteral("client_key")) : QString();
}

QString SshServer::knownHostsPath() const
{
    return m_dir ? m_dir->filePath(QStringLiteral("known_hosts")) : QString();
}

qint64 SshServer::pid() const
{
    return m_sshd ? m_sshd->processId() : 0;
}

QString SshServer::log() const
{
    return m_dir ? readText(m_dir->filePath(QStringLiteral("sshd.log"))) : QString();
}

QString SshServer::destination() const
{
    return QStringLiteral("root@") + m_address;
}

QStringList SshServer::sshOptions() const
{
    return {QStringLiteral("-F"), QStringLiteral("/dev/null"),
            QStringLiteral("-i"), clientKeyPath(),
            QStringLiteral("-p"), QString::number(m_port),
            QStringLiteral("-o"), QStringLiteral("IdentitiesOnly=yes"),
            QStringLiteral("-o"), QStringLiteral("UserKnownHostsFile=") + knownHostsPath(),
            QStringLiteral("-o"), QStringLiteral("GlobalKnownHostsFile=/dev/null"),
            QStringLiteral("-o"), QStringLiteral("StrictHostKeyChecking=yes"),
            QStringLiteral("-o"), QStringLiteral("BatchMode=yes"),
            QStringLiteral("-o"), QStringLiteral("ConnectTimeout=5"),
            QStringLiteral("-o"), QStringLiteral("LogLevel=ERROR")};
}

QList<qint64> SshServer::processesWithArgument(const QString &needle)
{
    return RemoteFixtures::processesWithArgument(needle);
}

bool SshServer::prepare(QString *error)
{
    m_dir = std::make_unique<QTemporaryDir>(QDir::tempPath() + QStringLiteral("/qpp-sshd-XXXXXX"));
    if (!m_dir->isValid()) {
        *error = QStringLiteral("cannot make a temporary directory: ") + m_dir->errorString();
        return false;
    }
    // sshd needs its privilege separation directory; Debian makes it only in
    // the service's start script.
    QDir().mkpath(QStringLiteral("/run/sshd"));
    QFile::setPermissions(QStringLiteral("/run/sshd"), QFile::ReadOwner | QFile::WriteOwner |
                                                           QFile::ExeOwner | QFile::ReadGroup |
                                                           QFile::ExeGroup | QFile::ReadOther |
                                                           QFile::ExeOther);
    for (const QString &key : {QStringLiteral("host_key"), QStringLiteral("client_key")}) {
        QString output;
        if (!runCommand(QStringLiteral("ssh-keygen"),
                        {QStringLiteral("-q"), QStringLiteral("-t"), QStringLiteral("ed25519"),
                         QStringLiteral("-N"), QString(), QStringLiteral("-C"),
                         QStringLiteral("qpp-") + key, QStringLiteral("-f"), m_dir->filePath(key)},
                        &output, 10000)) {
            *error = QStringLiteral("ssh-keygen failed: ") + output;
            return false;
        }
    }
    return writeText(m_dir->filePath(QStringLiteral("authorized_keys")),
                     readText(m_dir->filePath(QStringLiteral("client_key.pub"))), error);
}

bool SshServer::startOnce(QString *error, bool *portTaken)
{
    *portTaken = false;
    // In a namespace of its own every port is free; on the host, ask.
    m_port = freePort();
    if (m_port == 0) {
        *error = QStringLiteral("no free TCP port");
        return false;
    }
    const QString logPath = m_dir->filePath(QStringLiteral("sshd.log"));
    QFile::remove(logPath);
    const QString config = QStringLiteral("Port %1\n"
                                          "ListenAddress %2\n"
                                          "HostKey %3\n"
                                          "PidFile none\n"
                                          "AuthorizedKeysFile %4\n"
                                          "StrictModes no\n"
                                          "UsePAM no\n"
                                          "PermitRootLogin yes\n"
                                          "PubkeyAuthentication yes\n"
                                          "PasswordAuthentication no\n"
                                          "KbdInteractiveAuthentication no\n"
                                          "MaxStartups 100\n"
                                          "MaxSessions 100\n"
                                          "LogLevel INFO\n"
                                          "SetEnv %5=%6\n")
                               .arg(m_port)
                               .arg(m_address, m_dir->filePath(QStringLiteral("host_key")),
                                    m_dir->filePath(QStringLiteral("authorized_keys")),
                                    QLatin1String(SshMarker), m_dir->path());
    if (!writeText(configPath(), config, error))
        return false;
    // The host key pinned for clients: "[address]:port key".
    const QStringList hostKey = readText(m_dir->filePath(QStringLiteral("host_key.pub")))
                                    .split(QLatin1Char(' '), Qt::SkipEmptyParts);
    if (!writeText(knownHostsPath(),
                   QStringLiteral("[%1]:%2 %3 %4\n")
                       .arg(m_address)
                       .arg(m_port)
                       .arg(hostKey.value(0), hostKey.value(1)),
                   error))
        return false;

    QStringList command{QStringLiteral("/usr/sbin/sshd"),
                        QStringLiteral("-D"),
                        QStringLiteral("-f"),
                        configPath(),
                        QStringLiteral("-E"),
                        logPath};
    if (!m_netns.isEmpty())
        command =
            QStringList{QStringLiteral("nsenter"), QStringLiteral("--net=/run/netns/") + m_netns} +
            command;
    m_sshd = std::make_unique<QProcess>();
    m_sshd->setProcessChannelMode(QProcess::MergedChannels);
    m_sshd->setStandardOutputFile(m_dir->filePath(QStringLiteral("sshd.out")));
    m_sshd->setStandardInputFile(QProcess::nullDevice());
    m_sshd->start(command.first(), command.mid(1));
    if (!m_sshd->waitForStarted(5000)) {
        *error = QStringLiteral("cannot start %1: %2").arg(command.first(), m_sshd->errorString());
        m_sshd.reset();
        return false;
    }

    const QString listening =
        QStringLiteral("Server listening on %1 port %2").arg(m_address).arg(m_port);
    QDeadlineTimer deadline(10000);
    while (!deadline.hasExpired()) {
        if (m_sshd->state() == QProcess::NotRunning || m_sshd->waitForFinished(0)) {
            const QString all = log() + readText(m_dir->filePath(QStringLiteral("sshd.out")));
            *portTaken = all.contains(QLatin1String("Address already in use"));
            *error = QStringLiteral("sshd exited (code %1) before listening on %2:%3:\n%4")
                         .arg(m_sshd->exitCode())
                         .arg(m_address)
                         .arg(m_port)
                         .arg(all.trimmed());
            m_sshd.reset();
            return false;
        }
        if (log().contains(listening))
            return true;
        if (m_netns.isEmpty()) {
            QTcpSocket probe;
            probe.connectToHost(m_address, m_port);
            if (probe.waitForConnected(200))
                return true;
        } else {
            QThread::msleep(PollMs);
        }
    }
    *error = QStringLiteral("sshd did not listen on %1:%2 within 10 s; its log:\n%3")
                 .arg(m_address)
                 .arg(m_port)
                 .arg(tail(m_dir->filePath(QStringLiteral("sshd.log"))));
    stop();
    return false;
}

bool SshServer::start(QString *error)
{
    stop();
    if (!isRoot()) {
        *error = QStringLiteral("SshServer needs root (sshd, PermitRootLogin)");
        return false;
    }
    if (!prepare(error))
        return false;
    for (int attempt = 0; attempt < 3; ++attempt) {
        bool portTaken = false;
        if (startOnce(error, &portTaken))
            return true;
        if (!portTaken)
            return false;
    }
    return false;
}

void SshServer::stop()
{
    const QString config = m_sshd ? configPath() : QString();
    stopDaemon(m_sshd);
    // What the listener forked for a connection just before it ended (a
    // session process, with the config in its arguments) may have escaped
    // stopDaemon()'s look at its children: end it by pid too.
    if (!config.isEmpty())
        killPids(processesWithArgument(config));
    // A session's command outlives its sshd when the client went away first
    // (no pty, so no SIGHUP): find such orphans by the SetEnv marker.
    if (m_dir) {
        QList<qint64> orphans;
        for (qint64 pid : processesWithEnvironment(QByteArray(SshMarker) + '=' +
                                                   QFile::encodeName(m_dir->path())))
            orphans += QList<qint64>{pid} + descendantsOf(pid);
        killPids(orphans);
    }
}

// ---------------------------------------------------------------------------
// SlurmCluster

namespace {

/// Set in the daemons' environment; slurmstepd inherits it from slurmd, so
/// stop() can find a step daemon left over (its argv is "slurmstepd: [1.0]").
constexpr char ClusterMarker[] = "QPP_SLURM_FIXTURE";

int nodeCpus()
{
    QString output;
    if (runCommand(QStringLiteral("slurmd"), {QStringLiteral("-C")}, &output, 10000)) {
        const QRegularExpressionMatch match =
            QRegularExpression(QStringLiteral("\\bCPUs=(\\d+)")).match(output);
        if (match.hasMatch())
            return match.captured(1).toInt();
    }
    return 2;
}

} // namespace

SlurmCluster::SlurmCluster() = default;

SlurmCluster::~SlurmCluster()
{
    stop();
}

QString SlurmCluster::confPath() const
{
    return m_dir ? m_dir->filePath(QStringLiteral("slurm.conf")) : QString();
}

QProcessEnvironment SlurmCluster::environment() const
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    // Inside a job (a CI runner under SLURM) these would point srun elsewhere.
    const QStringList keys = env.keys();
    for (const QString &key : keys) {
        if (key.startsWith(QLatin1String("SLURM_")))
            env.remove(key);
    }
    env.insert(QStringLiteral("SLURM_CONF"), confPath());
    return env;
}

QStringList SlurmCluster::runningSteps() const
{
    QString output;
    if (!runCommand(QStringLiteral("squeue"),
                    {QStringLiteral("--steps"), QStringLiteral("--noheader"),
                     QStringLiteral("--format=%i %j")},
                    &output, 15000, environment()))
        return {};
    return output.split(QLatin1Char('\n'), Qt::SkipEmptyParts);
}

QStringList SlurmCluster::jobs() const
{
    QString output;
    if (!runCommand(QStringLiteral("squeue"),
                    {QStringLiteral("--noheader"), QStringLiteral("--format=%i")}, &output, 15000,
                    environment()))
        return {};
    return output.split(QLatin1Char('\n'), Qt::SkipEmptyParts);
}

bool SlurmCluster::cancelAll(int timeoutMs)
{
    if (!m_slurmctld)
        return true;
    QDeadlineTimer deadline(timeoutMs);
    QStringList pending = jobs();
    if (!pending.isEmpty())
        runCommand(QStringLiteral("scancel"), pending, nullptr, 15000, environment());
    while (!pending.isEmpty() && !deadline.hasExpired()) {
        QThread::msleep(100);
        pending = jobs();
    }
    return pending.isEmpty();
}

QString SlurmCluster::log() const
{
    if (!m_dir)
        return {};
    QString text;
    for (const QString &name : {QStringLiteral("munged.out"), QStringLiteral("slurmctld.log"),
                                QStringLiteral("slurmd.log"), QStringLiteral("slurmctld.out"),
                                QStringLiteral("slurmd.out")}) {
        const QString part = tail(m_dir->filePath(name));
        if (!part.isEmpty())
            text += QStringLiteral("--- %1:\n%2\n").arg(name, part);
    }
    return text;
}

bool SlurmCluster::startDaemon(std::unique_ptr<QProcess> &process, const QString &program,
                               const QStringList &arguments, const QString &outputFile,
                               QString *error)
{
    process = std::make_unique<QProcess>();
    QProcessEnvironment env = environment();
    env.insert(QString::fromLatin1(ClusterMarker), m_dir->path());
    process->setProcessEnvironment(env);
    process->setProcessChannelMode(QProcess::MergedChannels);
    process->setStandardOutputFile(m_dir->filePath(outputFile));
    process->setStandardInputFile(QProcess::nullDevice());
    process->setWorkingDirectory(m_dir->path());
    process->start(program, arguments);
    if (!process->waitForStarted(5000)) {
        *error = QStringLiteral("cannot start %1: %2").arg(program, process->errorString());
        process.reset();
        return false;
    }
    return true;
}

bool SlurmCluster::writeConfig(QString *error)
{
    const quint16 ctldPort = freePort();
    quint16 slurmdPort = freePort();
    while (slurmdPort == ctldPort && ctldPort != 0)
        slurmdPort = freePort();
    if (ctldPort == 0 || slurmdPort == 0) {
        *error = QStringLiteral("no free TCP port");
        return false;
    }
    const QString host = QSysInfo::machineHostName().section(QLatin1Char('.'), 0, 0);
    const QString d = m_dir->path();
    const QString conf =
        QStringLiteral("ClusterName=qpp\n"
                       "SlurmctldHost=%1(127.0.0.1)\n"
                       "SlurmctldPort=%2\n"
                       "SlurmdPort=%3\n"
                       "SlurmUser=root\n"
                       "SlurmdUser=root\n"
                       "AuthType=auth/munge\n"
                       "AuthInfo=socket=%4/munge.socket\n"
                       "CredType=cred/munge\n"
                       "StateSaveLocation=%4/state\n"
                       "SlurmdSpoolDir=%4/spool\n"
                       "SlurmctldPidFile=%4/slurmctld.pid\n"
                       "SlurmdPidFile=%4/slurmd.pid\n"
                       "SlurmctldLogFile=%4/slurmctld.log\n"
                       "SlurmdLogFile=%4/slurmd.log\n"
                       "MailProg=/bin/true\n"
                       "ProctrackType=proctrack/linuxproc\n"
                       "TaskPlugin=task/none\n"
                       "JobAcctGatherType=jobacct_gather/none\n"
                       "SelectType=select/cons_tres\n"
                       "SelectTypeParameters=CR_Core\n"
                       "MpiDefault=none\n"
                       "MessageTimeout=3\n"
                       "ReturnToService=2\n"
                       "SchedulerType=sched/builtin\n"
                       "NodeName=n0 NodeAddr=127.0.0.1 NodeHostname=%1 CPUs=%5 State=UNKNOWN\n"
                       "PartitionName=p0 Nodes=n0 Default=YES MaxTime=INFINITE State=UP\n")
            .arg(host)
            .arg(ctldPort)
            .arg(slurmdPort)
            .arg(d)
            .arg(nodeCpus());
    // SLURM 23.11 and later load a cgroup plugin in slurmd even with
    // proctrack/linuxproc, and fail where no cgroup file system is mounted
    // (a chroot): they accept "disabled"; 22.05 (Debian 12) has no such value.
    QString version;
    runCommand(QStringLiteral("slurmd"), {QStringLiteral("-V")}, &version, 10000);
    const QStringList parts =
        version.trimmed().section(QLatin1Char(' '), 1).split(QLatin1Char('.'));
    const int major = parts.value(0).toInt();
    const int minor = parts.value(1).toInt();
    if ((major > 23 || (major == 23 && minor >= 11)) &&
        !writeText(d + QStringLiteral("/cgroup.conf"), QStringLiteral("CgroupPlugin=disabled\n"),
                   error))
        return false;
    return writeText(confPath(), conf, error);
}

bool SlurmCluster::start(QString *error)
{
    stop();
    if (!isRoot()) {
        *error = QStringLiteral("SlurmCluster needs root (slurmd, SlurmUser=root)");
        return false;
    }
    const QDeadlineTimer deadline(30000);
    for (int attempt = 0; attempt < 3; ++attempt) {
        bool portTaken = false;
        if (startOnce(deadline, error, &portTaken))
            return true;
        if (!portTaken || deadline.hasExpired())
            return false;
    }
    return false;
}

bool SlurmCluster::startOnce(const QDeadlineTimer &deadline, QString *error, bool *portTaken)
{
    *portTaken = false;
    m_dir = std::make_unique<QTemporaryDir>(QDir::tempPath() + QStringLiteral("/qpp-slurm-XXXXXX"));
    if (!m_dir->isValid()) {
        *error = QStringLiteral("cannot make a temporary directory: ") + m_dir->errorString();
        return false;
    }
    // munged must be able to reach the socket; QTemporaryDir makes it 0700.
    QFile::setPermissions(m_dir->path(), QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner |
                                             QFile::ExeGroup | QFile::ExeOther);
    QDir(m_dir->path()).mkpath(QStringLiteral("state"));
    QDir(m_dir->path()).mkpath(QStringLiteral("spool"));

    QFile key(m_dir->filePath(QStringLiteral("munge.key")));
    if (!key.open(QIODevice::WriteOnly)) {
        *error = QStringLiteral("cannot write the munge key: ") + key.errorString();
        return false;
    }
    QByteArray secret(1024, Qt::Uninitialized);
    QRandomGenerator::system()->fillRange(reinterpret_cast<quint32 *>(secret.data()),
                                          secret.size() / int(sizeof(quint32)));
    key.write(secret);
    key.close();
    key.setPermissions(QFile::ReadOwner | QFile::WriteOwner);
    if (!writeConfig(error))
        return false;

    const QString socket = m_dir->filePath(QStringLiteral("munge.socket"));
    // --force: as root, with the key and socket in a directory of root's.
    if (!startDaemon(
            m_munged, QStringLiteral("munged"),
            {QStringLiteral("--foreground"), QStringLiteral("--force"),
             QStringLiteral("--socket=") + socket, QStringLiteral("--key-file=") + key.fileName(),
             QStringLiteral("--pid-file=") + m_dir->filePath(QStringLiteral("munged.pid")),
             QStringLiteral("--log-file=") + m_dir->filePath(QStringLiteral("munged.log")),
             QStringLiteral("--seed-file=") + m_dir->filePath(QStringLiteral("munged.seed"))},
            QStringLiteral("munged.out"), error)) {
        stop();
        return false;
    }
    // slurmctld fails at once if munged does not answer yet.
    while (!QFileInfo::exists(socket) && !deadline.hasExpired() &&
           !m_munged->waitForFinished(PollMs)) {
    }
    if (!QFileInfo::exists(socket)) {
        *error = QStringLiteral("munged did not make its socket:\n") + log();
        stop();
        return false;
    }
    if (!startDaemon(m_slurmctld, QStringLiteral("slurmctld"),
                     {QStringLiteral("-D"), QStringLiteral("-f"), confPath()},
                     QStringLiteral("slurmctld.out"), error) ||
        !startDaemon(m_slurmd, QStringLiteral("slurmd"),
                     {QStringLiteral("-D"), QStringLiteral("-f"), confPath(), QStringLiteral("-N"),
                      nodeName()},
                     QStringLiteral("slurmd.out"), error)) {
        stop();
        return false;
    }

    QString state;
    while (!deadline.hasExpired()) {
        for (const auto *daemon : {&m_munged, &m_slurmctld, &m_slurmd}) {
            if ((*daemon)->state() == QProcess::NotRunning || (*daemon)->waitForFinished(0)) {
                *error = QStringLiteral("%1 exited (code %2) before the node was idle:\n%3")
                             .arg((*daemon)->program())
                             .arg((*daemon)->exitCode())
                             .arg(log());
                // Another process took a port freePort() chose: try new ones.
                *portTaken = error->contains(QLatin1String("Address already in use"));
                stop();
                return false;
            }
        }
        QString output;
        runCommand(QStringLiteral("sinfo"),
                   {QStringLiteral("--noheader"), QStringLiteral("--nodes=") + nodeName(),
                    QStringLiteral("--format=%T")},
                   &output, 10000, environment());
        state = output.trimmed();
        if (state == QLatin1String("idle"))
            return true;
        QThread::msleep(200);
    }
    *error = QStringLiteral("node %1 not idle within 30 s (sinfo: %2):\n%3")
                 .arg(nodeName(), state, log());
    stop();
    return false;
}

void SlurmCluster::stop()
{
    if (!m_dir)
        return;
    if (m_slurmctld && m_slurmd && m_slurmctld->state() != QProcess::NotRunning &&
        m_slurmd->state() != QProcess::NotRunning)
        cancelAll(10000);
    stopDaemon(m_slurmd);
    stopDaemon(m_slurmctld);
    // Step daemons left over (slurmd killed before they ended) and their tasks.
    const QList<qint64> steps = processesWithEnvironment(QByteArray(ClusterMarker) + '=' +
                                                         QFile::encodeName(m_dir->path()));
    const qint64 munged = m_munged ? m_munged->processId() : 0;
    QList<qint64> leftovers;
    for (qint64 pid : steps) {
        if (pid != munged)
            leftovers += QList<qint64>{pid} + descendantsOf(pid);
    }
    killPids(leftovers);
    stopDaemon(m_munged);
    m_dir.reset();
}

// ---------------------------------------------------------------------------
// NetworkNamespace

namespace {

/// `ip arguments`, inside the network namespace netns when one is given:
/// through nsenter, not `ip -n`, which remounts / (and fails in a chroot).
bool ip(const QStringList &arguments, QString *error, const QString &netns = QString())
{
    QString output;
    const QStringList line =
        netns.isEmpty()
            ? arguments
            : QStringList{QStringLiteral("--net=/run/netns/") + netns, QStringLiteral("ip")} +
                  arguments;
    if (runCommand(netns.isEmpty() ? QStringLiteral("ip") : QStringLiteral("nsenter"), line,
                   &output, 15000))
        return true;
    if (error)
        *error =
            QStringLiteral("ip %1: %2").arg(arguments.join(QLatin1Char(' ')), output.trimmed());
    return false;
}

} // namespace

NetworkNamespace::~NetworkNamespace()
{
    remove();
}

QString NetworkNamespace::hostAddress() const
{
    return QStringLiteral("10.77.%1.1").arg(m_subnet);
}

QString NetworkNamespace::nsAddress() const
{
    return QStringLiteral("10.77.%1.2").arg(m_subnet);
}

QStringList NetworkNamespace::enterCommand() const
{
    return {QStringLiteral("nsenter"), QStringLiteral("--net=/run/netns/") + m_name};
}

bool NetworkNamespace::create(QString *error)
{
    remove();
    if (!isRoot()) {
        *error = QStringLiteral("NetworkNamespace needs root (ip netns)");
        return false;
    }
    // Subnets in use on the host (other fixtures' host sides included).
    QString addresses;
    runCommand(QStringLiteral("ip"),
               {QStringLiteral("-o"), QStringLiteral("-4"), QStringLiteral("addr"),
                QStringLiteral("show")},
               &addresses, 15000);
    QString tag;
    for (int attempt = 0; attempt < 100 && m_subnet < 0; ++attempt) {
        const int n = int(QRandomGenerator::global()->bounded(1, 255));
        tag = QString::number(QRandomGenerator::global()->bounded(0x10000), 16)
                  .rightJustified(4, QLatin1Char('0'));
        if (addresses.contains(QStringLiteral(" 10.77.%1.").arg(n)) ||
            QFileInfo::exists(QStringLiteral("/run/netns/qpp-") + tag) ||
            QFileInfo::exists(QStringLiteral("/sys/class/net/qpp%1h").arg(tag)))
            continue;
        m_subnet = n;
    }
    if (m_subnet < 0) {
        *error = QStringLiteral("no free subnet 10.77.N.0/24");
        return false;
    }
    m_name = QStringLiteral("qpp-") + tag;
    // Interface names: at most 15 characters.
    m_hostIf = QStringLiteral("qpp%1h").arg(tag);
    m_nsIf = QStringLiteral("qpp%1n").arg(tag);
    if (!ip({QStringLiteral("netns"), QStringLiteral("add"), m_name}, error)) {
        m_name.clear();
        m_subnet = -1;
        return false;
    }
    const QString n = m_name;
    const bool ok =
        ip({QStringLiteral("link"), QStringLiteral("add"), m_hostIf, QStringLiteral("type"),
            QStringLiteral("veth"), QStringLiteral("peer"), QStringLiteral("name"), m_nsIf,
            QStringLiteral("netns"), n},
           error) &&
        ip({QStringLiteral("addr"), QStringLiteral("add"), hostAddress() + QStringLiteral("/24"),
            QStringLiteral("dev"), m_hostIf},
           error) &&
        ip({QStringLiteral("link"), QStringLiteral("set"), m_hostIf, QStringLiteral("up")},
           error) &&
        ip({QStringLiteral("addr"), QStringLiteral("add"), nsAddress() + QStringLiteral("/24"),
            QStringLiteral("dev"), m_nsIf},
           error, n) &&
        ip({QStringLiteral("link"), QStringLiteral("set"), m_nsIf, QStringLiteral("up")}, error,
           n) &&
        ip({QStringLiteral("link"), QStringLiteral("set"), QStringLiteral("lo"),
            QStringLiteral("up")},
           error, n);
    if (!ok)
        remove();
    return ok;
}

bool NetworkNamespace::setLinkUp(bool up)
{
    if (m_name.isEmpty())
        return false;
    return ip({QStringLiteral("link"), QStringLiteral("set"), m_hostIf,
               up ? QStringLiteral("up") : QStringLiteral("down")},
              nullptr);
}

void NetworkNamespace::remove()
{
    if (m_name.isEmpty())
        return;
    // Deleting one end of a veth pair deletes the other.
    if (QFileInfo::exists(QStringLiteral("/sys/class/net/") + m_hostIf))
        ip({QStringLiteral("link"), QStringLiteral("del"), m_hostIf}, nullptr);
    ip({QStringLiteral("netns"), QStringLiteral("del"), m_name}, nullptr);
    m_name.clear();
    m_hostIf.clear();
    m_nsIf.clear();
    m_subnet = -1;
}

} // namespace RemoteFixtures
