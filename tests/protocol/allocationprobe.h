// SPDX-License-Identifier: MIT
// Records the largest single heap allocation made while a probe is alive, so a
// test can tell that a length announced by a peer allocated nothing big.
// Under AddressSanitizer or ThreadSanitizer it uses the sanitizer's malloc
// hook; otherwise the test binary wraps glibc's malloc, calloc and realloc.
#ifndef QTPROCESSPOOL_TESTS_ALLOCATIONPROBE_H
#define QTPROCESSPOOL_TESTS_ALLOCATIONPROBE_H

#include <cstddef>

class AllocationProbe
{
public:
    AllocationProbe();
    ~AllocationProbe();
    AllocationProbe(const AllocationProbe &) = delete;
    AllocationProbe &operator=(const AllocationProbe &) = delete;

    /// The largest allocation (bytes asked for) since construction.
    static std::size_t largest();
    /// Whether allocations are seen at all (checked by the tests themselves).
    static bool works();
};

#endif
