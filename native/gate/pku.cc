// pku.cc — see pku.h.
#include "gate/pku.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

#ifndef PKEY_DISABLE_ACCESS
#define PKEY_DISABLE_ACCESS 0x1
#endif

namespace gate {

thread_local int t_depth SHM_TLS_IE = 0;

static bool cpu_ospke() {
#if defined(__x86_64__)
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return ((c >> 3) & 1) && ((c >> 4) & 1);  // PKU, and OSPKE: the OS turned it on
#else
  return false;  // protection keys here are x86-64's PKRU only
#endif
}

int pku_key() {
  static std::once_flag once;
  static int key = -1;
  std::call_once(once, [] {
    if (getenv("SHMCACHED_NO_PKU")) return;  // test hook: behave as a CPU without PKU
    if (!cpu_ospke()) return;
    // Denied from the start on this thread; other threads deny unallocated keys already.
    long k = syscall(SYS_pkey_alloc, 0, PKEY_DISABLE_ACCESS);
    if (k <= 0 || k >= 16) return;
    key = int(k);
    // Make sure this thread's bits really deny (pkey_alloc sets them; check, never assume).
    uint32_t mask = 3u << (2 * key);
    uint32_t v = rdpkru();
    if ((v & mask) != mask) wrpkru(v | mask);
  });
  return key;
}

bool pku_available() { return pku_key() >= 0; }

bool protect(void* addr, size_t len, int key) {
  if (key < 0) return true;
  return syscall(SYS_pkey_mprotect, addr, len, PROT_READ | PROT_WRITE, key) == 0;
}

void gate_fault(const char* what) {
  // A gate that cannot close (or open as asked) means PKRU is not what we wrote: someone is
  // tampering with it. Continuing could leave the store open; stop the process.
  std::fprintf(stderr, "shmcached: %s\n", what);
  std::abort();
}

}  // namespace gate
