// SPDX-License-Identifier: MIT
// WorkerSet: how many workers to start, their states, retiring the surplus,
// the start back-off, and how a worker's end is read (WorkerEnd). Workers
// are records in memory; only the crash case runs a process (a shell that
// kills itself), as only the OS can report a crash.
#include "pool/processpool_p.h"
#include "pool/workerset.h"

#include <QtCore/QRegularExpression>
#include <QtTest/QTest>

#include <vector>

using namespace QtProcessPool;
using State = WorkerConnection::State;

namespace {

struct RecordingHost : WorkerSet::Host
{
    int stateChanges = 0;
    std::vector<int> revoked; // slot ids
    void workerStateChanged() override { ++stateChanges; }
    void revokeFollowers(WorkerConnection *worker) override { revoked.push_back(worker->slotId); }
};

/// A set with its shared state and host, and workers made without processes.
struct Fixture
{
    SharedState shared;
    RecordingHost host;
    QObject timerParent;
    WorkerSet set{&shared, host, &timerParent};
    std::vector<std::unique_ptr<Task>> tasks;
    std::vector<std::unique_ptr<QLocalSocket>> unused;

    explicit Fixture(int maxWorkers = 4, int minWorkers = 0)
    {
        shared.maxWorkers = maxWorkers;
        shared.minWorkers = minWorkers;
    }
    WorkerConnection *worker(State state, int inFlight = 0)
    {
        WorkerConnection *w = set.add();
        set.started(w);
        w->state = state;
        w->everReady = state >= State::Ready;
        w->link.attach(std::make_unique<QLocalSocket>()); // unconnected: retire() may close it
        for (int i = 0; i < inFlight; ++i) {
            tasks.push_back(std::make_unique<Task>());
            w->inFlight.push_back(tasks.back().get());
        }
        return w;
    }
    Statistics::WorkerInfo::State published(const WorkerConnection *w) const
    {
        return Statistics::WorkerInfo::State(w->record->state.load());
    }
};

/// WorkerSet::startFailed(), which must warn.
bool startFailed(WorkerSet &set, int failures)
{
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("test: start failed")));
    return set.startFailed(QStringLiteral("test: start failed"), failures);
}

} // namespace

class TestWorkerSet : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void toStart_data()
    {
        QTest::addColumn<int>("maxWorkers");
        QTest::addColumn<int>("minWorkers");
        QTest::addColumn<int>("ready");
        QTest::addColumn<int>("starting");
        QTest::addColumn<int>("queued");
        QTest::addColumn<int>("expected");
        QTest::newRow("nothing to do") << 4 << 0 << 0 << 0 << 0 << 0;
        QTest::newRow("one per waiting task") << 4 << 0 << 0 << 0 << 3 << 3;
        QTest::newRow("up to maxWorkers") << 4 << 0 << 0 << 0 << 10 << 4;
        QTest::newRow("those on their way count") << 4 << 0 << 0 << 2 << 3 << 1;
        QTest::newRow("ready ones are busy: more") << 4 << 0 << 2 << 0 << 3 << 2;
        QTest::newRow("minWorkers kept") << 4 << 2 << 0 << 0 << 0 << 2;
        QTest::newRow("minWorkers counts the live") << 4 << 3 << 2 << 0 << 0 << 1;
        QTest::newRow("minWorkers within maxWorkers") << 2 << 5 << 0 << 0 << 0 << 2;
        QTest::newRow("above maxWorkers: none") << 1 << 0 << 2 << 0 << 5 << 0;
        QTest::newRow("maxWorkers 0: no local worker") << 0 << 0 << 0 << 0 << 5 << 0;
    }
    void toStart()
    {
        QFETCH(int, maxWorkers);
        QFETCH(int, minWorkers);
        QFETCH(int, ready);
        QFETCH(int, starting);
        QFETCH(int, queued);
        QFETCH(int, expected);
        Fixture f(maxWorkers, minWorkers);
        for (int i = 0; i < ready; ++i)
            f.worker(State::Ready, 1);
        for (int i = 0; i < starting; ++i)
            f.worker(i % 2 ? State::Initializing : State::Starting);
        QCOMPARE(f.set.toStart(queued), expected);
    }

    void noneDuringBackoff()
    {
        Fixture f;
        QVERIFY(!startFailed(f.set, 1));
        QVERIFY(f.set.startBackoff().isActive());
        QCOMPARE(f.set.toStart(3), 0);
    }

    void endingWorkersDoNotCount()
    {
        Fixture f(2);
        f.worker(State::Ready)->retireReason = QStringLiteral("recycled");
        f.worker(State::Killing);
        f.worker(State::Lost);
        QCOMPARE(f.set.liveCount(), 0);
        QCOMPARE(f.set.toStart(5), 2);
    }

    void stateMovesForwardOnly()
    {
        Fixture f;
        WorkerConnection *w = f.worker(State::Starting);
        f.set.setState(w, State::Ready);
        QCOMPARE(w->state, State::Ready);
        QCOMPARE(f.host.stateChanges, 1);
        f.set.setState(w, State::Initializing); // back: ignored
        QCOMPARE(w->state, State::Ready);
        f.set.setState(w, State::Killing);
        f.set.setState(w, State::Lost); // the kill explains its end, not a loss
        QCOMPARE(w->state, State::Killing);
        QCOMPARE(f.host.stateChanges, 2);
    }

    void publishedState()
    {
        using Shown = Statistics::WorkerInfo::State;
        Fixture f;
        WorkerConnection *w = f.worker(State::Starting);
        f.set.publish(w);
        QCOMPARE(f.published(w), Shown::Starting);
        f.set.setState(w, State::Ready);
        QCOMPARE(f.published(w), Shown::Idle);
        w->inFlight.push_back(nullptr);
        f.set.publish(w);
        QCOMPARE(f.published(w), Shown::Busy);
        w->retireReason = QStringLiteral("served 5 tasks");
        f.set.publish(w);
        QCOMPARE(f.published(w), Shown::Retiring);
    }

    void recordsAndCounts()
    {
        Fixture f;
        WorkerConnection *w = f.worker(State::Initializing);
        QCOMPARE(f.shared.workers.load(), 1);
        QCOMPARE(f.shared.workerRecords.size(), size_t(1));
        w->pid = 4242;
        f.set.startFailures() = 2;
        f.set.becomeReady(w);
        QCOMPARE(w->state, State::Ready);
        QVERIFY(w->everReady);
        QCOMPARE(f.set.startFailures(), 0);
        QCOMPARE(f.shared.pids, QList<qint64>{4242});
        QCOMPARE(f.shared.statistics.counts.workersStarted, qint64(1));
        f.set.setState(w, State::Lost);
        f.set.recordEnd(*w, WorkerEnd::Kind::Crashed);
        QVERIFY(f.shared.pids.isEmpty());
        QCOMPARE(f.shared.statistics.counts.workersCrashed, qint64(1));
        const std::unique_ptr<WorkerConnection> taken = f.set.take(w->slotId);
        QCOMPARE(taken.get(), w);
        QCOMPARE(f.shared.workers.load(), 0);
        QVERIFY(f.shared.workerRecords.empty());
        QVERIFY(!f.set.find(w->slotId));
        QVERIFY(!f.set.take(w->slotId));
    }

    void recycledAfterMaxTasks()
    {
        Fixture f;
        f.shared.maxTasksPerWorker = 2;
        WorkerConnection *w = f.worker(State::Ready);
        f.set.noteSent(w);
        QVERIFY(w->retireReason.isEmpty());
        f.set.noteSent(w);
        QCOMPARE(w->retireReason, QStringLiteral("served 2 tasks"));
        QVERIFY(w->recycle);
        QVERIFY(!w->acceptsWork());
        f.set.afterTask(w); // its hands are empty: it goes
        QCOMPARE(w->state, State::Retiring);
    }

    void surplusRetiresLeastBusyFirst()
    {
        Fixture f(4);
        WorkerConnection *busy = f.worker(State::Ready, 3);
        WorkerConnection *idle = f.worker(State::Ready);
        WorkerConnection *starting = f.worker(State::Starting);
        WorkerConnection *oneTask = f.worker(State::Ready, 1);
        f.shared.maxWorkers = 1;
        f.set.retireSurplus();
        // Not ready first, then the least in hand: the busiest stays.
        QVERIFY(busy->retireReason.isEmpty());
        QCOMPARE(starting->retireReason, QStringLiteral("maxWorkers lowered to 1"));
        QCOMPARE(starting->state, State::Starting); // retires once ready
        QCOMPARE(idle->state, State::Retiring);
        QCOMPARE(oneTask->state, State::Ready); // after its running task
        QCOMPARE(f.host.revoked, std::vector<int>{oneTask->slotId});
        QCOMPARE(f.set.liveCount(), 1);
        f.set.retireSurplus(); // nothing more
        QCOMPARE(f.host.revoked.size(), size_t(1));
    }

    void idleTimeoutKeepsMinWorkers()
    {
        Fixture f(4, 1);
        WorkerConnection *a = f.worker(State::Ready);
        WorkerConnection *b = f.worker(State::Ready);
        f.set.onIdleTimeout(a);
        QCOMPARE(a->state, State::Retiring);
        f.set.onIdleTimeout(b); // the last one minWorkers keeps
        QCOMPARE(b->state, State::Ready);
        WorkerConnection *c = f.worker(State::Ready, 1);
        f.set.onIdleTimeout(c); // busy: stays
        QCOMPARE(c->state, State::Ready);
    }

    void backoff()
    {
        const std::vector<int> expected = {250, 500, 1000, 2000, 4000, 5000, 5000};
        for (int i = 0; i < int(expected.size()); ++i)
            QCOMPARE(WorkerSet::backoffMs(i + 1), expected[size_t(i)]);
        Fixture f;
        QVERIFY(!startFailed(f.set, 2));
        QVERIFY(startFailed(f.set, 3)); // tasks fail now
        f.worker(State::Starting);
        QVERIFY(!startFailed(f.set, 3)); // one may yet come
    }

    void endRead_data()
    {
        QTest::addColumn<int>("state");
        QTest::addColumn<bool>("everReady");
        QTest::addColumn<QString>("killReason");
        QTest::addColumn<int>("tasksStarted");
        QTest::addColumn<bool>("protocolError");
        QTest::addColumn<int>("kind");
        QTest::addColumn<bool>("diedBeforeStart");
        using K = WorkerEnd::Kind;
        const QString none;
        const QString killed = QStringLiteral("was killed: task 'sleep' timed out");
        QTest::newRow("never ready")
            << int(State::Starting) << false << none << 0 << false << int(K::StartFailed) << false;
        QTest::newRow("retired cleanly")
            << int(State::Retiring) << true << none << 3 << false << int(K::Retired) << false;
        QTest::newRow("killed by the pool")
            << int(State::Killing) << true << killed << 1 << false << int(K::Killed) << false;
        QTest::newRow("exited unasked after tasks")
            << int(State::Lost) << true << none << 2 << false << int(K::Crashed) << false;
        QTest::newRow("exited unasked before any task")
            << int(State::Lost) << true << none << 0 << false << int(K::Crashed) << true;
        QTest::newRow("killed for garbage before any task")
            << int(State::Killing) << true << killed << 0 << true << int(K::Killed) << true;
        QTest::newRow("killed for a timeout before any task")
            << int(State::Killing) << true << killed << 0 << false << int(K::Killed) << false;
    }
    void endRead()
    {
        QFETCH(int, state);
        QFETCH(bool, everReady);
        QFETCH(QString, killReason);
        QFETCH(int, tasksStarted);
        QFETCH(bool, protocolError);
        QFETCH(int, kind);
        QFETCH(bool, diedBeforeStart);
        WorkerConnection w;
        w.process = std::make_unique<QProcess>(); // never started: exit code 0, normal exit
        w.state = State(state);
        w.everReady = everReady;
        w.killReason = killReason;
        w.tasksStarted = tasksStarted;
        w.protocolError = protocolError;
        const WorkerEnd end = WorkerEnd::of(w, 0);
        QCOMPARE(int(end.kind), kind);
        QCOMPARE(end.diedBeforeStart, diedBeforeStart);
        if (!killReason.isEmpty())
            QCOMPARE(end.how, killReason);
    }

    void retiringWithTasksIsNotARetirement()
    {
        WorkerConnection w;
        w.process = std::make_unique<QProcess>();
        w.state = State::Retiring;
        w.everReady = true;
        w.tasksStarted = 1;
        Task task;
        w.inFlight.push_back(&task);
        QCOMPARE(WorkerEnd::of(w, 0).kind, WorkerEnd::Kind::Crashed);
        QVERIFY(!WorkerEnd::of(w, 0).diedBeforeStart); // it was asked to go
    }

    void crashIsDescribed()
    {
        WorkerConnection w;
        w.process = std::make_unique<QProcess>();
        w.process->start(QStringLiteral("/bin/sh"),
                         {QStringLiteral("-c"), QStringLiteral("kill -SEGV $$")});
        QVERIFY(w.process->waitForFinished(10000));
        w.state = State::Lost;
        w.everReady = true;
        w.tasksStarted = 1;
        const WorkerEnd end = WorkerEnd::of(w, 1 << 20);
        QCOMPARE(end.kind, WorkerEnd::Kind::Crashed);
        QVERIFY2(end.how.startsWith(QStringLiteral("crashed with SIGSEGV")), qPrintable(end.how));
        QVERIFY2(end.how.endsWith(QStringLiteral("(its memory limit is 1048576 bytes)")),
                 qPrintable(end.how));
    }
};

QTEST_GUILESS_MAIN(TestWorkerSet)
#include "tst_workerset.moc"
