// SPDX-License-Identifier: MIT
// The main() of the integration tests. The test binary is its own worker: the
// pool spawns this executable in worker mode, so main() hands over to
// execWorker() before anything else runs (no application object, no test
// setup: a worker must start exactly as an application's worker would).
//
//     QPP_TEST_MAIN(TestFoo)
//     QPP_TEST_MAIN_WITH_SETUP(TestFoo, [] { std::signal(SIGPIPE, SIG_IGN); })
#ifndef QTPROCESSPOOL_TESTS_TESTMAIN_H
#define QTPROCESSPOOL_TESTS_TESTMAIN_H

#include <QtProcessPool/worker.h>

#include <QtCore/QCoreApplication>
#include <QtTest/QTest>

#include <utility>

namespace TestUtil {

/// In a worker process, serves tasks and returns its exit code. Otherwise
/// calls setup() (this process only, before the QCoreApplication exists), then
/// runs the test object's functions with argc/argv as QTest::qExec() reads them.
template <typename TestClass, typename Setup>
int testMain(int argc, char **argv, Setup &&setup)
{
    if (QtProcessPool::isWorkerProcess(argc, argv))
        return QtProcessPool::execWorker(argc, argv);
    std::forward<Setup>(setup)();
    QCoreApplication app(argc, argv);
    TestClass test;
    return QTest::qExec(&test, argc, argv);
}

} // namespace TestUtil

/// main() for a test class whose process needs no setup of its own.
#define QPP_TEST_MAIN(TestClass) QPP_TEST_MAIN_WITH_SETUP(TestClass, [] {})

/// main() with a callable run in the test process only (never in its workers),
/// after the worker check and before the QCoreApplication is made.
#define QPP_TEST_MAIN_WITH_SETUP(TestClass, ...)                                                   \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        return ::TestUtil::testMain<TestClass>(argc, argv, __VA_ARGS__);                           \
    }

#endif
