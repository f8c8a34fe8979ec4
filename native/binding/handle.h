// handle.h — the binding's state. Owns: the process-wide table of mapped regions (one mapping
// per file, shared by every thread), one Handle per (JS thread, region) with that thread's
// registered buffers, private memory and stats slot, and the helpers every call on a handle uses
// inside its gate (private key copy, meta writes, status mapping).
//
// Invariants:
//  - A Handle belongs to one env (thread). Env teardown and GC both close it, once.
//  - Core calls get private copies of the key (Private::keybuf), validated by the core; no
//    Node-API call happens between a gate's opening and its closing (gated() runs core work only).
//  - The numbers JS sees (return codes, buffer offsets) are the contract's (native/contract.h).
#pragma once
#include <node_api.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

#include "contract.h"
#include "core/events.h"
#include "core/recover.h"
#include "core/region.h"
#include "core/stats.h"
#include "core/store.h"
#include "gate/pku.h"

namespace shm::binding {

namespace c = shm::contract;

constexpr uint32_t kValueOff = c::kLayoutValueOffset;  // scratch: key at 0, value here
constexpr uint32_t kMetaLens = c::kLayoutMetaLens;     // meta: getMany's per-key lengths from here
constexpr uint32_t kManyMax = c::kLayoutManyMax;       // keys per getMany call
constexpr uint32_t kStage = 16 * 1024;                 // getInto: values up to this are staged privately

// The contract tied to the real layout: a change on one side only does not compile.
static_assert(c::kLayoutKeyMax == kKeyMax, "contract KeyMax is the core's kKeyMax");
static_assert(c::kLayoutItemHeader == sizeof(Item), "contract ItemHeader is sizeof(Item)");
static_assert(kValueOff >= kKeyMax, "the key fits before the value in scratch");
static_assert(c::kMetaOffMetaBits + 4 <= kMetaLens && c::kMetaOffIo64 + 8 <= kMetaLens,
              "meta results end before getMany's lengths");
static_assert(c::kMetaOffFlags == c::kMetaOffVlen + 4 && c::kMetaOffCas == c::kMetaOffVlen + 8,
              "put_meta writes ItemMeta's three fields back to back");

struct Mapping {
  Region* region;
  int refs;
  int pkey;               // protection key the region is tagged with; -1 = no protection
  bool evict;             // copied at open, so option checks need no gate
  RecoveryReport report;  // what the open that mapped it did (warm start, recovery, ...)
};
extern std::mutex g_maps_mu;
extern std::unordered_map<std::string, Mapping> g_maps;

// Per-thread private memory, tagged with the store's key: only a gate reaches it. Holds the
// copies of untrusted input (keys) and getMany's per-key results.
struct Private {
  uint8_t keybuf[kKeyMax + 8];
  uint8_t stage[kStage];
  uint8_t many_keys[kManyMax * (kKeyMax + 1)];
  const uint8_t* many_ptr[kManyMax];
  uint32_t many_len[kManyMax];
  Status many_status[kManyMax];
  ItemMeta many_meta[kManyMax];
  EventRing events;  // evictions and expirations seen by this handle's calls, when observed
};

struct Handle {
  napi_env env = nullptr;
  Mapping* map = nullptr;
  std::string key;  // g_maps key
  int pkey = -1;
  Ctx ctx;
  Private* priv = nullptr;
  size_t priv_len = 0;
  uint8_t* scratch = nullptr;
  size_t scratch_len = 0;
  napi_ref scratch_ref = nullptr;
  uint8_t* meta = nullptr;
  size_t meta_len = 0;
  napi_ref meta_ref = nullptr;
  uint8_t* arena = nullptr;
  size_t arena_len = 0;
  napi_ref arena_ref = nullptr;
  bool closed = false;
};

// handle.cc: lifetime.
Private* alloc_private(int pkey, size_t* len);
void release_ref(napi_env env, napi_ref* r);
void close_handle(Handle* h, bool env_alive);
void env_cleanup(void* arg);
void finalize_handle(napi_env env, void* data, void*);
void at_exit();

inline bool usable(Handle* h) { return h && !h->closed && h->scratch && h->priv; }

inline int32_t map_status(Status s) {
  switch (s) {
    case kBadKey: return c::kRetBadKey;
    case kTooLarge: return c::kRetTooLarge;
    case kNoMemory: return c::kRetNoMemory;
    case kNonNumeric: return c::kRetNonNumeric;
    case kBufferSmall: return c::kRetSmall;
    default: return int32_t(s);  // kOk..kExists are the contract's St
  }
}

// Inside a gate: copies the key out of the shared scratch buffer into private memory (another
// thread may change a SharedArrayBuffer under us); the core validates the copy, never the original.
inline const uint8_t* private_key(Handle* h, uint32_t klen) {
  std::memcpy(h->priv->keybuf, h->scratch, klen <= kKeyMax ? klen : 0);
  return h->priv->keybuf;
}

inline void meta_u32(Handle* h, int32_t off, uint32_t v) { std::memcpy(h->meta + off, &v, 4); }
inline void meta_u64(Handle* h, int32_t off, uint64_t v) { std::memcpy(h->meta + off, &v, 8); }
inline uint64_t meta_get_u64(Handle* h, int32_t off) {
  uint64_t v;
  std::memcpy(&v, h->meta + off, 8);
  return v;
}

inline void put_meta(Handle* h, const ItemMeta& m) {
  meta_u32(h, c::kMetaOffVlen, m.vlen);
  meta_u32(h, c::kMetaOffFlags, m.flags);
  meta_u64(h, c::kMetaOffCas, m.cas);
}

// Runs body (core work only: no Node-API, no JS) inside a gate; Ret.Busy if this thread is
// already inside one (a re-entrant call).
template <class F>
inline int32_t gated(Handle* h, F&& body) {
  gate::Gate g(h->pkey);
  if (g.refused()) return c::kRetBusy;
  h->ctx.enter();  // locks taken in here carry this thread's owner token for this region
  return body();
}

// Inside a gate: the answer of a get-like call. A hit returns the length and its flags and CAS go
// to meta; a value that did not fit reports its length at MetaOff.Vlen.
inline int32_t get_answer(Handle* h, Status s, const ItemMeta& m) {
  if (s == kOk) {
    put_meta(h, m);
    return int32_t(m.vlen);
  }
  if (s == kBufferSmall) meta_u32(h, c::kMetaOffVlen, m.vlen);
  return s == kMiss ? c::kRetMiss : map_status(s);
}

// The methods each binding file puts on a handle object (open.cc calls them in turn). Each
// returns false with a JS exception pending when a Node-API call failed.
bool attach_cache(napi_env env, napi_value obj, Handle* h);
bool attach_events(napi_env env, napi_value obj, Handle* h);
bool attach_test_only(napi_env env, napi_value obj, Handle* h);
bool attach_proto(napi_env env, napi_value obj, Handle* h);
// values.cc: has(key) and crawl(cursor), for Cache#has and Cache#keys(). ctx, pkey and closed
// belong to the handle and outlive its functions. False with a pending JS error on failure.
bool values_attach(napi_env env, napi_value handle_obj, shm::Ctx* ctx, int pkey, const bool* closed);
bool attach_crawler(napi_env env, napi_value obj, Handle* h);  // binding/crawler.cc

}  // namespace shm::binding
