// SPDX-License-Identifier: MIT
// qtprocesspool-remotebench: what a remote worker costs against a local one,
// in one run on this machine (bench/remote.md).
//
//     qtprocesspool-remotebench [--quick] [--repetitions N]
//
// One worker at a time: (a) local, (b) WorkerLauncher::command() running this
// executable directly (TCP and TLS on loopback, no ssh), (c) WorkerLauncher::ssh()
// to an sshd of its own on 127.0.0.1. For each: W1 round trips (p50, p99), W2
// pipelined run() throughput and an 8 MiB echo. Then W4, CPU-bound tasks on 2
// local workers against 1 local + 1 on a second "host": a network namespace
// with its own sshd, the pool listening on the namespace's host-side address.
// The configurations run interleaved, each repetition in turn; the tables
// give medians. Every result is checked: a wrong one, an error or a timeout
// exits with 1. Needs root (sshd, ip netns): prints "skipped: needs root"
// and exits 0 otherwise. This executable is also its own pool worker.
#include "fixtures.h"
#include "measure.h"

#include <QtProcessPool/ProcessPool>
#include <QtProcessPool/Worker>

#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QThread>
#include <QtNetwork/QHostAddress>

#include <cstdio>
#include <functional>
#include <memory>

#include <unistd.h>

namespace Bench {

namespace {

using QtProcessPool::ProcessPool;
using QtProcessPool::WorkerLauncher;

// Columns of the transport table, in the order they run.
const QString LocalSystem = QStringLiteral("local");
const QString CommandSystem = QStringLiteral("command");
const QString SshSystem = QStringLiteral("ssh");
// Rows of the W4 table.
const QString OneLocal = QStringLiteral("w4.local1");
const QString TwoLocal = QStringLiteral("w4.local2");
const QString Mixed = QStringLiteral("w4.mixed");

namespace RemoteMetric {
const QString Start = QStringLiteral("start");
const QString EchoRate = QStringLiteral("w3.echo");
const QString ScalingRate = QStringLiteral("w4.rate");
const QString SharedMemory = QStringLiteral("shm"); // transfers so far, at the end
} // namespace RemoteMetric

/// The worker's own command line: a "remote" worker on this machine.
const QStringList Direct = {QStringLiteral("{program}"), QStringLiteral("{arguments}")};

void progress(const QString &text)
{
    std::fprintf(stderr, "%s\n", qPrintable(text));
    std::fflush(stderr);
}

Config remoteConfig(bool quick)
{
    Config config;
    config.quick = quick;
    config.repetitions = quick ? 1 : 3;
    config.latencyRoundTrips = quick ? 50 : 2000;
    config.throughputTasks = quick ? 200 : 20000;
    config.payloadSizes = {quick ? qint64(1) << 20 : qint64(8) << 20};
    config.payloadIterations = {quick ? 1 : 4};
    config.scalingTasks = quick ? 6 : 200;
    config.scalingTaskMs = quick ? 2 : 20;
    config.timeoutMs = 120000;
    return config;
}

/// A pool whose tasks all run on remote workers, which dial back to listen.
std::unique_ptr<ProcessPool> remotePool(const QHostAddress &listen, const Config &config)
{
    auto pool = std::make_unique<ProcessPool>();
    pool->setMaxWorkers(0);
    pool->setRemoteListenAddress(listen);
    pool->setWorkerStartTimeout(std::chrono::milliseconds(config.timeoutMs));
    return pool;
}

std::unique_ptr<ProcessPool> localPool(int workers)
{
    auto pool = std::make_unique<ProcessPool>();
    pool->setMaxWorkers(workers);
    pool->setMinWorkers(workers);
    return pool;
}

/// Throws unless every worker of pool belongs to a group (remote), or none does.
void checkPlacement(const ProcessPool &pool, bool remote)
{
    for (const auto &info : pool.statistics().workerInfo) {
        if ((info.group != 0) != remote)
            throw Failure(
                QStringLiteral("a %1 worker (pid %2) in a %3 configuration")
                    .arg(info.group != 0 ? QStringLiteral("remote") : QStringLiteral("local"))
                    .arg(info.pid)
                    .arg(remote ? QStringLiteral("remote") : QStringLiteral("local")));
    }
}

/// W1, W2 and the echo through pool's single worker, for system.
void measureTransport(ProcessPool &pool, const QString &system, bool remote, const Config &config,
                      Results &results)
{
    const auto increments = [&](int i) { return pool.run(increment, i); };
    QList<double> samples = measureLatency(increments, config.latencyRoundTrips, config);
    results.add(Metric::LatencyP50, system, percentile(samples, 50));
    results.add(Metric::LatencyP99, system, percentile(samples, 99));
    results.add(Metric::Throughput, system,
                measureThroughput(increments, config.throughputTasks, config).tasksPerSecond);
    const qint64 size = config.payloadSizes.constFirst();
    const QByteArray payload = makePayload(size, 7);
    double ms = 0;
    for (int i = 0; i < config.payloadIterations.constFirst(); ++i)
        ms += measureEcho(pool, payload, config).ms;
    const double bytes = 2.0 * double(size) * config.payloadIterations.constFirst();
    results.add(RemoteMetric::EchoRate, system, bytes / (ms / 1e3) / 1e6);
    checkNoCrash(pool);
    checkPlacement(pool, remote);
    results.add(RemoteMetric::SharedMemory, system,
                double(pool.statistics().sharedMemoryTransfers));
}

/// config.scalingTasks burn() tasks on pool, as tasks per second for row.
void measureScalingRate(ProcessPool &pool, const QString &row, const Config &config,
                        Results &results)
{
    const double seconds =
        measureScaling([&](qint64 iterations) { return pool.run(burn, iterations); }, config);
    results.add(RemoteMetric::ScalingRate, row, config.scalingTasks / seconds);
    checkNoCrash(pool);
}

/// The second "host": a network namespace with an sshd of its own. sshd is
/// destroyed (stopped) first: its processes would keep the namespace alive.
struct NamespaceHost
{
    RemoteFixtures::NetworkNamespace ns;
    RemoteFixtures::SshServer sshd;

    void start()
    {
        QString error;
        if (!ns.create(&error))
            throw Failure(QStringLiteral("network namespace: ") + error);
        sshd.setListenAddress(ns.nsAddress());
        sshd.setNetworkNamespace(ns.name());
        if (!sshd.start(&error))
            throw Failure(QStringLiteral("sshd in the namespace: ") + error);
    }
};

QString transportTable(const Results &results)
{
    const QList<std::pair<QString, QString>> rows = {
        {RemoteMetric::Start, QStringLiteral("worker start-up, ms (once)")},
        {Metric::LatencyP50, QStringLiteral("W1 round trip p50, µs")},
        {Metric::LatencyP99, QStringLiteral("W1 round trip p99, µs")},
        {Metric::Throughput, QStringLiteral("W2 pipelined run(), tasks/s")},
        {RemoteMetric::EchoRate, QStringLiteral("echo, MB/s (both ways)")},
    };
    QString out =
        QStringLiteral("| 1 worker | local | command (TLS) | ratio | ssh (TLS) | ratio |\n"
                       "|---|---:|---:|---:|---:|---:|\n");
    for (const auto &[metric, title] : rows) {
        const double local = results.median(metric, LocalSystem);
        out += QStringLiteral("| %1 | %2 |").arg(title, number(local));
        for (const QString &system : {CommandSystem, SshSystem}) {
            const double value = results.median(metric, system);
            out += QStringLiteral(" %1 | %2 |").arg(number(value), ratio(value / local));
        }
        out += u'\n';
    }
    return out;
}

QString scalingTable(const Config &config, const Results &results)
{
    const QList<std::pair<QString, QString>> rows = {
        {OneLocal, QStringLiteral("1 local worker")},
        {TwoLocal, QStringLiteral("2 local workers")},
        {Mixed, QStringLiteral("1 local + 1 in a network namespace (ssh)")},
    };
    QString out = QStringLiteral("| W4: %1 × %2 ms burn() | tasks/s | ratio to 2 local |\n"
                                 "|---|---:|---:|\n")
                      .arg(config.scalingTasks)
                      .arg(config.scalingTaskMs);
    const double two = results.median(RemoteMetric::ScalingRate, TwoLocal);
    for (const auto &[row, title] : rows) {
        const double value = results.median(RemoteMetric::ScalingRate, row);
        out += QStringLiteral("| %1 | %2 | %3 |\n").arg(title, number(value), ratio(value / two));
    }
    return out;
}

int driverMain(QCoreApplication &app)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Benchmarks remote workers (command, ssh, a network namespace) against local ones; "
        "prints markdown tables."));
    parser.addHelpOption();
    const QCommandLineOption quickOption(
        QStringLiteral("quick"), QStringLiteral("Smoke mode: tiny counts, once, no timing."));
    const QCommandLineOption repetitionsOption(
        {QStringLiteral("r"), QStringLiteral("repetitions")},
        QStringLiteral("Repetitions (default 3; 1 with --quick)."), QStringLiteral("N"));
    parser.addOptions({quickOption, repetitionsOption});
    parser.process(app);
    if (::geteuid() != 0) {
        std::printf("skipped: needs root (it starts sshd and a network namespace)\n");
        return 0;
    }
    Config config = remoteConfig(parser.isSet(quickOption));
    if (parser.isSet(repetitionsOption) &&
        !setRepetitions(parser.value(repetitionsOption), &config))
        return 2;
    const QString loadAtStart = loadAverage();
    progress(QStringLiteral("calibrating the %1 ms CPU task...").arg(config.scalingTaskMs));
    config.burnIterations = calibrateBurn(config.scalingTaskMs);
    config.burnExpected = burn(config.burnIterations);

    Results results;
    int remoteTasks = 0; // of the mixed pool
    int mixedTasks = 0;
    try {
        // The fixtures outlive the pools (declared first), so every worker
        // has gone before its sshd and namespace are stopped.
        RemoteFixtures::SshServer sshd;
        NamespaceHost host;
        QString error;
        if (!sshd.start(&error))
            throw Failure(QStringLiteral("sshd on 127.0.0.1: ") + error);
        host.start();

        progress(QStringLiteral("starting the workers..."));
        const auto local = localPool(1);
        results.add(RemoteMetric::Start, LocalSystem,
                    waitForWorkers(*local, 1, config, [&] { local->prestart(); }));
        const auto command = remotePool(QHostAddress::LocalHost, config);
        results.add(RemoteMetric::Start, CommandSystem, waitForWorkers(*command, 1, config, [&] {
                        command->addWorkers(WorkerLauncher::command(Direct, 1));
                    }));
        const auto ssh = remotePool(QHostAddress::LocalHost, config);
        results.add(RemoteMetric::Start, SshSystem, waitForWorkers(*ssh, 1, config, [&] {
                        ssh->addWorkers(
                            WorkerLauncher::ssh(sshd.destination(), 1, sshd.sshOptions()));
                    }));
        const auto two = localPool(2);
        waitForWorkers(*two, 2, config, [&] { two->prestart(); });
        const auto mixed = localPool(1);
        mixed->setRemoteListenAddress(QHostAddress(host.ns.hostAddress()));
        mixed->setWorkerStartTimeout(std::chrono::milliseconds(config.timeoutMs));
        waitForWorkers(*mixed, 2, config, [&] {
            mixed->prestart();
            mixed->addWorkers(
                WorkerLauncher::ssh(host.sshd.destination(), 1, host.sshd.sshOptions()));
        });

        for (int repetition = 1; repetition <= config.repetitions; ++repetition) {
            progress(QStringLiteral("repetition %1/%2").arg(repetition).arg(config.repetitions));
            measureTransport(*local, LocalSystem, false, config, results);
            measureTransport(*command, CommandSystem, true, config, results);
            measureTransport(*ssh, SshSystem, true, config, results);
            // W4 with 1 local worker: the local pool of the transports.
            measureScalingRate(*local, OneLocal, config, results);
            measureScalingRate(*two, TwoLocal, config, results);
            measureScalingRate(*mixed, Mixed, config, results);
        }
        // Both workers of the mixed pool must have worked.
        for (const auto &info : mixed->statistics().workerInfo) {
            (info.group != 0 ? remoteTasks : mixedTasks) += int(info.tasksDone);
        }
        if (remoteTasks == 0)
            throw Failure(QStringLiteral("the namespace's worker ran no task"));
    } catch (const std::exception &error) {
        std::fprintf(stderr, "FAILED: %s\n", error.what());
        return 1;
    }

    std::printf("# QtProcessPool remote workers\n\n");
    std::printf("- CPU: %s, %d cores; load average %s at the start, %s at the end\n",
                qPrintable(cpuModel()), QThread::idealThreadCount(), qPrintable(loadAtStart),
                qPrintable(loadAverage()));
    std::printf("- Run: %s, %d repetition(s), configurations interleaved; medians\n\n",
                config.quick ? "--quick (tiny counts, not comparable)" : "full",
                config.repetitions);
    std::printf("%s\n", qPrintable(transportTable(results)));
    std::printf("Ratio: the configuration's figure over the local one's. W1: %d round trips; "
                "W2: %d tasks; echo: %d × %s.\n\n",
                config.latencyRoundTrips, config.throughputTasks,
                config.payloadIterations.constFirst(),
                qPrintable(sizeLabel(config.payloadSizes.constFirst())));
    std::printf("%s\n", qPrintable(scalingTable(config, results)));
    std::printf("The namespace's worker ran %d of the mixed pool's %d tasks (warm-up "
                "included).\n",
                remoteTasks, remoteTasks + mixedTasks);
    const auto transfers = [&](const QString &system) {
        return int(
            results.samples(RemoteMetric::SharedMemory, system).value(config.repetitions - 1));
    };
    std::printf("Shared-memory transfers (large payloads handed over outside the socket): "
                "local %d, command %d, ssh %d.\n",
                transfers(LocalSystem), transfers(CommandSystem), transfers(SshSystem));
    return 0;
}

} // namespace

} // namespace Bench

int main(int argc, char **argv)
{
    // First: this executable is also the pool's worker, local and remote.
    if (QtProcessPool::isWorkerProcess(argc, argv))
        return QtProcessPool::execWorker(argc, argv);
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("qtprocesspool-remotebench"));
    return Bench::driverMain(app);
}
