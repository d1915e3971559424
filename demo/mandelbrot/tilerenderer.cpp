// SPDX-License-Identifier: MIT
#include "tilerenderer.h"

#include <QtProcessPool/ProcessPool>

#include <QtConcurrent/QtConcurrentRun>
#include <QtCore/QRandomGenerator>
#include <QtCore/QThread>

#include <chrono>

using namespace std::chrono_literals;

QString engineName(Engine engine)
{
    switch (engine) {
    case Engine::GuiThread:
        return TileRenderer::tr("GUI thread");
    case Engine::Threads:
        return TileRenderer::tr("Threads (QtConcurrent)");
    case Engine::ProcessPool:
        return TileRenderer::tr("Process pool");
    }
    return {};
}

TileRenderer::TileRenderer(QtProcessPool::ProcessPool *pool, QObject *parent)
    : QObject(parent)
    , m_pool(pool)
{
    m_threads.setMaxThreadCount(QThread::idealThreadCount());
}

TileRenderer::~TileRenderer()
{
    // No signals from here: whoever listens may already be half destroyed.
    for (Task &task : m_tasks) {
        if (task.pending)
            task.future.cancel();
    }
    m_threads.waitForDone();
}

void TileRenderer::setThreadCount(int count)
{
    m_threads.setMaxThreadCount(count);
}

void TileRenderer::start(Engine engine, const QList<TileJob> &jobs)
{
    cancel();
    m_jobs = jobs;
    m_tasks = QList<Task>(jobs.size());
    begin(engine, int(jobs.size()));
    if (jobs.isEmpty()) {
        Q_EMIT finished(m_summary);
        return;
    }

    switch (engine) {
    case Engine::GuiThread:
        // The naive way: the event loop gets control back only at the end, so
        // the window neither repaints nor reacts until the last tile is done.
        for (Task &task : m_tasks)
            task.pending = true;
        m_pendingCount = int(m_tasks.size());
        for (int tile = 0; tile < m_jobs.size(); ++tile)
            tileDone(tile, renderTile(m_jobs.at(tile)));
        break;
    case Engine::Threads:
        for (int tile = 0; tile < m_jobs.size(); ++tile)
            watch(tile, QtConcurrent::run(&m_threads, renderTile, m_jobs.at(tile)));
        break;
    case Engine::ProcessPool:
        for (int tile = 0; tile < m_jobs.size(); ++tile)
            watch(tile, m_pool->run(renderTile, m_jobs.at(tile)));
        break;
    }
}

void TileRenderer::cancel()
{
    if (m_pendingCount == 0)
        return;
    // Queued tiles never start. A tile already running on a thread runs to
    // its end (threads cannot be stopped); one running in a worker process is
    // killed with its worker after the pool's cancelGracePeriod().
    // Only pending futures: with Qt 6.4, cancel() on a finished future whose
    // continuations have run and been released touches freed memory.
    for (Task &task : m_tasks) {
        if (task.pending) {
            task.future.cancel();
            task.pending = false;
        }
    }
    m_pendingCount = 0;
    m_summary.canceled = true;
    m_summary.elapsedMs = m_clock.elapsed();
    Q_EMIT finished(m_summary);
}

int TileRenderer::injectFault(Fault fault)
{
    if (m_jobs.isEmpty())
        return -1;
    int tile = -1;
    if (isRunning()) {
        // The first pending tiles may be running, or sent ahead to busy
        // workers; take one from the middle of the rest, still queued.
        QList<int> pending;
        for (int i = 0; i < m_tasks.size(); ++i) {
            if (m_tasks.at(i).pending)
                pending.append(i);
        }
        const QList<int> queued = pending.mid(2 * m_pool->maxWorkers());
        tile = queued.isEmpty() ? pending.last() : queued.at(queued.size() / 2);
        m_tasks[tile].future.cancel();
        m_tasks[tile].pending = false;
        --m_pendingCount;
    } else {
        tile = QRandomGenerator::global()->bounded(int(m_jobs.size()));
        begin(Engine::ProcessPool, 1);
    }

    TileJob job = m_jobs.at(tile);
    job.fault = fault;
    QtProcessPool::TaskOptions options;
    options.priority = 1; // ahead of the render's other tiles
    if (fault == Fault::Hang)
        options.timeout = 2s; // the pool kills the worker and fails the tile with TimedOut
    watch(tile, m_pool->run(options, renderTile, job));
    return tile;
}

void TileRenderer::begin(Engine engine, int tiles)
{
    m_engine = engine;
    m_summary = RenderSummary();
    m_summary.engine = engine;
    m_summary.tiles = tiles;
    m_settledCount = 0;
    m_clock.start();
    Q_EMIT progressChanged(0, tiles);
}

void TileRenderer::watch(int tile, QFuture<TileImage> future)
{
    Task &task = m_tasks[tile];
    task.future = future;
    task.token = ++m_nextToken;
    task.pending = true;
    ++m_pendingCount;

    // Both continuations run on this object's (the GUI) thread. The token
    // drops outcomes of tiles canceled or resubmitted in the meantime.
    const quint64 token = task.token;
    const auto isCurrent = [this, tile, token] {
        return tile < m_tasks.size() && m_tasks.at(tile).token == token && m_tasks.at(tile).pending;
    };
    future
        .then(this,
              [this, tile, isCurrent](const TileImage &image) {
                  if (isCurrent())
                      tileDone(tile, image);
              })
        .onFailed(this, [this, tile, isCurrent](const QtProcessPool::TaskError &error) {
            if (isCurrent())
                tileError(tile, error);
        });
}

void TileRenderer::tileDone(int tile, const TileImage &image)
{
    ++m_summary.rendered;
    ++m_summary.tilesByPid[image.pid];
    ++m_summary.tilesByWorker[QStringLiteral("%1:%2").arg(image.host).arg(image.pid)];
    Q_EMIT tileRendered(tile, image);
    settle(tile);
}

void TileRenderer::tileError(int tile, const QtProcessPool::TaskError &error)
{
    m_summary.failures.append({tile, error.kind(), error.message()});
    Q_EMIT tileFailed(tile, error);
    settle(tile);
}

void TileRenderer::settle(int tile)
{
    m_tasks[tile].pending = false;
    --m_pendingCount;
    ++m_settledCount;
    Q_EMIT progressChanged(m_settledCount, m_summary.tiles);
    if (m_pendingCount == 0) {
        m_summary.elapsedMs = m_clock.elapsed();
        Q_EMIT finished(m_summary);
    }
}
