// SPDX-License-Identifier: MIT
#include "responsivenessmeter.h"

#include <QtGui/QPainter>
#include <QtGui/QPainterPath>

#include <algorithm>
#include <cmath>

namespace {

constexpr qint64 KeptMs = 120'000; // long enough to cover any render
constexpr qint64 ShownMs = 5000;   // the history graph
constexpr double GraphFloorMs = 10;
constexpr double GraphCeilingMs = 5000;
constexpr double Pi = 3.14159265358979323846;

QColor severityColor(qint64 gapMs)
{
    if (gapMs <= 50)
        return QColor(70, 200, 110);
    if (gapMs <= 200)
        return QColor(240, 180, 40);
    return QColor(235, 70, 60);
}

// 10 ms at the bottom, 5 s at the top, logarithmic in between.
double graphHeight(double gapMs)
{
    const double clamped = std::clamp(gapMs, GraphFloorMs, GraphCeilingMs);
    return std::log(clamped / GraphFloorMs) / std::log(GraphCeilingMs / GraphFloorMs);
}

} // namespace

ResponsivenessMeter::ResponsivenessMeter(QWidget *parent)
    : QWidget(parent)
{
    setToolTip(tr("A %1 ms timer ticks on the GUI thread. The number is the longest time between "
                  "two ticks over the last second: about %1 ms when the GUI is responsive. The "
                  "spinner moves only on ticks, so it stutters when the GUI thread is blocked.")
                   .arg(TickMs));
    m_clock.start();
    m_timer.setTimerType(Qt::PreciseTimer);
    m_timer.setInterval(TickMs);
    connect(&m_timer, &QTimer::timeout, this, &ResponsivenessMeter::tick);
    m_timer.start();
}

QSize ResponsivenessMeter::sizeHint() const
{
    return {320, 120};
}

qint64 ResponsivenessMeter::largestGapSince(qint64 since) const
{
    qint64 largest = now() - m_lastTick;
    for (auto it = m_ticks.crbegin(); it != m_ticks.crend() && it->time > since; ++it)
        largest = std::max(largest, it->gap);
    return largest;
}

void ResponsivenessMeter::tick()
{
    const qint64 time = now();
    m_ticks.append({time, time - m_lastTick});
    m_lastTick = time;
    while (!m_ticks.isEmpty() && m_ticks.first().time < time - KeptMs)
        m_ticks.removeFirst();
    update();
}

void ResponsivenessMeter::paintEvent(QPaintEvent *)
{
    QPainter painter(this);
    painter.setRenderHint(QPainter::Antialiasing);
    const QRectF area = QRectF(rect()).adjusted(4, 4, -4, -4);
    const qreal spinnerSize = std::min<qreal>(64, area.height() * 0.55);
    const QRectF spinner(area.topLeft(), QSizeF(spinnerSize, spinnerSize));
    paintSpinner(painter, spinner);

    const qint64 gap = recentLargestGap();
    QFont big = font();
    big.setPointSizeF(big.pointSizeF() * 1.9);
    big.setBold(true);
    painter.setFont(big);
    painter.setPen(severityColor(gap));
    const QRectF textArea(spinner.right() + 12, spinner.top(), area.right() - spinner.right() - 12,
                          spinnerSize * 0.62);
    painter.drawText(textArea, Qt::AlignLeft | Qt::AlignBottom, tr("%1 ms").arg(gap));
    painter.setFont(font());
    painter.setPen(palette().color(QPalette::PlaceholderText));
    painter.drawText(QRectF(textArea.left(), textArea.bottom(), textArea.width(),
                            spinnerSize - textArea.height()),
                     Qt::AlignLeft | Qt::AlignTop, tr("largest GUI gap, last second"));

    paintHistory(painter, QRectF(area.left(), spinner.bottom() + 6, area.width(),
                                 area.bottom() - spinner.bottom() - 6));
}

void ResponsivenessMeter::paintSpinner(QPainter &painter, const QRectF &area) const
{
    // One turn per second, advanced only when the timer ticks.
    constexpr int Dots = 12;
    const double turn = double(m_lastTick % 1000) / 1000.0;
    const QPointF centre = area.center();
    const double radius = area.width() / 2 - 6;
    for (int i = 0; i < Dots; ++i) {
        const double angle = 2 * Pi * (turn - double(i) / (Dots * 2));
        const QPointF dot = centre + QPointF(std::sin(angle), -std::cos(angle)) * radius;
        QColor color = palette().color(QPalette::Highlight);
        color.setAlphaF(float(1.0 - double(i) / Dots));
        painter.setPen(Qt::NoPen);
        painter.setBrush(color);
        const double size = 5.5 - 3.0 * i / Dots;
        painter.drawEllipse(dot, size, size);
    }
}

void ResponsivenessMeter::paintHistory(QPainter &painter, const QRectF &area) const
{
    if (area.height() < 10)
        return;
    painter.fillRect(area, palette().color(QPalette::Base));
    painter.setPen(palette().color(QPalette::Mid));
    painter.setBrush(Qt::NoBrush);
    painter.drawRect(area);

    // Reference lines: one tick, a noticeable stall, a frozen second.
    QFont small = font();
    small.setPointSizeF(small.pointSizeF() * 0.8);
    painter.setFont(small);
    for (const auto &[ms, label] :
         {std::pair{16.0, QStringLiteral("16 ms")}, std::pair{100.0, QStringLiteral("100 ms")},
          std::pair{1000.0, QStringLiteral("1 s")}}) {
        const double y = area.bottom() - graphHeight(ms) * area.height();
        painter.setPen(QPen(palette().color(QPalette::Mid), 1, Qt::DotLine));
        painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y));
        painter.setPen(palette().color(QPalette::PlaceholderText));
        painter.drawText(QRectF(area.left() + 3, y - 14, 60, 14), Qt::AlignLeft | Qt::AlignBottom,
                         label);
    }

    // One bar per tick over the last seconds; a stall is a wide, tall bar.
    const qint64 end = now();
    const qint64 start = end - ShownMs;
    const double pixelsPerMs = area.width() / ShownMs;
    painter.setPen(Qt::NoPen);
    for (auto it = m_ticks.crbegin(); it != m_ticks.crend() && it->time > start; ++it) {
        const double right = area.right() - (end - it->time) * pixelsPerMs;
        const double left = std::max(area.left(), right - it->gap * pixelsPerMs);
        const double height = graphHeight(double(it->gap)) * area.height();
        QColor color = severityColor(it->gap);
        color.setAlpha(200);
        painter.setBrush(color);
        painter.drawRect(QRectF(left, area.bottom() - height, std::max(1.0, right - left), height));
    }
}
