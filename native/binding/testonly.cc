// testonly.cc — bindings that exist for tests only. Owns: pkru (this thread's PKRU), probe (an
// ungated touch of the region, to prove the protection faults) and armFailpoint (a module export:
// arms a named fail-point of native/core/failpoint.h, so the death tests kill the real code).
//
// Invariants:
//  - Nothing in src/ calls these outside tests; none of them is on a hot path.
//  - probe is the one place in the binding that reads region memory without a gate (on purpose).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <napi.h>
#include <string>

#include "binding/args.h"
#include "core/failpoint.h"

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

}  // namespace

bool attach_test_only(napi_env env, napi_value obj, Handle* h) {
  return set_method(env, obj, "pkru", js_pkru, h) && set_method(env, obj, "probe", js_probe, h);
}

// armFailpoint(name | null): arms the named fail-point for this process: the next thread of it
// that reaches that point in the real code dies by SIGKILL. null disarms. An unknown name is a
// RangeError.
Napi::Value ArmFailpoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info[0].IsNull() || info[0].IsUndefined()) {
    failpoint_arm(FailPoint::kNone);
    return env.Undefined();
  }
  if (!info[0].IsString()) {
    Napi::TypeError::New(env, "armFailpoint(name): name must be a string or null").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string name = info[0].As<Napi::String>().Utf8Value();
  FailPoint p = failpoint_by_name(name.c_str());
  if (p == FailPoint::kCount || p == FailPoint::kNone) {
    Napi::RangeError::New(env, "armFailpoint: unknown fail-point " + name).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  failpoint_arm(p);
  return env.Undefined();
}

}  // namespace shm::binding
