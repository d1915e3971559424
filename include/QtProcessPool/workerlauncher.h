// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_WORKERLAUNCHER_H
#define QTPROCESSPOOL_WORKERLAUNCHER_H

#include <QtProcessPool/qtprocesspool_export.h>

#include <QtCore/QSharedDataPointer>
#include <QtCore/QString>
#include <QtCore/QStringList>

#include <chrono>

namespace QtProcessPool {

class WorkerLauncherData;

/// How to start a group of workers on other machines: a value given to
/// ProcessPool::addWorkers(). The workers run this application's executable
/// (or setProgram()) in worker mode on the remote side, connect back to the
/// pool over TCP with TLS, and then serve tasks like local workers.
///
/// The worker's secret and the pool's certificate fingerprint reach it on
/// its stdin, through the launcher (ssh and srun forward it), never in its
/// command line. One launcher process runs per worker on this machine; when
/// it ends, the worker has ended, and the pool ends it to end the worker.
class QTPROCESSPOOL_EXPORT WorkerLauncher
{
public:
    /// Which engine places the workers.
    enum class Kind {
        Ssh,     ///< OpenSSH: ssh()
        Slurm,   ///< SLURM's srun: slurm()
        Command, ///< any other engine: command()
    };

    /// `workers` processes on `destination` ("host" or "user@host"), each
    /// started by `ssh [sshOptions] destination <program> <worker arguments>`
    /// (OpenSSH; non-interactive: pass `-o BatchMode=yes` and the keys you need).
    static WorkerLauncher ssh(const QString &destination, int workers,
                              const QStringList &sshOptions = {});
    /// `workers` processes placed by SLURM, each started by `srun
    /// [srunOptions] --ntasks=1 <program> <worker arguments>` (one step per
    /// worker, so that each one's secret reaches it alone and its end is
    /// seen; removing them cancels the steps).
    static WorkerLauncher slurm(int workers, const QStringList &srunOptions = {});
    /// Any engine: a command line with the placeholders {program} and
    /// {arguments} ({arguments} expands to several words), run once per
    /// worker. The command must pass its stdin on to the worker.
    static WorkerLauncher command(const QStringList &commandTemplate, int workers);

    /// No workers: a command launcher with an empty template and 0 workers.
    WorkerLauncher();
    /// A copy (the data is shared until one of them changes).
    WorkerLauncher(const WorkerLauncher &other);
    /// Assigns a copy.
    WorkerLauncher &operator=(const WorkerLauncher &other);
    ~WorkerLauncher();

    /// The program on the remote side; default: this executable's absolute path.
    WorkerLauncher &setProgram(const QString &program);

    /// Which engine places the workers.
    Kind kind() const;
    /// How many workers the group keeps running.
    int workers() const;
    /// The ssh destination; empty for the others.
    QString destination() const;
    /// sshOptions, srunOptions or the command template.
    QStringList options() const;
    /// The remote program; empty: this executable's absolute path.
    QString program() const;

    /// For an engine that cannot pass stdin on: each worker gets its secret
    /// and the pool's fingerprint as a join token in its arguments
    /// (`--qtprocesspool-join <token>`), good for one connection within
    /// lifetime of its start; after that its start fails and the token is
    /// worthless. Arguments are visible to other users of the remote host
    /// (ps) while the token is valid: prefer stdin where the engine has it.
    /// 0 (default): the credentials go on stdin.
    WorkerLauncher &setJoinToken(std::chrono::milliseconds lifetime);
    /// The join token's lifetime; 0: credentials on stdin.
    std::chrono::milliseconds joinTokenLifetime() const;

    /// The command line that starts one worker: element 0 is the program to
    /// run on this machine. workerArguments are the worker mode's arguments
    /// (they name where to connect back); tag, a name unique to this worker,
    /// names its SLURM job (`--job-name`) for stopCommandLine().
    QStringList commandLine(const QString &program, const QStringList &workerArguments,
                            const QString &tag = QString()) const;
    /// The command that ends the worker tagged tag where it runs, when ending
    /// its launcher here is not enough: `scancel --name=<tag>` for SLURM
    /// (a killed srun leaves its job allocated); empty for ssh and commands,
    /// whose workers end with their connection to the pool.
    QStringList stopCommandLine(const QString &tag) const;
    /// The host the workers run on, as far as the launcher says: the ssh
    /// destination's host; empty for SLURM and commands (the workers' hellos tell).
    QString host() const;

private:
    QSharedDataPointer<WorkerLauncherData> d;
};

} // namespace QtProcessPool

#endif
