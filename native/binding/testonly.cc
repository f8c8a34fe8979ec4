// testonly.cc — bindings that exist for tests only. Owns: pkru (this thread's PKRU), probe (an
// ungated touch of the region, to prove the protection faults) and debugDieIn (a SIGKILL in the
// middle of a change, native/core/recover.h).
//
// Invariants:
//  - Nothing in src/ calls these outside tests; none of them is on a hot path.
//  - probe is the one place in the binding that reads region memory without a gate (on purpose).
#include <signal.h>
#include <unistd.h>

#include <cstdio>

#include "binding/args.h"

namespace shm::binding {
namespace {

// pkru() -> this thread's PKRU (-1 without PKU).
napi_value js_pkru(napi_env env, napi_callback_info info) {
  return cold(env, info, [](Call& a) -> napi_value {
    napi_value r;
    NAPI_OK(a.env, napi_create_double(a.env, gate::pku_available() ? double(gate::rdpkru()) : -1.0, &r));
    return r;
  });
}

void probe_segv(int, siginfo_t* si, void*) {
  char msg[64];
  int n = snprintf(msg, sizeof msg, "probe: SIGSEGV si_code=%d\n", si->si_code);
  if (write(2, msg, size_t(n)) < 0) {}
  _exit(77);
}

// probe(mode): touches the region directly, WITHOUT a gate. mode bit 0: write instead of read;
// bit 1: first install a SIGSEGV handler that prints si_code and exits 77. With PKU this faults
// (SEGV_PKUERR); without, it returns the byte.
napi_value js_probe(napi_env env, napi_callback_info info) {
  return cold(env, info, [](Call& a) -> napi_value {
    Handle* h = a.h;
    if (!h || h->closed || !h->map) return ret_int(a.env, -1);
    uint32_t mode = a.u32(0);
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
    return ret_int(a.env, v);
  });
}

// debugDieIn(point, klen, vlen): the process dies by SIGKILL in the middle of a change (recover.h
// debug_die_in), key in scratch, value at Layout.ValueOffset.
napi_value js_debug_die_in(napi_env env, napi_callback_info info) {
  return cold(env, info, [](Call& a) -> napi_value {
    Handle* h = a.h;
    int point = int(a.i64(0));
    uint32_t klen = uint32_t(a.i64(1)), vlen = uint32_t(a.i64(2));
    if (!a.bad && usable(h) && klen <= kKeyMax && uint64_t(kValueOff) + vlen <= h->scratch_len)
      gated(h, [&] {
        debug_die_in(h->ctx, point, private_key(h, klen), klen, h->scratch + kValueOff, vlen);
        return 0;
      });
    return undefined(a.env);
  });
}

}  // namespace

bool attach_test_only(napi_env env, napi_value obj, Handle* h) {
  return set_method(env, obj, "pkru", js_pkru, h) && set_method(env, obj, "probe", js_probe, h) &&
         set_method(env, obj, "debugDieIn", js_debug_die_in, h);
}

}  // namespace shm::binding
