// lru.h — one LRU list per slab class, and pulling from its tail. Owns: the prev/next links of
// linked items and the class's head/tail, and the choice of what to reclaim or evict when a
// class has no free chunk.
//
// Invariants: all of it runs under the class lock. Reads never take this lock unless the item's
// recency is older than kLruBumpInterval (memcached's ITEM_UPDATE_INTERVAL), so a hot item costs
// one lock per minute, not one per get. The tail pull takes victims' stripes with try_lock only
// (class -> stripe goes against the lock order) and skips what it cannot lock.
#pragma once
#include <cstdint>

#include "core/layout.h"
#include "core/stats.h"

namespace shm {

class Region;

void lru_link(Region& r, ClassHdr& c, Item* it);
// record = false: no intent record (the caller's own record covers the change, rebalance.cc).
void lru_unlink(Region& r, ClassHdr& c, Item* it, bool record = true);
void lru_bump(Region& r, ClassHdr& c, Item* it);

// Under the class lock and the item's stripe (taken by try_lock), no stripe intent of the
// caller's pending: unlinks a linked item of class c from the table and LRU and frees its chunk,
// recording kIntentUnlink as item_unlink does. Counts nothing but curr_items/bytes.
void lru_drop(Ctx& ctx, ClassHdr& c, Item* it, uint64_t hv);

// Under the class lock: frees one chunk of the class by reclaiming a dead (expired or flushed)
// item among the last kTailSearch (counted in `reclaimed`) or, when evict is set, evicting the
// least recently used one. item_alloc calls it without evict before every allocation (memcached's
// order) and with evict when the class has no free chunk and no page is left. A live item costs
// no lock unless evict is set. True if a chunk went to the free list.
bool lru_pull_tail(Ctx& ctx, uint32_t cls, bool evict);

}  // namespace shm
