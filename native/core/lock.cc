// lock.cc — the slow paths of the owner-token futex mutex declared in lock.h.
#include "core/lock.h"
#include "core/cpu_relax.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>

#include <cerrno>
#include <unistd.h>

namespace shm {

thread_local uint32_t t_lock_token SHM_TLS_IE = kAnonToken;

static std::atomic<LockAliveFn> g_alive{nullptr};
static std::atomic<LockRepairFn> g_repair{nullptr};

void lock_set_hooks(LockAliveFn alive, LockRepairFn repair) {
  g_alive.store(alive);
  g_repair.store(repair);
}

static long futex_wait(std::atomic<uint32_t>* addr, uint32_t val, const timespec* ts) {
  // Shared futex (no FUTEX_PRIVATE_FLAG): the word may be mapped by several processes.
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAIT, val, ts, nullptr, 0);
}

static bool owner_alive(const Lock& l, uint32_t token) {
  if ((token & 0xff) == 0) return true;  // anonymous owners are never reaped
  LockAliveFn f = g_alive.load(std::memory_order_relaxed);
  return f ? f(l, token) : true;
}

// Word w (held by a dead owner) observed: take it with our token. True if we won it.
static bool take_over(Lock& l, uint32_t w) {
  uint32_t me = t_lock_token | (w & kWaiters);
  if (!l.word.compare_exchange_strong(w, me, std::memory_order_acquire, std::memory_order_relaxed)) return false;
  if (LockRepairFn f = g_repair.load(std::memory_order_relaxed)) {
    // The repair may take further locks (inside this one, in lock order) and must not disturb the
    // caller's token or intents; the hook saves and restores what it changes.
    f(l, w & ~kWaiters);
  }
  return true;
}

bool lock_reap(Lock& l) {
  uint32_t w = l.word.load(std::memory_order_relaxed);
  if (w == 0 || owner_alive(l, w & ~kWaiters)) return false;
  return take_over(l, w);
}

void lock_slow(Lock& l) {
  for (int i = 0; i < 128; ++i) {
    cpu_relax();
    if (l.word.load(std::memory_order_relaxed) == 0 && try_lock(l)) return;
  }
  // Critical sections are tens of nanoseconds: a waiter that sleeps 20 ms without the word
  // changing asks whether the owner still exists.
  const timespec ts{0, 20 * 1000 * 1000};
  for (;;) {
    uint32_t w = l.word.load(std::memory_order_relaxed);
    if (w == 0) {
      // Keep the waiters bit when taking a contended lock (Drepper's mutex2: others may sleep).
      if (l.word.compare_exchange_strong(w, t_lock_token | kWaiters, std::memory_order_acquire,
                                         std::memory_order_relaxed))
        return;
      continue;
    }
    if (!(w & kWaiters)) {
      if (!l.word.compare_exchange_strong(w, w | kWaiters, std::memory_order_relaxed)) continue;
      w |= kWaiters;
    }
    long rc = futex_wait(&l.word, w, &ts);
    if (rc != 0 && errno == ETIMEDOUT) {
      uint32_t now = l.word.load(std::memory_order_relaxed);
      if (now == w && !owner_alive(l, w & ~kWaiters) && take_over(l, w)) return;
    }
  }
}

void unlock_wake(Lock& l) {
  // Wake one sleeper: it takes the lock with the waiters bit set, so its unlock wakes the next.
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&l.word), FUTEX_WAKE, 1, nullptr, nullptr, 0);
}

}  // namespace shm
