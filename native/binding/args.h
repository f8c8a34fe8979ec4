// args.h — the one argument prologue of every call on a handle, and the napi_status check.
// Owns: NAPI_OK (check a status, leave with an exception pending), Call (the bound handle and
// the arguments of one call, read as numbers) and hot() (the prologue of every hot call:
// arguments, the closed-handle answer, the number returned).
//
// Invariants:
//  - Every napi_status is checked: a failing Node-API call throws (or leaves pending) a JS
//    error and the callback returns nullptr (undefined), or a hot call answers a contract Ret.
//  - A hot call whose numeric argument is not a number does nothing and answers Ret.BadKey
//    (Call::gated refuses to open the gate); a closed handle answers Ret.Closed. TypeScript
//    always passes numbers, so this path costs one predicted branch.
//  - Hot calls use the C API only (about half the cost of node-addon-api per call).
#pragma once
#include <node_api.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>

#include "binding/handle.h"

namespace shm::binding {

// Throws a JS error for a failed Node-API call, unless one is already pending.
void throw_failed(napi_env env, napi_status st, const char* what);

// Evaluates a Node-API call; on failure throws and returns `ret` from the enclosing function.
#define NAPI_OK_OR(env, call, ret)                             \
  do {                                                         \
    napi_status napi_ok_st_ = (call);                          \
    if (napi_ok_st_ != napi_ok) {                              \
      ::shm::binding::throw_failed((env), napi_ok_st_, #call); \
      return ret;                                              \
    }                                                          \
  } while (0)
#define NAPI_OK(env, call) NAPI_OK_OR(env, call, nullptr)

// One call's handle and arguments (up to kMaxArgs; missing ones read as undefined).
struct Call {
  static constexpr size_t kMaxArgs = 5;
  napi_env env = nullptr;
  Handle* h = nullptr;
  napi_value argv[kMaxArgs] = {};
  size_t argc = kMaxArgs;
  bool bad = false;  // an argument that should be a number was not

  // Reads the callback info; false with an exception pending when Node-API fails.
  bool init(napi_env e, napi_callback_info info) {
    env = e;
    void* data = nullptr;
    napi_status st = napi_get_cb_info(env, info, &argc, argv, nullptr, &data);
    if (st != napi_ok) {
      throw_failed(env, st, "napi_get_cb_info");
      return false;
    }
    h = static_cast<Handle*>(data);
    return true;
  }
  uint32_t u32(size_t i) {
    uint32_t r = 0;
    if (napi_get_value_uint32(env, argv[i], &r) != napi_ok) bad = true;
    return r;
  }
  int64_t i64(size_t i) {
    int64_t r = 0;
    if (napi_get_value_int64(env, argv[i], &r) != napi_ok) bad = true;
    return r;
  }
  double f64(size_t i) {
    double r = 0;
    if (napi_get_value_double(env, argv[i], &r) != napi_ok) bad = true;
    return r;
  }
  // gated() for this call's handle, unless an argument was bad (then Ret.BadKey, no gate).
  template <class F>
  int32_t gated(F&& body) {
    if (bad) return c::kRetBadKey;
    return binding::gated(h, static_cast<F&&>(body));
  }
};

// An int32 result (nullptr, i.e. undefined with an exception pending, if it cannot be made).
inline napi_value ret_int(napi_env env, int32_t v) {
  napi_value r;
  NAPI_OK(env, napi_create_int32(env, v, &r));
  return r;
}

inline napi_value undefined(napi_env env) {
  napi_value u;
  NAPI_OK(env, napi_get_undefined(env, &u));
  return u;
}

// The prologue of a hot call: reads the arguments, answers Ret.Closed for a closed handle, else
// returns the int32 that body(call) gives.
template <class F>
inline napi_value hot(napi_env env, napi_callback_info info, F&& body) {
  Call call;
  if (!call.init(env, info)) return nullptr;
  if (!usable(call.h)) return ret_int(env, c::kRetClosed);
  return ret_int(env, body(call));
}

// A cold call's prologue: reads the arguments; body(call) returns the napi_value (may be
// nullptr with an exception pending). Runs on closed handles too: body checks what it needs.
template <class F>
inline napi_value cold(napi_env env, napi_callback_info info, F&& body) {
  Call call;
  if (!call.init(env, info)) return nullptr;
  return body(call);
}

// The prologue of a method of a native-backed JS object whose function data is its box: reads up
// to *argc arguments into argv (*argc becomes the count given); returns the box, or nullptr with
// an exception pending.
template <class Box>
Box* box_arg(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv) {
  void* data = nullptr;
  if (napi_status st = napi_get_cb_info(env, info, argc, argv, nullptr, &data); st != napi_ok) {
    throw_failed(env, st, "napi_get_cb_info");
    return nullptr;
  }
  return static_cast<Box*>(data);
}

// The prologue of a call that needs an open store and its `this` (the JS handle): reads up to
// *argc arguments into argv (*argc becomes the count given) and *self; returns the Handle, or
// nullptr with an exception pending (ERR_CACHE_CLOSED when the store is closed).
Handle* open_handle(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv, napi_value* self);

// Defines obj[name] = a function calling cb with data. False with an exception pending on failure.
bool set_method(napi_env env, napi_value obj, const char* name, napi_callback cb, void* data);
bool set_number(napi_env env, napi_value obj, const char* name, double v);

// One field of a plain result object (open's, check's, the recovery report): a number, or a
// boolean when is_bool.
struct Field {
  const char* name;
  double value;
  bool is_bool = false;
};
inline Field flag(const char* name, bool v) { return Field{name, v ? 1.0 : 0.0, true}; }
// Sets each field on obj, in order. False with an exception pending when Node-API fails.
bool set_fields(napi_env env, napi_value obj, std::initializer_list<Field> fields);

}  // namespace shm::binding
