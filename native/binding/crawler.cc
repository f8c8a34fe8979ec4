// crawler.cc — the expired-item crawler binding (core/crawler.h): handle.crawlExpired(budget).
// Owns: one walk position per handle (a box beside the Handle, freed with the function), so
// successive calls continue where the last stopped.
//
// Invariants: no thread is started here; each step runs on the calling JS thread inside one gate
// (gated(): a re-entrant call is refused and does nothing), and no Node-API call happens while the
// gate is open. A closed handle answers undefined without touching the region.
#include "binding/args.h"
#include "core/crawler.h"

namespace shm::binding {
namespace {

struct CrawlBox {
  Handle* h;
  CrawlState state;
};

constexpr uint32_t kBudgetMax = 1u << 20;

// crawlExpired(budget) -> [checked, reclaimed, wrapped (0/1)]; undefined when closed, refused
// (re-entrant) or budget is not a positive number.
napi_value js_crawl(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {};
  auto* box = box_arg<CrawlBox>(env, info, &argc, argv);
  if (!box) return nullptr;
  uint32_t budget = 0;
  napi_valuetype t = napi_undefined;
  if (argc >= 1) NAPI_OK(env, napi_typeof(env, argv[0], &t));
  if (t == napi_number) {
    double d = 0;
    NAPI_OK(env, napi_get_value_double(env, argv[0], &d));
    if (d >= 1) budget = d > kBudgetMax ? kBudgetMax : uint32_t(d);  // NaN stays 0
  }
  Handle* h = box->h;
  if (!usable(h) || budget == 0) return undefined(env);
  CrawlResult res;
  if (gated(h, [&]() -> int32_t {
        res = crawl_expired(h->ctx, box->state, budget);
        return 0;
      }) != 0)
    return undefined(env);
  napi_value arr, v;
  NAPI_OK(env, napi_create_array_with_length(env, 3, &arr));
  const double vals[3] = {double(res.checked), double(res.reclaimed), res.wrapped ? 1.0 : 0.0};
  for (uint32_t i = 0; i < 3; ++i) {
    NAPI_OK(env, napi_create_double(env, vals[i], &v));
    NAPI_OK(env, napi_set_element(env, arr, i, v));
  }
  return arr;
}

void free_box(napi_env, void* data, void*) { delete static_cast<CrawlBox*>(data); }

}  // namespace

bool attach_crawler(napi_env env, napi_value obj, Handle* h) {
  auto* box = new CrawlBox{h, CrawlState{}};
  napi_value fn;
  if (napi_status st = napi_create_function(env, "crawlExpired", NAPI_AUTO_LENGTH, js_crawl, box, &fn); st != napi_ok) {
    delete box;
    throw_failed(env, st, "napi_create_function");
    return false;
  }
  if (napi_status st = napi_add_finalizer(env, fn, box, free_box, nullptr, nullptr); st != napi_ok) {
    delete box;
    throw_failed(env, st, "napi_add_finalizer");
    return false;
  }
  NAPI_OK_OR(env, napi_set_named_property(env, obj, "crawlExpired", fn), false);
  return true;
}

}  // namespace shm::binding
