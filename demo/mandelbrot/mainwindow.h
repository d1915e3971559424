// SPDX-License-Identifier: MIT
// The demo's window: a Mandelbrot explorer whose tiles render on the GUI
// thread, on threads or in a pool of worker processes, side by side with a
// GUI responsiveness meter and a live view of the pool.
#ifndef MAINWINDOW_H
#define MAINWINDOW_H

#include "tilerenderer.h"

#include <QtCore/QTimer>
#include <QtWidgets/QMainWindow>

class QAction;
class QComboBox;
class QLabel;
class QProgressBar;
class QSpinBox;
class QTableWidget;
class MandelbrotView;
class PoolPanel;
class ResponsivenessMeter;

namespace QtProcessPool {
class ProcessPool;
class TaskError;
} // namespace QtProcessPool

class MainWindow : public QMainWindow
{
    Q_OBJECT

public:
    static constexpr int DefaultIterations = 1500;

    explicit MainWindow(QtProcessPool::ProcessPool *pool, QWidget *parent = nullptr);
    ~MainWindow() override;

    Engine engine() const;
    void setEngine(Engine engine);
    /// Worker processes of the pool (kept started) and threads of the Threads engine.
    int workerCount() const;
    void setWorkerCount(int count);
    int maxIterations() const;
    void setMaxIterations(int iterations);
    /// Whether zooming, panning and resizing start a new render by themselves
    /// (off for scripted runs, which start every render themselves).
    void setAutoRender(bool enabled);

    /// Renders the current view in full with the current engine, canceling
    /// any render in progress. With the GUI thread engine, returns when done.
    void render();
    /// Shows the whole Mandelbrot set (at the next render).
    void showWholeSet();

    QAction *crashAction() const { return m_crashAction; }
    QAction *hangAction() const { return m_hangAction; }
    TileRenderer *renderer() const { return m_renderer; }
    MandelbrotView *view() const { return m_view; }
    PoolPanel *poolPanel() const { return m_poolPanel; }

Q_SIGNALS:
    /// A render ended, complete or canceled; largestGuiGapMs is filled in.
    void renderFinished(const RenderSummary &summary);

private:
    void createActions();
    void createToolBar();
    void createCentralArea();
    void createStatusBar();
    void scheduleRender();
    void injectFault(Fault fault);
    void updateActions();
    void updateViewLabel();
    void tileRendered(int tile, const TileImage &image);
    void tileFailed(int tile, const QtProcessPool::TaskError &error);
    void renderDone(RenderSummary summary);

    QtProcessPool::ProcessPool *m_pool;
    TileRenderer *m_renderer;
    MandelbrotView *m_view;
    ResponsivenessMeter *m_meter = nullptr;
    PoolPanel *m_poolPanel = nullptr;
    QTableWidget *m_timings = nullptr;
    QComboBox *m_engineBox = nullptr;
    QSpinBox *m_workersBox = nullptr;
    QSpinBox *m_iterationsBox = nullptr;
    QProgressBar *m_progress = nullptr;
    QLabel *m_viewLabel = nullptr;
    QAction *m_renderAction = nullptr;
    QAction *m_cancelAction = nullptr;
    QAction *m_wholeSetAction = nullptr;
    QAction *m_crashAction = nullptr;
    QAction *m_hangAction = nullptr;
    QAction *m_showWorkersAction = nullptr;
    QTimer m_renderTimer;
    bool m_autoRender = true;
    bool m_fullRender = false;    // the running render is a whole image (it is timed)
    qint64 m_renderStartedAt = 0; // on the meter's clock
};

#endif
