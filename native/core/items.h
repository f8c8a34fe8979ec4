// items.h — an item's life: allocation (a dead item at the LRU tail, the free list, a fresh page,
// then eviction from the LRU tail), linking into
// the hash table and LRU, unlinking and freeing, and whether it is still alive (expiry and
// flush_all). Owns the class counters that follow links and unlinks (curr_items, bytes,
// total_items) and the CAS counter.
//
// Invariants: link and unlink run under the item's stripe and take its class lock inside
// (stripe -> class). item_alloc runs with or without a stripe held; it never blocks on a stripe.
#pragma once
#include <cstdint>

#include "core/layout.h"
#include "core/stats.h"

namespace shm {

class Region;

enum class Alloc { kOk, kTooLarge, kNoMemory };

// A chunk for an item of ntotal bytes, header fields cleared except cls. On kNoMemory the
// class's outofmemory counter has been bumped.
Alloc item_alloc(Ctx& ctx, uint64_t ntotal, Item** out);
// Returns an item that was allocated but never linked.
void item_free_unlinked(Ctx& ctx, Item* it);
// Under the stripe: makes a fresh item reachable, replacing old when given (one store in the
// chain). Assigns a new CAS and the current time.
void item_link(Ctx& ctx, uint64_t hv, Item* it, Item* old);
// Under the stripe: removes a linked item from the table and LRU and frees its chunk.
void item_unlink(Ctx& ctx, uint64_t hv, Item* it);
// Under the class lock, the item's stripe held and its kIntentUnlink recorded, the item already
// out of the table: leaves the LRU (recorded as kIntentLruUnlink), uncounted, chunk freed.
void item_retire(Region& r, ClassHdr& c, Item* it);
// Expired, or flushed by flush_all.
bool item_is_dead(const Ctx& ctx, const Item* it);
// Stripe held, ctx.now set: the live item for key, or nullptr after unlinking a dead one (and
// recording an expiry event for an expired one). *why_dead: 0 none, 1 expired, 2 flushed.
Item* item_find_live(Ctx& ctx, uint64_t hv, const uint8_t* key, uint32_t nkey, int* why_dead);
bool item_is_flushed(const Ctx& ctx, const Item* it);
// The flush rule, on values already loaded from the header (items.cc, lru.cc). An immediate
// flush_all (fc = the CAS counter's next value, fl = its second) kills what was stored in an
// earlier second (memcached's item_is_flushed, so a CAS a client chose with meta E does not save
// an item) and what was stored in fl's own second before it (CAS below fc). fl == 0 with fc set is
// a file from before fl was written: the CAS mark alone. A delayed flush (ft) kills what was stored
// before ft, once ft has come. A CAS the client chose (kCasChosen) says nothing of when the item was
// stored: such an item carries instead the low byte of the flush count (gen, Header::flush_gen) when
// it was stored (`mark`, Item::pad), and in fl's second it is dead when that is not gen's now (only
// 256 flushes in one second could make an old mark look current).
inline bool flushed_by(uint64_t fc, uint32_t fl, uint32_t ft, uint32_t now, uint32_t time, uint64_t cas, uint8_t iflags,
                       uint8_t mark, uint32_t gen) {
  bool before = (iflags & kCasChosen) ? mark != uint8_t(gen) : cas < fc;
  if (fc != 0 && (fl == 0 ? cas < fc : time < fl || (time == fl && before))) return true;
  return ft != 0 && ft <= now && time < ft;
}
// Under the stripe: refreshes recency at most once per kLruBumpInterval.
void item_touch_lru(Ctx& ctx, Item* it);
uint64_t next_cas(Ctx& ctx);
// Under the item's stripe: gives it its next CAS (next_cas) and, for a client's CAS, the flush mark.
void stamp_cas(Ctx& ctx, Item* it);

}  // namespace shm
