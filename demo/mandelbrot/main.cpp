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
#include <QtCore/QMap>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtGui/QIcon>
#include <QtWidgets/QApplication>

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
    parser.addOptions({screenshotOption, benchmarkOption, crashTestOption, hangTestOption,
                       workersOption, iterationsOption, engineOption, sizeOption});
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
        QTimer::singleShot(0, &window, [&autopilot] { QCoreApplication::exit(autopilot.run()); });
    }
    window.show();
    return app.exec();
}
