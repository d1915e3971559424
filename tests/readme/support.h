// SPDX-License-Identifier: MIT
// Shared by the README example programs: the task they run and a wait.
#ifndef QPP_TESTS_README_SUPPORT_H
#define QPP_TESTS_README_SUPPORT_H

#include <functional>

// Primes below limit; throws std::invalid_argument for a negative limit, and
// above 100,000,000 sleeps a minute first (a task to cancel).
int countPrimes(int limit);

// Runs the event loop until condition() holds or 60 s pass; returns condition().
bool waitFor(const std::function<bool()> &condition);

#endif
