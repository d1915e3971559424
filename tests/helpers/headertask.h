// SPDX-License-Identifier: MIT
// The header-registration pitfall, on purpose: a `static` function
// registered in a header that two .cpp files include. Each gets its own
// copy; the first registered keeps the name, and run() with the other one
// must say why it is not a task (tst_processpool headerRegisteredStaticTask).
// Only headertask_a.cpp and headertask_b.cpp include it.
#ifndef QTPROCESSPOOL_TESTS_HEADERTASK_H
#define QTPROCESSPOOL_TESTS_HEADERTASK_H

#include <QtProcessPool/ProcessPool>

static int headerTriple(int x)
{
    return 3 * x;
}
QPP_REGISTER_TASK(headerTriple)

#include "headertask_runners.h"

#endif
