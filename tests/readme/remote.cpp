// SPDX-License-Identifier: MIT
// The README's example in "Workers on other machines", compiled: the part
// between "README begin" and "README end" is in the README word for word
// (readme_snippets checks it). Compiled only, not run: it names hosts and a
// SLURM partition that exist only on the reader's side. The same calls run
// against a real sshd and a real SLURM cluster in tests/remote/tst_remote.
#include <QtProcessPool/ProcessPool>

#include <QtCore/QCoreApplication>
#include <QtNetwork/QHostAddress>

#include <cstdio>

int renderTile(int tile) // runs in a worker process, local or remote
{
    return tile * tile;
}
QPP_REGISTER_TASK(renderTile)

QFuture<int> addRemoteWorkers(QtProcessPool::ProcessPool &pool)
{
    // As the README shows it:
    // clang-format off
    // README begin: remote workers
    pool.setMaxWorkers(2);                         // local workers (0: none)
    pool.setRemoteListenAddress(QHostAddress(QStringLiteral("10.0.0.5"))); // where workers dial back

    // Two workers on render1, started by OpenSSH (keys, no password prompt):
    const int render = pool.addWorkers(QtProcessPool::WorkerLauncher::ssh(
        QStringLiteral("alice@render1"), 2, {QStringLiteral("-o"), QStringLiteral("BatchMode=yes")}));

    // Eight workers placed by SLURM, one job step each:
    const int cluster = pool.addWorkers(QtProcessPool::WorkerLauncher::slurm(
        8, {QStringLiteral("--partition=batch"), QStringLiteral("--time=02:00:00")}));

    // Any other engine: {program} and {arguments} are filled in per worker.
    pool.addWorkers(QtProcessPool::WorkerLauncher::command(
        {QStringLiteral("my-launcher"), QStringLiteral("--"), QStringLiteral("{program}"),
         QStringLiteral("{arguments}")}, 4));

    QFuture<int> tile7 = pool.run(renderTile, 7); // wherever a worker is free
    pool.removeWorkers(render);          // running tasks finish, then those workers go
    // README end
    // clang-format on
    pool.removeWorkers(cluster);
    return tile7;
}

int main(int argc, char **argv)
{
    if (QtProcessPool::isWorkerProcess(argc, argv))
        return QtProcessPool::execWorker(argc, argv);
    QCoreApplication app(argc, argv);
    std::puts("readme_remote is compiled, not run: see tests/remote/tst_remote");
    return 0;
}
