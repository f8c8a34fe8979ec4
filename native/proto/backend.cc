// backend.cc — see backend.h.
#include "proto/backend.h"

#include <atomic>

#include "core/clock.h"
#include "core/crawl.h"
#include "core/crawler.h"
#include "core/rebalance.h"
#include "core/region.h"
#include "gate/pku.h"

namespace proto {

namespace {
std::atomic<uint64_t> g_curr{0}, g_total{0};

// Runs body inside a gate; kStoreClosed / kGateBusy instead when it cannot.
template <class F>
inline int32_t gated(Backend& b, F&& body) {
  if (!b.usable()) return kStoreClosed;
  gate::Gate g(b.pkey);
  if (g.refused()) return kGateBusy;
  b.ctx->enter();            // locks and intents taken in here carry this thread's owner token and slot
  b.ctx->cas_in = b.cas_in;  // the meta E flag, for this one call
  b.cas_in = 0;
  int32_t r = body();
  b.ctx->cas_in = 0;
  return r;
}
}  // namespace

bool key_valid(const uint8_t* key, uint32_t nkey) { return shm::key_valid(key, nkey); }

uint32_t abs_exptime(int64_t ttl, uint32_t now) { return shm::abs_exptime(ttl, now); }

void conn_opened() {
  g_curr.fetch_add(1, std::memory_order_relaxed);
  g_total.fetch_add(1, std::memory_order_relaxed);
}
void conn_closed() { g_curr.fetch_sub(1, std::memory_order_relaxed); }
uint64_t conns_current() { return g_curr.load(std::memory_order_relaxed); }
uint64_t conns_total() { return g_total.load(std::memory_order_relaxed); }

int32_t Backend::get(const uint8_t* key, uint32_t nkey, bool touch, int64_t ttl, uint8_t* out, uint32_t cap,
                     shm::ItemMeta* meta) {
  return gated(*this, [&] { return int32_t(shm::cmd_get(*ctx, key, nkey, touch, ttl, out, cap, meta)); });
}

int32_t Backend::store(shm::StoreCmd cmd, const uint8_t* key, uint32_t nkey, const uint8_t* val, uint32_t nval,
                       uint32_t flags, int64_t ttl, uint64_t cas_in, uint64_t* cas_out) {
  return gated(*this,
               [&] { return int32_t(shm::cmd_store(*ctx, cmd, key, nkey, val, nval, flags, ttl, cas_in, cas_out)); });
}

int32_t Backend::del(const uint8_t* key, uint32_t nkey) {
  return gated(*this, [&] { return int32_t(shm::cmd_delete(*ctx, key, nkey)); });
}

int32_t Backend::delta(const uint8_t* key, uint32_t nkey, bool incr, uint64_t by, uint64_t* result) {
  return gated(*this, [&] { return int32_t(shm::cmd_delta(*ctx, key, nkey, incr, by, result)); });
}

int32_t Backend::touch(const uint8_t* key, uint32_t nkey, int64_t ttl) {
  return gated(*this, [&] { return int32_t(shm::cmd_touch(*ctx, key, nkey, ttl)); });
}

int32_t Backend::flush_all(int64_t delay) {
  return gated(*this, [&] {
    shm::cmd_flush_all(*ctx, delay);
    return int32_t(0);
  });
}

int32_t Backend::meta_get(const uint8_t* key, uint32_t nkey, const shm::MetaGetOptions& opt, uint8_t* out, uint32_t cap,
                          shm::MetaView* view) {
  return gated(*this, [&] { return int32_t(shm::meta_get(*ctx, key, nkey, opt, out, cap, view)); });
}

int32_t Backend::meta_delete(const uint8_t* key, uint32_t nkey, const shm::MetaDeleteOptions& opt) {
  return gated(*this, [&] { return int32_t(shm::meta_delete(*ctx, key, nkey, opt)); });
}

int32_t Backend::meta_arith(const uint8_t* key, uint32_t nkey, const shm::MetaArithOptions& opt, uint64_t* result,
                            shm::MetaView* view) {
  return gated(*this, [&] { return int32_t(shm::meta_arith(*ctx, key, nkey, opt, result, view)); });
}

int32_t Backend::meta_store_stale(const uint8_t* key, uint32_t nkey, const uint8_t* val, uint32_t nval, uint32_t flags,
                                  int64_t ttl, uint64_t cas, uint64_t* cas_out) {
  return gated(*this,
               [&] { return int32_t(shm::meta_store_stale(*ctx, key, nkey, val, nval, flags, ttl, cas, cas_out)); });
}

int32_t Backend::meta_debug(const uint8_t* key, uint32_t nkey, shm::MetaView* view, uint32_t* cls, uint64_t* total) {
  return gated(*this, [&] { return int32_t(shm::meta_debug(*ctx, key, nkey, view, cls, total)); });
}

int32_t Backend::reassign(int32_t src, int32_t dst) {
  return gated(*this, [&] { return int32_t(shm::slabs_reassign_from(*ctx, src, dst)); });
}

int32_t Backend::crawl_class(uint32_t cls, uint32_t budget, uint64_t* checked) {
  return gated(*this, [&] {
    shm::CrawlResult res = shm::crawl_class(*ctx, cls, budget);
    *checked = res.checked;
    return int32_t(0);
  });
}

uint32_t Backend::n_classes() {
  uint32_t n = 0;
  gated(*this, [&] {
    uint32_t c = ctx->r->h()->n_classes;
    n = c < shm::kMaxClasses ? c : shm::kMaxClasses - 1;
    return int32_t(0);
  });
  return n;
}

int32_t Backend::crawl_keys(uint64_t* cursor, std::vector<uint8_t>* out, size_t soft_cap, bool* done) {
  return gated(*this, [&] {
    *done = shm::crawl_keys(*ctx, cursor, out, soft_cap);
    return int32_t(0);
  });
}

uint32_t Backend::max_value_len(uint32_t nkey) {
  uint32_t n = 0;
  gated(*this, [&] {
    n = shm::max_value_len(*ctx->r, nkey);
    return int32_t(0);
  });
  return n;
}

bool Backend::cachedump(uint32_t cls, uint32_t limit, std::string* out) {
  return gated(*this, [&] {
           *out = shm::stats_cachedump(*ctx->r, cls, limit);
           return int32_t(0);
         }) == 0;
}

void Backend::add_counts(uint64_t* counts) {
  static constexpr shm::Counter kMap[kEngineCounters] = {shm::kCmdMeta,     shm::kStoreTooLarge, shm::kStoreNoMemory,
                                                         shm::kBytesRead,   shm::kBytesWritten,  shm::kConnsOpened,
                                                         shm::kConnsClosed, shm::kConnsRejected, shm::kConnYields};
  uint64_t any = 0;  // the OR of the values (not of "!= 0" flags): the compiler vectorises it
  for (uint32_t i = 0; i < kEngineCounters; ++i) any |= counts[i];
  if (any == 0) return;
  gated(*this, [&] {
    for (uint32_t i = 0; i < kEngineCounters; ++i) {
      if (counts[i]) ctx->count(kMap[i], counts[i]);
      counts[i] = 0;
    }
    return int32_t(0);
  });
}

bool Backend::stats(int group, shm::StatList* out) {
  int32_t r = gated(*this, [&] {
    shm::Region& r = *ctx->r;
    uint32_t now = shm::clock_now(r.h());
    switch (group) {
      case 1: *out = shm::stats_slabs(r); break;
      case 2: *out = shm::stats_items(r, now); break;
      case 3: *out = shm::stats_settings(r); break;
      case 4: shm::stats_reset(r); break;
      default: *out = shm::stats_general(r, now, protection);
    }
    return int32_t(0);
  });
  return r == 0;
}

}  // namespace proto
