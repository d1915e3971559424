// SPDX-License-Identifier: MIT
#include "primes.h"

#include <QtProcessPool/Registry>

#include <vector>

void countPrimes(QPromise<int> &promise, int limit)
{
    promise.setProgressRange(0, limit);
    // Trial division by the primes up to the square root, kept as found.
    std::vector<int> divisors;
    int count = 0;
    for (int n = 2; n < limit; ++n) {
        if ((n & 0xffff) == 0) { // every 65536 numbers: a few milliseconds
            promise.suspendIfRequested();
            if (promise.isCanceled())
                return;
            promise.setProgressValue(n);
        }
        bool prime = true;
        for (int d : divisors) {
            if (qint64(d) * d > n)
                break;
            if (n % d == 0) {
                prime = false;
                break;
            }
        }
        if (!prime)
            continue;
        ++count;
        if (qint64(n) * n < limit)
            divisors.push_back(n);
    }
    promise.setProgressValue(limit);
    promise.addResult(count);
}
QPP_REGISTER_TASK(countPrimes)
