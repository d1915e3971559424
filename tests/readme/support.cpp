// SPDX-License-Identifier: MIT
#include "support.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QElapsedTimer>
#include <QtCore/QThread>

#include <stdexcept>

int countPrimes(int limit)
{
    if (limit < 0)
        throw std::invalid_argument("negative limit");
    if (limit > 100000000)
        QThread::sleep(60); // canceled long before
    int primes = 0;
    for (int n = 2; n < limit; ++n) {
        bool prime = true;
        for (int d = 2; d * d <= n && prime; ++d)
            prime = n % d != 0;
        primes += prime;
    }
    return primes;
}

bool waitFor(const std::function<bool()> &condition)
{
    QElapsedTimer timer;
    timer.start();
    while (!condition() && timer.elapsed() < 60000)
        QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
    return condition();
}
