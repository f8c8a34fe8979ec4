// hash.h — the key hash. Owns: one 64-bit hash of a byte string, used for the bucket (low bits)
// and the item stripe (low kStripeBits bits). Invariant: it depends only on the key bytes, never
// on the process, so every process that maps the region finds the same bucket.
#pragma once
#include <cstdint>
#include <cstring>

namespace shm {

inline uint64_t hash_mix(uint64_t a, uint64_t b) {
  __uint128_t r = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

// Multiply-fold hash over 8-byte words (keys are short: 1..250 bytes).
inline uint64_t hash_key(const uint8_t* p, uint32_t n) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t(n) * 0xff51afd7ed558ccdull);
  while (n > 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = hash_mix(h ^ v, 0xc2b2ae3d27d4eb4full);
    p += 8;
    n -= 8;
  }
  uint64_t v = 0;
  if (n >= 4) {
    uint32_t a, b;
    std::memcpy(&a, p, 4);
    std::memcpy(&b, p + n - 4, 4);
    v = (uint64_t(a) << 32) | b;
  } else if (n > 0) {
    v = (uint64_t(p[0]) << 16) | (uint64_t(p[n >> 1]) << 8) | p[n - 1];
  }
  h = hash_mix(h ^ v, 0x165667b19e3779f9ull);
  return hash_mix(h, 0x27d4eb2f165667c5ull);
}

}  // namespace shm
