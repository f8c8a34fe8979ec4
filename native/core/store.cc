// store.cc — see store.h. Each command: validate, hash, take the key's stripe, read the store
// clock, find (dropping a dead item on the way, as memcached's do_item_get does), act, release.
#include "core/store.h"

#include <cstring>

#include "core/assoc.h"
#include "core/clock.h"
#include "core/failpoint.h"
#include "core/hash.h"
#include "core/items.h"
#include "core/keyed.h"
#include "core/numeric.h"
#include "core/region.h"

namespace shm {

// Whether any of the 8 bytes of w is <= 0x20 or 0x7f. Exact as a yes/no: a subtraction's borrow
// only reaches a byte above one that is itself flagged, and bytes >= 0x80 are never flagged.
static inline bool word_has_bad_key_byte(uint64_t w) {
  constexpr uint64_t k01 = 0x0101010101010101ull, k80 = 0x8080808080808080ull;
  uint64_t del = w ^ (0x7f * k01);  // 0x7f bytes become zero bytes
  return ((((w - 0x21 * k01) & ~w) | ((del - k01) & ~del)) & k80) != 0;
}

static inline bool key_ok(const uint8_t* key, uint32_t nkey) {
  if (nkey == 0 || nkey > kKeyMax) return false;
  if (nkey < 8) {
    for (uint32_t i = 0; i < nkey; ++i)
      if (key[i] <= 0x20 || key[i] == 0x7f) return false;
    return true;
  }
  // Eight bytes at a time; the last word overlaps the one before it when nkey is not a multiple of 8.
  uint64_t w;
  for (uint32_t i = 0; i + 8 < nkey; i += 8) {
    std::memcpy(&w, key + i, 8);
    if (word_has_bad_key_byte(w)) return false;
  }
  std::memcpy(&w, key + nkey - 8, 8);
  return !word_has_bad_key_byte(w);
}

bool key_valid(const uint8_t* key, uint32_t nkey) { return key_ok(key, nkey); }

uint32_t max_value_len(const Region& r, uint32_t nkey) {
  const Header* h = r.h();
  uint64_t top = h->classes[h->n_classes & (kMaxClasses - 1)].size;
  if (top > h->item_size_max) top = h->item_size_max;
  uint64_t over = sizeof(Item) + nkey;
  return top > over ? uint32_t(top - over) : 0;
}

static Stripe& stripe_of(Region& r, uint64_t hv) { return stripe_of(r.h(), hv); }

// A get that writes no shared line (stripe.h): look up and copy under the stripe's sequence count
// instead of its lock. Answers kOk or kMiss only when nothing needed writing (a live item already
// fetched, recency not due) and the count validated; anything else (a writer inside, a change
// under us, a dead item to unlink, a first fetch, a value larger than cap) returns kBufferSmall
// meaning "take the lock".
__attribute__((no_sanitize("thread"), always_inline)) static inline Status get_optimistic(
    Ctx& ctx, Stripe& s, uint64_t hv, const uint8_t* key, uint32_t nkey, uint8_t* out, uint32_t cap, ItemMeta* meta) {
#if defined(__SANITIZE_THREAD__)
  // Under TSan every optimistic read is (correctly) a race with some writer: TSan builds take the
  // lock for every get, so they check the locking protocol; other builds run this path.
  (void)ctx, (void)s, (void)hv, (void)key, (void)nkey, (void)out, (void)cap, (void)meta;
  return kBufferSmall;
#endif
  Region& r = *ctx.r;
  uint32_t begin = stripe_read_begin(s);
  if (begin & 1) return kBufferSmall;
  bool gave_up;
  Item* it = assoc_find_racy(r, hv, key, nkey, 16, &gave_up);
  if (gave_up) return kBufferSmall;
  if (!it) return stripe_read_valid(s, begin) ? kMiss : kBufferSmall;
  uint32_t n = __atomic_load_n(&it->nbytes, __ATOMIC_RELAXED);
  uint8_t iflags = iflags_load(it);
  uint32_t time = __atomic_load_n(&it->time, __ATOMIC_RELAXED);
  if (n > cap || !(iflags & kFetched) || time + kLruBumpInterval < ctx.now || item_is_dead(ctx, it))
    return kBufferSmall;
  uint64_t end = uint64_t(r.offset_of(it)) * kUnit + sizeof(Item) + nkey + n;
  if (end > r.geo().file_size) return kBufferSmall;
  std::memcpy(out, it->value(), n);
  ItemMeta m{n, __atomic_load_n(&it->flags, __ATOMIC_RELAXED), __atomic_load_n(&it->cas, __ATOMIC_RELAXED)};
  if (!stripe_read_valid(s, begin)) return kBufferSmall;
  *meta = m;
  return kOk;
}

// The locked half of a get (get_optimistic answered kBufferSmall, or a gat): find under the
// stripe's lock (unlinking a dead item on the way), copy, mark fetched, bump recency. Counts the
// command and its hit, miss, expired or flushed (nothing when the value does not fit cap).
static Status get_locked(Ctx& ctx, Stripe& s, uint64_t hv, const uint8_t* key, uint32_t nkey, bool touch, int64_t ttl,
                         uint8_t* out, uint32_t cap, ItemMeta* meta) {
  stripe_lock(s);
  int dead;
  Item* it = item_find_live(ctx, hv, key, nkey, &dead);
  if (!it) {
    stripe_unlock(s);
    if (dead == 1) ctx.count(kGetExpired);
    if (dead == 2) ctx.count(kGetFlushed);
    // memcached: gat/gats count in cmd_touch and touch_*, never in cmd_get or get_*.
    ctx.count(touch ? kCmdTouch : kCmdGet);
    ctx.count(touch ? kTouchMisses : kGetMisses);
    return kMiss;
  }
  if (it->nbytes > cap) {
    meta->vlen = it->nbytes;
    stripe_unlock(s);
    return kBufferSmall;
  }
  if (touch) it->exptime = abs_exptime(ttl, ctx.now);
  std::memcpy(out, it->value(), it->nbytes);
  meta->vlen = it->nbytes;
  meta->flags = it->flags;
  meta->cas = it->cas;
  if (!(it->iflags & kFetched)) iflags_store(it, it->iflags | kFetched);
  item_touch_lru(ctx, it);
  stripe_unlock(s);
  ctx.count(touch ? kCmdTouch : kCmdGet);
  ctx.count(touch ? kTouchHits : kGetHits);
  return kOk;
}

Status cmd_get(Ctx& ctx, const uint8_t* key, uint32_t nkey, bool touch, int64_t ttl, uint8_t* out, uint32_t cap,
               ItemMeta* meta) {
  ctx.enter();
  if (!key_valid(key, nkey)) return kBadKey;
  Region& r = *ctx.r;
  uint64_t hv = hash_key(key, nkey);
  Stripe& s = stripe_of(r, hv);
  ctx.now = clock_now(r.h());  // once per command: the clock has one-second resolution
  if (!touch) {
    Status st = get_optimistic(ctx, s, hv, key, nkey, out, cap, meta);
    if (st != kBufferSmall) {
      ctx.count(kCmdGet);
      ctx.count(st == kOk ? kGetHits : kGetMisses);
      return st;
    }
  }
  return get_locked(ctx, s, hv, key, nkey, touch, ttl, out, cap, meta);
}

// One batch is one command as far as the clock goes (read once, as memcached's multi-get sees one
// current_time) and each key is hashed once. Keys answered by the optimistic read are counted
// together at the end (same totals as n single gets); the locked path counts its own.
uint32_t cmd_get_many(Ctx& ctx, const uint8_t* const* keys, const uint32_t* nkeys, uint32_t n, uint8_t* out,
                      uint64_t cap, uint64_t* off, Status* status, ItemMeta* meta, uint32_t* need) {
  constexpr uint32_t kGroup = 16;
  ctx.enter();
  Region& r = *ctx.r;
  ctx.now = clock_now(r.h());
  uint64_t hv[kGroup];
  uint64_t hits = 0, misses = 0;
  uint32_t done = n;
  for (uint32_t base = 0; base < n && done == n; base += kGroup) {
    uint32_t g = n - base < kGroup ? n - base : kGroup;
    for (uint32_t i = 0; i < g; ++i) {
      uint32_t k = base + i;
      bool ok = key_ok(keys[k], nkeys[k]);
      status[k] = ok ? kOk : kBadKey;
      hv[i] = ok ? hash_key(keys[k], nkeys[k]) : 0;  // a refused key prefetches bucket 0: harmless
    }
    assoc_prefetch_buckets(r, hv, g);
    assoc_prefetch_items(r, hv, g);
    for (uint32_t i = 0; i < g; ++i) {
      uint32_t k = base + i;
      uint64_t o = (*off + 7) & ~uint64_t(7);
      if (o > cap) o = cap;
      if (status[k] == kBadKey) {
        *off = o;
        continue;
      }
      Stripe& s = stripe_of(r, hv[i]);
      uint32_t room = uint32_t(cap - o);
      Status st = get_optimistic(ctx, s, hv[i], keys[k], nkeys[k], out + o, room, &meta[k]);
      if (st == kOk) {
        ++hits;
      } else if (st == kMiss) {
        ++misses;
      } else {
        st = get_locked(ctx, s, hv[i], keys[k], nkeys[k], false, 0, out + o, room, &meta[k]);
        if (st == kBufferSmall) {
          *need = meta[k].vlen;
          done = k;
          break;
        }
      }
      status[k] = st;
      *off = st == kOk ? o + meta[k].vlen : o;
    }
  }
  if (hits + misses) ctx.count(kCmdGet, hits + misses);
  if (hits) ctx.count(kGetHits, hits);
  if (misses) ctx.count(kGetMisses, misses);
  return done;
}

static void fill(Item* it, const uint8_t* key, uint32_t nkey, uint32_t nbytes, uint32_t flags, uint32_t exptime) {
  it->nkey = uint8_t(nkey);
  it->nbytes = nbytes;
  it->flags = flags;
  it->exptime = exptime;
  std::memcpy(it->key(), key, nkey);
}

static Status alloc_status(Alloc a) { return a == Alloc::kTooLarge ? kTooLarge : kNoMemory; }

// append/prepend. With cas_in != 0 the CAS check and the relink happen under the one stripe lock
// held from the lookup to the link (memcached's do_store_item under its item lock): no other
// store of the key can land between the check and the act, so two appends that read the same
// CAS cannot both succeed. A mismatch is kExists (memcached: EXISTS), a missing key kNotStored.
static Status store_concat(Ctx& ctx, StoreCmd cmd, const uint8_t* key, uint32_t nkey, const uint8_t* val, uint32_t nval,
                           uint64_t cas_in, uint64_t* cas_out) {
  Region& r = *ctx.r;
  uint64_t hv = hash_key(key, nkey);
  Stripe& s = stripe_of(r, hv);
  ctx.count(kCmdSet);
  stripe_lock(s);
  ctx.now = clock_now(r.h());
  int dead;
  Item* old = item_find_live(ctx, hv, key, nkey, &dead);
  if (!old) {
    stripe_unlock(s);
    return kNotStored;
  }
  if (cas_in != 0 && old->cas != cas_in) {
    stripe_unlock(s);
    return kExists;
  }
  uint64_t nbytes = uint64_t(old->nbytes) + nval;
  Item* it = nullptr;
  // The stripe is held: item_alloc takes other stripes only with try_lock.
  if (nbytes > UINT32_MAX || item_alloc(ctx, sizeof(Item) + nkey + nbytes, &it) != Alloc::kOk) {
    stripe_unlock(s);
    return kNotStored;  // memcached answers NOT_STORED when the combined item cannot be allocated
  }
  fill(it, key, nkey, uint32_t(nbytes), old->flags, old->exptime);
  if (cmd == StoreCmd::kAppend) {
    std::memcpy(it->value(), old->value(), old->nbytes);
    std::memcpy(it->value() + old->nbytes, val, nval);
  } else {
    std::memcpy(it->value(), val, nval);
    std::memcpy(it->value() + nval, old->value(), old->nbytes);
  }
  item_link(ctx, hv, it, old);
  if (cas_out) *cas_out = it->cas;
  stripe_unlock(s);
  return kOk;
}

Status cmd_store(Ctx& ctx, StoreCmd cmd, const uint8_t* key, uint32_t nkey, const uint8_t* val, uint32_t nval,
                 uint32_t flags, int64_t ttl, uint64_t cas_in, uint64_t* cas_out) {
  ctx.enter();
  if (!key_valid(key, nkey)) return kBadKey;
  if (cmd == StoreCmd::kAppend || cmd == StoreCmd::kPrepend) {
    if (uint64_t(nval) > max_value_len(*ctx.r, nkey)) return kTooLarge;
    return store_concat(ctx, cmd, key, nkey, val, nval, cas_in, cas_out);
  }
  Region& r = *ctx.r;
  ctx.now = clock_now(r.h());
  // Start fetching the key's bucket now and its first item after the allocation, so the misses
  // of the lookup below overlap with the allocation and the copy.
  uint64_t hv = hash_key(key, nkey);
  assoc_prefetch_bucket(r, hv);
  // Allocate and fill before taking the stripe: the copy of a large value holds no lock.
  Item* it = nullptr;
  Alloc a = item_alloc(ctx, sizeof(Item) + nkey + uint64_t(nval), &it);
  if (a != Alloc::kOk) return alloc_status(a);
  assoc_prefetch_item(r, hv);
  fill(it, key, nkey, nval, flags, abs_exptime(ttl, ctx.now));
  std::memcpy(it->value(), val, nval);
  SHM_FAILPOINT(kSetAfterAlloc);
  ctx.count(kCmdSet);

  Stripe& s = stripe_of(r, hv);
  stripe_lock(s);
  int dead;
  Item* old = item_find_live(ctx, hv, key, nkey, &dead);
  Status st = kOk;
  switch (cmd) {
    case StoreCmd::kSet: item_link(ctx, hv, it, old); break;
    case StoreCmd::kAdd:
      if (old) {
        item_touch_lru(ctx, old);  // memcached: a failed add still bumps the existing item
        st = kNotStored;
      } else {
        item_link(ctx, hv, it, nullptr);
      }
      break;
    case StoreCmd::kReplace:
      if (old)
        item_link(ctx, hv, it, old);
      else
        st = kNotStored;
      break;
    case StoreCmd::kCas:
      if (!old) {
        st = kMiss;
      } else if (old->cas != cas_in) {
        st = kExists;
      } else {
        item_link(ctx, hv, it, old);
      }
      break;
    default: st = kNotStored;
  }
  if (st == kOk && cas_out) *cas_out = it->cas;
  stripe_unlock(s);
  if (cmd == StoreCmd::kCas) ctx.count(st == kOk ? kCasHits : st == kMiss ? kCasMisses : kCasBadval);
  if (st != kOk) {
    item_free_unlinked(ctx, it);
  } else if (!old) {
    assoc_migrate(r, 2);  // a growing table moves two buckets per insert (and per delete)
  }
  return st;
}

Status cmd_delete(Ctx& ctx, const uint8_t* key, uint32_t nkey) {
  ctx.enter();
  if (!key_valid(key, nkey)) return kBadKey;
  Region& r = *ctx.r;
  uint64_t hv = hash_key(key, nkey);
  Stripe& s = stripe_of(r, hv);
  stripe_lock(s);
  SHM_FAILPOINT(kDeleteStripeHeld);
  ctx.now = clock_now(r.h());
  int dead;
  Item* it = item_find_live(ctx, hv, key, nkey, &dead);
  if (it) item_unlink(ctx, hv, it);
  stripe_unlock(s);
  assoc_migrate(r, 2);  // a growing table also moves on deletes, not only on inserts
  ctx.count(it ? kDeleteHits : kDeleteMisses);
  return it ? kOk : kMiss;
}

Status cmd_delta(Ctx& ctx, const uint8_t* key, uint32_t nkey, bool incr, uint64_t delta, uint64_t* result) {
  ctx.enter();
  if (!key_valid(key, nkey)) return kBadKey;
  auto [hv, s, it, dead] = lock_key(ctx, key, nkey);
  if (!it) {
    stripe_unlock(s);
    ctx.count(incr ? kIncrMisses : kDecrMisses);
    return kMiss;
  }
  uint64_t v;
  if (!parse_delta_value(it->value(), it->nbytes, &v)) {
    stripe_unlock(s);
    return kNonNumeric;
  }
  if (incr) {
    v += delta;  // wraps at 2^64, as memcached
  } else {
    v = delta > v ? 0 : v - delta;
  }
  uint8_t digits[20];
  uint32_t n = format_u64(v, digits);
  Status st = kOk;
  if (n <= it->nbytes) {
    // In place, as memcached: the number, then spaces to the old length.
    std::memcpy(it->value(), digits, n);
    std::memset(it->value() + n, ' ', it->nbytes - n);
    stamp_cas(ctx, it);
    item_touch_lru(ctx, it);
  } else {
    Item* neu = nullptr;
    if (item_alloc(ctx, sizeof(Item) + nkey + n, &neu) != Alloc::kOk) {
      st = kNoMemory;
    } else {
      fill(neu, key, nkey, n, it->flags, it->exptime);
      std::memcpy(neu->value(), digits, n);
      item_link(ctx, hv, neu, it);
    }
  }
  stripe_unlock(s);
  if (st == kOk) {
    ctx.count(incr ? kIncrHits : kDecrHits);
    *result = v;
  }
  return st;
}

Status cmd_touch(Ctx& ctx, const uint8_t* key, uint32_t nkey, int64_t ttl) {
  ctx.enter();
  if (!key_valid(key, nkey)) return kBadKey;
  auto [hv, s, it, dead] = lock_key(ctx, key, nkey);
  if (it) {
    it->exptime = abs_exptime(ttl, ctx.now);
    iflags_store(it, it->iflags | kFetched);  // memcached's touch fetches with DO_UPDATE: the item counts as fetched
    item_touch_lru(ctx, it);
  }
  stripe_unlock(s);
  ctx.count(kCmdTouch);
  ctx.count(it ? kTouchHits : kTouchMisses);
  return it ? kOk : kMiss;
}

void cmd_flush_all(Ctx& ctx, int64_t delay) {
  ctx.enter();
  Header* h = ctx.r->h();
  ctx.now = clock_now(h);
  ctx.count(kCmdFlush);
  if (delay <= 0) {
    // Dead: what was stored in an earlier second, and what was stored in this one before now (its
    // CAS is below the counter's next value). The rule is flushed_by (items.h).
    // An item whose CAS the client chose is judged by the flush count instead (flushed_by).
    h->flush_gen.fetch_add(1, std::memory_order_relaxed);
    h->flush_live.store(ctx.now, std::memory_order_relaxed);
    h->flush_cas.store(h->cas_counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    h->flush_time.store(0, std::memory_order_relaxed);
  } else {
    h->flush_time.store(abs_exptime(delay, ctx.now), std::memory_order_relaxed);
  }
}

}  // namespace shm
