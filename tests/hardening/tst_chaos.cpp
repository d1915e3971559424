// SPDX-License-Identifier: MIT
// Chaos: many mixed tasks (quick, slow, throwing, crashing) on two workers
// while another thread SIGKILLs a random worker every 50-100 ms. Every future
// finishes exactly once with its result or a fitting TaskError, every task
// ran exactly once (each appends its index to a log opened with O_APPEND), a
// task fails Crashed only when its own worker died under it (by its own crash
// or by one of the killer's SIGKILLs), and no worker process or zombie
// outlives the pool.
//
// Environment: QPP_CHAOS_TASKS (default 10000; the `chaos_long` target runs
// 100000), QPP_CHAOS_SEED (default: random, printed).
#include "faulttasks.h"
#include "tasks.h"
#include "testmain.h"
#include "testutil.h"

#include <QtProcessPool/ProcessPool>

#include <QtCore/QElapsedTimer>
#include <QtCore/QFile>
#include <QtCore/QFutureWatcher>
#include <QtCore/QRandomGenerator>
#include <QtCore/QTemporaryDir>
#include <QtTest/QTest>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include <csignal>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace QtProcessPool;
using namespace TestTasks;
using namespace TestUtil;

namespace {

enum class Kind { Quick, Slow, Throw, Crash };

/// The parent pid of pid (from /proc), or -1.
qint64 parentOf(pid_t pid)
{
    QFile stat(QStringLiteral("/proc/%1/stat").arg(pid));
    if (!stat.open(QIODevice::ReadOnly))
        return -1;
    const QByteArray text = stat.readAll();
    const qsizetype end = text.lastIndexOf(')'); // the command may hold spaces
    const QList<QByteArray> fields = text.mid(end + 2).split(' ');
    return fields.size() > 1 ? fields[1].toLongLong() : -1;
}

/// SIGKILLs pid if it is still a child of ours (a worker): a pid the pool
/// reaped a moment ago may already belong to someone else. With a pidfd the
/// process checked is the process signaled.
bool killWorker(pid_t pid)
{
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_send_signal)
    const int fd = int(::syscall(SYS_pidfd_open, pid, 0));
    if (fd >= 0) {
        const bool sent = parentOf(pid) == ::getpid() &&
                          ::syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0) == 0;
        ::close(fd);
        return sent;
    }
    if (errno != ENOSYS)
        return false; // gone
#endif
    return parentOf(pid) == ::getpid() && ::kill(pid, SIGKILL) == 0;
}

int envInt(const char *name, int fallback)
{
    bool ok = false;
    const int value = qEnvironmentVariableIntValue(name, &ok);
    return ok && value > 0 ? value : fallback;
}

} // namespace

class TestChaos : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void killedWorkersUnderLoad();
};

void TestChaos::killedWorkersUnderLoad()
{
    const int count = envInt("QPP_CHAOS_TASKS", 10000);
    const quint32 seed =
        quint32(envInt("QPP_CHAOS_SEED", int(QRandomGenerator::global()->bounded(1, INT_MAX))));
    qInfo("chaos: %d tasks, seed %u (QPP_CHAOS_SEED to repeat)", count, seed);
    std::mt19937 random(seed);

    QElapsedTimer clock;
    clock.start();
    std::set<qint64> pidsSeen;
    std::vector<Kind> kinds(static_cast<size_t>(count));
    std::vector<int> finishedCount(static_cast<size_t>(count), 0);
    std::vector<std::unique_ptr<QFutureWatcher<int>>> watchers;
    watchers.reserve(static_cast<size_t>(count));
    std::atomic<int> kills{0};
    std::set<qint64> killedPids; // guarded by the killer's mutex below
    QTemporaryDir dir;
    const QString log = dir.filePath(QStringLiteral("runs"));
    using FaultTasks::Fault;
    {
        ProcessPool pool;
        pool.setMaxWorkers(2);
        connect(&pool, &ProcessPool::workerStarted, this,
                [&pidsSeen](qint64 pid) { pidsSeen.insert(pid); });

        for (int i = 0; i < count; ++i) {
            const unsigned roll = random() % 1000;
            QFuture<int> future;
            Kind kind;
            if (roll < 10) {
                kind = Kind::Crash;
                future = pool.run(FaultTasks::faulty, log, i,
                                  int(roll % 2 ? Fault::Segv : Fault::ExitCode), 0);
            } else if (roll < 40) {
                kind = Kind::Throw;
                future = pool.run(FaultTasks::faulty, log, i, int(Fault::Throw), 0);
            } else if (roll < 80) {
                kind = Kind::Slow;
                future =
                    pool.run(FaultTasks::faulty, log, i, int(Fault::None), int(5 + random() % 26));
            } else {
                kind = Kind::Quick;
                future = pool.run(FaultTasks::faulty, log, i, int(Fault::None), 0);
            }
            kinds[size_t(i)] = kind;
            auto watcher = std::make_unique<QFutureWatcher<int>>();
            connect(watcher.get(), &QFutureWatcher<int>::finished, this,
                    [&finishedCount, i] { ++finishedCount[size_t(i)]; });
            watcher->setFuture(future);
            watchers.push_back(std::move(watcher));
        }

        // The killer: workerPids() is documented safe from any thread.
        std::mutex mutex;
        std::condition_variable wake;
        bool stop = false;
        std::thread killer([&, killerSeed = seed + 1] {
            std::mt19937 rng(killerSeed);
            std::unique_lock<std::mutex> lock(mutex);
            for (;;) {
                const auto pause = std::chrono::milliseconds(50 + rng() % 51);
                if (wake.wait_for(lock, pause, [&stop] { return stop; }))
                    return;
                const QList<qint64> pids = pool.workerPids();
                const qint64 victim = pids.isEmpty() ? 0 : pids[int(rng() % pids.size())];
                if (victim != 0 && killWorker(pid_t(victim))) {
                    ++kills;
                    killedPids.insert(victim);
                }
            }
        });

        const bool done = pool.waitForDone(count * 20 + 120000);
        {
            std::lock_guard<std::mutex> lock(mutex);
            stop = true;
        }
        wake.notify_all();
        killer.join();
        QVERIFY2(done, qPrintable(QStringLiteral("not done: %1 queued, %2 running")
                                      .arg(pool.queuedTaskCount())
                                      .arg(pool.runningTaskCount())));
        QTRY_VERIFY_WITH_TIMEOUT(std::all_of(finishedCount.begin(), finishedCount.end(),
                                             [](int n) { return n >= 1; }),
                                 Generous);
        QTest::qWait(200); // a duplicate notification would arrive by now
        const Statistics statistics = pool.statistics();
        qInfo("pool statistics: %lld workers started, %lld crashed",
              qint64(statistics.workersStarted), qint64(statistics.workersCrashed));
    } // ~ProcessPool: every worker is stopped and reaped

    int ok = 0;
    int exceptions = 0;
    int crashedTasks = 0; // crash tasks
    int hitByKills = 0;   // other tasks failed with Crashed
    int expectedOk = 0;
    std::set<qint64> workersHit; // killed workers whose running task failed
    const QList<int> runs = FaultTasks::runCounts(log, count);
    for (int i = 0; i < count; ++i) {
        // Never twice. Once, unless a kill came between its start and its
        // first step (then it failed Crashed: checked below).
        QVERIFY2(runs[i] <= 1, qPrintable(QStringLiteral("task %1 (kind %2) ran %3 times")
                                              .arg(i)
                                              .arg(int(kinds[size_t(i)]))
                                              .arg(runs[i])));
        QVERIFY2(finishedCount[size_t(i)] == 1,
                 qPrintable(QStringLiteral("future %1 finished %2 times")
                                .arg(i)
                                .arg(finishedCount[size_t(i)])));
        const QFuture<int> future = watchers[size_t(i)]->future();
        QVERIFY(future.isFinished());
        QVERIFY2(!future.isCanceled() || errorOf(future),
                 qPrintable(QStringLiteral("task %1 canceled").arg(i)));
        const Kind kind = kinds[size_t(i)];
        expectedOk += kind == Kind::Quick || kind == Kind::Slow;
        const auto e = errorOf(future);
        QVERIFY2(runs[i] == 1 || (e && e->kind() == TaskError::Kind::Crashed),
                 qPrintable(QStringLiteral("task %1 never ran, yet did not fail Crashed").arg(i)));
        if (!e) {
            QVERIFY2(kind == Kind::Quick || kind == Kind::Slow,
                     qPrintable(
                         QStringLiteral("task %1 of kind %2 succeeded").arg(i).arg(int(kind))));
            QCOMPARE(future.result(), i * 2);
            ++ok;
            continue;
        }
        const QString what = QStringLiteral("task %1 (kind %2): TaskError kind %3: %4")
                                 .arg(i)
                                 .arg(int(kind))
                                 .arg(int(e->kind()))
                                 .arg(e->message());
        if (e->kind() == TaskError::Kind::Exception) {
            QVERIFY2(kind == Kind::Throw, qPrintable(what));
            QCOMPARE(e->message(), QStringLiteral("fault %1").arg(i));
            ++exceptions;
        } else {
            QVERIFY2(e->kind() == TaskError::Kind::Crashed, qPrintable(what));
            // Its own worker died while running it: by its own crash, or by
            // the killer's SIGKILL of exactly that worker (never of another).
            const bool killedUnderIt = e->message().contains(QLatin1String("SIGKILL")) &&
                                       killedPids.count(e->workerPid()) == 1;
            const bool ownCrash =
                kind == Kind::Crash && (e->message().contains(QLatin1String("SIGSEGV")) ||
                                        e->message().contains(QLatin1String("exited with code 3")));
            QVERIFY2(killedUnderIt || ownCrash, qPrintable(what));
            if (killedUnderIt) {
                // One running task per killed worker.
                QVERIFY2(workersHit.insert(e->workerPid()).second, qPrintable(what));
            }
            if (kind == Kind::Crash)
                ++crashedTasks;
            else
                ++hitByKills;
        }
    }
    const double seconds = clock.elapsed() / 1000.0;
    qInfo("chaos summary: %d tasks in %.1f s: %d ok, %d Exception, %d Crashed (%d crash tasks, "
          "%d hit by kills); %d kills, %d workers started; seed %u",
          count, seconds, ok, exceptions, crashedTasks + hitByKills, crashedTasks, hitByKills,
          kills.load(), int(pidsSeen.size()), seed);
    QVERIFY2(kills >= 3, "the killer thread hardly ever found a worker to kill");
    // Kills fail only the task running at the time: at most one per kill.
    QVERIFY2(hitByKills <= kills.load(),
             qPrintable(
                 QStringLiteral("%1 tasks hit by %2 kills").arg(hitByKills).arg(kills.load())));

    // No stray process: every worker ever seen is gone, and reaped.
    for (qint64 pid : pidsSeen)
        QTRY_VERIFY2_WITH_TIMEOUT(processGone(pid), qPrintable(QString::number(pid)), 5000);
    errno = 0;
    int status = 0;
    const pid_t child = ::waitpid(-1, &status, WNOHANG);
    QVERIFY2(
        child == -1 && errno == ECHILD,
        qPrintable(
            QStringLiteral("waitpid(-1) = %1 (errno %2): a child is left").arg(child).arg(errno)));
}

QPP_TEST_MAIN(TestChaos)

#include "tst_chaos.moc"
