// SPDX-License-Identifier: MIT
// WorkerLauncher: the value describing a group of remote workers, and the
// command line that starts one of them on this machine (ssh, srun or the
// user's template). Knows nothing of sockets or tasks.
#include <QtProcessPool/workerlauncher.h>

#include "remote/shellquote.h"

#include <algorithm>

namespace QtProcessPool {

class WorkerLauncherData : public QSharedData
{
public:
    WorkerLauncher::Kind kind = WorkerLauncher::Kind::Command;
    int workers = 0;
    QString destination;
    QStringList options;
    QString program;
    std::chrono::milliseconds joinTokenLifetime{0};
};

WorkerLauncher::WorkerLauncher()
    : d(new WorkerLauncherData)
{
}
WorkerLauncher::WorkerLauncher(const WorkerLauncher &other) = default;
WorkerLauncher &WorkerLauncher::operator=(const WorkerLauncher &other) = default;
WorkerLauncher::~WorkerLauncher() = default;

WorkerLauncher WorkerLauncher::ssh(const QString &destination, int workers,
                                   const QStringList &sshOptions)
{
    WorkerLauncher launcher;
    launcher.d->kind = Kind::Ssh;
    launcher.d->workers = std::max(0, workers);
    launcher.d->destination = destination;
    launcher.d->options = sshOptions;
    return launcher;
}

WorkerLauncher WorkerLauncher::slurm(int workers, const QStringList &srunOptions)
{
    WorkerLauncher launcher;
    launcher.d->kind = Kind::Slurm;
    launcher.d->workers = std::max(0, workers);
    launcher.d->options = srunOptions;
    return launcher;
}

WorkerLauncher WorkerLauncher::command(const QStringList &commandTemplate, int workers)
{
    WorkerLauncher launcher;
    launcher.d->kind = Kind::Command;
    launcher.d->workers = std::max(0, workers);
    launcher.d->options = commandTemplate;
    return launcher;
}

WorkerLauncher &WorkerLauncher::setProgram(const QString &program)
{
    d->program = program;
    return *this;
}

WorkerLauncher &WorkerLauncher::setJoinToken(std::chrono::milliseconds lifetime)
{
    d->joinTokenLifetime = std::max(lifetime, std::chrono::milliseconds(0));
    return *this;
}

std::chrono::milliseconds WorkerLauncher::joinTokenLifetime() const
{
    return d->joinTokenLifetime;
}

WorkerLauncher::Kind WorkerLauncher::kind() const
{
    return d->kind;
}
int WorkerLauncher::workers() const
{
    return d->workers;
}
QString WorkerLauncher::destination() const
{
    return d->destination;
}
QStringList WorkerLauncher::options() const
{
    return d->options;
}
QString WorkerLauncher::program() const
{
    return d->program;
}

QStringList WorkerLauncher::stopCommandLine(const QString &tag) const
{
    // Killing srun does not end its job: the allocation stays until the
    // controller is told (and a killed srun cannot tell it).
    if (d->kind != Kind::Slurm || tag.isEmpty())
        return {};
    return {QStringLiteral("scancel"), QStringLiteral("--quiet"), QStringLiteral("--name=") + tag};
}

QString WorkerLauncher::host() const
{
    if (d->kind != Kind::Ssh)
        return {};
    const qsizetype at = d->destination.lastIndexOf(QLatin1Char('@'));
    return at < 0 ? d->destination : d->destination.mid(at + 1);
}

QStringList WorkerLauncher::commandLine(const QString &program, const QStringList &workerArguments,
                                        const QString &tag) const
{
    const QStringList worker = QStringList{program} + workerArguments;
    switch (d->kind) {
    case Kind::Ssh:
        // ssh hands the remote shell one string: each word quoted for it.
        // -T: no terminal, so stdin is a plain pipe to the worker.
        return QStringList{QStringLiteral("ssh")} + d->options +
               QStringList{QStringLiteral("-T"), QStringLiteral("--"), d->destination,
                           remote::shellJoin(worker)};
    case Kind::Slurm:
        // After the user's options, so that the tag (stopCommandLine()) wins.
        return QStringList{QStringLiteral("srun")} + d->options +
               (tag.isEmpty() ? QStringList() : QStringList{QStringLiteral("--job-name=") + tag}) +
               QStringList{QStringLiteral("--ntasks=1"), QStringLiteral("--nodes=1")} + worker;
    case Kind::Command:
        break;
    }
    // {arguments} as a word of its own expands to several words; inside a
    // longer word (a shell command string) both placeholders are quoted.
    QStringList line;
    for (const QString &word : d->options) {
        if (word == QLatin1String("{program}")) {
            line << program;
        } else if (word == QLatin1String("{arguments}")) {
            line << workerArguments;
        } else {
            QString expanded = word;
            expanded.replace(QLatin1String("{program}"), remote::shellQuote(program));
            expanded.replace(QLatin1String("{arguments}"), remote::shellJoin(workerArguments));
            line << expanded;
        }
    }
    return line;
}

} // namespace QtProcessPool
