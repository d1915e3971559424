// SPDX-License-Identifier: MIT
// TaskLedger: how a task's future ends -- once, counts first -- and how a
// mapped() call's one future ends with its first failing chunk. Tasks and
// futures are made in memory (no process, no socket).
#include "pool/delivery.h"
#include "pool/processpool_p.h"
#include "pool/taskledger.h"

#include <QtTest/QTest>

#include <vector>

using namespace QtProcessPool;

namespace {

struct RecordingHost : TaskLedger::Host
{
    std::vector<TaskGroup *> canceledGroups;
    void cancelGroup(TaskGroup &group) override { canceledGroups.push_back(&group); }
};

struct Fixture
{
    SharedState shared;
    QObject parent;
    Delivery delivery{&shared, [] {}, &parent};
    RecordingHost host;
    TaskLedger ledger{&shared, delivery, host};

    /// A single task in the given state, counted as submitted.
    Task *single(Task::State state, QFuture<int> *future)
    {
        auto sink = std::make_unique<detail::PromiseSink<int>>();
        *future = sink->future();
        auto task = std::make_unique<Task>();
        task->request.name = QStringLiteral("square");
        task->request.sink = std::move(sink);
        return submitted(std::move(task), state);
    }
    /// A mapped() call of `chunks` chunks, all queued.
    std::vector<Task *> group(int chunks, QFuture<int> *future)
    {
        auto sink = std::make_unique<detail::PromiseSink<int>>();
        *future = sink->future();
        auto group = std::make_shared<TaskGroup>();
        group->sink = std::move(sink);
        group->pendingChunks = chunks;
        group->totalItems = chunks;
        std::vector<Task *> tasks;
        for (int i = 0; i < chunks; ++i) {
            auto task = std::make_unique<Task>();
            task->group = group;
            task->firstIndex = i;
            task->itemCount = 1;
            tasks.push_back(submitted(std::move(task), Task::State::Queued));
        }
        return tasks;
    }

private:
    Task *submitted(std::unique_ptr<Task> task, Task::State state)
    {
        task->state = state;
        ++shared.outstanding;
        ++(state == Task::State::Running ? shared.running : shared.queued);
        return ledger.add(std::move(task));
    }
};

} // namespace

class TestTaskLedger : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void idsAreGivenOnce()
    {
        Fixture f;
        f.shared.nextTaskId = 10;
        auto fresh = std::make_unique<Task>();
        auto lent = std::make_unique<Task>();
        lent->id = 7; // written to a lent socket: its id went out with it
        Task *a = f.ledger.add(std::move(fresh));
        Task *b = f.ledger.add(std::move(lent));
        QCOMPARE(a->id, quint64(10));
        QCOMPARE(b->id, quint64(7));
        QCOMPARE(f.shared.nextTaskId.load(), quint64(11));
        QCOMPARE(f.ledger.unsettled(10), a);
        QCOMPARE(f.ledger.unsettled(7), b);
        QVERIFY(!f.ledger.unsettled(8));
    }

    void finishedTaskLeavesTheCounts()
    {
        Fixture f;
        QFuture<int> future;
        Task *task = f.single(Task::State::Running, &future);
        const quint64 id = task->id;
        QVERIFY(task->sink().addResults(QByteArray(), 0));
        f.ledger.finish(task);
        QVERIFY(future.isFinished());
        QVERIFY(!future.isCanceled());
        QCOMPARE(f.shared.outstanding.load(), 0);
        QCOMPARE(f.shared.running.load(), 0);
        QCOMPARE(f.shared.statistics.counts.finished, qint64(1));
        QVERIFY(!f.ledger.unsettled(id));
        QVERIFY(f.ledger.isEmpty());
    }

    void failureIsCountedByKind()
    {
        Fixture f;
        QFuture<int> future;
        Task *task = f.single(Task::State::Queued, &future);
        f.ledger.fail(task, TaskError(TaskError::Kind::TimedOut, QStringLiteral("too slow")));
        QVERIFY(future.isFinished());
        try {
            future.waitForFinished();
            QFAIL("no exception");
        } catch (const TaskError &error) {
            QCOMPARE(error.kind(), TaskError::Kind::TimedOut);
        }
        QCOMPARE(f.shared.queued.load(), 0);
        QCOMPARE(f.shared.statistics.counts.failed, qint64(1));
        QCOMPARE(f.shared.statistics.counts.failedByKind.value(TaskError::Kind::TimedOut),
                 qint64(1));
    }

    void settledTaskStaysUntilReleased()
    {
        // Canceled while it runs: the future ends now, the task stays in its
        // worker's hands until the worker reports back or dies.
        Fixture f;
        QFuture<int> future;
        Task *task = f.single(Task::State::Running, &future);
        const quint64 id = task->id;
        f.ledger.settle(task, TaskLedger::Outcome::Canceled);
        QVERIFY(future.isCanceled());
        QVERIFY(future.isFinished());
        QVERIFY(task->settled);
        QVERIFY(!f.ledger.unsettled(id));
        QVERIFY(!f.ledger.isEmpty());
        QCOMPARE(f.shared.statistics.counts.canceled, qint64(1));
        f.ledger.release(task);
        QVERIFY(f.ledger.isEmpty());
    }

    void mappedEndsWithItsFirstFailingChunk()
    {
        Fixture f;
        QFuture<int> future;
        const std::vector<Task *> chunks = f.group(3, &future);
        QVERIFY(chunks[0]->sink().addResults(QByteArray(), 0));
        f.ledger.finish(chunks[0]);
        QVERIFY(!future.isFinished());
        QVERIFY(f.host.canceledGroups.empty());
        TaskGroup *group = chunks[1]->group.get();
        f.ledger.fail(chunks[1], TaskError(TaskError::Kind::Crashed, QStringLiteral("boom")));
        QVERIFY(future.isFinished());
        QCOMPARE(f.host.canceledGroups, std::vector<TaskGroup *>{group}); // the rest is dropped
        f.ledger.cancel(chunks[2]); // its own end changes nothing more
        QCOMPARE(f.host.canceledGroups.size(), size_t(1));
        try {
            future.waitForFinished();
            QFAIL("no exception");
        } catch (const TaskError &error) {
            QCOMPARE(error.kind(), TaskError::Kind::Crashed);
        }
        QCOMPARE(f.shared.outstanding.load(), 0);
        QCOMPARE(f.shared.statistics.counts.finished, qint64(1));
        QCOMPARE(f.shared.statistics.counts.failed, qint64(1));
        QCOMPARE(f.shared.statistics.counts.canceled, qint64(1));
    }

    void mappedFinishesWithItsLastChunk()
    {
        Fixture f;
        QFuture<int> future;
        const std::vector<Task *> chunks = f.group(2, &future);
        f.ledger.finish(chunks[1]); // out of order: still one to go
        QVERIFY(!future.isFinished());
        f.ledger.finish(chunks[0]);
        QVERIFY(future.isFinished());
        QVERIFY(!future.isCanceled());
        QVERIFY(f.host.canceledGroups.empty());
        QVERIFY(f.ledger.isEmpty());
    }

    void positionsMoveForward()
    {
        Task task;
        TaskLedger::move(&task, Task::State::Sent);
        TaskLedger::move(&task, Task::State::Queued); // given back unstarted
        TaskLedger::move(&task, Task::State::Sent);
        TaskLedger::move(&task, Task::State::Running);
        QCOMPARE(task.state, Task::State::Running);
    }

    void shutdownCancelsWhatIsLeft()
    {
        Fixture f;
        QFuture<int> queued;
        QFuture<int> running;
        QFuture<int> mapped;
        f.single(Task::State::Queued, &queued);
        Task *done = f.single(Task::State::Running, &running);
        f.ledger.settle(done, TaskLedger::Outcome::Canceled); // still in its worker
        f.group(2, &mapped);
        QCOMPARE(f.shared.outstanding.load(), 3);
        f.ledger.cancelAllAtShutdown();
        QVERIFY(queued.isCanceled() && queued.isFinished());
        QVERIFY(mapped.isCanceled() && mapped.isFinished());
        QCOMPARE(f.shared.outstanding.load(), 0);
        QVERIFY(f.ledger.isEmpty());
    }
};

QTEST_GUILESS_MAIN(TestTaskLedger)
#include "tst_taskledger.moc"
