// SPDX-License-Identifier: MIT
// Scheduler: which queued task goes to which worker, send-ahead and
// steal-back, checked against a recording Host with workers and tasks made
// in memory (no process, no socket).
#include "pool/processpool_p.h"
#include "pool/scheduler.h"

#include <QtTest/QTest>

#include <vector>

using namespace QtProcessPool;

namespace {

/// What the scheduler asked for, in order: "send t1 w2", "cancel t3", "revoke t4 w1".
struct RecordingHost : Scheduler::Host
{
    std::vector<QString> calls;
    Scheduler *scheduler = nullptr;

    void send(WorkerConnection *worker, Task *task) override
    {
        calls.push_back(QStringLiteral("send t%1 w%2").arg(task->id).arg(worker->slotId));
        task->state = Task::State::Sent;
        task->slotId = worker->slotId;
        worker->inFlight.push_back(task);
    }
    void cancelQueued(Task *task) override
    {
        calls.push_back(QStringLiteral("cancel t%1").arg(task->id));
        scheduler->queue().remove(task);
        task->settled = true;
    }
    void revoke(WorkerConnection *worker, Task *task) override
    {
        calls.push_back(QStringLiteral("revoke t%1 w%2").arg(task->id).arg(worker->slotId));
        task->revoking = true;
    }
};

struct Fixture
{
    RecordingHost host;
    Scheduler::Workers workers;
    Scheduler scheduler{host, workers};
    std::vector<std::unique_ptr<Task>> tasks;
    std::vector<detail::PromiseSink<int> *> sinks; // by task id - 1

    Fixture() { host.scheduler = &scheduler; }

    WorkerConnection *addWorker(WorkerConnection::State state = WorkerConnection::State::Ready)
    {
        auto w = std::make_unique<WorkerConnection>();
        w->slotId = int(workers.size()) + 1;
        w->state = state;
        WorkerConnection *raw = w.get();
        workers.emplace(raw->slotId, std::move(w));
        return raw;
    }
    Task *queueTask(int priority = 0)
    {
        auto task = std::make_unique<Task>();
        task->id = tasks.size() + 1;
        task->request.priority = priority;
        auto sink = std::make_unique<detail::PromiseSink<int>>();
        sinks.push_back(sink.get());
        task->request.sink = std::move(sink);
        Task *raw = task.get();
        tasks.push_back(std::move(task));
        scheduler.queue().push(raw);
        return raw;
    }
    /// A task the worker has started (its TaskStarted arrived).
    Task *running(WorkerConnection *w)
    {
        Task *task = queueTask();
        scheduler.queue().remove(task);
        task->state = Task::State::Running;
        w->inFlight.push_back(task);
        return task;
    }
};

} // namespace

class TestScheduler : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void idleWorkersTakeTasksInPriorityOrder();
    void onlyIdleWorkersTakeTasks();
    void canceledQueuedTaskNeverSent();
    void suspendedTaskKeepsItsPlace();
    void sendAheadFillsBusyWorkersRoundByRound();
    void noSendAheadWhileAWorkerStarts();
    void noSendAheadToAWorkerThatMayBeKilled();
    void sendAheadDepthFollowsRunTime_data();
    void sendAheadDepthFollowsRunTime();
    void startsAheadCoverOneRoundTrip_data();
    void startsAheadCoverOneRoundTrip();
    void stealBackForAnIdleWorker();
    void noStealBackWhileTasksWait();
};

void TestScheduler::idleWorkersTakeTasksInPriorityOrder()
{
    Fixture f;
    f.addWorker();
    f.addWorker();
    f.queueTask(0);  // t1
    f.queueTask(5);  // t2
    f.queueTask(5);  // t3
    f.queueTask(-1); // t4
    QCOMPARE(f.scheduler.assignToIdle(), size_t(0));
    QCOMPARE(f.host.calls, (std::vector<QString>{"send t2 w1", "send t3 w2"}));
    QCOMPARE(f.scheduler.queue().size(), 2);
    QCOMPARE(f.scheduler.queue().peek()->id, quint64(1));
}

void TestScheduler::onlyIdleWorkersTakeTasks()
{
    Fixture f;
    f.addWorker(WorkerConnection::State::Starting);
    WorkerConnection *retiring = f.addWorker();
    retiring->retireReason = QStringLiteral("served 10 tasks");
    WorkerConnection *busy = f.addWorker();
    f.running(busy);
    WorkerConnection *idle = f.addWorker();
    f.queueTask();
    f.queueTask();
    f.scheduler.assignToIdle();
    QCOMPARE(f.host.calls, (std::vector<QString>{QStringLiteral("send t2 w%1").arg(idle->slotId)}));
    QCOMPARE(f.scheduler.queue().size(), 1);
    QVERIFY(!f.scheduler.idleWorker());
}

void TestScheduler::canceledQueuedTaskNeverSent()
{
    Fixture f;
    f.addWorker();
    f.queueTask();
    f.queueTask();
    f.sinks[0]->cancelAndFinish();
    f.scheduler.assignToIdle();
    QCOMPARE(f.host.calls, (std::vector<QString>{"cancel t1", "send t2 w1"}));
    QVERIFY(f.scheduler.queue().isEmpty());
}

void TestScheduler::suspendedTaskKeepsItsPlace()
{
    Fixture f;
    f.addWorker();
    f.addWorker();
    f.queueTask(); // t1, suspended
    f.queueTask(); // t2
    f.sinks[0]->future().suspend();
    QCOMPARE(f.scheduler.assignToIdle(), size_t(1));
    QCOMPARE(f.host.calls, (std::vector<QString>{"send t2 w1"}));
    QCOMPARE(f.scheduler.queue().peek()->id, quint64(1)); // still first
    QVERIFY(f.scheduler.takeSuspendedSkipped());
    QVERIFY(!f.scheduler.takeSuspendedSkipped());
    // Nothing is sent ahead past it either.
    f.scheduler.sendAhead(1, -1);
    QCOMPARE(f.host.calls.size(), size_t(1));
    f.sinks[0]->future().resume();
    f.scheduler.assignToIdle();
    QCOMPARE(f.host.calls.back(), QStringLiteral("send t1 w2"));
}

void TestScheduler::sendAheadFillsBusyWorkersRoundByRound()
{
    Fixture f;
    WorkerConnection *a = f.addWorker();
    WorkerConnection *b = f.addWorker();
    f.running(a); // t1
    f.running(b); // t2
    for (int i = 0; i < 5; ++i)
        f.queueTask();            // t3..t7
    f.scheduler.sendAhead(0, -1); // no run time yet: depth 2
    QCOMPARE(f.host.calls, (std::vector<QString>{"send t3 w1", "send t4 w2"}));
    QCOMPARE(a->inFlight.size(), size_t(2));
    QCOMPARE(f.scheduler.queue().size(), 3);
    f.host.calls.clear();
    f.scheduler.sendAhead(0, 10000); // 10 us tasks: deeper
    QCOMPARE(f.host.calls, (std::vector<QString>{"send t5 w1", "send t6 w2", "send t7 w1"}));
}

void TestScheduler::noSendAheadWhileAWorkerStarts()
{
    Fixture f;
    WorkerConnection *a = f.addWorker();
    f.addWorker(WorkerConnection::State::Starting); // takes the next task once ready
    f.running(a);
    f.queueTask();
    f.scheduler.sendAhead(0, -1);
    QVERIFY(f.host.calls.empty());
}

void TestScheduler::noSendAheadToAWorkerThatMayBeKilled()
{
    Fixture f;
    WorkerConnection *timed = f.addWorker();
    f.running(timed);
    timed->taskTimer.start(60000); // its task has a timeout
    WorkerConnection *canceled = f.addWorker();
    f.running(canceled)->settled = true; // canceled: may be killed after its grace
    WorkerConnection *killing = f.addWorker();
    f.running(killing);
    killing->killPending = QStringLiteral("timed out");
    f.queueTask();
    f.scheduler.sendAhead(0, -1);
    QVERIFY(f.host.calls.empty());
    QCOMPARE(f.scheduler.queue().size(), 1);
}

void TestScheduler::sendAheadDepthFollowsRunTime_data()
{
    QTest::addColumn<double>("runNs");
    QTest::addColumn<double>("roundTripNs");
    QTest::addColumn<int>("depth");
    QTest::newRow("none measured") << -1.0 << -1.0 << 2;
    QTest::newRow("10 ms tasks") << 1e7 << -1.0 << 2;
    QTest::newRow("1 ms tasks") << 1e6 << -1.0 << 2;
    QTest::newRow("100 us tasks") << 1e5 << -1.0 << 20;
    QTest::newRow("1 us tasks") << 1e3 << -1.0 << 64;
    QTest::newRow("instant tasks") << 0.0 << -1.0 << 64;
    // Remote workers: the tasks in flight also cover the round trip.
    QTest::newRow("1 ms tasks, 10 ms away") << 1e6 << 1e7 << 11;
    QTest::newRow("1 ms tasks, 1 ms away") << 1e6 << 1e6 << 2;
    QTest::newRow("100 us tasks, 5 ms away") << 1e5 << 5e6 << 51;
    QTest::newRow("100 us tasks, 1 ms away: the budget is more") << 1e5 << 1e6 << 20;
    QTest::newRow("10 us tasks, 50 ms away: capped") << 1e4 << 5e7 << 64;
    QTest::newRow("nothing measured yet, far away") << -1.0 << 1e7 << 2;
}

void TestScheduler::sendAheadDepthFollowsRunTime()
{
    QFETCH(double, runNs);
    QFETCH(double, roundTripNs);
    QFETCH(int, depth);
    QCOMPARE(Scheduler::sendAheadDepth(runNs, roundTripNs), depth);
}

void TestScheduler::startsAheadCoverOneRoundTrip_data()
{
    QTest::addColumn<double>("runNs");
    QTest::addColumn<double>("roundTripNs");
    QTest::addColumn<int>("ahead");
    // None: the next starts when the running one ends (its StartTask then).
    QTest::newRow("none measured") << -1.0 << 1e6 << 0;
    QTest::newRow("no round trip measured") << 1e5 << -1.0 << 0;
    QTest::newRow("60 s tasks, 0.3 ms away") << 6e10 << 3e5 << 0;
    QTest::newRow("10 round trips long") << 1e7 << 1e6 << 0;
    // Short tasks: what runs in one round trip may start ahead.
    QTest::newRow("just under 10 round trips") << 9.9e6 << 1e6 << 1;
    QTest::newRow("1 ms tasks, 10 ms away") << 1e6 << 1e7 << 10;
    QTest::newRow("10 us tasks, 250 us away") << 1e4 << 2.5e5 << 25;
    QTest::newRow("instant tasks: capped") << 0.0 << 1e6 << 64;
}

void TestScheduler::startsAheadCoverOneRoundTrip()
{
    QFETCH(double, runNs);
    QFETCH(double, roundTripNs);
    QFETCH(int, ahead);
    QCOMPARE(Scheduler::startsAhead(runNs, roundTripNs), ahead);
}

void TestScheduler::stealBackForAnIdleWorker()
{
    Fixture f;
    WorkerConnection *busy = f.addWorker();
    f.running(busy);              // t1
    Task *ahead = f.queueTask();  // t2
    Task *behind = f.queueTask(); // t3
    f.scheduler.assignToIdle();   // nobody idle: nothing
    f.scheduler.queue().remove(ahead);
    f.scheduler.queue().remove(behind);
    for (Task *t : {ahead, behind}) {
        t->state = Task::State::Sent;
        busy->inFlight.push_back(t);
    }
    f.addWorker(); // an idle one appears
    f.scheduler.stealBack();
    QCOMPARE(f.host.calls, (std::vector<QString>{"revoke t3 w1"}));
    f.scheduler.stealBack(); // asked once
    QCOMPARE(f.host.calls.size(), size_t(1));
}

void TestScheduler::noStealBackWhileTasksWait()
{
    Fixture f;
    WorkerConnection *busy = f.addWorker();
    f.running(busy);
    Task *sent = f.queueTask();
    f.scheduler.queue().remove(sent);
    sent->state = Task::State::Sent;
    busy->inFlight.push_back(sent);
    WorkerConnection *idle = f.addWorker();
    idle->retireReason = QStringLiteral("leaving"); // not idle: takes nothing
    f.scheduler.stealBack();
    QVERIFY(f.host.calls.empty());
    f.queueTask(); // a waiting task is the idle worker's, not a stolen one
    idle->retireReason.clear();
    f.scheduler.stealBack();
    QVERIFY(f.host.calls.empty());
}

QTEST_GUILESS_MAIN(TestScheduler)
#include "tst_scheduler.moc"
