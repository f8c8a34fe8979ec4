// addon.cc — the Node-API binding. Owns: the process-wide table of mapped regions (one mapping
// per file, shared by every thread), one Handle per (JS thread, region) with that thread's
// registered buffers and stats slot, and the translation of core statuses into small integers.
//
// Invariants:
//  - Hot calls take numbers only. The key and value are in the thread's registered scratch
//    buffer, results go to the registered arena/meta buffers; lengths and statuses come back as
//    int32. No JS string or Buffer is created on a hot path.
//  - Core calls get private copies of the key (keybuf), validated by the core; no Node-API call
//    happens between the core call's start and its end (where the gates of issue 3 will sit).
//  - A Handle belongs to one env (thread). Env teardown and GC both close it, once.
#include <napi.h>
#include <node_api.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/recover.h"
#include "core/region.h"
#include "core/stats.h"
#include "core/store.h"
#include "core/events.h"
#include "core/meta.h"
#include "gate/pku.h"
#include "proto_binding.h"
#include "binding_crawler.h"

namespace {

using namespace shm;

// ---- process-wide mappings -------------------------------------------------------------------

struct Mapping {
  Region* region;
  int refs;
  int pkey;      // protection key the region is tagged with; -1 = no protection
  bool evict;    // copied at open, so option checks need no gate
  RecoveryReport report;  // what the open that mapped it did (warm start, recovery, ...)
};
std::mutex g_maps_mu;
std::unordered_map<std::string, Mapping> g_maps;

// Buffer layout shared with src/native.ts.
constexpr uint32_t kValueOff = 1024;   // scratch: key at 0, value at 1024
constexpr uint32_t kMetaLens = 64;     // meta: per-key lengths (u32) from byte 64
constexpr uint32_t kManyMax = 1024;    // keys per getMany call (src/cache.ts MANY_MAX)
constexpr uint32_t kStage = 16 * 1024; // getInto: values up to this are staged privately
constexpr int32_t kRetMiss = -1, kRetSmall = -2, kRetBadKey = -3, kRetTooLarge = -4, kRetNoMem = -5,
                  kRetNonNumeric = -6, kRetClosed = -7, kRetBusy = -8;

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

Private* alloc_private(int pkey, size_t* len) {
  *len = (sizeof(Private) + 4095) / 4096 * 4096;
  void* m = mmap(nullptr, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  if (!gate::protect(m, *len, pkey)) {
    munmap(m, *len);
    return nullptr;
  }
  return static_cast<Private*>(m);
}

void release_ref(napi_env env, napi_ref* r) {
  if (*r) {
    napi_delete_reference(env, *r);
    *r = nullptr;
  }
}

void close_handle(Handle* h, bool env_alive) {
  if (h->closed) return;
  h->closed = true;
  {
    gate::Gate g(h->pkey);  // the slot lives in the region
    stats_detach(&h->ctx);
  }
  if (env_alive) {
    release_ref(h->env, &h->scratch_ref);
    release_ref(h->env, &h->meta_ref);
    release_ref(h->env, &h->arena_ref);
  }
  h->scratch = h->meta = h->arena = nullptr;
  h->scratch_len = h->meta_len = h->arena_len = 0;
  if (h->priv) munmap(h->priv, h->priv_len);
  h->priv = nullptr;
  std::lock_guard<std::mutex> lk(g_maps_mu);
  if (h->map && --h->map->refs == 0) {
    {
      // The last handle of the mapping: ~Region detaches this process in the header (the attach
      // table, the clean flag), which is region memory, so behind the gate like any other access.
      gate::Gate g(h->map->pkey);
      delete h->map->region;
    }
    g_maps.erase(h->key);
  }
  h->map = nullptr;
}

void env_cleanup(void* arg) { close_handle(static_cast<Handle*>(arg), false); }

void finalize_handle(napi_env env, void* data, void*) {
  auto* h = static_cast<Handle*>(data);
  if (!h->closed) {
    // Collected without close(): drop the references too, or they would keep the scratch and
    // arena Buffers alive until the thread exits.
    napi_remove_env_cleanup_hook(env, env_cleanup, h);
    close_handle(h, true);
  }
  delete h;
}

// ---- argument helpers ------------------------------------------------------------------------

template <size_t N>
Handle* args(napi_env env, napi_callback_info info, napi_value (&argv)[N]) {
  size_t argc = N;
  void* data = nullptr;
  napi_get_cb_info(env, info, &argc, argv, nullptr, &data);
  return static_cast<Handle*>(data);
}

uint32_t u32(napi_env env, napi_value v) {
  uint32_t r = 0;
  napi_get_value_uint32(env, v, &r);
  return r;
}
int64_t i64(napi_env env, napi_value v) {
  int64_t r = 0;
  napi_get_value_int64(env, v, &r);
  return r;
}
double f64(napi_env env, napi_value v) {
  double r = 0;
  napi_get_value_double(env, v, &r);
  return r;
}
napi_value ret_int(napi_env env, int32_t v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}
int32_t map_status(Status s) {
  switch (s) {
    case kBadKey: return kRetBadKey;
    case kTooLarge: return kRetTooLarge;
    case kNoMemory: return kRetNoMem;
    case kNonNumeric: return kRetNonNumeric;
    case kBufferSmall: return kRetSmall;
    default: return int32_t(s);
  }
}

// Inside a gate: copies the key out of the shared scratch buffer into private memory (another
// thread may change a SharedArrayBuffer under us); the core validates the copy, never the original.
inline const uint8_t* private_key(Handle* h, uint32_t klen) {
  std::memcpy(h->priv->keybuf, h->scratch, klen <= kKeyMax ? klen : 0);
  return h->priv->keybuf;
}

inline bool usable(Handle* h) { return h && !h->closed && h->scratch && h->priv; }

inline void put_meta(Handle* h, const ItemMeta& m) {
  std::memcpy(h->meta + 0, &m.vlen, 4);
  std::memcpy(h->meta + 4, &m.flags, 4);
  std::memcpy(h->meta + 8, &m.cas, 8);
}

// Runs body (core work only: no Node-API, no JS) inside a gate; kRetBusy if this thread is
// already inside one (a re-entrant call).
template <class F>
inline int32_t gated(Handle* h, F&& body) {
  gate::Gate g(h->pkey);
  if (g.refused()) return kRetBusy;
  h->ctx.enter();  // locks taken in here carry this thread's owner token for this region
  return body();
}

// Inside a gate: the answer of a get-like call. A hit returns the length and its flags and CAS go
// to meta; a value that did not fit reports its length at meta+0.
inline int32_t get_answer(Handle* h, Status s, const ItemMeta& m) {
  if (s == kOk) {
    put_meta(h, m);
    return int32_t(m.vlen);
  }
  if (s == kBufferSmall) std::memcpy(h->meta, &m.vlen, 4);
  return s == kMiss ? kRetMiss : map_status(s);
}

// ---- hot calls (C Node-API: about half the cost of node-addon-api per call) ------------------
// Each parses its numbers, then does all region work inside one gate, then returns a number.
// Values are copied straight into the arena, a Buffer this binding allocated (never a caller's
// memory, and JS memory cannot be unmapped while referenced), so that copy cannot fault while a
// stripe is held; getInto, which writes the caller's own Uint8Array, stages through private
// memory first (values up to 16 KiB).

// get(klen, outOff) -> vlen | status ; gat(klen, outOff, ttl)
napi_value do_get(napi_env env, napi_callback_info info, bool touch) {
  napi_value argv[3];
  Handle* h = args(env, info, argv);
  if (!usable(h)) return ret_int(env, kRetClosed);
  uint32_t klen = u32(env, argv[0]);
  uint32_t off = u32(env, argv[1]);
  int64_t ttl = touch ? i64(env, argv[2]) : 0;
  if (off > h->arena_len) off = uint32_t(h->arena_len);
  int32_t r = gated(h, [&]() -> int32_t {
    ItemMeta m{};
    Status s = cmd_get(h->ctx, private_key(h, klen), klen, touch, ttl, h->arena + off, uint32_t(h->arena_len - off), &m);
    return get_answer(h, s, m);
  });
  return ret_int(env, r);
}
napi_value js_get(napi_env env, napi_callback_info info) { return do_get(env, info, false); }
napi_value js_gat(napi_env env, napi_callback_info info) { return do_get(env, info, true); }

// getInto(klen, target: Uint8Array, offset) -> vlen | status. Copies into the caller's own
// memory: no arena, no allocation. kRetSmall (vlen at meta+0) when the rest of target is short.
napi_value js_get_into(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  Handle* h = args(env, info, argv);
  if (!usable(h)) return ret_int(env, kRetClosed);
  uint32_t klen = u32(env, argv[0]);
  bool is_ta = false;
  napi_is_typedarray(env, argv[1], &is_ta);
  if (!is_ta) return ret_int(env, kRetBadKey);
  napi_typedarray_type type;
  napi_value ab;
  void* data = nullptr;
  size_t len = 0, byte_off = 0;
  napi_get_typedarray_info(env, argv[1], &type, &len, &data, &ab, &byte_off);
  if (type != napi_uint8_array) return ret_int(env, kRetBadKey);
  uint32_t off = u32(env, argv[2]);
  if (off > len) off = uint32_t(len);
  uint8_t* dst = static_cast<uint8_t*>(data) + off;
  uint32_t room = uint32_t(len - off);
  int32_t r = gated(h, [&]() -> int32_t {
    ItemMeta m{};
    const uint8_t* key = private_key(h, klen);
    // Stage through private memory so the stripe is free before the caller's memory is written.
    Status s = cmd_get(h->ctx, key, klen, false, 0, h->priv->stage, room < kStage ? room : kStage, &m);
    if (s == kOk) {
      std::memcpy(dst, h->priv->stage, m.vlen);
    } else if (s == kBufferSmall && m.vlen <= room) {
      // Larger than the stage but fits the target: copy directly (one more lookup).
      s = cmd_get(h->ctx, key, klen, false, 0, dst, room, &m);
    }
    return get_answer(h, s, m);
  });
  return ret_int(env, r);
}

// store(cmd, klen, vlen, flags, ttl) -> status; cas in/out at meta+16.
napi_value js_store(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  Handle* h = args(env, info, argv);
  if (!usable(h)) return ret_int(env, kRetClosed);
  uint32_t cmd = u32(env, argv[0]);
  uint32_t klen = u32(env, argv[1]);
  uint32_t vlen = u32(env, argv[2]);
  uint32_t flags = u32(env, argv[3]);
  int64_t ttl = i64(env, argv[4]);
  if (cmd > uint32_t(StoreCmd::kCas)) return ret_int(env, kRetBadKey);
  if (uint64_t(kValueOff) + vlen > h->scratch_len) return ret_int(env, kRetTooLarge);
  int32_t r = gated(h, [&]() -> int32_t {
    uint64_t cas_in, cas_out = 0;
    std::memcpy(&cas_in, h->meta + 16, 8);
    // The value is copied from scratch straight into the new item, which no one else can see
    // until it is linked: that item is the private copy.
    Status s = cmd_store(h->ctx, StoreCmd(cmd), private_key(h, klen), klen, h->scratch + kValueOff, vlen, flags, ttl,
                         cas_in, &cas_out);
    if (s == kOk) std::memcpy(h->meta + 16, &cas_out, 8);
    return map_status(s);
  });
  return ret_int(env, r);
}

napi_value js_delete(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Handle* h = args(env, info, argv);
  if (!usable(h)) return ret_int(env, kRetClosed);
  uint32_t klen = u32(env, argv[0]);
  return ret_int(env, gated(h, [&] { return map_status(cmd_delete(h->ctx, private_key(h, klen), klen)); }));
}

// delta(klen, incr, delta) ; delta < 0 means "read the 64-bit delta at meta+16". Result at meta+16.
napi_value js_delta(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  Handle* h = args(env, info, argv);
  if (!usable(h)) return ret_int(env, kRetClosed);
  uint32_t klen = u32(env, argv[0]);
  bool incr = u32(env, argv[1]) != 0;
  double d = f64(env, argv[2]);
  int32_t r = gated(h, [&]() -> int32_t {
    uint64_t delta;
    if (d < 0) std::memcpy(&delta, h->meta + 16, 8);
    else delta = uint64_t(d);
    uint64_t result = 0;
    Status s = cmd_delta(h->ctx, private_key(h, klen), klen, incr, delta, &result);
    if (s == kOk) std::memcpy(h->meta + 16, &result, 8);
    return map_status(s);
  });
  return ret_int(env, r);
}

napi_value js_touch(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Handle* h = args(env, info, argv);
  if (!usable(h)) return ret_int(env, kRetClosed);
  uint32_t klen = u32(env, argv[0]);
  int64_t ttl = i64(env, argv[1]);
  return ret_int(env, gated(h, [&] { return map_status(cmd_touch(h->ctx, private_key(h, klen), klen, ttl)); }));
}

// getMany(n, outOff) -> keys done. Keys packed in scratch as [u8 len][bytes]. For key i, meta
// u32 at kMetaLens + 4i: the value length (value at the next 8-aligned arena offset), or
// 0xFFFFFFFF miss, 0xFFFFFFFE bad key. Stops early when the arena is full (needed size at meta+0).
// metaGet(klen, outOff, vivifyTtl, recacheTtl) -> vlen | status: memcached's `mg <key> v c f
// N<vivifyTtl> R<recacheTtl>` (a ttl < 0 leaves that flag out), the stampede-protection read behind
// Cache.fetch. vlen, flags and CAS go to meta as for get; meta+24 gets the state bits: 1 won (the
// caller holds the win token), 2 stale, 4 a win token was already out, 8 created by this call.
napi_value js_meta_get(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  Handle* h = args(env, info, argv);
  if (!usable(h)) return ret_int(env, kRetClosed);
  uint32_t klen = u32(env, argv[0]);
  uint32_t off = u32(env, argv[1]);
  int64_t nttl = i64(env, argv[2]);
  int64_t rttl = i64(env, argv[3]);
  if (off > h->arena_len) off = uint32_t(h->arena_len);
  int32_t r = gated(h, [&]() -> int32_t {
    MetaGetReq req;
    char order[3] = {0, 0, 0};
    int n = 0;
    if (nttl >= 0) {
      req.vivify = true;
      req.vivify_ttl = nttl;
      order[n++] = 'N';
    }
    if (rttl >= 0) {
      req.recache_ttl = rttl;
      order[n++] = 'R';
    }
    req.order = order;
    MetaView v{};
    Status s = meta_get(h->ctx, private_key(h, klen), klen, req, h->arena + off, uint32_t(h->arena_len - off), &v);
    if (s == kOk) {
      put_meta(h, ItemMeta{v.vlen, v.flags, v.cas});
      uint32_t bits = (v.won ? 1u : 0u) | (v.stale ? 2u : 0u) | (v.token_sent ? 4u : 0u) | (v.created ? 8u : 0u);
      std::memcpy(h->meta + 24, &bits, 4);
      return int32_t(v.vlen);
    }
    if (s == kBufferSmall) std::memcpy(h->meta, &v.vlen, 4);
    return s == kMiss ? kRetMiss : map_status(s);
  });
  return ret_int(env, r);
}

// metaDelete(klen, invalidate, ttl) -> status: memcached's `md <key> [I] [T<ttl>] [C<cas>]`, the
// CAS (0 = any) at meta+16. invalidate marks the item stale (still served, the next reader wins
// the refresh) instead of deleting it; ttl < 0 keeps its ttl.
napi_value js_meta_delete(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  Handle* h = args(env, info, argv);
  if (!usable(h)) return ret_int(env, kRetClosed);
  uint32_t klen = u32(env, argv[0]);
  bool invalidate = u32(env, argv[1]) != 0;
  int64_t ttl = i64(env, argv[2]);
  return ret_int(env, gated(h, [&]() -> int32_t {
    uint64_t cas;
    std::memcpy(&cas, h->meta + 16, 8);
    Status s = meta_delete(h->ctx, private_key(h, klen), klen, cas != 0, cas, invalidate, ttl >= 0, ttl);
    return map_status(s);
  }));
}

napi_value js_get_many(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Handle* h = args(env, info, argv);
  if (!usable(h)) return ret_int(env, kRetClosed);
  uint32_t n = u32(env, argv[0]);
  uint64_t off = u32(env, argv[1]);
  uint32_t max_keys = uint32_t((h->meta_len - kMetaLens) / 4);
  if (n > max_keys) n = max_keys;
  if (n > kManyMax) n = kManyMax;
  int32_t r = gated(h, [&]() -> int32_t {
    Private* p = h->priv;
    // Private copies of every key first, then one core call that overlaps their memory misses.
    size_t pos = 0;
    uint32_t parsed = 0;
    for (; parsed < n; ++parsed) {
      if (pos >= h->scratch_len) break;
      uint32_t klen = h->scratch[pos];
      if (pos + 1 + klen > h->scratch_len) break;
      uint8_t* dst = p->many_keys + size_t(parsed) * (kKeyMax + 1);
      // A slot holds kKeyMax bytes; a longer length copies nothing and the core refuses the key.
      std::memcpy(dst, h->scratch + pos + 1, klen <= kKeyMax ? klen : 0);
      p->many_ptr[parsed] = dst;
      p->many_len[parsed] = klen;
      pos += 1 + klen;
    }
    uint32_t need = 0;
    uint32_t done = cmd_get_many(h->ctx, p->many_ptr, p->many_len, parsed, h->arena, h->arena_len, &off,
                                 p->many_status, p->many_meta, &need);
    for (uint32_t i = 0; i < done; ++i) {
      Status st = p->many_status[i];
      uint32_t out = st == kOk ? p->many_meta[i].vlen : st == kMiss ? 0xFFFFFFFFu : 0xFFFFFFFEu;
      std::memcpy(h->meta + kMetaLens + 4 * i, &out, 4);
    }
    if (done < parsed) std::memcpy(h->meta, &need, 4);
    return int32_t(done);
  });
  return ret_int(env, r);
}

// setMany(n, flags, ttl) -> entries stored; on a failing entry stops and writes its status at
// meta+0. Entries packed in scratch as [u8 klen][u32 vlen][key][value].
napi_value js_set_many(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  Handle* h = args(env, info, argv);
  if (!usable(h)) return ret_int(env, kRetClosed);
  uint32_t n = u32(env, argv[0]);
  uint32_t flags = u32(env, argv[1]);
  int64_t ttl = i64(env, argv[2]);
  int32_t r = gated(h, [&]() -> int32_t {
    size_t pos = 0;
    uint32_t i = 0;
    for (; i < n; ++i) {
      if (pos + 5 > h->scratch_len) break;
      uint32_t klen = h->scratch[pos];
      uint32_t vlen;
      std::memcpy(&vlen, h->scratch + pos + 1, 4);
      if (pos + 5 + uint64_t(klen) + vlen > h->scratch_len) break;
      std::memcpy(h->priv->keybuf, h->scratch + pos + 5, klen);
      Status s = cmd_store(h->ctx, StoreCmd::kSet, h->priv->keybuf, klen, h->scratch + pos + 5 + klen, vlen, flags,
                           ttl, 0, nullptr);
      if (s != kOk) {
        int32_t st = map_status(s);
        std::memcpy(h->meta, &st, 4);
        break;
      }
      pos += 5 + klen + vlen;
    }
    return int32_t(i);
  });
  return ret_int(env, r);
}

// Test-only: this thread's PKRU (-1 without PKU).
napi_value js_pkru(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  args(env, info, argv);
  napi_value r;
  napi_create_double(env, gate::pku_available() ? double(gate::rdpkru()) : -1.0, &r);
  return r;
}

void probe_segv(int, siginfo_t* si, void*) {
  char msg[64];
  int n = snprintf(msg, sizeof msg, "probe: SIGSEGV si_code=%d\n", si->si_code);
  if (write(2, msg, size_t(n)) < 0) {}
  _exit(77);
}

// Test-only: touches the region directly, WITHOUT a gate. mode bit 0: write instead of read;
// bit 1: first install a SIGSEGV handler that prints si_code and exits 77. With PKU this faults
// (SEGV_PKUERR); without, it returns the byte.
napi_value js_probe(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Handle* h = args(env, info, argv);
  if (!h || h->closed || !h->map) return ret_int(env, -1);
  uint32_t mode = u32(env, argv[0]);
  if (mode & 2) {
    struct sigaction sa {};
    sa.sa_sigaction = probe_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, nullptr);
  }
  volatile uint8_t* p = h->map->region->base() + 4096;  // inside the header's page range
  int32_t v;
  if (mode & 1) {
    v = *p;
    *p = uint8_t(v);
  } else {
    v = *p;
  }
  return ret_int(env, v);
}

// ---- cold calls (node-addon-api) -------------------------------------------------------------
// Setup, stats and teardown: called rarely, so they use node-addon-api's C++ wrappers for
// argument checks, objects and errors. The hot calls above stay on the C API, which costs about
// half as much per call (DESIGN.md's reference table).

Handle* handle_of(const Napi::CallbackInfo& info) { return static_cast<Handle*>(info.Data()); }

bool buffer_arg(const Napi::Value& v, uint8_t** data, size_t* len) {
  if (!v.IsBuffer()) return false;
  auto b = v.As<Napi::Buffer<uint8_t>>();
  *data = b.Data();
  *len = b.Length();
  return true;
}

void set_ref(napi_env env, napi_ref* r, napi_value v) {
  release_ref(env, r);
  napi_create_reference(env, v, 1, r);
}

// setBuffers(scratch, meta)
Napi::Value SetBuffers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Handle* h = handle_of(info);
  if (!h || h->closed) return env.Undefined();
  uint8_t *s, *m;
  size_t sl, ml;
  if (!buffer_arg(info[0], &s, &sl) || !buffer_arg(info[1], &m, &ml) || sl < kValueOff || ml < kMetaLens ||
      (reinterpret_cast<uintptr_t>(m) & 7)) {
    Napi::TypeError::New(env, "setBuffers(scratch, meta): bad buffers").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  set_ref(env, &h->scratch_ref, info[0]);
  set_ref(env, &h->meta_ref, info[1]);
  h->scratch = s;
  h->scratch_len = sl;
  h->meta = m;
  h->meta_len = ml;
  return env.Undefined();
}

// setArena(buffer): where values are copied out to.
Napi::Value SetArena(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Handle* h = handle_of(info);
  if (!h || h->closed) return env.Undefined();
  uint8_t* a;
  size_t al;
  if (!buffer_arg(info[0], &a, &al) || al > UINT32_MAX) {
    Napi::TypeError::New(env, "setArena(buffer): bad buffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  set_ref(env, &h->arena_ref, info[0]);
  h->arena = a;
  h->arena_len = al;
  return env.Undefined();
}

int64_t int_arg(const Napi::Value& v) { return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : 0; }

// debugDieIn(point, klen, vlen): test only (recover.h debug_die_in): the process dies by SIGKILL
// in the middle of a change, key in scratch, value at kValueOff.
Napi::Value DebugDieIn(const Napi::CallbackInfo& info) {
  Handle* h = handle_of(info);
  int point = int(int_arg(info[0]));
  uint32_t klen = uint32_t(int_arg(info[1])), vlen = uint32_t(int_arg(info[2]));
  if (usable(h) && klen <= kKeyMax && uint64_t(kValueOff) + vlen <= h->scratch_len)
    gated(h, [&] {
      debug_die_in(h->ctx, point, private_key(h, klen), klen, h->scratch + kValueOff, vlen);
      return 0;
    });
  return info.Env().Undefined();
}

// setEvents(sample): record one eviction/expiration in `sample` caused by this handle's calls
// (0 = record nothing, the default). Resets the ring.
Napi::Value SetEvents(const Napi::CallbackInfo& info) {
  Handle* h = static_cast<Handle*>(info.Data());
  if (!usable(h)) return info.Env().Undefined();
  uint32_t sample = info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 0;
  gated(h, [&]() -> int32_t {
    EventRing& ring = h->priv->events;
    ring.sample = sample ? sample : 1;
    ring.seen = 0;
    ring.count = 0;
    ring.dropped = 0;
    h->ctx.events = sample ? &ring : nullptr;
    return 0;
  });
  return info.Env().Undefined();
}

// drainEvents() -> bytes of records written to scratch (events.h format); records at meta+0,
// records dropped since the last drain at meta+4. Records that did not fit stay for the next call.
Napi::Value DrainEvents(const Napi::CallbackInfo& info) {
  Handle* h = static_cast<Handle*>(info.Data());
  if (!usable(h) || !h->ctx.events) return Napi::Number::New(info.Env(), 0);
  int32_t bytes = gated(h, [&]() -> int32_t {
    uint32_t n = 0;
    uint32_t cap = h->scratch_len > 0x7fffffff ? 0x7fffffff : uint32_t(h->scratch_len);
    uint32_t b = event_drain(h->ctx.events, h->scratch, cap, &n);
    uint32_t dropped = h->ctx.events->dropped;
    h->ctx.events->dropped = 0;
    std::memcpy(h->meta, &n, 4);
    std::memcpy(h->meta + 4, &dropped, 4);
    return int32_t(b);
  });
  return Napi::Number::New(info.Env(), bytes < 0 ? 0 : bytes);
}

Napi::Value FlushAll(const Napi::CallbackInfo& info) {
  Handle* h = handle_of(info);
  int64_t delay = int_arg(info[0]);
  if (usable(h)) gated(h, [&] { cmd_flush_all(h->ctx, delay); return 0; });
  return info.Env().Undefined();
}

Napi::Value AdvanceClock(const Napi::CallbackInfo& info) {
  Handle* h = handle_of(info);
  int64_t secs = int_arg(info[0]);
  if (usable(h)) gated(h, [&] { h->ctx.r->h()->clock_offset.fetch_add(secs); return 0; });
  return info.Env().Undefined();
}

// stats(group, protection) -> [k0, v0, k1, v1, ...]; group 4 is `stats reset`.
Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Handle* h = handle_of(info);
  if (!usable(h)) return env.Undefined();
  int64_t group = int_arg(info[0]);
  std::string prot = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "none";
  Region& r = *h->ctx.r;
  StatList l;
  // Gathered into private (heap) strings inside the gate; JS values are made after it closes.
  int32_t busy = gated(h, [&] {
    uint32_t now = clock_now(r.h());
    switch (group) {
      case 1: l = stats_slabs(r); break;
      case 2: l = stats_items(r, now); break;
      case 3: l = stats_settings(r); break;
      case 4: stats_reset(r); break;
      default: l = stats_general(r, now, prot.c_str());
    }
    return 0;
  });
  if (busy == kRetBusy) return env.Undefined();
  Napi::Array arr = Napi::Array::New(env, l.size() * 2);
  for (size_t i = 0; i < l.size(); ++i) {
    arr.Set(uint32_t(2 * i), Napi::String::New(env, l[i].first));
    arr.Set(uint32_t(2 * i + 1), Napi::String::New(env, l[i].second));
  }
  return arr;
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Handle* h = handle_of(info);
  if (h && !h->closed) {
    napi_remove_env_cleanup_hook(info.Env(), env_cleanup, h);
    close_handle(h, true);
  }
  return info.Env().Undefined();
}

void throw_coded(Napi::Env env, const char* code, const std::string& msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  e.ThrowAsJavaScriptException();
}

Napi::Object report_object(Napi::Env env, const RecoveryReport& r) {
  static const char* kinds[] = {"created", "attached", "warm", "recovered", "reset"};
  Napi::Object o = Napi::Object::New(env);
  uint32_t k = uint32_t(r.kind);
  o.Set("kind", Napi::String::New(env, kinds[k <= 4 ? k : 1]));
  o.Set("itemsKept", Napi::Number::New(env, double(r.items_kept)));
  o.Set("itemsDropped", Napi::Number::New(env, double(r.items_dropped)));
  o.Set("duplicatesDropped", Napi::Number::New(env, double(r.duplicates)));
  o.Set("expiredDropped", Napi::Number::New(env, double(r.expired)));
  o.Set("chunksFreed", Napi::Number::New(env, double(r.chunks_freed)));
  o.Set("pagesScanned", Napi::Number::New(env, double(r.pages_scanned)));
  o.Set("orphanPages", Napi::Number::New(env, double(r.orphan_pages)));
  o.Set("deadProcesses", Napi::Number::New(env, double(r.dead_processes)));
  o.Set("ms", Napi::Number::New(env, r.ms));
  o.Set("reason", Napi::String::New(env, r.reason));
  return o;
}

// check(path) -> { ok, problems[], items, freeChunks, pagesUsed, pagesTotal, livePids, hashPower,
// expanding, clean, dirty, recoveries, lockTakeovers } or throws ERR_BAD_REGION. Maps the file
// read-only and writes nothing.
Napi::Value Check(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) {
    Napi::TypeError::New(env, "check(path)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  RegionOptions opt;
  opt.readonly = true;
  std::string err;
  bool created = false;
  Region* r = Region::open(path, opt, &err, &created);
  if (!r) {
    throw_coded(env, "ERR_BAD_REGION", err);
    return env.Undefined();
  }
  std::vector<std::string> problems;
  VerifyStats st;
  bool ok = verify_region(*r, &problems, &st);
  uint64_t recoveries = r->h()->recoveries.load(), takeovers = r->h()->lock_takeovers.load();
  delete r;
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", Napi::Boolean::New(env, ok));
  Napi::Array arr = Napi::Array::New(env, problems.size());
  for (size_t i = 0; i < problems.size(); ++i) arr.Set(uint32_t(i), Napi::String::New(env, problems[i]));
  o.Set("problems", arr);
  o.Set("items", Napi::Number::New(env, double(st.items)));
  o.Set("freeChunks", Napi::Number::New(env, double(st.free_chunks)));
  o.Set("leakedChunks", Napi::Number::New(env, double(st.leaked_chunks)));
  o.Set("pagesUsed", Napi::Number::New(env, double(st.pages_used)));
  o.Set("pagesTotal", Napi::Number::New(env, double(st.pages_total)));
  o.Set("liveProcesses", Napi::Number::New(env, double(st.live_procs)));
  o.Set("hashPower", Napi::Number::New(env, st.hash_power));
  o.Set("expanding", Napi::Boolean::New(env, st.expanding));
  o.Set("clean", Napi::Boolean::New(env, st.clean));
  o.Set("dirty", Napi::Boolean::New(env, st.dirty));
  o.Set("recoveries", Napi::Number::New(env, double(recoveries)));
  o.Set("lockTakeovers", Napi::Number::New(env, double(takeovers)));
  return o;
}

// The options must agree with a region already mapped in this process.
std::string check_mapped(const std::string& path, const Mapping& m, const RegionOptions& opt, int protection) {
  const Geometry& g = m.region->geo();
  if ((protection == 1 && m.pkey < 0) || (protection == 0 && m.pkey >= 0))
    return path + ": open in this process with protection '" + (m.pkey >= 0 ? "pku" : "none") + "'";
  if (opt.reset) return "cannot reset " + path + ": it is open in this process (close it first)";
  if (opt.mem_limit && opt.mem_limit != g.mem_limit)
    return path + ": region has size " + std::to_string(g.mem_limit) + " bytes, opened with size " +
           std::to_string(opt.mem_limit);
  if (opt.item_size_max && opt.item_size_max != g.item_size_max)
    return path + ": region has itemSizeMax " + std::to_string(g.item_size_max) + ", opened with " +
           std::to_string(opt.item_size_max);
  if (opt.evict >= 0 && (opt.evict != 0) != m.evict)
    return path + ": region was created with another evict setting";
  return "";
}


// open(path, memLimit, itemSizeMax, evict, reset, mode, protection) -> handle object with bound
// methods. protection: 0 none, 1 pku (an error without PKU), 2 auto.
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6 || !info[0].IsString()) {
    Napi::TypeError::New(env, "open(path, memLimit, itemSizeMax, evict, reset, mode)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  RegionOptions opt;
  opt.mem_limit = uint64_t(int_arg(info[1]));
  opt.item_size_max = uint32_t(int_arg(info[2]));
  opt.evict = int(int_arg(info[3]));
  opt.reset = info[4].ToBoolean().Value();
  opt.mode = uint32_t(int_arg(info[5]));
  int protection = info.Length() > 6 ? int(int_arg(info[6])) : 2;
  int64_t flags = info.Length() > 7 ? int_arg(info[7]) : 0;
  opt.reset_if_bad = (flags & 1) != 0;
  opt.recover = (flags & 2) != 0;
  if (protection == 1 && !gate::pku_available()) {
    throw_coded(env, "ERR_PKU_UNAVAILABLE",
                "protection 'pku' is not available: this CPU or kernel has no memory protection keys (use 'auto' or 'none')");
    return env.Undefined();
  }

  auto* h = new Handle();
  h->env = env;
  bool mapped_here = false;
  {
    std::lock_guard<std::mutex> lk(g_maps_mu);
    auto it = g_maps.find(path);
    if (it != g_maps.end()) {
      std::string err = check_mapped(path, it->second, opt, protection);
      if (!err.empty()) {
        delete h;
        throw_coded(env, "ERR_REGION_MISMATCH", err);
        return env.Undefined();
      }
      it->second.refs++;
      h->map = &it->second;
    } else {
      std::string err;
      bool created = false;
      RecoveryReport rep;
      Region* r = Region::open(path, opt, &err, &created, &rep);
      if (!r) {
        delete h;
        throw_coded(env, "ERR_BAD_REGION", err);
        return env.Undefined();
      }
      // Read what we need before the region is tagged, then tag it: from here on only a gate
      // reaches it.
      bool evict = r->h()->evict != 0;
      int pkey = protection == 0 ? -1 : gate::pku_key();
      if (!gate::protect(r->base(), r->geo().file_size, pkey)) {
        delete r;
        delete h;
        throw_coded(env, "ERR_PKU_UNAVAILABLE", "pkey_mprotect failed on " + path);
        return env.Undefined();
      }
      h->map = &g_maps.emplace(path, Mapping{r, 1, pkey, evict, rep}).first->second;
      mapped_here = true;
    }
  }
  h->key = path;
  h->pkey = h->map->pkey;
  h->priv = alloc_private(h->pkey, &h->priv_len);
  Region& region = *h->map->region;
  {
    gate::Gate g(h->pkey);
    stats_attach(region, &h->ctx);
  }
  napi_add_env_cleanup_hook(env, env_cleanup, h);
  if (!h->priv) {
    close_handle(h, true);
    delete h;
    throw_coded(env, "ERR_BAD_REGION", "cannot allocate private memory for " + path);
    return env.Undefined();
  }

  Napi::Object obj = Napi::Object::New(env);
  napi_wrap(env, obj, h, finalize_handle, nullptr, nullptr);
  struct Hot {
    const char* name;
    napi_callback cb;
  };
  for (const Hot& f : {Hot{"get", js_get}, Hot{"gat", js_gat}, Hot{"getInto", js_get_into}, Hot{"store", js_store},
                       Hot{"del", js_delete}, Hot{"delta", js_delta}, Hot{"touch", js_touch},
                       Hot{"getMany", js_get_many}, Hot{"setMany", js_set_many}, Hot{"pkru", js_pkru},
                       Hot{"metaGet", js_meta_get}, Hot{"metaDelete", js_meta_delete},
                       Hot{"probe", js_probe}}) {
    napi_value fn;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.cb, h, &fn);
    obj.Set(f.name, Napi::Value(env, fn));
  }
  obj.Set("setBuffers", Napi::Function::New(env, SetBuffers, "setBuffers", h));
  obj.Set("setArena", Napi::Function::New(env, SetArena, "setArena", h));
  obj.Set("flushAll", Napi::Function::New(env, FlushAll, "flushAll", h));
  obj.Set("setEvents", Napi::Function::New(env, SetEvents, "setEvents", h));
  obj.Set("drainEvents", Napi::Function::New(env, DrainEvents, "drainEvents", h));
  obj.Set("advanceClock", Napi::Function::New(env, AdvanceClock, "advanceClock", h));
  obj.Set("stats", Napi::Function::New(env, Stats, "stats", h));
  obj.Set("close", Napi::Function::New(env, Close, "close", h));
  obj.Set("debugDieIn", Napi::Function::New(env, DebugDieIn, "debugDieIn", h));
  proto_attach(env, obj, &h->ctx, h->pkey, &h->closed);  // the wire protocol engine (native/proto/)
  crawler_attach(env, obj, &h->ctx, h->pkey, &h->closed);  // the expired-item crawler (binding_crawler.cc)
  const Geometry& g = region.geo();
  obj.Set("memLimit", Napi::Number::New(env, double(g.mem_limit)));
  obj.Set("itemSizeMax", Napi::Number::New(env, g.item_size_max));
  obj.Set("itemHeader", Napi::Number::New(env, double(sizeof(Item))));
  obj.Set("evict", Napi::Number::New(env, h->map->evict ? 1 : 0));
  obj.Set("protection", Napi::Number::New(env, h->pkey >= 0 ? 1 : 0));
  obj.Set("recovery", report_object(env, mapped_here ? h->map->report : RecoveryReport{RecoveryReport::kAttached}));
  return obj;
}

// process.exit() (and exit() from anywhere) skips the env cleanup hooks that close handles on a
// natural exit: detach what is still mapped, so a region left by an exiting process starts warm.
void at_exit() {
  std::unique_lock<std::mutex> lk(g_maps_mu, std::try_to_lock);
  if (!lk.owns_lock()) return;  // a thread is opening or closing right now: leave it to recovery
  for (auto& [path, m] : g_maps) {
    gate::Gate g(m.pkey);
    if (g.refused()) continue;
    m.region->exit_detach(200);
  }
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  static std::once_flag once;
  std::call_once(once, [] { std::atexit(at_exit); });
  exports.Set("open", Napi::Function::New(env, Open, "open"));
  exports.Set("check", Napi::Function::New(env, Check, "check"));
  exports.Set("pkuInfo", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("available", Napi::Boolean::New(info.Env(), gate::pku_available()));
    o.Set("key", Napi::Number::New(info.Env(), gate::pku_key()));
    return o;
  }, "pkuInfo"));
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("valueOffset", Napi::Number::New(env, kValueOff));
  layout.Set("metaLens", Napi::Number::New(env, kMetaLens));
  layout.Set("keyMax", Napi::Number::New(env, kKeyMax));
  exports.Set("layout", layout);
  return exports;
}

}  // namespace

NODE_API_MODULE(NODE_GYP_MODULE_NAME, Init)
