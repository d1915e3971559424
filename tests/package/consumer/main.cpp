// SPDX-License-Identifier: MIT
// Package test consumer: runs one task in a worker process and checks its
// result, and that the worker was another process started from this same
// executable (so an installed copy really uses itself as its worker).
#include <QtProcessPool/ProcessPool>

#include <QtCore/QCoreApplication>
#include <QtCore/QPair>

#include <cstdio>

namespace {
int triple(int x)
{
    return 3 * x;
}

// Which program the worker is: its executable and its pid.
QPair<QString, qint64> whoAmI()
{
    return {QCoreApplication::applicationFilePath(), QCoreApplication::applicationPid()};
}
} // namespace

QPP_REGISTER_TASK(triple)
QPP_REGISTER_TASK(whoAmI)

int main(int argc, char **argv)
{
    if (QtProcessPool::isWorkerProcess(argc, argv))
        return QtProcessPool::execWorker(argc, argv);

    QCoreApplication app(argc, argv);
    QtProcessPool::ProcessPool pool;
    pool.setMaxWorkers(1);
    try {
        const int result = pool.run(triple, 14).result();
        std::printf("triple(14) = %d\n", result);
        const auto worker = pool.run(whoAmI).result();
        std::printf("worker: %s (pid %lld); application: %s (pid %lld)\n", qPrintable(worker.first),
                    worker.second, qPrintable(QCoreApplication::applicationFilePath()),
                    QCoreApplication::applicationPid());
        const bool sameProgram = worker.first == QCoreApplication::applicationFilePath();
        const bool otherProcess = worker.second != QCoreApplication::applicationPid();
        return result == 42 && sameProgram && otherProcess ? 0 : 1;
    } catch (const QtProcessPool::TaskError &e) {
        std::fprintf(stderr, "task failed: %s\n", qPrintable(e.message()));
        return 1;
    }
}
