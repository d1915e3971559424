// SPDX-License-Identifier: MIT
#include "headertask.h"

QFuture<int> runHeaderTripleA(QtProcessPool::ProcessPool &pool, int x)
{
    return pool.run(headerTriple, x);
}
