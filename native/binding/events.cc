// events.cc — the events binding: switches a handle's event ring on and off and drains it into
// scratch for src/events.ts. Owns: setEvents and drainEvents.
//
// Invariants:
//  - The ring lives in the handle's private memory and is reached only inside a gate.
//  - Records leave in the contract's EventRec format (native/core/events.h event_drain writes
//    it; the static_asserts there tie it to the contract), the record count at MetaOff.Vlen and
//    the records dropped since the last drain at MetaOff.Flags.
#include "binding/args.h"

namespace shm::binding {
namespace {

// setEvents(sample): record one eviction/expiration in `sample` caused by this handle's calls
// (0 = record nothing, the default). Resets the ring.
napi_value js_set_events(napi_env env, napi_callback_info info) {
  return cold(env, info, [](Call& a) -> napi_value {
    Handle* h = a.h;
    if (!usable(h)) return undefined(a.env);
    uint32_t sample = 0;
    napi_valuetype t;
    NAPI_OK(a.env, napi_typeof(a.env, a.argv[0], &t));
    if (t == napi_number) NAPI_OK(a.env, napi_get_value_uint32(a.env, a.argv[0], &sample));
    gated(h, [&]() -> int32_t {
      EventRing& ring = h->priv->events;
      ring.sample = sample ? sample : 1;
      ring.seen = 0;
      ring.count = 0;
      ring.dropped = 0;
      h->ctx.events = sample ? &ring : nullptr;
      return 0;
    });
    return undefined(a.env);
  });
}

// drainEvents() -> bytes of records written to scratch.
// Records that did not fit stay for the next call.
napi_value js_drain_events(napi_env env, napi_callback_info info) {
  return cold(env, info, [](Call& a) -> napi_value {
    Handle* h = a.h;
    if (!usable(h) || !h->ctx.events) return ret_int(a.env, 0);
    int32_t bytes = gated(h, [&]() -> int32_t {
      uint32_t n = 0;
      uint32_t cap = h->scratch_len > 0x7fffffff ? 0x7fffffff : uint32_t(h->scratch_len);
      uint32_t b = event_drain(h->ctx.events, h->scratch, cap, &n);
      uint32_t dropped = h->ctx.events->dropped;
      h->ctx.events->dropped = 0;
      meta_u32(h, c::kMetaOffVlen, n);
      meta_u32(h, c::kMetaOffFlags, dropped);
      return int32_t(b);
    });
    return ret_int(a.env, bytes < 0 ? 0 : bytes);
  });
}

}  // namespace

bool attach_events(napi_env env, napi_value obj, Handle* h) {
  return set_method(env, obj, "setEvents", js_set_events, h) && set_method(env, obj, "drainEvents", js_drain_events, h);
}

}  // namespace shm::binding
