// items.cc — see items.h.
#include "core/items.h"

#include "core/assoc.h"
#include "core/clock.h"
#include "core/events.h"
#include "core/failpoint.h"
#include "core/intent.h"
#include "core/lru.h"
#include "core/rebalance.h"
#include "core/region.h"
#include "core/slabs.h"

namespace shm {

uint64_t next_cas(Ctx& ctx) {
  if (ctx.cas_in != 0) return ctx.cas_in;  // the client chose it (meta E flag)
  return ctx.r->h()->cas_counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

void stamp_cas(Ctx& ctx, Item* it) {
  it->cas = next_cas(ctx);
  uint8_t f = iflags_load(it);
  if (ctx.cas_in != 0) {
    // read without the stripe by the LRU tail walk (dead_hint): a relaxed atomic store, as iflags
    __atomic_store_n(&it->pad, uint8_t(ctx.r->h()->flush_gen.load(std::memory_order_relaxed)), __ATOMIC_RELAXED);
    iflags_store(it, uint8_t(f | kCasChosen));
  } else if (f & kCasChosen) {
    iflags_store(it, uint8_t(f & ~kCasChosen));
  }
}

Alloc item_alloc(Ctx& ctx, uint64_t ntotal, Item** out) {
  Region& r = *ctx.r;
  Header* h = r.h();
  uint32_t cls = slabs_clsid(h, ntotal);
  if (cls == 0) return Alloc::kTooLarge;
  ClassHdr& c = h->classes[cls];
  bool evict = h->evict != 0;
  uint32_t off = 0;
  {
    Guard g(c.lock);
    // As memcached (its non-segmented LRU: lru_pull_tail before every slabs_alloc): a dead
    // (expired or flushed) item near the tail is reclaimed first, even with free chunks left, so
    // a TTL churn reuses its own memory and neither grows the class nor holds dead items.
    lru_pull_tail(ctx, cls, false);
    for (int attempt = 0; attempt < 4 && off == 0; ++attempt) {
      off = slabs_pop_free(r, c);
      if (off) break;
      if (slabs_grow(r, cls)) continue;
      if (!evict || !lru_pull_tail(ctx, cls, true)) break;
    }
  }
  if (off == 0 && evict && slabs_reassign(ctx, cls)) {
    // The class was starving (no free chunk, no page left, nothing of its own to evict): another
    // class gave it a page.
    Guard g(c.lock);
    off = slabs_pop_free(r, c);
  }
  if (off == 0) {
    Guard g(c.lock);
    counter_add(c.outofmemory, 1);
    return Alloc::kNoMemory;
  }
  Item* it = r.chunk(off);
  it->h_next = it->prev = it->next = 0;
  it->iflags = 0;
  it->cls = uint8_t(cls);
  // In our hands until item_link (which overwrites this record) or item_free_unlinked.
  stripe_intent(kIntentAlloc, off, 0);
  *out = it;
  return Alloc::kOk;
}

void item_free_unlinked(Ctx& ctx, Item* it) {
  ClassHdr& c = ctx.r->h()->classes[it->cls & (kMaxClasses - 1)];
  {
    Guard g(c.lock);
    slabs_push_free(*ctx.r, c, it);
  }
  stripe_intent_clear();
}

// Starts fetching an item's LRU neighbours, whose links an unlink is about to write: at 100k+ keys
// they are two more memory misses, and this lets them overlap with each other and with the
// table work in between.
static void prefetch_neighbours(Region& r, const Item* it) {
  if (Item* p = r.chunk(it->prev)) __builtin_prefetch(p, 1, 1);
  if (Item* n = r.chunk(it->next)) __builtin_prefetch(n, 1, 1);
}

// Under the class lock: an item already unlinked from the table leaves the LRU and frees its chunk.
void item_retire(Region& r, ClassHdr& c, Item* old) {
  lru_unlink(r, c, old);
  counter_add(c.curr_items, -1);
  counter_add(c.bytes, -int64_t(old->ntotal()));
  slabs_push_free(r, c, old);
}

// Recorded as a stripe-level intent (kIntentLink): a survivor taking the stripe from a dead owner
// finishes it when the table store committed (LRU link, old item retired) or frees the new chunk
// when it did not (recover.cc).
void item_link(Ctx& ctx, uint64_t hv, Item* it, Item* old) {
  Region& r = *ctx.r;
  Header* h = r.h();
  stripe_intent(kIntentLink, r.offset_of(it), old ? r.offset_of(old) : 0);
  it->iflags = kLinked;
  stamp_cas(ctx, it);
  it->time = ctx.now;
  if (old) {
    prefetch_neighbours(r, old);
    assoc_replace(r, hv, old, it);
  } else {
    assoc_insert(r, hv, it);
  }
  SHM_FAILPOINT(kLinkAfterTable);
  ClassHdr& c = h->classes[it->cls & (kMaxClasses - 1)];
  ClassHdr* oc = old ? &h->classes[old->cls & (kMaxClasses - 1)] : nullptr;
  uint64_t items;
  {
    Guard g(c.lock);
    lru_link(r, c, it);
    counter_add(c.curr_items, 1);
    counter_add(c.bytes, int64_t(it->ntotal()));
    counter_add(c.total_items, 1);
    items = c.curr_items;
    if (oc == &c) {  // the common replace: same class, one lock round trip
      item_retire(r, c, old);
      stripe_intent_clear();
      return;
    }
  }
  if (oc) {
    Guard g(oc->lock);
    item_retire(r, *oc, old);
  }
  stripe_intent_clear();
  if (!oc && (items & 1023) == 0) {
    // Cheap trigger: look at the total only when one class crosses a multiple of 1024.
    assoc_maybe_grow(r, stats_curr_items(r));
  }
}

void item_unlink(Ctx& ctx, uint64_t hv, Item* it) {
  Region& r = *ctx.r;
  prefetch_neighbours(r, it);
  stripe_intent(kIntentUnlink, r.offset_of(it), 0);
  assoc_unlink(r, hv, it);
  SHM_FAILPOINT(kUnlinkAfterTable);
  ClassHdr& c = r.h()->classes[it->cls & (kMaxClasses - 1)];
  {
    Guard g(c.lock);
    item_retire(r, c, it);
  }
  stripe_intent_clear();
}

bool item_is_flushed(const Ctx& ctx, const Item* it) {
  const Header* h = ctx.r->h();
  return flushed_by(h->flush_cas.load(std::memory_order_relaxed), h->flush_live.load(std::memory_order_relaxed),
                    h->flush_time.load(std::memory_order_relaxed), ctx.now, it->time, it->cas, iflags_load(it), it->pad,
                    h->flush_gen.load(std::memory_order_relaxed));
}

Item* item_find_live(Ctx& ctx, uint64_t hv, const uint8_t* key, uint32_t nkey, int* why_dead) {
  *why_dead = 0;
  Item* it = assoc_find(*ctx.r, hv, key, nkey);
  if (!it) return nullptr;
  if (is_expired(it->exptime, ctx.now)) {
    *why_dead = 1;
    event_record(ctx.events, kEventExpire, it);
  } else if (item_is_flushed(ctx, it)) {
    *why_dead = 2;
  } else {
    return it;
  }
  item_unlink(ctx, hv, it);
  return nullptr;
}

bool item_is_dead(const Ctx& ctx, const Item* it) {
  return is_expired(it->exptime, ctx.now) || item_is_flushed(ctx, it);
}

void item_touch_lru(Ctx& ctx, Item* it) {
  if (it->time + kLruBumpInterval >= ctx.now) return;
  ClassHdr& c = ctx.r->h()->classes[it->cls & (kMaxClasses - 1)];
  Guard g(c.lock);
  lru_bump(*ctx.r, c, it);
  it->time = ctx.now;
}

}  // namespace shm
