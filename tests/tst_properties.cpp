// SPDX-License-Identifier: MIT
// The pool as QML and QMetaProperty see it: every property notifies, exactly
// when its value changes; the int milliseconds twins of the durations; the
// counts' signals with real workers; TaskError::Kind as a Q_ENUM.
#include "tasks.h"
#include "testmain.h"
#include "testutil.h"

#include <QtProcessPool/ProcessPool>

#include <QtCore/QMetaEnum>
#include <QtCore/QMetaProperty>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <algorithm>
#include <climits>
#include <map>

using namespace QtProcessPool;
using namespace TestTasks;
using namespace TestUtil;
using namespace std::chrono_literals;

namespace {

const QMetaObject &poolMeta()
{
    return ProcessPool::staticMetaObject;
}

QMetaProperty poolProperty(const char *name)
{
    return poolMeta().property(poolMeta().indexOfProperty(name));
}

/// A value different from the default, for every writable property.
QVariant newValueFor(const QByteArray &name)
{
    static const std::map<QByteArray, QVariant> values = {
        {"objectName", QStringLiteral("pool")},
        {"maxWorkers", 7},
        {"minWorkers", 2},
        {"idleTimeout", QVariant::fromValue(std::chrono::milliseconds(4500))},
        {"idleTimeoutMs", 4600},
        {"maxTasksPerWorker", 10},
        {"taskTimeout", QVariant::fromValue(std::chrono::milliseconds(2500))},
        {"taskTimeoutMs", 2600},
        {"cancelGracePeriod", QVariant::fromValue(std::chrono::milliseconds(300))},
        {"cancelGracePeriodMs", 350},
        {"workerStartTimeout", QVariant::fromValue(std::chrono::milliseconds(3000))},
        {"workerStartTimeoutMs", 3100},
        {"maxQueuedTasks", 50},
        {"maxMessageSize", qint64(1) << 20},
        {"workerMemoryLimit", qint64(1) << 31},
        {"maxWorkerRss", qint64(1) << 29},
    };
    const auto it = values.find(name);
    return it == values.end() ? QVariant() : it->second;
}

QString toString(const QList<int> &values)
{
    QStringList parts;
    for (int v : values)
        parts.append(QString::number(v));
    return parts.join(QLatin1Char(' '));
}

/// The int milliseconds property and its std::chrono twin.
const std::pair<const char *, const char *> DurationPairs[] = {
    {"idleTimeoutMs", "idleTimeout"},
    {"taskTimeoutMs", "taskTimeout"},
    {"cancelGracePeriodMs", "cancelGracePeriod"},
    {"workerStartTimeoutMs", "workerStartTimeout"},
};

/// The values a count property's notify signal carried, in order.
class CountLog : public QSignalSpy
{
public:
    CountLog(ProcessPool &pool, const char *propertyName)
        : QSignalSpy(&pool, poolProperty(propertyName).notifySignal())
    {
    }
    QList<int> values() const
    {
        QList<int> result;
        for (const QList<QVariant> &arguments : *this)
            result.append(arguments.at(0).toInt());
        return result;
    }
    int last() const { return isEmpty() ? 0 : values().last(); }
    int max() const
    {
        const QList<int> v = values();
        return v.isEmpty() ? 0 : *std::max_element(v.begin(), v.end());
    }
    /// A signal carried the value the one before it did.
    bool repeated() const
    {
        const QList<int> v = values();
        return std::adjacent_find(v.begin(), v.end()) != v.end();
    }
};

} // namespace

class TestProperties : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void everyPropertyHasNotifySignal();
    void writingNotifiesOnce_data();
    void writingNotifiesOnce();
    void clampedToSameValueIsSilent();
    void workerProgramNotifies();
    void millisecondsMatchChrono_data();
    void millisecondsMatchChrono();
    void countsNotifyWithRealWorkers();
    void kindIsMetaEnum();
};

void TestProperties::everyPropertyHasNotifySignal()
{
    const QMetaObject &meta = poolMeta();
    QVERIFY(meta.propertyCount() - meta.propertyOffset() >= 20);
    for (int i = 0; i < meta.propertyCount(); ++i) {
        const QMetaProperty p = meta.property(i);
        QVERIFY2(p.hasNotifySignal() || p.isConstant(),
                 qPrintable(QStringLiteral("%1 has no NOTIFY").arg(QString::fromLatin1(p.name()))));
        QVERIFY2(p.notifySignal().methodType() == QMetaMethod::Signal, p.name());
        // A notify signal passes nothing or the property's own type.
        const QMetaMethod signal = p.notifySignal();
        QVERIFY2(signal.parameterCount() == 0 ||
                     (signal.parameterCount() == 1 && signal.parameterMetaType(0) == p.metaType()),
                 p.name());
    }
    for (const auto &[ms, chrono] : DurationPairs) {
        const QMetaProperty msProperty = poolProperty(ms);
        QVERIFY2(msProperty.isValid(), ms);
        QCOMPARE(msProperty.metaType(), QMetaType::fromType<int>());
        QVERIFY(msProperty.isWritable());
        QCOMPARE(msProperty.notifySignalIndex(), poolProperty(chrono).notifySignalIndex());
    }
}

void TestProperties::writingNotifiesOnce_data()
{
    QTest::addColumn<QByteArray>("name");
    const QMetaObject &meta = poolMeta();
    for (int i = 0; i < meta.propertyCount(); ++i) {
        const QMetaProperty p = meta.property(i);
        if (p.isWritable())
            QTest::newRow(p.name()) << QByteArray(p.name());
    }
}

void TestProperties::writingNotifiesOnce()
{
    QFETCH(QByteArray, name);
    const QVariant value = newValueFor(name);
    QVERIFY2(value.isValid(), "add a new value for this property to newValueFor()");
    ProcessPool pool;
    const QMetaProperty p = poolProperty(name.constData());
    QVERIFY(p.read(&pool) != value);
    QSignalSpy spy(&pool, p.notifySignal());
    QVERIFY(p.write(&pool, value));
    QCOMPARE(spy.count(), 1);
    QCOMPARE(p.read(&pool), value);
    if (p.notifySignal().parameterCount() == 1)
        QCOMPARE(spy.at(0).at(0), value);
    QVERIFY(p.write(&pool, value)); // the same again: nothing changes
    QCOMPARE(spy.count(), 1);
}

void TestProperties::clampedToSameValueIsSilent()
{
    ProcessPool pool;
    pool.setMaxWorkers(0);
    pool.setWorkerStartTimeout(1ms);
    QSignalSpy maxWorkers(&pool, &ProcessPool::maxWorkersChanged);
    QSignalSpy minWorkers(&pool, &ProcessPool::minWorkersChanged);
    QSignalSpy startTimeout(&pool, &ProcessPool::workerStartTimeoutChanged);
    QSignalSpy idleTimeout(&pool, &ProcessPool::idleTimeoutChanged);
    QSignalSpy messageSize(&pool, &ProcessPool::maxMessageSizeChanged);
    pool.setMaxWorkers(-1);          // clamped to 0
    pool.setMinWorkers(-3);          // clamped to 0, the default
    pool.setWorkerStartTimeout(0ms); // clamped to 1 ms
    pool.setProperty("workerStartTimeoutMs", -5);
    pool.setIdleTimeout(pool.idleTimeout());
    pool.setProperty("idleTimeoutMs", pool.property("idleTimeoutMs"));
    pool.setMaxMessageSize(pool.maxMessageSize());
    QCOMPARE(maxWorkers.count(), 0);
    QCOMPARE(minWorkers.count(), 0);
    QCOMPARE(startTimeout.count(), 0);
    QCOMPARE(idleTimeout.count(), 0);
    QCOMPARE(messageSize.count(), 0);
    pool.setMaxMessageSize(1); // clamped to 64 KiB: a change
    QCOMPARE(messageSize.count(), 1);
    QCOMPARE(messageSize.at(0).at(0).toLongLong(), pool.maxMessageSize());
    pool.setMaxMessageSize(2); // clamped to 64 KiB again
    QCOMPARE(messageSize.count(), 1);
}

void TestProperties::workerProgramNotifies()
{
    ProcessPool pool;
    const QMetaProperty p = poolProperty("workerProgram");
    QVERIFY(p.hasNotifySignal());
    QSignalSpy spy(&pool, &ProcessPool::workerProgramChanged);
    pool.setWorkerProgram(QCoreApplication::applicationFilePath()); // what it already is
    QCOMPARE(spy.count(), 0);
    pool.setWorkerProgram(QStringLiteral("/bin/true"));
    QCOMPARE(spy.count(), 1);
    QCOMPARE(spy.at(0).at(0).toString(), QStringLiteral("/bin/true"));
    QCOMPARE(p.read(&pool).toString(), QStringLiteral("/bin/true"));
    pool.setWorkerProgram(QStringLiteral("/bin/true"), {QStringLiteral("--flag")}); // args only
    QCOMPARE(spy.count(), 1);
    pool.setWorkerProgram(QString()); // back to the application's own
    QCOMPARE(spy.count(), 2);
    QCOMPARE(spy.at(1).at(0).toString(), QCoreApplication::applicationFilePath());
}

void TestProperties::millisecondsMatchChrono_data()
{
    QTest::addColumn<QByteArray>("ms");
    QTest::addColumn<QByteArray>("chrono");
    for (const auto &[ms, chrono] : DurationPairs)
        QTest::newRow(ms) << QByteArray(ms) << QByteArray(chrono);
}

void TestProperties::millisecondsMatchChrono()
{
    QFETCH(QByteArray, ms);
    QFETCH(QByteArray, chrono);
    ProcessPool pool;
    const QMetaProperty msProperty = poolProperty(ms.constData());
    const QMetaProperty chronoProperty = poolProperty(chrono.constData());
    const auto chronoValue = [&] {
        return chronoProperty.read(&pool).value<std::chrono::milliseconds>();
    };
    QCOMPARE(msProperty.read(&pool).toInt(), int(chronoValue().count())); // the defaults
    QSignalSpy spy(&pool, chronoProperty.notifySignal());

    QVERIFY(chronoProperty.write(&pool, QVariant::fromValue(std::chrono::milliseconds(1234))));
    QCOMPARE(msProperty.read(&pool).toInt(), 1234);
    QVERIFY(msProperty.write(&pool, 4321));
    QCOMPARE(chronoValue(), std::chrono::milliseconds(4321));
    QCOMPARE(spy.count(), 2);
    QVERIFY(msProperty.write(&pool, 4321));
    QVERIFY(chronoProperty.write(&pool, QVariant::fromValue(std::chrono::milliseconds(4321))));
    QCOMPARE(spy.count(), 2);

    // A negative write is clamped as the std::chrono setter clamps it.
    QVERIFY(msProperty.write(&pool, -7));
    const qint64 floor = ms == "workerStartTimeoutMs" ? 1 : 0;
    QCOMPARE(chronoValue().count(), floor);
    QCOMPARE(msProperty.read(&pool).toInt(), int(floor));
    QCOMPARE(spy.count(), 3);

    // Beyond an int's range: the ms view saturates, the duration stays exact.
    const auto long_ = std::chrono::milliseconds(qint64(INT_MAX) * 3);
    QVERIFY(chronoProperty.write(&pool, QVariant::fromValue(long_)));
    QCOMPARE(chronoValue(), long_);
    QCOMPARE(msProperty.read(&pool).toInt(), INT_MAX);
    QCOMPARE(spy.count(), 4);
}

void TestProperties::countsNotifyWithRealWorkers()
{
    ProcessPool pool;
    pool.setMaxWorkers(2);
    pool.setIdleTimeout(300ms); // so the workers leave once it is over
    CountLog workers(pool, "workerCount");
    CountLog busy(pool, "busyWorkerCount");
    CountLog queued(pool, "queuedTaskCount");
    CountLog running(pool, "runningTaskCount");
    QVERIFY(workers.isValid() && busy.isValid() && queued.isValid() && running.isValid());
    QSignalSpy idle(&pool, &ProcessPool::idle);

    QList<QFuture<int>> futures;
    for (int i = 0; i < 4; ++i)
        futures.append(pool.run(sleepThenSquare, 400, i));
    QVERIFY(pool.waitForDone(Generous));
    for (int i = 0; i < 4; ++i)
        QCOMPARE(futures[i].result(), i * i);

    // Every signal carried a new value, and each count went up as work began.
    QTRY_COMPARE_WITH_TIMEOUT(running.last(), 0, Generous);
    QTRY_COMPARE_WITH_TIMEOUT(queued.last(), 0, Generous);
    QTRY_COMPARE_WITH_TIMEOUT(busy.last(), 0, Generous);
    QCOMPARE(workers.max(), 2);
    QVERIFY2(busy.max() >= 1, qPrintable(toString(busy.values())));
    QVERIFY(queued.max() >= 2); // 4 submitted, at most 2 started at first
    QVERIFY(running.max() >= 1);
    QCOMPARE(pool.runningTaskCount(), 0);
    QCOMPARE(pool.queuedTaskCount(), 0);
    QVERIFY(idle.count() >= 1);

    // Idle for 300 ms: the workers leave, and the count follows them to 0.
    QTRY_COMPARE_WITH_TIMEOUT(workers.last(), 0, Generous);
    QCOMPARE(pool.workerCount(), 0);
    QVERIFY2(!workers.repeated(), qPrintable(toString(workers.values())));
    QVERIFY2(!busy.repeated(), qPrintable(toString(busy.values())));
    QVERIFY2(!queued.repeated(), qPrintable(toString(queued.values())));
    QVERIFY2(!running.repeated(), qPrintable(toString(running.values())));

    // Nothing changes any more: nothing is emitted.
    const auto emitted = [&] {
        return workers.count() + busy.count() + queued.count() + running.count();
    };
    const auto before = emitted();
    QTest::qWait(200);
    QCOMPARE(emitted(), before);
}

void TestProperties::kindIsMetaEnum()
{
    using Kind = TaskError::Kind;
    const std::pair<Kind, const char *> kinds[] = {
        {Kind::Exception, "Exception"},
        {Kind::Crashed, "Crashed"},
        {Kind::TimedOut, "TimedOut"},
        {Kind::UnknownTask, "UnknownTask"},
        {Kind::BadArguments, "BadArguments"},
        {Kind::ProtocolError, "ProtocolError"},
        {Kind::WorkerStartFailed, "WorkerStartFailed"},
        {Kind::QueueFull, "QueueFull"},
        {Kind::WorkerLost, "WorkerLost"},
    };
    const QMetaEnum meta = QMetaEnum::fromType<Kind>();
    QVERIFY(meta.isValid());
    QVERIFY(meta.isScoped());
    QCOMPARE(meta.name(), "Kind");
    QCOMPARE(meta.keyCount(), int(std::size(kinds)));
    int value = 0;
    for (const auto &[kind, name] : kinds) {
        QCOMPARE(int(kind), value++); // the values are the API's: unchanged
        QCOMPARE(meta.valueToKey(int(kind)), name);
        QCOMPARE(TaskError::kindName(kind), QString::fromLatin1(name));
        QString logged;
        QDebug(&logged) << kind;
        QCOMPARE(logged.trimmed(),
                 QStringLiteral("QtProcessPool::TaskError::Kind::") + QString::fromLatin1(name));
    }
    QCOMPARE(TaskError::kindName(Kind(99)), QStringLiteral("Unknown"));
}

QPP_TEST_MAIN(TestProperties)
#include "tst_properties.moc"
