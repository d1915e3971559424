// SPDX-License-Identifier: MIT
// The worker side: connects to the pool, proves its secret, and runs tasks on
// the main thread while an I/O thread reads the socket (so the pool can still
// talk to a worker whose task is busy).
//
// Both threads write whole frames straight to the socket under one mutex: the
// main thread reports a task's end and the next task's start itself, so tasks
// sent ahead run back to back with no thread hop in between.
#include "logging_p.h"
#include "protocol/messages.h"
#include "protocol/sharedbody.h"
#include "protocol/socketio.h"

#include <QtProcessPool/registry.h>
#include <QtProcessPool/taskerror.h>
#include <QtProcessPool/worker.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QMessageAuthenticationCode>
#include <QtCore/QMutex>
#include <QtCore/QPointer>
#include <QtCore/QSemaphore>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtNetwork/QLocalSocket>

#include <algorithm>
#include <atomic>
#include <deque>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#if defined(__GNUC__) || defined(__clang__)
#include <cxxabi.h>
#define QPP_HAVE_CXXABI 1
#endif

#include <cerrno>
#include <poll.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace QtProcessPool {

namespace {

constexpr char WorkerFlag[] = "--qtprocesspool-worker";
constexpr int PollMs = 20; // how often a running QPromise task's results and progress are sent
constexpr int SuspendPollMs = 5; // a suspended mapped() chunk checks for resume this often
constexpr int TasksPerTurn = 64; // tasks run back to back before the main thread's events
constexpr char WarmUpTaskName[] = "qtprocesspool.warmup"; // see Connection::warmUp()

int warmUpTask(int value)
{
    return value + 1;
}

using namespace protocol;

QString demangle(const char *mangled)
{
#ifdef QPP_HAVE_CXXABI
    int status = 0;
    char *name = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
    if (status == 0 && name) {
        QString result = QString::fromUtf8(name);
        std::free(name);
        return result;
    }
#endif
    return QString::fromUtf8(mangled);
}

/// Name of the exception being handled, for catch (...).
QString currentExceptionType()
{
#ifdef QPP_HAVE_CXXABI
    if (const std::type_info *type = abi::__cxa_current_exception_type())
        return demangle(type->name());
#endif
    return QStringLiteral("unknown");
}

/// Owns the socket; lives in the I/O thread.
class Connection : public QObject
{
public:
    Connection(QString serverName, quint32 slotId, QByteArray secret, int bodiesFd)
        : m_serverName(std::move(serverName))
        , m_slotId(slotId)
        , m_secret(std::move(secret))
    {
        m_bodies.reset(bodiesFd);
    }

    // I/O thread.
    void start()
    {
        m_pollTimer = new QTimer(this);
        m_pollTimer->setInterval(PollMs);
        connect(m_pollTimer, &QTimer::timeout, this, &Connection::flushPromise);
        m_socket = new QLocalSocket(this);
        connect(m_socket, &QLocalSocket::readyRead, this, &Connection::onReadyRead);
        connect(m_socket, &QLocalSocket::disconnected, this, &Connection::onGone);
        connect(m_socket, &QLocalSocket::errorOccurred, this, [this](QLocalSocket::LocalSocketError) {
            if (m_socket->state() != QLocalSocket::ConnectedState)
                onGone();
        });
        m_socket->connectToServer(m_serverName);
    }

private:
    // Any thread. Writes frames straight to the socket: frames of the two
    // threads never interleave, and a frame has reached the kernel when this
    // returns. False when the pool is gone.
    bool send(const QByteArray &frames)
    {
        QMutexLocker lock(&m_writeMutex);
        return sendLocked(frames);
    }
    bool send(const OutgoingFrames &frames)
    {
        QMutexLocker lock(&m_writeMutex);
        return sendWire(m_bodies.wire(frames));
    }
    bool sendLocked(const QByteArray &frames) { return sendWire(m_bodies.divert(frames)); }
    // m_writeMutex held. Large bodies have gone through shared memory by now;
    // the side channel is written under the same lock, so its order is that
    // of the reference frames.
    bool sendWire(const QByteArray &wire)
    {
        if (m_fd < 0)
            return wire.isEmpty();
        const char *data = wire.constData();
        qsizetype left = wire.size();
        while (left > 0 && m_fd >= 0) {
            const qsizetype written = sendAvailable(m_fd, data, left);
            if (written < 0) {
                m_fd = -1; // the pool is gone; the I/O thread sees the socket close
                break;
            }
            data += written;
            left -= written;
            if (left > 0) {
                pollfd ready{m_fd, POLLOUT, 0}; // the pool reads all the time, or is gone
                ::poll(&ready, 1, -1);
            }
        }
        return left == 0;
    }

    void onReadyRead()
    {
        Frame frame;
        for (;;) {
            const FrameReader::Status status = m_reader.read(*m_socket, &frame);
            if (status == FrameReader::Status::NeedMore)
                return;
            QString why;
            if (status == FrameReader::Status::Ready && frame.type == SharedBodyFrameType &&
                !m_bodies.resolve(&frame, m_reader.maxBodySize(), &why)) {
                qCWarning(lcWorker) << "protocol error from the pool:" << why;
                onGone();
                return;
            }
            if (status == FrameReader::Status::Error || !handle(frame)) {
                qCWarning(lcWorker) << "protocol error from the pool:"
                                    << (status == FrameReader::Status::Error
                                            ? m_reader.errorString()
                                            : QStringLiteral("unexpected message %1").arg(frame.type));
                onGone();
                return;
            }
        }
    }

    bool handle(const Frame &frame)
    {
        if (!m_authenticated) {
            Challenge challenge;
            if (!decodeMessage(frame, &challenge))
                return false;
            Hello hello;
            hello.slotId = m_slotId;
            hello.pid = QCoreApplication::applicationPid();
            hello.proof = QMessageAuthenticationCode::hash(challenge.nonce, m_secret,
                                                           QCryptographicHash::Sha256);
            // Ready means warm: the pool may send a task the moment it has this.
            m_warm.acquire();
            m_warm.release();
            {
                QMutexLocker lock(&m_writeMutex);
                m_fd = int(m_socket->socketDescriptor());
                sendLocked(encodeMessage(hello));
            }
            m_authenticated = true;
            return true;
        }
        switch (MessageType(frame.type)) {
        case MessageType::RunTask: {
            RunTask task;
            if (!decodeBody(frame.body, &task))
                return false;
            {
                QMutexLocker lock(&m_stateMutex);
                m_pending.push_back(std::move(task));
                if (m_busy || m_runScheduled)
                    return true; // the main thread takes it when done
                m_runScheduled = true;
            }
            QMetaObject::invokeMethod(
                QCoreApplication::instance(), [this] { runPending(); }, Qt::QueuedConnection);
            return true;
        }
        case MessageType::CancelTask: {
            CancelTask cancel;
            if (!decodeBody(frame.body, &cancel))
                return false;
            onCancel(cancel.taskId);
            return true;
        }
        case MessageType::RevokeTask: {
            RevokeTask revoke;
            if (!decodeBody(frame.body, &revoke))
                return false;
            dropPending(revoke.taskId);
            return true;
        }
        case MessageType::SuspendTask: {
            SuspendTask suspend;
            if (!decodeBody(frame.body, &suspend))
                return false;
            QMutexLocker lock(&m_stateMutex);
            if (m_busy && suspend.taskId == m_runningId) {
                m_suspendRequested = suspend.suspended != 0;
                if (m_promise)
                    m_promise->setSuspended(m_suspendRequested);
            }
            return true;
        }
        case MessageType::Shutdown:
            onGone();
            return true;
        default:
            return false;
        }
    }

    // I/O thread.
    void onCancel(quint64 taskId)
    {
        {
            QMutexLocker lock(&m_stateMutex);
            if (m_busy && taskId == m_runningId) {
                m_cancelRequested = true; // QPromise tasks see isCanceled(); others run on
                if (m_promise)
                    m_promise->cancel();
                return;
            }
        }
        dropPending(taskId);
    }

    // I/O thread: gives back a task that has not started (an empty TaskFinished).
    void dropPending(quint64 taskId)
    {
        {
            QMutexLocker lock(&m_stateMutex);
            const auto it = std::find_if(m_pending.begin(), m_pending.end(),
                                         [taskId](const RunTask &t) { return t.taskId == taskId; });
            if (it == m_pending.end())
                return;
            m_pending.erase(it);
        }
        send(encodeMessage(TaskFinished{taskId, 0, {}}));
    }

    // m_stateMutex held. What the running QPromise task produced since the
    // last call, as frames.
    QByteArray takePromiseUpdates()
    {
        QByteArray frames;
        if (!m_promise)
            return frames;
        const int count = m_promise->resultCount();
        if (count > m_resultsSent) {
            appendFrame(frames, quint16(MessageType::TaskResults),
                        encodeBody(TaskResults{m_runningId, quint32(count - m_resultsSent),
                                               m_promise->serializeResults(m_resultsSent, count)}));
            m_resultsSent = count;
        }
        TaskProgress progress{m_runningId, 0, 0, 0, {}};
        m_promise->progress(&progress.minimum, &progress.maximum, &progress.value, &progress.text);
        if (progress.minimum != m_progress.minimum || progress.maximum != m_progress.maximum ||
            progress.value != m_progress.value || progress.text != m_progress.text) {
            m_progress = progress;
            appendFrame(frames, quint16(MessageType::TaskProgress), encodeBody(progress));
        }
        return frames;
    }

    // I/O thread, every PollMs while a QPromise task runs: a chatty task costs
    // at most one batch of results and one progress message per period.
    void flushPromise()
    {
        // The write lock first: these frames go out before the task's end,
        // which the main thread can only compute after taking it.
        QMutexLocker writeLock(&m_writeMutex);
        QByteArray frames;
        {
            QMutexLocker lock(&m_stateMutex);
            if (!m_promise) {
                m_pollTimer->stop();
                return;
            }
            frames = takePromiseUpdates();
        }
        sendLocked(frames);
    }

    // Main thread, from inside execute(), before a QPromise task runs.
    void promiseStarted(quint64 taskId, std::shared_ptr<detail::RunningPromise> promise)
    {
        {
            QMutexLocker lock(&m_stateMutex);
            if (!m_busy || taskId != m_runningId)
                return;
            m_promise = std::move(promise);
            m_resultsSent = 0;
            m_progress = TaskProgress{};
            if (m_cancelRequested)
                m_promise->cancel();
            if (m_suspendRequested)
                m_promise->setSuspended(true);
        }
        QMetaObject::invokeMethod(this, [this] { m_pollTimer->start(); }, Qt::QueuedConnection);
    }

    // Main thread. Runs the received tasks one after the other. Each task's
    // TaskStarted reaches the kernel before it runs, so if it kills the process
    // the pool still learns it had started (and fails it instead of re-running
    // it); a task's end goes out together with the next one's start.
    void runPending()
    {
        OutgoingFrames out;
        for (int turn = 0;; ++turn) {
            RunTask task;
            {
                QMutexLocker lock(&m_stateMutex);
                m_runScheduled = false;
                m_busy = false;
                if (m_pending.empty() || m_gone || turn == TasksPerTurn) {
                    // After TasksPerTurn tasks, let the main thread's events run.
                    const bool more = !m_pending.empty() && !m_gone;
                    m_runScheduled = more;
                    lock.unlock();
                    send(out);
                    if (more) {
                        QMetaObject::invokeMethod(
                            QCoreApplication::instance(), [this] { runPending(); },
                            Qt::QueuedConnection);
                    }
                    return;
                }
                task = std::move(m_pending.front());
                m_pending.pop_front();
                m_busy = true;
                m_runningId = task.taskId;
                m_cancelRequested = false;
                m_suspendRequested = false;
            }
            out.append(encodeMessage(TaskStarted{task.taskId}));
            if (!send(out))
                return; // the pool is gone: the I/O thread ends the process
            OutgoingFrames reply = execute(task);
            // The last results and progress of a QPromise task precede its end.
            QMutexLocker writeLock(&m_writeMutex);
            QMutexLocker lock(&m_stateMutex);
            out.clear();
            out.append(takePromiseUpdates());
            m_promise.reset();
            out.append(std::move(reply));
        }
    }

public:
    // Main thread, at start, while the I/O thread connects (the hello waits
    // for it): a task of our own through decoding, the registry, the call and
    // the encoding of its end. In a fresh process each page of code touched
    // costs a page fault (tens of microseconds in some virtual machines),
    // which the first task would otherwise pay in full. Nothing is sent.
    void warmUp()
    {
        warmUpPaths();
        m_warm.release();
    }

private:
    void warmUpPaths()
    {
        RunTask task{0, QString::fromLatin1(WarmUpTaskName), {QStringLiteral("int")},
                     QStringLiteral("int"), 0,
                     detail::serializeArguments(static_cast<std::tuple<int> *>(nullptr), 1)};
        RunTask decoded;
        if (decodeBody(encodeBody(task), &decoded)) {
            OutgoingFrames out;
            out.append(encodeMessage(TaskStarted{decoded.taskId}));
            out.append(execute(decoded));
            out.toByteArray();
        }
    }

    OutgoingFrames execute(const RunTask &task)
    {
        const auto frames = [](const QByteArray &bytes) {
            OutgoingFrames out;
            out.append(bytes);
            return out;
        };
        const auto failed = [&](TaskError::Kind kind, const QString &message,
                                const QString &type = {}) {
            return frames(encodeMessage(TaskFailed{task.taskId, quint8(kind), message, type}));
        };
        const detail::TaskEntry *entry = detail::findTask(task.name);
        if (!entry) {
            return failed(TaskError::Kind::UnknownTask,
                          QStringLiteral("no task is registered under the name '%1' in %2")
                              .arg(task.name, QCoreApplication::applicationFilePath()));
        }
        const QString mismatch = detail::signatureMismatch(*entry, task.argTypes, task.resultType);
        if (!mismatch.isEmpty())
            return failed(TaskError::Kind::BadArguments, mismatch);

        QDataStream in(task.arguments);
        in.setVersion(detail::StreamVersion);
        detail::TaskOutput output;
        const quint32 calls = std::max<quint32>(task.itemCount, 1);
        output.promiseStarted = [this, id = task.taskId](std::shared_ptr<detail::RunningPromise> p) {
            promiseStarted(id, std::move(p));
        };
        const auto badArguments = [&] {
            return failed(TaskError::Kind::BadArguments,
                          QStringLiteral("the arguments of task '%1' do not decode as (%2)")
                              .arg(task.name, entry->argTypes.join(QStringLiteral(", "))));
        };
        try {
            for (quint32 call = 0; call < calls; ++call) {
                // A chunk of mapped() stops between items when canceled, and
                // waits there while suspended.
                while (call > 0 && m_suspendRequested && !m_cancelRequested)
                    QThread::msleep(SuspendPollMs);
                if (call > 0 && m_cancelRequested)
                    return frames(encodeMessage(TaskFinished{task.taskId, 0, {}}));
                if (!entry->invoke(in, output))
                    return badArguments();
            }
            if (!in.atEnd())
                return badArguments();
        } catch (const std::exception &e) {
            return failed(TaskError::Kind::Exception, QString::fromUtf8(e.what()),
                          demangle(typeid(e).name()));
        } catch (const char *text) {
            return failed(TaskError::Kind::Exception, QString::fromUtf8(text),
                          QStringLiteral("const char*"));
        } catch (const std::string &text) {
            return failed(TaskError::Kind::Exception, QString::fromStdString(text),
                          QStringLiteral("std::string"));
        } catch (const QString &text) {
            return failed(TaskError::Kind::Exception, text, QStringLiteral("QString"));
        } catch (...) {
            const QString type = currentExceptionType();
            return failed(TaskError::Kind::Exception,
                          QStringLiteral("the task threw an exception of type %1").arg(type), type);
        }
        output.stream.reset(); // results complete
        if (output.results.size() > AbsoluteMaxMessageSize - 64) {
            return failed(TaskError::Kind::ProtocolError,
                          QStringLiteral("the result of task '%1' is %2 bytes, too large for one "
                                         "message")
                              .arg(task.name)
                              .arg(output.results.size()));
        }
        OutgoingFrames finished;
        appendMessage(finished, TaskFinished{task.taskId, quint32(output.resultCount),
                                             std::move(output.results)});
        return finished;
    }

    // I/O thread: the pool is gone (or broke the protocol). A busy task cannot
    // be interrupted, so leave at once rather than compute for nobody.
    void onGone()
    {
        bool busy = false;
        {
            QMutexLocker lock(&m_stateMutex);
            if (m_gone)
                return;
            m_gone = true;
            busy = m_busy;
        }
        if (busy)
            ::_exit(m_authenticated ? 0 : 2);
        {
            QMutexLocker lock(&m_writeMutex);
            m_fd = -1;
        }
        const int code = m_authenticated ? 0 : 2;
        QMetaObject::invokeMethod(
            QCoreApplication::instance(), [code] { QCoreApplication::exit(code); },
            Qt::QueuedConnection);
    }

    const QString m_serverName;
    const quint32 m_slotId;
    const QByteArray m_secret;
    QLocalSocket *m_socket = nullptr;
    FrameReader m_reader{AbsoluteMaxMessageSize};
    SharedBodyChannel m_bodies; // sends under m_writeMutex, receives on the I/O thread
    bool m_authenticated = false;    // I/O thread only
    QSemaphore m_warm;               // released once warmUp() is done
    QTimer *m_pollTimer = nullptr;   // I/O thread only

    QMutex m_writeMutex; // taken before m_stateMutex when both are needed
    int m_fd = -1;       // the socket, for writing; -1 once the pool is gone

    QMutex m_stateMutex; // guards what follows, except the atomics
    bool m_gone = false;
    std::deque<RunTask> m_pending; // received, not yet started
    bool m_busy = false;           // the main thread runs a task
    bool m_runScheduled = false;   // runPending() is queued on the main thread
    quint64 m_runningId = 0;       // valid while busy
    std::atomic<bool> m_cancelRequested{false}; // read by the main thread between mapped items
    std::atomic<bool> m_suspendRequested{false};
    std::shared_ptr<detail::RunningPromise> m_promise; // of the running QPromise task
    int m_resultsSent = 0;
    TaskProgress m_progress; // last progress sent
};

/// Reads "<slot> <secret in hex>[ <side channel fd>]\n" from stdin, written
/// there by the pool. *bodiesFd is -1 without a usable side channel.
bool readCredentials(quint32 *slotId, QByteArray *secret, int *bodiesFd)
{
    std::string line;
    char c;
    while (line.size() < 1024 && ::read(STDIN_FILENO, &c, 1) == 1 && c != '\n')
        line.push_back(c);
    const QList<QByteArray> parts = QByteArray::fromStdString(line).split(' ');
    if (parts.size() != 2 && parts.size() != 3)
        return false;
    bool ok = false;
    *slotId = parts[0].toUInt(&ok);
    *secret = QByteArray::fromHex(parts[1]);
    *bodiesFd = -1;
    if (parts.size() == 3) {
        bool fdOk = false;
        const int fd = parts[2].toInt(&fdOk);
        struct stat info{};
        if (fdOk && fd > STDERR_FILENO && ::fstat(fd, &info) == 0 && S_ISSOCK(info.st_mode)) {
            ::fcntl(fd, F_SETFD, FD_CLOEXEC); // not for processes the tasks start
            *bodiesFd = fd;
        }
    }
    return ok && !secret->isEmpty();
}

} // namespace

QPP_REGISTER_TASK_AS(WarmUpTaskName, &warmUpTask)

bool isWorkerProcess(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::strcmp(argv[i], WorkerFlag) == 0)
            return true;
    }
    return false;
}

int execWorker(int argc, char **argv)
{
    QString serverName;
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::strcmp(argv[i], WorkerFlag) == 0)
            serverName = QString::fromLocal8Bit(argv[i + 1]);
    }
    quint32 slotId = 0;
    QByteArray secret;
    int bodiesFd = -1;
    if (serverName.isEmpty() || !readCredentials(&slotId, &secret, &bodiesFd)) {
        std::fprintf(stderr, "QtProcessPool: this program was started as a worker without a "
                             "pool to serve; exiting\n");
        return 2;
    }

    std::unique_ptr<QCoreApplication> ownApp;
    if (!QCoreApplication::instance())
        ownApp = std::make_unique<QCoreApplication>(argc, argv);

    QThread ioThread;
    ioThread.setObjectName(QStringLiteral("QtProcessPool worker I/O"));
    auto *connection = new Connection(serverName, slotId, secret, bodiesFd);
    connection->moveToThread(&ioThread);
    ioThread.start();
    QMetaObject::invokeMethod(connection, [connection] { connection->start(); },
                              Qt::QueuedConnection);
    // As an event, so the path a task takes into the main thread warms up too.
    QMetaObject::invokeMethod(
        QCoreApplication::instance(), [connection] { connection->warmUp(); },
        Qt::QueuedConnection);

    const int code = QCoreApplication::exec();
    ioThread.quit();
    ioThread.wait();
    delete connection; // its thread has finished: safe to delete from here
    return code;
}

} // namespace QtProcessPool
