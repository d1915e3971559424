// SPDX-License-Identifier: MIT
// The worker side: connects to the pool, proves its secret, and runs tasks on
// the main thread, while an I/O thread keeps reading the socket during long
// tasks (so the pool can still talk to a worker whose task is busy).
//
// Who reads the socket: the main thread, while it is idle or between tasks,
// so a task the pool sends reaches it with no thread hop (one wake-up less per
// round trip); the I/O thread, once a task has run for about LongTaskMs (a
// timerfd it watches), until the main thread is idle again. The reading
// role moves under m_stateMutex: to the I/O thread only while the main thread
// runs a task, back only while it is idle. Where timerfd is missing (not
// Linux), the I/O thread reads all the time and hands tasks over by event.
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
#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QMessageAuthenticationCode>
#include <QtCore/QMutex>
#include <QtCore/QSemaphore>
#include <QtCore/QSocketNotifier>
#include <QtCore/QThread>
#include <QtCore/QTimer>

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
#include <sys/un.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <unistd.h>
#ifdef Q_OS_LINUX
#include <sys/timerfd.h>
#endif

namespace QtProcessPool {

namespace {

constexpr int PollMs = 20; // how often a running QPromise task's results and progress are sent
constexpr int SuspendPollMs = 5; // a suspended mapped() chunk checks for resume this often
constexpr int TasksPerTurn = 64; // tasks run back to back before the main thread's events
constexpr int LongTaskMs = 2; // a task running this long hands reading to the I/O thread
constexpr qsizetype ReadChunk = 64 * 1024;
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

/// The pool's server, as QLocalServer names it (a path, or a name in the
/// temporary directory): a connected, non-blocking socket, or -1.
int connectToPool(const QString &serverName)
{
    const QString path = QDir::isAbsolutePath(serverName)
                             ? serverName
                             : QDir::tempPath() + QLatin1Char('/') + serverName;
    const QByteArray encoded = QFile::encodeName(path);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (encoded.isEmpty() || size_t(encoded.size()) >= sizeof address.sun_path)
        return -1;
    std::memcpy(address.sun_path, encoded.constData(), size_t(encoded.size()));
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int result;
    do {
        result = ::connect(fd, reinterpret_cast<const sockaddr *>(&address), sizeof address);
    } while (result != 0 && errno == EINTR);
    if (result != 0 || ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

/// Owns the socket; lives in the I/O thread (see the top of the file for which
/// thread reads it when).
class Connection : public QObject
{
public:
    enum class Reader { Io, Main };

    Connection(QString serverName, quint32 slotId, QByteArray secret, int bodiesFd)
        : m_serverName(std::move(serverName))
        , m_slotId(slotId)
        , m_secret(std::move(secret))
    {
        m_bodies.reset(bodiesFd);
    }

    // Main thread, once the I/O thread has finished.
    ~Connection() override
    {
        delete m_mainNotifier;
        if (m_timerFd >= 0)
            ::close(m_timerFd);
        if (m_socketFd >= 0)
            ::close(m_socketFd);
    }

    // I/O thread.
    void start()
    {
        m_pollTimer = new QTimer(this);
        m_pollTimer->setInterval(PollMs);
        connect(m_pollTimer, &QTimer::timeout, this, &Connection::flushPromise);
        // Stopped in its thread, which ends before we are deleted.
        connect(QThread::currentThread(), &QThread::finished, m_pollTimer, &QTimer::stop,
                Qt::DirectConnection);
        m_socketFd = connectToPool(m_serverName);
        if (m_socketFd < 0) {
            onGone();
            return;
        }
        m_ioNotifier = new QSocketNotifier(m_socketFd, QSocketNotifier::Read, this);
        connect(m_ioNotifier, &QSocketNotifier::activated, this,
                [this] { readAvailable(Reader::Io); });
#ifdef Q_OS_LINUX
        m_timerFd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (m_timerFd >= 0) {
            auto *timer = new QSocketNotifier(m_timerFd, QSocketNotifier::Read, this);
            connect(timer, &QSocketNotifier::activated, this, &Connection::onLongTurn);
        }
#endif
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

    bool holdsReading(Reader who)
    {
        QMutexLocker lock(&m_stateMutex);
        return m_readerRole == who && !m_gone;
    }

    // The thread holding the reading role: reads what the socket has and
    // handles the frames in it.
    void readAvailable(Reader who)
    {
        if (!holdsReading(who))
            return;
        bool closed = false;
        for (;;) {
            const qsizetype had = m_inBytes.size();
            m_inBytes.resize(had + ReadChunk);
            const ssize_t n = ::read(m_socketFd, m_inBytes.data() + had, size_t(ReadChunk));
            m_inBytes.resize(had + std::max<qsizetype>(n, 0));
            if (n == ReadChunk)
                continue;
            if (n > 0)
                break; // drained, most likely; the notifier tells of more
            if (n < 0 && errno == EINTR)
                continue;
            closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
            break;
        }
        qsizetype offset = 0;
        Frame frame;
        for (;;) {
            const FrameReader::Status status = m_reader.read(m_inBytes, &offset, &frame);
            if (status == FrameReader::Status::NeedMore)
                break;
            QString why;
            if (status == FrameReader::Status::Ready && frame.type == SharedBodyFrameType &&
                !m_bodies.resolve(&frame, m_reader.maxBodySize(), &why)) {
                qCWarning(lcWorker) << "protocol error from the pool:" << why;
                onGone();
                return;
            }
            if (status == FrameReader::Status::Error || !handle(frame, who)) {
                qCWarning(lcWorker) << "protocol error from the pool:"
                                    << (status == FrameReader::Status::Error
                                            ? m_reader.errorString()
                                            : QStringLiteral("unexpected message %1").arg(frame.type));
                onGone();
                return;
            }
            if (m_handOverToMain) { // after our hello: the rest is the main thread's
                m_handOverToMain = false;
                m_inBytes.remove(0, offset);
                handOverToMain();
                return;
            }
        }
        m_inBytes.remove(0, offset);
        if (closed)
            onGone();
    }

    // I/O thread: the main thread reads from now on (it is idle).
    void handOverToMain()
    {
        {
            QMutexLocker lock(&m_stateMutex);
            if (m_gone)
                return;
            m_readerRole = Reader::Main;
        }
        m_ioNotifier->setEnabled(false);
        QMetaObject::invokeMethod(
            QCoreApplication::instance(), [this] { mainRead(); }, Qt::QueuedConnection);
    }

    // Main thread: the socket is readable, or the reading role just came back.
    void mainRead()
    {
        readAvailable(Reader::Main);
        {
            QMutexLocker lock(&m_stateMutex);
            if (m_busy || m_runScheduled)
                return; // a turn of tasks is on its way (or runs an event loop)
            if (m_pending.empty() || m_gone) {
                lock.unlock();
                goIdle();
                return;
            }
        }
        runPending(true);
    }

    // Main thread, done with its tasks: waits on the socket itself, or asks the
    // I/O thread for the reading role back.
    void goIdle()
    {
        QMutexLocker lock(&m_stateMutex);
        disarmLongTurnTimer();
        if (m_gone)
            return;
        if (m_readerRole == Reader::Main) {
            lock.unlock();
            if (!m_mainNotifier) {
                m_mainNotifier = new QSocketNotifier(m_socketFd, QSocketNotifier::Read);
                QObject::connect(m_mainNotifier, &QSocketNotifier::activated,
                                 QCoreApplication::instance(), [this] { mainRead(); });
            }
            m_mainNotifier->setEnabled(true);
        } else if (m_timerFd >= 0 && !m_giveBackPosted) {
            m_giveBackPosted = true;
            QMetaObject::invokeMethod(this, &Connection::giveBack, Qt::QueuedConnection);
        }
    }

    // I/O thread, asked by the idle main thread: hands reading back unless
    // tasks came meanwhile (their turn asks again when it ends).
    void giveBack()
    {
        {
            QMutexLocker lock(&m_stateMutex);
            m_giveBackPosted = false;
            if (m_readerRole != Reader::Io || m_busy || m_runScheduled || !m_pending.empty() ||
                m_gone) {
                return;
            }
        }
        handOverToMain();
    }

    // I/O thread: a turn of tasks has run for LongTaskMs. If a task is running,
    // read the socket from now on (cancel, suspend, a pool that is gone).
    void onLongTurn()
    {
#ifdef Q_OS_LINUX
        quint64 expirations = 0;
        if (::read(m_timerFd, &expirations, sizeof expirations) != sizeof expirations)
            return; // disarmed meanwhile
        {
            QMutexLocker lock(&m_stateMutex);
            if (m_readerRole != Reader::Main || !m_busy || m_gone)
                return; // between two tasks: the main thread still reads
            m_readerRole = Reader::Io;
            disarmLongTurnTimer();
        }
        m_ioNotifier->setEnabled(true);
        readAvailable(Reader::Io);
#endif
    }

    // m_stateMutex held; main thread, when a task starts while it holds the
    // reading role. Fires every LongTaskMs until a task is running then.
    void armLongTurnTimer()
    {
#ifdef Q_OS_LINUX
        if (m_timerArmed || m_timerFd < 0)
            return;
        m_timerArmed = true;
        itimerspec period{};
        period.it_value.tv_nsec = LongTaskMs * 1000000L;
        period.it_interval = period.it_value;
        ::timerfd_settime(m_timerFd, 0, &period, nullptr);
#endif
    }

    // m_stateMutex held: the main thread is idle, or the I/O thread reads.
    void disarmLongTurnTimer()
    {
#ifdef Q_OS_LINUX
        if (!m_timerArmed)
            return;
        m_timerArmed = false;
        const itimerspec off{};
        ::timerfd_settime(m_timerFd, 0, &off, nullptr);
#endif
    }

    bool handle(const Frame &frame, Reader who)
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
                m_fd = m_socketFd;
                sendLocked(encodeMessage(hello));
            }
            m_authenticated = true;
            m_handOverToMain = m_timerFd >= 0;
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
                if (who == Reader::Main || m_busy || m_runScheduled)
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
    //
    // While it holds the reading role, the main thread reads the socket itself
    // before a turn (unless it just did: justRead) and between tasks while
    // more are pending (what comes once none are, its notifier reports when
    // the turn is over); the notifier rests meanwhile.
    void runPending(bool justRead = false)
    {
        if (m_mainNotifier)
            m_mainNotifier->setEnabled(false);
        OutgoingFrames out;
        bool read = !justRead;
        for (int turn = 0;; ++turn) {
            if (read)
                readAvailable(Reader::Main);
            RunTask task;
            {
                QMutexLocker lock(&m_stateMutex);
                m_runScheduled = false;
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
                    } else {
                        goIdle();
                    }
                    return;
                }
                task = std::move(m_pending.front());
                m_pending.pop_front();
                m_busy = true;
                m_runningId = task.taskId;
                m_cancelRequested = false;
                m_suspendRequested = false;
                if (m_readerRole == Reader::Main)
                    armLongTurnTimer();
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
            // Not busy: the reading role stays where it is while we read.
            m_busy = false;
            read = !m_pending.empty();
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
    int m_socketFd = -1; // set by start(), before any other use
    // The reading role's: used only by the thread that holds it.
    QByteArray m_inBytes; // read, not yet a whole frame
    FrameReader m_reader{AbsoluteMaxMessageSize};
    SharedBodyChannel m_bodies; // sends under m_writeMutex, receives by the reader
    bool m_authenticated = false;
    bool m_handOverToMain = false;
    QSemaphore m_warm;               // released once warmUp() is done
    // I/O thread only.
    QTimer *m_pollTimer = nullptr;
    QSocketNotifier *m_ioNotifier = nullptr;
    int m_timerFd = -1; // LongTaskMs timer (Linux), or -1: the I/O thread always reads
    // Main thread only.
    QSocketNotifier *m_mainNotifier = nullptr;

    QMutex m_writeMutex; // taken before m_stateMutex when both are needed
    int m_fd = -1;       // the socket, for writing; -1 once the pool is gone

    QMutex m_stateMutex; // guards what follows, except the atomics
    Reader m_readerRole = Reader::Io;
    bool m_giveBackPosted = false;
    bool m_timerArmed = false; // the LongTaskMs timer
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

/// Payloads are read into fresh buffers, which glibc maps anew for each one
/// and gives back when freed (above M_MMAP_THRESHOLD, or when the free space
/// at the top of the heap passes M_TRIM_THRESHOLD): every page of every large
/// argument is then faulted in again, which costs more than copying it (a
/// 1 MiB echo ran at 140 MB/s instead of 440 in the benchmark). A worker
/// starts at the thresholds glibc's own dynamic adjustment ends at after its
/// first large free (32 MiB and twice that), so buffers up to 32 MiB are
/// reused from message to message. Only in worker processes.
void keepLargeBuffersWarm()
{
#ifdef __GLIBC__
    constexpr int MmapThreshold = 32 * 1024 * 1024;
    mallopt(M_MMAP_THRESHOLD, MmapThreshold);
    mallopt(M_TRIM_THRESHOLD, 2 * MmapThreshold);
#endif
}

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

    keepLargeBuffersWarm();
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
