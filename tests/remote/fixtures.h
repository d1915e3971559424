// SPDX-License-Identifier: MIT
// Test fixtures for the remote-worker tests: real daemons of their own, each in
// a QTemporaryDir, each started as a child process and stopped by its pid (in
// stop() and in the destructor, so a failed check leaves nothing running).
// They need root (sshd, slurmd, ip netns); tests QSKIP otherwise.
//
// All three are used from the thread that made them; none is a QObject, and
// start()/create() block until the daemon serves or the time limit passes.
#ifndef QTPROCESSPOOL_TESTS_REMOTE_FIXTURES_H
#define QTPROCESSPOOL_TESTS_REMOTE_FIXTURES_H

#include <QtCore/QDeadlineTimer>
#include <QtCore/QList>
#include <QtCore/QProcessEnvironment>
#include <QtCore/QString>
#include <QtCore/QStringList>

#include <memory>

class QProcess;
class QTemporaryDir;

namespace RemoteFixtures {

/// Runs program with arguments and waits up to timeoutMs. True when it exited
/// normally with status 0. output, if given, gets its stdout and stderr.
bool runCommand(const QString &program, const QStringList &arguments, QString *output = nullptr,
                int timeoutMs = 30000,
                const QProcessEnvironment &environment = QProcessEnvironment::systemEnvironment(),
                const QByteArray &input = {});

/// Pids of the processes (other than this one) one of whose arguments in
/// /proc/PID/cmdline contains needle.
QList<qint64> processesWithArgument(const QString &needle);

/// True for a process that ended: vanished, or a zombie its parent has not
/// reaped yet.
bool isZombieOrGone(qint64 pid);

/// One line per pid: its state, parent and command line (from /proc), for
/// a failure message about processes left running.
QString describeProcesses(const QList<qint64> &pids);

/// A TCP port on 127.0.0.1 that nothing listens on right now (it may be taken
/// before it is used: starters retry on a bind failure).
quint16 freePort();

/// An OpenSSH server of its own: host key, client key, known_hosts and
/// sshd_config in a temporary directory; public key login as root only.
/// `sshd -D` stays in the foreground as a child process (through nsenter when
/// a network namespace is set, which then execs sshd under the same pid).
///
/// Without a pty, a session's command outlives a client that goes away (no
/// SIGHUP; tst_fixtures checks it): it keeps running, reparented, once its
/// sshd ends. sshd marks every session's environment (SetEnv
/// QPP_SSHD_FIXTURE=<temp dir>), so stop() finds and ends such orphans too.
class SshServer
{
public:
    SshServer();
    ~SshServer(); // stop()
    SshServer(const SshServer &) = delete;
    SshServer &operator=(const SshServer &) = delete;

    /// Before start(): the address to listen on (default 127.0.0.1) and the
    /// network namespace (its /run/netns name) to run sshd in (default none).
    void setListenAddress(const QString &address) { m_address = address; }
    void setNetworkNamespace(const QString &name) { m_netns = name; }

    /// Makes the keys and the config, starts sshd and waits until it listens
    /// (its log says so, or the port takes a connection). False within about
    /// 10 s with a message naming the cause (and the log's tail) in *error.
    /// Retries with another port if the chosen one was taken meanwhile.
    bool start(QString *error);

    /// What an ssh client needs: key, port, pinned host key, no prompts, no
    /// user or system config. Put before the destination.
    QStringList sshOptions() const;
    /// root@ADDRESS
    QString destination() const;
    QString address() const { return m_address; }
    quint16 port() const { return m_port; }
    qint64 pid() const;
    QString configPath() const;
    QString clientKeyPath() const;
    QString knownHostsPath() const;
    /// sshd's log (-E) so far.
    QString log() const;

    /// Kills sshd and every process it started (sessions, their commands,
    /// orphans with its environment marker) by pid: SIGTERM, then SIGKILL
    /// after 5 s; waits for them. Idempotent.
    void stop();

    /// As RemoteFixtures::processesWithArgument().
    static QList<qint64> processesWithArgument(const QString &needle);

private:
    bool prepare(QString *error);
    bool startOnce(QString *error, bool *portTaken);

    QString m_address = QStringLiteral("127.0.0.1");
    QString m_netns;
    quint16 m_port = 0;
    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<QProcess> m_sshd;
};

/// A single-node SLURM 22.05 cluster of its own: a munge key and munged on a
/// private socket, slurmctld and slurmd (node n0, partition p0) on free
/// ports, all state and spool in a temporary directory. The daemons run in
/// the foreground (-D, munged -F) as child processes.
///
/// How srun treats stdin (established by tst_fixtures, srun 22.05.8):
/// - `srun --ntasks=1 --nodes=1 PROGRAM` forwards its own stdin to the task by
///   default, as a stream: a line written later arrives later, and EOF on
///   srun's stdin is EOF for the task. `--input=all` is the same; `--input=0`
///   gives it to task 0 only; `--input=none` gives the task EOF at once.
/// - With --ntasks=2 and no --input, every task gets a copy of the stdin.
/// - `scancel JOBID` ends the task (SIGTERM, then SIGKILL), its step and the
///   srun, which exits non-zero.
/// - srun may print "job N queued and waiting for resources" and "has been
///   allocated resources" on stderr when the job before still completes (for
///   some ms, on 2 CPUs): read only stdout, or pass --quiet.
class SlurmCluster
{
public:
    SlurmCluster();
    ~SlurmCluster(); // stop()
    SlurmCluster(const SlurmCluster &) = delete;
    SlurmCluster &operator=(const SlurmCluster &) = delete;

    /// Starts munged, slurmctld, slurmd and waits until sinfo reports the node
    /// idle. False within about 30 s with the cause (and the daemons' log
    /// tails) in *error. Retries with other ports if a chosen one was taken.
    bool start(QString *error);

    QString confPath() const;
    QString nodeName() const { return QStringLiteral("n0"); }
    QString partition() const { return QStringLiteral("p0"); }
    /// The system environment without SLURM_* variables, plus SLURM_CONF:
    /// for srun, sbatch, squeue, scancel against this cluster.
    QProcessEnvironment environment() const;

    /// Running job steps, "JOBID.STEPID NAME" per line (squeue --steps).
    QStringList runningSteps() const;
    /// Job ids of all jobs not yet finished (squeue).
    QStringList jobs() const;
    /// scancel of every job of this cluster; waits up to timeoutMs for none
    /// to remain.
    bool cancelAll(int timeoutMs = 10000);

    /// Tails of munged's, slurmctld's and slurmd's logs.
    QString log() const;

    /// cancelAll(), then kills slurmd, slurmctld and munged by pid (SIGTERM,
    /// SIGKILL after 5 s) and any slurmstepd of this cluster and its tasks
    /// left over. Idempotent.
    void stop();

private:
    bool startDaemon(std::unique_ptr<QProcess> &process, const QString &program,
                     const QStringList &arguments, const QString &outputFile, QString *error);
    bool writeConfig(QString *error);
    bool startOnce(const QDeadlineTimer &deadline, QString *error, bool *portTaken);

    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<QProcess> m_munged;
    std::unique_ptr<QProcess> m_slurmctld;
    std::unique_ptr<QProcess> m_slurmd;
};

/// A network namespace qpp-XXXX joined to the host by a veth pair: host side
/// 10.77.N.1/24, namespace side 10.77.N.2/24 (N unused on the host), both up,
/// and lo up inside.
class NetworkNamespace
{
public:
    NetworkNamespace() = default;
    ~NetworkNamespace(); // remove()
    NetworkNamespace(const NetworkNamespace &) = delete;
    NetworkNamespace &operator=(const NetworkNamespace &) = delete;

    /// False with the failing ip command's output in *error; whatever was
    /// made by then is removed again.
    bool create(QString *error);

    QString name() const { return m_name; }
    QString hostAddress() const;
    QString nsAddress() const;
    /// The veth ends' interface names.
    QString hostInterface() const { return m_hostIf; }
    QString nsInterface() const { return m_nsIf; }
    /// Prefix to run a program inside: nsenter --net=/run/netns/NAME. (Not
    /// `ip netns exec`, which remounts /sys.)
    QStringList enterCommand() const;
    /// Cuts (false) or restores (true) the link: the host side down or up.
    bool setLinkUp(bool up);

    /// Deletes the veth pair and the namespace. Processes still inside keep
    /// it alive unnamed: stop them first. Idempotent.
    void remove();

private:
    QString m_name;
    QString m_hostIf;
    QString m_nsIf;
    int m_subnet = -1;
};

} // namespace RemoteFixtures

#endif
