// SPDX-License-Identifier: MIT
// qtprocesspool-quick: a Qt Quick window counting primes in a worker process,
// with a progress bar, Start and Cancel, and the pool's live properties
// (workerCount, busyWorkerCount, ...) bound in QML.
//
//     qtprocesspool-quick [--self-check]
//
// --self-check (what ctest runs, offscreen) drives the window itself and
// exits 0 only if everything it saw in QML was right and nothing warned.
#include "primecounter.h"
#include "selfcheck.h"

#include <QtProcessPool/ProcessPool>

#include <QtCore/QTimer>
#include <QtGui/QGuiApplication>
#include <QtQml/QQmlApplicationEngine>

int main(int argc, char **argv)
{
    // A worker serves tasks and never builds the GUI: first thing in main().
    if (QtProcessPool::isWorkerProcess(argc, argv))
        return QtProcessPool::execWorker(argc, argv);

    const bool selfCheck = argc > 1 && qstrcmp(argv[1], "--self-check") == 0;
    if (selfCheck)
        SelfCheck::installWarningCollector();
    QGuiApplication app(argc, argv);
    QGuiApplication::setApplicationName(QStringLiteral("qtprocesspool-quick"));

    QtProcessPool::ProcessPool pool;
    pool.prestart(); // the first count pays no start-up, and QML shows the worker
    PrimeCounter counter(pool);

    QQmlApplicationEngine engine;
    engine.setInitialProperties({{QStringLiteral("counter"), QVariant::fromValue(&counter)}});
    engine.load(QUrl(QStringLiteral("qrc:/qtprocesspool-quick/Main.qml")));
    if (engine.rootObjects().isEmpty())
        return 1;
    if (!selfCheck)
        return app.exec();

    SelfCheck check(engine.rootObjects().constFirst(), pool);
    QTimer::singleShot(0, &app, [&] { app.exit(check.run()); });
    return app.exec();
}
