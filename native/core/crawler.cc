// crawler.cc — see crawler.h.
#include "core/crawler.h"

#include "core/clock.h"
#include "core/events.h"
#include "core/hash.h"
#include "core/items.h"
#include "core/lru.h"
#include "core/region.h"

namespace shm {

static constexpr uint32_t kCrawlBatch = 256;  // entries per class-lock hold

// Under the class lock: walks from *cursor (0: the tail) towards the head for at most n entries.
// *cursor is left at the next entry, 0 when the head was passed.
static void crawl_locked(Ctx& ctx, uint32_t cls, ClassHdr& c, uint32_t* cursor, uint32_t n, CrawlResult& res) {
  Region& r = *ctx.r;
  Header* h = r.h();
  uint32_t off = *cursor;
  if (off) {
    Item* it = r.item(off);
    if (!it || (it->iflags & (kLinked | kFree)) != kLinked || it->cls != cls) off = 0;
  }
  if (off == 0) off = c.lru_tail;
  uint32_t checked = 0, freed = 0;
  while (off && checked < n) {
    Item* it = r.item(off);
    if (!it || (it->iflags & (kLinked | kFree)) != kLinked || it->cls != cls) {
      off = 0;  // not a list we can follow: the class is left for the next pass
      break;
    }
    ++checked;
    uint32_t prev = it->prev;
    if (item_is_dead(ctx, it)) {
      uint64_t hv = hash_key(it->key(), it->nkey);
      Stripe& stripe = stripe_of(h, hv);
      if (stripe_try_lock(stripe)) {
        if (item_is_dead(ctx, it)) {  // unchanged: only its stripe's holder could have replaced it
          event_record(ctx.events, kEventExpire, it);
          if (!(it->iflags & kFetched)) counter_add(c.expired_unfetched, 1);
          lru_drop(ctx, c, it, hv);
          ++freed;
        }
        stripe_unlock(stripe);
      }
    }
    off = prev;
  }
  counter_add(c.crawler_items_checked, checked);
  counter_add(c.crawler_reclaimed, freed);
  res.checked += checked;
  res.reclaimed += freed;
  *cursor = off;
}

static uint32_t n_classes(const Header* h) {
  uint32_t n = h->n_classes;
  return n < kMaxClasses ? n : kMaxClasses - 1;
}

CrawlResult crawl_expired(Ctx& ctx, CrawlState& st, uint32_t budget) {
  ctx.enter();
  ctx.now = clock_now(ctx.r->h());
  Header* h = ctx.r->h();
  CrawlResult res;
  uint32_t nc = n_classes(h);
  if (nc == 0) return res;
  if (st.cls == 0 || st.cls > nc) st = CrawlState{};
  uint32_t left = budget;
  // Each class costs at least one step, so an empty store still ends the loop.
  for (uint32_t steps = 0; left > 0 && steps <= 2 * nc; ++steps) {
    ClassHdr& c = h->classes[st.cls];
    if (counter_load(c.curr_items) != 0) {
      uint32_t n = left < kCrawlBatch ? left : kCrawlBatch;
      uint64_t before = res.checked;
      {
        Guard g(c.lock);
        crawl_locked(ctx, st.cls, c, &st.cursor, n, res);
      }
      uint64_t used = res.checked - before;
      left -= used < left ? uint32_t(used) : left;
      if (st.cursor != 0) continue;  // more of this class
    }
    st.cursor = 0;
    if (++st.cls > nc) {
      st.cls = 1;
      res.wrapped = true;
    }
  }
  return res;
}

CrawlResult crawl_class(Ctx& ctx, uint32_t cls, uint32_t budget) {
  ctx.enter();
  ctx.now = clock_now(ctx.r->h());
  CrawlResult res;
  if (cls == 0 || cls > n_classes(ctx.r->h())) return res;
  ClassHdr& c = ctx.r->h()->classes[cls];
  uint32_t cursor = 0;
  while (budget > 0) {
    uint32_t n = budget < kCrawlBatch ? budget : kCrawlBatch;
    {
      Guard g(c.lock);
      crawl_locked(ctx, cls, c, &cursor, n, res);
    }
    budget -= n;
    if (cursor == 0) break;
  }
  return res;
}

}  // namespace shm
