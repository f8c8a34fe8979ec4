// base64.cc — see base64.h.
#include "proto/base64.h"

namespace proto {

namespace {
const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
int value_of(uint8_t c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
}  // namespace

size_t base64_decode(const uint8_t* src, size_t n, uint8_t* dst) {
  if (n == 0 || n % 4 != 0) return 0;
  size_t out = 0;
  for (size_t i = 0; i < n; i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      uint8_t c = src[i + j];
      if (c == '=') {
        if (i + 4 != n || j < 2) return 0;  // padding only at the very end, at most two
        v[j] = 0;
        ++pad;
      } else {
        if (pad) return 0;
        v[j] = value_of(c);
        if (v[j] < 0) return 0;
      }
    }
    uint32_t w = uint32_t(v[0]) << 18 | uint32_t(v[1]) << 12 | uint32_t(v[2]) << 6 | uint32_t(v[3]);
    // Writes trail the reads of this group, so decoding in place is safe.
    dst[out++] = uint8_t(w >> 16);
    if (pad < 2) dst[out++] = uint8_t(w >> 8);
    if (pad < 1) dst[out++] = uint8_t(w);
  }
  return out;
}

void base64_encode(const uint8_t* src, size_t n, std::string* out) {
  for (size_t i = 0; i < n; i += 3) {
    uint32_t w = uint32_t(src[i]) << 16;
    if (i + 1 < n) w |= uint32_t(src[i + 1]) << 8;
    if (i + 2 < n) w |= src[i + 2];
    *out += kAlphabet[(w >> 18) & 63];
    *out += kAlphabet[(w >> 12) & 63];
    *out += i + 1 < n ? kAlphabet[(w >> 6) & 63] : '=';
    *out += i + 2 < n ? kAlphabet[w & 63] : '=';
  }
}

}  // namespace proto
