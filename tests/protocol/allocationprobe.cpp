// SPDX-License-Identifier: MIT
#include "allocationprobe.h"

#include <atomic>
#include <cstdlib>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define QPP_TEST_SANITIZER_MALLOC 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define QPP_TEST_SANITIZER_MALLOC 1
#endif

namespace {

std::atomic<int> probes{0};
std::atomic<std::size_t> largestSize{0};

void note(std::size_t size)
{
    if (probes.load(std::memory_order_relaxed) == 0)
        return;
    std::size_t seen = largestSize.load(std::memory_order_relaxed);
    while (size > seen && !largestSize.compare_exchange_weak(seen, size)) {
    }
}

} // namespace

#ifdef QPP_TEST_SANITIZER_MALLOC

extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*mallocHook)(const volatile void *,
                                                                            std::size_t),
                                                         void (*freeHook)(const volatile void *));

namespace {
void onMalloc(const volatile void *, std::size_t size)
{
    note(size);
}
void onFree(const volatile void *) {}
const int hooksInstalled = __sanitizer_install_malloc_and_free_hooks(onMalloc, onFree);
} // namespace

#else

extern "C" {
void *__libc_malloc(std::size_t size) noexcept;
void *__libc_calloc(std::size_t count, std::size_t size) noexcept;
void *__libc_realloc(void *pointer, std::size_t size) noexcept;

void *malloc(std::size_t size) noexcept
{
    note(size);
    return __libc_malloc(size);
}
void *calloc(std::size_t count, std::size_t size) noexcept
{
    note(count * size);
    return __libc_calloc(count, size);
}
void *realloc(void *pointer, std::size_t size) noexcept
{
    note(size);
    return __libc_realloc(pointer, size);
}
}

#endif

AllocationProbe::AllocationProbe()
{
    largestSize.store(0);
    probes.fetch_add(1);
}

AllocationProbe::~AllocationProbe()
{
    probes.fetch_sub(1);
}

std::size_t AllocationProbe::largest()
{
    return largestSize.load();
}

bool AllocationProbe::works()
{
    AllocationProbe probe;
    void *volatile p = std::malloc(123457);
    std::free(p);
    return largest() >= 123457;
}
