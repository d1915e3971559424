// SPDX-License-Identifier: MIT
// SocketLending: an idle worker's socket lent to the submitting thread, over
// a socketpair standing in for the worker's connection (no process).
#include "pool/lending.h"
#include "pool/processpool_p.h"
#include "protocol/socketio.h"

#include <QtTest/QTest>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace QtProcessPool;

namespace {

constexpr int Slot = 7;

/// Both ends of a connection; ours is non-blocking, as a QLocalSocket's is.
struct SocketPair
{
    int ours = -1;
    int worker = -1;
    SocketPair()
    {
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0) {
            ours = fds[0];
            worker = fds[1];
            ::fcntl(ours, F_SETFL, ::fcntl(ours, F_GETFL) | O_NONBLOCK);
        }
    }
    ~SocketPair()
    {
        closeWorker();
        if (ours >= 0)
            ::close(ours);
    }
    void closeWorker()
    {
        if (worker >= 0)
            ::close(std::exchange(worker, -1));
    }
    /// What the worker has received so far.
    QByteArray received() const
    {
        QByteArray all;
        char buffer[65536];
        for (;;) {
            const ssize_t n = ::recv(worker, buffer, sizeof buffer, MSG_DONTWAIT);
            if (n <= 0)
                return all;
            all.append(buffer, n);
        }
    }
};

std::unique_ptr<Task> makeTask(qsizetype argumentBytes = 8)
{
    auto task = std::make_unique<Task>();
    task->request.name = QStringLiteral("square");
    task->request.argTypes = {QStringLiteral("int")};
    task->request.resultType = QStringLiteral("int");
    task->request.arguments = QByteArray(argumentBytes, 'a');
    return task;
}

/// What the submitting thread does with inboxMutex held (ProcessPool::run()).
void submit(SharedState &shared, std::unique_ptr<Task> task)
{
    QMutexLocker lock(&shared.inboxMutex);
    SocketLending::trySend(shared, *task);
    shared.inbox.push_back(std::move(task));
}

} // namespace

class TestLending : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
#ifdef QPP_PORTABLE
        QSKIP("socket lending needs send() on a POSIX descriptor: the portable build never "
              "lends (QPP_PORTABLE)");
#endif
        QVERIFY(SocketPair().ours >= 0);
    }

    void takenBackUnused()
    {
        SharedState shared;
        SocketLending lending(&shared);
        const SocketPair pair;
        QVERIFY(lending.lend(Slot, pair.ours));
        QCOMPARE(lending.lentSlot(), Slot);
        QCOMPARE(shared.lentFd, pair.ours);
        QCOMPARE(shared.lentSlot, Slot);
        QVERIFY(!lending.takeBack()); // nobody used it
        QCOMPARE(lending.lentSlot(), 0);
        QCOMPARE(shared.lentFd, -1);
        QCOMPARE(shared.lentSlot, 0);
        QVERIFY(!lending.takeBack()); // nothing lent: nothing to do
    }

    void refusedWhileTasksWait()
    {
        SharedState shared;
        SocketLending lending(&shared);
        const SocketPair pair;
        shared.inbox.push_back(makeTask());
        QVERIFY(!lending.lend(Slot, pair.ours));
        QCOMPARE(lending.lentSlot(), 0);
        QCOMPARE(shared.lentFd, -1);
    }

    void submissionWritesItsFrame()
    {
        SharedState shared;
        shared.nextTaskId = 41;
        SocketLending lending(&shared);
        const SocketPair pair;
        QVERIFY(lending.lend(Slot, pair.ours));
        submit(shared, makeTask());
        const Task &sent = *shared.inbox.front();
        QCOMPARE(sent.id, quint64(41)); // the id goes out with the frame
        QCOMPARE(sent.sentToSlot, Slot);
        QVERIFY(sent.unsentTail.isEmpty());
        QCOMPARE(pair.received(), protocol::encodeMessage(runTaskMessage(sent)));
        QCOMPARE(shared.lentFd, -1); // taken once
        QVERIFY(lending.takeBack()); // used: the engine takes the inbox now
        QCOMPARE(shared.lentSlot, 0);
    }

    void takenOnce()
    {
        SharedState shared;
        SocketLending lending(&shared);
        const SocketPair pair;
        QVERIFY(lending.lend(Slot, pair.ours));
        submit(shared, makeTask());
        submit(shared, makeTask());
        QCOMPARE(shared.inbox[0]->sentToSlot, Slot);
        QCOMPARE(shared.inbox[1]->sentToSlot, 0);  // the engine dispatches it
        QCOMPARE(shared.inbox[1]->id, quint64(0)); // and gives it its id
        QCOMPARE(pair.received(), protocol::encodeMessage(runTaskMessage(*shared.inbox[0])));
    }

    void notAheadOfWaitingTasks()
    {
        SharedState shared;
        SocketLending lending(&shared);
        const SocketPair pair;
        QVERIFY(lending.lend(Slot, pair.ours));
        shared.inbox.push_back(makeTask()); // arrived while the lend was made
        submit(shared, makeTask());
        QCOMPARE(shared.inbox[1]->sentToSlot, 0);
        QVERIFY(pair.received().isEmpty());
        QCOMPARE(shared.lentFd, pair.ours); // still lent
        QVERIFY(!lending.takeBack());
    }

    void largeTaskGoesTheUsualWay()
    {
        SharedState shared;
        SocketLending lending(&shared);
        const SocketPair pair;
        QVERIFY(lending.lend(Slot, pair.ours));
        submit(shared, makeTask(SocketLending::MaxLentFrame + 1));
        QCOMPARE(shared.inbox[0]->sentToSlot, 0);
        QVERIFY(pair.received().isEmpty());
        submit(shared, makeTask(SocketLending::MaxLentFrame - 64)); // behind it: not either
        QCOMPARE(shared.inbox[1]->sentToSlot, 0);
        QVERIFY(!lending.takeBack());
    }

    void workerGone()
    {
        SharedState shared;
        SocketLending lending(&shared);
        SocketPair pair;
        QVERIFY(lending.lend(Slot, pair.ours));
        pair.closeWorker();
        submit(shared, makeTask());               // no SIGPIPE, no hang
        QCOMPARE(shared.inbox[0]->sentToSlot, 0); // the engine dispatches it elsewhere
        QVERIFY(lending.takeBack());
    }

    void fullSocketKeepsTheTail()
    {
        SharedState shared;
        SocketLending lending(&shared);
        const SocketPair pair;
        // A small send buffer takes a part of a 16 KiB frame at once.
        const int size = 4096;
        QCOMPARE(::setsockopt(pair.ours, SOL_SOCKET, SO_SNDBUF, &size, sizeof size), 0);
        QVERIFY(lending.lend(Slot, pair.ours));
        submit(shared, makeTask(SocketLending::MaxLentFrame - 64));
        const Task &task = *shared.inbox[0];
        const QByteArray frame = protocol::encodeMessage(runTaskMessage(task));
        QCOMPARE(task.sentToSlot, Slot);
        QVERIFY(!task.unsentTail.isEmpty());
        QVERIFY(frame.endsWith(task.unsentTail));
        QVERIFY(task.unsentTail.size() < frame.size());
        QVERIFY(lending.takeBack());
    }
};

QTEST_GUILESS_MAIN(TestLending)
#include "tst_lending.moc"
