// SPDX-License-Identifier: MIT
// DurationSamples: the queue-wait and run-time figures of statistics(). The
// percentiles come from the last SampleCount samples (a ring buffer); the
// count, mean and maximum from every sample ever added. Added in
// nanoseconds, reported in milliseconds.
#include "pool/processpool_p.h"

#include <QtTest/QTest>

#include <algorithm>

using namespace QtProcessPool;

namespace {

constexpr qint64 Ms = 1000 * 1000; // nanoseconds

DurationSamples samplesOf(const QList<qint64> &milliseconds)
{
    DurationSamples samples;
    for (qint64 ms : milliseconds)
        samples.add(ms * Ms);
    return samples;
}

QList<qint64> range(qint64 from, qint64 to)
{
    QList<qint64> values;
    for (qint64 v = from; v <= to; ++v)
        values.append(v);
    return values;
}

} // namespace

class TestDurations : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void emptySummary();
    void summary_data();
    void summary();
    void fractionsOfAMillisecond();
    void fullBufferBeforeWrapping();
    void wrappingReplacesTheOldestSamples();
    void wrappingDropsSlowSamplesFromPercentilesOnly();
    void wrappingManyTimes();
};

void TestDurations::emptySummary()
{
    const Statistics::Durations d = DurationSamples().summary();
    QCOMPARE(d.samples, qint64(0));
    QCOMPARE(d.mean, 0.0);
    QCOMPARE(d.p50, 0.0);
    QCOMPARE(d.p95, 0.0);
    QCOMPARE(d.p99, 0.0);
    QCOMPARE(d.max, 0.0);
}

// Percentile p is the sorted sample at index floor(p * n), the last one at most.
void TestDurations::summary_data()
{
    QTest::addColumn<QList<qint64>>("milliseconds");
    QTest::addColumn<double>("mean");
    QTest::addColumn<double>("p50");
    QTest::addColumn<double>("p95");
    QTest::addColumn<double>("p99");
    QTest::addColumn<double>("max");

    QTest::newRow("one sample") << QList<qint64>{7} << 7.0 << 7.0 << 7.0 << 7.0 << 7.0;
    QTest::newRow("a zero sample") << QList<qint64>{0} << 0.0 << 0.0 << 0.0 << 0.0 << 0.0;
    QTest::newRow("two samples") << QList<qint64>{10, 20} << 15.0 << 20.0 << 20.0 << 20.0 << 20.0;
    QTest::newRow("all equal") << QList<qint64>(50, 3) << 3.0 << 3.0 << 3.0 << 3.0 << 3.0;
    QTest::newRow("one to a hundred") << range(1, 100) << 50.5 << 51.0 << 96.0 << 100.0 << 100.0;
    QList<qint64> reversed = range(1, 100);
    std::reverse(reversed.begin(), reversed.end());
    QTest::newRow("one to a hundred in reverse order")
        << reversed << 50.5 << 51.0 << 96.0 << 100.0 << 100.0;
    QTest::newRow("one to a thousand")
        << range(1, 1000) << 500.5 << 501.0 << 951.0 << 991.0 << 1000.0;
    QList<qint64> outlier(99, 1);
    outlier.append(1000);
    QTest::newRow("one slow sample in a hundred")
        << outlier << 10.99 << 1.0 << 1.0 << 1000.0 << 1000.0;
    QList<qint64> twoOutliers(98, 1);
    twoOutliers << 500 << 1000;
    QTest::newRow("two slow samples in a hundred")
        << twoOutliers << 15.98 << 1.0 << 1.0 << 1000.0 << 1000.0;
}

void TestDurations::summary()
{
    QFETCH(QList<qint64>, milliseconds);
    QFETCH(double, mean);
    QFETCH(double, p50);
    QFETCH(double, p95);
    QFETCH(double, p99);
    QFETCH(double, max);

    const Statistics::Durations d = samplesOf(milliseconds).summary();
    QCOMPARE(d.samples, qint64(milliseconds.size()));
    QCOMPARE(d.mean, mean);
    QCOMPARE(d.p50, p50);
    QCOMPARE(d.p95, p95);
    QCOMPARE(d.p99, p99);
    QCOMPARE(d.max, max);
}

void TestDurations::fractionsOfAMillisecond()
{
    DurationSamples samples;
    samples.add(1);          // one nanosecond
    samples.add(250 * 1000); // a quarter of a millisecond
    samples.add(1500 * 1000);
    const Statistics::Durations d = samples.summary();
    QCOMPARE(d.samples, qint64(3));
    QCOMPARE(d.p50, 0.25);
    QCOMPARE(d.max, 1.5);
    QCOMPARE(d.mean, (1 + 250e3 + 1500e3) / 3 / 1e6);
}

// Exactly SampleCount samples: the buffer is full, nothing replaced yet.
void TestDurations::fullBufferBeforeWrapping()
{
    DurationSamples samples;
    for (int i = 1; i <= DurationSamples::SampleCount; ++i)
        samples.add(i * Ms);
    const Statistics::Durations d = samples.summary();
    const double n = DurationSamples::SampleCount;
    QCOMPARE(d.samples, qint64(DurationSamples::SampleCount));
    QCOMPARE(d.p50, n * 0.50 + 1);
    QCOMPARE(d.p95, n * 0.95 + 1);
    QCOMPARE(d.p99, n * 0.99 + 1);
    QCOMPARE(d.max, n);
    QCOMPARE(d.mean, (n + 1) / 2);
}

// SampleCount samples of 1 ms, then half as many of 3 ms: the percentiles
// see the newest SampleCount, half of each; the mean sees all of them.
void TestDurations::wrappingReplacesTheOldestSamples()
{
    constexpr int N = DurationSamples::SampleCount;
    DurationSamples samples;
    for (int i = 0; i < N; ++i)
        samples.add(1 * Ms);
    for (int i = 0; i < N / 2; ++i)
        samples.add(3 * Ms);
    const Statistics::Durations d = samples.summary();
    QCOMPARE(d.samples, qint64(N + N / 2));
    QCOMPARE(d.p50, 3.0); // index N/2 of N/2 ones then N/2 threes
    QCOMPARE(d.p95, 3.0);
    QCOMPARE(d.p99, 3.0);
    QCOMPARE(d.max, 3.0);
    QCOMPARE(d.mean, (N * 1.0 + N / 2 * 3.0) / (N + N / 2));

    // One sample fewer of 3 ms: the median is still a 1 ms sample.
    DurationSamples fewer;
    for (int i = 0; i < N; ++i)
        fewer.add(1 * Ms);
    for (int i = 0; i < N / 2 - 1; ++i)
        fewer.add(3 * Ms);
    QCOMPARE(fewer.summary().p50, 1.0);
}

// The older half of the samples, far slower than the rest, leaves the
// percentiles once newer ones replace it, but stays in the maximum and mean.
void TestDurations::wrappingDropsSlowSamplesFromPercentilesOnly()
{
    constexpr int N = DurationSamples::SampleCount;
    DurationSamples samples;
    for (int i = 0; i < N / 2; ++i)
        samples.add(100000 * Ms);
    for (int i = 0; i < N / 2; ++i)
        samples.add(2 * Ms);
    QCOMPARE(samples.summary().p50, 100000.0); // still in the buffer

    for (int i = 0; i < N / 2; ++i)
        samples.add(2 * Ms); // replace them
    const Statistics::Durations d = samples.summary();
    QCOMPARE(d.samples, qint64(N + N / 2));
    QCOMPARE(d.p50, 2.0);
    QCOMPARE(d.p99, 2.0);
    QCOMPARE(d.max, 100000.0);
    QCOMPARE(d.mean, (N / 2 * 100000.0 + N * 2.0) / (N + N / 2));
}

// Round after round of the buffer: only the last SampleCount count.
void TestDurations::wrappingManyTimes()
{
    constexpr int N = DurationSamples::SampleCount;
    DurationSamples samples;
    for (int round = 1; round <= 5; ++round) {
        for (int i = 0; i < N; ++i)
            samples.add(qint64(round) * Ms);
    }
    samples.add(9 * Ms); // replaces one sample of the last round
    const Statistics::Durations d = samples.summary();
    QCOMPARE(d.samples, qint64(5 * N + 1));
    QCOMPARE(d.p50, 5.0);
    QCOMPARE(d.p99, 5.0);
    QCOMPARE(d.max, 9.0);
    QCOMPARE(d.mean, ((1.0 + 2 + 3 + 4 + 5) * N + 9) / (5 * N + 1));
}

QTEST_GUILESS_MAIN(TestDurations)

#include "tst_durations.moc"
