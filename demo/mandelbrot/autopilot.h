// SPDX-License-Identifier: MIT
// Scripted runs of the demo window, for the command line options that need
// no user: --screenshot, --benchmark, --crash-test and --hang-test.
#ifndef AUTOPILOT_H
#define AUTOPILOT_H

#include "tilerenderer.h"

#include <QtCore/QString>

#include <functional>
#include <optional>

class MainWindow;

namespace QtProcessPool {
class ProcessPool;
}

class Autopilot
{
public:
    struct Script
    {
        bool benchmark = false;
        bool crashTest = false;
        bool hangTest = false;
        QString screenshot; // file to write, empty for none
        bool isEmpty() const
        {
            return !benchmark && !crashTest && !hangTest && screenshot.isEmpty();
        }
    };

    Autopilot(MainWindow *window, QtProcessPool::ProcessPool *pool, Script script);

    /// Runs the script (benchmark, then fault tests, then screenshot) and
    /// returns the exit code: 0 when every step succeeded.
    int run();

private:
    bool waitUntil(const std::function<bool()> &condition, int timeoutMs);
    bool waitForIdleWorkers();
    void settle(int ms);
    std::optional<RenderSummary> render(Engine engine,
                                        const std::function<void(int)> &onProgress = {});
    bool benchmark();
    bool faultTest(Fault fault);
    bool screenshot();

    MainWindow *m_window;
    QtProcessPool::ProcessPool *m_pool;
    Script m_script;
    std::optional<RenderSummary> m_last; // the last complete render
};

#endif
