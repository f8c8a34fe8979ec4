// meta.h — the store side of memcached's meta commands (mg, md, ma): the per-item state the
// stampede-protection flags need, and the read-modify-writes that must happen under one stripe
// lock (ttl updates, win tokens, invalidation, vivify on miss, arithmetic with a CAS check).
//
// Owns two Item::iflags bits: kStale (8) = invalidated by `md I`, still served, with X; and
// kTokenSent (16) = a client was handed the win token (W) for this item, others see Z.
// Invariants: both bits are only changed under the item's stripe; an item replaced by a store
// starts with both clear (a new item), as in memcached.
#pragma once
#include <cstdint>

#include "core/layout.h"
#include "core/stats.h"
#include "core/store.h"

namespace shm {

enum : uint8_t {
  kStale = 8,
  kTokenSent = 16,
};

// What the meta commands report about an item.
struct MetaView {
  uint32_t vlen = 0;
  uint32_t flags = 0;
  uint64_t cas = 0;
  uint32_t exptime0 = 0;  // exptime as found (0 for an item this call created), absolute, 0 = never
  uint32_t exptime = 0;   // exptime after the call
  uint32_t atime = 0;     // last access before this call
  uint32_t now = 0;
  bool fetched = false;   // read before this call
  bool stale = false;
  bool token_sent = false;  // before this call
  bool won = false;
  bool created = false;
};

// mg. order: the letters T, N, R in the order their flags came (they act in that order).
struct MetaGetReq {
  const char* order = "";
  int64_t ttl = 0;          // T
  int64_t vivify_ttl = 0;   // N
  int64_t recache_ttl = 0;  // R
  bool vivify = false;
  bool no_bump = false;     // u
};
// Copies the value into out when it fits (else kBufferSmall with view->vlen, nothing changed).
Status meta_get(Ctx& ctx, const uint8_t* key, uint32_t nkey, const MetaGetReq& req, uint8_t* out, uint32_t cap,
                MetaView* view);

// md: kOk, kMiss, kExists (CAS given and different). invalidate (I): mark stale, clear the
// token, new CAS, and a new ttl when set_ttl; otherwise delete.
Status meta_delete(Ctx& ctx, const uint8_t* key, uint32_t nkey, bool has_cas, uint64_t cas, bool invalidate,
                   bool set_ttl, int64_t ttl);

// ma: kOk (result, view->cas, view->exptime set), kMiss, kExists (CAS), kNonNumeric, kNoMemory.
struct MetaArithReq {
  bool incr = true;
  uint64_t delta = 1;
  bool vivify = false;  // N: create with `initial` on a miss
  uint64_t initial = 0;
  int64_t vivify_ttl = 0;
  bool has_cas = false;
  uint64_t cas = 0;
  bool set_ttl = false;  // T
  int64_t ttl = 0;
};
Status meta_arith(Ctx& ctx, const uint8_t* key, uint32_t nkey, const MetaArithReq& req, uint64_t* result,
                  MetaView* view);

// ms with C and I (memcached's CAS_STALE): like a cas, except that a CAS older than the item's
// stores the value anyway, marked stale (keeping the old exptime and a win token already sent).
// kOk (cas_out set), kMiss, kExists (a newer CAS that does not match), kTooLarge, kNoMemory.
Status meta_store_stale(Ctx& ctx, const uint8_t* key, uint32_t nkey, const uint8_t* val, uint32_t nval,
                        uint32_t flags, int64_t ttl, uint64_t cas, uint64_t* cas_out);

// The fields of `me` (meta debug); kMiss when absent.
Status meta_debug(Ctx& ctx, const uint8_t* key, uint32_t nkey, MetaView* view, uint32_t* cls, uint64_t* total);

}  // namespace shm
