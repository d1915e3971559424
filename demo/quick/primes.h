// SPDX-License-Identifier: MIT
#ifndef QTPROCESSPOOL_DEMO_QUICK_PRIMES_H
#define QTPROCESSPOOL_DEMO_QUICK_PRIMES_H

#include <QtCore/QPromise>

/// Counts the primes below limit in a worker, reporting progress (0..limit)
/// and stopping soon after a cancel. Registered as "countPrimes".
void countPrimes(QPromise<int> &promise, int limit);

#endif
