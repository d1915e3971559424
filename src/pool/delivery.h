// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_DELIVERY_H
#define QTPROCESSPOOL_DELIVERY_H

#include "pool/processpool_p.h"

#include <QtCore/QObject>
#include <QtCore/QTimer>

#include <functional>

namespace QtProcessPool {

/// How finished tasks reach the pool's thread: a future's end (its counts and
/// statistics first), the pacing of deliveries so a burst of results does not
/// freeze that thread, and the one coalesced stateChanged() that carries the
/// counts and idle() there. Lives in the pool's I/O thread.
class Delivery : public QObject
{
    Q_OBJECT
public:
    enum class Outcome { Finished, Failed, Canceled };

    static constexpr int Window = 500;    // futures finished per marker (noteDelivered())
    static constexpr int MaxPauseMs = 20; // a pool's thread that does not answer by then is busy
    static constexpr int StateIntervalMs = 10; // stateChanged() at most this often

    /// resume: called when deliveries may go on after a pause (the engine
    /// reads its workers' sockets again).
    Delivery(SharedState *shared, std::function<void()> resume, QObject *parent);

    /// Takes an ending task out of the counts and adds it to the statistics:
    /// before its future finishes, so whoever sees it finished sees the counts.
    void count(const Task &task, Outcome outcome, const TaskError *error);
    /// Finishes a future. Continuations attached without a context run in
    /// here, on this thread (watched: SharedState::userCodeSince).
    void finish(detail::ResultSink &sink, Outcome outcome, const TaskError *error);
    /// A single task's future finished: every Window of them a
    /// marker goes to the pool's thread and back (see delivery.cpp).
    void noteDelivered();
    /// The marker came back from the pool's thread.
    void onMarker();
    /// Worker sockets are not read meanwhile (drain reads aside).
    bool readPaused() const { return m_readPaused; }
    /// Moving average of finished tasks' run time in ns; < 0: none yet.
    double recentRunNs() const { return m_recentRunNs; }

    /// The counts changed: a stateChanged() goes out, at most one on its way
    /// and one per 10 ms (the first at once, the last at the interval's end).
    void notifyCounts();
    /// outstanding reached 0: idle() on the pool's thread.
    void notifyIdle();
    /// Shutdown: nothing more is paced or notified.
    void stop();

Q_SIGNALS:
    void deliveryMarker();
    /// At most one on its way (SharedState::notificationPending).
    void stateChanged();

private:
    /// A moment, and the CPU time the pool's thread had used by then.
    struct CpuMark
    {
        qint64 at = 0;   // steady ns
        qint64 cpu = -1; // ns on a CPU; -1: unknown
    };
    CpuMark markPoolThread() const;
    /// Share of the time since m_poolThreadMark the pool's thread spent on
    /// a CPU; -1 when unknown or when no more than minimumNs passed.
    double poolThreadBusyShare(qint64 minimumNs) const;
    void onPauseLimit();
    void resume();

    SharedState *const m_shared;
    const std::function<void()> m_resume;
    double m_recentRunNs = -1;
    int m_deliveredSinceMarker = 0;
    bool m_markerPending = false; // a deliveryMarker() has not come back yet
    bool m_readPaused = false;    // worker sockets are not read meanwhile
    bool m_pacingOff = false;     // the pool's thread does not answer: deliver freely
    bool m_stopped = false;
    QTimer m_pauseLimit;           // how long reading may stay paused
    quint64 m_submissionsSeen = 0; // SharedState::ownThreadSubmissions when last checked
    CpuMark m_poolThreadMark;      // since the pause began, or since pacing went off
    QTimer m_stateTimer;           // a stateChanged() held back (notifyCounts())
    qint64 m_lastStateChange = 0;  // steady ns of the last stateChanged()
};

} // namespace QtProcessPool

#endif
