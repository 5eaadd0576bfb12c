/*
 * gsx_pool.cpp - reuse of large CPU tensor buffers within a computation.
 *
 * A CAM map runs the same forward pass many times over, and every pass
 * allocates the same large activations again. Left to glibc, each of them
 * is a fresh mmap that the kernel faults in and zeroes page by page, then
 * unmaps when freed: on RN50 about a third of the CPU time went to that.
 *
 * Between gsx_pool_open() and gsx_pool_close() on a thread, libtorch's CPU
 * allocations of POOLED_MIN bytes or more made on that thread come from a
 * cache of freed buffers, best fit, and go back to it when freed. When the
 * last open scope of the process closes, the cache is emptied, so nothing is
 * held between maps.
 *
 * The cache sits in front of libtorch's CPU allocator, installed with
 * c10::SetCPUAllocator on first use. Every other allocation, on any thread,
 * goes to the allocator that was there before, unchanged.
 */
#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

#include <cstddef>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>

#include "gsx.h"

namespace {

/* Smaller requests are left to malloc, whose heap already reuses them. */
constexpr size_t POOLED_MIN = size_t{1} << 20;
/* libtorch's own CPU allocator aligns to 64 bytes for vector instructions. */
constexpr size_t ALIGNMENT = 64;
/* A cached buffer serves a request up to this fraction (1 / SLACK_DIVISOR)
 * smaller than itself: the batches of a map differ by at most one image, and
 * the larger ones run first. */
constexpr size_t SLACK_DIVISOR = 8;

/* The buffers handed out, the free ones by size, and how many scopes are
 * open in the process. */
class Cache {
public:
    /* A buffer of at least n bytes, or NULL when memory is exhausted. */
    void *take(size_t n) noexcept
    {
        std::lock_guard<std::mutex> lock(mutex_);
        try {
            auto it = free_.lower_bound(n);
            if (it != free_.end() && it->first - n <= n / SLACK_DIVISOR) {
                void *data = it->second;
                live_.emplace(data, it->first);
                free_.erase(it);
                return data;
            }
            void *data = nullptr;
            if (posix_memalign(&data, ALIGNMENT, n) != 0)
                return nullptr;
            try {
                live_.emplace(data, n);
            } catch (...) {
                std::free(data);
                throw;
            }
            return data;
        } catch (...) {
            return nullptr;
        }
    }

    /* Takes back a buffer handed out by take(): keeps it for reuse while a
     * scope is open, frees it otherwise. Returns false when data did not
     * come from take(). */
    bool give_back(void *data) noexcept
    {
        size_t size;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            auto it = live_.find(data);
            if (it == live_.end())
                return false;
            size = it->second;
            live_.erase(it);
            if (open_ > 0) {
                try {
                    free_.emplace(size, data);
                    return true;
                } catch (...) {
                    // No room to remember it: free it below instead.
                }
            }
        }
        std::free(data);
        return true;
    }

    void open() noexcept
    {
        std::lock_guard<std::mutex> lock(mutex_);
        open_++;
    }

    /* Closes one scope; the last one empties the cache. */
    void close() noexcept
    {
        std::multimap<size_t, void *> drop;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (open_ > 0 && --open_ == 0)
                drop.swap(free_);
        }
        for (auto &entry : drop)
            std::free(entry.second);
    }

    size_t held() noexcept
    {
        std::lock_guard<std::mutex> lock(mutex_);
        size_t total = 0;
        for (auto &entry : free_)
            total += entry.first;
        return total;
    }

private:
    std::mutex mutex_;
    std::unordered_map<void *, size_t> live_;
    std::multimap<size_t, void *> free_;
    size_t open_ = 0;
};

Cache &cache()
{
    static Cache *c = new Cache(); // not destroyed at exit, because tensors may outlive static destructors
    return *c;
}

/* Open scopes on this thread. */
thread_local int depth = 0;

/* The allocator that the pool passes other requests to. */
c10::Allocator *next_allocator = nullptr;

/* Frees a buffer of either kind: libtorch's raw_deallocate() passes pointers
 * from both, since the data pointer is the deleter's context for each. */
void release(void *data)
{
    if (data && !cache().give_back(data))
        next_allocator->raw_deleter()(data);
}

class PoolAllocator final : public c10::Allocator {
public:
    c10::DataPtr allocate(size_t n) const override
    {
        if (depth > 0 && n >= POOLED_MIN) {
            void *data = cache().take(n);
            if (data)
                return {data, data, &release, c10::Device(c10::kCPU)};
        }
        return next_allocator->allocate(n);
    }

    c10::DeleterFnPtr raw_deleter() const override
    {
        return &release;
    }
};

/* Installs the pool in front of libtorch's CPU allocator once. Returns false
 * when it could not be installed: an allocator of higher priority is set, or
 * the one in place has no raw deleter to forward raw frees to. */
bool installed() noexcept
{
    static PoolAllocator *pool = nullptr;
    static std::once_flag once;

    try {
        std::call_once(once, [] {
            c10::Allocator *next = c10::GetCPUAllocator();
            if (!next || !next->raw_deleter())
                return;
            next_allocator = next;
            pool = new PoolAllocator();
            c10::SetCPUAllocator(pool, 0);
        });
        return pool && c10::GetCPUAllocator() == pool;
    } catch (...) {
        return false;
    }
}

} // namespace

extern "C" {

int gsx_pool_open(void)
{
    if (!installed())
        return 0;
    cache().open();
    depth++;
    return 1;
}

void gsx_pool_close(int opened)
{
    if (!opened || depth == 0)
        return;
    depth--;
    cache().close();
}

size_t gsx_pool_held(void)
{
    return cache().held();
}

} // extern "C"
