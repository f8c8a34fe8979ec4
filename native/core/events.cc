// events.cc — see events.h.
#include "core/events.h"

namespace shm {

uint32_t event_drain(EventRing* ring, uint8_t* out, uint32_t cap, uint32_t* records) {
  uint32_t pos = 0, n = 0;
  if (!ring) {
    *records = 0;
    return 0;
  }
  while (n < ring->count) {
    const EventRec& e = ring->recs[n];
    uint32_t need = contract::kEventRecHeader + e.nkey;
    if (pos + need > cap) break;
    // The header as it is in EventRec (events.h asserts its offsets are the contract's).
    std::memcpy(out + pos, &e, contract::kEventRecHeader);
    out[pos + 3] = 0;
    std::memcpy(out + pos + contract::kEventRecHeader, e.key, e.nkey);
    pos += need;
    ++n;
  }
  // Keep what did not fit, in order.
  if (n > 0 && n < ring->count) std::memmove(ring->recs, ring->recs + n, (ring->count - n) * sizeof(EventRec));
  ring->count -= n;
  *records = n;
  return pos;
}

}  // namespace shm
