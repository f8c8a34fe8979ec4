// tokens.cc — memcached's command-line tokenizer and its number parsers (util.c semantics), on
// the connection's private, NUL-terminated copy of a line. Invariants: never reads past the
// line's NUL; accepts exactly what memcached 1.6 accepts (strtoul's leading white space and
// sign, white space after the digits, silent truncation of flags to 32 bits and of a 64-bit
// long to int32, '-' refused where the unsigned result would be negative as a signed one).
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "proto/conn.h"

namespace proto {

size_t tokenize(char* command, Token* tokens, size_t max) {
  size_t n = 0;
  size_t len = std::strlen(command);
  char* s = command;
  char* e = command;
  for (size_t i = 0; i < len; ++i) {
    if (*e == ' ') {
      if (s != e) {
        tokens[n].value = s;
        tokens[n].length = size_t(e - s);
        ++n;
        *e = '\0';
        if (n == max - 1) {
          ++e;
          s = e;
          break;
        }
      }
      s = e + 1;
    }
    ++e;
  }
  if (s != e) {
    tokens[n].value = s;
    tokens[n].length = size_t(e - s);
    ++n;
  }
  tokens[n].value = *e == '\0' ? nullptr : e;
  tokens[n].length = 0;
  ++n;
  return n;
}

static bool xisspace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

bool safe_strtoull(const char* str, uint64_t* out) {
  *out = 0;
  if (!str) return false;
  errno = 0;
  char* end;
  unsigned long long v = std::strtoull(str, &end, 10);
  if (errno == ERANGE || str == end) return false;
  if (xisspace(*end) || (*end == '\0' && end != str)) {
    if (static_cast<long long>(v) < 0 && std::memchr(str, '-', size_t(end - str)) != nullptr) return false;
    *out = v;
    return true;
  }
  return false;
}

namespace {
// The common token: 1 to 9 digits, then the end. Its value is what strtoul/strtol would give
// (below 10^9: no overflow, no sign, nothing after it), without their locale and errno work.
// False: anything else, left to the libc path.
inline bool short_digits(const char* s, uint32_t* out) {
  uint32_t v = 0;
  size_t i = 0;
  for (; i < 9; ++i) {
    unsigned d = unsigned(uint8_t(s[i])) - unsigned('0');
    if (d > 9) break;
    v = v * 10 + d;
  }
  if (i == 0 || s[i] != '\0') return false;
  *out = v;
  return true;
}
}  // namespace

bool safe_strtoul(const char* str, uint32_t* out) {
  *out = 0;
  if (!str) return false;
  if (short_digits(str, out)) return true;
  errno = 0;
  char* end;
  unsigned long v = std::strtoul(str, &end, 10);
  if (errno == ERANGE || str == end) return false;
  if (xisspace(*end) || (*end == '\0' && end != str)) {
    if (static_cast<long>(v) < 0 && std::memchr(str, '-', size_t(end - str)) != nullptr) return false;
    *out = uint32_t(v);  // memcached stores the unsigned long into a uint32_t
    return true;
  }
  return false;
}

bool safe_strtol(const char* str, int32_t* out) {
  *out = 0;
  if (!str) return false;
  uint32_t small;
  if (short_digits(str, &small)) {
    *out = int32_t(small);
    return true;
  }
  errno = 0;
  char* end;
  long v = std::strtol(str, &end, 10);
  if (errno == ERANGE || str == end) return false;
  if (xisspace(*end) || (*end == '\0' && end != str)) {
    *out = int32_t(uint32_t(uint64_t(v)));  // memcached stores the long into an int32_t
    return true;
  }
  return false;
}

bool strict_u64(const char* s, size_t len, uint64_t* out, size_t maxlen) {
  if (len > maxlen) return false;
  uint64_t sum = 0;
  for (size_t i = 0; i < len; ++i) {
    unsigned d = unsigned(uint8_t(s[i])) - unsigned('0');
    if (d > 9 || sum > (UINT64_MAX - d) / 10) return false;
    sum = sum * 10 + d;
  }
  *out = sum;
  return true;
}

bool strict_u32(const char* s, size_t len, uint32_t* out) {
  uint64_t v;
  if (!strict_u64(s, len, &v, 11) || v > UINT32_MAX) return false;
  *out = uint32_t(v);
  return true;
}

bool strict_i32(const char* s, size_t len, int32_t* out) {
  if (len > 11) return false;
  bool neg = len > 0 && s[0] == '-';
  uint64_t v;
  if (!strict_u64(s + (neg ? 1 : 0), len - (neg ? 1 : 0), &v, 11) || v > (neg ? 2147483648ull : 2147483647ull))
    return false;
  *out = neg ? int32_t(-int64_t(v)) : int32_t(v);
  return true;
}

}  // namespace proto
