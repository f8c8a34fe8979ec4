// values.cc — the Node-API face of native/core/crawl.h, for Cache#has and Cache#keys().
// Owns: the `has` and `crawl` functions of a store handle object (cold paths: they take their
// arguments as JS values, not through the registered scratch buffer).
//
// Invariants:
//  - The key is copied out of JS memory (which another thread may be changing) onto this
//    thread's stack before the gate opens; the core validates that copy.
//  - Inside the gate only core calls run (no Node-API); crawled keys go to a private vector and
//    become a JS Buffer after the gate has closed.
//  - A closed handle answers kClosed (Ret.Closed, as the other bindings) and touches nothing.
#include "binding/handle.h"

#include <cstring>
#include <vector>

#include "core/crawl.h"
#include "contract.h"
#include "core/layout.h"
#include "gate/pku.h"

namespace {

using shm::contract::kRetMiss, shm::contract::kRetBadKey, shm::contract::kRetClosed, shm::contract::kRetBusy;
constexpr size_t kCrawlBatch = 64 * 1024;

struct Attach {
  shm::Ctx* ctx;
  int pkey;
  const bool* closed;
};

napi_value int_value(napi_env env, int32_t v) {
  napi_value r = nullptr;
  if (napi_create_int32(env, v, &r) != napi_ok) return nullptr;
  return r;
}

// The prologue of every call here: its one argument (*arg, nullptr when not given) and the Attach.
// nullptr when the call must return at once, with *ret what it returns: nullptr (an exception is
// pending) or kRetClosed.
Attach* attach_open(napi_env env, napi_callback_info info, napi_value* arg, napi_value* ret) {
  size_t argc = 1;
  napi_value argv[1] = {nullptr};
  void* data = nullptr;
  *ret = nullptr;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, &data) != napi_ok) return nullptr;
  auto* a = static_cast<Attach*>(data);
  if (*a->closed) {
    *ret = int_value(env, kRetClosed);
    return nullptr;
  }
  *arg = argc < 1 ? nullptr : argv[0];
  return a;
}

// has(key: Uint8Array) -> 1 (live), kRetMiss, kRetBadKey, kRetClosed or kRetBusy.
napi_value js_has(napi_env env, napi_callback_info info) {
  napi_value arg, ret;
  Attach* a = attach_open(env, info, &arg, &ret);
  if (!a) return ret;
  bool is_ta = false;
  if (!arg || napi_is_typedarray(env, arg, &is_ta) != napi_ok || !is_ta) return int_value(env, kRetBadKey);
  napi_typedarray_type type;
  size_t len = 0, off = 0;
  void* data = nullptr;
  napi_value ab;
  if (napi_get_typedarray_info(env, arg, &type, &len, &data, &ab, &off) != napi_ok || type != napi_uint8_array)
    return int_value(env, kRetBadKey);
  if (len == 0 || len > shm::kKeyMax) return int_value(env, kRetBadKey);
  uint8_t key[shm::kKeyMax];
  std::memcpy(key, data, len);
  shm::Status s;
  {
    gate::Gate g(a->pkey);
    if (g.refused()) return int_value(env, kRetBusy);
    s = shm::cmd_peek(*a->ctx, key, uint32_t(len));
  }
  return int_value(env, s == shm::kOk ? 1 : s == shm::kBadKey ? kRetBadKey : kRetMiss);
}

// crawl(cursor: number) -> [keys: Buffer ([u8 len][key]...), next cursor, done] | kRetClosed | kRetBusy.
napi_value js_crawl(napi_env env, napi_callback_info info) {
  napi_value arg, ret;
  Attach* a = attach_open(env, info, &arg, &ret);
  if (!a) return ret;
  double c = 0;
  if (!arg || napi_get_value_double(env, arg, &c) != napi_ok || !(c >= 0)) c = 0;
  uint64_t cursor = uint64_t(c);
  std::vector<uint8_t> out;
  out.reserve(kCrawlBatch + 4096);
  bool done;
  {
    gate::Gate g(a->pkey);
    if (g.refused()) return int_value(env, kRetBusy);
    done = shm::crawl_keys(*a->ctx, &cursor, &out, kCrawlBatch);
  }
  napi_value buf, next, fin, arr;
  void* dst = nullptr;
  if (napi_create_buffer_copy(env, out.size(), out.data(), &dst, &buf) != napi_ok) return nullptr;
  if (napi_create_double(env, double(cursor), &next) != napi_ok) return nullptr;
  if (napi_get_boolean(env, done, &fin) != napi_ok) return nullptr;
  if (napi_create_array_with_length(env, 3, &arr) != napi_ok) return nullptr;
  if (napi_set_element(env, arr, 0, buf) != napi_ok || napi_set_element(env, arr, 1, next) != napi_ok ||
      napi_set_element(env, arr, 2, fin) != napi_ok)
    return nullptr;
  return arr;
}

void finalize_attach(napi_env, void* data, void*) { delete static_cast<Attach*>(data); }

}  // namespace

namespace shm::binding {

bool values_attach(napi_env env, napi_value handle_obj, shm::Ctx* ctx, int pkey, const bool* closed) {
  auto* a = new Attach{ctx, pkey, closed};
  // The Attach lives as long as the handle object (freed with it).
  if (napi_add_finalizer(env, handle_obj, a, finalize_attach, nullptr, nullptr) != napi_ok) {
    delete a;
    return false;
  }
  struct Fn {
    const char* name;
    napi_callback cb;
  };
  for (const Fn& f : {Fn{"has", js_has}, Fn{"crawl", js_crawl}}) {
    napi_value fn;
    if (napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.cb, a, &fn) != napi_ok) return false;
    if (napi_set_named_property(env, handle_obj, f.name, fn) != napi_ok) return false;
  }
  return true;
}

}  // namespace shm::binding
