// core_stress.cc — N threads hammering native/core at once, then exact invariants.
//
// Each thread has its own Ctx (stats slot) on one shared region and runs a random mix of:
//   - incr/decr on shared counters (start at 10^9 so decr never clamps): totals must be exact;
//   - a CAS loop (gets, cas value+1, retry on EXISTS) on one counter: no lost update;
//   - set/get on "ck:" keys whose values carry a checksum of key + body: a get never sees a
//     torn value or another key's value;
//   - append/prepend of self-checking 16-byte records on "ap:" keys: no record lost or torn;
//   - set/get/delete over a "r:" key space large enough that the hash table grows while all of
//     this runs (values checksummed too).
// At the end (one thread): counters, CAS counter and record counts are exact, every value
// checks, curr_items equals what a full scan finds, hash chains / LRU lists / free lists agree
// with the class counters, per-thread stat counters add up to the calls made, the table grew.
//
// Usage: core_stress [threads] [ops_per_thread] [max_seconds]
//   env: STRESS_THREADS (4), STRESS_OPS (400000), STRESS_SECONDS (20), STRESS_STATS_READER (1:
//   one more thread reads stats() while the others run), SHMCACHED_TEST_DIR (/dev/shm).
// Last line: "N passed, N failed"; exit status 1 when anything failed.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/assoc.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/layout.h"
#include "core/region.h"
#include "core/stats.h"
#include "core/store.h"
#include "test/check_structure.h"
#include "test/scratch_region.h"

using namespace shm;

static int g_pass = 0, g_fail = 0;

static void report_fail(int line, const std::string& what) {
  ++g_fail;
  std::fprintf(stderr, "FAIL core_stress.cc:%d: %s\n", line, what.c_str());
}
#define CHECK(cond)                 \
  do {                              \
    if (cond)                       \
      ++g_pass;                     \
    else                            \
      report_fail(__LINE__, #cond); \
  } while (0)
#define CHECK_EQ_U(a, b)                                                                                        \
  do {                                                                                                          \
    uint64_t a_ = uint64_t(a), b_ = uint64_t(b);                                                                \
    if (a_ == b_)                                                                                               \
      ++g_pass;                                                                                                 \
    else                                                                                                        \
      report_fail(__LINE__, std::string(#a " == " #b ": ") + std::to_string(a_) + " vs " + std::to_string(b_)); \
  } while (0)

static const uint8_t* B(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

// ---- configuration ---------------------------------------------------------------------------

static constexpr int kCounters = 16;
static constexpr uint64_t kCounterStart = 1000000000ull;
static constexpr int kCkKeys = 2000;
static constexpr int kApKeys = 64;
static constexpr int kRKeys = 120000;
static constexpr int kRecord = 16;

static uint64_t env_u(const char* name, uint64_t def) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : def;
}

// ---- values that check themselves ------------------------------------------------------------

static uint64_t fnv(const uint8_t* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

// value = key '|' tid '|' seq '|' filler... then 16 hex digits of fnv(everything before them).
static size_t make_value(char* out, std::string_view key, uint32_t tid, uint64_t seq, size_t len) {
  int n = std::snprintf(out, 64 + key.size(), "%.*s|%u|%" PRIu64 "|", int(key.size()), key.data(), tid, seq);
  size_t body = len < size_t(n) + 16 ? size_t(n) : len - 16;
  for (size_t i = size_t(n); i < body; ++i) out[i] = char('a' + (seq + i) % 26);
  uint64_t h = fnv(reinterpret_cast<uint8_t*>(out), body);
  std::snprintf(out + body, 17, "%016" PRIx64, h);
  return body + 16;
}

static bool check_value(const uint8_t* v, size_t n, std::string_view key) {
  if (n < 16 + key.size() + 1) return false;
  if (std::memcmp(v, key.data(), key.size()) != 0 || v[key.size()] != '|') return false;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016" PRIx64, fnv(v, n - 16));
  return std::memcmp(hex, v + n - 16, 16) == 0;
}

// A 16-byte record: 't' tid(2 hex) seq(8 hex) check(4 hex) '.'
static void make_record(char* out, uint32_t tid, uint32_t seq) {
  char tmp[12];
  std::snprintf(tmp, sizeof tmp, "t%02x%08x", tid & 0xff, seq);
  uint32_t c = uint32_t(fnv(reinterpret_cast<uint8_t*>(tmp), 11)) & 0xffff;
  std::memcpy(out, tmp, 11);
  std::snprintf(out + 11, 6, "%04x.", c);
}
static bool check_record(const uint8_t* r) {
  char c[6];
  std::snprintf(c, sizeof c, "%04x.", uint32_t(fnv(r, 11)) & 0xffff);
  return r[0] == 't' && std::memcmp(c, r + 11, 5) == 0;
}

// ---- structure check (quiescent region) ------------------------------------------------------

// ---- the workers -----------------------------------------------------------------------------

struct Tally {
  uint64_t ops = 0;
  int64_t counter_delta[kCounters] = {};
  uint64_t delta_calls = 0, delta_nonok = 0;
  uint64_t cas_success = 0, cas_retries = 0, cas_calls = 0;
  uint64_t records = 0;
  uint64_t get_calls = 0;
  uint64_t store_calls = 0;  // calls that count in cmd_set (allocation succeeded or concat)
  uint64_t delete_calls = 0;
  uint64_t bad_values = 0, bad_status = 0, nomem = 0;
  std::string first_error;
};

// The tallies that add up across threads (counter_delta adds per counter; first_error does not add).
constexpr uint64_t Tally::*kTallySums[] = {
    &Tally::ops,        &Tally::delta_calls, &Tally::delta_nonok, &Tally::cas_success, &Tally::cas_retries,
    &Tally::cas_calls,  &Tally::records,     &Tally::get_calls,   &Tally::store_calls, &Tally::delete_calls,
    &Tally::bad_values, &Tally::bad_status,  &Tally::nomem,
};

struct Shared {
  Region* r;
  uint64_t ops;
  std::chrono::steady_clock::time_point deadline;
  std::atomic<bool> stop{false};
  std::atomic<int> running{0};
  std::atomic<bool> go{false};
  std::atomic<uint64_t> max_power{0};
};

static void note(Tally& t, const std::string& s) {
  if (t.first_error.empty()) t.first_error = s;
}

static void worker(Shared* sh, uint32_t tid, Tally* t) {
  Ctx ctx;
  stats_attach(*sh->r, &ctx);
  // Start together, so that the threads really overlap.
  sh->running.fetch_add(1);
  while (!sh->go.load(std::memory_order_acquire)) std::this_thread::yield();
  uint64_t x = 0x9E3779B97F4A7C15ull * (tid + 1);
  auto rnd = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  std::vector<uint8_t> buf(64 * 1024 * 4);
  char key[64], val[4096];
  uint32_t seq = 0;
  // Sets ks to a checksummed value of len bytes (this thread, this seq) with flags; a full region
  // (kNoMemory) is counted apart from the calls that count in cmd_set, any other failure is bad.
  auto set_checked = [&](std::string_view ks, size_t len, uint32_t flags) {
    size_t n = make_value(val, ks, tid, seq, len);
    Status s = cmd_store(ctx, StoreCmd::kSet, B(ks), uint32_t(ks.size()), B(std::string_view(val, n)), uint32_t(n),
                         flags, 0, 0, nullptr);
    if (s == kNoMemory)
      t->nomem++;
    else
      t->store_calls++;
    if (s != kOk && s != kNoMemory) {
      t->bad_status++;
      note(*t, "set " + std::string(ks) + " returned " + std::to_string(s));
    }
  };
  for (uint64_t i = 0; i < sh->ops; ++i) {
    if ((i & 255) == 0 && (sh->stop.load(std::memory_order_relaxed) || std::chrono::steady_clock::now() > sh->deadline))
      break;
    ++seq;
    uint64_t pick = rnd() % 100;
    ItemMeta m{};
    if (pick < 8) {  // shared counters
      int c = int(rnd() % kCounters);
      int kn = std::snprintf(key, sizeof key, "ctr:%d", c);
      bool incr = rnd() & 1;
      uint64_t d = 1 + rnd() % 3, res = 0;
      Status s = cmd_delta(ctx, B(key), uint32_t(kn), incr, d, &res);
      t->delta_calls++;
      if (s == kOk)
        t->counter_delta[c] += incr ? int64_t(d) : -int64_t(d);
      else {
        t->delta_nonok++;
        note(*t, "delta on " + std::string(key) + " returned " + std::to_string(s));
      }
    } else if (pick < 11) {  // CAS loop on one counter
      for (int tries = 0; tries < 1000; ++tries) {
        Status s = cmd_get(ctx, B("casctr"), 6, false, 0, buf.data(), uint32_t(buf.size()), &m);
        t->get_calls++;
        if (s != kOk) {
          t->bad_status++;
          note(*t, "casctr get returned " + std::to_string(s));
          break;
        }
        uint64_t v = std::strtoull(std::string(reinterpret_cast<char*>(buf.data()), m.vlen).c_str(), nullptr, 10);
        int n = std::snprintf(val, sizeof val, "%" PRIu64, v + 1);
        t->cas_calls++;
        s = cmd_store(ctx, StoreCmd::kCas, B("casctr"), 6, B(std::string_view(val, size_t(n))), uint32_t(n), 0, 0,
                      m.cas, nullptr);
        if (s != kNoMemory && s != kTooLarge) t->store_calls++;
        if (s == kOk) {
          t->cas_success++;
          break;
        }
        if (s != kExists) {
          t->bad_status++;
          note(*t, "cas returned " + std::to_string(s));
          break;
        }
        t->cas_retries++;
      }
    } else if (pick < 31) {  // checksummed values
      int k = int(rnd() % kCkKeys);
      int kn = std::snprintf(key, sizeof key, "ck:%d", k);
      std::string_view ks(key, size_t(kn));
      if (rnd() & 1) {
        set_checked(ks, 24 + rnd() % 3000, tid);
      } else {
        Status s = cmd_get(ctx, B(ks), uint32_t(kn), false, 0, buf.data(), uint32_t(buf.size()), &m);
        t->get_calls++;
        if (s != kOk) {
          t->bad_status++;
          note(*t, "get " + std::string(ks) + " returned " + std::to_string(s));
        } else if (!check_value(buf.data(), m.vlen, ks)) {
          t->bad_values++;
          note(*t, "torn or foreign value under " + std::string(ks));
        }
      }
    } else if (pick < 35) {  // append / prepend records
      int k = int(rnd() % kApKeys);
      int kn = std::snprintf(key, sizeof key, "ap:%d", k);
      char rec[kRecord + 1];
      make_record(rec, tid, seq);
      StoreCmd cmd = (rnd() & 1) ? StoreCmd::kAppend : StoreCmd::kPrepend;
      Status s =
          cmd_store(ctx, cmd, B(key), uint32_t(kn), B(std::string_view(rec, kRecord)), kRecord, 0, 0, 0, nullptr);
      t->store_calls++;
      if (s == kOk)
        t->records++;
      else {
        t->bad_status++;
        note(*t, "append/prepend on " + std::string(key) + " returned " + std::to_string(s));
      }
    } else {  // random key space: growth, deletes, reuse of chunks
      int k = int(rnd() % kRKeys);
      int kn = std::snprintf(key, sizeof key, "r:%d", k);
      std::string_view ks(key, size_t(kn));
      uint64_t op = rnd() % 100;
      if (op < 55) {
        set_checked(ks, 24 + rnd() % 180, 0);
      } else if (op < 85) {
        Status s = cmd_get(ctx, B(ks), uint32_t(kn), false, 0, buf.data(), uint32_t(buf.size()), &m);
        t->get_calls++;
        if (s == kOk && !check_value(buf.data(), m.vlen, ks)) {
          t->bad_values++;
          note(*t, "torn or foreign value under " + std::string(ks));
        } else if (s != kOk && s != kMiss) {
          t->bad_status++;
        }
      } else {
        Status s = cmd_delete(ctx, B(ks), uint32_t(kn));
        t->delete_calls++;
        if (s != kOk && s != kMiss) t->bad_status++;
      }
    }
    t->ops++;
    if ((i & 1023) == 0) {
      uint64_t p = ts_power(sh->r->h()->table_state.load(std::memory_order_relaxed));
      uint64_t cur = sh->max_power.load(std::memory_order_relaxed);
      while (p > cur && !sh->max_power.compare_exchange_weak(cur, p)) {}
    }
  }
  stats_detach(&ctx);
}

// ---- main ------------------------------------------------------------------------------------

static uint64_t stat(Region& r, const char* name) {
  for (auto& [k, v] : stats_general(r, clock_now(r.h()), "none"))
    if (k == name) return std::strtoull(v.c_str(), nullptr, 10);
  report_fail(__LINE__, std::string("no stat ") + name);
  return 0;
}

int main(int argc, char** argv) {
  uint32_t threads = uint32_t(argc > 1 ? std::strtoul(argv[1], nullptr, 10) : env_u("STRESS_THREADS", 4));
  uint64_t ops = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : env_u("STRESS_OPS", 400000);
  uint64_t seconds = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : env_u("STRESS_SECONDS", 20);
  bool reader = env_u("STRESS_STATS_READER", 1) != 0;
  if (threads < 1) threads = 1;
  if (threads > 64) threads = 64;
  const char* dir = std::getenv("SHMCACHED_TEST_DIR");
  std::string path = std::string(dir && *dir ? dir : "/dev/shm") + "/shmcached-stress-" + std::to_string(getpid());

  Region* r = open_scratch_region(path, 96ull << 20, 1u << 20, 1, "core_stress");
  if (!r) {
    std::printf("0 passed, 1 failed\n");
    return 1;
  }
  Ctx main_ctx;
  stats_attach(*r, &main_ctx);
  uint64_t init_stores = 0, init_bad = 0;
  char key[64], val[64];
  for (int c = 0; c < kCounters; ++c) {
    int kn = std::snprintf(key, sizeof key, "ctr:%d", c);
    int vn = std::snprintf(val, sizeof val, "%" PRIu64, kCounterStart);
    init_bad +=
        cmd_store(main_ctx, StoreCmd::kSet, B(key), uint32_t(kn), B(val), uint32_t(vn), 0, 0, 0, nullptr) != kOk;
    ++init_stores;
  }
  init_bad += cmd_store(main_ctx, StoreCmd::kSet, B("casctr"), 6, B("0"), 1, 0, 0, 0, nullptr) != kOk;
  ++init_stores;
  for (int k = 0; k < kCkKeys; ++k) {
    int kn = std::snprintf(key, sizeof key, "ck:%d", k);
    char v[128];
    size_t n = make_value(v, std::string_view(key, size_t(kn)), 99, 0, 40);
    init_bad += cmd_store(main_ctx, StoreCmd::kSet, B(key), uint32_t(kn), B(std::string_view(v, n)), uint32_t(n), 0, 0,
                          0, nullptr) != kOk;
    ++init_stores;
  }
  for (int k = 0; k < kApKeys; ++k) {
    int kn = std::snprintf(key, sizeof key, "ap:%d", k);
    init_bad += cmd_store(main_ctx, StoreCmd::kSet, B(key), uint32_t(kn), B(""), 0, 0, 0, 0, nullptr) != kOk;
    ++init_stores;
  }
  CHECK_EQ_U(init_bad, 0);
  uint64_t get0 = stat(*r, "cmd_get");

  Shared sh;
  sh.r = r;
  sh.ops = ops;
  sh.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  std::vector<Tally> tally(threads);
  std::vector<std::thread> ts;
  auto t0 = std::chrono::steady_clock::now();
  for (uint32_t i = 0; i < threads; ++i) ts.emplace_back(worker, &sh, i + 1, &tally[i]);
  while (sh.running.load() < int(threads)) std::this_thread::yield();
  sh.go.store(true, std::memory_order_release);
  std::atomic<bool> workers_done{false};
  uint64_t reads = 0;
  std::thread stats_reader;
  if (reader) {
    // Reads stats the way `cache.stats()` does from another thread while the workers run.
    stats_reader = std::thread([&] {
      while (!workers_done.load()) {
        (void)stats_general(*r, clock_now(r->h()), "none");
        (void)stats_slabs(*r);
        (void)stats_items(*r, clock_now(r->h()));
        ++reads;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    });
  }
  for (auto& t : ts) t.join();
  workers_done = true;
  if (reader) stats_reader.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // ---- invariants ----
  Tally all;
  for (uint32_t i = 0; i < threads; ++i) {
    Tally& t = tally[i];
    if (!t.first_error.empty()) std::fprintf(stderr, "thread %u first error: %s\n", i + 1, t.first_error.c_str());
    for (uint64_t Tally::*f : kTallySums) all.*f += t.*f;
    for (int c = 0; c < kCounters; ++c) all.counter_delta[c] += t.counter_delta[c];
  }
  uint64_t evictions = stat(*r, "evictions");
  std::fprintf(stderr,
               "core_stress: %u threads, %" PRIu64 " ops in %.2f s (%.0f ops/s), cas retries %" PRIu64
               ", records %" PRIu64 ", evictions %" PRIu64 ", out of memory %" PRIu64 ", stats reads %" PRIu64 "\n",
               threads, all.ops, secs, double(all.ops) / secs, all.cas_retries, all.records, evictions, all.nomem,
               reads);
  CHECK(all.ops > 0);
  CHECK_EQ_U(all.bad_values, 0);
  CHECK_EQ_U(all.bad_status, 0);
  CHECK_EQ_U(all.delta_nonok, 0);
  // Exactness needs every item to stay: the region is sized for it.
  CHECK_EQ_U(evictions, 0);
  CHECK_EQ_U(all.nomem, 0);

  std::vector<uint8_t> buf(1u << 20);
  ItemMeta m{};
  uint64_t found = 0;
  int kn = 0;  // the length of the key in `key`
  // Reads "<prefix>:<i>" into buf and m.
  auto get_nth = [&](const char* prefix, int i) {
    kn = std::snprintf(key, sizeof key, "%s:%d", prefix, i);
    return cmd_get(main_ctx, B(key), uint32_t(kn), false, 0, buf.data(), uint32_t(buf.size()), &m);
  };
  // Reads "<prefix>:<i>" for every i < n: each must be there (then counted in found), and bad(i)
  // returns the problems of its value. Returns the misses plus those problems.
  auto check_keys = [&](const char* prefix, int n, const std::function<int(int)>& bad) {
    int problems = 0;
    for (int i = 0; i < n; ++i) {
      if (get_nth(prefix, i) != kOk) {
        ++problems;
        continue;
      }
      ++found;
      problems += bad(i);
    }
    return problems;
  };
  int bad_ctr = check_keys("ctr", kCounters, [&](int c) {
    std::string s(reinterpret_cast<char*>(buf.data()), m.vlen);
    uint64_t v = std::strtoull(s.c_str(), nullptr, 10);
    uint64_t want = uint64_t(int64_t(kCounterStart) + all.counter_delta[c]);
    if (v == want) return 0;
    std::fprintf(stderr, "counter %d: %" PRIu64 " expected %" PRIu64 " (\"%s\")\n", c, v, want, s.c_str());
    return 1;
  });
  CHECK_EQ_U(bad_ctr, 0);
  if (cmd_get(main_ctx, B("casctr"), 6, false, 0, buf.data(), uint32_t(buf.size()), &m) == kOk) {
    ++found;
    uint64_t v = std::strtoull(std::string(reinterpret_cast<char*>(buf.data()), m.vlen).c_str(), nullptr, 10);
    CHECK_EQ_U(v, all.cas_success);
  } else {
    CHECK(!"casctr missing");
  }
  int bad_ck = check_keys(
      "ck", kCkKeys, [&](int) { return check_value(buf.data(), m.vlen, std::string_view(key, size_t(kn))) ? 0 : 1; });
  CHECK_EQ_U(bad_ck, 0);
  uint64_t records = 0;
  int bad_rec = check_keys("ap", kApKeys, [&](int) {
    int bad = m.vlen % kRecord ? 1 : 0;
    for (uint32_t off = 0; off + kRecord <= m.vlen; off += kRecord) {
      if (!check_record(buf.data() + off)) ++bad;
      ++records;
    }
    return bad;
  });
  CHECK_EQ_U(bad_rec, 0);
  CHECK_EQ_U(records, all.records);
  int bad_r = 0;
  for (int k = 0; k < kRKeys; ++k) {
    int kn = std::snprintf(key, sizeof key, "r:%d", k);
    Status s = cmd_get(main_ctx, B(key), uint32_t(kn), false, 0, buf.data(), uint32_t(buf.size()), &m);
    if (s == kOk) {
      ++found;
      if (!check_value(buf.data(), m.vlen, std::string_view(key, size_t(kn)))) ++bad_r;
    } else if (s != kMiss) {
      ++bad_r;
    }
  }
  CHECK_EQ_U(bad_r, 0);
  CHECK_EQ_U(stats_curr_items(*r), found);
  std::string why;
  bool ok = check_structure(*r, &why);
  if (!ok) std::fprintf(stderr, "structure: %s\n", why.c_str());
  CHECK(ok);
  // Per-thread stat slots add up to the calls made.
  uint64_t final_gets = uint64_t(kCounters) + 1 + kCkKeys + kApKeys + kRKeys;
  CHECK_EQ_U(stat(*r, "cmd_get") - get0, all.get_calls + final_gets);
  CHECK_EQ_U(stat(*r, "get_hits") + stat(*r, "get_misses"), stat(*r, "cmd_get"));
  CHECK_EQ_U(stat(*r, "cmd_set"), init_stores + all.store_calls);
  CHECK_EQ_U(stat(*r, "incr_hits") + stat(*r, "decr_hits"), all.delta_calls);
  CHECK_EQ_U(stat(*r, "cas_hits"), all.cas_success);
  CHECK_EQ_U(stat(*r, "cas_badval"), all.cas_retries);
  CHECK_EQ_U(stat(*r, "delete_hits") + stat(*r, "delete_misses"), all.delete_calls);
  // The table grew while the threads ran (full runs insert well past 0.75 * 2^16 keys).
  uint64_t s = r->h()->table_state.load();
  std::fprintf(stderr, "core_stress: hash power %u%s (max seen while running %" PRIu64 "), curr_items %" PRIu64 "\n",
               ts_power(s), ts_expanding(s) ? " expanding" : "", sh.max_power.load(), found);
  if (found > 60000) CHECK(ts_power(s) > kMinHashPower || ts_expanding(s));

  stats_detach(&main_ctx);
  delete r;
  unlink(path.c_str());
  std::printf("%d passed, %d failed\n", g_pass, g_fail);
  return g_fail ? 1 : 0;
}
