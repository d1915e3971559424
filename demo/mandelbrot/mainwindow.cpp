// SPDX-License-Identifier: MIT
#include "mainwindow.h"

#include "mandelbrotview.h"
#include "poolpanel.h"
#include "responsivenessmeter.h"

#include <QtProcessPool/ProcessPool>

#include <QtCore/QThread>
#include <QtGui/QAction>
#include <QtWidgets/QComboBox>
#include <QtWidgets/QGroupBox>
#include <QtWidgets/QHBoxLayout>
#include <QtWidgets/QHeaderView>
#include <QtWidgets/QLabel>
#include <QtWidgets/QProgressBar>
#include <QtWidgets/QSpinBox>
#include <QtWidgets/QStatusBar>
#include <QtWidgets/QTableWidget>
#include <QtWidgets/QToolBar>
#include <QtWidgets/QVBoxLayout>

using QtProcessPool::TaskError;

namespace {

// Seahorse valley: rich detail, and heavy enough to take seconds on one core.
const QPointF StartCenter(-0.7453, 0.1127);
const QSizeF StartRegion(0.012, 0.0092);
const QPointF WholeSetCenter(-0.75, 0.0);
const QSizeF WholeSetRegion(3.2, 2.4);
constexpr int RenderDelayMs = 100; // coalesces bursts of wheel events and resizes

QString failureTitle(TaskError::Kind kind)
{
    switch (kind) {
    case TaskError::Kind::Crashed:
        return MainWindow::tr("Worker crashed");
    case TaskError::Kind::TimedOut:
        return MainWindow::tr("Timed out");
    default:
        return TaskError::kindName(kind);
    }
}

QString seconds(qint64 ms)
{
    return MainWindow::tr("%1 s").arg(double(ms) / 1000.0, 0, 'f', 2);
}

} // namespace

MainWindow::MainWindow(QtProcessPool::ProcessPool *pool, QWidget *parent)
    : QMainWindow(parent)
    , m_pool(pool)
    , m_renderer(new TileRenderer(pool, this))
    , m_view(new MandelbrotView(this))
{
    setWindowTitle(tr("QtProcessPool demo: Mandelbrot explorer"));
    m_view->showRegion(StartCenter, StartRegion);

    createActions();
    createToolBar();
    createCentralArea();
    createStatusBar();

    m_renderTimer.setSingleShot(true);
    m_renderTimer.setInterval(RenderDelayMs);
    connect(&m_renderTimer, &QTimer::timeout, this, &MainWindow::render);
    connect(m_view, &MandelbrotView::viewChanged, this, [this] {
        updateViewLabel();
        scheduleRender();
    });

    connect(m_renderer, &TileRenderer::tileRendered, this, &MainWindow::tileRendered);
    connect(m_renderer, &TileRenderer::tileFailed, this, &MainWindow::tileFailed);
    connect(m_renderer, &TileRenderer::finished, this, &MainWindow::renderDone);
    connect(m_renderer, &TileRenderer::progressChanged, this, [this](int done, int total) {
        m_progress->setRange(0, total);
        m_progress->setValue(done);
        updateActions();
    });

    // Keep every worker started: the first render pays no start-up, and a
    // crashed worker is replaced at once (and shows up in the panel).
    setWorkerCount(QThread::idealThreadCount());
    updateActions();
    statusBar()->showMessage(
        tr("Click to zoom in, right-click to zoom out, wheel to zoom, drag to pan."));
}

MainWindow::~MainWindow() = default;

void MainWindow::createActions()
{
    m_renderAction = new QAction(QIcon(QStringLiteral(":/icons/render.png")), tr("&Render"), this);
    m_renderAction->setShortcut(QKeySequence::Refresh);
    m_renderAction->setToolTip(tr("Render the view again with the selected engine (F5)"));
    connect(m_renderAction, &QAction::triggered, this, &MainWindow::render);

    m_cancelAction = new QAction(QIcon(QStringLiteral(":/icons/cancel.png")), tr("&Cancel"), this);
    m_cancelAction->setShortcut(Qt::Key_Escape);
    m_cancelAction->setToolTip(tr("Cancel the tiles not rendered yet (Esc)"));
    connect(m_cancelAction, &QAction::triggered, m_renderer, &TileRenderer::cancel);

    m_wholeSetAction =
        new QAction(QIcon(QStringLiteral(":/icons/home.png")), tr("&Whole set"), this);
    m_wholeSetAction->setShortcut(Qt::Key_Home);
    m_wholeSetAction->setToolTip(tr("Zoom out to the whole Mandelbrot set (Home)"));
    connect(m_wholeSetAction, &QAction::triggered, this, [this] {
        showWholeSet();
        render();
    });

    m_crashAction =
        new QAction(QIcon(QStringLiteral(":/icons/crash.png")), tr("Crash a worker"), this);
    connect(m_crashAction, &QAction::triggered, this, [this] { injectFault(Fault::Crash); });

    m_hangAction =
        new QAction(QIcon(QStringLiteral(":/icons/hang.png")), tr("Hang a worker"), this);
    connect(m_hangAction, &QAction::triggered, this, [this] { injectFault(Fault::Hang); });

    m_showWorkersAction =
        new QAction(QIcon(QStringLiteral(":/icons/workers.png")), tr("Show workers"), this);
    m_showWorkersAction->setCheckable(true);
    m_showWorkersAction->setChecked(true);
    m_showWorkersAction->setToolTip(
        tr("Frame each tile in the colour of the worker process that rendered it"));
    connect(m_showWorkersAction, &QAction::toggled, m_view, &MandelbrotView::setShowWorkers);
}

void MainWindow::createToolBar()
{
    QToolBar *bar = addToolBar(tr("Render"));
    bar->setMovable(false);
    bar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    bar->setIconSize(QSize(22, 22));

    m_engineBox = new QComboBox(bar);
    const QList<std::pair<Engine, QString>> engines = {
        {Engine::GuiThread, tr("Calls the tile function in a loop on the GUI thread: the window "
                               "freezes until the image is done")},
        {Engine::Threads, tr("QtConcurrent::run() per tile on a thread pool: fast and smooth, "
                             "but a crash or a hang takes the application with it")},
        {Engine::ProcessPool, tr("ProcessPool::run() per tile in worker processes: as fast and "
                                 "smooth, and a crash or a hang costs one tile")},
    };
    for (const auto &[engine, description] : engines) {
        m_engineBox->addItem(engineName(engine), int(engine));
        m_engineBox->setItemData(m_engineBox->count() - 1, description, Qt::ToolTipRole);
    }
    m_engineBox->setCurrentIndex(m_engineBox->findData(int(Engine::ProcessPool)));
    m_engineBox->setToolTip(tr("Where the tiles are rendered"));
    connect(m_engineBox, &QComboBox::currentIndexChanged, this, [this] {
        updateActions();
        statusBar()->showMessage(tr("Engine: %1. Press Render (F5) or zoom to render with it.")
                                     .arg(engineName(engine())));
    });

    m_workersBox = new QSpinBox(bar);
    m_workersBox->setRange(1, 64);
    m_workersBox->setToolTip(tr("Worker processes of the pool, and threads of the Threads engine"));
    connect(m_workersBox, &QSpinBox::valueChanged, this, &MainWindow::setWorkerCount);

    m_iterationsBox = new QSpinBox(bar);
    m_iterationsBox->setRange(50, 100000);
    m_iterationsBox->setSingleStep(250);
    m_iterationsBox->setValue(DefaultIterations);
    m_iterationsBox->setToolTip(tr("Iterations per sample before a point counts as inside the set: "
                                   "more is slower and shows more detail when zoomed in"));
    connect(m_iterationsBox, &QSpinBox::editingFinished, this, &MainWindow::scheduleRender);

    const auto addLabeled = [bar](const QString &label, QWidget *widget) {
        auto *text = new QLabel(label, bar);
        text->setContentsMargins(6, 0, 4, 0);
        text->setBuddy(widget);
        bar->addWidget(text);
        bar->addWidget(widget);
    };
    addLabeled(tr("&Engine:"), m_engineBox);
    addLabeled(tr("W&orkers:"), m_workersBox);
    addLabeled(tr("&Iterations:"), m_iterationsBox);
    bar->addSeparator();
    bar->addAction(m_renderAction);
    bar->addAction(m_cancelAction);
    bar->addAction(m_wholeSetAction);
    bar->addSeparator();
    bar->addAction(m_crashAction);
    bar->addAction(m_hangAction);
    bar->addSeparator();
    bar->addAction(m_showWorkersAction);
}

// The image, and beside it the meter, the timings and the pool panel.
void MainWindow::createCentralArea()
{
    auto *side = new QWidget(this);
    side->setFixedWidth(350);
    auto *layout = new QVBoxLayout(side);
    layout->setContentsMargins(6, 6, 6, 6);

    auto *meterBox = new QGroupBox(tr("GUI responsiveness"), side);
    auto *meterLayout = new QVBoxLayout(meterBox);
    m_meter = new ResponsivenessMeter(meterBox);
    meterLayout->addWidget(m_meter);
    layout->addWidget(meterBox);

    auto *timingBox = new QGroupBox(tr("Last full render"), side);
    auto *timingLayout = new QVBoxLayout(timingBox);
    m_timings = new QTableWidget(3, 3, timingBox);
    m_timings->setHorizontalHeaderLabels({tr("Engine"), tr("Time"), tr("GUI gap")});
    m_timings->horizontalHeaderItem(2)->setToolTip(
        tr("The largest gap between two ticks of the GUI thread's 16 ms timer during the "
           "render: how long the GUI could not react"));
    m_timings->verticalHeader()->hide();
    m_timings->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_timings->setSelectionMode(QAbstractItemView::NoSelection);
    m_timings->setFocusPolicy(Qt::NoFocus);
    m_timings->setShowGrid(false);
    m_timings->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_timings->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    m_timings->setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    m_timings->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    const int rowHeight = fontMetrics().height() + 6;
    m_timings->verticalHeader()->setDefaultSectionSize(rowHeight);
    for (const Engine engine : {Engine::GuiThread, Engine::Threads, Engine::ProcessPool}) {
        const int row = int(engine);
        m_timings->setItem(row, 0, new QTableWidgetItem(engineName(engine)));
        for (int column = 1; column < 3; ++column) {
            auto *cell = new QTableWidgetItem(QStringLiteral("-"));
            cell->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            m_timings->setItem(row, column, cell);
        }
    }
    m_timings->setFixedHeight(m_timings->horizontalHeader()->sizeHint().height() + 3 * rowHeight +
                              2 * m_timings->frameWidth());
    timingLayout->addWidget(m_timings);
    layout->addWidget(timingBox);

    auto *poolBox = new QGroupBox(tr("Process pool"), side);
    auto *poolLayout = new QVBoxLayout(poolBox);
    m_poolPanel = new PoolPanel(m_pool, poolBox);
    poolLayout->addWidget(m_poolPanel);
    layout->addWidget(poolBox, 1);

    auto *central = new QWidget(this);
    auto *row = new QHBoxLayout(central);
    row->setContentsMargins(0, 0, 0, 0);
    row->setSpacing(0);
    row->addWidget(m_view, 1);
    row->addWidget(side);
    setCentralWidget(central);
}

void MainWindow::createStatusBar()
{
    m_viewLabel = new QLabel(this);
    m_progress = new QProgressBar(this);
    m_progress->setFormat(tr("%v / %m tiles"));
    m_progress->setRange(0, MandelbrotView::TileColumns * MandelbrotView::TileRows);
    m_progress->setValue(0);
    m_progress->setFixedWidth(200);
    statusBar()->addPermanentWidget(m_viewLabel);
    statusBar()->addPermanentWidget(m_progress);
    updateViewLabel();
}

Engine MainWindow::engine() const
{
    return Engine(m_engineBox->currentData().toInt());
}

void MainWindow::setEngine(Engine engine)
{
    m_engineBox->setCurrentIndex(m_engineBox->findData(int(engine)));
}

int MainWindow::workerCount() const
{
    return m_workersBox->value();
}

void MainWindow::setWorkerCount(int count)
{
    if (m_workersBox->value() != count) {
        m_workersBox->setValue(count); // comes back here through valueChanged
        return;
    }
    m_pool->setMaxWorkers(count);
    m_pool->setMinWorkers(count);
    m_pool->prestart();
    m_renderer->setThreadCount(count);
}

int MainWindow::maxIterations() const
{
    return m_iterationsBox->value();
}

void MainWindow::setMaxIterations(int iterations)
{
    m_iterationsBox->setValue(iterations);
}

void MainWindow::setAutoRender(bool enabled)
{
    m_autoRender = enabled;
    if (!enabled)
        m_renderTimer.stop();
}

void MainWindow::showWholeSet()
{
    m_view->showRegion(WholeSetCenter, WholeSetRegion);
}

void MainWindow::scheduleRender()
{
    if (m_autoRender)
        m_renderTimer.start();
}

void MainWindow::render()
{
    m_renderTimer.stop();
    m_renderer->cancel(); // reported as canceled before the new render begins
    const QList<TileJob> jobs = m_view->beginImage(maxIterations());
    updateViewLabel();
    m_fullRender = true;
    m_renderStartedAt = m_meter->now();
    if (engine() == Engine::GuiThread) {
        statusBar()->showMessage(tr("Rendering on the GUI thread: the window is frozen until "
                                    "the image is done..."));
        statusBar()->repaint(); // the last paint the window gets until then
    } else {
        statusBar()->showMessage(tr("Rendering with %1...").arg(engineName(engine())));
    }
    m_renderer->start(engine(), jobs);
    updateActions();
}

void MainWindow::injectFault(Fault fault)
{
    const bool wasRunning = m_renderer->isRunning();
    const int tile = m_renderer->injectFault(fault);
    updateActions();
    if (tile < 0) {
        statusBar()->showMessage(tr("Render an image first."));
        return;
    }
    if (!wasRunning) {
        m_fullRender = false; // a one-tile render: not timed
        m_renderStartedAt = m_meter->now();
        m_view->setTilePending(tile);
    }
    statusBar()->showMessage(
        fault == Fault::Crash
            ? tr("Tile %1 will crash its worker half-way (a null pointer write)...").arg(tile + 1)
            : tr("Tile %1 will hang its worker; its 2 s timeout will end it...").arg(tile + 1));
}

void MainWindow::updateActions()
{
    const bool running = m_renderer->isRunning();
    m_cancelAction->setEnabled(running);
    // In a thread, a crash or an endless loop would take the whole
    // application down: only the process pool can show them off.
    const bool pool = engine() == Engine::ProcessPool;
    const QString onlyPool =
        tr("\nOnly with the process pool engine: in a thread it would take the application down.");
    m_crashAction->setEnabled(pool);
    m_crashAction->setToolTip(
        tr("Render a tile with a bug that crashes its worker process (segmentation fault): the "
           "tile fails, the pool replaces the worker, the render goes on.") +
        (pool ? QString() : onlyPool));
    m_hangAction->setEnabled(pool);
    m_hangAction->setToolTip(
        tr("Render a tile with a bug that loops forever: after its 2 s timeout the pool kills "
           "the worker and replaces it, the render goes on.") +
        (pool ? QString() : onlyPool));
}

void MainWindow::updateViewLabel()
{
    const QPointF c = m_view->center();
    m_viewLabel->setText(tr("%1 %2 %3i  ·  zoom ×%4")
                             .arg(c.x(), 0, 'f', 8)
                             .arg(c.y() < 0 ? QLatin1Char('-') : QLatin1Char('+'))
                             .arg(std::abs(c.y()), 0, 'f', 8)
                             .arg(m_view->zoom(), 0, 'g', 4));
}

void MainWindow::tileRendered(int tile, const TileImage &image)
{
    m_view->setTileImage(tile, image);
}

void MainWindow::tileFailed(int tile, const TaskError &error)
{
    m_view->setTileFailed(tile, failureTitle(error.kind()), error.message());
    statusBar()->showMessage(
        tr("Tile %1 failed: %2. The render goes on.").arg(tile + 1).arg(error.message()));
}

void MainWindow::renderDone(RenderSummary summary)
{
    summary.largestGuiGapMs = m_meter->largestGapSince(m_renderStartedAt);
    updateActions();
    if (summary.canceled) {
        statusBar()->showMessage(tr("Canceled after %1 of %2 tiles.")
                                     .arg(summary.rendered + summary.failures.size())
                                     .arg(summary.tiles));
    } else {
        QString message = tr("%1 of %2 tiles in %3 with %4; largest GUI gap %5 ms.")
                              .arg(summary.rendered)
                              .arg(summary.tiles)
                              .arg(seconds(summary.elapsedMs), engineName(summary.engine))
                              .arg(summary.largestGuiGapMs);
        if (!summary.failures.isEmpty()) {
            message += QLatin1Char(' ') + tr("%n tile(s) failed; the pool went on.", nullptr,
                                             int(summary.failures.size()));
        }
        statusBar()->showMessage(message);
        if (m_fullRender) {
            const int row = int(summary.engine);
            m_timings->item(row, 1)->setText(seconds(summary.elapsedMs));
            m_timings->item(row, 2)->setText(tr("%1 ms").arg(summary.largestGuiGapMs));
            for (int r = 0; r < m_timings->rowCount(); ++r) {
                for (int column = 0; column < m_timings->columnCount(); ++column) {
                    QFont font = m_timings->item(r, column)->font();
                    font.setBold(r == row);
                    m_timings->item(r, column)->setFont(font);
                }
            }
        }
    }
    m_fullRender = false;
    Q_EMIT renderFinished(summary);
}
