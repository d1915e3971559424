// SPDX-License-Identifier: MIT
// PoolConnection: the worker's socket to the pool, its handshake, the messages
// it reads, and the hand-over of reading between the I/O thread and the main
// thread (see poolconnection.h for who reads when). The I/O thread connects
// and reads during long tasks; the main thread reads while idle and runs tasks.
// Where the socket is not a POSIX descriptor (QPP_HAVE_RAW_SOCKETS off: other
// systems, the portable build), it is a QLocalSocket of the I/O thread, which
// alone reads and writes it; a remote worker's is a QSslSocket, handled the
// same way (the "device" path; m_raw false: poolconnection_device.cpp).
#include "worker/poolconnection.h"

#include "logging_p.h"
#include "platformfeatures_p.h"
#include "protocol/socketio.h"
#include "steadyclock_p.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QMessageAuthenticationCode>
#include <QtCore/QSocketNotifier>
#include <QtCore/QSysInfo>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtNetwork/QLocalSocket>
#include <QtNetwork/QSslSocket>

#include "remote/tlsidentity.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#ifdef QPP_HAVE_RAW_SOCKETS
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#endif
#ifdef QPP_HAVE_LINUX_FEATURES
#include <sys/timerfd.h>
#endif

namespace QtProcessPool {

namespace {

using namespace protocol;

constexpr int PollMs = 20; // how often a running QPromise task's results and progress are sent
constexpr int TasksPerTurn = 64; // tasks run back to back before the main thread's events
constexpr int LongTaskMs = 2;    // a task running this long hands reading to the I/O thread

constexpr qsizetype ReadChunk = 64 * 1024;

#ifdef QPP_HAVE_RAW_SOCKETS
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
#ifdef SOCK_CLOEXEC
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
#else
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd >= 0)
        ::fcntl(fd, F_SETFD, FD_CLOEXEC); // not for processes the tasks start
#endif
    if (fd < 0)
        return -1;
    noSigpipe(fd);
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
#endif

/// Decodes the frame's body as Message and acts on it: false if it does not decode.
template <typename Message, typename Act>
bool decodeThen(const Frame &frame, Act act)
{
    Message message;
    if (!decodeBody(frame.body, &message))
        return false;
    act(message);
    return true;
}

} // namespace

PoolConnection::PoolConnection(QString serverName, quint32 slotId, QByteArray secret, int bodiesFd,
                               QByteArray fingerprint)
    : m_serverName(std::move(serverName))
    , m_slotId(slotId)
    , m_secret(std::move(secret))
    , m_fingerprint(std::move(fingerprint))
    , m_runner([this](const OutgoingFrames &frames) { return send(frames); },
               // The runner's thread is the main one; the timer lives here.
               [this] {
                   QMetaObject::invokeMethod(
                       this, [this] { m_pollTimer->start(); }, Qt::QueuedConnection);
               })
{
    m_bodies.reset(bodiesFd);
#ifdef QPP_HAVE_RAW_SOCKETS
    m_raw = m_fingerprint.isEmpty();
#endif
}

// Main thread, once the I/O thread has finished.
PoolConnection::~PoolConnection()
{
    delete m_mainNotifier;
#ifdef QPP_HAVE_RAW_SOCKETS
    if (m_timerFd >= 0)
        ::close(m_timerFd);
    if (m_socketFd >= 0)
        ::close(m_socketFd);
#endif
}

void PoolConnection::start()
{
    m_pollTimer = new QTimer(this);
    m_pollTimer->setInterval(PollMs);
    // A chatty task costs at most one batch of results and one progress
    // message per period.
    connect(m_pollTimer, &QTimer::timeout, this, [this] {
        if (!m_runner.flush())
            m_pollTimer->stop();
    });
    // Stopped in its thread, which ends before we are deleted.
    connect(QThread::currentThread(), &QThread::finished, m_pollTimer, &QTimer::stop,
            Qt::DirectConnection);
    if (!m_fingerprint.isEmpty()) {
        startTls();
        return;
    }
#ifdef QPP_HAVE_RAW_SOCKETS
    m_socketFd = connectToPool(m_serverName);
    if (m_socketFd < 0) {
        onGone();
        return;
    }
    m_ioNotifier = new QSocketNotifier(m_socketFd, QSocketNotifier::Read, this);
    connect(m_ioNotifier, &QSocketNotifier::activated, this, [this] { readAvailable(Reader::Io); });
#else
    auto *socket = new QLocalSocket(this);
    adoptDevice(socket);
    socket->connectToServer(m_serverName);
    if (!socket->waitForConnected(ConnectTimeoutMs)) {
        onGone();
        return;
    }
    connect(socket, &QLocalSocket::disconnected, this, &PoolConnection::onSocketReadable);
#endif
#ifdef QPP_HAVE_LINUX_FEATURES
    m_timerFd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (m_timerFd >= 0) {
        auto *timer = new QSocketNotifier(m_timerFd, QSocketNotifier::Read, this);
        connect(timer, &QSocketNotifier::activated, this, &PoolConnection::onLongTurn);
    }
#endif
}

bool PoolConnection::send(const QByteArray &frames)
{
#ifdef QPP_HAVE_RAW_SOCKETS
    if (m_raw) {
        QMutexLocker lock(&m_writeMutex);
        return sendWire(m_bodies.divert(frames));
    }
#endif
    return sendThroughIoThread(frames);
}

bool PoolConnection::send(const OutgoingFrames &frames)
{
#ifdef QPP_HAVE_RAW_SOCKETS
    if (m_raw) {
        QMutexLocker lock(&m_writeMutex);
        return sendWire(m_bodies.wire(frames));
    }
#endif
    return sendThroughIoThread(frames.toByteArray());
}

#ifdef QPP_HAVE_RAW_SOCKETS

// m_writeMutex held. Large bodies have gone through shared memory by now;
// the side channel is written under the same lock, so its order is that
// of the reference frames.
bool PoolConnection::sendWire(const QByteArray &wire)
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

#endif // QPP_HAVE_RAW_SOCKETS

// I/O thread: the socket has bytes for us, or closed.
void PoolConnection::onSocketReadable()
{
    if (!m_socket)
        return; // being deleted as the thread ends
    if (!m_fingerprint.isEmpty() && !m_encrypted)
        return; // nothing is read before the pool's certificate is checked
    if (m_writing > 0) {
        m_readDeferred = true; // inside a write: read once it is done
        return;
    }
    readAvailable(Reader::Io);
}

// I/O thread: reads what a write left in the socket's buffer, from the event loop.
void PoolConnection::scheduleRead()
{
    if (std::exchange(m_readQueued, true))
        return;
    QMetaObject::invokeMethod(
        this,
        [this] {
            m_readQueued = false;
            onSocketReadable();
        },
        Qt::QueuedConnection);
}

bool PoolConnection::holdsReading(Reader who)
{
    QMutexLocker lock(&m_stateMutex);
    return m_readerRole == who && !m_gone;
}

bool PoolConnection::readSocket()
{
    if (!m_raw) {
        const QByteArray bytes = m_socket->readAll();
        if (!bytes.isEmpty())
            m_lastHeard.restart();
        m_inBytes += bytes;
        return !deviceConnected();
    }
#ifdef QPP_HAVE_RAW_SOCKETS
    for (;;) {
        const qsizetype had = m_inBytes.size();
        m_inBytes.resize(had + ReadChunk);
        const ssize_t n = ::read(m_socketFd, m_inBytes.data() + had, size_t(ReadChunk));
        m_inBytes.resize(had + std::max<qsizetype>(n, 0));
        if (n == ReadChunk)
            continue;
        if (n > 0)
            return false; // drained, most likely; the notifier tells of more
        if (n < 0 && errno == EINTR)
            continue;
        return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
    }
#else
    return true;
#endif
}

// The thread holding the reading role: reads what the socket has and
// handles the frames in it.
void PoolConnection::readAvailable(Reader who)
{
    if (!holdsReading(who))
        return;
    const bool closed = readSocket();
    qsizetype offset = 0;
    Frame frame;
    for (;;) {
        const FrameReader::Status status = m_reader.read(m_inBytes, &offset, &frame);
        if (status == FrameReader::Status::NeedMore)
            break;
        QString why;
        if (status == FrameReader::Status::Ready && isBodyReference(frame.type) &&
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
void PoolConnection::handOverToMain()
{
    {
        QMutexLocker lock(&m_stateMutex);
        if (m_gone)
            return;
        m_readerRole = Reader::Main;
    }
    Q_ASSERT(m_ioNotifier); // only with the LongTaskMs timer: raw sockets
    m_ioNotifier->setEnabled(false);
    QMetaObject::invokeMethod(
        QCoreApplication::instance(), [this] { mainRead(); }, Qt::QueuedConnection);
}

// Main thread: the socket is readable, or the reading role just came back.
void PoolConnection::mainRead()
{
    readAvailable(Reader::Main);
    {
        QMutexLocker lock(&m_stateMutex);
        if (m_busy || m_runScheduled)
            return; // a turn of tasks is on its way (or runs an event loop)
        if (!frontMayStart() || m_gone) {
            lock.unlock();
            goIdle();
            return;
        }
    }
    runPending(true);
}

// Main thread, done with its tasks: waits on the socket itself, or asks the
// I/O thread for the reading role back.
void PoolConnection::goIdle()
{
    QMutexLocker lock(&m_stateMutex);
    // The LongTaskMs timer stays armed: the next task needs no system call to
    // arm it, and it disarms itself after a whole period with no task.
    if (m_gone) {
        disarmLongTurnTimer();
        return;
    }
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
        QMetaObject::invokeMethod(this, &PoolConnection::giveBack, Qt::QueuedConnection);
    }
}

// I/O thread, asked by the idle main thread: hands reading back unless
// tasks came meanwhile (their turn asks again when it ends).
void PoolConnection::giveBack()
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

// I/O thread, every LongTaskMs while the timer is armed. If one task has
// been running for LongTaskMs, read the socket from now on (cancel, suspend,
// a pool that is gone); if none has run for that long, disarm.
void PoolConnection::onLongTurn()
{
#ifdef QPP_HAVE_LINUX_FEATURES
    quint64 expirations = 0;
    if (::read(m_timerFd, &expirations, sizeof expirations) != sizeof expirations)
        return; // disarmed meanwhile
    {
        QMutexLocker lock(&m_stateMutex);
        const bool longEnough = steadyNow() - m_busySinceNs >= LongTaskMs * 1000000LL;
        if (m_readerRole != Reader::Main || m_gone || (!m_busy && longEnough)) {
            disarmLongTurnTimer(); // the I/O thread reads, or the main thread is idle
            return;
        }
        if (!m_busy || !longEnough)
            return; // a task started since the last tick: the main thread still reads
        m_readerRole = Reader::Io;
        disarmLongTurnTimer();
    }
    m_ioNotifier->setEnabled(true);
    readAvailable(Reader::Io);
#endif
}

// m_stateMutex held; main thread, when a task starts while it holds the
// reading role. Fires every LongTaskMs until onLongTurn() disarms it.
void PoolConnection::armLongTurnTimer()
{
#ifdef QPP_HAVE_LINUX_FEATURES
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
void PoolConnection::disarmLongTurnTimer()
{
#ifdef QPP_HAVE_LINUX_FEATURES
    if (!m_timerArmed)
        return;
    m_timerArmed = false;
    const itimerspec off{};
    ::timerfd_settime(m_timerFd, 0, &off, nullptr);
#endif
}

// The reading role's thread: false when the frame breaks the protocol.
bool PoolConnection::handle(const Frame &frame, Reader who)
{
    if (!m_authenticated)
        return answerChallenge(frame);
    switch (MessageType(frame.type)) {
    case MessageType::RunTask:
        return receiveTask(frame, who);
    case MessageType::CancelTask:
        return decodeThen<CancelTask>(frame, [this](const CancelTask &m) { onCancel(m.taskId); });
    case MessageType::RevokeTask:
        return decodeThen<RevokeTask>(frame,
                                      [this](const RevokeTask &m) { dropPending(m.taskId); });
    case MessageType::Heartbeat:
        return !m_fingerprint.isEmpty() && frame.body.isEmpty(); // its arrival was the news
    case MessageType::StartTask:                                 // remote connections only
        return !m_fingerprint.isEmpty() &&
               decodeThen<StartTask>(frame,
                                     [this, who](const StartTask &m) { allowStart(m, who); });
    case MessageType::SuspendTask:
        return decodeThen<SuspendTask>(frame, [this](const SuspendTask &m) {
            m_runner.setSuspended(m.taskId, m.suspended != 0);
        });
    default:
        return false;
    }
}

// I/O thread, the first frame: proves the secret.
bool PoolConnection::answerChallenge(const Frame &frame)
{
    Challenge challenge;
    if (!decodeMessage(frame, &challenge))
        return false;
    Hello hello;
    hello.slotId = m_slotId;
    hello.pid = QCoreApplication::applicationPid();
    hello.proof =
        QMessageAuthenticationCode::hash(challenge.nonce, m_secret, QCryptographicHash::Sha256);
    hello.host = QSysInfo::machineHostName();
    hello.build = buildId();
    // Ready means warm: the pool may send a task the moment it has this.
    m_warm.acquire();
    m_warm.release();
#ifdef QPP_HAVE_RAW_SOCKETS
    if (m_raw) {
        QMutexLocker lock(&m_writeMutex);
        m_fd = m_socketFd;
        sendWire(m_bodies.divert(encodeMessage(hello)));
    }
#endif
    if (!m_raw) {
        m_writeOpen = true;
        writeToSocket(encodeMessage(hello));
    }
    m_authenticated = true;
    m_handOverToMain = m_timerFd >= 0;
    if (!m_fingerprint.isEmpty())
        startHeartbeats();
    return true;
}

bool PoolConnection::receiveTask(const Frame &frame, Reader who)
{
    RunTask task;
    if (!decodeBody(frame.body, &task))
        return false;
    QMutexLocker lock(&m_stateMutex);
    m_pending.push_back(std::move(task));
    runWhenIdle(lock, who);
    return true;
}

// A remote worker's go-ahead for a task it holds (StartTask). Only remote
// connections have them; one for a task no longer here (canceled or
// revoked meanwhile) has nothing left to allow.
void PoolConnection::allowStart(const StartTask &m, Reader who)
{
    QMutexLocker lock(&m_stateMutex);
    if (std::any_of(m_pending.begin(), m_pending.end(),
                    [&m](const RunTask &t) { return t.taskId == m.taskId; })) {
        m_startAllowed.insert(m.taskId);
    }
    runWhenIdle(lock, who);
}

// m_stateMutex held: the first pending task may start now. A remote
// worker's waits for its StartTask, so that what the pool never allowed
// did not start, whatever became of the messages saying so.
bool PoolConnection::frontMayStart() const
{
    return !m_pending.empty() &&
           (m_fingerprint.isEmpty() || m_startAllowed.contains(m_pending.front().taskId));
}

// m_stateMutex held (released here): has the main thread run what may start,
// unless it is at it already (it takes the task when done).
void PoolConnection::runWhenIdle(QMutexLocker<QMutex> &lock, Reader who)
{
    if (who == Reader::Main || m_busy || m_runScheduled || !frontMayStart())
        return;
    m_runScheduled = true;
    lock.unlock();
    QMetaObject::invokeMethod(
        QCoreApplication::instance(), [this] { runPending(); }, Qt::QueuedConnection);
}

void PoolConnection::onCancel(quint64 taskId)
{
    {
        // One look at the running task and the queue: the task cannot move
        // from one to the other in between.
        QMutexLocker lock(&m_stateMutex);
        if (m_runner.cancel(taskId) || !takePending(taskId))
            return;
    }
    send(encodeMessage(TaskFinished{taskId, 0, {}}));
}

// Gives back a task that has not started (an empty TaskFinished).
void PoolConnection::dropPending(quint64 taskId)
{
    {
        QMutexLocker lock(&m_stateMutex);
        if (!takePending(taskId))
            return;
    }
    send(encodeMessage(TaskFinished{taskId, 0, {}}));
}

bool PoolConnection::takePending(quint64 taskId)
{
    const auto it = std::find_if(m_pending.begin(), m_pending.end(),
                                 [taskId](const RunTask &t) { return t.taskId == taskId; });
    if (it == m_pending.end())
        return false;
    m_pending.erase(it);
    m_startAllowed.remove(taskId);
    return true;
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
void PoolConnection::runPending(bool justRead)
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
            if (!frontMayStart() || m_gone || turn == TasksPerTurn) {
                endTurn(lock, out);
                return;
            }
            task = std::move(m_pending.front());
            m_pending.pop_front();
            m_startAllowed.remove(task.taskId);
            m_busy = true;
            m_busySinceNs = steadyNow();
            m_runner.select(task.taskId);
            if (m_readerRole == Reader::Main)
                armLongTurnTimer();
        }
        if (!m_runner.execute(task, out))
            return; // the pool is gone: the I/O thread ends the process
        QMutexLocker lock(&m_stateMutex);
        // Not busy: the reading role stays where it is while we read.
        m_busy = false;
        m_busySinceNs = steadyNow();
        read = !m_pending.empty();
    }
}

void PoolConnection::endTurn(QMutexLocker<QMutex> &lock, OutgoingFrames &out)
{
    // After TasksPerTurn tasks, let the main thread's events run.
    const bool more = frontMayStart() && !m_gone;
    m_runScheduled = more;
    lock.unlock();
    send(out);
    // The turn's tasks and answers are gone: the space of their arguments
    // in the arena goes back to the pool before it sends the next ones.
    out.clear();
    m_bodies.reclaim();
    if (more) {
        QMetaObject::invokeMethod(
            QCoreApplication::instance(), [this] { runPending(); }, Qt::QueuedConnection);
    } else {
        goIdle();
    }
}

// I/O thread: the pool is gone (or broke the protocol). A busy task cannot
// be interrupted, so leave at once rather than compute for nobody.
void PoolConnection::onGone()
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
        std::_Exit(m_authenticated ? 0 : 2);
    {
        QMutexLocker lock(&m_writeMutex);
        m_fd = -1;
    }
    m_writeOpen = false; // device path: I/O thread, the only one that writes there
    const int code = m_authenticated ? 0 : 2;
    QMetaObject::invokeMethod(
        QCoreApplication::instance(), [code] { QCoreApplication::exit(code); },
        Qt::QueuedConnection);
}

} // namespace QtProcessPool
