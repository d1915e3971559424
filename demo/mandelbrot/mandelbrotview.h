// SPDX-License-Identifier: MIT
// Shows the image being rendered, tile by tile, and turns clicks, the mouse
// wheel and drags into new views of the complex plane.
#ifndef MANDELBROTVIEW_H
#define MANDELBROTVIEW_H

#include "mandelbrot.h"

#include <QtCore/QList>
#include <QtCore/QPointF>
#include <QtCore/QSizeF>
#include <QtGui/QImage>
#include <QtWidgets/QWidget>

class MandelbrotView : public QWidget
{
    Q_OBJECT

public:
    static constexpr int TileColumns = 8;
    static constexpr int TileRows = 8;

    explicit MandelbrotView(QWidget *parent = nullptr);

    /// Frames this rectangle of the complex plane (centre, width and height)
    /// in the next image, whatever the widget's size by then.
    void showRegion(QPointF center, QSizeF size);
    QPointF center() const { return m_center; }
    /// How many times the current view is magnified relative to the whole set.
    double zoom() const;

    /// Lays out a new image of the current view, shows the previous image
    /// moved and scaled to it (dimmed) until tiles arrive, and returns one job
    /// per tile: tile i is jobs[i], nearest the centre first.
    QList<TileJob> beginImage(int maxIterations);
    void setTilePending(int tile);
    void setTileImage(int tile, const TileImage &image);
    void setTileFailed(int tile, const QString &title, const QString &message);
    /// Frames each tile in the colour of the worker process that rendered it.
    void setShowWorkers(bool show);

    QSize sizeHint() const override;

Q_SIGNALS:
    /// The user zoomed or panned, or the widget was resized: a new image is due.
    void viewChanged();

protected:
    bool event(QEvent *event) override;
    void paintEvent(QPaintEvent *event) override;
    void resizeEvent(QResizeEvent *event) override;
    void mousePressEvent(QMouseEvent *event) override;
    void mouseMoveEvent(QMouseEvent *event) override;
    void mouseReleaseEvent(QMouseEvent *event) override;
    void wheelEvent(QWheelEvent *event) override;

private:
    enum class TileStatus { Pending, Rendered, Failed };
    struct Tile
    {
        QRect pixels; // in the canvas, device pixels
        TileStatus status = TileStatus::Pending;
        qint64 pid = 0;
        QString host;
        QString title;
        QString message;
    };

    /// The complex number under a point of the widget (logical pixels).
    QPointF complexAt(QPointF position) const;
    /// Magnifies by factor, keeping the complex number under anchor in place.
    void zoomAt(QPointF anchor, double factor);
    void setScale(double scale);
    QRectF logicalRect(const QRect &pixels) const;
    int tileAt(QPointF position) const;
    void paintFailedTile(QPainter &painter, const QRectF &rect, const Tile &tile) const;

    QPointF m_center{-0.75, 0.0};
    double m_scale = 0.004; // complex units per logical pixel
    QSizeF m_pendingRegion; // a region to frame at the next image

    QImage m_canvas; // device pixels
    qreal m_canvasRatio = 1;
    QPointF m_canvasCenter;
    double m_canvasScale = 0;
    QList<Tile> m_tiles;
    bool m_showWorkers = true;

    QPoint m_pressPosition;
    QPoint m_dragOffset;
    bool m_pressed = false;
    bool m_dragging = false;
};

#endif
