// lru.cc — see lru.h.
#include "core/lru.h"

#include "core/assoc.h"
#include "core/clock.h"
#include "core/events.h"
#include "core/failpoint.h"
#include "core/hash.h"
#include "core/intent.h"
#include "core/items.h"
#include "core/region.h"
#include "core/slabs.h"

namespace shm {

static constexpr int kTailSearch = 5;  // as memcached's lru_pull_tail

// Both record their change as a class-level intent: a survivor that takes this class lock from a
// dead owner rebuilds the list by walking it and then finishes the recorded link or unlink.
void lru_link(Region& r, ClassHdr& c, Item* it) {
  uint32_t off = r.offset_of(it);
  class_intent(kIntentLruLink, off, it->cls);
  it->prev = 0;
  it->next = c.lru_head;
  if (Item* head = r.chunk(c.lru_head)) head->prev = off;
  SHM_FAILPOINT(kLruLinkBeforeCommit);
  c.lru_head = off;  // the commit point: the forward walk from the head now reaches it
  if (c.lru_tail == 0) c.lru_tail = off;
  class_intent_clear();
}

void lru_unlink(Region& r, ClassHdr& c, Item* it, bool record) {
  uint32_t off = r.offset_of(it);
  if (record) class_intent(kIntentLruUnlink, off, it->cls);
  if (Item* p = r.chunk(it->prev))
    p->next = it->next;  // the commit point (or the head store)
  else if (c.lru_head == off)
    c.lru_head = it->next;
  if (Item* n = r.chunk(it->next))
    n->prev = it->prev;
  else if (c.lru_tail == off)
    c.lru_tail = it->prev;
  it->prev = it->next = 0;
  if (record) class_intent_clear();
}

void lru_bump(Region& r, ClassHdr& c, Item* it) {
  if (c.lru_head == r.offset_of(it)) return;
  lru_unlink(r, c, it);
  lru_link(r, c, it);
}

void lru_drop(Ctx& ctx, ClassHdr& c, Item* it, uint64_t hv) {
  Region& r = *ctx.r;
  // The same records as item_unlink: a survivor taking this stripe (or the class lock) from us
  // finishes the unlink (recover.cc stripe_repair / class_repair).
  stripe_intent(kIntentUnlink, r.offset_of(it), 0);
  assoc_unlink(r, hv, it);
  item_retire(r, c, it);
  stripe_intent_clear();
}

// Under the class lock, without the item's stripe: whether it looks dead. The fields it reads
// change only under the stripe (touch, replace), so this is a hint, confirmed under the stripe;
// the item itself cannot be freed meanwhile (that takes this class lock).
static bool dead_hint(const Ctx& ctx, const Item* it) {
#if defined(__SANITIZE_THREAD__)
  (void)ctx;
  (void)it;
  return true;  // TSan builds check the locking protocol: every look is under the stripe
#endif
  uint32_t exptime = __atomic_load_n(&it->exptime, __ATOMIC_RELAXED);
  if (is_expired(exptime, ctx.now)) return true;
  const Header* h = ctx.r->h();
  return flushed_by(h->flush_cas.load(std::memory_order_relaxed), h->flush_live.load(std::memory_order_relaxed),
                    h->flush_time.load(std::memory_order_relaxed), ctx.now,
                    __atomic_load_n(&it->time, __ATOMIC_RELAXED), __atomic_load_n(&it->cas, __ATOMIC_RELAXED),
                    iflags_load(it), __atomic_load_n(&it->pad, __ATOMIC_RELAXED),
                    h->flush_gen.load(std::memory_order_relaxed));
}

bool lru_pull_tail(Ctx& ctx, uint32_t cls, bool evict) {
  Region& r = *ctx.r;
  Header* h = r.h();
  ClassHdr& c = h->classes[cls];
  uint32_t off = c.lru_tail;
  for (int tries = 0; off && tries < kTailSearch; ++tries) {
    Item* it = r.item(off);
    if (!it || !(iflags_load(it) & kLinked)) {
      // The tail points at something that is not a linked item: cut the list there.
      c.lru_tail = 0;
      c.lru_head = 0;
      return false;
    }
    uint32_t prev = it->prev;
    if (!evict && !dead_hint(ctx, it)) {  // the common case: a live tail costs no lock, no hash
      off = prev;
      continue;
    }
    uint64_t hv = hash_key(it->key(), it->nkey);
    Stripe& stripe = stripe_of(h, hv);
    if (!stripe_try_lock(stripe)) {  // held by someone (maybe our own caller): try the next one
      off = prev;
      continue;
    }
    bool dead = item_is_dead(ctx, it);
    if (dead || evict) {
      event_record(ctx.events, dead ? kEventExpire : kEventEvict, it);
      if (dead) {
        counter_add(c.reclaimed, 1);
        if (!(it->iflags & kFetched)) counter_add(c.expired_unfetched, 1);
      } else {
        counter_add(c.evicted, 1);
        counter_set(c.evicted_time, ctx.now > it->time ? ctx.now - it->time : 0);
        if (it->exptime != 0) counter_add(c.evicted_nonzero, 1);
        if (!(it->iflags & kFetched)) counter_add(c.evicted_unfetched, 1);
      }
      lru_drop(ctx, c, it, hv);
      stripe_unlock(stripe);
      return true;
    }
    stripe_unlock(stripe);
    off = prev;
  }
  return false;
}

}  // namespace shm
