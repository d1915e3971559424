// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_TESTS_HEADERTASK_RUNNERS_H
#define QTPROCESSPOOL_TESTS_HEADERTASK_RUNNERS_H

#include <QtProcessPool/ProcessPool>

/// run(headerTriple, x) with the copy of headertask_a.cpp / headertask_b.cpp
/// (headertask.h).
QFuture<int> runHeaderTripleA(QtProcessPool::ProcessPool &pool, int x);
QFuture<int> runHeaderTripleB(QtProcessPool::ProcessPool &pool, int x);

#endif
