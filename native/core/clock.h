// clock.h — the store's clock. Owns: wall-clock seconds plus an offset kept in the region (so
// every process agrees, and tests can move time instead of sleeping, like memcached's debug
// time), and memcached's exptime rules. Invariant: exptimes in items are absolute store-clock
// seconds; 0 means never.
#pragma once
#include <cstdint>

#include "core/layout.h"

namespace shm {

uint32_t clock_now(const Header* h);

// memcached's realtime(): 0 = never; negative = already expired; up to 30 days relative to
// now; above that an absolute Unix time. Values are clamped to the uint32 range.
uint32_t abs_exptime(int64_t ttl, uint32_t now);

inline bool is_expired(uint32_t exptime, uint32_t now) { return exptime != 0 && exptime <= now; }

}  // namespace shm
