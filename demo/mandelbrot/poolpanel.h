// SPDX-License-Identifier: MIT
// Live view of a ProcessPool: its worker processes, its counters and an event
// log, driven by the pool's signals and ProcessPool::statistics().
#ifndef POOLPANEL_H
#define POOLPANEL_H

#include <QtCore/QElapsedTimer>
#include <QtCore/QHash>
#include <QtCore/QList>
#include <QtCore/QTimer>
#include <QtGui/QColor>
#include <QtWidgets/QWidget>

class QLabel;
class QPlainTextEdit;
class QTableWidget;

namespace QtProcessPool {
class ProcessPool;
}

class PoolPanel : public QWidget
{
    Q_OBJECT

public:
    explicit PoolPanel(QtProcessPool::ProcessPool *pool, QWidget *parent = nullptr);

    /// Reads the pool's statistics and updates everything shown.
    void refresh();

private:
    /// A worker that is gone, shown a few seconds longer so its end is seen.
    struct EndedWorker
    {
        qint64 pid = 0;
        QString state;
        bool crashed = false;
        qint64 tasksDone = 0;
        qint64 endedAt = 0;
    };
    struct Sample
    {
        qint64 time;
        qint64 tasksEnded;
    };

    void workerEnded(qint64 pid, const QString &state, bool crashed);
    /// Appends a line in color (default: the text colour), after a square in marker if given.
    void logEvent(const QString &text, const QColor &color = QColor(),
                  const QColor &marker = QColor());

    QtProcessPool::ProcessPool *m_pool;
    QLabel *m_workers;
    QLabel *m_queue;
    QLabel *m_tasks;
    QLabel *m_crashes;
    QLabel *m_throughput;
    QLabel *m_runTime;
    QTableWidget *m_table;
    QPlainTextEdit *m_log;
    QTimer m_refreshTimer;
    QElapsedTimer m_clock;
    QList<Sample> m_samples;
    QList<EndedWorker> m_ended;
    QHash<qint64, qint64> m_tasksDone; // last known count per worker, until it ends
};

#endif
