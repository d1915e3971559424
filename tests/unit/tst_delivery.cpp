// SPDX-License-Identifier: MIT
// Delivery: counts before futures, the pacing of deliveries against the
// pool's thread (here the test's own thread, which answers markers only when
// told to), and the one coalesced stateChanged(). No process.
#include "pool/delivery.h"
#include "pool/platform.h"
#include "pool/processpool_p.h"

#include <QtCore/QElapsedTimer>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

using namespace QtProcessPool;

namespace {

struct Fixture
{
    SharedState shared;
    int resumed = 0;
    Delivery delivery{&shared, [this] { ++resumed; }, nullptr};
    QSignalSpy markers{&delivery, &Delivery::deliveryMarker};
    QSignalSpy states{&delivery, &Delivery::stateChanged};

    Fixture() { shared.poolThreadId = platform::currentKernelThreadId(); }
    void deliverWindows(int windows)
    {
        for (int i = 0; i < windows * Delivery::Window; ++i)
            delivery.noteDelivered();
    }
};

} // namespace

class TestDelivery : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void countsComeFirst()
    {
        Fixture f;
        f.shared.running = 1;
        f.shared.queued = 1;
        Task running;
        running.state = Task::State::Running;
        running.startedAt = steadyNow() - 2000000; // ran 2 ms
        f.delivery.count(running, Delivery::Outcome::Finished, nullptr);
        QCOMPARE(f.shared.running.load(), 0);
        QCOMPARE(f.shared.statistics.counts.finished, qint64(1));
        QVERIFY(f.delivery.recentRunNs() >= 2000000);
        Task queued;
        const TaskError error(TaskError::Kind::WorkerStartFailed, QStringLiteral("no program"));
        f.delivery.count(queued, Delivery::Outcome::Failed, &error);
        QCOMPARE(f.shared.queued.load(), 0);
        QCOMPARE(f.shared.statistics.counts.failed, qint64(1));
        QCOMPARE(f.shared.statistics.counts.failedByKind.value(TaskError::Kind::WorkerStartFailed),
                 qint64(1));
        const double runNs = f.delivery.recentRunNs();
        f.delivery.count(queued, Delivery::Outcome::Canceled, nullptr); // never ran: no run time
        QCOMPARE(f.delivery.recentRunNs(), runNs);
        QCOMPARE(f.shared.statistics.counts.canceled, qint64(1));
    }

    void oneMarkerPerWindow()
    {
        Fixture f;
        for (int i = 0; i < Delivery::Window - 1; ++i)
            f.delivery.noteDelivered();
        QCOMPARE(f.markers.count(), 0);
        f.delivery.noteDelivered();
        QCOMPARE(f.markers.count(), 1);
        QVERIFY(!f.delivery.readPaused()); // one window on its way: read on
        f.delivery.onMarker();
        f.deliverWindows(1);
        QCOMPARE(f.markers.count(), 2);
        QVERIFY(!f.delivery.readPaused());
    }

    void twoWindowsOnTheirWayPauseReading()
    {
        Fixture f;
        f.deliverWindows(2);
        QCOMPARE(f.markers.count(), 1);
        QVERIFY(f.delivery.readPaused());
        QCOMPARE(f.resumed, 0);
        f.delivery.onMarker(); // the pool's thread answered: the next window is marked
        QCOMPARE(f.markers.count(), 2);
        QVERIFY(!f.delivery.readPaused());
        QCOMPARE(f.resumed, 1);
    }

    void silentPoolThreadTurnsPacingOff()
    {
        // Blocked (here: sleeping, not on a CPU, not submitting) past the
        // limit: holding results back would only delay them.
        Fixture f;
        f.deliverWindows(2);
        QVERIFY(f.delivery.readPaused());
        QThread::msleep(2 * Delivery::MaxPauseMs);
        QTRY_COMPARE_WITH_TIMEOUT(f.resumed, 1, 5000);
        QVERIFY(!f.delivery.readPaused());
        f.deliverWindows(3); // pacing off: no pause however many windows
        QVERIFY(!f.delivery.readPaused());
        f.delivery.onMarker(); // it answers again: pacing is back
        f.deliverWindows(2);
        QVERIFY(f.delivery.readPaused());
    }

    void submittingPoolThreadStaysPaused()
    {
        Fixture f;
        f.deliverWindows(2);
        QVERIFY(f.delivery.readPaused());
        QElapsedTimer clock;
        clock.start();
        while (clock.elapsed() < 5 * Delivery::MaxPauseMs) {
            // A loop of run() calls: a submission before every look at its events.
            ++f.shared.ownThreadSubmissions;
            QCoreApplication::processEvents();
        }
        QVERIFY(f.delivery.readPaused());
        QCOMPARE(f.resumed, 0);
        f.delivery.onMarker();
        QCOMPARE(f.resumed, 1);
    }

    void stateChangesAreCoalesced()
    {
        Fixture f;
        f.delivery.notifyCounts();
        QCOMPARE(f.states.count(), 1); // the first at once
        QVERIFY(f.shared.notificationPending.load());
        f.delivery.notifyCounts();
        f.delivery.notifyCounts();
        QCOMPARE(f.states.count(), 1); // held back
        // One on its way: no second until the pool's thread took it.
        QTest::qWait(3 * Delivery::StateIntervalMs);
        QCOMPARE(f.states.count(), 1);
        f.shared.notificationPending = false; // the pool's thread read the counts
        f.delivery.notifyCounts();
        QTRY_COMPARE_WITH_TIMEOUT(f.states.count(), 2, 5000);
        QTest::qWait(3 * Delivery::StateIntervalMs);
        QCOMPARE(f.states.count(), 2);
    }

    void idleIsTold()
    {
        Fixture f;
        f.delivery.notifyIdle();
        QVERIFY(f.shared.idleReached.load());
        QCOMPARE(f.states.count(), 1);
    }

    void nothingAfterStop()
    {
        Fixture f;
        f.delivery.stop();
        f.delivery.notifyCounts();
        f.delivery.notifyIdle();
        QTest::qWait(3 * Delivery::StateIntervalMs);
        QCOMPARE(f.states.count(), 0);
    }
};

QTEST_GUILESS_MAIN(TestDelivery)
#include "tst_delivery.moc"
