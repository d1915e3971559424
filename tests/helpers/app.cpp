// SPDX-License-Identifier: MIT
// Plays "the application" for tests that must kill or quit it:
//   qpp_app orphan  starts two workers, one busy forever, prints
//                   "pids <a> <b>" and waits to be killed
//   qpp_app print   runs printLines("hello") and exits
//   qpp_app quit    quits its event loop with work pending, then reports
//                   what aboutToQuit did: "after-quit workers=N canceled=M"
#include "tasks.h"

#include <QtProcessPool/ProcessPool>

#include <QtCore/QCoreApplication>
#include <QtCore/QTimer>

#include <cstdio>
#include <unistd.h>

using namespace QtProcessPool;
using namespace TestTasks;

int main(int argc, char **argv)
{
    if (isWorkerProcess(argc, argv))
        return execWorker(argc, argv);
    QCoreApplication app(argc, argv);
    const QString mode = argc > 1 ? QString::fromLocal8Bit(argv[1]) : QString();
    auto *pool = new ProcessPool; // never deleted in "quit": aboutToQuit must do the work
    pool->setMaxWorkers(2);

    if (mode == QLatin1String("orphan")) {
        pool->setMinWorkers(2);
        pool->prestart();
        (void)pool->run(sleepForever); // its future is never looked at: the app is killed
        auto *poll = new QTimer(&app);
        QObject::connect(poll, &QTimer::timeout, &app, [pool, poll] {
            if (pool->runningTaskCount() == 1 && pool->workerPids().size() == 2) {
                const QList<qint64> pids = pool->workerPids();
                std::printf("pids %lld %lld\n", pids[0], pids[1]);
                std::fflush(stdout);
                poll->stop();
            }
        });
        poll->start(20);
        return app.exec();
    }
    if (mode == QLatin1String("print")) {
        pool->run(printLines, QStringLiteral("hello")).waitForFinished();
        std::printf("pid %lld\n", pool->workerPids().value(0));
        std::fflush(stdout);
        delete pool;
        return 0;
    }
    if (mode == QLatin1String("quit")) {
        QList<QFuture<int>> futures{pool->run(sleepForever), pool->run(sleepForever),
                                    pool->run(square, 1)};
        QObject::connect(pool, &ProcessPool::busyWorkerCountChanged, &app, [](int busy) {
            if (busy == 2)
                QCoreApplication::quit();
        });
        app.exec();
        int canceled = 0;
        for (const QFuture<int> &f : futures)
            canceled += f.isFinished() && f.isCanceled();
        std::printf("after-quit workers=%d canceled=%d\n", pool->workerCount(), canceled);
        std::fflush(stdout);
        ::_exit(0); // skip the pool's destructor on purpose
    }
    std::fprintf(stderr, "usage: qpp_app orphan|print|quit\n");
    return 2;
}
