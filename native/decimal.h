// decimal.h — unsigned decimal formatting, shared by the core (incr/decr results, meta values)
// and the protocol engine (reply lines) so that neither includes the other.
// Owns: put_decimal(p, v).
// Invariants: p has room for 20 bytes (UINT64_MAX has 20 digits); no allocation, no locale.
#pragma once

#include <cstdint>

namespace shm {

// Writes v in decimal at p, what "%llu" prints, with no terminator; returns the digit count.
inline uint32_t put_decimal(char* p, uint64_t v) {
  char tmp[20];
  uint32_t n = 0;
  do {
    tmp[n++] = char('0' + v % 10);
    v /= 10;
  } while (v);
  for (uint32_t i = 0; i < n; ++i) p[i] = tmp[n - 1 - i];
  return n;
}

}  // namespace shm
