// crawl.cc — see crawl.h.
#include "core/crawl.h"

#include "core/assoc.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/items.h"
#include "core/region.h"
#include "core/stripe.h"

namespace shm {

static constexpr uint32_t kChainCap = 1u << 20;  // as assoc.cc: no real chain is this long

Status cmd_peek(Ctx& ctx, const uint8_t* key, uint32_t nkey) {
  ctx.enter();
  if (!key_valid(key, nkey)) return kBadKey;
  Region& r = *ctx.r;
  uint64_t hv = hash_key(key, nkey);
  Stripe& s = stripe_of(r.h(), hv);
  ctx.now = clock_now(r.h());
  stripe_lock(s);
  Item* it = assoc_find(r, hv, key, nkey);
  bool live = it && !item_is_dead(ctx, it);
  stripe_unlock(s);
  return live ? kOk : kMiss;
}

// Stripe held: appends the live keys of one chain.
static void copy_chain(Ctx& ctx, Region& r, uint32_t off, std::vector<uint8_t>* out) {
  for (uint32_t n = 0; off && n < kChainCap; ++n) {
    Item* it = r.item(off);
    if (!it) return;
    if (!item_is_dead(ctx, it)) {
      out->push_back(it->nkey);
      out->insert(out->end(), it->key(), it->key() + it->nkey);
    }
    off = it->h_next;
  }
}

bool crawl_keys(Ctx& ctx, uint64_t* cursor, std::vector<uint8_t>* out, size_t soft_cap) {
  ctx.enter();
  Region& r = *ctx.r;
  Header* h = r.h();
  ctx.now = clock_now(h);
  uint32_t maxp = r.geo().max_hash_power;
  for (;;) {
    uint64_t b = *cursor;
    Stripe& s = h->stripes[stripe_index(b)];
    stripe_lock(s);
    // Under the stripe of b the table state is exact for b's buckets (assoc.h).
    uint64_t st = h->table_state.load(std::memory_order_acquire);
    uint32_t p = ts_power(st);
    if (p < kMinHashPower) p = kMinHashPower;
    if (p > maxp) p = maxp;
    uint64_t half = uint64_t(1) << p;
    if (b >= half) {
      stripe_unlock(s);
      return true;
    }
    if (ts_expanding(st) && p < maxp && b < ts_pos(st)) {
      // Already moved: its items are in the new table's two halves (same stripe: 2^p >= kStripes).
      copy_chain(ctx, r, __atomic_load_n(&r.table(p + 1)[b], __ATOMIC_ACQUIRE), out);
      copy_chain(ctx, r, __atomic_load_n(&r.table(p + 1)[b + half], __ATOMIC_ACQUIRE), out);
    } else {
      copy_chain(ctx, r, __atomic_load_n(&r.table(p)[b], __ATOMIC_ACQUIRE), out);
    }
    stripe_unlock(s);
    *cursor = b + 1;
    if (out->size() >= soft_cap) return false;
  }
}

}  // namespace shm
