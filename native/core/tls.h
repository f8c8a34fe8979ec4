// tls.h — SHM_TLS_IE, the TLS model of the per-thread words read on every call (the gate depth,
// the lock token, the stats slot).
//
// Invariant: initial-exec (one %fs-relative load, no __tls_get_addr call) only where the C library
// lets a dlopen'ed library use it: glibc keeps a static TLS surplus for that. musl refuses it at
// dlopen ("initial-exec TLS resolves to dynamic definition"), so there the default model is used.
#pragma once
#include <cstdint>  // on glibc this brings <features.h>, which defines __GLIBC__

#if defined(__GLIBC__)
#define SHM_TLS_IE __attribute__((tls_model("initial-exec")))
#else
#define SHM_TLS_IE
#endif
