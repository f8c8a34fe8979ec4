// numeric.cc — see numeric.h.
#include "core/numeric.h"

#include "decimal.h"

namespace shm {

static bool is_space(uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

bool parse_delta_value(const uint8_t* p, uint32_t n, uint64_t* out) {
  // memcached refuses empty values before parsing (nbytes <= 2 counts the "\r\n").
  if (n == 0) return false;
  uint32_t i = 0;
  while (i < n && is_space(p[i])) ++i;  // strtoull skips leading white space
  bool neg = false;
  if (i < n && (p[i] == '+' || p[i] == '-')) {
    neg = p[i] == '-';
    ++i;
  }
  uint32_t digits_start = i;
  uint64_t v = 0;
  bool overflow = false;
  while (i < n && p[i] >= '0' && p[i] <= '9') {
    uint64_t d = p[i] - '0';
    if (v > (UINT64_MAX - d) / 10) overflow = true;
    v = v * 10 + d;
    ++i;
  }
  if (i == digits_start) return false;  // no digits: endptr == str
  if (overflow) return false;           // ERANGE
  // After the number memcached needs white space ("\r" at the end of the value counts) or NUL.
  if (i < n && !is_space(p[i]) && p[i] != 0) return false;
  if (neg) v = uint64_t(0) - v;  // strtoull negates in unsigned arithmetic
  // safe_strtoull: a result negative as a signed number is refused if a '-' was present.
  if (int64_t(v) < 0 && neg) return false;
  *out = v;
  return true;
}

uint32_t format_u64(uint64_t v, uint8_t* buf) { return put_decimal(reinterpret_cast<char*>(buf), v); }

}  // namespace shm
