// SPDX-License-Identifier: MIT
#include "selfcheck.h"

#include <QtProcessPool/ProcessPool>

#include <QtCore/QElapsedTimer>
#include <QtCore/QEventLoop>
#include <QtCore/QMutex>
#include <QtCore/QObject>
#include <QtCore/QTimer>

#include <chrono>
#include <cstdio>

namespace {

constexpr int WaitMs = 60000; // generous: the machine may be small and busy

QMutex warningsMutex;
QStringList warnings; // guarded by warningsMutex
QtMessageHandler previousHandler = nullptr;

/// Notices about the environment the check runs in, not about the program.
bool aboutTheEnvironment(const QString &message)
{
    return message.startsWith(QLatin1String("QStandardPaths: XDG_RUNTIME_DIR"));
}

void collectWarnings(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    if (type != QtDebugMsg && type != QtInfoMsg && !aboutTheEnvironment(message)) {
        QMutexLocker lock(&warningsMutex);
        warnings.append(
            QStringLiteral("[%1] %2").arg(QString::fromLatin1(context.category), message));
    }
    previousHandler(type, context, message);
}

QStringList collectedWarnings()
{
    QMutexLocker lock(&warningsMutex);
    return warnings;
}

} // namespace

void SelfCheck::installWarningCollector()
{
    previousHandler = qInstallMessageHandler(collectWarnings);
}

SelfCheck::SelfCheck(QObject *window, QtProcessPool::ProcessPool &pool)
    : m_window(window)
    , m_pool(pool)
{
}

int SelfCheck::run()
{
    // Each part stops at its first failure; the settings are checked anyway.
    if (waitUntil("QML shows the prestarted worker (workerCount)",
                  [&] { return text("workersLabel") == QLatin1String("1"); }) &&
        startAndCancel()) {
        countToTheEnd();
    }
    settingsBothWays();
    workerLeaves();
    waitUntil("QML shows the pool idle again", [&] {
        return text("busyLabel") == QLatin1String("0") &&
               text("queuedLabel") == QLatin1String("0") &&
               text("runningLabel") == QLatin1String("0");
    });
    for (const QString &warning : collectedWarnings())
        m_failures.append(QStringLiteral("warning logged: ") + warning);
    for (const QString &failure : m_failures)
        std::fprintf(stderr, "self-check FAILED: %s\n", qPrintable(failure));
    if (!m_failures.isEmpty())
        return 1;
    std::printf("self-check passed: progress, cancel, result and pool bindings seen in QML, "
                "no warning\n");
    return 0;
}

bool SelfCheck::startAndCancel()
{
    // Large enough never to finish before it is canceled.
    item("limitBox")->setProperty("value", 2000);
    click("startButton");
    const auto barValue = [&] { return value("progressBar", "value").toDouble(); };
    if (!waitUntil("QML's progress bar moves", [&] {
            return barValue() > 0 && barValue() < value("progressBar", "to").toDouble();
        })) {
        return false;
    }
    if (!waitUntil("QML shows the running task (busyWorkerCount, runningTaskCount)", [&] {
            return text("busyLabel") == QLatin1String("1") &&
                   text("runningLabel") == QLatin1String("1");
        })) {
        return false;
    }
    if (!step("Cancel is enabled while it runs, Start is not",
              value("cancelButton", "enabled").toBool() &&
                  !value("startButton", "enabled").toBool())) {
        return false;
    }
    click("cancelButton");
    return waitUntil("QML shows the task canceled",
                     [&] { return text("statusLabel") == QLatin1String("Canceled"); }) &&
           waitUntil("QML shows the worker free again", [&] {
               return text("busyLabel") == QLatin1String("0") &&
                      text("runningLabel") == QLatin1String("0") &&
                      value("startButton", "enabled").toBool();
           });
}

bool SelfCheck::countToTheEnd()
{
    item("limitBox")->setProperty("value", 2);
    click("startButton");
    const QString expected = QStringLiteral("148933 primes below 2000000");
    if (!waitUntil("QML shows the result", [&] { return text("statusLabel") == expected; }))
        return false;
    return step("QML's progress bar is full",
                value("progressBar", "value").toDouble() == 2000000.0 &&
                    value("progressBar", "to").toDouble() == 2000000.0);
}

bool SelfCheck::settingsBothWays()
{
    using namespace std::chrono_literals;
    // QML to the pool: a SpinBox writes maxWorkers and idleTimeoutMs.
    const int maxWorkers = m_pool.maxWorkers();
    stepSpinBox("maxWorkersBox");
    if (!step("a QML SpinBox writes maxWorkers", m_pool.maxWorkers() == maxWorkers + 1))
        return false;
    // The pool to QML: the SpinBox's binding follows the NOTIFY signal.
    m_pool.setMaxWorkers(maxWorkers);
    if (!waitUntil("QML follows setMaxWorkers()",
                   [&] { return value("maxWorkersBox", "value").toInt() == maxWorkers; })) {
        return false;
    }
    m_pool.setIdleTimeout(45s);
    if (!waitUntil("QML follows setIdleTimeout() (idleTimeoutMs)",
                   [&] { return value("idleTimeoutBox", "value").toInt() == 45; })) {
        return false;
    }
    stepSpinBox("idleTimeoutBox");
    return step("a QML SpinBox writes idleTimeoutMs", m_pool.idleTimeout() == 46s);
}

bool SelfCheck::workerLeaves()
{
    using namespace std::chrono_literals;
    // Idle for 100 ms after this count, the only worker exits (minWorkers 0).
    m_pool.setIdleTimeout(100ms);
    item("limitBox")->setProperty("value", 1);
    click("startButton");
    return waitUntil("QML shows a second result",
                     [&] {
                         return text("statusLabel") == QLatin1String("78498 primes below 1000000");
                     }) &&
           waitUntil("QML shows the idle worker gone (workerCount)",
                     [&] { return text("workersLabel") == QLatin1String("0"); });
}

bool SelfCheck::step(const char *what, bool ok)
{
    if (!ok)
        m_failures.append(QString::fromLatin1(what));
    else
        std::printf("ok: %s\n", what);
    std::fflush(stdout);
    return ok;
}

bool SelfCheck::waitUntil(const char *what, const std::function<bool()> &condition)
{
    QElapsedTimer elapsed;
    elapsed.start();
    QEventLoop loop;
    QTimer poll;
    QObject::connect(&poll, &QTimer::timeout, &loop, [&] {
        if (condition() || elapsed.hasExpired(WaitMs))
            loop.quit();
    });
    poll.start(5);
    if (!condition())
        loop.exec();
    return step(what, condition());
}

QObject *SelfCheck::item(const char *objectName)
{
    QObject *found = m_window->findChild<QObject *>(QString::fromLatin1(objectName));
    if (!found)
        qFatal("self-check: no QML item named %s", objectName);
    return found;
}

QString SelfCheck::text(const char *objectName)
{
    return value(objectName, "text").toString();
}

QVariant SelfCheck::value(const char *objectName, const char *property)
{
    return item(objectName)->property(property);
}

void SelfCheck::click(const char *objectName)
{
    QMetaObject::invokeMethod(item(objectName), "clicked");
}

/// As a user's click on the up arrow: one step, then valueModified().
void SelfCheck::stepSpinBox(const char *objectName)
{
    QObject *box = item(objectName);
    QMetaObject::invokeMethod(box, "increase");
    QMetaObject::invokeMethod(box, "valueModified");
}
