// lock.h — a process-shared mutex in region memory: one 32-bit word, futex-based (Drepper's
// "mutex2": 0 free, 1 locked, 2 locked with waiters). Owns nothing else.
//
// Invariants: the word lives in MAP_SHARED memory, so waits use the shared (non-private) futex.
// A short spin precedes sleeping, since critical sections here are tens of nanoseconds.
// Dead-owner detection (robustness) is the job of the crash-recovery layer, not this file.
#pragma once
#include <atomic>
#include <cstdint>

namespace shm {

struct Lock {
  std::atomic<uint32_t> word;
};

void lock_slow(Lock& l);
void unlock_wake(Lock& l);

inline bool try_lock(Lock& l) {
  uint32_t expected = 0;
  return l.word.compare_exchange_strong(expected, 1, std::memory_order_acquire, std::memory_order_relaxed);
}

inline void lock(Lock& l) {
  if (!try_lock(l)) lock_slow(l);
}

inline void unlock(Lock& l) {
  if (l.word.exchange(0, std::memory_order_release) == 2) unlock_wake(l);
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
