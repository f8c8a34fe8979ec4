// cpu_relax.h — the spin-wait hint used inside busy-wait loops (lock.cc, rebalance.cc), one per
// architecture the prebuilds target: PAUSE on x86-64, YIELD on AArch64, nothing elsewhere.
//
// Invariant: a hint only; it has no memory-ordering effect, callers order with atomics.
#pragma once

namespace shm {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace shm
