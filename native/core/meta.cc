// meta.cc — see meta.h. Each call: validate, hash, take the key's stripe, read the clock, find
// the live item (dropping a dead one, as every command does), act, release.
#include "core/meta.h"

#include <cstring>

#include "core/clock.h"
#include "core/hash.h"
#include "core/items.h"
#include "core/keyed.h"
#include "core/numeric.h"
#include "core/region.h"
#include "core/stripe.h"

namespace shm {

namespace {

// A new unlinked item holding key and value (nullptr when there is no memory for it).
Item* new_item(Ctx& ctx, const uint8_t* key, uint32_t nkey, const uint8_t* val, uint32_t nval, uint32_t flags,
               uint32_t exptime) {
  Item* it = nullptr;
  if (item_alloc(ctx, sizeof(Item) + nkey + uint64_t(nval), &it) != Alloc::kOk) return nullptr;
  it->nkey = uint8_t(nkey);
  it->nbytes = nval;
  it->flags = flags;
  it->exptime = exptime;
  std::memcpy(it->key(), key, nkey);
  if (nval) std::memcpy(it->value(), val, nval);
  return it;
}

void fill_view(const Ctx& ctx, const Item* it, MetaView* v) {
  v->vlen = it->nbytes;
  v->flags = it->flags;
  v->cas = it->cas;
  v->exptime0 = v->exptime = it->exptime;
  v->atime = it->time;
  v->now = ctx.now;
  v->fetched = (it->iflags & kFetched) != 0;
  v->stale = (it->iflags & kStale) != 0;
  v->token_sent = (it->iflags & kTokenSent) != 0;
}

}  // namespace

Status meta_get(Ctx& ctx, const uint8_t* key, uint32_t nkey, const MetaGetOptions& opt, uint8_t* out, uint32_t cap,
                MetaView* view) {
  ctx.enter();  // locks and intents from here on name this thread's slot in this region
  if (!key_valid(key, nkey)) return kBadKey;
  auto [hv, s, it, dead] = lock_key(ctx, key, nkey);
  bool created = false;
  if (!it && opt.vivify) {
    // memcached: an empty item, exptime set by N below, linked while the lock is held.
    it = new_item(ctx, key, nkey, nullptr, 0, 0, 0);
    if (it) {
      item_link(ctx, hv, it, nullptr);
      created = true;
    }
  }
  if (!it) {
    stripe_unlock(s);
    ctx.count(kCmdGet);
    ctx.count(kGetMisses);
    return kMiss;
  }
  if (it->nbytes > cap) {
    view->vlen = it->nbytes;
    stripe_unlock(s);
    return kBufferSmall;
  }
  *view = MetaView{};
  fill_view(ctx, it, view);
  if (created) view->exptime0 = 0;
  bool won = false;
  for (uint8_t i = 0; i < opt.n_steps && i < MetaGetOptions::kMaxSteps; ++i) {
    switch (opt.steps[i]) {
      case MetaGetStep::kSetTtl: it->exptime = abs_exptime(opt.ttl, ctx.now); break;
      case MetaGetStep::kVivifyTtl:
        if (created) {
          it->exptime = abs_exptime(opt.vivify_ttl, ctx.now);
          won = true;
        }
        break;
      case MetaGetStep::kRecache:
        if (!(it->iflags & kTokenSent) && !created && it->exptime != 0 &&
            it->exptime < abs_exptime(opt.recache_ttl, ctx.now))
          won = true;
        break;
    }
  }
  if ((it->iflags & kStale) && !(it->iflags & kTokenSent)) won = true;  // stale: the next reader wins
  if (won) iflags_store(it, it->iflags | kTokenSent);
  view->won = won;
  view->created = created;
  view->exptime = it->exptime;
  std::memcpy(out, it->value(), it->nbytes);
  if (!opt.no_bump) {
    iflags_store(it, it->iflags | kFetched);
    item_touch_lru(ctx, it);
  }
  stripe_unlock(s);
  ctx.count(kCmdGet);
  ctx.count(kGetHits);
  return kOk;
}

Status meta_delete(Ctx& ctx, const uint8_t* key, uint32_t nkey, const MetaDeleteOptions& opt) {
  ctx.enter();  // locks and intents from here on name this thread's slot in this region
  if (!key_valid(key, nkey)) return kBadKey;
  auto [hv, s, it, dead] = lock_key(ctx, key, nkey);
  Status st = kOk;
  if (!it) {
    st = kMiss;
  } else if (opt.has_cas && it->cas != opt.cas) {
    st = kExists;
  } else if (opt.invalidate) {
    if (opt.set_ttl) it->exptime = abs_exptime(opt.ttl, ctx.now);
    iflags_store(it, uint8_t((it->iflags | kStale) & ~kTokenSent));
    stamp_cas(ctx, it);
  } else {
    item_unlink(ctx, hv, it);
  }
  stripe_unlock(s);
  ctx.count(st == kOk && !opt.invalidate ? kDeleteHits : kDeleteMisses, st == kOk && opt.invalidate ? 0 : 1);
  return st;
}

Status meta_arith(Ctx& ctx, const uint8_t* key, uint32_t nkey, const MetaArithOptions& opt, uint64_t* result,
                  MetaView* view) {
  ctx.enter();  // locks and intents from here on name this thread's slot in this region
  if (!key_valid(key, nkey)) return kBadKey;
  auto [hv, s, it, dead] = lock_key(ctx, key, nkey);
  uint8_t digits[20];
  Status st = kOk;
  uint64_t v = 0;
  bool created = false;
  if (!it) {
    if (!opt.vivify) {
      stripe_unlock(s);
      ctx.count(opt.incr ? kIncrMisses : kDecrMisses);
      return kMiss;
    }
    v = opt.initial;
    uint32_t n = format_u64(v, digits);
    it = new_item(ctx, key, nkey, digits, n, 0, 0);
    if (!it) {
      stripe_unlock(s);
      return kNoMemory;
    }
    item_link(ctx, hv, it, nullptr);
    created = true;
  } else if (it->nbytes == 0) {
    st = kNonNumeric;  // memcached refuses an empty value before it looks at the CAS
  } else if (opt.has_cas && it->cas != opt.cas) {
    st = kExists;
  } else if (!parse_delta_value(it->value(), it->nbytes, &v)) {
    st = kNonNumeric;
  } else {
    if (opt.incr)
      v += opt.delta;
    else
      v = opt.delta > v ? 0 : v - opt.delta;
    uint32_t n = format_u64(v, digits);
    if (n <= it->nbytes) {
      std::memcpy(it->value(), digits, n);  // in place, padded with spaces (memcached)
      std::memset(it->value() + n, ' ', it->nbytes - n);
      stamp_cas(ctx, it);
      item_touch_lru(ctx, it);
    } else {
      Item* neu = new_item(ctx, key, nkey, digits, n, it->flags, it->exptime);
      if (!neu) {
        st = kNoMemory;
      } else {
        item_link(ctx, hv, neu, it);
        it = neu;
      }
    }
    if (st == kOk) ctx.count(opt.incr ? kIncrHits : kDecrHits);
  }
  if (st == kOk) {
    uint32_t before = created ? 0 : it->exptime;
    // T, and N for a created item, in the order the client gave them (the later one wins).
    if (created && (!opt.set_ttl || opt.vivify_ttl_last)) it->exptime = abs_exptime(opt.vivify_ttl, ctx.now);
    if (opt.set_ttl && !(created && opt.vivify_ttl_last)) it->exptime = abs_exptime(opt.ttl, ctx.now);
    *view = MetaView{};
    fill_view(ctx, it, view);
    view->exptime0 = before;
    view->created = created;
    *result = v;
  }
  stripe_unlock(s);
  return st;
}

Status meta_store_stale(Ctx& ctx, const uint8_t* key, uint32_t nkey, const uint8_t* val, uint32_t nval, uint32_t flags,
                        int64_t ttl, uint64_t cas, uint64_t* cas_out) {
  ctx.enter();  // locks and intents from here on name this thread's slot in this region
  if (!key_valid(key, nkey)) return kBadKey;
  if (uint64_t(nval) > max_value_len(*ctx.r, nkey)) return kTooLarge;
  Region& r = *ctx.r;
  ctx.now = clock_now(r.h());
  Item* it = new_item(ctx, key, nkey, val, nval, flags, abs_exptime(ttl, ctx.now));
  if (!it) return kNoMemory;
  ctx.count(kCmdSet);
  uint64_t hv = hash_key(key, nkey);
  Stripe& s = stripe_of(r.h(), hv);
  stripe_lock(s);
  int why_dead;
  Item* old = item_find_live(ctx, hv, key, nkey, &why_dead);
  Status st = kOk;
  if (!old) {
    st = kMiss;
  } else if (old->cas == cas) {
    item_link(ctx, hv, it, old);
  } else if (cas < old->cas) {
    uint32_t exptime = old->exptime;
    uint8_t token = old->iflags & kTokenSent;
    item_link(ctx, hv, it, old);
    it->exptime = exptime;
    iflags_store(it, uint8_t(it->iflags | kStale | token));
  } else {
    st = kExists;
  }
  if (st == kOk) *cas_out = it->cas;
  stripe_unlock(s);
  ctx.count(st == kOk ? kCasHits : st == kMiss ? kCasMisses : kCasBadval);
  if (st != kOk) item_free_unlinked(ctx, it);
  return st;
}

Status meta_debug(Ctx& ctx, const uint8_t* key, uint32_t nkey, MetaView* view, uint32_t* cls, uint64_t* total) {
  ctx.enter();  // locks and intents from here on name this thread's slot in this region
  if (!key_valid(key, nkey)) return kBadKey;
  auto [hv, s, it, dead] = lock_key(ctx, key, nkey);
  if (it) {
    *view = MetaView{};
    fill_view(ctx, it, view);
    *cls = it->cls;
    *total = it->ntotal();
  }
  stripe_unlock(s);
  return it ? kOk : kMiss;
}

}  // namespace shm
