// base64.h — standard base64 (RFC 4648, '=' padding) for the meta protocol's `b` flag: keys
// travel encoded and are stored decoded. Decoding is strict: a length that is not a multiple of
// 4, a byte outside the alphabet or misplaced padding is a failure (0), as in memcached.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace proto {

// Decodes src[0..n) into dst (room for n bytes; may alias src). Returns the decoded length, 0 on failure.
size_t base64_decode(const uint8_t* src, size_t n, uint8_t* dst);
void base64_encode(const uint8_t* src, size_t n, std::string* out);

}  // namespace proto
