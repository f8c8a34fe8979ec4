// cache.cc — the Cache binding: the methods of a handle object that src/cache.ts calls. Owns:
// the hot calls (get, gat, getInto, store, del, delta, touch, metaGet, metaDelete, getMany,
// setMany) and the handle's setup, stats and teardown calls (setBuffers, setArena, flushAll,
// advanceClock, stats, close).
//
// Invariants:
//  - Hot calls take numbers only. The key and value are in the thread's registered scratch
//    buffer, results go to the registered arena/meta buffers at the contract's offsets
//    (native/contract.h MetaOff); lengths and statuses come back as int32. No JS string or Buffer
//    is created on a hot path.
//  - Each hot call parses its numbers (args.h hot()), then does all region work inside one gate,
//    then returns a number. Values are copied straight into the arena, a Buffer this binding
//    allocated (never a caller's memory, and JS memory cannot be unmapped while referenced), so
//    that copy cannot fault while a stripe is held; getInto, which writes the caller's own
//    Uint8Array, stages through private memory first (values up to kStage).
//  - Setup and stats calls are cold: they use node-addon-api's wrappers (which check every status
//    and throw), the hot calls stay on the C API.
#include <napi.h>

#include <string>

#include "binding/args.h"
#include "core/clock.h"
#include "core/meta.h"

namespace shm::binding {
namespace {

static_assert(c::kCmdSet == int32_t(StoreCmd::kSet) && c::kCmdCas == int32_t(StoreCmd::kCas),
              "contract Cmd is the core's StoreCmd");

// ---- hot calls ------------------------------------------------------------------------------

// Each hot call is an op: it reads its numbers from the Call (before the gate: Node-API), then
// does its region work in one a.gated(...) and returns the int32 answer. hot_call<op> is its
// Node-API callback (args.h hot(): the closed-handle answer, the number returned).
template <int32_t (*Op)(Call&, Handle*)>
napi_value hot_call(napi_env env, napi_callback_info info) {
  return hot(env, info, [](Call& a) { return Op(a, a.h); });
}

// Inside a gate: a store-like answer whose 64-bit result (new CAS, counter) goes to MetaOff.Io64.
int32_t io64_answer(Handle* h, Status s, uint64_t v) {
  if (s == kOk) meta_u64(h, c::kMetaOffIo64, v);
  return map_status(s);
}

// An arena offset from JS, clamped to the arena.
uint32_t arena_off(Handle* h, uint32_t off) { return off > h->arena_len ? uint32_t(h->arena_len) : off; }

// get(klen, outOff) -> vlen | Ret ; gat(klen, outOff, ttl)
template <bool kTouch>
int32_t op_get(Call& a, Handle* h) {
  uint32_t klen = a.u32(0), off = arena_off(h, a.u32(1));
  int64_t ttl = kTouch ? a.i64(2) : 0;
  return a.gated([&] {
    ItemMeta m{};
    uint32_t room = uint32_t(h->arena_len - off);
    return get_answer(h, cmd_get(h->ctx, private_key(h, klen), klen, kTouch, ttl, h->arena + off, room, &m), m);
  });
}

// getInto(klen, target: Uint8Array, offset) -> vlen | Ret. Copies into the caller's own
// memory: no arena, no allocation. Ret.Small (vlen at MetaOff.Vlen) when the rest of target is short.
int32_t op_get_into(Call& a, Handle* h) {
  uint32_t klen = a.u32(0);
  bool is_ta = false;
  if (napi_is_typedarray(a.env, a.argv[1], &is_ta) != napi_ok || !is_ta) return c::kRetBadKey;
  napi_typedarray_type type;
  napi_value ab;
  void* data = nullptr;
  size_t len = 0, byte_off = 0;
  if (napi_get_typedarray_info(a.env, a.argv[1], &type, &len, &data, &ab, &byte_off) != napi_ok ||
      type != napi_uint8_array)
    return c::kRetBadKey;
  uint32_t off = a.u32(2);
  if (off > len) off = uint32_t(len);
  uint8_t* dst = static_cast<uint8_t*>(data) + off;
  uint32_t room = uint32_t(len - off);
  return a.gated([&]() -> int32_t {
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
}

// store(cmd, klen, vlen, flags, ttl) -> St | Ret; CAS in/out at MetaOff.Io64.
int32_t op_store(Call& a, Handle* h) {
  uint32_t cmd = a.u32(0), klen = a.u32(1), vlen = a.u32(2), flags = a.u32(3);
  int64_t ttl = a.i64(4);
  if (cmd > uint32_t(StoreCmd::kCas)) return c::kRetBadKey;
  if (uint64_t(kValueOff) + vlen > h->scratch_len) return c::kRetTooLarge;
  return a.gated([&] {
    uint64_t cas_in = meta_get_u64(h, c::kMetaOffIo64), cas_out = 0;
    // The value is copied from scratch straight into the new item, which no one else can see
    // until it is linked: that item is the private copy.
    const uint8_t* key = private_key(h, klen);
    Status s = cmd_store(h->ctx, StoreCmd(cmd), key, klen, h->scratch + kValueOff, vlen, flags, ttl, cas_in, &cas_out);
    return io64_answer(h, s, cas_out);
  });
}

// del(klen) -> St | Ret
int32_t op_delete(Call& a, Handle* h) {
  uint32_t klen = a.u32(0);
  return a.gated([&] { return map_status(cmd_delete(h->ctx, private_key(h, klen), klen)); });
}

// delta(klen, incr, delta) -> St | Ret; delta < 0 means "read the 64-bit delta at
// MetaOff.Io64". The result goes to MetaOff.Io64.
int32_t op_delta(Call& a, Handle* h) {
  uint32_t klen = a.u32(0);
  bool incr = a.u32(1) != 0;
  double d = a.f64(2);
  return a.gated([&] {
    uint64_t result = 0, delta = d < 0 ? meta_get_u64(h, c::kMetaOffIo64) : uint64_t(d);
    Status s = cmd_delta(h->ctx, private_key(h, klen), klen, incr, delta, &result);
    return io64_answer(h, s, result);
  });
}

// touch(klen, ttl) -> St | Ret
int32_t op_touch(Call& a, Handle* h) {
  uint32_t klen = a.u32(0);
  int64_t ttl = a.i64(1);
  return a.gated([&] { return map_status(cmd_touch(h->ctx, private_key(h, klen), klen, ttl)); });
}

// metaGet(klen, outOff, vivifyTtl, recacheTtl) -> vlen | Ret: memcached's `mg <key> v c f
// N<vivifyTtl> R<recacheTtl>` (a ttl < 0 leaves that flag out), the stampede-protection read behind
// Cache.fetch. vlen, flags and CAS go to meta as for get; MetaOff.MetaBits gets the MetaBit state.
int32_t op_meta_get(Call& a, Handle* h) {
  uint32_t klen = a.u32(0), off = arena_off(h, a.u32(1));
  int64_t nttl = a.i64(2), rttl = a.i64(3);
  return a.gated([&] {
    MetaGetOptions req;
    if (nttl >= 0) {
      req.vivify = true;
      req.vivify_ttl = nttl;
      req.add(MetaGetStep::kVivifyTtl);
    }
    if (rttl >= 0) {
      req.recache_ttl = rttl;
      req.add(MetaGetStep::kRecache);
    }
    MetaView v{};
    Status s = meta_get(h->ctx, private_key(h, klen), klen, req, h->arena + off, uint32_t(h->arena_len - off), &v);
    if (s == kOk) {
      uint32_t bits = (v.won ? c::kMetaBitWon : 0) | (v.stale ? c::kMetaBitStale : 0) |
                      (v.token_sent ? c::kMetaBitTokenSent : 0) | (v.created ? c::kMetaBitCreated : 0);
      meta_u32(h, c::kMetaOffMetaBits, bits);
    }
    return get_answer(h, s, ItemMeta{v.vlen, v.flags, v.cas});
  });
}

// metaDelete(klen, invalidate, ttl) -> St | Ret: memcached's `md <key> [I] [T<ttl>] [C<cas>]`,
// the CAS (0 = any) at MetaOff.Io64. invalidate marks the item stale (still served, the next
// reader wins the refresh) instead of deleting it; ttl < 0 keeps its ttl.
int32_t op_meta_delete(Call& a, Handle* h) {
  uint32_t klen = a.u32(0);
  MetaDeleteOptions opt;
  opt.invalidate = a.u32(1) != 0;
  opt.ttl = a.i64(2);
  opt.set_ttl = opt.ttl >= 0;
  return a.gated([&] {
    opt.cas = meta_get_u64(h, c::kMetaOffIo64);
    opt.has_cas = opt.cas != 0;
    return map_status(meta_delete(h->ctx, private_key(h, klen), klen, opt));
  });
}

// getMany(n, outOff) -> keys done. In: key i's byte length is the u32 at MetaLens + 4i and the
// keys' bytes lie back to back in scratch from byte 0 (JS writes them with one string write). Out:
// the same u32 holds the value length (value at the next 8-aligned arena offset), or ManyLen.Miss /
// ManyLen.BadKey. Stops early when the arena is full (the size needed at MetaOff.Vlen).
int32_t op_get_many(Call& a, Handle* h) {
  uint32_t n = a.u32(0);
  uint64_t off = a.u32(1);
  uint32_t max_keys = uint32_t((h->meta_len - kMetaLens) / 4);
  if (n > max_keys) n = max_keys;
  if (n > kManyMax) n = kManyMax;
  return a.gated([&]() -> int32_t {
    Private* p = h->priv;
    // Private copies first (JS may change scratch and meta under us): the lengths, then all the
    // keys' bytes in one copy. A length over kKeyMax takes no bytes and the core refuses that key
    // (JS never sends one); a key past the end of scratch ends the batch there.
    std::memcpy(p->many_len, h->meta + kMetaLens, size_t(n) * 4);
    size_t pos = 0;
    uint32_t parsed = 0;
    for (; parsed < n; ++parsed) {
      uint32_t klen = p->many_len[parsed];
      size_t take = klen <= kKeyMax ? klen : 0;
      if (pos + take > h->scratch_len) break;
      p->many_ptr[parsed] = p->many_keys + pos;
      pos += take;
    }
    static_assert(sizeof(p->many_keys) >= size_t(kManyMax) * kKeyMax, "every key of a full batch fits");
    std::memcpy(p->many_keys, h->scratch, pos);
    uint32_t need = 0;
    uint32_t done = cmd_get_many(h->ctx, p->many_ptr, p->many_len, parsed, h->arena, h->arena_len, &off, p->many_status,
                                 p->many_meta, &need);
    uint8_t* lens = h->meta + kMetaLens;
    for (uint32_t i = 0; i < done; ++i) {
      Status st = p->many_status[i];
      uint32_t out = st == kOk ? p->many_meta[i].vlen : st == kMiss ? c::kManyLenMiss : c::kManyLenBadKey;
      std::memcpy(lens + 4 * size_t(i), &out, 4);
    }
    if (done < parsed) meta_u32(h, c::kMetaOffVlen, need);
    return int32_t(done);
  });
}

// setMany(n, flags, ttl) -> entries stored; on a failing entry stops and writes its Ret at
// MetaOff.Vlen. Entries packed in scratch as [u8 klen][u32 vlen][key][value].
int32_t op_set_many(Call& a, Handle* h) {
  uint32_t n = a.u32(0), flags = a.u32(1);
  int64_t ttl = a.i64(2);
  return a.gated([&]() -> int32_t {
    size_t pos = 0;
    uint32_t i = 0;
    for (; i < n; ++i) {
      if (pos + 5 > h->scratch_len) break;
      uint32_t klen = h->scratch[pos];
      uint32_t vlen;
      std::memcpy(&vlen, h->scratch + pos + 1, 4);
      if (pos + 5 + uint64_t(klen) + vlen > h->scratch_len) break;
      std::memcpy(h->priv->keybuf, h->scratch + pos + 5, klen);
      Status s = cmd_store(h->ctx, StoreCmd::kSet, h->priv->keybuf, klen, h->scratch + pos + 5 + klen, vlen, flags, ttl,
                           0, nullptr);
      if (s != kOk) {
        meta_u32(h, c::kMetaOffVlen, uint32_t(map_status(s)));
        break;
      }
      pos += 5 + klen + vlen;
    }
    return int32_t(i);
  });
}

// ---- cold calls (node-addon-api) -------------------------------------------------------------

Handle* handle_of(const Napi::CallbackInfo& info) { return static_cast<Handle*>(info.Data()); }

bool buffer_arg(const Napi::Value& v, uint8_t** data, size_t* len) {
  if (!v.IsBuffer()) return false;
  auto b = v.As<Napi::Buffer<uint8_t>>();
  *data = b.Data();
  *len = b.Length();
  return true;
}

bool set_ref(napi_env env, napi_ref* r, napi_value v) {
  release_ref(env, r);
  NAPI_OK_OR(env, napi_create_reference(env, v, 1, r), false);
  return true;
}

int64_t int_arg(const Napi::Value& v) { return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : 0; }

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
  if (!set_ref(env, &h->scratch_ref, info[0]) || !set_ref(env, &h->meta_ref, info[1])) return env.Undefined();
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
  if (!set_ref(env, &h->arena_ref, info[0])) return env.Undefined();
  h->arena = a;
  h->arena_len = al;
  return env.Undefined();
}

Napi::Value FlushAll(const Napi::CallbackInfo& info) {
  Handle* h = handle_of(info);
  int64_t delay = int_arg(info[0]);
  if (usable(h))
    gated(h, [&] {
      cmd_flush_all(h->ctx, delay);
      return 0;
    });
  return info.Env().Undefined();
}

Napi::Value AdvanceClock(const Napi::CallbackInfo& info) {
  Handle* h = handle_of(info);
  int64_t secs = int_arg(info[0]);
  if (usable(h))
    gated(h, [&] {
      h->ctx.r->h()->clock_offset.fetch_add(secs);
      return 0;
    });
  return info.Env().Undefined();
}

// stats(group, protection) -> [k0, v0, k1, v1, ...]; group is a contract StatsGroup.
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
      case c::kStatsGroupSlabs: l = stats_slabs(r); break;
      case c::kStatsGroupItems: l = stats_items(r, now); break;
      case c::kStatsGroupSettings: l = stats_settings(r); break;
      case c::kStatsGroupReset: stats_reset(r); break;
      default: l = stats_general(r, now, prot.c_str());
    }
    return 0;
  });
  if (busy == c::kRetBusy) return env.Undefined();
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
    NAPI_OK_OR(info.Env(), napi_remove_env_cleanup_hook(info.Env(), env_cleanup, h), info.Env().Undefined());
    close_handle(h, true);
  }
  return info.Env().Undefined();
}

}  // namespace

bool attach_cache(napi_env env, napi_value obj, Handle* h) {
  struct Hot {
    const char* name;
    napi_callback cb;
  };
  for (const Hot& f :
       {Hot{"get", hot_call<op_get<false>>}, Hot{"gat", hot_call<op_get<true>>}, Hot{"getInto", hot_call<op_get_into>},
        Hot{"store", hot_call<op_store>}, Hot{"del", hot_call<op_delete>}, Hot{"delta", hot_call<op_delta>},
        Hot{"touch", hot_call<op_touch>}, Hot{"getMany", hot_call<op_get_many>}, Hot{"setMany", hot_call<op_set_many>},
        Hot{"metaGet", hot_call<op_meta_get>}, Hot{"metaDelete", hot_call<op_meta_delete>}})
    if (!set_method(env, obj, f.name, f.cb, h)) return false;
  Napi::Env e(env);
  Napi::Object o(env, obj);
  struct Cold {
    const char* name;
    Napi::Value (*cb)(const Napi::CallbackInfo&);
  };
  for (const Cold& f : {Cold{"setBuffers", SetBuffers}, Cold{"setArena", SetArena}, Cold{"flushAll", FlushAll},
                        Cold{"advanceClock", AdvanceClock}, Cold{"stats", Stats}, Cold{"close", Close}}) {
    Napi::Function fn = Napi::Function::New(e, f.cb, f.name, h);
    if (e.IsExceptionPending() || !o.Set(f.name, fn)) return false;
  }
  return true;
}

}  // namespace shm::binding
