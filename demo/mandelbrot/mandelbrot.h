// SPDX-License-Identifier: MIT
// The demo's heavy work: one rectangular tile of the Mandelbrot set, rendered
// with 2x2 supersampling and smooth colouring. The same function runs on the
// GUI thread, on QtConcurrent threads and in ProcessPool worker processes.
#ifndef MANDELBROT_H
#define MANDELBROT_H

#include <QtCore/QDataStream>
#include <QtCore/QPointF>
#include <QtCore/QSize>
#include <QtGui/QImage>

/// Simulated bugs, so the demo can show what a process boundary buys.
enum class Fault : qint8 {
    None,
    Crash, ///< the tile function dereferences a null pointer half-way through
    Hang,  ///< the tile function never returns
};

/// Everything a worker needs to render one tile: it sees none of the GUI's memory.
struct TileJob
{
    QPointF origin;  ///< the complex number at the centre of the tile's top-left pixel
    double step = 0; ///< complex units per pixel (the imaginary axis points up)
    QSize size;      ///< pixels
    int maxIterations = 0;
    Fault fault = Fault::None;
};

struct TileImage
{
    QImage image;
    qint64 pid = 0; ///< the process that rendered it
    QString host;   ///< the machine it ran on (remote workers)
};

QDataStream &operator<<(QDataStream &out, const TileJob &job);
QDataStream &operator>>(QDataStream &in, TileJob &job);
QDataStream &operator<<(QDataStream &out, const TileImage &tile);
QDataStream &operator>>(QDataStream &in, TileImage &tile);

/// Renders one tile. Registered with the pool as "renderTile".
TileImage renderTile(const TileJob &job);

#endif
