// clock.cc — see clock.h.
#include "core/clock.h"

#include <ctime>

namespace shm {

uint32_t clock_now(const Header* h) {
  int64_t t = int64_t(time(nullptr)) + h->clock_offset.load(std::memory_order_relaxed);
  if (t < 2) t = 2;
  if (t > int64_t(UINT32_MAX)) t = UINT32_MAX;
  return uint32_t(t);
}

uint32_t abs_exptime(int64_t ttl, uint32_t now) {
  if (ttl == 0) return 0;
  if (ttl < 0) return 1;  // in the past: already expired
  if (uint64_t(ttl) > kRelativeMax) {
    if (ttl > int64_t(UINT32_MAX)) return UINT32_MAX;
    return uint32_t(ttl);  // absolute; a time already past is expired at once
  }
  uint64_t t = uint64_t(now) + uint64_t(ttl);
  return t > UINT32_MAX ? UINT32_MAX : uint32_t(t);
}

}  // namespace shm
