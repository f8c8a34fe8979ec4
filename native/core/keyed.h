// keyed.h — the locked lookup every keyed command in store.cc and meta.cc starts with: hash the
// key, take its stripe, read the store clock once, find the live item (a dead one is unlinked on
// the way, as memcached's do_item_get does). Header-only and always inlined: it sits on the
// get/set/delete paths, which must not gain a call.
//
// Invariants: on return the key's stripe is held and ctx.now is set; the caller releases the
// stripe (stripe_unlock(s)) on every path. The key has been validated by the caller.
#pragma once
#include <cstdint>

#include "core/clock.h"
#include "core/hash.h"
#include "core/items.h"
#include "core/layout.h"
#include "core/region.h"
#include "core/stripe.h"

namespace shm {

struct KeyLock {
  uint64_t hv;  // the key's hash
  Stripe& s;    // its stripe, held
  Item* it;     // the live item, or nullptr
  int dead;     // as item_find_live's why_dead: 0 none, 1 expired, 2 flushed
};

[[gnu::always_inline]] inline KeyLock lock_key(Ctx& ctx, const uint8_t* key, uint32_t nkey) {
  Header* h = ctx.r->h();
  uint64_t hv = hash_key(key, nkey);
  Stripe& s = stripe_of(h, hv);
  stripe_lock(s);
  ctx.now = clock_now(h);
  int dead;
  Item* it = item_find_live(ctx, hv, key, nkey, &dead);
  return KeyLock{hv, s, it, dead};
}

}  // namespace shm
