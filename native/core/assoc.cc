// assoc.cc — see assoc.h.
#include "core/assoc.h"

#include <cstring>

#include "core/failpoint.h"
#include "core/hash.h"
#include "core/intent.h"
#include "core/region.h"

namespace shm {

static constexpr uint32_t kChainCap = 1u << 20;  // no real chain is this long: cut a loop

// The word holding the head of hv's chain. Caller holds hv's stripe.
static inline __attribute__((always_inline)) uint32_t* bucket_head(Region& r, uint64_t hv) {
  uint64_t s = r.h()->table_state.load(std::memory_order_acquire);
  uint32_t p = ts_power(s);
  uint32_t maxp = r.geo().max_hash_power;
  if (p < kMinHashPower) p = kMinHashPower;
  if (p > maxp) p = maxp;
  uint64_t ob = hv & ((uint64_t(1) << p) - 1);
  if (ts_expanding(s) && p < maxp && ob < ts_pos(s)) return &r.table(p + 1)[hv & ((uint64_t(2) << p) - 1)];
  return &r.table(p)[ob];
}

void assoc_prefetch_bucket(Region& r, uint64_t hv) { __builtin_prefetch(bucket_head(r, hv), 0, 1); }

void assoc_prefetch_item(Region& r, uint64_t hv) {
  uint32_t off = __atomic_load_n(bucket_head(r, hv), __ATOMIC_RELAXED);
  if (Item* it = r.chunk(off)) __builtin_prefetch(it, 0, 1);
}

void assoc_prefetch_buckets(Region& r, const uint64_t* hv, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) __builtin_prefetch(bucket_head(r, hv[i]), 0, 1);
}

void assoc_prefetch_items(Region& r, const uint64_t* hv, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t off = __atomic_load_n(bucket_head(r, hv[i]), __ATOMIC_RELAXED);
    if (Item* it = r.chunk(off)) __builtin_prefetch(it, 0, 1);
  }
}

// Keys up to 16 bytes (most of them) compare as two overlapping words, with no call to memcmp.
static inline bool key_eq(Item* it, const uint8_t* key, uint32_t nkey) {
  if (it->nkey != nkey) return false;
  const uint8_t* a = it->key();
  if (nkey >= 8 && nkey <= 16) {
    uint64_t x0, y0, x1, y1;
    std::memcpy(&x0, a, 8);
    std::memcpy(&y0, key, 8);
    std::memcpy(&x1, a + nkey - 8, 8);
    std::memcpy(&y1, key + nkey - 8, 8);
    return ((x0 ^ y0) | (x1 ^ y1)) == 0;
  }
  return std::memcmp(a, key, nkey) == 0;
}

Item* assoc_find(Region& r, uint64_t hv, const uint8_t* key, uint32_t nkey) {
  uint32_t off = *bucket_head(r, hv);
  for (uint32_t n = 0; off && n < kChainCap; ++n) {
    Item* it = r.item(off);
    if (!it) return nullptr;
    if (key_eq(it, key, nkey)) return it;
    off = it->h_next;
  }
  return nullptr;
}

// Racy by design (a seqlock reader): TSan would report the writer it races with, whose effects
// the caller discards unless the stripe's count validates.
__attribute__((no_sanitize("thread"))) Item* assoc_find_racy(Region& r, uint64_t hv, const uint8_t* key, uint32_t nkey,
                                                             uint32_t hops, bool* gave_up) {
  *gave_up = false;
  uint32_t off = __atomic_load_n(bucket_head(r, hv), __ATOMIC_RELAXED);
  for (uint32_t n = 0; off; ++n) {
    if (n == hops) {
      *gave_up = true;
      return nullptr;
    }
    Item* it = r.item(off);
    if (!it) {
      *gave_up = true;
      return nullptr;
    }
    if (key_eq(it, key, nkey)) return it;
    off = __atomic_load_n(&it->h_next, __ATOMIC_RELAXED);
  }
  return nullptr;
}

void assoc_insert(Region& r, uint64_t hv, Item* it) {
  uint32_t* head = bucket_head(r, hv);
  it->h_next = *head;
  __atomic_store_n(head, r.offset_of(it), __ATOMIC_RELEASE);  // the commit point
}

// The word that points at target in hv's chain, or nullptr.
static uint32_t* find_link(Region& r, uint64_t hv, Item* target) {
  uint32_t want = r.offset_of(target);
  uint32_t* link = bucket_head(r, hv);
  for (uint32_t n = 0; *link && n < kChainCap; ++n) {
    if (*link == want) return link;
    Item* it = r.item(*link);
    if (!it) return nullptr;
    link = &it->h_next;
  }
  return nullptr;
}

bool assoc_contains(Region& r, uint64_t hv, uint32_t off) {
  Item* it = r.chunk(off);
  return it && find_link(r, hv, it) != nullptr;
}

void assoc_replace(Region& r, uint64_t hv, Item* old, Item* neu) {
  uint32_t* link = find_link(r, hv, old);
  if (!link) {
    assoc_insert(r, hv, neu);
    return;
  }
  neu->h_next = old->h_next;
  __atomic_store_n(link, r.offset_of(neu), __ATOMIC_RELEASE);  // the commit point
}

bool assoc_unlink(Region& r, uint64_t hv, Item* it) {
  uint32_t* link = find_link(r, hv, it);
  if (!link) return false;
  __atomic_store_n(link, it->h_next, __ATOMIC_RELEASE);
  it->h_next = 0;
  return true;
}

void assoc_maybe_grow(Region& r, uint64_t items) {
  Header* h = r.h();
  uint64_t s = h->table_state.load(std::memory_order_acquire);
  uint32_t p = ts_power(s);
  if (ts_expanding(s) || p >= r.geo().max_hash_power) return;
  if (items * 4 <= (uint64_t(3) << p)) return;  // keep load <= 0.75: short chains, few misses
  if (!try_lock(h->expand_lock)) {
    static thread_local uint32_t tries = 0;
    if ((++tries & 1023) != 0 || !lock_reap(h->expand_lock)) return;
  }
  s = h->table_state.load(std::memory_order_acquire);
  if (!ts_expanding(s) && ts_power(s) == p) {
    // The table of power p+1 has its own place in the arena and has never been used (tables
    // only grow), and migration overwrites both halves of each bucket, so nothing to clear.
    h->table_state.store(ts_make(p, true, 0), std::memory_order_release);
  }
  unlock(h->expand_lock);
}

void assoc_migrate_bucket(Region& r, uint32_t p, uint32_t b, bool fresh) {
  uint64_t half = uint64_t(1) << p;
  uint32_t* old_head = &r.table(p)[b];
  uint32_t* lo = &r.table(p + 1)[b];
  uint32_t* hi = &r.table(p + 1)[b + half];
  // Bucket heads are read without the stripe lock by prefetchers (a hint only): every store to
  // one is atomic, relaxed where no item is published.
  if (fresh) {
    __atomic_store_n(lo, 0u, __ATOMIC_RELAXED);
    __atomic_store_n(hi, 0u, __ATOMIC_RELAXED);
  }
  // One item at a time, each step a single store, with the item and its old successor recorded
  // first: a thread killed anywhere in here leaves every item either in the old chain, in a new
  // one, or named by its intent record (recover.cc finishes the bucket).
  for (uint32_t guard = 0; *old_head && guard < kChainCap; ++guard) {
    uint32_t off = *old_head;
    Item* it = r.item(off);
    if (!it) {
      __atomic_store_n(old_head, 0u, __ATOMIC_RELAXED);  // a corrupt link: cut the chain here
      break;
    }
    uint32_t next = it->h_next;
    stripe_intent(kIntentMigrate, off, next);
    __atomic_store_n(old_head, next, __ATOMIC_RELEASE);
    SHM_FAILPOINT(kMigrateMidItem);
    uint32_t* dst = (hash_key(it->key(), it->nkey) & half) ? hi : lo;
    it->h_next = *dst;
    __atomic_store_n(dst, off, __ATOMIC_RELEASE);
  }
  stripe_intent_clear();
}

void assoc_migrate(Region& r, uint32_t n) {
  Header* h = r.h();
  if (!ts_expanding(h->table_state.load(std::memory_order_relaxed))) return;
  if (!try_lock(h->expand_lock)) {
    // Someone else is moving buckets, or a process died doing so: now and then look.
    static thread_local uint32_t tries = 0;
    if ((++tries & 1023) != 0 || !lock_reap(h->expand_lock)) return;
  }
  for (uint32_t k = 0; k < n; ++k) {
    uint64_t s = h->table_state.load(std::memory_order_acquire);
    if (!ts_expanding(s)) break;
    uint32_t p = ts_power(s);
    uint32_t b = ts_pos(s);
    if (p >= r.geo().max_hash_power || b >= (uint64_t(1) << p)) break;  // damaged state word
    uint64_t half = uint64_t(1) << p;
    Stripe& stripe = stripe_of(h, b);
    stripe_lock(stripe);
    if (h->table_state.load(std::memory_order_acquire) != s) {
      // Taking the stripe repaired it after a dead owner, and that finished this bucket.
      stripe_unlock(stripe);
      continue;
    }
    assoc_migrate_bucket(r, p, b, true);
    if (uint64_t(b) + 1 == half)
      h->table_state.store(ts_make(p + 1, false, 0), std::memory_order_release);
    else
      h->table_state.store(ts_make(p, true, b + 1), std::memory_order_release);
    stripe_unlock(stripe);
  }
  unlock(h->expand_lock);
}

}  // namespace shm
