// SPDX-License-Identifier: MIT
// qtprocesspool-bench: QtProcessPool against its floors (raw socketpair and
// memcpy; a hand-written QLocalSocket protocol), QtConcurrent and Python's
// multiprocessing.Pool / concurrent.futures.ProcessPoolExecutor.
//
//     qtprocesspool-bench [--quick] [--repetitions N] [--output FILE]
//                         [--systems qpp,floorA,...] [--workloads w1,w3,...]
//                         [--python PROGRAM | --no-python] [--peers peers.py]
//
// Every workload runs for every system, interleaved: each repetition runs
// every workload, each for every system in turn. The report (markdown, with
// medians, ratios to QtProcessPool and targets) goes to stdout and, with
// --output, to a file. Exit code 1 if any system failed or returned a wrong
// result. This executable is also its own pool worker and floor child.
#include "measure.h"

#include <QtProcessPool/Worker>

#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QFile>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QProcess>
#include <QtCore/QStandardPaths>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>

#ifndef QPP_BENCH_PEERS_SCRIPT
#define QPP_BENCH_PEERS_SCRIPT "peers.py"
#endif

namespace Bench {

namespace {

void progress(const QString &text)
{
    std::fprintf(stderr, "%s\n", qPrintable(text));
    std::fflush(stderr);
}

/// Runs peers.py; returns its JSON answer. Throws Failure.
QJsonObject runPeers(const Config &config, const QStringList &arguments)
{
    QProcess process;
    process.setProcessChannelMode(QProcess::SeparateChannels);
    process.start(config.pythonProgram, QStringList{config.peersScript} + arguments);
    if (!process.waitForStarted(config.timeoutMs))
        throw Failure(
            QStringLiteral("cannot start %1: %2").arg(config.pythonProgram, process.errorString()));
    // Python's W2 with apply_async() over 100,000 tasks takes seconds, W4 a few.
    if (!process.waitForFinished(3 * config.timeoutMs)) {
        process.kill();
        process.waitForFinished();
        throw Failure(QStringLiteral("peers.py %1 timed out").arg(arguments.join(u' ')));
    }
    const QByteArray error = process.readAllStandardError().trimmed();
    if (process.exitStatus() != QProcess::NormalExit || process.exitCode() != 0)
        throw Failure(QStringLiteral("peers.py %1 failed (exit code %2): %3")
                          .arg(arguments.join(u' '))
                          .arg(process.exitCode())
                          .arg(QString::fromLocal8Bit(error)));
    QJsonParseError parseError;
    const QJsonDocument document =
        QJsonDocument::fromJson(process.readAllStandardOutput(), &parseError);
    if (!document.isObject())
        throw Failure(QStringLiteral("peers.py printed no JSON object: ") +
                      parseError.errorString());
    return document.object();
}

QString joinNumbers(const QList<qint64> &values)
{
    QStringList parts;
    for (qint64 value : values)
        parts.append(QString::number(value));
    return parts.join(u',');
}

QString joinNumbers(const QList<int> &values)
{
    QStringList parts;
    for (int value : values)
        parts.append(QString::number(value));
    return parts.join(u',');
}

/// Python's burn() iterations for config.scalingTaskMs and their result.
struct PythonSetup
{
    QString version;
    qint64 burnIterations = 0;
    QString burnExpected; // a 64-bit value, kept as text
};

PythonSetup setUpPython(const Config &config)
{
    const QJsonObject answer =
        runPeers(config, {QStringLiteral("calibrate"), QStringLiteral("--scaling-ms"),
                          QString::number(config.scalingTaskMs)});
    PythonSetup setup;
    setup.version = answer.value(QStringLiteral("python")).toString();
    setup.burnIterations = qint64(answer.value(QStringLiteral("burn_iterations")).toDouble());
    setup.burnExpected = answer.value(QStringLiteral("burn_expected")).toString();
    if (setup.burnIterations <= 0 || setup.burnExpected.isEmpty())
        throw Failure(QStringLiteral("peers.py calibrate gave no burn iterations"));
    return setup;
}

void benchPython(const QString &system, Workload workload, const Config &config,
                 const PythonSetup &setup, Results &results)
{
    const QJsonObject answer = runPeers(config, {QStringLiteral("run"),
                                                 QStringLiteral("--system"),
                                                 system,
                                                 QStringLiteral("--workload"),
                                                 workloadId(workload),
                                                 QStringLiteral("--round-trips"),
                                                 QString::number(config.latencyRoundTrips),
                                                 QStringLiteral("--tasks"),
                                                 QString::number(config.throughputTasks),
                                                 QStringLiteral("--executor-tasks"),
                                                 QString::number(config.executorThroughputTasks),
                                                 QStringLiteral("--sizes"),
                                                 joinNumbers(config.payloadSizes),
                                                 QStringLiteral("--iterations"),
                                                 joinNumbers(config.payloadIterations),
                                                 QStringLiteral("--scaling-tasks"),
                                                 QString::number(config.scalingTasks),
                                                 QStringLiteral("--burn-iterations"),
                                                 QString::number(setup.burnIterations),
                                                 QStringLiteral("--burn-expected"),
                                                 setup.burnExpected});
    const QJsonObject metrics = answer.value(QStringLiteral("metrics")).toObject();
    for (auto it = metrics.begin(); it != metrics.end(); ++it)
        results.add(it.key(), system, it.value().toDouble());
    for (const QJsonValue &note : answer.value(QStringLiteral("notes")).toArray())
        results.note(system, note.toString());
}

QStringList parseList(const QString &value, const QStringList &allowed, const char *what)
{
    if (value.isEmpty())
        return allowed;
    const QStringList items = value.split(u',', Qt::SkipEmptyParts);
    for (const QString &item : items) {
        if (!allowed.contains(item)) {
            std::fprintf(stderr, "unknown %s '%s' (known: %s)\n", what, qPrintable(item),
                         qPrintable(allowed.join(QStringLiteral(", "))));
            std::exit(2);
        }
    }
    return items;
}

int driverMain(QCoreApplication &app)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Benchmarks QtProcessPool against raw sockets, a hand-written QLocalSocket protocol, "
        "QtConcurrent and Python's process pools; prints a markdown table."));
    parser.addHelpOption();
    const QCommandLineOption quickOption(
        QStringLiteral("quick"), QStringLiteral("Smoke mode: every workload tiny and once."));
    const QCommandLineOption repetitionsOption(
        {QStringLiteral("r"), QStringLiteral("repetitions")},
        QStringLiteral("Repetitions of every workload (default 5; 1 with --quick)."),
        QStringLiteral("N"));
    const QCommandLineOption outputOption({QStringLiteral("o"), QStringLiteral("output")},
                                          QStringLiteral("Also write the report to this file."),
                                          QStringLiteral("FILE"));
    const QCommandLineOption systemsOption(QStringLiteral("systems"),
                                           QStringLiteral(
                                               "Comma-separated systems to run (default all: %1).")
                                               .arg(allSystems().join(u',')),
                                           QStringLiteral("LIST"));
    QStringList workloadIds;
    for (Workload workload : allWorkloads())
        workloadIds.append(workloadId(workload));
    const QCommandLineOption workloadsOption(
        QStringLiteral("workloads"),
        QStringLiteral("Comma-separated workloads to run (default all: %1; W6 is measured "
                       "within W2 and W3).")
            .arg(workloadIds.join(u',')),
        QStringLiteral("LIST"));
    const QCommandLineOption pythonOption(
        QStringLiteral("python"), QStringLiteral("Python interpreter (default python3 on PATH)."),
        QStringLiteral("PROGRAM"));
    const QCommandLineOption noPythonOption(QStringLiteral("no-python"),
                                            QStringLiteral("Leave the Python systems out."));
    const QCommandLineOption peersOption(QStringLiteral("peers"),
                                         QStringLiteral("The Python peers script (default %1).")
                                             .arg(QStringLiteral(QPP_BENCH_PEERS_SCRIPT)),
                                         QStringLiteral("FILE"),
                                         QStringLiteral(QPP_BENCH_PEERS_SCRIPT));
    parser.addOptions({quickOption, repetitionsOption, outputOption, systemsOption, workloadsOption,
                       pythonOption, noPythonOption, peersOption});
    parser.process(app);

    Config config = parser.isSet(quickOption) ? Config::smoke() : Config::full();
    if (parser.isSet(repetitionsOption) &&
        !setRepetitions(parser.value(repetitionsOption), &config))
        return 2;
    const QStringList systems = parseList(parser.value(systemsOption), allSystems(), "system");
    QList<Workload> workloads;
    for (const QString &id : parseList(parser.value(workloadsOption), workloadIds, "workload"))
        workloads.append(allWorkloads().at(workloadIds.indexOf(id)));

    RunInfo info;
    info.loadAtStart = loadAverage();
    Results results;
    config.peersScript = parser.value(peersOption);
    const bool wantPython = systems.contains(PoolSystem) || systems.contains(ExecutorSystem);
    PythonSetup python;
    if (wantPython && !parser.isSet(noPythonOption)) {
        config.pythonProgram = parser.isSet(pythonOption)
                                   ? parser.value(pythonOption)
                                   : QStandardPaths::findExecutable(QStringLiteral("python3"));
        if (config.pythonProgram.isEmpty()) {
            results.note({}, QStringLiteral("python3 not found: the Python columns are blank."));
        } else if (!QFile::exists(config.peersScript)) {
            results.note({}, QStringLiteral("%1 not found: the Python columns are blank.")
                                 .arg(config.peersScript));
            config.pythonProgram.clear();
        }
    } else if (wantPython) {
        results.note({}, QStringLiteral("--no-python: the Python columns are blank."));
    }

    progress(QStringLiteral("calibrating the %1 ms CPU task...").arg(config.scalingTaskMs));
    config.burnIterations = calibrateBurn(config.scalingTaskMs);
    config.burnExpected = burn(config.burnIterations);
    if (!config.pythonProgram.isEmpty()) {
        try {
            python = setUpPython(config);
        } catch (const std::exception &error) {
            results.fail(PoolSystem, QStringLiteral("setup"), QString::fromLocal8Bit(error.what()));
            results.fail(ExecutorSystem, QStringLiteral("setup"),
                         QString::fromLocal8Bit(error.what()));
        }
    }

    const QMap<QString, std::function<void(Workload)>> runners = {
        {ProcessPoolSystem, [&](Workload w) { benchProcessPool(w, config, results); }},
        {FloorASystem, [&](Workload w) { benchFloorA(w, config, results); }},
        {MemcpySystem, [&](Workload w) { benchMemcpy(w, config, results); }},
        {FloorBSystem, [&](Workload w) { benchFloorB(w, config, results); }},
        {QtConcurrentSystem, [&](Workload w) { benchQtConcurrent(w, config, results); }},
        {PoolSystem, [&](Workload w) { benchPython(PoolSystem, w, config, python, results); }},
        {ExecutorSystem,
         [&](Workload w) { benchPython(ExecutorSystem, w, config, python, results); }},
    };

    QElapsedTimer wall;
    wall.start();
    for (int repetition = 1; repetition <= config.repetitions; ++repetition) {
        for (Workload workload : workloads) {
            for (const QString &system : systems) {
                const bool isPython = system == PoolSystem || system == ExecutorSystem;
                if (results.failed(system) || (isPython && config.pythonProgram.isEmpty()))
                    continue;
                QElapsedTimer timer;
                timer.start();
                try {
                    runners.value(system)(workload);
                } catch (const std::exception &error) {
                    results.fail(system, workloadId(workload).toUpper(),
                                 QString::fromLocal8Bit(error.what()));
                    progress(QStringLiteral("  FAILED %1 %2: %3")
                                 .arg(systemTitle(system), workloadId(workload).toUpper(),
                                      QString::fromLocal8Bit(error.what())));
                }
                progress(QStringLiteral("[rep %1/%2] %3 %4: %5 s (total %6 s)")
                             .arg(repetition)
                             .arg(config.repetitions)
                             .arg(workloadId(workload).toUpper(), systemTitle(system))
                             .arg(elapsedMs(timer) / 1e3, 0, 'f', 1)
                             .arg(elapsedMs(wall) / 1e3, 0, 'f', 0));
            }
        }
    }

    info.pythonVersion = python.version;
    const QString text = report(config, results, info);
    std::fputs(qPrintable(text), stdout);
    std::fflush(stdout);
    if (parser.isSet(outputOption)) {
        QFile file(parser.value(outputOption));
        if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text)) {
            std::fprintf(stderr, "cannot write %s: %s\n", qPrintable(file.fileName()),
                         qPrintable(file.errorString()));
            return 1;
        }
        file.write(text.toUtf8());
        progress(QStringLiteral("report written to %1").arg(file.fileName()));
    }
    return results.failures().isEmpty() ? 0 : 1;
}

} // namespace

} // namespace Bench

int main(int argc, char **argv)
{
    // First: this executable is also the pool's worker and the floors' child.
    if (QtProcessPool::isWorkerProcess(argc, argv))
        return QtProcessPool::execWorker(argc, argv);
    if (argc == 3 && std::strcmp(argv[1], Bench::FloorAChildFlag) == 0)
        return Bench::floorAChildMain(std::atoi(argv[2]));
    if (argc == 3 && std::strcmp(argv[1], Bench::FloorBChildFlag) == 0)
        return Bench::floorBChildMain(argc, argv);

    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("qtprocesspool-bench"));
    return Bench::driverMain(app);
}
