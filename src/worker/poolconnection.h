// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_WORKER_POOLCONNECTION_H
#define QTPROCESSPOOL_WORKER_POOLCONNECTION_H

// The worker's end of its connection to the pool: the socket, the handshake,
// the messages the pool sends, and which thread reads the socket when. Tasks
// run on the main thread through a TaskRunner; an I/O thread keeps reading the
// socket during long tasks (so the pool can still talk to a worker whose task
// is busy).
//
// Who reads the socket: the main thread, while it is idle or between tasks,
// so a task the pool sends reaches it with no thread hop (one wake-up less per
// round trip); the I/O thread, once a task has run for about LongTaskMs (a
// periodic timerfd it watches, left armed from task to task while tasks keep
// coming, so a quick task costs no timer system call), until the main thread
// is idle again. The reading
// role moves under m_stateMutex: to the I/O thread only while the main thread
// runs a task, back only while it is idle. Where timerfd is missing (not
// Linux, or the portable build), the I/O thread reads all the time and hands
// tasks over by event.
//
// Both threads write whole frames straight to the socket under one mutex: the
// main thread reports a task's end and the next task's start itself, so tasks
// sent ahead run back to back with no thread hop in between. Where the socket
// is not a POSIX descriptor (QPP_HAVE_RAW_SOCKETS off), it is a QLocalSocket
// only the I/O thread touches: the main thread's frames are written there
// while it waits (sendThroughIoThread()).
//
// Lock order: m_stateMutex before the runner's lock before m_writeMutex.

#include "protocol/frame.h"
#include "protocol/messages.h"
#include "protocol/sharedbody.h"
#include "worker/taskrunner.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QMutex>
#include <QtCore/QObject>
#include <QtCore/QSemaphore>
#include <QtCore/QSet>

#include <deque>

class QLocalSocket;
class QSocketNotifier;
class QTimer;

namespace QtProcessPool {

/// Lives in the I/O thread, but for the parts the main thread runs (reading
/// while it holds the role, running tasks). Deleted from the main thread once
/// the I/O thread has finished.
class PoolConnection : public QObject
{
public:
    /// fingerprint: a remote worker's (serverName "tls:HOST:PORT"): the
    /// SHA-256 of the certificate it accepts; empty for a local worker.
    PoolConnection(QString serverName, quint32 slotId, QByteArray secret, int bodiesFd,
                   QByteArray fingerprint = {});
    ~PoolConnection() override;

    /// I/O thread: connects to the pool. If it cannot, or once the pool has
    /// gone (or broken the protocol), the application exits: with 0 after a
    /// handshake, else 2.
    void start();
    /// Main thread, once this process has warmed up: the hello, which tells the
    /// pool it may send tasks, waits for it.
    void markWarm() { m_warm.release(); }

private:
    enum class Reader { Io, Main };

    // Any thread. Writes frames straight to the socket: frames of the two
    // threads never interleave, and a frame has reached the kernel when this
    // returns. False when the pool is gone.
    bool send(const QByteArray &frames);
    bool send(const protocol::OutgoingFrames &frames);
    bool sendWire(const QByteArray &wire); // raw sockets, m_writeMutex held
    // The device path (a QLocalSocket without raw sockets, or a remote
    // worker's QSslSocket): I/O thread but for the first.
    bool sendThroughIoThread(const QByteArray &wire);
    void startTls();
    void adoptDevice(QIODevice *socket);
    bool deviceConnected() const;
    bool writeToSocket(const QByteArray &wire);
    void onSocketReadable();
    void scheduleRead();

    bool holdsReading(Reader who);
    void readAvailable(Reader who);
    /// Reads what the socket has into m_inBytes; true when it is closed.
    bool readSocket();
    void handOverToMain();
    void mainRead();
    void goIdle();
    void giveBack();
    void onLongTurn();
    static constexpr int ConnectTimeoutMs = 30000; // to the pool, TLS included
    void startHeartbeats();
    bool poolIsSilent() const;
    void armLongTurnTimer();
    void disarmLongTurnTimer();

    bool handle(const protocol::Frame &frame, Reader who);
    bool answerChallenge(const protocol::Frame &frame);
    bool receiveTask(const protocol::Frame &frame, Reader who);
    void onCancel(quint64 taskId);
    void dropPending(quint64 taskId);
    /// m_stateMutex held: removes a task that has not started; false if none.
    bool takePending(quint64 taskId);
    bool frontMayStart() const;
    void allowStart(const protocol::StartTask &m, Reader who);
    void runWhenIdle(QMutexLocker<QMutex> &lock, Reader who);

    void runPending(bool justRead = false);
    /// Main thread, m_stateMutex held (released here): a turn of tasks is over.
    void endTurn(QMutexLocker<QMutex> &lock, protocol::OutgoingFrames &out);
    void onGone();

    const QString m_serverName;
    const quint32 m_slotId;
    const QByteArray m_secret;
    const QByteArray m_fingerprint; // a remote worker's pin; empty for a local one
    bool m_raw = false;  // the socket is a POSIX descriptor (local, QPP_HAVE_RAW_SOCKETS)
    int m_socketFd = -1; // raw sockets: set by start(), before any other use
    // The reading role's: used only by the thread that holds it.
    QByteArray m_inBytes; // read, not yet a whole frame
    protocol::FrameReader m_reader{protocol::AbsoluteMaxMessageSize};
    protocol::SharedBodyChannel m_bodies; // sends under m_writeMutex, receives by the reader
    bool m_authenticated = false;
    bool m_handOverToMain = false;
    QSemaphore m_warm; // released by markWarm()
    // I/O thread only.
    QTimer *m_pollTimer = nullptr; // flushes the running QPromise task's updates
    QSocketNotifier *m_ioNotifier = nullptr;
    int m_timerFd = -1; // LongTaskMs timer (Linux), or -1: the I/O thread always reads
    // The device path: the connection, and the state of writing to it.
    QIODevice *m_socket = nullptr;
    bool m_encrypted = false;           // TLS: the pool's certificate matched the pin
    QTimer *m_connectTimer = nullptr;   // TLS: gives up on a pool that never answers
    QTimer *m_heartbeatTimer = nullptr; // TLS: startHeartbeats()
    QElapsedTimer m_lastHeard;          // TLS: since bytes from the pool last arrived
    bool m_writeOpen = false;           // after our hello, until the pool is gone
    int m_writing = 0;                  // writeToSocket() calls under way
    bool m_readDeferred = false;        // the socket became readable during a write
    bool m_readQueued = false;          // scheduleRead() has posted a read
    // Main thread only.
    QSocketNotifier *m_mainNotifier = nullptr;

    QMutex m_writeMutex;
    int m_fd = -1; // the socket, for writing; -1 once the pool is gone

    QMutex m_stateMutex; // guards what follows
    Reader m_readerRole = Reader::Io;
    bool m_giveBackPosted = false;
    bool m_timerArmed = false; // the LongTaskMs timer
    bool m_gone = false;
    std::deque<protocol::RunTask> m_pending; // received, not yet started
    QSet<quint64> m_startAllowed;            // remote: pending tasks whose StartTask came
    bool m_busy = false;                     // the main thread runs a task
    qint64 m_busySinceNs = 0;                // when it started (m_busy) or ended it
    bool m_runScheduled = false;             // runPending() is queued on the main thread

    TaskRunner m_runner; // runs on the main thread; told of cancel and suspend here
};

} // namespace QtProcessPool

#endif
