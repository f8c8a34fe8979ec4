// meta.h — the store side of memcached's meta commands (mg, md, ma): the per-item state the
// stampede-protection flags need, and the read-modify-writes that must happen under one stripe
// lock (ttl updates, win tokens, invalidation, vivify on miss, arithmetic with a CAS check).
//
// Owns the use of two Item::iflags bits (defined with the others in layout.h): kStale =
// invalidated by `md I`, still served, with X; and kTokenSent = a client was handed the win
// token (W) for this item, others see Z.
// Invariants: both bits are only changed under the item's stripe; an item replaced by a store
// starts with both clear (a new item), as in memcached.
#pragma once
#include <cstdint>

#include "core/layout.h"
#include "core/stats.h"
#include "core/store.h"

namespace shm {

// What the meta commands report about an item.
struct MetaView {
  uint32_t vlen = 0;
  uint32_t flags = 0;
  uint64_t cas = 0;
  uint32_t exptime0 = 0;  // exptime as found (0 for an item this call created), absolute, 0 = never
  uint32_t exptime = 0;   // exptime after the call
  uint32_t atime = 0;     // last access before this call
  uint32_t now = 0;
  bool fetched = false;  // read before this call
  bool stale = false;
  bool token_sent = false;  // before this call
  bool won = false;
  bool created = false;
};

// mg's steps that act on the ttl and the win token. They act in the order the client asked for
// them (a later one sees what an earlier one did), each at most once.
enum class MetaGetStep : uint8_t {
  kSetTtl,     // exptime = ttl (memcached's T)
  kVivifyTtl,  // an item this call created (vivify): exptime = vivify_ttl, and the caller wins (N)
  kRecache,    // the caller wins when the item's remaining ttl is below recache_ttl and no win
               //   token is out (R)
};

// mg's options. The protocol's flag letters are parsed in native/proto/meta.cc; the store takes
// only these named fields.
struct MetaGetOptions {
  static constexpr uint8_t kMaxSteps = 3;
  MetaGetStep steps[kMaxSteps] = {};
  uint8_t n_steps = 0;      // steps[0..n_steps) in the order given
  int64_t ttl = 0;          // for kSetTtl
  bool vivify = false;      // on a miss: create an empty item (linked under the stripe)
  int64_t vivify_ttl = 0;   // for kVivifyTtl
  int64_t recache_ttl = 0;  // for kRecache
  bool no_bump = false;     // neither mark the item fetched nor bump its LRU position (u)

  // Appends a step (ignored past kMaxSteps).
  void add(MetaGetStep s) {
    if (n_steps < kMaxSteps) steps[n_steps++] = s;
  }
};
// Copies the value into out when it fits (else kBufferSmall with view->vlen, nothing changed).
Status meta_get(Ctx& ctx, const uint8_t* key, uint32_t nkey, const MetaGetOptions& opt, uint8_t* out, uint32_t cap,
                MetaView* view);

// md's options.
struct MetaDeleteOptions {
  bool has_cas = false;  // delete only when the item's CAS is `cas` (C)
  uint64_t cas = 0;
  bool invalidate = false;  // mark stale instead of deleting (I)
  bool set_ttl = false;     // with invalidate: a new ttl (T)
  int64_t ttl = 0;
};
// md: kOk, kMiss, kExists (CAS given and different). invalidate: mark stale, clear the token,
// new CAS, and a new ttl when set_ttl; otherwise delete.
Status meta_delete(Ctx& ctx, const uint8_t* key, uint32_t nkey, const MetaDeleteOptions& opt);

// ma: kOk (result, view->cas, view->exptime set), kMiss, kExists (CAS), kNonNumeric, kNoMemory.
struct MetaArithOptions {
  bool incr = true;
  uint64_t delta = 1;
  bool vivify = false;  // N: create with `initial` on a miss
  uint64_t initial = 0;
  int64_t vivify_ttl = 0;
  bool has_cas = false;
  uint64_t cas = 0;
  bool set_ttl = false;  // T
  int64_t ttl = 0;
  bool vivify_ttl_last = false;  // N came after T: a created item takes vivify_ttl (memcached applies them in order)
};
Status meta_arith(Ctx& ctx, const uint8_t* key, uint32_t nkey, const MetaArithOptions& opt, uint64_t* result,
                  MetaView* view);

// ms with C and I (memcached's CAS_STALE): like a cas, except that a CAS older than the item's
// stores the value anyway, marked stale (keeping the old exptime and a win token already sent).
// kOk (cas_out set), kMiss, kExists (a newer CAS that does not match), kTooLarge, kNoMemory.
Status meta_store_stale(Ctx& ctx, const uint8_t* key, uint32_t nkey, const uint8_t* val, uint32_t nval, uint32_t flags,
                        int64_t ttl, uint64_t cas, uint64_t* cas_out);

// The fields of `me` (meta debug); kMiss when absent.
Status meta_debug(Ctx& ctx, const uint8_t* key, uint32_t nkey, MetaView* view, uint32_t* cls, uint64_t* total);

}  // namespace shm
