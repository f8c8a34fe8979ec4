// lock.h — a process-shared mutex in region memory that survives the death of its owner: one
// 32-bit word holding the owner's token (0 = free) and a waiters bit; waits use the shared futex.
// Owns the lock word protocol and dead-owner takeover; what a taken-over lock guards is repaired
// by the hook that recover.cc installs.
//
// Invariants:
//  - The word is 0 (free) or token | maybe kWaiters. A token names the owner's thread slot and
//    that slot's claim generation (layout.h StatSlot::gen): (gen << 8) | slot, slot 1..255; slot 0
//    is the anonymous token of threads without a slot of their own, never reaped.
//  - Uncontended lock and unlock are one CAS and one exchange, as before. A waiter sleeps with a
//    timeout; after each timeout it asks the liveness hook whether the owner is alive (the slot's
//    generation unchanged, its process's pid alive with the same start time). A dead owner's lock
//    is taken by CAS from exactly the word observed, so one survivor wins it, and that survivor
//    runs the repair hook for it before going on (it then owns the lock as if just acquired).
//  - We do not use pthread robust mutexes: the kernel walks the robust list in user memory at
//    thread death, and under PKU that memory is closed to a thread killed outside a gate, so the
//    kernel would silently skip the unlock. Liveness here is checked by the survivor instead.
//  - The owner token comes from a thread-local set once per command (Ctx::enter in stats.h):
//    initial-exec TLS, so reading it costs one load.
//
// Lock order, for the whole core (written here once; other files refer to it):
//     expand_lock -> item stripe -> class lock -> pages lock
// A thread holding a lock takes only locks to its right. A path that would go against it
// try-locks and skips on failure (LRU eviction and rebalance: class lock held, an item's stripe
// wanted; lru.h, rebalance.h) or releases what it holds first (rebalance: the source class before
// the destination's), so no cycle can form. Taking over a dead owner's lock runs its repair inside it, in this same
// order (recover.h).
#pragma once
#include <atomic>
#include <cstdint>

#include "core/tls.h"

namespace shm {

struct Lock {
  std::atomic<uint32_t> word;
};

constexpr uint32_t kWaiters = 1u << 31;
constexpr uint32_t kAnonToken = 1u << 8;  // slot 0, generation 1: never considered dead

// The calling thread's owner token for locks in the region it is working on.
extern thread_local uint32_t t_lock_token SHM_TLS_IE;

// Hooks installed by the recovery layer. alive(l, token): is the owner named by token (for the
// region holding l) alive? repair(l, dead_token): called with l just taken over from a dead owner.
using LockAliveFn = bool (*)(const Lock& l, uint32_t token);
using LockRepairFn = void (*)(Lock& l, uint32_t dead_token);
void lock_set_hooks(LockAliveFn alive, LockRepairFn repair);

void lock_slow(Lock& l);
void unlock_wake(Lock& l);
// With the lock observed held: if its owner is dead, takes it over (running the repair hook) and
// returns true. Used by try-lock-only paths (table growth) so an abandoned lock is not held forever.
bool lock_reap(Lock& l);

inline uint32_t lock_token() { return t_lock_token; }

inline bool try_lock(Lock& l) {
  uint32_t expected = 0;
  return l.word.compare_exchange_strong(expected, t_lock_token, std::memory_order_acquire, std::memory_order_relaxed);
}

inline void lock(Lock& l) {
  if (!try_lock(l)) lock_slow(l);
}

inline void unlock(Lock& l) {
  if (l.word.exchange(0, std::memory_order_release) & kWaiters) unlock_wake(l);
}

// Scope guard.
class Guard {
 public:
  explicit Guard(Lock& l) : l_(l) { lock(l_); }
  ~Guard() { unlock(l_); }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

 private:
  Lock& l_;
};

}  // namespace shm
