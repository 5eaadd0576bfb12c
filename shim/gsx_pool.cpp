/*
 * gsx_pool.cpp - reuse of large CPU tensor buffers within a computation.
 *
 * A CAM map runs the same forward pass many times over, and every pass
 * allocates the same large activations again. Left to glibc, each of them
 * is a fresh mmap that the kernel faults in and zeroes page by page, then
 * unmaps when freed: on RN50 about a third of the CPU time went to that.
 *
 * Between gsx_pool_open() and gsx_pool_close() on a thread, libtorch's CPU
 * allocations of POOLED_MIN bytes or more made on that thread come from the
 * scope's cache of freed buffers, best fit, and go back to it when freed.
 * Each thread's outermost scope has a cache of its own, emptied when that
 * scope closes, so nothing is held between maps, whatever other threads do.
 *
 * The cache sits in front of libtorch's CPU allocator, installed with
 * c10::SetCPUAllocator on first use. Every other allocation, on any thread,
 * goes to the allocator that was there before, unchanged.
 */
#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

#include <pthread.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>
#include <utility>

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

/* Free buffers of one scope, by size. */
using FreeList = std::multimap<size_t, void *>;

void free_all(const FreeList &list) noexcept
{
    for (const auto &entry : list)
        std::free(entry.second);
}

/* The buffers handed out, with their size and scope, and the free buffers of
 * every open scope. A scope is a number that is never reused. */
class Cache {
public:
    /* Opens a scope and returns its number, or 0 when memory is exhausted. */
    uint64_t open() noexcept
    {
        std::lock_guard<std::mutex> lock(mutex_);
        try {
            scopes_.emplace(next_scope_, FreeList());
        } catch (...) {
            return 0;
        }
        return next_scope_++;
    }

    /* Closes a scope and frees its buffers. Buffers of the scope still in
     * use are freed when they are given back. */
    void close(uint64_t scope) noexcept
    {
        FreeList drop;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            auto it = scopes_.find(scope);
            if (it == scopes_.end())
                return;
            drop.swap(it->second);
            scopes_.erase(it);
        }
        free_all(drop);
    }

    /* Returns a buffer of at least n bytes for scope: a free one of the
     * scope, or a new one. When memory is exhausted, frees the scope's free
     * buffers and tries once more. Returns NULL on failure. */
    void *take(uint64_t scope, size_t n) noexcept
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto owner = scopes_.find(scope);
        if (owner == scopes_.end())
            return nullptr;
        try {
            FreeList &list = owner->second;
            auto it = list.lower_bound(n);
            if (it != list.end() && it->first - n <= n / SLACK_DIVISOR) {
                void *data = it->second;
                live_.emplace(data, Use{it->first, scope});
                list.erase(it);
                return data;
            }
            void *data = nullptr;
            if (posix_memalign(&data, ALIGNMENT, n) != 0) {
                free_all(list);
                list.clear();
                if (posix_memalign(&data, ALIGNMENT, n) != 0)
                    return nullptr;
            }
            try {
                live_.emplace(data, Use{n, scope});
            } catch (...) {
                std::free(data);
                return nullptr;
            }
            return data;
        } catch (...) {
            return nullptr;
        }
    }

    /* Takes back a buffer handed out by take(): keeps it while its scope is
     * open, frees it otherwise. Returns false when data did not come from
     * take(). */
    bool give_back(void *data) noexcept
    {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            auto it = live_.find(data);
            if (it == live_.end())
                return false;
            const Use use = it->second;
            live_.erase(it);
            auto owner = scopes_.find(use.scope);
            if (owner != scopes_.end()) {
                try {
                    owner->second.emplace(use.size, data);
                    return true;
                } catch (...) {
                    // No room to remember it: free it below instead.
                }
            }
        }
        std::free(data);
        return true;
    }

    /* Returns the bytes of free buffers kept by all open scopes. */
    size_t held() noexcept
    {
        std::lock_guard<std::mutex> lock(mutex_);
        size_t total = 0;
        for (const auto &scope : scopes_)
            for (const auto &entry : scope.second)
                total += entry.first;
        return total;
    }

    /* Handlers for fork(). The lock is held across the fork, so the child
     * gets it unlocked. The child has only the forking thread, so it drops
     * the scopes of every other thread, which would never close there. */
    void before_fork() noexcept { mutex_.lock(); }
    void after_fork_in_parent() noexcept { mutex_.unlock(); }
    void after_fork_in_child(uint64_t keep) noexcept
    {
        for (auto it = scopes_.begin(); it != scopes_.end();) {
            if (it->first == keep) {
                ++it;
                continue;
            }
            free_all(it->second);
            it = scopes_.erase(it);
        }
        mutex_.unlock();
    }

private:
    struct Use {
        size_t size;
        uint64_t scope;
    };

    std::mutex mutex_;
    std::unordered_map<void *, Use> live_;
    std::unordered_map<uint64_t, FreeList> scopes_;
    uint64_t next_scope_ = 1;
};

Cache &cache()
{
    static Cache *c = new Cache(); // not destroyed at exit, because tensors may outlive static destructors
    return *c;
}

/* Open scopes on this thread, and the number of the outermost one. */
thread_local int depth = 0;
thread_local uint64_t thread_scope = 0;

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
            void *data = cache().take(thread_scope, n);
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

void before_fork()
{
    cache().before_fork();
}

void after_fork_in_parent()
{
    cache().after_fork_in_parent();
}

void after_fork_in_child()
{
    cache().after_fork_in_child(thread_scope);
}

/* Installs the pool in front of libtorch's CPU allocator once. Returns false
 * when it could not be installed: an allocator of higher priority is set,
 * the one in place has no raw deleter to forward raw frees to, or the fork
 * handlers could not be registered. */
bool installed() noexcept
{
    static PoolAllocator *pool = nullptr;
    static std::once_flag once;

    try {
        std::call_once(once, [] {
            c10::Allocator *next = c10::GetCPUAllocator();
            if (!next || !next->raw_deleter())
                return;
            cache();
            if (pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child) != 0)
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
    if (depth == 0) {
        thread_scope = cache().open();
        if (thread_scope == 0)
            return 0;
    }
    depth++;
    return 1;
}

void gsx_pool_close(int opened)
{
    if (!opened || depth == 0)
        return;
    if (--depth == 0) {
        cache().close(thread_scope);
        thread_scope = 0;
    }
}

size_t gsx_pool_held(void)
{
    return cache().held();
}

} // extern "C"
