// SPDX-License-Identifier: MIT
// Package test consumer: runs one task in a worker process and checks its result.
#include <QtProcessPool/ProcessPool>

#include <QtCore/QCoreApplication>

#include <cstdio>

namespace {
int triple(int x)
{
    return 3 * x;
}
} // namespace

QPP_REGISTER_TASK(triple)

int main(int argc, char **argv)
{
    if (QtProcessPool::isWorkerProcess(argc, argv))
        return QtProcessPool::execWorker(argc, argv);

    QCoreApplication app(argc, argv);
    QtProcessPool::ProcessPool pool;
    pool.setMaxWorkers(1);
    try {
        auto f = pool.run(triple, 14);
        f.waitForFinished();
        const int result = f.result();
        std::printf("triple(14) = %d\n", result);
        return result == 42 ? 0 : 1;
    } catch (const QtProcessPool::TaskError &e) {
        std::fprintf(stderr, "task failed: %s\n", qPrintable(e.message()));
        return 1;
    }
}
