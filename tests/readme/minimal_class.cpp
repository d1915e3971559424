// SPDX-License-Identifier: MIT
// The README's examples in "Using it in your project", sections "A whole
// class" and "Qt 6.4: onCanceled after onFailed never runs", compiled and
// run: each part between "README begin" and "README end" is in the README
// word for word (readme_snippets checks it). The rest drives them: a result,
// a failure, a cancel, and the Qt 6.4 onCanceled pitfall.
#include "support.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QElapsedTimer>
#include <QtCore/QLibraryInfo>
#include <QtCore/QThread>
#include <QtCore/QVersionNumber>

#include <cstdio>

// README begin: minimal class
#include <QtProcessPool/ProcessPool>

#include <QtCore/QObject>

int countPrimes(int limit); // may throw; runs in a worker process
QPP_REGISTER_TASK(countPrimes)

class PrimeCounter : public QObject
{
    Q_OBJECT
public:
    using QObject::QObject;

    void count(int limit)
    {
        m_future = m_pool.run(countPrimes, limit); // never blocks
        m_future
            .then(this, [this, limit](int primes) { Q_EMIT counted(limit, primes); })
            // onCanceled before onFailed: see "Qt 6.4: onCanceled after onFailed".
            .onCanceled(this, [this] { Q_EMIT canceled(); })
            .onFailed(this, [this](const QtProcessPool::TaskError &error) {
                Q_EMIT failed(error.message()); // error.kind(): Exception, Crashed, ...
            });
    }
    void cancel() { m_future.cancel(); } // a queued task never starts

Q_SIGNALS:
    void counted(int limit, int primes);
    void failed(const QString &message);
    void canceled();

private:
    // Destroyed with this object: what is still pending is canceled, and
    // no worker outlives it.
    QtProcessPool::ProcessPool m_pool;
    QFuture<int> m_future;
};
// README end

namespace {
int slowTask(int ms)
{
    QThread::msleep(ms);
    return ms;
}
} // namespace
QPP_REGISTER_TASK(slowTask)

// Which handlers of the two chains run when a task is canceled.
struct Ran
{
    bool failedFirst = false;   // then().onFailed().onCanceled(): its onCanceled
    bool canceledFirst = false; // then().onCanceled().onFailed(): its onCanceled
};

void pitfall(QtProcessPool::ProcessPool &pool, QObject *context, Ran &ran)
{
    // README begin: onCanceled pitfall
    // Qt 6.4: never runs onCanceled for a canceled task (nor then or onFailed).
    pool.run(slowTask, 1000)
        .then(context, [](int) {})
        .onFailed(context, [] { /* ... */ })
        .onCanceled(context, [&] { ran.failedFirst = true; });
    // Every Qt 6 version: onCanceled first; a TaskError passes it to onFailed.
    pool.run(slowTask, 1000)
        .then(context, [](int) {})
        .onCanceled(context, [&] { ran.canceledFirst = true; })
        .onFailed(context, [] { /* ... */ });
    // README end
}

int main(int argc, char **argv)
{
    if (QtProcessPool::isWorkerProcess(argc, argv))
        return QtProcessPool::execWorker(argc, argv);
    QCoreApplication app(argc, argv);
    bool ok = true;
    auto check = [&](bool condition, const char *what) {
        std::printf("%s: %s\n", condition ? "ok" : "FAILED", what);
        ok = ok && condition;
    };

    {
        PrimeCounter counter;
        int primes = -1;
        QString error;
        int canceled = 0;
        QObject::connect(&counter, &PrimeCounter::counted, [&](int, int n) { primes = n; });
        QObject::connect(&counter, &PrimeCounter::failed, [&](const QString &m) { error = m; });
        QObject::connect(&counter, &PrimeCounter::canceled, [&] { ++canceled; });

        counter.count(100000);
        check(waitFor([&] { return primes >= 0; }) && primes == 9592, "counted() with 9592 primes");
        counter.count(-1);
        check(waitFor([&] { return !error.isEmpty(); }) && error == QLatin1String("negative limit"),
              "failed() with the task's message");
        check(primes == 9592 && canceled == 0, "no other handler ran");
        counter.count(200000000); // long: still running or queued when canceled
        counter.cancel();
        check(waitFor([&] { return canceled == 1; }), "canceled() after cancel()");
    }

    {
        QObject context;
        Ran ran;
        auto *pool = new QtProcessPool::ProcessPool;
        pitfall(*pool, &context, ran);
        QElapsedTimer timer;
        timer.start();
        waitFor([&] { return timer.elapsed() > 300; });
        delete pool; // cancels both tasks
        waitFor([&] { return ran.canceledFirst; });
        check(ran.canceledFirst, "onCanceled before onFailed runs for a canceled task");
        std::printf("Qt %s: onCanceled after onFailed %s\n", qVersion(),
                    ran.failedFirst ? "ran" : "did not run");
        if (QLibraryInfo::version() < QVersionNumber(6, 5))
            check(!ran.failedFirst, "Qt 6.4: onCanceled after onFailed does not run");
    }
    return ok ? 0 : 1;
}

#include "minimal_class.moc"
