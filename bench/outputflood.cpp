// SPDX-License-Identifier: MIT
// qtprocesspool-outputflood: what a worker flooding its stdout costs the
// others. Two workers; one writes 10-byte lines as fast as it can for a few
// seconds while the other answers one-at-a-time round trips. Prints the round
// trip's p50 and p99 quiet and during the flood, their ratio, the lines
// written, delivered and dropped, and the largest gap of a 1 ms timer on the
// pool's thread (its event loop's responsiveness) in both phases.
//
//   qtprocesspool-outputflood [flood seconds, default 3]
#include <QtProcessPool/ProcessPool>

#include <QtCore/QCoreApplication>
#include <QtCore/QElapsedTimer>
#include <QtCore/QTimer>

#include <algorithm>
#include <cstdio>
#include <unistd.h>
#include <vector>

namespace {

int echo(int x)
{
    return x;
}

qint64 flood(int ms)
{
    QByteArray chunk;
    for (int i = 0; i < 6553; ++i)
        chunk += "012345678\n";
    QElapsedTimer clock;
    clock.start();
    qint64 bytes = 0;
    while (clock.elapsed() < ms) {
        for (qsizetype done = 0; done < chunk.size();) {
            const ssize_t n = ::write(1, chunk.constData() + done, size_t(chunk.size() - done));
            if (n <= 0)
                return -1;
            done += n;
        }
        bytes += chunk.size();
    }
    return bytes / 10;
}

struct Phase
{
    double p50 = 0;
    double p99 = 0;
    double maxGapMs = 0;
    int roundTrips = 0;
};

/// Round trips for ms, with a 1 ms timer watching the event loop meanwhile.
Phase measure(QtProcessPool::ProcessPool &pool, int ms)
{
    std::vector<double> us;
    QElapsedTimer clock;
    clock.start();
    QElapsedTimer gap;
    gap.start();
    double maxGap = 0;
    QTimer ticker;
    ticker.setTimerType(Qt::PreciseTimer);
    QObject::connect(&ticker, &QTimer::timeout, [&] {
        maxGap = std::max(maxGap, double(gap.nsecsElapsed()) / 1e6);
        gap.restart();
    });
    ticker.start(1);
    for (int i = 0; clock.elapsed() < ms; ++i) {
        QElapsedTimer one;
        one.start();
        QFuture<int> f = pool.run(echo, i);
        while (!f.isFinished())
            QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents);
        us.push_back(double(one.nsecsElapsed()) / 1e3);
        gap.restart(); // waiting on our own future is not a stall
    }
    std::sort(us.begin(), us.end());
    Phase phase;
    phase.roundTrips = int(us.size());
    phase.p50 = us[us.size() / 2];
    phase.p99 = us[std::min(us.size() - 1, us.size() * 99 / 100)];
    phase.maxGapMs = maxGap;
    return phase;
}

} // namespace

QPP_REGISTER_TASK(echo)
QPP_REGISTER_TASK(flood)

int main(int argc, char **argv)
{
    if (QtProcessPool::isWorkerProcess(argc, argv))
        return QtProcessPool::execWorker(argc, argv);
    QCoreApplication app(argc, argv);
    const int seconds = argc > 1 ? std::max(1, atoi(argv[1])) : 3;
    Phase quiet;
    Phase loud;
    qint64 written = 0;
    qint64 delivered = 0;
    const int savedStderr = ::dup(2);
    {
        QtProcessPool::ProcessPool pool;
        pool.setMaxWorkers(2);
        pool.setMinWorkers(2);
        pool.prestart();
        pool.run(echo, 0).waitForFinished();
        pool.run(echo, 0).waitForFinished();
        QObject::connect(&pool, &QtProcessPool::ProcessPool::workerOutput, &app,
                         [&delivered](qint64, QProcess::ProcessChannel, const QString &lines) {
                             delivered += lines.count(QLatin1Char('\n')) + 1;
                         });
        quiet = measure(pool, 1000);
        // The pool echoes worker output to our stderr: keep the terminal readable.
        if (FILE *null = std::fopen("/dev/null", "w")) {
            ::dup2(fileno(null), 2);
            std::fclose(null);
        }
        QFuture<qint64> lines = pool.run(flood, seconds * 1000);
        loud = measure(pool, seconds * 1000 - 500);
        while (!lines.isFinished())
            QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents);
        pool.waitForDone(2000);
        written = lines.result();
    } // its last batch is echoed too
    ::dup2(savedStderr, 2);
    std::printf("output flood: %lld lines of 10 bytes in %d s, %lld delivered (with the "
                "dropped-lines notes)\n",
                static_cast<long long>(written), seconds, static_cast<long long>(delivered));
    std::printf("round trip p50: quiet %.0f us, during the flood %.0f us (%.2fx)\n", quiet.p50,
                loud.p50, loud.p50 / quiet.p50);
    std::printf("round trip p99: quiet %.0f us, during the flood %.0f us (%.2fx)\n", quiet.p99,
                loud.p99, loud.p99 / quiet.p99);
    std::printf("largest 1 ms-timer gap on the pool's thread: quiet %.1f ms, during the flood "
                "%.1f ms (%d and %d round trips)\n",
                quiet.maxGapMs, loud.maxGapMs, quiet.roundTrips, loud.roundTrips);
    return 0;
}
