// rebalance.cc — see rebalance.h.
#include "core/rebalance.h"
#include "core/cpu_relax.h"

#include <vector>

#include "core/assoc.h"
#include "core/events.h"
#include "core/failpoint.h"
#include "core/hash.h"
#include "core/intent.h"
#include "core/lru.h"
#include "core/region.h"
#include "core/slabs.h"

namespace shm {

static constexpr int kStripeTries = 64;

// A class holding pages but no items first (its pages are all free chunks: moving one evicts
// nothing, and it may be its last page: the class can get one back the same way); else the class
// with the most pages, which keeps its last one.
static uint32_t pick_source(Header* h, uint32_t dst, bool* idle) {
  uint32_t n = h->n_classes < kMaxClasses ? h->n_classes : kMaxClasses - 1;
  *idle = false;
  for (uint32_t i = 1; i <= n; ++i) {
    if (i == dst) continue;
    if (counter_load(h->classes[i].total_pages) >= 1 && counter_load(h->classes[i].curr_items) == 0) {
      *idle = true;
      return i;
    }
  }
  uint32_t best = 0;
  uint64_t most = 1;  // a class keeps its last page
  for (uint32_t i = 1; i <= n; ++i) {
    if (i == dst) continue;
    uint64_t pages = counter_load(h->classes[i].total_pages);
    if (pages > most) {
      most = pages;
      best = i;
    }
  }
  return best;
}

// The page index of a chunk offset, or UINT32_MAX.
static uint32_t page_of(const Region& r, uint32_t off) {
  uint64_t b = uint64_t(off) * kUnit;
  if (b < r.geo().pages_off) return UINT32_MAX;
  uint64_t p = (b - r.geo().pages_off) / r.geo().page_size;
  return p < r.geo().pages_total ? uint32_t(p) : UINT32_MAX;
}

// Under the source class lock: empties the page. Returns false (and undoes what it can) if a
// chunk could not be taken.
static bool empty_page(Ctx& ctx, uint32_t src, uint32_t page) {
  Region& r = *ctx.r;
  Header* h = r.h();
  ClassHdr& c = h->classes[src];
  uint8_t* base = r.page(page);
  // Recorded: a survivor taking this class lock from a dead mover gives the page back to the
  // class (recover.cc), which is what the !ok path below does.
  class_intent(kIntentEmptyPage, page, src);
  std::vector<Item*> evicted;
  bool ok = true;
  uint32_t k = 0;
  for (; k < c.perslab && ok; ++k) {
    Item* it = reinterpret_cast<Item*>(base + uint64_t(k) * c.size);
    if (it->iflags & kFree) {
      it->iflags |= kMoving;  // still on the free list: removed below if the move goes ahead
      continue;
    }
    if (!(it->iflags & kLinked) || it->nkey == 0 || !r.item(r.offset_of(it))) {
      ok = false;  // allocated and not yet linked: someone is about to use it
      break;
    }
    uint64_t hv = hash_key(it->key(), it->nkey);
    Stripe& stripe = stripe_of(h, hv);
    bool locked = false;
    for (int t = 0; t < kStripeTries && !(locked = stripe_try_lock(stripe)); ++t) cpu_relax();
    if (!locked) {
      ok = false;
      break;
    }
    event_record(ctx.events, kEventEvict, it);
    assoc_unlink(r, hv, it);
    lru_unlink(r, c, it, false);
    counter_add(c.curr_items, -1);
    counter_add(c.bytes, -int64_t(it->ntotal()));
    counter_add(c.evicted, 1);
    if (it->exptime != 0) counter_add(c.evicted_nonzero, 1);
    if (!(it->iflags & kFetched)) counter_add(c.evicted_unfetched, 1);
    it->iflags = kMoving;
    SHM_FAILPOINT(kEmptyPageAfterEvict);
    stripe_unlock(stripe);
    evicted.push_back(it);
  }
  if (!ok) {
    // Give the page back: free chunks stay where they are, evicted ones join the free list.
    for (uint32_t j = 0; j < c.perslab; ++j) {
      Item* it = reinterpret_cast<Item*>(base + uint64_t(j) * c.size);
      if (it->iflags == (kFree | kMoving)) it->iflags = kFree;
    }
    for (Item* it : evicted) slabs_push_free(r, c, it);
    class_intent_clear();
    return false;
  }
  // Pull the page's free chunks off the free list (one walk; a rare event).
  uint8_t* lo = base;
  uint8_t* hi = base + r.geo().page_size;
  uint32_t* link = &c.free_head;
  uint64_t guard = 0;
  while (*link && guard++ < (uint64_t(1) << 32)) {
    Item* it = r.chunk(*link);
    if (!it) {
      *link = 0;  // corrupt tail: cut it
      break;
    }
    uint8_t* p = reinterpret_cast<uint8_t*>(it);
    if (p >= lo && p < hi) {
      *link = it->h_next;
      counter_add(c.free_chunks, -1);
    } else {
      link = &it->h_next;
    }
  }
  counter_add(c.total_pages, -1);
  h->page_cls[page < kMaxPages ? page : 0] = 0;  // between classes until carved for the new one
  class_intent_clear();
  return true;
}

// Moves one page of class src (the one holding its least recently used item, or any page of an
// itemless class) to dst. False when src has no such page or a chunk could not be taken.
static bool move_page(Ctx& ctx, uint32_t src, uint32_t dst, bool idle) {
  Region& r = *ctx.r;
  Header* h = r.h();
  ClassHdr& c = h->classes[src];
  uint32_t page;
  {
    Guard g(c.lock);
    if (idle ? (c.total_pages < 1 || c.curr_items != 0) : c.total_pages < 2) return false;
    page = page_of(r, c.lru_tail);
    if (page == UINT32_MAX) {
      // No items: any page whose first chunk belongs to this class is all free chunks.
      for (uint32_t p = 0; p < r.geo().pages_total; ++p) {
        if (p >= __atomic_load_n(&h->pages_used, __ATOMIC_RELAXED)) break;
        if (reinterpret_cast<Item*>(r.page(p))->cls == src) {
          page = p;
          break;
        }
      }
    }
    if (page == UINT32_MAX || reinterpret_cast<Item*>(r.page(page))->cls != src) return false;
    if (!empty_page(ctx, src, page)) return false;
  }
  // The page belongs to no class now; hand it over.
  ClassHdr& d = h->classes[dst];
  Guard g(d.lock);
  if (!slabs_carve(r, dst, page)) return false;
  ctx.count(kSlabsMoved);  // memcached's slabs_moved
  return true;
}

bool slabs_reassign(Ctx& ctx, uint32_t dst) {
  Header* h = ctx.r->h();
  if (!h->evict) return false;
  bool idle;
  uint32_t src = pick_source(h, dst, &idle);
  if (src == 0) return false;
  return move_page(ctx, src, dst, idle);
}

Reassign slabs_reassign_from(Ctx& ctx, int32_t src, int32_t dst) {
  ctx.enter();
  Header* h = ctx.r->h();
  int32_t n = int32_t(h->n_classes < kMaxClasses ? h->n_classes : kMaxClasses - 1);
  if (src == dst) return Reassign::kSame;
  if (src == -1) {  // memcached: the first class (other than dst) with a page to spare
    for (int32_t i = 1; i <= n && src == -1; ++i)
      if (i != dst && counter_load(h->classes[i].total_pages) > 1) src = i;
  }
  // Class 0 is memcached's global page pool; shmcached has none (pages go to classes as they are
  // first used), so it has nothing to spare and cannot receive a page.
  if (src < 0 || src > n || dst < 1 || dst > n) return Reassign::kBadClass;
  if (src == 0 || counter_load(h->classes[src].total_pages) < 2) return Reassign::kNoSpare;
  return move_page(ctx, uint32_t(src), uint32_t(dst), false) ? Reassign::kOk : Reassign::kBusy;
}

}  // namespace shm
