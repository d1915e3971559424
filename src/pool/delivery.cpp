// SPDX-License-Identifier: MIT
#include "pool/delivery.h"

#include "pool/platform.h"

#include <algorithm>

namespace QtProcessPool {

Delivery::Delivery(SharedState *shared, std::function<void()> resume, QObject *parent)
    : QObject(parent)
    , m_shared(shared)
    , m_resume(std::move(resume))
    , m_pauseLimit(this) // children, so they move to the I/O thread with us
    , m_stateTimer(this)
{
    m_stateTimer.setSingleShot(true);
    connect(&m_stateTimer, &QTimer::timeout, this, &Delivery::notifyCounts);
    m_pauseLimit.setSingleShot(true);
    connect(&m_pauseLimit, &QTimer::timeout, this, &Delivery::onPauseLimit);
}

void Delivery::count(const Task &task, Outcome outcome, const TaskError *error)
{
    if (task.state == Task::State::Running)
        --m_shared->running;
    else
        --m_shared->queued;
    QMutexLocker lock(&m_shared->mutex);
    Statistics &counts = m_shared->statistics.counts;
    switch (outcome) {
    case Outcome::Finished:
        ++counts.finished;
        break;
    case Outcome::Failed:
        ++counts.failed;
        ++counts.failedByKind[error->kind()];
        break;
    case Outcome::Canceled:
        ++counts.canceled;
        break;
    }
    if (task.startedAt > 0) {
        const qint64 runNs = steadyNow() - task.startedAt;
        m_shared->statistics.runTime.add(runNs);
        if (outcome == Outcome::Finished)
            m_recentRunNs = m_recentRunNs < 0 ? double(runNs) : 0.9 * m_recentRunNs + 0.1 * runNs;
    }
}

void Delivery::finish(detail::ResultSink &sink, Outcome outcome, const TaskError *error)
{
    // The pool's thread watches how long (ProcessPoolPrivate::watchUserCode()).
    m_shared->userCodeSince.store(steadyNow(), std::memory_order_relaxed);
    switch (outcome) {
    case Outcome::Finished:
        sink.finish();
        break;
    case Outcome::Failed:
        sink.fail(*error);
        break;
    case Outcome::Canceled:
        sink.cancelAndFinish();
        break;
    }
    m_shared->userCodeSince.store(0, std::memory_order_relaxed);
}

// Delivery pacing. Every finished future posts its continuations (then() with
// a context, QFutureWatcher signals) to the pool's thread, usually the GUI
// thread, which runs them all in one go: 100,000 results read in a burst would
// freeze it for tens of milliseconds. So after each Delivery::Window futures a
// marker goes to the pool's thread and back; while two windows are on their
// way, worker sockets are not read (the workers wait, nothing is lost). A
// pool's thread that does not answer within Delivery::MaxPauseMs, and neither
// submitted nor used a quarter of that time on a CPU meanwhile (Linux tells
// its CPU time; a thread working through its events is not blocked, just
// slow), is not running its event loop: blocked in result(), or no event
// loop at all. Then pacing is off until its next answer, so blocking waits
// never wait on us.
void Delivery::noteDelivered()
{
    if (++m_deliveredSinceMarker < Window)
        return;
    m_deliveredSinceMarker = 0;
    // Off since the pool's thread last blocked. Busy on a CPU more than half
    // the time since then, it is no longer blocked (a loop of run() calls,
    // say, whose continuations would pile up): pacing is on again. A loop
    // that blocks on each result uses far less.
    if (m_pacingOff) {
        if (poolThreadBusyShare(5000000) > 0.5)
            m_pacingOff = false;
        m_poolThreadMark = markPoolThread();
    }
    if (!m_markerPending) {
        m_markerPending = true;
        Q_EMIT deliveryMarker();
    } else if (!m_pacingOff && !m_readPaused) {
        m_readPaused = true;
        m_submissionsSeen = m_shared->ownThreadSubmissions.load();
        m_poolThreadMark = markPoolThread();
        m_pauseLimit.start(MaxPauseMs);
    }
}

void Delivery::onPauseLimit()
{
    // Still submitting, or busy running what was delivered (it used a good
    // part of the pause on a CPU): more would only pile up. Wait.
    const quint64 submissions = m_shared->ownThreadSubmissions.load();
    const bool busy = poolThreadBusyShare(0) > 0.25;
    m_poolThreadMark = markPoolThread();
    if (submissions != m_submissionsSeen || busy) {
        m_submissionsSeen = submissions;
        m_pauseLimit.start(MaxPauseMs);
        return;
    }
    // Blocked in result() or waitForFinished(), or no event loop at all:
    // holding results back would only delay them. Until it answers again
    // (or is seen busy again: noteDelivered()).
    m_pacingOff = true;
    resume();
}

Delivery::CpuMark Delivery::markPoolThread() const
{
    return CpuMark{steadyNow(), platform::threadCpuTime(m_shared->poolThreadId)};
}

double Delivery::poolThreadBusyShare(qint64 minimumNs) const
{
    const CpuMark now = markPoolThread();
    const qint64 elapsed = now.at - m_poolThreadMark.at;
    if (now.cpu < 0 || m_poolThreadMark.cpu < 0 || elapsed <= std::max<qint64>(minimumNs, 0))
        return -1;
    return double(now.cpu - m_poolThreadMark.cpu) / double(elapsed);
}

void Delivery::onMarker()
{
    m_markerPending = false;
    m_pacingOff = false;
    if (m_readPaused) {
        // The window behind this one is on its way: mark it, read on.
        m_markerPending = true;
        Q_EMIT deliveryMarker();
        resume();
    }
}

void Delivery::resume()
{
    m_pauseLimit.stop();
    if (!m_readPaused)
        return;
    m_readPaused = false;
    m_resume();
}

void Delivery::notifyIdle()
{
    m_shared->idleReached = true;
    notifyCounts();
}

void Delivery::stop()
{
    m_stopped = true;
    m_pauseLimit.stop();
    m_stateTimer.stop();
}

// The counts and idle() share one notification, and the pool's thread reads
// the latest values when it arrives: one is on its way at a time, and at most
// one per StateIntervalMs (the first at once, the last at the interval's end),
// so a stream of tiny tasks does not wake that thread twice per task.
void Delivery::notifyCounts()
{
    if (m_stopped || m_stateTimer.isActive())
        return;
    const qint64 sinceLast = steadyNow() - m_lastStateChange;
    if (sinceLast < StateIntervalMs * 1000000LL) {
        m_stateTimer.start(int(StateIntervalMs - sinceLast / 1000000));
        return;
    }
    m_lastStateChange = steadyNow();
    if (!m_shared->notificationPending.exchange(true))
        Q_EMIT stateChanged();
}

} // namespace QtProcessPool
