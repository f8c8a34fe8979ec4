// lock.cc — the slow paths of the process-shared futex mutex declared in lock.h.
#include "core/lock.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace shm {

static long futex(std::atomic<uint32_t>* addr, int op, uint32_t val) {
  // Shared futex (no FUTEX_PRIVATE_FLAG): the word may be mapped by several processes.
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), op, val, nullptr, nullptr, 0);
}

void lock_slow(Lock& l) {
  for (int i = 0; i < 128; ++i) {
    __builtin_ia32_pause();
    if (l.word.load(std::memory_order_relaxed) == 0 && try_lock(l)) return;
  }
  uint32_t c = l.word.exchange(2, std::memory_order_acquire);
  while (c != 0) {
    futex(&l.word, FUTEX_WAIT, 2);
    c = l.word.exchange(2, std::memory_order_acquire);
  }
}

void unlock_wake(Lock& l) { futex(&l.word, FUTEX_WAKE, 1); }

}  // namespace shm
