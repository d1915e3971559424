// SPDX-License-Identifier: MIT
#include "primecounter.h"

#include "primes.h"

using QtProcessPool::TaskError;

PrimeCounter::PrimeCounter(QtProcessPool::ProcessPool &pool, QObject *parent)
    : QObject(parent)
    , m_pool(pool)
    , m_status(tr("Ready"))
{
    connect(&m_watcher, &QFutureWatcher<int>::progressRangeChanged, this,
            [this](int minimum, int maximum) { setProgress(minimum, maximum); });
    connect(&m_watcher, &QFutureWatcher<int>::progressValueChanged, this,
            [this](int value) { setProgress(value, m_progressMaximum); });
    connect(&m_watcher, &QFutureWatcher<int>::finished, this, &PrimeCounter::onFinished);
}

void PrimeCounter::start(int limit)
{
    if (m_running)
        return;
    m_limit = limit;
    setProgress(0, std::max(1, limit));
    m_watcher.setFuture(m_pool.run(countPrimes, limit));
    m_running = true;
    Q_EMIT runningChanged();
    setStatus(tr("Counting primes below %1").arg(limit));
}

void PrimeCounter::cancel()
{
    // Only an unfinished future: Qt 6.4's cancel() of a finished one whose
    // continuations ran may read freed memory.
    if (m_running && !m_watcher.isFinished())
        m_watcher.cancel();
}

void PrimeCounter::setProgress(int value, int maximum)
{
    if (value == m_progress && maximum == m_progressMaximum)
        return;
    m_progress = value;
    m_progressMaximum = maximum;
    Q_EMIT progressChanged();
}

void PrimeCounter::setStatus(const QString &status)
{
    if (status == m_status)
        return;
    m_status = status;
    Q_EMIT statusChanged();
}

void PrimeCounter::onFinished()
{
    const QFuture<int> future = m_watcher.future();
    if (future.isCanceled()) {
        setStatus(tr("Canceled"));
    } else {
        try {
            setStatus(tr("%1 primes below %2").arg(future.result()).arg(m_limit));
        } catch (const TaskError &error) {
            // Kind is a Q_ENUM: kindName() is its QMetaEnum key.
            setStatus(
                tr("Failed (%1): %2").arg(TaskError::kindName(error.kind()), error.message()));
        }
    }
    m_running = false;
    Q_EMIT runningChanged();
}
