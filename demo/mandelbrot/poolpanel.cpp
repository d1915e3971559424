// SPDX-License-Identifier: MIT
#include "poolpanel.h"

#include "workercolor.h"

#include <QtProcessPool/ProcessPool>

#include <QtCore/QTime>
#include <QtWidgets/QFormLayout>
#include <QtWidgets/QHeaderView>
#include <QtWidgets/QLabel>
#include <QtWidgets/QPlainTextEdit>
#include <QtWidgets/QTableWidget>
#include <QtWidgets/QVBoxLayout>

#include <algorithm>

using QtProcessPool::Statistics;

namespace {

constexpr int RefreshMs = 250;
constexpr qint64 EndedShownMs = 6000;
constexpr qint64 ThroughputWindowMs = 2000;

QString stateName(Statistics::WorkerInfo::State state)
{
    switch (state) {
    case Statistics::WorkerInfo::State::Starting:
        return PoolPanel::tr("starting");
    case Statistics::WorkerInfo::State::Idle:
        return PoolPanel::tr("idle");
    case Statistics::WorkerInfo::State::Busy:
        return PoolPanel::tr("busy");
    case Statistics::WorkerInfo::State::Retiring:
        return PoolPanel::tr("retiring");
    }
    return {};
}

QColor stateColor(Statistics::WorkerInfo::State state, const QPalette &palette)
{
    switch (state) {
    case Statistics::WorkerInfo::State::Busy:
        return QColor(230, 140, 20);
    case Statistics::WorkerInfo::State::Idle:
        return QColor(60, 170, 90);
    case Statistics::WorkerInfo::State::Starting:
    case Statistics::WorkerInfo::State::Retiring:
        break;
    }
    return palette.color(QPalette::PlaceholderText);
}

QTableWidgetItem *item(const QString &text, const QColor &color = QColor())
{
    auto *cell = new QTableWidgetItem(text);
    if (color.isValid())
        cell->setForeground(color);
    return cell;
}

} // namespace

PoolPanel::PoolPanel(QtProcessPool::ProcessPool *pool, QWidget *parent)
    : QWidget(parent)
    , m_pool(pool)
    , m_workers(new QLabel(this))
    , m_queue(new QLabel(this))
    , m_tasks(new QLabel(this))
    , m_crashes(new QLabel(this))
    , m_throughput(new QLabel(this))
    , m_runTime(new QLabel(this))
    , m_table(new QTableWidget(0, 3, this))
    , m_log(new QPlainTextEdit(this))
{
    auto *totals = new QFormLayout;
    totals->setContentsMargins(0, 0, 0, 0);
    totals->setVerticalSpacing(2);
    totals->addRow(tr("Workers:"), m_workers);
    totals->addRow(tr("Queued:"), m_queue);
    totals->addRow(tr("Tasks:"), m_tasks);
    totals->addRow(tr("Crashes:"), m_crashes);
    totals->addRow(tr("Throughput:"), m_throughput);
    totals->addRow(tr("Run time:"), m_runTime);
    m_crashes->setToolTip(tr("Workers that ended without being asked to: crashed, or killed "
                             "because their task timed out or was canceled"));
    m_runTime->setToolTip(tr("Time tasks ran in a worker, over the last 10,000 tasks"));

    m_table->setHorizontalHeaderLabels(
        {tr("Worker pid"), tr("Host"), tr("State"), tr("Tasks done")});
    m_table->verticalHeader()->hide();
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionMode(QAbstractItemView::NoSelection);
    m_table->setFocusPolicy(Qt::NoFocus);
    m_table->setShowGrid(false);
    m_table->setAlternatingRowColors(true);
    m_table->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    m_table->setMinimumHeight(6 * (fontMetrics().height() + 6));

    m_log->setReadOnly(true);
    m_log->setMaximumBlockCount(500);
    m_log->setLineWrapMode(QPlainTextEdit::WidgetWidth);
    m_log->setMinimumHeight(4 * fontMetrics().height());
    QFont logFont = m_log->font();
    logFont.setPointSizeF(logFont.pointSizeF() * 0.9);
    m_log->setFont(logFont);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(totals);
    layout->addWidget(m_table, 3);
    layout->addWidget(new QLabel(tr("Events:"), this));
    layout->addWidget(m_log, 2);

    using QtProcessPool::ProcessPool;
    // A remote worker is named by its host too: pids are unique per host only.
    const auto name = [](qint64 pid, const QString &host) {
        return host.isEmpty() ? QString::number(pid) : QStringLiteral("%1:%2").arg(host).arg(pid);
    };
    connect(pool, &ProcessPool::workerStarted, this, [this, name](qint64 pid, const QString &host) {
        logEvent(tr("worker %1 started").arg(name(pid, host)), QColor(), workerColor(pid));
        refresh();
    });
    connect(
        pool, &ProcessPool::workerExited, this,
        [this, name](qint64 pid, int exitCode, QProcess::ExitStatus status, const QString &host) {
            // Anything but a clean exit is reported by workerCrashed() or workerKilled() next.
            const bool clean = status == QProcess::NormalExit && exitCode == 0;
            workerEnded(pid, clean ? tr("exited") : tr("ended"), !clean);
            if (clean)
                logEvent(tr("worker %1 exited").arg(name(pid, host)), QColor(), workerColor(pid));
            refresh();
        });
    // A crash (workerCrashed) and the pool's own kill of a worker whose task
    // timed out or was canceled (workerKilled) come right after workerExited.
    const auto ended = [this](qint64 pid, const QString &reason, const QString &state) {
        for (EndedWorker &worker : m_ended) {
            if (worker.pid == pid)
                worker.state = state;
        }
        logEvent(reason, QColor(220, 50, 40), workerColor(pid));
        refresh();
    };
    connect(pool, &ProcessPool::workerCrashed, this,
            [ended](qint64 pid, const QString &reason) { ended(pid, reason, tr("crashed")); });
    connect(pool, &ProcessPool::workerKilled, this,
            [ended](qint64 pid, const QString &reason) { ended(pid, reason, tr("killed")); });
    connect(pool, &ProcessPool::workerRecycled, this, [this](qint64 pid, const QString &reason) {
        logEvent(tr("worker %1 recycled: %2").arg(pid).arg(reason), QColor(), workerColor(pid));
    });
    connect(pool, &ProcessPool::queuedTaskCountChanged, this, &PoolPanel::refresh);
    connect(pool, &ProcessPool::busyWorkerCountChanged, this, &PoolPanel::refresh);
    connect(pool, &ProcessPool::idle, this, &PoolPanel::refresh);

    m_clock.start();
    m_refreshTimer.setInterval(RefreshMs);
    connect(&m_refreshTimer, &QTimer::timeout, this, &PoolPanel::refresh);
    m_refreshTimer.start();
    refresh();
}

void PoolPanel::refresh()
{
    const Statistics stats = m_pool->statistics();
    const qint64 now = m_clock.elapsed();

    // Throughput: tasks ended over the last two seconds.
    const qint64 ended = stats.finished + stats.failed;
    m_samples.append({now, ended});
    while (m_samples.size() > 2 && m_samples.at(1).time <= now - ThroughputWindowMs)
        m_samples.removeFirst();
    const Sample &oldest = m_samples.first();
    const double rate = now > oldest.time
                            ? double(ended - oldest.tasksEnded) * 1000.0 / double(now - oldest.time)
                            : 0.0;

    const int starting =
        int(std::count_if(stats.workerInfo.cbegin(), stats.workerInfo.cend(), [](const auto &w) {
            return w.state == Statistics::WorkerInfo::State::Starting;
        }));
    m_workers->setText(tr("%1 running, %2 busy%3 (max %4)")
                           .arg(stats.workers)
                           .arg(stats.busyWorkers)
                           .arg(starting ? tr(", %1 starting").arg(starting) : QString())
                           .arg(m_pool->maxWorkers()));
    m_queue->setText(
        tr("%1 tasks waiting, %2 running").arg(stats.queuedTasks).arg(stats.runningTasks));
    m_tasks->setText(tr("%1 finished, %2 failed, %3 canceled")
                         .arg(stats.finished)
                         .arg(stats.failed)
                         .arg(stats.canceled));
    m_crashes->setText(QString::number(stats.workersCrashed));
    m_crashes->setStyleSheet(
        stats.workersCrashed ? QStringLiteral("color: #d83a2c; font-weight: bold") : QString());
    m_throughput->setText(tr("%1 tasks/s").arg(rate, 0, 'f', 1));
    m_runTime->setText(stats.runTime.samples ? tr("median %1 ms, p95 %2 ms")
                                                   .arg(stats.runTime.p50, 0, 'f', 0)
                                                   .arg(stats.runTime.p95, 0, 'f', 0)
                                             : tr("no tasks yet"));

    // Live workers first (oldest first), then the ones that just ended.
    m_ended.erase(
        std::remove_if(m_ended.begin(), m_ended.end(),
                       [now](const EndedWorker &w) { return w.endedAt < now - EndedShownMs; }),
        m_ended.end());
    m_table->setRowCount(int(stats.workerInfo.size() + m_ended.size()));
    int row = 0;
    for (const Statistics::WorkerInfo &worker : stats.workerInfo) {
        m_tasksDone.insert(worker.pid, worker.tasksDone);
        auto *pid = item(QString::number(worker.pid));
        pid->setData(Qt::DecorationRole, workerColor(worker.pid));
        m_table->setItem(row, 0, pid);
        m_table->setItem(row, 1, item(worker.group == 0 ? tr("local") : worker.host));
        m_table->setItem(row, 2,
                         item(stateName(worker.state), stateColor(worker.state, palette())));
        m_table->setItem(row, 3, item(QString::number(worker.tasksDone)));
        ++row;
    }
    for (const EndedWorker &worker : std::as_const(m_ended)) {
        const QColor color =
            worker.crashed ? QColor(220, 50, 40) : palette().color(QPalette::PlaceholderText);
        auto *pid = item(QString::number(worker.pid), color);
        pid->setData(Qt::DecorationRole, workerColor(worker.pid));
        QFont struck = pid->font();
        struck.setStrikeOut(true);
        pid->setFont(struck);
        m_table->setItem(row, 0, pid);
        m_table->setItem(row, 1, item(QString(), color));
        m_table->setItem(row, 2, item(worker.state, color));
        m_table->setItem(row, 3, item(QString::number(worker.tasksDone), color));
        ++row;
    }
}

void PoolPanel::workerEnded(qint64 pid, const QString &state, bool crashed)
{
    // A worker leaves statistics() before its end is signalled: its count
    // comes from the last refresh that saw it.
    m_ended.append({pid, state, crashed, m_tasksDone.take(pid), m_clock.elapsed()});
}

void PoolPanel::logEvent(const QString &text, const QColor &color, const QColor &marker)
{
    const QString time = QTime::currentTime().toString(QStringLiteral("HH:mm:ss.zzz"));
    const QString style =
        color.isValid() ? QStringLiteral(" style=\"color:%1\"").arg(color.name()) : QString();
    const QString bullet =
        marker.isValid()
            ? QStringLiteral("<span style=\"color:%1\">&#9632;</span> ").arg(marker.name())
            : QString();
    m_log->appendHtml(QStringLiteral("<span style=\"color:gray\">%1</span> %2<span%3>%4</span>")
                          .arg(time, bullet, style, text.toHtmlEscaped()));
}
