// module.cc — the addon's entry point. Owns: the module's exports (open, check, pkuInfo, layout,
// contract) and the process-exit hook.
//
// Invariants:
//  - `layout` reports the real constants the binding uses (the drift test compares them, and
//    `contract`, every constant of native/contract.h, with src/contract.ts).
//  - Init registers the exit hook once per process, whatever the number of threads loading it.
#include <napi.h>

#include <cstdlib>

#include "binding/args.h"

namespace shm::binding {

Napi::Value Open(const Napi::CallbackInfo& info);          // open.cc
Napi::Value Check(const Napi::CallbackInfo& info);         // open.cc
Napi::Value ArmFailpoint(const Napi::CallbackInfo& info);  // testonly.cc

// The module's exports (module-level: NODE_API_MODULE needs a plain name, below).
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  static std::once_flag once;
  std::call_once(once, [] { std::atexit(at_exit); });
  exports.Set("open", Napi::Function::New(env, Open, "open"));
  exports.Set("check", Napi::Function::New(env, Check, "check"));
  exports.Set("armFailpoint", Napi::Function::New(env, ArmFailpoint, "armFailpoint"));
  exports.Set("pkuInfo", Napi::Function::New(
                             env,
                             [](const Napi::CallbackInfo& info) -> Napi::Value {
                               Napi::Object o = Napi::Object::New(info.Env());
                               o.Set("available", Napi::Boolean::New(info.Env(), gate::pku_available()));
                               o.Set("key", Napi::Number::New(info.Env(), gate::pku_key()));
                               return o;
                             },
                             "pkuInfo"));
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("valueOffset", Napi::Number::New(env, kValueOff));
  layout.Set("metaLens", Napi::Number::New(env, kMetaLens));
  layout.Set("keyMax", Napi::Number::New(env, kKeyMax));
  layout.Set("manyMax", Napi::Number::New(env, kManyMax));
  layout.Set("itemHeader", Napi::Number::New(env, double(sizeof(Item))));
  exports.Set("layout", layout);
  Napi::Object all = Napi::Object::New(env);
  for (const contract::Entry& e : contract::kAll) all.Set(e.name, Napi::Number::New(env, double(e.value)));
  exports.Set("contract", all);
  return exports;
}

}  // namespace shm::binding

static Napi::Object InitShmcached(Napi::Env env, Napi::Object exports) { return shm::binding::Init(env, exports); }

NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitShmcached)
