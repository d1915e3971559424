// SPDX-License-Identifier: MIT
#include "mandelbrotview.h"

#include "workercolor.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QSysInfo>
#include <QtGui/QFontMetricsF>
#include <QtGui/QHelpEvent>
#include <QtGui/QMouseEvent>
#include <QtGui/QPainter>
#include <QtGui/QWheelEvent>
#include <QtWidgets/QToolTip>

#include <algorithm>
#include <cmath>

namespace {

const QColor Background(16, 16, 24);
const QColor PendingShade(8, 8, 16, 170);
constexpr double WholeSetWidth = 3.2;
constexpr double SmallestScale = 2e-14; // beyond this, doubles run out of digits
constexpr double LargestScale = 0.05;
constexpr int DragThreshold = 4;

} // namespace

MandelbrotView::MandelbrotView(QWidget *parent)
    : QWidget(parent)
{
    setAttribute(Qt::WA_OpaquePaintEvent);
    setCursor(Qt::CrossCursor);
    setMinimumSize(320, 240);
    setToolTip(tr("Click to zoom in, right-click to zoom out, wheel to zoom, drag to pan"));
}

QSize MandelbrotView::sizeHint() const
{
    return {940, 720};
}

void MandelbrotView::showRegion(QPointF center, QSizeF size)
{
    m_center = center;
    m_pendingRegion = size;
}

double MandelbrotView::zoom() const
{
    return WholeSetWidth / (m_scale * std::max(1, width()));
}

QList<TileJob> MandelbrotView::beginImage(int maxIterations)
{
    const QSize logical = size();
    if (logical.isEmpty())
        return {};
    if (m_pendingRegion.isValid()) {
        setScale(std::max(m_pendingRegion.width() / logical.width(),
                          m_pendingRegion.height() / logical.height()));
        m_pendingRegion = QSizeF();
    }
    const qreal ratio = devicePixelRatioF();
    const QSize pixels = (QSizeF(logical) * ratio).toSize();
    const double step = m_scale / ratio; // complex units per device pixel

    // Until its tiles arrive, the new image shows the old one moved and scaled
    // to the new view: zooming feels immediate even when rendering is not.
    QImage canvas(pixels, QImage::Format_RGB32);
    canvas.fill(Background);
    if (!m_canvas.isNull()) {
        const double oldStep = m_canvasScale / m_canvasRatio;
        const double factor = oldStep / step;
        const QTransform transform =
            QTransform::fromTranslate(-m_canvas.width() / 2.0, -m_canvas.height() / 2.0) *
            QTransform::fromScale(factor, factor) *
            QTransform::fromTranslate(
                pixels.width() / 2.0 + (m_canvasCenter.x() - m_center.x()) / step,
                pixels.height() / 2.0 - (m_canvasCenter.y() - m_center.y()) / step);
        QPainter painter(&canvas);
        painter.setRenderHint(QPainter::SmoothPixmapTransform);
        painter.setTransform(transform);
        painter.drawImage(0, 0, m_canvas);
    }
    m_canvas = canvas;
    m_canvasRatio = ratio;
    m_canvasCenter = m_center;
    m_canvasScale = m_scale;

    m_tiles.clear();
    for (int row = 0; row < TileRows; ++row) {
        const int top = row * pixels.height() / TileRows;
        const int bottom = (row + 1) * pixels.height() / TileRows;
        for (int column = 0; column < TileColumns; ++column) {
            const int left = column * pixels.width() / TileColumns;
            const int right = (column + 1) * pixels.width() / TileColumns;
            Tile tile;
            tile.pixels = QRect(left, top, right - left, bottom - top);
            m_tiles.append(tile);
        }
    }
    // The centre first: that is where the eye is.
    const QPointF middle(pixels.width() / 2.0, pixels.height() / 2.0);
    std::stable_sort(m_tiles.begin(), m_tiles.end(), [middle](const Tile &a, const Tile &b) {
        const QPointF da = QRectF(a.pixels).center() - middle;
        const QPointF db = QRectF(b.pixels).center() - middle;
        return QPointF::dotProduct(da, da) < QPointF::dotProduct(db, db);
    });

    QList<TileJob> jobs;
    jobs.reserve(m_tiles.size());
    for (const Tile &tile : std::as_const(m_tiles)) {
        TileJob job;
        job.origin =
            QPointF(m_center.x() + (tile.pixels.left() + 0.5 - pixels.width() / 2.0) * step,
                    m_center.y() - (tile.pixels.top() + 0.5 - pixels.height() / 2.0) * step);
        job.step = step;
        job.size = tile.pixels.size();
        job.maxIterations = maxIterations;
        jobs.append(job);
    }
    update();
    return jobs;
}

void MandelbrotView::setTilePending(int tile)
{
    Tile &t = m_tiles[tile];
    t.status = TileStatus::Pending;
    t.title.clear();
    t.message.clear();
    update(logicalRect(t.pixels).toAlignedRect());
}

void MandelbrotView::setTileImage(int tile, const TileImage &image)
{
    Tile &t = m_tiles[tile];
    t.status = TileStatus::Rendered;
    t.pid = image.pid;
    t.host = image.host;
    QPainter painter(&m_canvas);
    painter.drawImage(t.pixels.topLeft(), image.image);
    update(logicalRect(t.pixels).toAlignedRect());
}

void MandelbrotView::setTileFailed(int tile, const QString &title, const QString &message)
{
    Tile &t = m_tiles[tile];
    t.status = TileStatus::Failed;
    t.title = title;
    t.message = message;
    update(logicalRect(t.pixels).toAlignedRect());
}

void MandelbrotView::setShowWorkers(bool show)
{
    m_showWorkers = show;
    update();
}

QPointF MandelbrotView::complexAt(QPointF position) const
{
    return {m_center.x() + (position.x() - width() / 2.0) * m_scale,
            m_center.y() - (position.y() - height() / 2.0) * m_scale};
}

void MandelbrotView::zoomAt(QPointF anchor, double factor)
{
    const QPointF fixed = complexAt(anchor);
    setScale(m_scale / factor);
    m_center = QPointF(fixed.x() - (anchor.x() - width() / 2.0) * m_scale,
                       fixed.y() + (anchor.y() - height() / 2.0) * m_scale);
}

void MandelbrotView::setScale(double scale)
{
    m_scale = std::clamp(scale, SmallestScale, LargestScale);
}

QRectF MandelbrotView::logicalRect(const QRect &pixels) const
{
    return {pixels.x() / m_canvasRatio, pixels.y() / m_canvasRatio, pixels.width() / m_canvasRatio,
            pixels.height() / m_canvasRatio};
}

int MandelbrotView::tileAt(QPointF position) const
{
    for (int i = 0; i < m_tiles.size(); ++i) {
        if (logicalRect(m_tiles.at(i).pixels).translated(m_dragOffset).contains(position))
            return i;
    }
    return -1;
}

bool MandelbrotView::event(QEvent *event)
{
    if (event->type() == QEvent::ToolTip) {
        auto *help = static_cast<QHelpEvent *>(event);
        const int index = tileAt(help->pos());
        QString text = toolTip();
        if (index >= 0) {
            const Tile &tile = m_tiles.at(index);
            switch (tile.status) {
            case TileStatus::Pending:
                text = tr("Tile %1: waiting").arg(index + 1);
                break;
            case TileStatus::Rendered:
                text =
                    tile.pid == QCoreApplication::applicationPid()
                        ? tr("Tile %1: rendered in this process (pid %2)")
                              .arg(index + 1)
                              .arg(tile.pid)
                    : tile.host != QSysInfo::machineHostName()
                        ? tr("Tile %1: rendered on %2 by worker process %3")
                              .arg(index + 1)
                              .arg(tile.host)
                              .arg(tile.pid)
                        : tr("Tile %1: rendered by worker process %2").arg(index + 1).arg(tile.pid);
                break;
            case TileStatus::Failed:
                text = tr("Tile %1 failed (%2): %3").arg(index + 1).arg(tile.title, tile.message);
                break;
            }
        }
        QToolTip::showText(help->globalPos(), text, this);
        return true;
    }
    return QWidget::event(event);
}

void MandelbrotView::paintEvent(QPaintEvent *)
{
    QPainter painter(this);
    painter.fillRect(rect(), Background);
    painter.translate(m_dragOffset);
    if (!m_canvas.isNull())
        painter.drawImage(logicalRect(m_canvas.rect()), m_canvas);

    const qint64 ownPid = QCoreApplication::applicationPid();
    for (const Tile &tile : std::as_const(m_tiles)) {
        const QRectF rect = logicalRect(tile.pixels);
        switch (tile.status) {
        case TileStatus::Pending:
            painter.fillRect(rect, PendingShade);
            break;
        case TileStatus::Rendered:
            if (m_showWorkers && tile.pid != ownPid) {
                QColor color = workerColor(tile.pid);
                color.setAlpha(150);
                painter.setPen(QPen(color, 1));
                painter.setBrush(Qt::NoBrush);
                painter.drawRect(rect.adjusted(0.5, 0.5, -0.5, -0.5));
                color.setAlpha(230);
                painter.fillRect(QRectF(rect.topLeft() + QPointF(3, 3), QSizeF(6, 6)), color);
            }
            break;
        case TileStatus::Failed:
            paintFailedTile(painter, rect, tile);
            break;
        }
    }
}

void MandelbrotView::paintFailedTile(QPainter &painter, const QRectF &rect, const Tile &tile) const
{
    painter.fillRect(rect, QColor(90, 0, 0, 200));
    painter.fillRect(rect, QBrush(QColor(255, 70, 70, 190), Qt::BDiagPattern));
    painter.setPen(QPen(QColor(255, 90, 90), 2));
    painter.setBrush(Qt::NoBrush);
    painter.drawRect(rect.adjusted(1, 1, -1, -1));

    // The title in bold, the message below it: the largest font, down to
    // 6 pt, at which both fit the tile.
    const QRectF area = rect.adjusted(6, 6, -6, -6);
    constexpr int Flags = Qt::AlignHCenter | Qt::AlignTop | Qt::TextWordWrap;
    QFont titleFont = font();
    titleFont.setBold(true);
    QFont messageFont = font();
    QRectF titleRect, messageRect;
    for (qreal size = 9; size >= 6; size -= 0.5) {
        titleFont.setPointSizeF(size + 1);
        messageFont.setPointSizeF(size);
        titleRect = QFontMetricsF(titleFont).boundingRect(area, Flags, tile.title);
        messageRect = QFontMetricsF(messageFont).boundingRect(area, Flags, tile.message);
        if (titleRect.height() + messageRect.height() + 2 <= area.height())
            break;
    }
    const qreal height = std::min(area.height(), titleRect.height() + 2 + messageRect.height());
    const qreal top = area.top() + (area.height() - height) / 2;
    titleRect.moveTop(top);
    messageRect.moveTop(titleRect.bottom() + 2);
    const QRectF box = titleRect.united(messageRect).adjusted(-4, -3, 4, 3).intersected(rect);
    painter.fillRect(box, QColor(0, 0, 0, 180));
    painter.setPen(Qt::white);
    painter.setFont(titleFont);
    painter.drawText(QRectF(area.left(), titleRect.top(), area.width(), titleRect.height()), Flags,
                     tile.title);
    painter.setFont(messageFont);
    painter.drawText(QRectF(area.left(), messageRect.top(), area.width(),
                            std::max(0.0, area.bottom() - messageRect.top())),
                     Flags, tile.message);
}

void MandelbrotView::resizeEvent(QResizeEvent *event)
{
    QWidget::resizeEvent(event);
    Q_EMIT viewChanged();
}

void MandelbrotView::mousePressEvent(QMouseEvent *event)
{
    if (event->button() != Qt::LeftButton && event->button() != Qt::RightButton)
        return QWidget::mousePressEvent(event);
    m_pressed = true;
    m_dragging = false;
    m_pressPosition = event->position().toPoint();
}

void MandelbrotView::mouseMoveEvent(QMouseEvent *event)
{
    if (!m_pressed || !(event->buttons() & Qt::LeftButton))
        return;
    const QPoint offset = event->position().toPoint() - m_pressPosition;
    if (!m_dragging && offset.manhattanLength() < DragThreshold)
        return;
    if (!m_dragging) {
        m_dragging = true;
        setCursor(Qt::ClosedHandCursor);
    }
    m_dragOffset = offset;
    update();
}

void MandelbrotView::mouseReleaseEvent(QMouseEvent *event)
{
    if (!m_pressed)
        return QWidget::mouseReleaseEvent(event);
    m_pressed = false;
    if (m_dragging) {
        m_dragging = false;
        m_center -= QPointF(m_dragOffset.x() * m_scale, -m_dragOffset.y() * m_scale);
        m_dragOffset = QPoint();
        setCursor(Qt::CrossCursor);
    } else {
        // A click centres the point clicked, zoomed in (left) or out (right).
        m_center = complexAt(event->position());
        setScale(event->button() == Qt::LeftButton ? m_scale / 2 : m_scale * 2);
    }
    Q_EMIT viewChanged();
}

void MandelbrotView::wheelEvent(QWheelEvent *event)
{
    const double steps = event->angleDelta().y() / 120.0;
    if (steps == 0)
        return;
    zoomAt(event->position(), std::pow(1.25, steps));
    Q_EMIT viewChanged();
}
