// stripe.h — the striped item locks, each with a sequence count (a seqlock) so that readers can
// look an item up without writing any shared cache line. Owns: the Stripe type and its lock,
// try-lock and unlock, and the reader's begin/validate pair.
//
// Invariants:
//  - Everything a reader follows for a key (the bucket word, the items on its chain and their
//    header, key and value bytes) changes only while that key's stripe is held, and every holder
//    makes the count odd on taking it and even again on release. So a reader that sees the same
//    even count before and after its reads saw a state no writer was changing.
//  - An optimistic reader may see torn or recycled memory in between; it only reads (every offset
//    bounds-checked, walks bounded) and discards what it read unless the count validates.
//    Anything that must write (LRU bump, fetched flag, unlinking a dead item) takes the lock.
//  - TSan builds never read optimistically (every such read is a race by design); they check the
//    locking protocol, and the plain and ASan builds run the optimistic path.
#pragma once
#include <atomic>
#include <cstdint>

#include "core/lock.h"

namespace shm {

struct Stripe {
  Lock lock;
  std::atomic<uint32_t> seq;
};

// Odd while held. `| 1` rather than `+ 1`: a stripe taken over from a dead owner may already be
// odd (it died inside), and must stay odd until the repair is done and the new owner leaves.
inline void stripe_enter(Stripe& s) {
  s.seq.store(s.seq.load(std::memory_order_relaxed) | 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);  // the odd count before any change
}

inline void stripe_leave(Stripe& s) {
  s.seq.store((s.seq.load(std::memory_order_relaxed) | 1) + 1,
              std::memory_order_release);  // changes before the even count
}

inline void stripe_lock(Stripe& s) {
  lock(s.lock);
  stripe_enter(s);
}

inline bool stripe_try_lock(Stripe& s) {
  if (!try_lock(s.lock)) return false;
  stripe_enter(s);
  return true;
}

inline void stripe_unlock(Stripe& s) {
  stripe_leave(s);
  unlock(s.lock);
}

// Reader side: the count to validate against, or an odd value when a writer is inside.
inline uint32_t stripe_read_begin(const Stripe& s) { return s.seq.load(std::memory_order_acquire); }

inline bool stripe_read_valid(const Stripe& s, uint32_t begin) {
  std::atomic_thread_fence(std::memory_order_acquire);  // the reads above happen before this load
  return s.seq.load(std::memory_order_relaxed) == begin;
}

}  // namespace shm
