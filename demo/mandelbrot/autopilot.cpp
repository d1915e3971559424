// SPDX-License-Identifier: MIT
#include "autopilot.h"

#include "mainwindow.h"
#include "mandelbrotview.h"
#include "poolpanel.h"

#include <QtProcessPool/ProcessPool>

#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QElapsedTimer>
#include <QtCore/QFileInfo>
#include <QtCore/QSet>
#include <QtCore/QThread>
#include <QtGui/QAction>
#include <QtGui/QPixmap>

#include <algorithm>
#include <cstdio>

using QtProcessPool::TaskError;

namespace {

constexpr int WorkerStartTimeoutMs = 30'000;
constexpr int RenderTimeoutMs = 100'000;
constexpr int FaultAfterTiles = 6; // the fault tests strike once this many tiles are in

void print(const QString &line)
{
    std::printf("%s\n", qPrintable(line));
    std::fflush(stdout);
}

QString pidList(QList<qint64> pids)
{
    std::sort(pids.begin(), pids.end());
    QStringList parts;
    for (qint64 pid : pids)
        parts.append(QString::number(pid));
    return parts.join(QLatin1Char(' '));
}

} // namespace

Autopilot::Autopilot(MainWindow *window, QtProcessPool::ProcessPool *pool, Script script)
    : m_window(window)
    , m_pool(pool)
    , m_script(std::move(script))
{
}

int Autopilot::run()
{
    m_window->setAutoRender(false);
    if (!waitForIdleWorkers()) {
        print(QStringLiteral("error: the %1 worker processes did not all start within %2 s")
                  .arg(m_pool->maxWorkers())
                  .arg(WorkerStartTimeoutMs / 1000));
        return 1;
    }
    bool ok = true;
    if (m_script.benchmark)
        ok = benchmark() && ok;
    if (m_script.crashTest)
        ok = faultTest(Fault::Crash) && ok;
    if (m_script.hangTest)
        ok = faultTest(Fault::Hang) && ok;
    if (!m_script.screenshot.isEmpty())
        ok = screenshot() && ok;
    return ok ? 0 : 1;
}

bool Autopilot::waitUntil(const std::function<bool()> &condition, int timeoutMs)
{
    // The meter's 16 ms timer guarantees events, so this never sleeps long.
    const QDeadlineTimer deadline(timeoutMs);
    while (!condition()) {
        if (deadline.hasExpired())
            return false;
        QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents);
    }
    return true;
}

void Autopilot::settle(int ms)
{
    QElapsedTimer clock;
    clock.start();
    waitUntil([&] { return clock.elapsed() >= ms; }, ms + 1000);
}

bool Autopilot::waitForIdleWorkers()
{
    return waitUntil(
        [this] {
            const auto workers = m_pool->statistics().workerInfo;
            return workers.size() >= m_pool->maxWorkers() &&
                   std::all_of(workers.cbegin(), workers.cend(), [](const auto &worker) {
                       return worker.state == QtProcessPool::Statistics::WorkerInfo::State::Idle;
                   });
        },
        WorkerStartTimeoutMs);
}

std::optional<RenderSummary> Autopilot::render(Engine engine,
                                               const std::function<void(int)> &onProgress)
{
    std::optional<RenderSummary> result;
    QObject context;
    QObject::connect(m_window, &MainWindow::renderFinished, &context,
                     [&result](const RenderSummary &summary) {
                         if (!summary.canceled)
                             result = summary;
                     });
    if (onProgress) {
        QObject::connect(m_window->renderer(), &TileRenderer::progressChanged, &context,
                         [&onProgress](int done, int) { onProgress(done); });
    }
    m_window->setEngine(engine);
    m_window->render();
    if (!waitUntil([&result] { return result.has_value(); }, RenderTimeoutMs)) {
        print(QStringLiteral("error: the render with %1 did not finish within %2 s")
                  .arg(engineName(engine))
                  .arg(RenderTimeoutMs / 1000));
        return std::nullopt;
    }
    m_last = result;
    // Let the GUI catch up, and a stall's closing tick land before anything
    // else is measured.
    settle(300);
    return result;
}

bool Autopilot::benchmark()
{
    const QSize size = m_window->view()->size();
    print(QStringLiteral("Rendering a %1x%2 image in %3 tiles, %4 iterations per sample, with %5 "
                         "threads / worker processes on %6 cores:\n")
              .arg(size.width())
              .arg(size.height())
              .arg(MandelbrotView::TileColumns * MandelbrotView::TileRows)
              .arg(m_window->maxIterations())
              .arg(m_window->workerCount())
              .arg(QThread::idealThreadCount()));
    print(QStringLiteral("| Engine | Time (ms) | Largest GUI gap (ms) |"));
    print(QStringLiteral("|---|---:|---:|"));
    for (const Engine engine : {Engine::GuiThread, Engine::Threads, Engine::ProcessPool}) {
        const std::optional<RenderSummary> summary = render(engine);
        if (!summary)
            return false;
        print(QStringLiteral("| %1 | %2 | %3 |")
                  .arg(engineName(engine))
                  .arg(summary->elapsedMs)
                  .arg(summary->largestGuiGapMs));
    }
    print(QString());
    return true;
}

bool Autopilot::faultTest(Fault fault)
{
    const QString name =
        fault == Fault::Crash ? QStringLiteral("crash test") : QStringLiteral("hang test");
    const TaskError::Kind expected =
        fault == Fault::Crash ? TaskError::Kind::Crashed : TaskError::Kind::TimedOut;
    QAction *action = fault == Fault::Crash ? m_window->crashAction() : m_window->hangAction();

    const QList<qint64> before = m_pool->workerPids();
    QList<qint64> started;
    QStringList ended;
    QObject context;
    QObject::connect(m_pool, &QtProcessPool::ProcessPool::workerStarted, &context,
                     [&started](qint64 pid) { started.append(pid); });
    QObject::connect(m_pool, &QtProcessPool::ProcessPool::workerCrashed, &context,
                     [&ended](qint64, const QString &reason) { ended.append(reason); });
    QObject::connect(m_pool, &QtProcessPool::ProcessPool::workerKilled, &context,
                     [&ended](qint64, const QString &reason) { ended.append(reason); });

    print(QStringLiteral("%1: workers %2; triggering \"%3\" after %4 tiles")
              .arg(name, pidList(before), action->text())
              .arg(FaultAfterTiles));
    bool triggered = false;
    const std::optional<RenderSummary> summary = render(Engine::ProcessPool, [&](int done) {
        if (!triggered && done >= FaultAfterTiles) {
            triggered = true;
            // As a user would: from the event loop, not from inside the signal.
            QMetaObject::invokeMethod(
                &context, [action] { action->trigger(); }, Qt::QueuedConnection);
        }
    });
    if (!summary)
        return false;

    for (const QString &reason : std::as_const(ended))
        print(QStringLiteral("%1: pool reported: %2").arg(name, reason));
    for (const TileFailure &failure : summary->failures) {
        print(QStringLiteral("%1: tile %2 failed (%3): %4")
                  .arg(name)
                  .arg(failure.tile + 1)
                  .arg(TaskError::kindName(failure.kind), failure.message));
    }
    int byNewWorkers = 0;
    for (qint64 pid : std::as_const(started))
        byNewWorkers += summary->tilesByPid.value(pid);
    print(QStringLiteral("%1: %2 of %3 tiles rendered in %4 ms, %5 of them by new worker(s) %6; "
                         "largest GUI gap %7 ms")
              .arg(name)
              .arg(summary->rendered)
              .arg(summary->tiles)
              .arg(summary->elapsedMs)
              .arg(byNewWorkers)
              .arg(pidList(started))
              .arg(summary->largestGuiGapMs));

    QStringList problems;
    if (!triggered)
        problems.append(QStringLiteral("the fault was never triggered"));
    if (summary->failures.size() != 1 || summary->failures.first().kind != expected)
        problems.append(QStringLiteral("expected exactly one tile to fail with %1")
                            .arg(TaskError::kindName(expected)));
    if (summary->rendered != summary->tiles - 1)
        problems.append(QStringLiteral("expected every other tile to be rendered"));
    if (ended.isEmpty())
        problems.append(QStringLiteral("the pool reported no worker ending"));
    if (started.isEmpty())
        problems.append(QStringLiteral("no replacement worker started"));
    else if (fault == Fault::Crash && byNewWorkers == 0)
        problems.append(QStringLiteral("the replacement worker rendered no tile"));
    for (const QString &problem : std::as_const(problems))
        print(QStringLiteral("%1: FAILED: %2").arg(name, problem));
    if (problems.isEmpty())
        print(QStringLiteral("%1: passed").arg(name));
    return problems.isEmpty();
}

bool Autopilot::screenshot()
{
    if (!m_last && !render(Engine::ProcessPool))
        return false;
    const RenderSummary &summary = *m_last;
    m_window->poolPanel()->refresh();
    settle(300);

    print(QStringLiteral("main pid: %1").arg(QCoreApplication::applicationPid()));
    print(QStringLiteral("tiles: %1 rendered by workers: %2")
              .arg(summary.rendered)
              .arg(pidList(summary.tilesByPid.keys())));
    QStringList counts;
    for (auto it = summary.tilesByPid.cbegin(); it != summary.tilesByPid.cend(); ++it)
        counts.append(QStringLiteral("%1=%2").arg(it.key()).arg(it.value()));
    print(QStringLiteral("tiles per process: %1").arg(counts.join(QLatin1Char(' '))));
    QStringList remote;
    for (const auto &worker : m_pool->statistics().workerInfo) {
        if (worker.group != 0)
            remote.append(QStringLiteral("%1:%2").arg(worker.host).arg(worker.pid));
    }
    if (!remote.isEmpty()) {
        QStringList byWorker;
        for (auto it = summary.tilesByWorker.cbegin(); it != summary.tilesByWorker.cend(); ++it)
            byWorker.append(QStringLiteral("%1=%2").arg(it.key()).arg(it.value()));
        print(QStringLiteral("remote workers: %1").arg(remote.join(QLatin1Char(' '))));
        print(QStringLiteral("tiles per host:pid: %1").arg(byWorker.join(QLatin1Char(' '))));
    }
    print(QStringLiteral("failed tiles: %1").arg(summary.failures.size()));

    const QPixmap shot = m_window->grab();
    if (!shot.save(m_script.screenshot)) {
        print(QStringLiteral("error: could not write %1").arg(m_script.screenshot));
        return false;
    }
    print(QStringLiteral("screenshot: %1 (%2x%3)")
              .arg(QFileInfo(m_script.screenshot).absoluteFilePath())
              .arg(shot.width())
              .arg(shot.height()));
    // Alone, the screenshot must show a complete image; after a fault test it
    // shows the failed tile on purpose.
    const bool faultsExpected = m_script.crashTest || m_script.hangTest;
    return faultsExpected || (summary.failures.isEmpty() && summary.rendered == summary.tiles);
}
