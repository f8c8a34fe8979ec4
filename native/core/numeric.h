// numeric.h — incr/decr arithmetic on stored values, exactly as memcached does it. Owns: parsing
// a value the way memcached's safe_strtoull does (strtoull base 10 over the value bytes, which in
// memcached are followed by "\r\n") and formatting the result.
#pragma once
#include <cstdint>

namespace shm {

// True and *out set when memcached would accept `p[0..n)` as a number for incr/decr.
bool parse_delta_value(const uint8_t* p, uint32_t n, uint64_t* out);

// Writes the decimal digits of v to buf (at least 20 bytes); returns the digit count.
uint32_t format_u64(uint64_t v, uint8_t* buf);

}  // namespace shm
