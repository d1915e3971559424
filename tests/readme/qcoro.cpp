// SPDX-License-Identifier: MIT
// The README's QCoro example ("Using it in your project", section "Coroutines
// (QCoro)"; QCoro 0.8), compiled and run: the part between "README begin" and
// "README end" is in the README word for word (readme_snippets checks it). The
// rest awaits it three ways: a result, a TaskError, and a task the pool cancels
// when it is destroyed, which must give std::nullopt, not a crash inside QCoro.
#include "support.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QElapsedTimer>
#include <QtCore/QThread>

#include <cstdio>

// README begin: QCoro
#include <QtProcessPool/ProcessPool>

#include <QCoro/QCoroFuture>
#include <QCoro/QCoroTask>

#include <optional>

int countPrimes(int limit);
QPP_REGISTER_TASK(countPrimes)

// QCoro 0.8 awaits a QFuture by calling result(), which crashes on a canceled
// future, and the pool cancels what is pending when it is destroyed or the
// application quits. Await this instead: canceled gives std::nullopt, and a
// TaskError is still thrown by co_await.
template <typename T>
QFuture<std::optional<T>> orNullopt(QFuture<T> future)
{
    auto values = future.then([](T value) { return std::optional<T>(std::move(value)); });
    return values.onCanceled([] { return std::optional<T>(); });
}

QCoro::Task<QString> describePrimes(QtProcessPool::ProcessPool &pool, int limit)
{
    try {
        const std::optional<int> primes = co_await orNullopt(pool.run(countPrimes, limit));
        if (!primes)
            co_return QStringLiteral("canceled"); // the pool may be gone: do not use it
        co_return QStringLiteral("%1 primes below %2").arg(*primes).arg(limit);
    } catch (const QtProcessPool::TaskError &error) {
        co_return QStringLiteral("failed: %1").arg(error.message());
    }
}
// README end

namespace {
QCoro::Task<> record(QtProcessPool::ProcessPool &pool, int limit, QString *text)
{
    *text = co_await describePrimes(pool, limit);
}

} // namespace

int main(int argc, char **argv)
{
    if (QtProcessPool::isWorkerProcess(argc, argv))
        return QtProcessPool::execWorker(argc, argv);
    QCoreApplication app(argc, argv);
    bool ok = true;
    auto check = [&](const QString &text, const char *expected) {
        const bool same = text == QLatin1String(expected);
        std::printf("%s: '%s' (expected '%s')\n", same ? "ok" : "FAILED", qPrintable(text),
                    expected);
        ok = ok && same;
    };

    auto *pool = new QtProcessPool::ProcessPool;
    pool->setMaxWorkers(1);
    QString result, failure, canceled;
    record(*pool, 100000, &result);
    record(*pool, -1, &failure);
    waitFor([&] { return !result.isEmpty() && !failure.isEmpty(); });
    check(result, "9592 primes below 100000");
    check(failure, "failed: negative limit");

    record(*pool, 200000000, &canceled); // still running when the pool goes
    QElapsedTimer timer;
    timer.start();
    waitFor([&] { return timer.elapsed() > 300; });
    delete pool; // cancels it
    waitFor([&] { return !canceled.isEmpty(); });
    check(canceled, "canceled");
    return ok ? 0 : 1;
}
