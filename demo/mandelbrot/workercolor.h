// SPDX-License-Identifier: MIT
#ifndef WORKERCOLOR_H
#define WORKERCOLOR_H

#include <QtCore/QHash>
#include <QtGui/QColor>

#include <cmath>

/// A colour per worker process, shared by the image's tile frames and the pool
/// panel (GUI thread only). Workers get hues in the order they are first seen,
/// golden-ratio steps apart, so any few of them look clearly different.
inline QColor workerColor(qint64 pid)
{
    static QHash<qint64, int> order;
    const auto it = order.constFind(pid);
    const int index = it != order.constEnd() ? *it : *order.insert(pid, int(order.size()));
    const double hue = std::fmod(0.58 + index * 0.6180339887498949, 1.0);
    return QColor::fromHsvF(float(hue), 0.7f, 0.95f);
}

#endif
