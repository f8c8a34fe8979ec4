// binding_crawler.cc — the JS entry to the expired-item crawler (core/crawler.h). Owns: one walk
// position per handle (so successive calls continue where the last stopped) and the gate around
// each call.
//
// Invariants: no thread is started here; the crawl runs on the calling JS thread inside one gate
// (a re-entrant call is refused and does nothing), and no Node-API call happens while the gate is
// open. A closed handle answers without touching the region.
#include "binding_crawler.h"

#include "core/crawler.h"
#include "gate/pku.h"

namespace {

struct CrawlAttach {
  shm::Ctx* ctx;
  int pkey;
  const bool* closed;
  shm::CrawlState state;
};

constexpr uint32_t kBudgetMax = 1u << 20;

// handle.crawlExpired(budget) -> [checked, reclaimed, wrapped (0/1)], or undefined when closed or
// refused (re-entrant).
napi_value js_crawl(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void* data = nullptr;
  napi_value undef;
  if (napi_get_undefined(env, &undef) != napi_ok) return nullptr;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, &data) != napi_ok) return undef;
  auto* a = static_cast<CrawlAttach*>(data);
  uint32_t budget = 0;
  napi_valuetype t = napi_undefined;
  if (argc >= 1 && napi_typeof(env, argv[0], &t) == napi_ok && t == napi_number) {
    double d = 0;
    if (napi_get_value_double(env, argv[0], &d) != napi_ok) return undef;
    if (!(d >= 0)) d = 0;  // also NaN
    budget = d > kBudgetMax ? kBudgetMax : uint32_t(d);
  }
  if (*a->closed || budget == 0) return undef;
  shm::CrawlResult res;
  {
    gate::Gate g(a->pkey);
    if (g.refused()) return undef;
    res = shm::crawl_expired(*a->ctx, a->state, budget);
  }
  napi_value arr, v;
  if (napi_create_array_with_length(env, 3, &arr) != napi_ok) return undef;
  const double vals[3] = {double(res.checked), double(res.reclaimed), res.wrapped ? 1.0 : 0.0};
  for (uint32_t i = 0; i < 3; ++i) {
    if (napi_create_double(env, vals[i], &v) != napi_ok || napi_set_element(env, arr, i, v) != napi_ok) return undef;
  }
  return arr;
}

void free_attach(napi_env, void* data, void*) { delete static_cast<CrawlAttach*>(data); }

}  // namespace

void crawler_attach(napi_env env, napi_value handle_obj, shm::Ctx* ctx, int pkey, const bool* closed) {
  auto* a = new CrawlAttach{ctx, pkey, closed, shm::CrawlState{}};
  napi_value fn;
  if (napi_create_function(env, "crawlExpired", NAPI_AUTO_LENGTH, js_crawl, a, &fn) != napi_ok ||
      napi_add_finalizer(env, fn, a, free_attach, nullptr, nullptr) != napi_ok) {
    delete a;
    return;
  }
  napi_set_named_property(env, handle_obj, "crawlExpired", fn);
}
