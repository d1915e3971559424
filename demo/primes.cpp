// SPDX-License-Identifier: MIT
// qtprocesspool-primes: counts the primes in consecutive ranges of integers,
// one task per range, in a pool of worker processes, and prints each result as
// it arrives.
//
//     qtprocesspool-primes [--ranges N] [--range-size S] [--workers W]
//
// The workers are this very program started again: main() first checks
// whether it is a worker, and if so only serves tasks.
#include <QtProcessPool/ProcessPool>

#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QElapsedTimer>
#include <QtCore/QThread>

#include <algorithm>
#include <climits>
#include <cstdio>

namespace {

// Counts the primes in [from, to) by plain trial division: deliberately slow,
// so that each range is worth sending to another process.
int countPrimes(qint64 from, qint64 to)
{
    int count = 0;
    for (qint64 n = std::max<qint64>(from, 2); n < to; ++n) {
        bool prime = true;
        for (qint64 d = 2; d * d <= n; ++d) {
            if (n % d == 0) {
                prime = false;
                break;
            }
        }
        if (prime)
            ++count;
    }
    return count;
}

} // namespace

// Makes countPrimes runnable by the pool. The registration runs in the
// application and in every worker, since both are this program.
QPP_REGISTER_TASK(countPrimes)

int main(int argc, char **argv)
{
    // Started by a pool as a worker? Then serve tasks until the pool goes away.
    // This must come first, before any QCoreApplication exists.
    if (QtProcessPool::isWorkerProcess(argc, argv))
        return QtProcessPool::execWorker(argc, argv);

    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("qtprocesspool-primes"));

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Counts primes in consecutive ranges, one range per task, "
                       "in a pool of worker processes."));
    parser.addHelpOption();
    const QCommandLineOption rangesOption(QStringLiteral("ranges"),
                                          QStringLiteral("Number of ranges (tasks)."),
                                          QStringLiteral("N"), QStringLiteral("16"));
    const QCommandLineOption sizeOption(QStringLiteral("range-size"),
                                        QStringLiteral("Integers per range."), QStringLiteral("S"),
                                        QStringLiteral("2000000"));
    const QCommandLineOption workersOption(QStringLiteral("workers"),
                                           QStringLiteral("Maximum number of worker processes."),
                                           QStringLiteral("W"),
                                           QString::number(QThread::idealThreadCount()));
    parser.addOptions({rangesOption, sizeOption, workersOption});
    parser.process(app);

    bool rangesOk = false, sizeOk = false, workersOk = false;
    const int ranges = parser.value(rangesOption).toInt(&rangesOk);
    const qint64 rangeSize = parser.value(sizeOption).toLongLong(&sizeOk);
    const int workers = parser.value(workersOption).toInt(&workersOk);
    if (!rangesOk || ranges < 1 || !sizeOk || rangeSize < 1 || rangeSize > INT_MAX || !workersOk ||
        workers < 1) {
        std::fprintf(stderr, "Invalid option value; see --help.\n");
        return 1;
    }

    QtProcessPool::ProcessPool pool;
    pool.setMaxWorkers(workers);
    std::printf("Counting primes below %lld in %d ranges on up to %d worker processes\n",
                ranges * rangeSize, ranges, workers);

    QElapsedTimer timer;
    timer.start();
    int finished = 0;
    int failed = 0;
    qint64 total = 0;

    // Called once per task, whatever its outcome; quits when all are in.
    const auto taskFinished = [&] {
        if (++finished < ranges)
            return;
        std::printf("Total: %lld primes below %lld, in %.2f s%s\n", total, ranges * rangeSize,
                    timer.elapsed() / 1000.0, failed ? " (some ranges failed!)" : "");
        QCoreApplication::exit(failed ? 1 : 0);
    };

    for (int i = 0; i < ranges; ++i) {
        const qint64 from = i * rangeSize;
        const qint64 to = from + rangeSize;
        // run() returns at once with a QFuture<int>. Passing &app as context
        // makes the continuations run in this (the main) thread, so they can
        // touch the counters above without locking.
        pool.run(countPrimes, from, to)
            .then(&app,
                  [&, from, to](int count) {
                      total += count;
                      std::printf("range [%lld, %lld): %d primes (%d/%d done)\n", from, to, count,
                                  finished + 1, ranges);
                      std::fflush(stdout);
                      taskFinished();
                  })
            // A task that throws, or whose worker crashes, fails its future
            // with a TaskError; then() is skipped and this handler runs.
            .onFailed(&app, [&, from, to](const QtProcessPool::TaskError &error) {
                ++failed;
                std::printf("range [%lld, %lld) failed: %s\n", from, to,
                            qPrintable(error.message()));
                std::fflush(stdout);
                taskFinished();
            });
    }

    // Results are delivered by the event loop; taskFinished() ends it.
    return app.exec();
}
