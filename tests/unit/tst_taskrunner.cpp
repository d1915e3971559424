// SPDX-License-Identifier: MIT
// TaskRunner: the frames a worker answers a RunTask with -- started, QPromise
// results and progress, then finished or failed with the translated
// exception -- checked frame by frame, with no process and no socket. The
// test thread plays the worker's main thread; a helper thread plays its I/O
// thread where a test needs one.
#include "protocol/frame.h"
#include "protocol/messages.h"
#include "worker/taskrunner.h"

#include <QtProcessPool/registry.h>
#include <QtProcessPool/taskerror.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QMutex>
#include <QtCore/QSemaphore>
#include <QtTest/QTest>

#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

using namespace QtProcessPool;
using namespace QtProcessPool::protocol;
using Kind = TaskError::Kind;

Q_DECLARE_METATYPE(QtProcessPool::protocol::RunTask)

/// Thrown by a task: a type the runner knows nothing of.
struct TstOddity
{
};

namespace {

int square(int value)
{
    return value * value;
}

int throwing(int which)
{
    switch (which) {
    case 0:
        throw std::runtime_error("boom");
    case 1:
        throw "a C string";
    case 2:
        throw std::string("a std::string");
    case 3:
        throw QStringLiteral("a QString");
    default:
        throw TstOddity{};
    }
}

// The QPromise task of progressPrecedesResults(): it sets progress, waits
// until the I/O thread's flush has sent it, then adds its result.
QSemaphore progressSet;
QSemaphore flushed;

void reportProgress(QPromise<int> &promise, int steps)
{
    promise.setProgressRange(0, steps);
    promise.setProgressValueAndText(1, QStringLiteral("started"));
    progressSet.release();
    flushed.acquire();
    promise.addResult(steps * 10);
    promise.setProgressValueAndText(steps, QStringLiteral("done"));
}

bool sawCanceled = false;
int calls = 0;

void noticeCancel(QPromise<int> &promise)
{
    sawCanceled = promise.isCanceled();
    promise.addResult(1); // dropped: the promise is canceled
}

int counted(int value)
{
    ++calls;
    return value;
}

} // namespace

QPP_REGISTER_TASK_AS("runner.square", &square)
QPP_REGISTER_TASK_AS("runner.throwing", &throwing)
QPP_REGISTER_TASK_AS("runner.progress", &reportProgress)
QPP_REGISTER_TASK_AS("runner.cancel", &noticeCancel)
QPP_REGISTER_TASK_AS("runner.counted", &counted)

namespace {

/// A RunTask as ProcessPool::run() would send it for a task taking Params.
template <typename Result, typename... Params, typename... Args>
RunTask request(quint64 id, const char *name, Args... args)
{
    using Tuple = std::tuple<Params...>;
    return RunTask{id,
                   QString::fromLatin1(name),
                   detail::TypeNames<Tuple>::get(),
                   detail::typeName<Result>(),
                   0,
                   detail::serializeArguments(static_cast<Tuple *>(nullptr), args...)};
}

/// A chunk of mapped() calling the (int) -> int task name on three items.
RunTask chunk(quint64 id, const char *name, int first, int second, int third)
{
    RunTask task = request<int, int>(id, name, first);
    task.itemCount = 3;
    task.arguments = detail::serializeArguments(static_cast<std::tuple<int, int, int> *>(nullptr),
                                                first, second, third);
    return task;
}

/// The frames in out, which must hold whole frames only.
std::vector<Frame> framesOf(const OutgoingFrames &out)
{
    const QByteArray bytes = out.toByteArray();
    FrameReader reader(AbsoluteMaxMessageSize);
    qsizetype offset = 0;
    std::vector<Frame> frames;
    Frame frame;
    while (reader.read(bytes, &offset, &frame) == FrameReader::Status::Ready)
        frames.push_back(frame);
    if (offset != bytes.size())
        frames.push_back(Frame{0xffff, "trailing bytes"}); // decodes as no message
    return frames;
}

QList<int> intsOf(const QByteArray &bytes, int count)
{
    QDataStream in(bytes);
    in.setVersion(detail::StreamVersion);
    QList<int> values(count);
    for (int &value : values)
        in >> value;
    return in.status() == QDataStream::Ok && in.atEnd() ? values : QList<int>{-1};
}

bool isStarted(const Frame &frame, quint64 id)
{
    TaskStarted started;
    return decodeMessage(frame, &started) && started.taskId == id;
}

/// A runner whose deliveries are recorded, from whichever thread they come.
struct Recorder
{
    QMutex mutex;
    std::vector<Frame> delivered; // what was delivered during execute()
    std::vector<Frame> end;       // what execute() left in out
    bool deliverable = true;
    TaskRunner runner{[this](const OutgoingFrames &frames) {
        QMutexLocker lock(&mutex);
        for (Frame &frame : framesOf(frames))
            delivered.push_back(std::move(frame));
        return deliverable;
    }};

    bool execute(const RunTask &task)
    {
        OutgoingFrames out;
        const bool ran = runner.execute(task, out);
        end = framesOf(out);
        return ran;
    }

    /// True if TaskStarted{id} alone was delivered and the one frame left at
    /// the end decodes as *last, of the same task.
    template <typename Message>
    bool startedThenEnded(quint64 id, Message *last) const
    {
        return delivered.size() == 1 && isStarted(delivered[0], id) && end.size() == 1 &&
               decodeMessage(end[0], last) && last->taskId == id;
    }
};

} // namespace

class TestTaskRunner : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void valueIsStartedThenFinished();
    void mappedChunkGivesEveryResult();
    void exceptionIsTranslated_data();
    void exceptionIsTranslated();
    void unknownTaskFails();
    void badArgumentsFail_data();
    void badArgumentsFail();
    void progressPrecedesResults();
    void cancelBeforeStartReachesThePromise();
    void canceledChunkStopsBetweenItems();
    void undeliverableStartRunsNothing();
};

void TestTaskRunner::valueIsStartedThenFinished()
{
    Recorder r;
    QVERIFY(r.execute(request<int, int>(7, "runner.square", 12)));
    TaskFinished finished;
    QVERIFY(r.startedThenEnded(7, &finished));
    QCOMPARE(finished.taskId, quint64(7));
    QCOMPARE(finished.resultCount, quint32(1));
    QCOMPARE(intsOf(finished.results.flattened(), 1), QList<int>{144});
}

void TestTaskRunner::mappedChunkGivesEveryResult()
{
    Recorder r;
    QVERIFY(r.execute(chunk(8, "runner.square", 2, 3, 4)));
    TaskFinished finished;
    QVERIFY(r.startedThenEnded(8, &finished));
    QCOMPARE(finished.resultCount, quint32(3));
    QCOMPARE(intsOf(finished.results.flattened(), 3), (QList<int>{4, 9, 16}));
}

void TestTaskRunner::exceptionIsTranslated_data()
{
    QTest::addColumn<int>("which");
    QTest::addColumn<QString>("message");
    QTest::addColumn<QString>("type");
    QTest::newRow("std::runtime_error") << 0 << "boom"
                                        << "std::runtime_error";
    QTest::newRow("C string") << 1 << "a C string"
                              << "const char*";
    QTest::newRow("std::string") << 2 << "a std::string"
                                 << "std::string";
    QTest::newRow("QString") << 3 << "a QString"
                             << "QString";
    QTest::newRow("type of its own") << 4 << "the task threw an exception of type TstOddity"
                                     << "TstOddity";
}

void TestTaskRunner::exceptionIsTranslated()
{
    QFETCH(int, which);
    QFETCH(QString, message);
    QFETCH(QString, type);
    Recorder r;
    QVERIFY(r.execute(request<int, int>(9, "runner.throwing", which)));
    TaskFailed failed;
    QVERIFY(r.startedThenEnded(9, &failed));
    QCOMPARE(failed.taskId, quint64(9));
    QCOMPARE(Kind(failed.kind), Kind::Exception);
    QCOMPARE(failed.message, message);
    QCOMPARE(failed.remoteType, type);
}

void TestTaskRunner::unknownTaskFails()
{
    Recorder r;
    QVERIFY(r.execute(request<int, int>(10, "runner.nonexistent", 1)));
    TaskFailed failed;
    QVERIFY(r.startedThenEnded(10, &failed));
    QCOMPARE(Kind(failed.kind), Kind::UnknownTask);
    QCOMPARE(failed.message, QStringLiteral("no task is registered under the name "
                                            "'runner.nonexistent' in ") +
                                 QCoreApplication::applicationFilePath());
}

void TestTaskRunner::badArgumentsFail_data()
{
    QTest::addColumn<RunTask>("task");
    QTest::addColumn<QString>("message");
    QTest::newRow("argument of another type")
        << request<int, QString>(11, "runner.square", QStringLiteral("12"))
        << "task 'runner.square' takes (int) but was called with (QString)";
    QTest::newRow("result of another type")
        << request<double, int>(11, "runner.square", 12)
        << "task 'runner.square' returns int but the caller expects double";
    RunTask truncated = request<int, int>(11, "runner.square", 12);
    truncated.arguments = truncated.arguments.flattened().chopped(1);
    QTest::newRow("arguments cut short")
        << truncated << "the arguments of task 'runner.square' do not decode as (int)";
    RunTask trailing = request<int, int>(11, "runner.square", 12);
    trailing.arguments = trailing.arguments.flattened() + '\0';
    QTest::newRow("bytes after the arguments")
        << trailing << "the arguments of task 'runner.square' do not decode as (int)";
}

void TestTaskRunner::badArgumentsFail()
{
    QFETCH(RunTask, task);
    QFETCH(QString, message);
    Recorder r;
    QVERIFY(r.execute(task));
    TaskFailed failed;
    QVERIFY(r.startedThenEnded(11, &failed));
    QCOMPARE(failed.taskId, quint64(11));
    QCOMPARE(Kind(failed.kind), Kind::BadArguments);
    QCOMPARE(failed.message, message);
    QCOMPARE(failed.remoteType, QString());
}

void TestTaskRunner::progressPrecedesResults()
{
    Recorder r;
    // The I/O thread's poll, once the task has set its progress.
    bool flushedWhileRunning = false;
    std::thread io([&] {
        progressSet.acquire();
        flushedWhileRunning = r.runner.flush();
        flushed.release();
    });
    const bool ran = r.execute(request<int, int>(12, "runner.progress", 3));
    io.join();
    QVERIFY(ran);
    QVERIFY(flushedWhileRunning);
    QVERIFY(!r.runner.flush()); // nothing runs any more

    QCOMPARE(r.delivered.size(), size_t(2));
    QVERIFY(isStarted(r.delivered[0], 12));
    TaskProgress progress;
    QVERIFY(decodeMessage(r.delivered[1], &progress));
    QCOMPARE(progress.taskId, quint64(12));
    QCOMPARE(progress.minimum, 0);
    QCOMPARE(progress.maximum, 3);
    QCOMPARE(progress.value, 1);
    QCOMPARE(progress.text, QStringLiteral("started"));

    // Then the result, the last progress and the end, in one batch.
    QCOMPARE(r.end.size(), size_t(3));
    TaskResults results;
    QVERIFY(decodeMessage(r.end[0], &results));
    QCOMPARE(results.taskId, quint64(12));
    QCOMPARE(results.resultCount, quint32(1));
    QCOMPARE(intsOf(results.results, 1), QList<int>{30});
    QVERIFY(decodeMessage(r.end[1], &progress));
    QCOMPARE(progress.value, 3);
    QCOMPARE(progress.text, QStringLiteral("done"));
    TaskFinished finished;
    QVERIFY(decodeMessage(r.end[2], &finished));
    QCOMPARE(finished.taskId, quint64(12));
    QCOMPARE(finished.resultCount, quint32(0)); // the results went before
}

void TestTaskRunner::cancelBeforeStartReachesThePromise()
{
    Recorder r;
    QVERIFY(!r.runner.cancel(13)); // not selected yet
    r.runner.select(13);
    QVERIFY(!r.runner.cancel(14));
    QVERIFY(r.runner.cancel(13));
    sawCanceled = false;
    QVERIFY(r.execute(request<int>(13, "runner.cancel")));
    QVERIFY(sawCanceled);
    TaskFinished finished;
    QVERIFY(r.startedThenEnded(13, &finished));
    QCOMPARE(finished.resultCount, quint32(0));
    QVERIFY(!r.runner.cancel(13)); // over
}

void TestTaskRunner::canceledChunkStopsBetweenItems()
{
    Recorder r;
    r.runner.select(15);
    QVERIFY(r.runner.cancel(15));
    calls = 0;
    QVERIFY(r.execute(chunk(15, "runner.counted", 1, 2, 3)));
    QCOMPARE(calls, 1); // the first item runs; the cancel is seen after it
    TaskFinished finished;
    QVERIFY(r.startedThenEnded(15, &finished));
    QCOMPARE(finished.resultCount, quint32(0));
    QVERIFY(finished.results.isEmpty());
}

void TestTaskRunner::undeliverableStartRunsNothing()
{
    Recorder r;
    r.deliverable = false; // the pool is gone
    calls = 0;
    QVERIFY(!r.execute(request<int, int>(16, "runner.counted", 1)));
    QCOMPARE(calls, 0);
    QVERIFY(r.end.empty());
}

QTEST_GUILESS_MAIN(TestTaskRunner)
#include "tst_taskrunner.moc"
