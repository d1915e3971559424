// SPDX-License-Identifier: MIT
// Measures how responsive the GUI thread is: a 16 ms timer ticks on it, and
// every gap between two ticks is recorded. A blocked event loop shows up as a
// large gap, as a jump in the spinner, and as a spike in the history.
#ifndef RESPONSIVENESSMETER_H
#define RESPONSIVENESSMETER_H

#include <QtCore/QElapsedTimer>
#include <QtCore/QList>
#include <QtCore/QTimer>
#include <QtWidgets/QWidget>

class ResponsivenessMeter : public QWidget
{
    Q_OBJECT

public:
    static constexpr int TickMs = 16;

    explicit ResponsivenessMeter(QWidget *parent = nullptr);

    /// Milliseconds on the meter's clock.
    qint64 now() const { return m_clock.elapsed(); }
    /// The largest gap between ticks that ended after since (a time from
    /// now()), including the one still open.
    qint64 largestGapSince(qint64 since) const;
    /// The largest gap over the last second.
    qint64 recentLargestGap() const { return largestGapSince(now() - 1000); }

    QSize sizeHint() const override;

protected:
    void paintEvent(QPaintEvent *event) override;

private:
    struct Tick
    {
        qint64 time;
        qint64 gap;
    };

    void tick();
    void paintSpinner(QPainter &painter, const QRectF &area) const;
    void paintHistory(QPainter &painter, const QRectF &area) const;

    QTimer m_timer;
    QElapsedTimer m_clock;
    QList<Tick> m_ticks; // the last HistoryMs
    qint64 m_lastTick = 0;
};

#endif
