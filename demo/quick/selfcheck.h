// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_DEMO_QUICK_SELFCHECK_H
#define QTPROCESSPOOL_DEMO_QUICK_SELFCHECK_H

#include <QtCore/QStringList>
#include <QtCore/QVariant>

#include <functional>

class QObject;
namespace QtProcessPool {
class ProcessPool;
}

/// --self-check (ctest, offscreen): drives the QML window as a user would and
/// checks what its bindings show. Collects every warning this process logs
/// (a binding on a property without NOTIFY, a type QML cannot read, a
/// TypeError...) from the moment install() is called; any one fails the run.
class SelfCheck
{
public:
    /// Before the QML engine exists, so that no warning escapes.
    static void installWarningCollector();

    SelfCheck(QObject *window, QtProcessPool::ProcessPool &pool);
    /// Runs every step; returns the exit code (0: all passed, and no warning).
    int run();

private:
    bool step(const char *what, bool ok);
    bool waitUntil(const char *what, const std::function<bool()> &condition);
    QObject *item(const char *objectName);
    QString text(const char *objectName);
    QVariant value(const char *objectName, const char *property);
    void click(const char *objectName);
    void stepSpinBox(const char *objectName);

    bool startAndCancel();
    bool countToTheEnd();
    bool settingsBothWays();
    bool workerLeaves();

    QObject *m_window;
    QtProcessPool::ProcessPool &m_pool;
    QStringList m_failures;
};

#endif
