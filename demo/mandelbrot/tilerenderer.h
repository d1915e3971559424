// SPDX-License-Identifier: MIT
// Renders a list of tiles with one of three engines and reports each tile as
// it finishes. The engines run the very same renderTile() function.
#ifndef TILERENDERER_H
#define TILERENDERER_H

#include "mandelbrot.h"

#include <QtProcessPool/TaskError>

#include <QtCore/QElapsedTimer>
#include <QtCore/QFuture>
#include <QtCore/QList>
#include <QtCore/QMap>
#include <QtCore/QObject>
#include <QtCore/QThreadPool>

namespace QtProcessPool {
class ProcessPool;
}

enum class Engine {
    GuiThread,   ///< renderTile() called in a loop on the GUI thread: the window freezes
    Threads,     ///< QtConcurrent::run() on a thread pool
    ProcessPool, ///< QtProcessPool::ProcessPool::run() in worker processes
};

QString engineName(Engine engine);

struct TileFailure
{
    int tile = -1;
    QtProcessPool::TaskError::Kind kind = QtProcessPool::TaskError::Kind::Exception;
    QString message;
};

/// The outcome of one render, complete or canceled.
struct RenderSummary
{
    Engine engine = Engine::ProcessPool;
    qint64 elapsedMs = 0;
    int tiles = 0;    ///< tiles this render was asked for
    int rendered = 0; ///< tiles that arrived
    bool canceled = false;
    QList<TileFailure> failures;
    QMap<qint64, int> tilesByPid;     ///< which process rendered how many tiles
    QMap<QString, int> tilesByWorker; ///< the same by "host:pid" (remote workers)
    qint64 largestGuiGapMs = 0;       ///< filled in by the window: the worst GUI stall meanwhile
};

class TileRenderer : public QObject
{
    Q_OBJECT

public:
    explicit TileRenderer(QtProcessPool::ProcessPool *pool, QObject *parent = nullptr);
    /// Cancels what is pending and waits for the render threads to stop.
    ~TileRenderer() override;

    /// Threads used by the Threads engine (the pool has its own maxWorkers()).
    void setThreadCount(int count);

    /// Starts rendering jobs (tile i is jobs[i]; they are submitted in this
    /// order) and cancels any render in progress. With Engine::GuiThread it
    /// returns only when every tile is done, like any naive blocking code.
    void start(Engine engine, const QList<TileJob> &jobs);
    /// Cancels the tiles not yet rendered; finished() reports canceled.
    void cancel();
    bool isRunning() const { return m_pendingCount > 0; }
    Engine engine() const { return m_engine; }

    /// Renders one tile again on the process pool with a simulated bug. While
    /// a render runs, it takes over a pending tile (one most likely still
    /// queued) and jumps the queue; otherwise it starts a one-tile render of a
    /// random tile of the last image. Returns the tile, or -1 when there is no
    /// image yet.
    int injectFault(Fault fault);

Q_SIGNALS:
    void tileRendered(int tile, const TileImage &image);
    void tileFailed(int tile, const QtProcessPool::TaskError &error);
    void progressChanged(int done, int total);
    void finished(const RenderSummary &summary);

private:
    struct Task
    {
        QFuture<TileImage> future;
        quint64 token = 0; // identifies the submission whose outcome counts
        bool pending = false;
    };

    void begin(Engine engine, int tiles);
    void watch(int tile, QFuture<TileImage> future);
    void tileDone(int tile, const TileImage &image);
    void tileError(int tile, const QtProcessPool::TaskError &error);
    void settle(int tile);

    QtProcessPool::ProcessPool *m_pool;
    QThreadPool m_threads;
    QList<TileJob> m_jobs;
    QList<Task> m_tasks;
    Engine m_engine = Engine::ProcessPool;
    RenderSummary m_summary;
    QElapsedTimer m_clock;
    int m_pendingCount = 0;
    int m_settledCount = 0;
    quint64 m_nextToken = 0;
};

#endif
