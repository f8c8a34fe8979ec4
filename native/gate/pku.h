// pku.h — memory protection keys: detection, the process's key, tagging memory with it, and the
// gate, the scope guard that lets one thread reach the store for the length of one core call.
//
// Invariants:
//  - Outside a gate every thread's PKRU denies our key (access-disable and write-disable set).
//    Linux starts every thread with unallocated keys denied, a new thread inherits its creator's
//    PKRU (never created inside a gate: no JS runs there), and a signal handler starts from the
//    default PKRU (denied).
//  - A gate changes only our key's two bits, read-modify-write: V8 owns another key in Node 20
//    and a constant PKRU would break it. After every WRPKRU the value is read back and checked
//    (ERIM's check: a jump into the middle of a gate sequence cannot leave access open).
//  - Gates do not nest and are refused on a thread already inside one (re-entrant calls).
//  - Without PKU (CPU, OS, protection 'none', or not x86-64) a gate is a branch on key < 0 and
//    nothing else.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/tls.h"

namespace gate {

// The process's protection key: allocated on first use, -1 when the CPU or kernel has no PKU.
int pku_key();
bool pku_available();

// Tags [addr, addr+len) with key (or plain PROT_READ|PROT_WRITE when key < 0). False on failure.
bool protect(void* addr, size_t len, int key);

#if defined(__x86_64__)
inline uint32_t rdpkru() {
  uint32_t eax, edx;
  asm volatile(".byte 0x0f,0x01,0xee" : "=a"(eax), "=d"(edx) : "c"(0));
  return eax;
}

inline void wrpkru(uint32_t v) { asm volatile(".byte 0x0f,0x01,0xef" : : "a"(v), "c"(0), "d"(0) : "memory"); }
#else
// No PKRU outside x86-64: pku_key() is always -1 there, so these are never reached by a gate.
inline uint32_t rdpkru() { return 0; }
inline void wrpkru(uint32_t) {}
#endif

// Depth of gates open on this thread (0 or 1).
// initial-exec where the C library allows it (core/tls.h): one %fs-relative load, not a
// __tls_get_addr call per gate (a few bytes of the static TLS surplus that glibc keeps for
// dlopen'ed libraries).
extern thread_local int t_depth SHM_TLS_IE;

[[noreturn]] void gate_fault(const char* what);

class Gate {
 public:
  explicit Gate(int key) : key_(key) {
    if (t_depth != 0) {
      refused_ = true;  // re-entrant: the caller reports it, nothing is opened
      return;
    }
    t_depth = 1;
    if (key_ >= 0) {
      uint32_t mask = 3u << (2 * key_);
      uint32_t want = rdpkru() & ~mask;
      wrpkru(want);
      if (rdpkru() != want) gate_fault("gate open: PKRU did not take");
      open_ = want;
    }
  }
  ~Gate() {
    if (refused_) return;
    if (key_ >= 0) {
      // Only our C++ ran since the open (signal handlers restore PKRU on return), so the value
      // written then, with our bits set again, is the value to restore: no second read needed.
      uint32_t mask = 3u << (2 * key_);
      uint32_t want = open_ | mask;
      wrpkru(want);
      if ((rdpkru() & mask) != mask) gate_fault("gate close: PKRU still allows the store");
    }
    t_depth = 0;
  }
  bool refused() const { return refused_; }
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;

 private:
  int key_;
  uint32_t open_ = 0;
  bool refused_ = false;
};

}  // namespace gate
