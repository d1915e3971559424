// SPDX-License-Identifier: MIT
// FrameLink: a socket as frames both ways, over a socketpair standing in for
// a worker's connection (no process): batched writes, whole frames only,
// limits, large bodies through the side channel, pulling from the kernel, and
// what a dead worker sent surviving Qt's abort.
#include "pool/framelink.h"
#include "protocol/messages.h"

#include <QtCore/QDir>
#include <QtTest/QTest>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

using namespace QtProcessPool;
using namespace QtProcessPool::protocol;

namespace {

/// Descriptors this process holds now; -1 without /proc.
int openDescriptors()
{
    const QDir fds(QStringLiteral("/proc/self/fd"));
    return fds.exists()
               ? int(fds.entryList(QDir::AllEntries | QDir::System | QDir::NoDotAndDotDot).size())
               : -1;
}

/// Our end in a FrameLink, the worker's end as a raw descriptor.
struct Fixture
{
    FrameLink link;
    int worker = -1;

    Fixture()
    {
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
            return;
        auto socket = std::make_unique<QLocalSocket>();
        socket->setSocketDescriptor(fds[0]);
        link.attach(std::move(socket));
        worker = fds[1];
    }
    ~Fixture()
    {
        if (worker >= 0)
            ::close(worker);
    }
    /// The side channel for large bodies, the worker's end in *theirs.
    bool addSideChannel(SharedBodyChannel *theirs)
    {
        int ourFd = -1;
        int theirFd = -1;
        if (!SharedBodyChannel::createPair(&ourFd, &theirFd))
            return false;
        link.bodies().reset(ourFd);
        theirs->reset(theirFd);
        return true;
    }
    void workerWrites(const QByteArray &bytes) const
    {
        QCOMPARE(::send(worker, bytes.constData(), size_t(bytes.size()), MSG_NOSIGNAL),
                 ssize_t(bytes.size()));
    }
    /// What the worker received, waiting until at least `size` bytes came.
    QByteArray workerReceives(qsizetype size) const
    {
        QByteArray all;
        QDeadlineTimer deadline(10000);
        char buffer[65536];
        while (all.size() < size && !deadline.hasExpired()) {
            const ssize_t n = ::recv(worker, buffer, sizeof buffer, MSG_DONTWAIT);
            if (n > 0)
                all.append(buffer, n);
            else
                QCoreApplication::processEvents(QEventLoop::AllEvents, 10); // Qt writes the rest
        }
        return all;
    }
    /// Reads one frame, pulling from the kernel as readEverythingSent() does.
    FrameLink::Status readOne(Frame *frame, QString *why = nullptr, bool *shared = nullptr)
    {
        QString ignoredWhy;
        bool ignoredShared = false;
        FrameLink::Status status =
            link.read(frame, why ? why : &ignoredWhy, shared ? shared : &ignoredShared);
        while (status == FrameLink::Status::NeedMore && link.pull())
            status = link.read(frame, why ? why : &ignoredWhy, shared ? shared : &ignoredShared);
        return status;
    }
};

} // namespace

class TestFrameLink : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { QVERIFY(Fixture().worker >= 0); }

    void queuedFramesLeaveAtFlush()
    {
        Fixture f;
        const QByteArray cancel = encodeMessage(CancelTask{7});
        const QByteArray revoke = encodeMessage(RevokeTask{8});
        f.link.queue(cancel);
        f.link.queue(revoke);
        QVERIFY(!f.link.isWriteIdle());
        char probe;
        QCOMPARE(::recv(f.worker, &probe, 1, MSG_DONTWAIT), ssize_t(-1)); // nothing yet
        f.link.flush();
#ifdef QPP_PORTABLE
        QTRY_VERIFY(f.link.isWriteIdle()); // through Qt: once its event loop has written
#else
        QVERIFY(f.link.isWriteIdle()); // straight to the kernel
#endif
        QCOMPARE(f.workerReceives(cancel.size() + revoke.size()), cancel + revoke);
    }

    void largeWriteArrivesWhole()
    {
        // More than the kernel takes at once: the rest goes through Qt.
        Fixture f;
        QByteArray big(8 * 1024 * 1024, '\0');
        for (qsizetype i = 0; i < big.size(); ++i)
            big[i] = char(i * 7);
        f.link.queue(big);
        f.link.flush();
        QCOMPARE(f.workerReceives(big.size()), big);
        QVERIFY(f.link.isWriteIdle());
    }

    void framesAreReadWhole()
    {
        Fixture f;
        const QByteArray started = encodeMessage(TaskStarted{5});
        const QByteArray progress = encodeMessage(TaskProgress{5, 0, 10, 3, QStringLiteral("x")});
        f.workerWrites(started + progress.left(5));
        Frame frame;
        QCOMPARE(f.readOne(&frame), FrameLink::Status::Frame);
        QCOMPARE(frame.type, quint16(MessageType::TaskStarted));
        TaskStarted decoded;
        QVERIFY(decodeBody(frame.body, &decoded));
        QCOMPARE(decoded.taskId, quint64(5));
        QCOMPARE(f.readOne(&frame), FrameLink::Status::NeedMore); // half a frame
        f.workerWrites(progress.mid(5));
        QCOMPARE(f.readOne(&frame), FrameLink::Status::Frame);
        TaskProgress p;
        QVERIFY(decodeBody(frame.body, &p));
        QCOMPARE(p.value, 3);
        QCOMPARE(f.readOne(&frame), FrameLink::Status::NeedMore);
    }

    void oversizedFrameIsAnError()
    {
        Fixture f;
        f.link.setMaxBodySize(16);
        f.workerWrites(encodeMessage(TaskProgress{5, 0, 10, 3, QString(64, QLatin1Char('y'))}));
        Frame frame;
        QString why;
        QCOMPARE(f.readOne(&frame, &why), FrameLink::Status::Error);
        QVERIFY(!why.isEmpty());
    }

    void pullTakesWhatIsInTheKernel()
    {
        Fixture f;
        QVERIFY(!f.link.pull()); // nothing there
        f.workerWrites(encodeMessage(TaskStarted{9}));
        QCOMPARE(f.link.socket()->bytesAvailable(), qint64(0)); // no event loop ran
        QVERIFY(f.link.pull());
        QVERIFY(!f.link.isPulling());
        QVERIFY(f.link.socket()->bytesAvailable() > 0);
        Frame frame;
        QString why;
        bool shared = true;
        QCOMPARE(f.link.read(&frame, &why, &shared), FrameLink::Status::Frame);
        QVERIFY(!shared);
    }

    void framesSurviveAFailedWrite()
    {
        // The worker wrote its last frames and died; Qt's write to it fails
        // and Qt aborts the socket, dropping what it had read and not handed
        // over.
        // Those frames decide its tasks' fates: they must still be read.
        Fixture f;
        const QByteArray finished = encodeMessage(TaskFinished{4, 0, {}});
        const QByteArray started = encodeMessage(TaskStarted{5});
        f.workerWrites(finished + started);
        // Qt has read them (not handed them over yet) when the worker dies.
        QTRY_COMPARE(f.link.socket()->bytesAvailable(), qint64(finished.size() + started.size()));
        ::close(std::exchange(f.worker, -1));
        f.link.localSocket()->write(QByteArray(1 << 20, 'r')); // through Qt, as without raw sockets
        f.link.localSocket()->flush();                         // fails: the peer is gone
        QCOMPARE(f.link.localSocket()->state(), QLocalSocket::UnconnectedState);
        QVERIFY(f.link.hasUnread());
        Frame frame;
        QString why;
        bool shared = false;
        QCOMPARE(f.link.read(&frame, &why, &shared), FrameLink::Status::Frame);
        QCOMPARE(frame.type, quint16(MessageType::TaskFinished));
        QCOMPARE(f.link.read(&frame, &why, &shared), FrameLink::Status::Frame);
        QCOMPARE(frame.type, quint16(MessageType::TaskStarted));
        QCOMPARE(f.link.read(&frame, &why, &shared), FrameLink::Status::NeedMore);
        QVERIFY(!f.link.hasUnread());
    }

    void framesInTheKernelSurviveAFailedWrite()
    {
        // As above, but Qt has not read them from the kernel yet: its failed
        // write closes its descriptor before anyone hears of the error.
        Fixture f;
        const int qtFd = int(f.link.localSocket()->socketDescriptor());
        const QByteArray finished = encodeMessage(TaskFinished{4, 0, QByteArray(100000, 'f')});
        const QByteArray started = encodeMessage(TaskStarted{5});
        f.workerWrites(finished + started);
        QCOMPARE(f.link.socket()->bytesAvailable(), qint64(0)); // no event loop ran
        ::close(std::exchange(f.worker, -1));
        f.link.localSocket()->write(QByteArray(1 << 20, 'r')); // through Qt, as without raw sockets
        f.link.localSocket()->flush();                         // fails: the peer is gone
        QCOMPARE(f.link.localSocket()->state(), QLocalSocket::UnconnectedState);
        QCOMPARE(::fcntl(qtFd, F_GETFD), -1); // Qt closed it
        Frame frame;
        QString why;
        bool shared = false;
        QCOMPARE(f.link.read(&frame, &why, &shared), FrameLink::Status::Frame);
        QCOMPARE(frame.type, quint16(MessageType::TaskFinished));
        TaskFinished decoded;
        QVERIFY(decodeBody(frame.body, &decoded));
        QCOMPARE(decoded.results, QByteArray(100000, 'f'));
        QCOMPARE(f.link.read(&frame, &why, &shared), FrameLink::Status::Frame);
        QCOMPARE(frame.type, quint16(MessageType::TaskStarted));
        QCOMPARE(f.link.read(&frame, &why, &shared), FrameLink::Status::NeedMore);
        QVERIFY(!f.link.hasUnread());
    }

    void noDescriptorOutlivesTheConnection_data()
    {
        QTest::addColumn<bool>("workerCloses");
        QTest::newRow("the pool disconnects") << false;
        QTest::newRow("the worker closes") << true;
    }
    void noDescriptorOutlivesTheConnection()
    {
        // The link's duplicate of the descriptor goes with the connection:
        // no leak, and no socket kept open that the worker waits to see end.
        QFETCH(bool, workerCloses);
        const int before = openDescriptors();
        if (before < 0)
            QSKIP("no /proc/self/fd to count descriptors in");
        {
            Fixture f;
            if (workerCloses) {
                f.workerWrites(encodeMessage(TaskStarted{1}));
                ::close(std::exchange(f.worker, -1));
                QTRY_COMPARE(f.link.localSocket()->state(), QLocalSocket::UnconnectedState);
            } else {
                f.link.disconnectFromPeer();
                char probe;
                QCOMPARE(::recv(f.worker, &probe, 1, MSG_DONTWAIT), ssize_t(0)); // it sees the end
            }
            QCOMPARE(openDescriptors(), before + (workerCloses ? 0 : 1)); // the worker's end only
        }
        QCOMPARE(openDescriptors(), before);
        {
            Fixture connected;                       // ends while connected
            QCOMPARE(openDescriptors(), before + 3); // the worker's end, Qt's, the duplicate
        }
        QCOMPARE(openDescriptors(), before);
    }

    void largeBodyComesThroughSharedMemory()
    {
        Fixture f;
        SharedBodyChannel workerBodies;
#ifdef QPP_PORTABLE
        QSKIP("the portable build has no memfd side channel (QPP_PORTABLE)");
#endif
        QVERIFY(f.addSideChannel(&workerBodies));
        const QByteArray payload(SharedBodyThreshold * 2, 'p');
        OutgoingFrames frames;
        appendMessage(frames, TaskFinished{3, 1, payload});
        const QByteArray wire = workerBodies.wire(frames);
        QVERIFY(wire.size() < payload.size()); // the body went aside
        f.workerWrites(wire);
        Frame frame;
        QString why;
        bool shared = false;
        QCOMPARE(f.readOne(&frame, &why, &shared), FrameLink::Status::Frame);
        QVERIFY2(shared, qPrintable(why));
        QCOMPARE(frame.type, quint16(MessageType::TaskFinished));
        TaskFinished finished;
        QVERIFY(decodeBody(frame.body, &finished));
        QCOMPARE(finished.results, payload);
    }

    void ourLargeFramesGoAsideToo()
    {
        Fixture f;
        SharedBodyChannel workerBodies;
#ifdef QPP_PORTABLE
        QSKIP("the portable build has no memfd side channel (QPP_PORTABLE)");
#endif
        QVERIFY(f.addSideChannel(&workerBodies));
        OutgoingFrames frames;
        appendMessage(frames, RunTask{1,
                                      QStringLiteral("echo"),
                                      {QStringLiteral("QByteArray")},
                                      QStringLiteral("QByteArray"),
                                      0,
                                      QByteArray(SharedBodyThreshold * 2, 'a')});
        QCOMPARE(f.link.queue(frames), qint64(1));
        appendMessage(frames, RunTask{2, QStringLiteral("echo"), {}, QStringLiteral("int"), 0, {}});
        QCOMPARE(f.link.queue(frames), qint64(1)); // the large one again, the small one inline
    }
};

QTEST_GUILESS_MAIN(TestFrameLink)
#include "tst_framelink.moc"
