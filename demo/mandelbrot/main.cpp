// SPDX-License-Identifier: MIT
// qtprocesspool-demo: a Mandelbrot explorer that renders its tiles on the GUI
// thread, on QtConcurrent threads or in a QtProcessPool of worker processes,
// and shows what each choice does to the GUI, and what a crash or a hang does.
//
// The workers are this very program started again: main() first checks
// whether it is a worker, and if so only serves tasks (renderTile, registered
// in mandelbrot.cpp) and never builds a GUI.
#include "autopilot.h"
#include "mainwindow.h"

#include <QtProcessPool/ProcessPool>

#include <QtCore/QCommandLineParser>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QEventLoop>
#include <QtCore/QMap>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtGui/QIcon>
#include <QtNetwork/QHostAddress>
#include <QtWidgets/QApplication>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace {

// The options that open no window work without a display: over ssh, or in CI,
// they pick the offscreen platform unless one was chosen.
void chooseOffscreenIfHeadless(int argc, char **argv)
{
    if (qEnvironmentVariableIsSet("QT_QPA_PLATFORM") || qEnvironmentVariableIsSet("DISPLAY") ||
        qEnvironmentVariableIsSet("WAYLAND_DISPLAY")) {
        return;
    }
    static const char *const windowless[] = {
        "--screenshot", "--benchmark", "--crash-test", "--hang-test", "--help", "-h", "--help-all"};
    for (int i = 1; i < argc; ++i) {
        for (const char *option : windowless) {
            const size_t length = std::strlen(option);
            if (std::strncmp(argv[i], option, length) == 0 &&
                (argv[i][length] == '\0' || argv[i][length] == '=')) {
                qputenv("QT_QPA_PLATFORM", "offscreen");
                return;
            }
        }
    }
}

/// Before a scripted run: waits (up to 60 s) until `count` remote workers
/// have connected, so the render shows them at work.
void waitForRemoteWorkers(const QtProcessPool::ProcessPool &pool, int count)
{
    const QDeadlineTimer deadline(60000);
    const auto ready = [&pool] {
        const auto workers = pool.statistics().workerInfo;
        return std::count_if(workers.cbegin(), workers.cend(), [](const auto &w) {
            return w.group != 0 &&
                   w.state != QtProcessPool::Statistics::WorkerInfo::State::Starting;
        });
    };
    while (ready() < count && !deadline.hasExpired()) {
        QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
        QThread::msleep(10);
    }
}

/// The remote workers the command line asks for (their count in *count);
/// false if it asks wrongly.
bool addRemoteWorkers(const QCommandLineParser &parser, QtProcessPool::ProcessPool *pool,
                      const QCommandLineOption &sshWorkers, const QCommandLineOption &sshOption,
                      const QCommandLineOption &slurmWorkers, const QCommandLineOption &listen,
                      int *count)
{
    using QtProcessPool::WorkerLauncher;
    if (parser.isSet(listen)) {
        const QHostAddress address(parser.value(listen));
        if (address.isNull())
            return false;
        pool->setRemoteListenAddress(address);
    }
    bool ok = true;
    if (parser.isSet(sshWorkers)) {
        const QString value = parser.value(sshWorkers);
        const qsizetype colon = value.lastIndexOf(QLatin1Char(':'));
        const int n = colon > 0 ? value.mid(colon + 1).toInt(&ok) : 0;
        if (!ok || n < 1 || n > 64)
            return false;
        *count += n;
        pool->addWorkers(
            WorkerLauncher::ssh(value.left(colon), n,
                                QStringList{QStringLiteral("-o"), QStringLiteral("BatchMode=yes")} +
                                    parser.values(sshOption)));
    }
    if (parser.isSet(slurmWorkers)) {
        const int n = parser.value(slurmWorkers).toInt(&ok);
        if (!ok || n < 1 || n > 64)
            return false;
        *count += n;
        pool->addWorkers(WorkerLauncher::slurm(n, {QStringLiteral("--quiet")}));
    }
    return true;
}

} // namespace

int main(int argc, char **argv)
{
    // Before anything else, and before any QApplication exists.
    if (QtProcessPool::isWorkerProcess(argc, argv))
        return QtProcessPool::execWorker(argc, argv);

    chooseOffscreenIfHeadless(argc, argv);
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("qtprocesspool-demo"));
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/icons/app.png")));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Mandelbrot explorer rendering its tiles on the GUI thread, on threads, or in a pool of "
        "worker processes.\nWith --screenshot, --benchmark, --crash-test or --hang-test it runs "
        "by itself and exits (0 on success); without a display it then uses the offscreen "
        "platform."));
    parser.addHelpOption();
    const QCommandLineOption screenshotOption(
        QStringLiteral("screenshot"),
        QStringLiteral("Render the image with the process pool (unless another option just "
                       "did), save a screenshot of the window to <file> and exit. Prints which "
                       "worker pids rendered the tiles."),
        QStringLiteral("file"));
    const QCommandLineOption benchmarkOption(
        QStringLiteral("benchmark"),
        QStringLiteral("Render the image with each engine, print a Markdown table of the times "
                       "and of the largest gaps in the GUI thread's event processing, and exit."));
    const QCommandLineOption crashTestOption(
        QStringLiteral("crash-test"),
        QStringLiteral("Trigger \"Crash a worker\" during a render; exit 0 if the render "
                       "completes on a replacement worker with only that tile failed."));
    const QCommandLineOption hangTestOption(
        QStringLiteral("hang-test"),
        QStringLiteral("Trigger \"Hang a worker\" during a render; exit 0 if its tile times out "
                       "and the render completes on a replacement worker."));
    const QString idealCount = QString::number(QThread::idealThreadCount());
    const QCommandLineOption workersOption(
        QStringLiteral("workers"),
        QStringLiteral("Worker processes, and threads of the Threads engine (default %1).")
            .arg(idealCount),
        QStringLiteral("n"), idealCount);
    const QCommandLineOption iterationsOption(
        QStringLiteral("iterations"),
        QStringLiteral("Iterations per sample (default %1).").arg(MainWindow::DefaultIterations),
        QStringLiteral("n"));
    const QCommandLineOption engineOption(
        QStringLiteral("engine"), QStringLiteral("Initial engine: gui, threads or pool (default)."),
        QStringLiteral("engine"), QStringLiteral("pool"));
    const QCommandLineOption sizeOption(QStringLiteral("size"),
                                        QStringLiteral("Window size (default 1280x800)."),
                                        QStringLiteral("WxH"), QStringLiteral("1280x800"));
    const QCommandLineOption sshWorkersOption(
        QStringLiteral("ssh-workers"),
        QStringLiteral("Also render on <n> workers on <destination> (user@host), started by "
                       "ssh; this program must be at the same path there."),
        QStringLiteral("destination:n"));
    const QCommandLineOption sshOption(QStringLiteral("ssh-option"),
                                       QStringLiteral("An option for ssh (repeat as needed)."),
                                       QStringLiteral("option"));
    const QCommandLineOption slurmWorkersOption(
        QStringLiteral("slurm-workers"),
        QStringLiteral("Also render on <n> workers placed by SLURM (srun)."), QStringLiteral("n"));
    const QCommandLineOption listenOption(
        QStringLiteral("listen"),
        QStringLiteral("The address remote workers connect back to (default: all)."),
        QStringLiteral("address"));
    parser.addOptions({screenshotOption, benchmarkOption, crashTestOption, hangTestOption,
                       workersOption, iterationsOption, engineOption, sizeOption, sshWorkersOption,
                       sshOption, slurmWorkersOption, listenOption});
    parser.process(app);

    const auto fail = [](const char *message) {
        std::fprintf(stderr, "%s; see --help.\n", message);
        return 1;
    };
    bool ok = false;
    const int workers = parser.value(workersOption).toInt(&ok);
    if (!ok || workers < 1 || workers > 64)
        return fail("--workers takes a number from 1 to 64");
    const QStringList size = parser.value(sizeOption).split(QLatin1Char('x'));
    bool widthOk = false, heightOk = false;
    const QSize windowSize =
        size.size() == 2 ? QSize(size[0].toInt(&widthOk), size[1].toInt(&heightOk)) : QSize();
    if (!widthOk || !heightOk || windowSize.width() < 640 || windowSize.height() < 480)
        return fail("--size takes WIDTHxHEIGHT, at least 640x480");
    const QMap<QString, Engine> engines = {{QStringLiteral("gui"), Engine::GuiThread},
                                           {QStringLiteral("threads"), Engine::Threads},
                                           {QStringLiteral("pool"), Engine::ProcessPool}};
    if (!engines.contains(parser.value(engineOption)))
        return fail("--engine takes gui, threads or pool");

    // The pool outlives the window, which uses it until its last moment.
    QtProcessPool::ProcessPool pool;
    int remoteWorkers = 0;
    if (!addRemoteWorkers(parser, &pool, sshWorkersOption, sshOption, slurmWorkersOption,
                          listenOption, &remoteWorkers))
        return fail("--ssh-workers takes destination:n, --slurm-workers n (n from 1 to 64), "
                    "--listen an address");
    MainWindow window(&pool);
    window.setWorkerCount(workers);
    window.setEngine(engines.value(parser.value(engineOption)));
    if (parser.isSet(iterationsOption)) {
        const int iterations = parser.value(iterationsOption).toInt(&ok);
        if (!ok || iterations < 50 || iterations > 100000)
            return fail("--iterations takes a number from 50 to 100000");
        window.setMaxIterations(iterations);
    }
    window.resize(windowSize);

    Autopilot::Script script;
    script.screenshot = parser.value(screenshotOption);
    script.benchmark = parser.isSet(benchmarkOption);
    script.crashTest = parser.isSet(crashTestOption);
    script.hangTest = parser.isSet(hangTestOption);
    Autopilot autopilot(&window, &pool, script);
    if (!script.isEmpty()) {
        QTimer::singleShot(0, &window, [&autopilot, &pool, remoteWorkers] {
            waitForRemoteWorkers(pool, remoteWorkers);
            QCoreApplication::exit(autopilot.run());
        });
    }
    window.show();
    return app.exec();
}
