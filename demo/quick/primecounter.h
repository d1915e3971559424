// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_DEMO_QUICK_PRIMECOUNTER_H
#define QTPROCESSPOOL_DEMO_QUICK_PRIMECOUNTER_H

#include <QtProcessPool/ProcessPool>

#include <QtCore/QFutureWatcher>
#include <QtCore/QObject>

/// The QML side's view of one countPrimes() task on a ProcessPool: start it,
/// watch its progress, cancel it, read how it ended. Lives on the GUI thread;
/// every signal comes from there.
class PrimeCounter : public QObject
{
    Q_OBJECT
    Q_PROPERTY(QtProcessPool::ProcessPool *pool READ pool CONSTANT)
    Q_PROPERTY(int progress READ progress NOTIFY progressChanged)
    Q_PROPERTY(int progressMaximum READ progressMaximum NOTIFY progressChanged)
    Q_PROPERTY(bool running READ isRunning NOTIFY runningChanged)
    Q_PROPERTY(QString status READ status NOTIFY statusChanged)

public:
    explicit PrimeCounter(QtProcessPool::ProcessPool &pool, QObject *parent = nullptr);

    QtProcessPool::ProcessPool *pool() const { return &m_pool; }
    int progress() const { return m_progress; }
    int progressMaximum() const { return m_progressMaximum; }
    bool isRunning() const { return m_running; }
    /// "Ready", "Counting primes below N", "K primes below N", "Canceled",
    /// or "Failed (Kind): message".
    QString status() const { return m_status; }

    /// Counts the primes below limit in a worker; ignored while one runs.
    Q_INVOKABLE void start(int limit);
    /// Cancels the running count: the worker sees it within milliseconds.
    Q_INVOKABLE void cancel();

Q_SIGNALS:
    void progressChanged();
    void runningChanged();
    void statusChanged();

private:
    void setProgress(int value, int maximum);
    void setStatus(const QString &status);
    void onFinished();

    QtProcessPool::ProcessPool &m_pool;
    QFutureWatcher<int> m_watcher;
    int m_limit = 0;
    int m_progress = 0;
    int m_progressMaximum = 1;
    bool m_running = false;
    QString m_status;
};

#endif
