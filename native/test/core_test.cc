// core_test.cc — a self-contained test binary for native/core (no framework, no Node).
//
// Exercises the core through store.h exactly as the addon does: a region in /dev/shm (or in
// $SHMCACHED_TEST_DIR), a Ctx per thread, the cmd_* calls. Covers every command's semantics,
// incr/decr number parsing (memcached's safe_strtoull), the slab classes, eviction and -M, table
// growth, warm reopen, refusing bad files, and bounds safety against corrupted offsets (each
// corruption scenario runs in a forked child, so a crash is a counted failure, not the end).
//
// Usage: core_test [filter]   (runs the tests whose name contains filter)
// Last line: "N passed, N failed"; exit status 1 when anything failed.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/assoc.h"
#include "core/clock.h"
#include "core/crawl.h"
#include "core/failpoint.h"
#include "core/crawler.h"
#include "core/hash.h"
#include "core/items.h"
#include "core/layout.h"
#include "core/numeric.h"
#include "core/recover.h"
#include "core/region.h"
#include "core/slabs.h"
#include "core/stats.h"
#include "core/store.h"
#include "test/check_structure.h"
#include "test/scratch_region.h"

using namespace shm;

// ---- the wall clock, pinned ------------------------------------------------------------------
//
// The store's clock is time(nullptr) plus the region's offset (core/clock.cc), and these tests
// move it with TR::advance to check boundaries: a hit at ttl - 1 seconds, a miss at ttl. With the
// real time(), a second that passes between the set and the get (a loaded CI machine) shifts the
// boundary and a check fails at random (append_prepend's "advance 99 of 100" did, 1 run in 12).
// So this binary defines time() itself, which the core's calls link to instead of libc's: the
// wall clock stands still at the second the process started, and only advance() moves store
// time. Nothing in the core waits on time() (its waits use the steady clock), so nothing hangs on it.
static time_t pinned_wall() {
  static const time_t t0 = [] {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
  }();
  return t0;
}
extern "C" time_t time(time_t* out) noexcept {
  time_t t = pinned_wall();
  if (out) *out = t;
  return t;
}

// ---- checks ----------------------------------------------------------------------------------

static int g_pass = 0, g_fail = 0;
static const char* g_test = "";

static void report_fail(const char* file, int line, const std::string& what) {
  ++g_fail;
  std::fprintf(stderr, "FAIL [%s] %s:%d: %s\n", g_test, file, line, what.c_str());
}

#define CHECK(cond)                           \
  do {                                        \
    if (cond)                                 \
      ++g_pass;                               \
    else                                      \
      report_fail(__FILE__, __LINE__, #cond); \
  } while (0)

template <class A, class B>
static std::string show2(const A& a, const B& b) {
  auto s = [](const auto& v) -> std::string {
    using T = std::decay_t<decltype(v)>;
    if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view> ||
                  std::is_same_v<T, const char*>)
      return "\"" + std::string(v) + "\"";
    else if constexpr (std::is_same_v<T, std::optional<std::string>>)
      return v ? "\"" + *v + "\"" : std::string("(miss)");
    else if constexpr (std::is_enum_v<T>)
      return std::to_string(static_cast<long long>(v));
    else
      return std::to_string(v);
  };
  return s(a) + " vs " + s(b);
}

#define CHECK_EQ(a, b)                                                                 \
  do {                                                                                 \
    auto&& a_ = (a);                                                                   \
    auto&& b_ = (b);                                                                   \
    if (a_ == b_)                                                                      \
      ++g_pass;                                                                        \
    else                                                                               \
      report_fail(__FILE__, __LINE__, std::string(#a " == " #b ": ") + show2(a_, b_)); \
  } while (0)

// ---- fixture ---------------------------------------------------------------------------------

static std::string g_dir;
static int g_seq = 0;
static std::vector<std::string> g_files;

static std::string temp_path(const char* tag) {
  std::string p = g_dir + "/shmcached-coretest-" + std::to_string(getpid()) + "-" + std::to_string(++g_seq) + "-" + tag;
  g_files.push_back(p);
  return p;
}

static void remove_files() {
  for (auto& f : g_files) unlink(f.c_str());
  g_files.clear();
}

struct TR {
  std::string path;
  Region* r = nullptr;
  Ctx ctx;
  std::string err;
  bool keep = false;

  TR(uint64_t mem, uint32_t imax, int evict, const char* tag = "r") {
    path = temp_path(tag);
    r = open_scratch_region(path, mem, imax, evict, "core_test");
    if (!r) std::exit(2);
    stats_attach(*r, &ctx);
  }
  void close() {
    if (!r) return;
    stats_detach(&ctx);
    delete r;
    r = nullptr;
  }
  ~TR() {
    close();
    if (!keep) unlink(path.c_str());
  }
  Header* h() { return r->h(); }
  void advance(int64_t s) { h()->clock_offset.fetch_add(s); }
  uint32_t now() { return clock_now(h()); }
};

static const uint8_t* B(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

static Status store(TR& t, StoreCmd cmd, std::string_view k, std::string_view v, uint32_t flags = 0, int64_t ttl = 0,
                    uint64_t cas_in = 0, uint64_t* cas_out = nullptr) {
  return cmd_store(t.ctx, cmd, B(k), uint32_t(k.size()), B(v), uint32_t(v.size()), flags, ttl, cas_in, cas_out);
}
static Status set(TR& t, std::string_view k, std::string_view v, uint32_t flags = 0, int64_t ttl = 0) {
  return store(t, StoreCmd::kSet, k, v, flags, ttl);
}

static std::vector<uint8_t> g_buf(4u << 20);

static std::optional<std::string> get(TR& t, std::string_view k, ItemMeta* meta = nullptr, Status* st = nullptr) {
  ItemMeta m{};
  Status s = cmd_get(t.ctx, B(k), uint32_t(k.size()), false, 0, g_buf.data(), uint32_t(g_buf.size()), &m);
  if (st) *st = s;
  if (meta) *meta = m;
  if (s != kOk) return std::nullopt;
  return std::string(reinterpret_cast<char*>(g_buf.data()), m.vlen);
}
static std::optional<std::string> gat(TR& t, std::string_view k, int64_t ttl, ItemMeta* meta = nullptr) {
  ItemMeta m{};
  Status s = cmd_get(t.ctx, B(k), uint32_t(k.size()), true, ttl, g_buf.data(), uint32_t(g_buf.size()), &m);
  if (meta) *meta = m;
  if (s != kOk) return std::nullopt;
  return std::string(reinterpret_cast<char*>(g_buf.data()), m.vlen);
}
static Status del(TR& t, std::string_view k) { return cmd_delete(t.ctx, B(k), uint32_t(k.size())); }
static Status delta(TR& t, std::string_view k, bool incr, uint64_t d, uint64_t* res) {
  return cmd_delta(t.ctx, B(k), uint32_t(k.size()), incr, d, res);
}
static Status touch(TR& t, std::string_view k, int64_t ttl) { return cmd_touch(t.ctx, B(k), uint32_t(k.size()), ttl); }

static uint64_t stat(TR& t, const std::string& name) {
  for (auto& [k, v] : stats_general(*t.r, t.now(), "none"))
    if (k == name) return std::strtoull(v.c_str(), nullptr, 10);
  std::fprintf(stderr, "no stat %s\n", name.c_str());
  ++g_fail;
  return ~0ull;
}

// Checks each named stat of t against its value: one pass or failure per stat, at the caller's line.
#define CHECK_STATS(t, ...) check_stats((t), __LINE__, __VA_ARGS__)
static void check_stats(TR& t, int line, std::initializer_list<std::pair<const char*, uint64_t>> want) {
  for (const auto& [name, v] : want) {
    uint64_t got = stat(t, name);
    if (got == v)
      ++g_pass;
    else
      report_fail(__FILE__, line, std::string("stat ") + name + ": " + show2(got, v));
  }
}

// ---- structure check: hash chains, LRU lists, free lists and counters agree ------------------
// Only valid when no command is in flight (every chunk is then either linked or free).

#define CHECK_STRUCTURE(t)                                   \
  do {                                                       \
    std::string why_;                                        \
    if (check_structure(*(t).r, &why_))                      \
      ++g_pass;                                              \
    else                                                     \
      report_fail(__FILE__, __LINE__, "structure: " + why_); \
  } while (0)

// Runs fn in a forked child; a crash (signal) or a non-zero exit is one failure. The child's
// CHECKs are reported by the child on stderr and summarised in its exit status.
static void in_child(const char* what, const std::function<void()>& fn) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (std::getenv("CORE_TEST_NOFORK")) {  // debugging: run in this process (a crash ends it)
    std::fprintf(stderr, "  [%s]\n", what);
    fn();
    return;
  }
  pid_t pid = fork();
  if (pid < 0) {
    report_fail(__FILE__, __LINE__, std::string("fork failed for ") + what);
    return;
  }
  if (pid == 0) {
    g_fail = 0;
    g_files.clear();
    alarm(20);  // a hang is a failure too (SIGALRM)
    fn();
    remove_files();
    std::fflush(stderr);
    _exit(g_fail ? 1 : 0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  // A child that crashed could not remove its region files (named after its pid).
  if (DIR* d = opendir(g_dir.c_str())) {
    std::string prefix = "shmcached-coretest-" + std::to_string(pid) + "-";
    while (dirent* e = readdir(d))
      if (std::strncmp(e->d_name, prefix.c_str(), prefix.size()) == 0) unlink((g_dir + "/" + e->d_name).c_str());
    closedir(d);
  }
  if (WIFSIGNALED(status)) {
    report_fail(__FILE__, __LINE__,
                std::string(what) + ": child crashed with signal " + std::to_string(WTERMSIG(status)));
  } else if (WEXITSTATUS(status) != 0) {
    report_fail(__FILE__, __LINE__,
                std::string(what) + ": child reported failures (exit " + std::to_string(WEXITSTATUS(status)) + ")");
  } else {
    ++g_pass;
  }
}

// ---- tests -----------------------------------------------------------------------------------

static void test_keys() {
  TR t(8u << 20, 1u << 20, 1);
  std::string k250(250, 'k'), k251(251, 'k');
  CHECK_EQ(set(t, k250, "v"), kOk);
  CHECK_EQ(get(t, k250), std::optional<std::string>("v"));
  CHECK_EQ(set(t, k251, "v"), kBadKey);
  CHECK_EQ(set(t, "", "v"), kBadKey);
  CHECK_EQ(set(t, "a b", "v"), kBadKey);
  CHECK_EQ(set(t, "a\nb", "v"), kBadKey);
  CHECK_EQ(set(t, std::string_view("a\0b", 3), "v"), kBadKey);
  CHECK_EQ(set(t, "a\x7f", "v"), kBadKey);
  CHECK_EQ(set(t, "caf\xc3\xa9", "v"), kOk);  // bytes above 0x7f are fine, as in memcached
  Status s;
  get(t, k251, nullptr, &s);
  CHECK_EQ(s, kBadKey);
  CHECK_EQ(del(t, "a b"), kBadKey);
  uint64_t res;
  CHECK_EQ(delta(t, "", true, 1, &res), kBadKey);
  CHECK_EQ(touch(t, k251, 0), kBadKey);
  CHECK(key_valid(B("x"), 1));
  CHECK(!key_valid(B("x\t"), 2));
  // key_valid checks 8 bytes a word: every byte value at every position of keys 1..40 bytes
  // long agrees with the byte-by-byte rule.
  for (uint32_t len = 1; len <= 40; ++len)
    for (uint32_t pos = 0; pos < len; ++pos)
      for (uint32_t b = 0; b < 256; ++b) {
        uint8_t key[40];
        std::memset(key, 'a', sizeof key);
        key[pos] = uint8_t(b);
        bool want = b > 0x20 && b != 0x7f;
        if (key_valid(key, len) != want) CHECK(false && "key_valid disagrees with the byte rule");
      }
  CHECK_STRUCTURE(t);
}

static void test_set_get() {
  TR t(8u << 20, 1u << 20, 1);
  ItemMeta m{};
  CHECK_EQ(get(t, "nope"), std::optional<std::string>());
  CHECK_EQ(set(t, "a", "hello", 42), kOk);
  CHECK_EQ(get(t, "a", &m), std::optional<std::string>("hello"));
  CHECK_EQ(m.flags, 42u);
  CHECK_EQ(m.vlen, 5u);
  uint64_t cas1 = m.cas;
  CHECK(cas1 != 0);
  CHECK_EQ(set(t, "a", "world!", 0xFFFFFFFFu), kOk);
  CHECK_EQ(get(t, "a", &m), std::optional<std::string>("world!"));
  CHECK_EQ(m.flags, 0xFFFFFFFFu);
  CHECK(m.cas > cas1);
  CHECK_EQ(set(t, "empty", ""), kOk);
  CHECK_EQ(get(t, "empty", &m), std::optional<std::string>(""));
  CHECK_EQ(m.vlen, 0u);
  // Binary values survive byte for byte.
  std::string bin;
  for (int i = 0; i < 256; ++i) bin.push_back(char(i));
  CHECK_EQ(set(t, "bin", bin), kOk);
  CHECK(get(t, "bin") == bin);
  // A value that moves to another class on overwrite.
  std::string big(5000, 'x');
  CHECK_EQ(set(t, "a", big), kOk);
  CHECK(get(t, "a") == big);
  CHECK_EQ(set(t, "a", "small"), kOk);
  CHECK_EQ(get(t, "a"), std::optional<std::string>("small"));
  // Buffer too small: nothing copied, the needed length reported, nothing counted.
  uint64_t hits = stat(t, "get_hits");
  ItemMeta m2{};
  CHECK_EQ(cmd_get(t.ctx, B("bin"), 3, false, 0, g_buf.data(), 10, &m2), kBufferSmall);
  CHECK_EQ(m2.vlen, 256u);
  CHECK_STATS(t, {
                     {"get_hits", hits},
                     {"curr_items", 3u},  // a, empty, bin
                     {"cmd_set", 6u},
                     {"total_items", 6u},
                     {"get_misses", 1u},
                 });
  CHECK_STRUCTURE(t);
}

static void test_add_replace() {
  TR t(8u << 20, 1u << 20, 1);
  CHECK_EQ(store(t, StoreCmd::kReplace, "k", "v1"), kNotStored);
  CHECK_EQ(get(t, "k"), std::optional<std::string>());
  CHECK_EQ(store(t, StoreCmd::kAdd, "k", "v1", 7), kOk);
  CHECK_EQ(store(t, StoreCmd::kAdd, "k", "v2"), kNotStored);
  ItemMeta m{};
  CHECK_EQ(get(t, "k", &m), std::optional<std::string>("v1"));
  CHECK_EQ(m.flags, 7u);
  CHECK_EQ(store(t, StoreCmd::kReplace, "k", "v3", 9), kOk);
  CHECK_EQ(get(t, "k", &m), std::optional<std::string>("v3"));
  CHECK_EQ(m.flags, 9u);
  // add over an expired item succeeds.
  CHECK_EQ(set(t, "e", "old", 0, 10), kOk);
  t.advance(11);
  CHECK_EQ(store(t, StoreCmd::kAdd, "e", "new"), kOk);
  CHECK_EQ(get(t, "e"), std::optional<std::string>("new"));
  // replace over an expired item fails.
  CHECK_EQ(set(t, "e2", "old", 0, 10), kOk);
  t.advance(11);
  CHECK_EQ(store(t, StoreCmd::kReplace, "e2", "new"), kNotStored);
  CHECK_EQ(stat(t, "curr_items"), 2u);  // k, e (e2 was dropped on the way)
  CHECK_STRUCTURE(t);
}

static void test_append_prepend() {
  // 64 MiB: the growing value below takes a page in each class it passes through, and pages do
  // not move between classes (yet), so a small region would have none left for the 1 MiB class.
  TR t(64u << 20, 1u << 20, 1);
  CHECK_EQ(store(t, StoreCmd::kAppend, "k", "x"), kNotStored);
  CHECK_EQ(store(t, StoreCmd::kPrepend, "k", "x"), kNotStored);
  CHECK_EQ(get(t, "k"), std::optional<std::string>());
  CHECK_EQ(set(t, "k", "mid", 5, 100), kOk);
  ItemMeta m{};
  get(t, "k", &m);
  uint64_t c0 = m.cas;
  CHECK_EQ(store(t, StoreCmd::kAppend, "k", "-end", 99, 0), kOk);  // flags/ttl ignored
  CHECK_EQ(store(t, StoreCmd::kPrepend, "k", "start-", 98, 0), kOk);
  CHECK_EQ(get(t, "k", &m), std::optional<std::string>("start-mid-end"));
  CHECK_EQ(m.flags, 5u);
  CHECK(m.cas > c0);
  // The ttl of the original is kept: 100 s.
  t.advance(99);
  CHECK_EQ(get(t, "k"), std::optional<std::string>("start-mid-end"));
  t.advance(2);
  CHECK_EQ(get(t, "k"), std::optional<std::string>());
  // Growing across classes.
  CHECK_EQ(set(t, "g", "a"), kOk);
  std::string expect = "a";
  for (int i = 0; i < 12; ++i) {
    std::string more(size_t(1) << i, char('b' + i));
    CHECK_EQ(store(t, StoreCmd::kAppend, "g", more), kOk);
    expect += more;
  }
  CHECK(get(t, "g") == expect);
  // Appending past the item maximum: not stored, the old value intact.
  uint32_t mx = max_value_len(*t.r, 1);
  std::string huge(mx - 10, 'h');
  CHECK_EQ(set(t, "h", huge), kOk);
  CHECK_EQ(store(t, StoreCmd::kAppend, "h", std::string(20, 'z')), kNotStored);
  CHECK_EQ(store(t, StoreCmd::kAppend, "h", std::string(mx + 1, 'z')), kTooLarge);
  CHECK(get(t, "h") == huge);
  CHECK_STRUCTURE(t);
}

// append/prepend with a CAS: the check and the append are one step under the key's stripe lock.
static void test_append_cas() {
  TR t(8u << 20, 1u << 20, 1);
  CHECK_EQ(store(t, StoreCmd::kAppend, "k", "x", 0, 0, 12345), kNotStored);  // missing: NOT_STORED
  CHECK_EQ(set(t, "k", "a"), kOk);
  ItemMeta m{};
  get(t, "k", &m);
  uint64_t c0 = m.cas, out = 0;
  CHECK_EQ(store(t, StoreCmd::kAppend, "k", "b", 0, 0, c0 + 1, &out), kExists);
  CHECK_EQ(store(t, StoreCmd::kPrepend, "k", "b", 0, 0, c0 + 1, &out), kExists);
  CHECK_EQ(get(t, "k"), std::optional<std::string>("a"));
  CHECK_EQ(store(t, StoreCmd::kAppend, "k", "b", 0, 0, c0, &out), kOk);
  CHECK_EQ(get(t, "k", &m), std::optional<std::string>("ab"));
  CHECK_EQ(out, m.cas);  // the new item's CAS is reported
  CHECK(out != c0);
  CHECK_EQ(store(t, StoreCmd::kPrepend, "k", "z", 0, 0, c0), kExists);  // the old CAS no longer matches
  CHECK_EQ(store(t, StoreCmd::kPrepend, "k", "z", 0, 0, out, &out), kOk);
  CHECK_EQ(store(t, StoreCmd::kAppend, "k", "!", 0, 0, 0, &out), kOk);  // 0: no check
  CHECK_EQ(get(t, "k", &m), std::optional<std::string>("zab!"));
  CHECK_EQ(out, m.cas);
  CHECK_STRUCTURE(t);
}

// Threads race "read value and CAS, append the record that says how many came before, with that
// CAS". Atomic check-and-append: every record's number equals its position, none twice (a
// check then an act in two steps lets two threads append the same number).
static void test_append_cas_race() {
  TR t(32u << 20, 1u << 20, 1);
  CHECK_EQ(set(t, "seq", ""), kOk);
  constexpr int kThreads = 4, kEach = 400, kRec = 8;
  std::atomic<uint64_t> exists{0};
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int th = 0; th < kThreads; ++th) {
    ts.emplace_back([&, th] {
      Ctx c;
      stats_attach(*t.r, &c);
      std::vector<uint8_t> buf(1u << 20);
      for (int done = 0; done < kEach;) {
        ItemMeta m{};
        if (cmd_get(c, B("seq"), 3, false, 0, buf.data(), uint32_t(buf.size()), &m) != kOk) {
          bad.fetch_add(1);
          break;
        }
        char rec[24];  // kRec bytes used: the count stays under 10^6
        std::snprintf(rec, sizeof rec, "%06u%c|", m.vlen / kRec, char('a' + th));
        std::this_thread::yield();  // widen the window between the read and the append
        Status s = cmd_store(c, StoreCmd::kAppend, B("seq"), 3, B(rec), kRec, 0, 0, m.cas, nullptr);
        if (s == kOk)
          ++done;
        else if (s == kExists)
          exists.fetch_add(1);
        else {
          bad.fetch_add(1);
          break;
        }
      }
      stats_detach(&c);
    });
  }
  for (auto& th : ts) th.join();
  CHECK_EQ(bad.load(), 0);
  auto v = get(t, "seq");
  CHECK(v.has_value());
  if (!v) return;
  CHECK_EQ(v->size(), size_t(kThreads) * kEach * kRec);
  int wrong = 0;
  for (size_t i = 0; i * kRec < v->size(); ++i) {
    char want[24];
    std::snprintf(want, sizeof want, "%06u", unsigned(i));
    if (v->compare(i * kRec, 6, want) != 0) ++wrong;
  }
  CHECK_EQ(wrong, 0);
  std::printf("  append_cas_race: %d appends, %" PRIu64 " EXISTS retries\n", kThreads * kEach, exists.load());
  CHECK_STRUCTURE(t);
}

static void test_cas() {
  TR t(8u << 20, 1u << 20, 1);
  uint64_t out = 0;
  CHECK_EQ(store(t, StoreCmd::kCas, "k", "v", 0, 0, 1, &out), kMiss);
  CHECK_EQ(get(t, "k"), std::optional<std::string>());
  CHECK_EQ(store(t, StoreCmd::kSet, "k", "v1", 0, 0, 0, &out), kOk);
  uint64_t c1 = out;
  ItemMeta m{};
  get(t, "k", &m);
  CHECK_EQ(m.cas, c1);
  CHECK_EQ(store(t, StoreCmd::kCas, "k", "v2", 3, 0, c1 + 1000, &out), kExists);
  CHECK_EQ(get(t, "k"), std::optional<std::string>("v1"));
  CHECK_EQ(store(t, StoreCmd::kCas, "k", "v2", 3, 0, c1, &out), kOk);
  uint64_t c2 = out;
  CHECK(c2 > c1);
  CHECK_EQ(get(t, "k", &m), std::optional<std::string>("v2"));
  CHECK_EQ(m.flags, 3u);
  CHECK_EQ(m.cas, c2);
  CHECK_EQ(store(t, StoreCmd::kCas, "k", "v3", 0, 0, c1, &out), kExists);  // stale
  // Every mutation gives a new CAS: incr in place, touch keeps it (memcached).
  CHECK_EQ(set(t, "n", "10"), kOk);
  get(t, "n", &m);
  uint64_t cn = m.cas;
  uint64_t r;
  CHECK_EQ(delta(t, "n", true, 1, &r), kOk);
  get(t, "n", &m);
  CHECK(m.cas > cn);
  cn = m.cas;
  CHECK_EQ(touch(t, "n", 100), kOk);
  get(t, "n", &m);
  CHECK_EQ(m.cas, cn);
  CHECK_STATS(t, {
                     {"cas_hits", 1u},
                     {"cas_badval", 2u},
                     {"cas_misses", 1u},
                 });
  CHECK_STRUCTURE(t);
}

static void test_delete() {
  TR t(8u << 20, 1u << 20, 1);
  CHECK_EQ(del(t, "k"), kMiss);
  CHECK_EQ(set(t, "k", "v"), kOk);
  CHECK_EQ(del(t, "k"), kOk);
  CHECK_EQ(del(t, "k"), kMiss);
  CHECK_EQ(get(t, "k"), std::optional<std::string>());
  CHECK_EQ(set(t, "k", "again"), kOk);
  CHECK_EQ(get(t, "k"), std::optional<std::string>("again"));
  // Deleting an expired item is a miss.
  CHECK_EQ(set(t, "e", "v", 0, 5), kOk);
  t.advance(6);
  CHECK_EQ(del(t, "e"), kMiss);
  // Many keys, delete every other one.
  for (int i = 0; i < 5000; ++i) CHECK_EQ(set(t, "d" + std::to_string(i), std::to_string(i)), kOk);
  for (int i = 0; i < 5000; i += 2) CHECK_EQ(del(t, "d" + std::to_string(i)), kOk);
  int bad = 0;
  for (int i = 0; i < 5000; ++i) {
    auto v = get(t, "d" + std::to_string(i));
    if (i % 2 ? v != std::to_string(i) : v.has_value()) ++bad;
  }
  CHECK_EQ(bad, 0);
  CHECK_STATS(t, {
                     {"curr_items", 2501u},
                     {"delete_hits", 2501u},
                     {"delete_misses", 3u},
                 });
  CHECK_STRUCTURE(t);
}

static void test_incr_decr() {
  TR t(8u << 20, 1u << 20, 1);
  uint64_t r = 0;
  CHECK_EQ(delta(t, "n", true, 1, &r), kMiss);
  CHECK_EQ(delta(t, "n", false, 1, &r), kMiss);
  CHECK_EQ(set(t, "n", "10", 77), kOk);
  CHECK_EQ(delta(t, "n", true, 5, &r), kOk);
  CHECK_EQ(r, 15u);
  CHECK_EQ(get(t, "n"), std::optional<std::string>("15"));
  // Growing the number allocates a longer item; flags are kept.
  CHECK_EQ(set(t, "g", "99", 77, 0), kOk);
  CHECK_EQ(delta(t, "g", true, 1, &r), kOk);
  CHECK_EQ(r, 100u);
  ItemMeta m{};
  CHECK_EQ(get(t, "g", &m), std::optional<std::string>("100"));
  CHECK_EQ(m.flags, 77u);
  // Shrinking in place leaves space padding, as memcached does.
  CHECK_EQ(delta(t, "g", false, 1, &r), kOk);
  CHECK_EQ(r, 99u);
  CHECK_EQ(get(t, "g"), std::optional<std::string>("99 "));
  CHECK_EQ(delta(t, "g", false, 90, &r), kOk);
  CHECK_EQ(get(t, "g"), std::optional<std::string>("9  "));
  CHECK_EQ(delta(t, "g", true, 991, &r), kOk);
  CHECK_EQ(get(t, "g"), std::optional<std::string>("1000"));
  // decr stops at 0.
  CHECK_EQ(set(t, "d", "5"), kOk);
  CHECK_EQ(delta(t, "d", false, 100, &r), kOk);
  CHECK_EQ(r, 0u);
  CHECK_EQ(get(t, "d"), std::optional<std::string>("0"));
  // incr wraps at 2^64.
  CHECK_EQ(set(t, "w", "18446744073709551615"), kOk);
  CHECK_EQ(delta(t, "w", true, 1, &r), kOk);
  CHECK_EQ(r, 0u);
  CHECK_EQ(get(t, "w"), std::optional<std::string>("0                   "));
  CHECK_EQ(set(t, "w2", "18446744073709551610"), kOk);
  CHECK_EQ(delta(t, "w2", true, 18446744073709551615ull, &r), kOk);
  CHECK_EQ(r, 18446744073709551609ull);
  // Leading spaces are accepted and overwritten in place.
  CHECK_EQ(set(t, "sp", "  5"), kOk);
  CHECK_EQ(delta(t, "sp", true, 1, &r), kOk);
  CHECK_EQ(get(t, "sp"), std::optional<std::string>("6  "));
  // Non-numeric values: an error, the value untouched.
  for (const char* bad : {"abc", "12abc", "", "-1", " ", "1.5", "0x10", "18446744073709551616"}) {
    CHECK_EQ(set(t, "x", bad), kOk);
    CHECK_EQ(delta(t, "x", true, 1, &r), kNonNumeric);
    CHECK_EQ(delta(t, "x", false, 1, &r), kNonNumeric);
    CHECK_EQ(get(t, "x"), std::optional<std::string>(bad));
  }
  // Expired counters miss.
  CHECK_EQ(set(t, "e", "1", 0, 10), kOk);
  t.advance(10);
  CHECK_EQ(delta(t, "e", true, 1, &r), kMiss);
  CHECK_STATS(t, {
                     {"incr_misses", 2u},
                     {"decr_misses", 1u},
                     {"incr_hits", 6u},
                     {"decr_hits", 3u},
                 });
  // Exactness over many steps.
  CHECK_EQ(set(t, "c", "0"), kOk);
  for (int i = 0; i < 10000; ++i) delta(t, "c", true, 3, &r);
  for (int i = 0; i < 2500; ++i) delta(t, "c", false, 2, &r);
  CHECK_EQ(r, 25000u);
  CHECK_STRUCTURE(t);
}

static bool parse(std::string_view s, uint64_t* v) { return parse_delta_value(B(s), uint32_t(s.size()), v); }

static void test_parse_delta_value() {
  uint64_t v = 12345;
  CHECK(parse("0", &v) && v == 0);
  CHECK(parse("42", &v) && v == 42);
  CHECK(parse("   42", &v) && v == 42);        // leading spaces
  CHECK(parse("\t\n\v\f\r 7", &v) && v == 7);  // any isspace
  CHECK(parse("+42", &v) && v == 42);          // '+'
  CHECK(parse("-0", &v) && v == 0);            // '-0' is 0
  CHECK(!parse("-1", &v));                     // negative refused
  // strtoull negates in unsigned arithmetic and safe_strtoull only refuses a '-' when the
  // result is negative as a signed number: "-18446744073709551615" is accepted as 1.
  CHECK(parse("-18446744073709551615", &v) && v == 1);
  CHECK(parse("42 ", &v) && v == 42);  // trailing space ok
  CHECK(parse("42    ", &v) && v == 42);
  CHECK(parse("42\r", &v) && v == 42);
  CHECK(parse("42 junk", &v) && v == 42);                       // anything after a space is ignored
  CHECK(parse(std::string_view("42\0xyz", 6), &v) && v == 42);  // trailing NUL ok
  CHECK(!parse("12abc", &v));
  CHECK(!parse("12-", &v));
  CHECK(!parse("", &v));
  CHECK(!parse("   ", &v));
  CHECK(!parse("+", &v));
  CHECK(!parse("-", &v));
  CHECK(!parse("+-1", &v));
  CHECK(!parse("abc", &v));
  CHECK(!parse("1.0", &v));
  CHECK(parse("18446744073709551615", &v) && v == UINT64_MAX);             // 20 digits, the max
  CHECK(parse("9223372036854775808", &v) && v == 9223372036854775808ull);  // > INT64_MAX, no '-'
  CHECK(!parse("18446744073709551616", &v));                               // max + 1
  CHECK(!parse("99999999999999999999", &v));                               // 20 digits, too big
  CHECK(!parse("100000000000000000000", &v));                              // 21 digits: overflow
  CHECK(parse("000000000000000000000000042", &v) && v == 42);              // leading zeros do not overflow
  CHECK(!parse("-9223372036854775808", &v));                               // negative as signed: refused
  v = 7;
  CHECK(!parse("x", &v));
  // "-5" is 2^64-5, negative as signed, with a '-': refused. "-9223372036854775809" wraps to
  // 2^63-1, positive as signed: accepted, as memcached does.
  CHECK(!parse("-5", &v));
  CHECK(parse("-9223372036854775809", &v) && v == 9223372036854775807ull);

  uint8_t buf[24];
  auto fmt = [&](uint64_t x) { return std::string(reinterpret_cast<char*>(buf), format_u64(x, buf)); };
  CHECK_EQ(fmt(0), std::string("0"));
  CHECK_EQ(fmt(7), std::string("7"));
  CHECK_EQ(fmt(10), std::string("10"));
  CHECK_EQ(fmt(1234567890), std::string("1234567890"));
  CHECK_EQ(fmt(UINT64_MAX), std::string("18446744073709551615"));
  CHECK_EQ(fmt(uint64_t(INT64_MAX) + 1), std::string("9223372036854775808"));
  CHECK_EQ(format_u64(UINT64_MAX, buf), 20u);
  for (uint64_t x : {1ull, 9ull, 99ull, 100ull, 4294967296ull, 999999999999999999ull}) {
    uint64_t back = 0;
    std::string s = fmt(x);
    CHECK(parse(s, &back) && back == x);
  }
}

static void test_expiry() {
  TR t(8u << 20, 1u << 20, 1);
  // Relative ttl.
  CHECK_EQ(set(t, "r", "v", 0, 100), kOk);
  t.advance(99);
  CHECK_EQ(get(t, "r"), std::optional<std::string>("v"));
  t.advance(1);
  CHECK_EQ(get(t, "r"), std::optional<std::string>());
  CHECK_EQ(stat(t, "get_expired"), 1u);
  // Negative: already expired.
  CHECK_EQ(set(t, "n", "v", 0, -1), kOk);
  CHECK_EQ(get(t, "n"), std::optional<std::string>());
  // 30 days exactly is relative, one more second is an absolute Unix time (here: in the past).
  CHECK_EQ(set(t, "m30", "v", 0, 2592000), kOk);
  CHECK_EQ(get(t, "m30"), std::optional<std::string>("v"));
  CHECK_EQ(set(t, "abs_past", "v", 0, 2592001), kOk);
  CHECK_EQ(get(t, "abs_past"), std::optional<std::string>());
  uint32_t now = t.now();
  CHECK_EQ(set(t, "abs", "v", 0, int64_t(now) + 50), kOk);
  t.advance(49);
  CHECK_EQ(get(t, "abs"), std::optional<std::string>("v"));
  t.advance(1);
  CHECK_EQ(get(t, "abs"), std::optional<std::string>());
  // 0 = never.
  CHECK_EQ(set(t, "never", "v", 0, 0), kOk);
  t.advance(100000000);
  CHECK_EQ(get(t, "never"), std::optional<std::string>("v"));
  CHECK_EQ(abs_exptime(0, 1000), 0u);
  CHECK_EQ(abs_exptime(-5, 1000), 1u);
  CHECK_EQ(abs_exptime(10, 1000), 1010u);
  CHECK_EQ(abs_exptime(2592000, 1000), 2593000u);
  CHECK_EQ(abs_exptime(2592001, 1000), 2592001u);
  CHECK_EQ(abs_exptime(int64_t(1) << 40, 1000), UINT32_MAX);
  CHECK(is_expired(5, 5));
  CHECK(!is_expired(0, 5));
  CHECK(!is_expired(6, 5));
  CHECK_STRUCTURE(t);
}

static void test_touch_gat() {
  TR t(8u << 20, 1u << 20, 1);
  CHECK_EQ(touch(t, "k", 10), kMiss);
  CHECK_EQ(set(t, "k", "v", 0, 10), kOk);
  CHECK_EQ(touch(t, "k", 100), kOk);
  t.advance(50);
  CHECK_EQ(get(t, "k"), std::optional<std::string>("v"));
  CHECK_EQ(touch(t, "k", 0), kOk);  // never
  t.advance(1000);
  CHECK_EQ(get(t, "k"), std::optional<std::string>("v"));
  CHECK_EQ(touch(t, "k", -1), kOk);  // expire now
  CHECK_EQ(get(t, "k"), std::optional<std::string>());
  // gat / gats: returns the value and sets the new exptime; counts as a touch, not a get.
  CHECK_EQ(set(t, "g", "val", 9, 10), kOk);
  uint64_t cmd_get0 = stat(t, "cmd_get");
  ItemMeta m{};
  CHECK_EQ(gat(t, "g", 1000, &m), std::optional<std::string>("val"));
  CHECK_EQ(m.flags, 9u);
  CHECK(m.cas != 0);
  CHECK_EQ(gat(t, "missing", 1000), std::optional<std::string>());
  CHECK_EQ(stat(t, "cmd_get"), cmd_get0);
  t.advance(500);
  CHECK_EQ(get(t, "g"), std::optional<std::string>("val"));
  t.advance(500);
  CHECK_EQ(get(t, "g"), std::optional<std::string>());
  CHECK_STATS(t, {
                     {"touch_hits", 4u},
                     {"touch_misses", 2u},
                     {"cmd_touch", 6u},
                 });
  CHECK_STRUCTURE(t);
}

static void test_flush_all() {
  TR t(8u << 20, 1u << 20, 1);
  for (int i = 0; i < 100; ++i) set(t, "f" + std::to_string(i), "v");
  cmd_flush_all(t.ctx, 0);
  int found = 0;
  for (int i = 0; i < 100; ++i) found += get(t, "f" + std::to_string(i)).has_value();
  CHECK_EQ(found, 0);
  CHECK_EQ(set(t, "after", "v"), kOk);
  CHECK_EQ(get(t, "after"), std::optional<std::string>("v"));
  CHECK_EQ(store(t, StoreCmd::kAdd, "f1", "new"), kOk);  // flushed items are absent for add
  CHECK_EQ(get(t, "f1"), std::optional<std::string>("new"));
  uint64_t r;
  CHECK_EQ(set(t, "cnt", "1"), kOk);
  cmd_flush_all(t.ctx, 0);
  CHECK_EQ(delta(t, "cnt", true, 1, &r), kMiss);
  CHECK_EQ(touch(t, "after", 0), kMiss);
  // Delayed: items stored before the deadline die at the deadline.
  CHECK_EQ(set(t, "d1", "v"), kOk);
  cmd_flush_all(t.ctx, 10);
  CHECK_EQ(get(t, "d1"), std::optional<std::string>("v"));
  t.advance(5);
  CHECK_EQ(set(t, "d2", "v"), kOk);
  CHECK_EQ(get(t, "d2"), std::optional<std::string>("v"));
  t.advance(5);
  CHECK_EQ(get(t, "d1"), std::optional<std::string>());
  CHECK_EQ(get(t, "d2"), std::optional<std::string>());
  t.advance(1);
  CHECK_EQ(set(t, "d3", "v"), kOk);
  CHECK_EQ(get(t, "d3"), std::optional<std::string>("v"));
  CHECK_EQ(stat(t, "cmd_flush"), 3u);
  CHECK(stat(t, "get_flushed") >= 2);
  // Flushed items are reclaimed lazily; the structure stays consistent either way.
  CHECK_STRUCTURE(t);
}

static void test_too_large() {
  TR t(8u << 20, 1u << 20, 1);
  uint32_t mx = max_value_len(*t.r, 3);
  CHECK_EQ(mx, (1u << 20) - uint32_t(sizeof(Item)) - 3);
  std::string v(mx, 'v');
  CHECK_EQ(set(t, "big", v), kOk);
  CHECK(get(t, "big") == v);
  v.push_back('!');
  CHECK_EQ(set(t, "big", v), kTooLarge);
  CHECK_EQ(set(t, "big2", v), kTooLarge);
  CHECK_EQ(get(t, "big2"), std::optional<std::string>());
  CHECK_EQ(get(t, "big")->size(), size_t(mx));  // the failed set left the old value
  CHECK_STRUCTURE(t);
  // A smaller item maximum.
  TR s(8u << 20, 4096, 1);
  uint32_t mx2 = max_value_len(*s.r, 1);
  CHECK_EQ(set(s, "a", std::string(mx2, 'a')), kOk);
  CHECK_EQ(set(s, "a", std::string(mx2 + 1, 'a')), kTooLarge);
}

static const uint32_t kMemcachedSizes[39] = {
    96,    120,   152,   192,   240,   304,    384,    480,    600,    752,    944,    1184,   1480,
    1856,  2320,  2904,  3632,  4544,  5680,   7104,   8880,   11104,  13880,  17352,  21696,  27120,
    33904, 42384, 52984, 66232, 82792, 103496, 129376, 161720, 202152, 252696, 315872, 394840, 524288};

// A 64 MiB region (64 pages of 1 MiB) gets k = 3: each gap up to 8880 cut into three geometric
// steps rounded to 8 (slabs.cc), 40 of them.
static const uint32_t kStepSizes[40] = {104,  112,  128,  144,  168,  176,  208,  224,  256,  280,
                                        328,  352,  416,  448,  520,  560,  648,  696,  808,  872,
                                        1016, 1096, 1272, 1376, 1600, 1720, 2000, 2152, 2504, 2696,
                                        3128, 3368, 3912, 4216, 4896, 5272, 6120, 6592, 7656, 8240};

// The chunk a table gives an item of n bytes (0: none).
static uint32_t chunk_for(const Header* h, uint64_t n) {
  uint32_t c = slabs_clsid(h, n);
  return c ? h->classes[c].size : 0;
}

static void test_slab_classes() {
  TR t(64u << 20, 1u << 20, 1);
  Header* h = t.h();
  // memcached 1.6 -n 48 -f 1.25 -I 1m: 39 classes (as `memcached -vv` prints them), the 40 steps
  // up to 8880 bytes, then one of 1 MiB for the items memcached would chain.
  CHECK_EQ(h->n_classes, 80u);
  std::vector<uint32_t> want(kMemcachedSizes, kMemcachedSizes + 39);
  want.insert(want.end(), kStepSizes, kStepSizes + 40);
  std::sort(want.begin(), want.end());
  int bad = 0;
  for (uint32_t i = 1; i <= 79; ++i) {
    if (h->classes[i].size != want[i - 1] || h->classes[i].perslab != (1u << 20) / want[i - 1]) {
      std::fprintf(stderr, "class %u: size %u perslab %u, want %u\n", i, h->classes[i].size, h->classes[i].perslab,
                   want[i - 1]);
      ++bad;
    }
  }
  CHECK_EQ(bad, 0);
  CHECK_EQ(h->classes[1].size, 96u);
  CHECK_EQ(h->classes[2].size, 104u);
  CHECK_EQ(h->classes[3].size, 112u);
  CHECK_EQ(h->classes[4].size, 120u);
  CHECK_EQ(h->classes[1].perslab, 10922u);
  CHECK_EQ(h->classes[61].size, 8880u);  // the last step: 8240, then memcached's steps alone
  CHECK_EQ(h->classes[62].size, 11104u);
  CHECK_EQ(h->classes[79].size, 524288u);
  CHECK_EQ(h->classes[79].perslab, 2u);
  CHECK_EQ(h->classes[80].size, 1u << 20);
  CHECK_EQ(h->classes[80].perslab, 1u);
  CHECK_EQ(slabs_clsid(h, 1), 1u);
  CHECK_EQ(slabs_clsid(h, 96), 1u);
  CHECK_EQ(slabs_clsid(h, 97), 2u);
  CHECK_EQ(chunk_for(h, 153), 168u);    // a 13-byte key and a 100-byte value: memcached's 192
  CHECK_EQ(chunk_for(h, 1077), 1096u);  // a 13-byte key and a 1 KiB value: memcached's 1184
  CHECK_EQ(slabs_clsid(h, 524288), 79u);
  CHECK_EQ(slabs_clsid(h, 524289), 80u);
  CHECK_EQ(slabs_clsid(h, 1u << 20), 80u);
  CHECK_EQ(slabs_clsid(h, (1u << 20) + 1), 0u);
  CHECK(slabs_validate(h));
  // The binary search agrees with a scan at every size.
  for (uint64_t n = 1; n <= (1u << 20) + 8; n += (n < 20000 ? 1 : 97)) {
    uint32_t scan = 0;
    for (uint32_t i = 1; i <= h->n_classes && !scan; ++i)
      if (n <= h->classes[i].size) scan = i;
    if (slabs_clsid(h, n) != scan) {
      std::fprintf(stderr, "clsid(%llu) = %u, scan %u\n", (unsigned long long)n, slabs_clsid(h, n), scan);
      CHECK(false);
      break;
    }
  }
  // No item takes a larger chunk than memcached's table gives the same key and value (its item
  // is 19 bytes longer: 8 more of header, 8 of CAS, a NUL after the key and \r\n after the value),
  // at every region size that changes the table.
  for (uint32_t mib : {16u, 41u, 61u, 64u, 80u, 98u, 256u}) {
    TR z(uint64_t(mib) << 20, 1u << 20, 1);
    CHECK(slabs_validate(z.h()));
    for (uint64_t n = 41; n + 19 <= 524288; n += 7) {
      uint32_t ours = chunk_for(z.h(), n);
      const uint32_t* mc = std::lower_bound(kMemcachedSizes, kMemcachedSizes + 39, uint32_t(n + 19));
      CHECK(ours <= *mc);
    }
  }
  // Items land in the class the arithmetic picks: 40-byte header + key + value.
  CHECK_EQ(set(t, "k", std::string(96 - 40 - 1, 'x')), kOk);
  CHECK_EQ(h->classes[1].curr_items, 1u);
  CHECK_EQ(set(t, "j", std::string(96 - 40, 'x')), kOk);
  CHECK_EQ(h->classes[2].curr_items, 1u);
  // With itemSizeMax 512 KiB the largest class is memcached's 524288 and nothing more. 8 pages
  // are fewer than the 21 dense classes up to 8880 bytes: exactly memcached's 39 classes.
  TR s(8u << 20, 512u << 10, 1);
  CHECK_EQ(s.h()->n_classes, 39u);
  for (uint32_t i = 1; i <= 39; ++i) CHECK_EQ(s.h()->classes[i].size, kMemcachedSizes[i - 1]);
  // The steps per gap follow the pages: one page for each class up to 8880 bytes (slabs.cc).
  const struct {
    uint32_t mib, n;
  } kTables[] = {{40, 40}, {41, 60}, {60, 60}, {61, 80}, {79, 80}, {80, 99}, {97, 99}, {98, 117}, {1024, 117}};
  for (auto [mib, n] : kTables) {
    TR z(uint64_t(mib) << 20, 1u << 20, 1);
    if (z.h()->n_classes != n) std::fprintf(stderr, "%u MiB: %u classes, want %u\n", mib, z.h()->n_classes, n);
    CHECK_EQ(z.h()->n_classes, n);
  }
  // A small itemSizeMax caps the classes (memcached: slab_chunk_size_max = min(page/2, -I)).
  TR u(8u << 20, 4096, 1);
  uint32_t n = u.h()->n_classes;
  CHECK_EQ(u.h()->classes[n].size, 4096u);
  CHECK(n >= 2 && u.h()->classes[n - 1].size < 4096u);
  for (uint32_t i = 1; i + 1 <= n; ++i) CHECK(u.h()->classes[i].size < u.h()->classes[i + 1].size);
  // A larger itemSizeMax: pages grow to hold one item, and the top class holds the maximum.
  TR w(16u << 20, 4u << 20, 1);
  CHECK_EQ(w.h()->page_size, 4u << 20);
  CHECK_EQ(w.h()->classes[w.h()->n_classes].size, 4u << 20);
  std::string big(max_value_len(*w.r, 1), 'b');
  CHECK_EQ(set(w, "b", big), kOk);
  CHECK(get(w, "b") == big);
  CHECK_STRUCTURE(w);
}

static void test_eviction() {
  TR t(2u << 20, 1u << 20, 1);
  const int sets = 60000;
  int st_bad = 0;
  for (int i = 0; i < sets; ++i) {
    char k[32];
    int n = std::snprintf(k, sizeof k, "ev:%d", i);
    if (set(t, std::string_view(k, n), "0123456789abcdef") != kOk) ++st_bad;
  }
  CHECK_EQ(st_bad, 0);
  uint64_t curr = stat(t, "curr_items"), ev = stat(t, "evictions");
  CHECK(ev > 0);
  CHECK_EQ(curr + ev, uint64_t(sets));
  CHECK_STATS(t, {
                     {"total_items", uint64_t(sets)},
                     {"cmd_set", uint64_t(sets)},
                     {"evicted_unfetched", ev},
                     {"outofmemory", 0u},
                 });
  // The newest items survive, the oldest are gone: LRU order.
  CHECK_EQ(get(t, "ev:" + std::to_string(sets - 1)), std::optional<std::string>("0123456789abcdef"));
  CHECK_EQ(get(t, "ev:0"), std::optional<std::string>());
  int present = 0;
  for (int i = 0; i < sets; ++i) present += get(t, "ev:" + std::to_string(i)).has_value();
  CHECK_EQ(uint64_t(present), curr);
  // The survivors are a suffix of the insertion order.
  int first = sets;
  for (int i = sets - 1; i >= 0 && get(t, "ev:" + std::to_string(i)); --i) first = i;
  CHECK_EQ(uint64_t(sets - first), curr);
  CHECK_STRUCTURE(t);
  // Fetched items are bumped at most once per kLruBumpInterval: after the interval, a read
  // protects an item from the next round of evictions.
  t.advance(kLruBumpInterval + 1);
  std::string hot = "ev:" + std::to_string(first);
  CHECK(get(t, hot).has_value());
  for (int i = 0; i < 1000; ++i) set(t, "more:" + std::to_string(i), "0123456789abcdef");
  CHECK(get(t, hot).has_value());
  CHECK_EQ(get(t, "ev:" + std::to_string(first + 1)), std::optional<std::string>());
  CHECK_EQ(stat(t, "curr_items") + stat(t, "evictions"), uint64_t(sets + 1000));
  CHECK_STRUCTURE(t);
}

static void test_no_evict() {
  TR t(2u << 20, 1u << 20, 0);
  int stored = 0;
  Status last = kOk;
  for (int i = 0; i < 100000; ++i) {
    last = set(t, "m:" + std::to_string(i), "0123456789abcdef", 0, i < 1000 ? 100 : 0);
    if (last != kOk) break;
    ++stored;
  }
  CHECK_EQ(last, kNoMemory);
  CHECK(stored > 1000);
  CHECK_EQ(stat(t, "evictions"), 0u);
  CHECK(stat(t, "outofmemory") >= 1);
  CHECK_EQ(stat(t, "curr_items"), uint64_t(stored));
  CHECK_EQ(get(t, "m:0"), std::optional<std::string>("0123456789abcdef"));
  // Still full: a new key is refused, nothing is evicted, the old items stay.
  CHECK_EQ(set(t, "another", "x"), kNoMemory);
  CHECK_EQ(get(t, "m:5"), std::optional<std::string>("0123456789abcdef"));
  // Other commands that need memory report it too.
  CHECK_EQ(set(t, "m:1500", "1"), kNoMemory);  // needs a chunk before the old one is freed
  // Once the first 1000 expire, -M still reclaims expired items (as memcached does).
  t.advance(101);
  int ok = 0;
  for (int i = 0; i < 500; ++i) ok += set(t, "n:" + std::to_string(i), "0123456789abcdef") == kOk;
  CHECK_EQ(ok, 500);
  CHECK_STATS(t, {
                     {"evictions", 0u}, {"reclaimed", 500u}, {"expired_unfetched", 498u},  // m:0 and m:5 were read
                 });
  CHECK_STRUCTURE(t);
}

static uint64_t item_stat(TR& t, const std::string& name) {
  for (auto& [k, v] : stats_items(*t.r, t.now()))
    if (k == name) return std::strtoull(v.c_str(), nullptr, 10);
  std::fprintf(stderr, "no items stat %s\n", name.c_str());
  ++g_fail;
  return ~0ull;
}

// Issue 20's case: expired items at the tail are reused before the class takes a second page.
static void test_reclaim_before_page() {
  TR t(64u << 20, 1u << 20, 1);
  std::string v(66560 - 8, 'x');  // with an 8-byte key: 66,560 bytes of key and value
  for (int i = 0; i < 10; ++i) CHECK_EQ(set(t, "a:" + std::to_string(i) + "_____", v, 0, 2), kOk);
  uint64_t malloced = stat(t, "total_malloced");
  CHECK_EQ(malloced, uint64_t(1) << 20);
  (void)get(t, "a:3_____");  // fetched: not counted as expired_unfetched
  t.advance(4);
  for (int i = 0; i < 10; ++i) CHECK_EQ(set(t, "b:" + std::to_string(i) + "_____", v), kOk);
  CHECK_STATS(t, {
                     {"total_malloced", malloced},
                     {"curr_items", 10u},
                     {"reclaimed", 10u},
                     {"expired_unfetched", 9u},
                     {"evictions", 0u},
                 });
  uint32_t cls = slabs_clsid(t.h(), sizeof(Item) + v.size() + 8);
  CHECK_EQ(item_stat(t, "items:" + std::to_string(cls) + ":reclaimed"), 10u);
  CHECK_EQ(item_stat(t, "items:" + std::to_string(cls) + ":number"), 10u);
  CHECK_STRUCTURE(t);
}

// The crawler frees expired (and flushed) items with no allocation asking for memory, skips live
// ones, continues across calls, and leaves the structure consistent.
static void test_crawler() {
  TR t(8u << 20, 1u << 20, 1);
  for (int i = 0; i < 3000; ++i) CHECK_EQ(set(t, "c:" + std::to_string(i), "0123456789", 0, i % 3 == 0 ? 0 : 5), kOk);
  for (int i = 0; i < 200; ++i) CHECK_EQ(set(t, "big:" + std::to_string(i), std::string(3000, 'y'), 0, 5), kOk);
  CrawlState st;
  CrawlResult r0 = crawl_expired(t.ctx, st, 100000);
  CHECK_EQ(r0.reclaimed, 0u);  // nothing is dead yet
  CHECK(r0.checked >= 3200u);
  t.advance(6);
  // Small budgets: the walk resumes where it stopped.
  uint64_t freed = 0;
  for (int k = 0; k < 1000 && freed < 2200; ++k) freed += crawl_expired(t.ctx, st, 97).reclaimed;
  CHECK_EQ(freed, 2200u);
  CHECK_STATS(t, {
                     {"curr_items", 1000u},
                     {"crawler_reclaimed", 2200u},
                     {"reclaimed", 0u},
                     {"expired_unfetched", 2200u},
                 });
  CHECK_EQ(get(t, "c:3"), std::optional<std::string>("0123456789"));
  CHECK_EQ(get(t, "c:4"), std::optional<std::string>());
  CHECK_STRUCTURE(t);
  // Flushed items go too; a class-only crawl from the tail.
  cmd_flush_all(t.ctx, 0);
  uint32_t cls = slabs_clsid(t.h(), sizeof(Item) + 4 + 10);
  CrawlResult r1 = crawl_class(t.ctx, cls, 100000);
  CHECK(r1.reclaimed >= 990u);
  crawl_expired(t.ctx, st, 100000);
  CHECK_EQ(stat(t, "curr_items"), 0u);
  CHECK_EQ(crawl_class(t.ctx, 0, 10).checked, 0u);  // no such class: nothing
  CHECK_EQ(crawl_class(t.ctx, 63, 10).checked, 0u);
  CHECK_STRUCTURE(t);
}

static void test_growth() {
  TR t(64u << 20, 1u << 20, 1, "grow");
  uint32_t p0 = ts_power(t.h()->table_state.load());
  CHECK_EQ(p0, kMinHashPower);
  const int n = 300000;
  char k[32];
  auto key = [&](int i) { return std::string_view(k, size_t(std::snprintf(k, sizeof k, "key:%07d", i))); };
  char v[32];
  auto val = [&](int i) { return std::string_view(v, size_t(std::snprintf(v, sizeof v, "v%d", i * 7))); };
  int set_bad = 0, miss_during = 0, checks_during_expand = 0, wrong_bucket_checks = 0;
  for (int i = 0; i < n; ++i) {
    if (set(t, key(i), val(i)) != kOk) ++set_bad;
    bool expanding = ts_expanding(t.h()->table_state.load());
    // Full checks at fixed points and while a table is half moved.
    if ((i + 1) % 50000 == 0 || (expanding && (i % 20011) == 0)) {
      checks_during_expand += expanding;
      for (int j = 0; j <= i; ++j) {
        std::string kk(key(j));
        auto got = get(t, kk);
        if (!got || *got != val(j)) ++miss_during;
      }
      std::string why;
      if (!check_structure(*t.r, &why)) {
        ++wrong_bucket_checks;
        std::fprintf(stderr, "structure at %d: %s\n", i, why.c_str());
      }
    }
  }
  CHECK_EQ(set_bad, 0);
  CHECK_EQ(miss_during, 0);
  CHECK_EQ(wrong_bucket_checks, 0);
  CHECK(checks_during_expand > 0);
  uint64_t s = t.h()->table_state.load();
  CHECK(ts_power(s) >= 18);
  std::fprintf(stderr, "  growth: power %u expanding %d pos %u after %d items\n", ts_power(s), int(ts_expanding(s)),
               ts_pos(s), n);
  CHECK_STATS(t, {
                     {"curr_items", uint64_t(n)},
                     {"evictions", 0u},
                     {"hash_power_level", uint64_t(ts_power(s))},
                 });
  // Finish any growth in progress by hand, then everything is still there.
  for (int i = 0; i < 1000000 && ts_expanding(t.h()->table_state.load()); ++i) assoc_migrate(*t.r, 1024);
  s = t.h()->table_state.load();
  CHECK(!ts_expanding(s));
  CHECK(ts_power(s) >= 19);
  int miss_after = 0;
  for (int j = 0; j < n; ++j) {
    std::string kk(key(j));
    auto got = get(t, kk);
    if (!got || *got != val(j)) ++miss_after;
  }
  CHECK_EQ(miss_after, 0);
  // Deleting half and re-adding them keeps everything reachable.
  int del_bad = 0;
  for (int j = 0; j < n; j += 2) del_bad += del(t, key(j)) != kOk;
  CHECK_EQ(del_bad, 0);
  for (int j = 0; j < n; j += 2) del_bad += set(t, key(j), val(j)) != kOk;
  CHECK_EQ(del_bad, 0);
  miss_after = 0;
  for (int j = 0; j < n; ++j) {
    std::string kk(key(j));
    auto got = get(t, kk);
    if (!got || *got != val(j)) ++miss_after;
  }
  CHECK_EQ(miss_after, 0);
  CHECK_STRUCTURE(t);
  // Growth never goes past the region's maximum.
  CHECK(ts_power(t.h()->table_state.load()) <= t.r->geo().max_hash_power);
}

// cmd_peek and crawl_keys (crawl.h): a peek counts nothing; a crawl that the table's growth
// interrupts still reports every key that was live throughout, whole and at least once.
static void test_crawl() {
  TR t(64u << 20, 1u << 20, 1, "crawl");
  char k[32];
  auto key = [&](int i) { return std::string(k, size_t(std::snprintf(k, sizeof k, "key:%07d", i))); };
  const int n = 40000;
  for (int i = 0; i < n; ++i) CHECK_EQ(set(t, key(i), "v"), kOk);
  CHECK_EQ(set(t, "gone", "v", 0, -1), kOk);
  uint64_t gets = stat(t, "cmd_get");
  CHECK_EQ(cmd_peek(t.ctx, B("key:0000007"), 11), kOk);
  CHECK_EQ(cmd_peek(t.ctx, B("gone"), 4), kMiss);
  CHECK_EQ(cmd_peek(t.ctx, B("nope"), 4), kMiss);
  CHECK_EQ(cmd_peek(t.ctx, B("a b"), 3), kBadKey);
  CHECK_EQ(stat(t, "cmd_get"), gets);
  std::vector<uint8_t> out;
  std::vector<int> seen(n, 0);
  int torn = 0, batches = 0;
  auto take = [&]() {
    for (size_t i = 0; i < out.size();) {
      uint32_t len = out[i];
      std::string s(reinterpret_cast<char*>(&out[i + 1]), len);
      int idx = -1;
      if (len == 11 && std::sscanf(s.c_str(), "key:%d", &idx) == 1 && idx >= 0 && idx < n)
        ++seen[idx];
      else if (s != "more" && s.rfind("more:", 0) != 0)
        ++torn;
      i += 1 + len;
    }
    out.clear();
  };
  uint64_t cursor = 0;
  // Half the crawl, then enough new keys to grow the table (and move part of it), then the rest.
  for (int b = 0; b < 4; ++b, ++batches) {
    CHECK(!crawl_keys(t.ctx, &cursor, &out, 2048));
    take();
  }
  for (int i = 0; i < 30000; ++i) CHECK_EQ(set(t, "more:" + std::to_string(i), "v"), kOk);
  CHECK(ts_power(t.h()->table_state.load()) > kMinHashPower || ts_expanding(t.h()->table_state.load()));
  while (!crawl_keys(t.ctx, &cursor, &out, 2048)) {
    take();
    ++batches;
  }
  take();
  int missing = 0;
  for (int i = 0; i < n; ++i) missing += seen[i] == 0;
  CHECK_EQ(missing, 0);
  CHECK_EQ(torn, 0);
  CHECK(batches > 4);
}

static void test_reopen() {
  std::string path;
  uint64_t cas_a = 0;
  {
    TR t(8u << 20, 1u << 20, 0, "reopen");
    t.keep = true;
    path = t.path;
    for (int i = 0; i < 3000; ++i) set(t, "w:" + std::to_string(i), "value" + std::to_string(i), uint32_t(i));
    ItemMeta m{};
    get(t, "w:1", &m);
    cas_a = m.cas;
    CHECK_EQ(set(t, "ttl", "v", 0, 100), kOk);
    t.advance(30);
  }
  {
    RegionOptions o;  // all zero / -1: take the file's settings
    std::string err;
    bool created = true;
    Region* r = Region::open(path, o, &err, &created);
    CHECK(r != nullptr);
    if (!r) {
      std::fprintf(stderr, "reopen: %s\n", err.c_str());
      return;
    }
    CHECK(!created);
    CHECK_EQ(r->geo().mem_limit, uint64_t(8u << 20));
    CHECK_EQ(r->h()->evict, 0u);
    Ctx ctx;
    stats_attach(*r, &ctx);
    int bad = 0;
    for (int i = 0; i < 3000; ++i) {
      std::string k = "w:" + std::to_string(i), want = "value" + std::to_string(i);
      ItemMeta m{};
      Status s = cmd_get(ctx, B(k), uint32_t(k.size()), false, 0, g_buf.data(), uint32_t(g_buf.size()), &m);
      if (s != kOk || std::string(reinterpret_cast<char*>(g_buf.data()), m.vlen) != want || m.flags != uint32_t(i))
        ++bad;
      if (i == 1) CHECK_EQ(m.cas, cas_a);
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(stats_curr_items(*r), 3001u);
    // The store's clock offset lives in the region: 30 s have passed for the ttl item.
    r->h()->clock_offset.fetch_add(70);
    ItemMeta m{};
    CHECK_EQ(cmd_get(ctx, B("ttl"), 3, false, 0, g_buf.data(), uint32_t(g_buf.size()), &m), kMiss);
    // New CAS values keep growing past the old ones.
    uint64_t c = 0;
    CHECK_EQ(cmd_store(ctx, StoreCmd::kSet, B("w:1"), 3, B("x"), 1, 0, 0, 0, &c), kOk);
    CHECK(c > cas_a);
    std::string why;
    CHECK(check_structure(*r, &why));
    // A second mapping of the same file in the same process sees the same store.
    Region* r2 = Region::open(path, o, &err, &created);
    CHECK(r2 != nullptr);
    if (r2) {
      Ctx c2;
      stats_attach(*r2, &c2);
      CHECK_EQ(cmd_get(c2, B("w:1"), 3, false, 0, g_buf.data(), uint32_t(g_buf.size()), &m), kOk);
      CHECK_EQ(m.cas, c);
      CHECK_EQ(cmd_store(c2, StoreCmd::kSet, B("via2"), 4, B("y"), 1, 0, 0, 0, nullptr), kOk);
      CHECK_EQ(cmd_get(ctx, B("via2"), 4, false, 0, g_buf.data(), uint32_t(g_buf.size()), &m), kOk);
      CHECK(c2.slot != ctx.slot);
      stats_detach(&c2);
      delete r2;
    }
    stats_detach(&ctx);
    delete r;
  }
  // Options that contradict the file are refused with a reason.
  auto open_err = [&](RegionOptions o) {
    std::string err;
    bool created = false;
    Region* r = Region::open(path, o, &err, &created);
    delete r;
    return r ? std::string() : err;
  };
  RegionOptions o;
  o.mem_limit = 16u << 20;
  CHECK(open_err(o).find("size") != std::string::npos);
  o = RegionOptions();
  o.item_size_max = 4096;
  CHECK(open_err(o).find("itemSizeMax") != std::string::npos);
  o = RegionOptions();
  o.evict = 1;
  CHECK(open_err(o).find("evict") != std::string::npos);
  // reset re-creates it empty.
  o = RegionOptions();
  o.reset = true;
  o.mem_limit = 4u << 20;
  {
    std::string err;
    bool created = false;
    Region* r = Region::open(path, o, &err, &created);
    CHECK(r && created);
    if (r) {
      CHECK_EQ(stats_curr_items(*r), 0u);
      delete r;
    }
  }
  unlink(path.c_str());
}

static std::string try_open(const std::string& path, RegionOptions o = RegionOptions()) {
  std::string err;
  bool created = false;
  Region* r = Region::open(path, o, &err, &created);
  if (r) {
    delete r;
    return "(opened)";
  }
  return err.empty() ? "(empty error)" : err;
}

static void write_file(const std::string& path, const std::vector<uint8_t>& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return;
  if (::write(fd, data.data(), data.size()) != ssize_t(data.size())) std::perror("write");
  ::close(fd);
}

static std::vector<uint8_t> read_file(const std::string& path, size_t n) {
  std::vector<uint8_t> d(n);
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd >= 0) {
    if (::read(fd, d.data(), n) != ssize_t(n)) d.clear();
    ::close(fd);
  }
  return d;
}

// The region file rules (region_file.h): each hostile file refused with its code, untouched.
static void test_file_rules() {
  auto code_of = [](const std::string& path, RegionOptions o) -> std::string {
    std::string err;
    bool created = false;
    const char* code = nullptr;
    Region* r = Region::open(path, o, &err, &created, nullptr, &code);
    if (r) {
      delete r;
      return "(opened)";
    }
    if (err.find(path) == std::string::npos && err.find("directory") == std::string::npos)
      std::fprintf(stderr, "  message does not name the path: %s\n", err.c_str());
    return code ? code : "(no code)";
  };
  auto snap = [](const std::string& p) {
    struct stat st {};
    lstat(p.c_str(), &st);
    std::vector<uint8_t> d = read_file(p, size_t(st.st_size));
    return std::to_string(st.st_mode) + ":" + std::to_string(st.st_ino) + ":" + std::string(d.begin(), d.end());
  };
  RegionOptions plain, reset, bad;
  plain.mem_limit = reset.mem_limit = bad.mem_limit = 4u << 20;
  plain.item_size_max = reset.item_size_max = bad.item_size_max = 1024;
  reset.reset = true;
  bad.reset_if_bad = true;
  RegionOptions ro;
  ro.readonly = true;
  // A symlink at the path, to a file of ours: never followed, with or without reset.
  std::string victim = temp_path("victim");
  write_file(victim, std::vector<uint8_t>(5000, 's'));
  std::string lnk = temp_path("link");
  CHECK(symlink(victim.c_str(), lnk.c_str()) == 0);
  std::string before = snap(victim);
  for (const RegionOptions& o : {plain, reset, bad, ro}) CHECK_EQ(code_of(lnk, o), std::string("ERR_REGION_SYMLINK"));
  CHECK(snap(victim) == before);
  // A file without our magic: reset and reset_if_bad refuse to write it.
  CHECK_EQ(code_of(victim, reset), std::string("ERR_REGION_FOREIGN"));
  CHECK_EQ(code_of(victim, bad), std::string("ERR_REGION_FOREIGN"));
  CHECK_EQ(code_of(victim, plain), std::string("ERR_BAD_REGION"));
  CHECK(snap(victim) == before);
  // A loose mode: refused unless mode allows it.
  chmod(victim.c_str(), 0666);
  before = snap(victim);
  CHECK_EQ(code_of(victim, reset), std::string("ERR_REGION_MODE"));
  CHECK(snap(victim) == before);
  chmod(victim.c_str(), 0600);
  // A hard link.
  std::string hl = temp_path("hardlink");
  CHECK(::link(victim.c_str(), hl.c_str()) == 0);
  CHECK_EQ(code_of(hl, reset), std::string("ERR_REGION_LINKS"));
  unlink(hl.c_str());
  // A FIFO and a directory.
  std::string fifo = temp_path("fifo");
  CHECK(mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_EQ(code_of(fifo, plain), std::string("ERR_REGION_NOT_FILE"));
  CHECK_EQ(code_of(fifo, ro), std::string("ERR_REGION_NOT_FILE"));
  std::string d = temp_path("dir");
  mkdir(d.c_str(), 0700);
  CHECK_EQ(code_of(d, reset), std::string("ERR_REGION_NOT_FILE"));
  // A world-writable directory without the sticky bit: nothing created in it.
  chmod(d.c_str(), 0777);
  std::string in = d + "/r";
  CHECK_EQ(code_of(in, plain), std::string("ERR_REGION_DIR_UNSAFE"));
  CHECK(access(in.c_str(), F_OK) != 0);
  chmod(d.c_str(), 01777);
  CHECK_EQ(code_of(in, plain), std::string("(opened)"));
  struct stat st {};
  CHECK(stat(in.c_str(), &st) == 0 && (st.st_mode & 0777) == 0600);
  // Reset of our own region: a fresh inode, never rewritten in place.
  ino_t ino = st.st_ino;
  CHECK_EQ(code_of(in, reset), std::string("(opened)"));
  CHECK(stat(in.c_str(), &st) == 0 && st.st_ino != ino);
  unlink(in.c_str());
  rmdir(d.c_str());
  unlink(fifo.c_str());
  unlink(lnk.c_str());
}

static void test_bad_files() {
  // Garbage of the size of a region.
  {
    std::string p = temp_path("garbage");
    std::vector<uint8_t> junk(8u << 20);
    uint64_t x = 88172645463325252ull;
    for (auto& b : junk) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      b = uint8_t(x);
    }
    write_file(p, junk);
    std::string e = try_open(p);
    std::fprintf(stderr, "  garbage: %s\n", e.c_str());
    CHECK(e.find("not a shmcached region") != std::string::npos);
    // Text file.
    write_file(p, std::vector<uint8_t>(100000, 'a'));
    CHECK(try_open(p).find("not a shmcached region") != std::string::npos);
    // Shorter than a header.
    write_file(p, std::vector<uint8_t>(100, 0));
    e = try_open(p);
    std::fprintf(stderr, "  short: %s\n", e.c_str());
    CHECK(e.find("too short") != std::string::npos);
    // One byte.
    write_file(p, std::vector<uint8_t>(1, 0x21));
    CHECK(try_open(p).find("too short") != std::string::npos);
    // The file is left alone.
    struct stat st;
    CHECK(stat(p.c_str(), &st) == 0 && st.st_size == 1);
    // A directory.
    std::string d = temp_path("dir");
    mkdir(d.c_str(), 0700);
    e = try_open(d);
    CHECK(e != "(opened)");
    rmdir(d.c_str());
    // A path in a directory that does not exist.
    e = try_open(g_dir + "/no-such-dir-" + std::to_string(getpid()) + "/x");
    CHECK(e.find("cannot open") != std::string::npos);
  }
  // Damaged copies of a real region.
  std::string good;
  {
    TR t(4u << 20, 1u << 20, 1, "good");
    t.keep = true;
    good = t.path;
    set(t, "k", "v");
  }
  const size_t hdr = sizeof(Header);
  std::vector<uint8_t> head = read_file(good, hdr);
  CHECK_EQ(head.size(), hdr);
  struct stat st;
  ::stat(good.c_str(), &st);
  uint64_t size = uint64_t(st.st_size);
  auto variant = [&](const char* tag, const std::function<void(Header*)>& mutate, uint64_t new_size) {
    std::string p = temp_path(tag);
    std::vector<uint8_t> h2 = head;
    mutate(reinterpret_cast<Header*>(h2.data()));
    write_file(p, h2);
    if (truncate(p.c_str(), off_t(new_size)) != 0) std::perror("truncate");
    std::string e = try_open(p);
    std::fprintf(stderr, "  %s: %s\n", tag, e.c_str());
    unlink(p.c_str());
    return e;
  };
  CHECK_EQ(variant(
               "intact", [](Header*) {}, size),
           std::string("(opened)"));
  CHECK(variant(
            "truncated", [](Header*) {}, size / 2)
            .find("truncated") != std::string::npos);
  CHECK(variant(
            "truncated-hdr", [](Header*) {}, hdr + 1)
            .find("truncated") != std::string::npos);
  CHECK(variant(
            "longer", [](Header*) {}, size + 4096) != "(opened)");
  CHECK(variant(
            "version", [](Header* h) { h->version = kLayoutVersion + 1; }, size)
            .find("layout version") != std::string::npos);
  CHECK(variant(
            "version0", [](Header* h) { h->version = 0; }, size)
            .find("layout version") != std::string::npos);
  CHECK(variant(
            "abi", [](Header* h) { h->abi ^= 1; }, size)
            .find("ABI") != std::string::npos);
  CHECK(variant(
            "magic", [](Header* h) { h->magic ^= 1ull << 40; }, size)
            .find("bad magic") != std::string::npos);
  CHECK(variant(
            "memlimit", [](Header* h) { h->mem_limit *= 2; }, size) != "(opened)");
  CHECK(variant(
            "memlimit0", [](Header* h) { h->mem_limit = 0; }, size) != "(opened)");
  CHECK(variant(
            "imax", [](Header* h) { h->item_size_max = 1; }, size) != "(opened)");
  CHECK(variant(
            "imax-huge", [](Header* h) { h->item_size_max = 0xFFFFFFFFu; }, size) != "(opened)");
  CHECK(variant(
            "arena", [](Header* h) { h->arena_off += 8; }, size) != "(opened)");
  CHECK(variant(
            "pages_off", [](Header* h) { h->pages_off = 0; }, size) != "(opened)");
  CHECK(variant(
            "file_size", [](Header* h) { h->file_size = ~0ull; }, size) != "(opened)");
  CHECK(variant(
            "power", [](Header* h) { h->table_state.store(ts_make(40, false, 0)); }, size)
            .find("hash table") != std::string::npos);
  CHECK(variant(
            "power-low", [](Header* h) { h->table_state.store(ts_make(3, false, 0)); }, size) != "(opened)");
  CHECK(variant(
            "expanding-pos", [](Header* h) { h->table_state.store(ts_make(16, true, 1u << 20)); }, size) != "(opened)");
  CHECK(variant(
            "n_classes", [](Header* h) { h->n_classes = 200; }, size)
            .find("slab") != std::string::npos);
  CHECK(variant(
            "n_classes0", [](Header* h) { h->n_classes = 0; }, size)
            .find("slab") != std::string::npos);
  CHECK(variant(
            "class-size", [](Header* h) { h->classes[3].size = 7; }, size)
            .find("slab") != std::string::npos);
  CHECK(variant(
            "class-perslab", [](Header* h) { h->classes[3].perslab = 1u << 30; }, size)
            .find("slab") != std::string::npos);
  CHECK(variant(
            "pages_used", [](Header* h) { h->pages_used = 1000; }, size)
            .find("page") != std::string::npos);
  // Random single-byte damage to the identity/geometry part of the header: never a crash, and
  // anything that opens still works.
  in_child("random header damage", [&] {
    uint64_t x = 0x9E3779B97F4A7C15ull;
    int opened = 0;
    for (int round = 0; round < 300; ++round) {
      std::string p = temp_path("fuzz");
      std::vector<uint8_t> h2 = head;
      for (int k = 0; k < 1 + round % 4; ++k) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t at = (x >> 8) % offsetof(Header, pages_lock);
        h2[at] ^= uint8_t(1u << (x & 7));
      }
      write_file(p, h2);
      if (truncate(p.c_str(), off_t(size)) != 0) std::perror("truncate");
      std::string err;
      bool created = false;
      Region* r = Region::open(p, RegionOptions(), &err, &created);
      if (r) {
        ++opened;
        Ctx c;
        stats_attach(*r, &c);
        ItemMeta m{};
        cmd_store(c, StoreCmd::kSet, B("zz"), 2, B("vv"), 2, 0, 0, 0, nullptr);
        cmd_get(c, B("zz"), 2, false, 0, g_buf.data(), uint32_t(g_buf.size()), &m);
        stats_detach(&c);
        delete r;
      } else {
        CHECK(!err.empty());
      }
      unlink(p.c_str());
    }
    std::fprintf(stderr, "  header fuzz: %d of 300 damaged headers still opened\n", opened);
  });
  unlink(good.c_str());
}

// ---- bounds safety: corrupt offsets on purpose -------------------------------------------------

static uint32_t* bucket_word(Region& r, std::string_view key) {
  uint64_t hv = hash_key(B(key), uint32_t(key.size()));
  uint64_t s = r.h()->table_state.load();
  uint32_t p = ts_power(s);
  uint64_t ob = hv & ((uint64_t(1) << p) - 1);
  if (ts_expanding(s) && ob < ts_pos(s)) return &r.table(p + 1)[hv & ((uint64_t(2) << p) - 1)];
  return &r.table(p)[ob];
}

static Item* find_item(Region& r, std::string_view key) {
  for (uint32_t off = *bucket_word(r, key), n = 0; off && n < 1000; ++n) {
    Item* it = r.item(off);
    if (!it) return nullptr;
    if (it->nkey == key.size() && std::memcmp(it->key(), key.data(), key.size()) == 0) return it;
    off = it->h_next;
  }
  return nullptr;
}

// Maps an inaccessible guard area right after the region, so a write past the mapping faults
// instead of landing silently in whatever mapping happens to follow it.
static void guard_after(TR& t) {
  uint8_t* end = t.r->base() + t.r->geo().file_size;
  void* g = mmap(end, 1u << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (g != end) {
    if (g != MAP_FAILED) munmap(g, 1u << 20);
    std::fprintf(stderr, "  (note: no guard page after the region: the address is taken)\n");
  }
}

static TR* bounds_region(uint64_t mem) {
  // Leave a hole of exactly the region's size right below a PROT_NONE guard, so that the
  // region's own mmap (the kernel picks the highest hole that fits) lands just above nothing
  // but the guard.
  Geometry g{};
  std::string err;
  uint8_t* guard = nullptr;
  if (compute_geometry(mem, 1u << 20, &g, &err)) {
    void* a = mmap(nullptr, g.file_size + (1u << 20), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (a != MAP_FAILED) {
      munmap(a, g.file_size);
      guard = static_cast<uint8_t*>(a) + g.file_size;
    }
  }
  auto* t = new TR(mem, 1u << 20, 1, "bounds");
  if (t->r->base() + t->r->geo().file_size != guard) guard_after(*t);
  return t;
}

// Runs every command on a few keys (some of them in corrupted places); a crash fails the test.
static void exercise(TR& t, const std::vector<std::string>& keys) {
  uint64_t r;
  for (int round = 0; round < 3; ++round) {
    for (auto& k : keys) {
      get(t, k);
      gat(t, k, 100);
      set(t, k, "value-" + k);
      store(t, StoreCmd::kAppend, k, "+");
      store(t, StoreCmd::kPrepend, k, "-");
      store(t, StoreCmd::kAdd, k, "a");
      store(t, StoreCmd::kReplace, k, "12");
      delta(t, k, true, 1, &r);
      delta(t, k, false, 1, &r);
      touch(t, k, 0);
      store(t, StoreCmd::kCas, k, "c", 0, 0, 12345);
      del(t, k);
      get(t, k);
    }
    for (int i = 0; i < 3000; ++i) set(t, "fill:" + std::to_string(i), std::string(size_t(i % 200), 'f'));
  }
  (void)stats_general(*t.r, t.now(), "none");
  (void)stats_items(*t.r, t.now());
  (void)stats_slabs(*t.r);
}

static std::vector<std::string> seed(TR& t, int n) {
  std::vector<std::string> keys;
  for (int i = 0; i < n; ++i) {
    keys.push_back("s:" + std::to_string(i));
    set(t, keys.back(), "seed-value-" + std::to_string(i));
  }
  return keys;
}

// Runs body(t, keys) in a forked child (in_child) on a fresh bounds region seeded with n keys.
static void in_seeded_child(const std::string& what, int n,
                            const std::function<void(TR&, std::vector<std::string>&)>& body) {
  in_child(what.c_str(), [&] {
    std::unique_ptr<TR> tp(bounds_region(2u << 20));
    TR& t = *tp;
    auto keys = seed(t, n);
    body(t, keys);
  });
}

static void test_bounds() {
  const uint32_t kWild[] = {0xFFFFFFFFu, 0xFFFFFFF8u, 0x80000000u, 1u, 7u};
  for (uint32_t w : kWild) {
    in_seeded_child("bucket word = " + std::to_string(w), 200, [w](TR& t, std::vector<std::string>& keys) {
      for (int i = 0; i < 200; i += 3) *bucket_word(*t.r, keys[i]) = w;
      // Missing is fine, crashing is not.
      exercise(t, keys);
    });
  }
  in_seeded_child("bucket word = last bytes of the file / arena / header", 200,
                  [](TR& t, std::vector<std::string>& keys) {
                    uint64_t fs = t.r->geo().file_size;
                    uint32_t targets[] = {uint32_t(fs / kUnit - 1),
                                          uint32_t(fs / kUnit - 4),
                                          uint32_t(fs / kUnit - 5),
                                          uint32_t(fs / kUnit),
                                          uint32_t(t.r->geo().arena_off / kUnit),
                                          uint32_t(t.r->geo().pages_off / kUnit - 1),
                                          uint32_t(sizeof(Header) / kUnit / 2)};
                    for (size_t i = 0; i < keys.size(); ++i) *bucket_word(*t.r, keys[i]) = targets[i % 7];
                    exercise(t, keys);
                  });
  in_seeded_child("wild h_next in items", 300, [](TR& t, std::vector<std::string>& keys) {
    uint32_t fsu = uint32_t(t.r->geo().file_size / kUnit);
    int n = 0;
    for (size_t i = 0; i < keys.size(); i += 2) {
      Item* it = find_item(*t.r, keys[i]);
      if (!it) continue;
      ++n;
      switch (i % 8) {
        case 0: it->h_next = 0xFFFFFFFFu; break;
        case 2: it->h_next = t.r->offset_of(it); break;  // a loop onto itself
        case 4: it->h_next = fsu - 1; break;
        case 6: it->h_next = t.r->offset_of(it) + 1; break;  // into its own middle
      }
    }
    CHECK(n > 100);
    exercise(t, keys);
  });
  in_seeded_child("huge nbytes / nkey in items", 200, [](TR& t, std::vector<std::string>& keys) {
    for (size_t i = 0; i < keys.size(); i += 2) {
      Item* it = find_item(*t.r, keys[i]);
      if (!it) continue;
      if (i % 4 == 0)
        it->nbytes = 0xFFFFFFF0u;
      else
        it->nbytes = uint32_t(t.r->geo().file_size);
    }
    // Items with a wild length are unreachable (item() refuses them): a miss, not a read past
    // the mapping.
    CHECK_EQ(get(t, keys[0]), std::optional<std::string>());
    exercise(t, keys);
  });
  in_seeded_child("wild LRU links and class heads", 200, [](TR& t, std::vector<std::string>& keys) {
    Header* h = t.h();
    for (size_t i = 0; i < keys.size(); i += 5) {
      Item* it = find_item(*t.r, keys[i]);
      if (!it) continue;
      it->prev = 0xFFFFFFFFu;
      it->next = 0xFFFFFFF0u;
    }
    h->classes[1].lru_tail = 0xFFFFFFFFu;
    h->classes[2].lru_head = 0xFFFFFFFFu;
    // Evictions run: fill the 2 MiB region several times over.
    exercise(t, keys);
    for (int i = 0; i < 40000; ++i) set(t, "ev:" + std::to_string(i), "0123456789");
  });
  in_seeded_child("wild free list head", 10, [](TR& t, std::vector<std::string>& keys) {
    t.h()->classes[1].free_head = 0xFFFFFFFFu;
    t.h()->classes[2].free_head = 3;
    exercise(t, keys);
  });
  in_seeded_child("free list head at the end of the file, marked free", 10, [](TR& t, std::vector<std::string>& keys) {
    // A free-list offset whose chunk header fits in the file but whose chunk does not: the
    // next allocation of that class must not write past the mapping.
    uint64_t fs = t.r->geo().file_size;
    uint32_t off = uint32_t((fs - sizeof(Item)) / kUnit);
    Item* fake = t.r->chunk(off);
    CHECK(fake != nullptr);
    if (!fake) return;
    fake->iflags = kFree;
    fake->h_next = 0;
    t.h()->classes[1].free_head = off;
    exercise(t, keys);
  });
  in_seeded_child("table state damaged at run time", 100, [](TR& t, std::vector<std::string>& keys) {
    t.h()->table_state.store(ts_make(60, true, 5));
    exercise(t, keys);
  });
  in_seeded_child("class sizes damaged at run time", 100, [](TR& t, std::vector<std::string>& keys) {
    t.h()->n_classes = 0xFFFFFFFFu;
    exercise(t, keys);
    // An item larger than any class: the class search must stop at the real classes.
    std::string big((1u << 20) + 100, 'b');
    CHECK_EQ(set(t, "big", big), kTooLarge);
  });
  in_seeded_child("class chunk size damaged at run time", 100, [](TR& t, std::vector<std::string>& keys) {
    // Class 1 has one page (10922 chunks). Claim its chunks are 1 MiB: carving its next page
    // must not write 10922 MiB.
    t.h()->classes[1].size = 1u << 20;
    for (int i = 0; i < 12000; ++i) set(t, "c1:" + std::to_string(i), "x");
    exercise(t, keys);
  });
  in_child("random word damage in pages and table", [] {
    std::unique_ptr<TR> tp(bounds_region(4u << 20));
    TR& t = *tp;
    auto keys = seed(t, 2000);
    uint64_t x = 0x2545F4914F6CDD1Dull;
    const Geometry& g = t.r->geo();
    for (int round = 0; round < 20; ++round) {
      for (int k = 0; k < 50; ++k) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t at = g.arena_off + (x >> 4) % (g.file_size - g.arena_off - 4);
        at &= ~uint64_t(3);
        uint32_t val = uint32_t(x >> 32);
        if (x & 1) val &= 0x7FFFF;  // plausible small offsets, too
        std::memcpy(t.r->base() + at, &val, 4);
      }
      exercise(t, std::vector<std::string>(keys.begin() + round * 100, keys.begin() + round * 100 + 100));
    }
  });
}

// ---- stats views -----------------------------------------------------------------------------

static void test_stats_views() {
  TR t(8u << 20, 1u << 20, 1);
  set(t, "a", "1");
  set(t, "b", std::string(500, 'b'));
  get(t, "a");
  get(t, "zz");
  auto has = [](const StatList& l, const std::string& k) {
    for (auto& [n, v] : l)
      if (n == k) return true;
    return false;
  };
  StatList g = stats_general(*t.r, t.now(), "none");
  for (const char* n : {"curr_items",        "total_items", "bytes",        "limit_maxbytes", "get_hits",
                        "get_misses",        "get_expired", "delete_hits",  "delete_misses",  "incr_hits",
                        "incr_misses",       "decr_hits",   "decr_misses",  "cas_hits",       "cas_misses",
                        "cas_badval",        "touch_hits",  "touch_misses", "evictions",      "expired_unfetched",
                        "evicted_unfetched", "cmd_get",     "cmd_set",      "cmd_touch",      "cmd_flush"})
    CHECK(has(g, n));
  CHECK_STATS(t, {
                     {"bytes", uint64_t(sizeof(Item) + 2 + sizeof(Item) + 1 + 500)},
                     {"limit_maxbytes", uint64_t(8u << 20)},
                 });
  StatList s = stats_slabs(*t.r);
  CHECK(has(s, "1:chunk_size"));
  CHECK(has(s, "9:chunk_size"));  // 40 + 1 + 500 bytes: class 9 (600; 8 MiB: no split classes)
  CHECK(has(s, "active_slabs"));
  StatList it = stats_items(*t.r, t.now());
  CHECK(has(it, "items:1:number"));
  CHECK(has(it, "items:9:evicted"));
  StatList st = stats_settings(*t.r);
  CHECK(has(st, "item_size_max"));
  stats_reset(*t.r);
  CHECK_STATS(t, {
                     {"get_hits", 0u}, {"cmd_set", 0u}, {"curr_items", 2u},  // gauges survive a reset
                 });
  get(t, "a");
  CHECK_EQ(stat(t, "get_hits"), 1u);
  // Slots: more contexts than slots fall back to the shared slot and still count.
  std::vector<Ctx> many(kSlots + 4);
  for (auto& c : many) stats_attach(*t.r, &c);
  CHECK(many.back().shared_slot);
  ItemMeta m{};
  for (auto& c : many) cmd_get(c, B("a"), 1, false, 0, g_buf.data(), uint32_t(g_buf.size()), &m);
  CHECK_EQ(stat(t, "get_hits"), uint64_t(1 + kSlots + 4));
  for (auto& c : many) stats_detach(&c);
}

// ---- main ------------------------------------------------------------------------------------

// ---- crash safety (issue 5) ------------------------------------------------------------------

// Offline recovery rebuilds every derived structure from the pages: wipe the LRUs, free lists and
// counters, leave a linked-looking chunk that no table reaches (a link cut short) and a
// duplicate key with a lower CAS (a replace cut short), and every stored item comes back.
static void test_recover_offline() {
  TR t(64 << 20, 1 << 20, 1, "recover");
  const int N = 4000;
  for (int i = 0; i < N; ++i) {
    std::string k = "key" + std::to_string(i), v(size_t(i % 900), char('a' + i % 26));
    CHECK_EQ(store(t, StoreCmd::kSet, k, v, uint32_t(i)), kOk);
  }
  for (int i = 0; i < N; i += 10)
    CHECK_EQ(cmd_delete(t.ctx, B("key" + std::to_string(i)), uint32_t(("key" + std::to_string(i)).size())), kOk);
  // A link cut short: linked flag set, never stored in the table.
  Item* orphan = nullptr;
  CHECK(item_alloc(t.ctx, sizeof(Item) + 6 + 5, &orphan) == Alloc::kOk);
  std::memcpy(orphan->key(), "ghost1", 6);
  orphan->nkey = 6;
  orphan->nbytes = 5;
  orphan->iflags = kLinked;
  Header* h = t.h();
  uint64_t cas_before = h->cas_counter.load();
  for (uint32_t c = 1; c <= h->n_classes; ++c) {
    ClassHdr& k = h->classes[c];
    k.lru_head = k.lru_tail = k.free_head = 0;
    k.curr_items = k.bytes = 12345;
    k.free_chunks = 7;
  }
  RecoveryReport rep;
  recover_offline(*t.r, &rep);
  CHECK_STRUCTURE(t);
  CHECK_EQ(rep.items_kept, uint64_t(N - N / 10));
  CHECK_EQ(rep.items_dropped, uint64_t(1));
  CHECK(h->cas_counter.load() >= cas_before);
  for (int i = 0; i < N; ++i) {
    std::string k = "key" + std::to_string(i);
    ItemMeta m{};
    auto v = get(t, k, &m);
    if (i % 10 == 0) {
      CHECK(!v);
    } else {
      CHECK(v && *v == std::string(size_t(i % 900), char('a' + i % 26)));
      CHECK_EQ(m.flags, uint32_t(i));
    }
  }
  CHECK(!get(t, "ghost1"));
  std::vector<std::string> problems;
  VerifyStats st;
  CHECK(verify_region(*t.r, &problems, &st));
  CHECK_EQ(st.items, uint64_t(N - N / 10));
  // The store works on: writes, growth of the same classes.
  for (int i = 0; i < 2000; ++i) CHECK_EQ(store(t, StoreCmd::kSet, "new" + std::to_string(i), "v"), kOk);
  CHECK_STRUCTURE(t);
}

// A lock whose owner died (a forked child that exits holding it) is taken over by the next
// thread that waits for it, and what it guards is repaired: here a class lock held across a
// half-done LRU link (the intent names the item) and a stripe lock held over nothing.
static void test_lock_takeover() {
  TR t(8 << 20, 1 << 20, 1, "takeover");
  for (int i = 0; i < 200; ++i) CHECK_EQ(store(t, StoreCmd::kSet, "k" + std::to_string(i), "v"), kOk);
  Header* h = t.h();
  uint32_t cls = slabs_clsid(h, sizeof(Item) + 4 + 1);
  uint64_t hv = hash_key(B("k7"), 2);
  Stripe& stripe = stripe_of(h, hv);
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    Ctx c;
    stats_attach(*t.r, &c);
    c.enter();
    stripe_lock(stripe);
    ClassHdr& k = h->classes[cls];
    lock(k.lock);
    // Half an LRU link of a fresh item, recorded as the class-level intent.
    Item* it = nullptr;
    uint32_t off = k.free_head;
    it = t.r->chunk(off);
    k.free_head = it->h_next;
    k.free_chunks--;
    std::memcpy(it->key(), "zz", 2);
    it->nkey = 2;
    it->nbytes = 1;
    it->iflags = kLinked;
    it->cls = uint8_t(cls);
    c.slot->ci.a = off;
    c.slot->ci.cls = cls;
    c.slot->ci.op.store(kIntentLruLink);
    it->prev = 0;
    it->next = k.lru_head;
    if (Item* head = t.r->chunk(k.lru_head)) head->prev = off;
    _exit(0);  // dies holding both locks
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  t.ctx.enter();
  uint64_t before = h->lock_takeovers.load();
  stripe_lock(stripe);  // must not hang: the owner is dead
  stripe_unlock(stripe);
  { Guard g(h->classes[cls].lock); }
  CHECK_EQ(h->lock_takeovers.load(), before + 2);
  CHECK_EQ(h->dirty.load(), 1u);
  // The class repair finished the LRU link; the half-linked item is on its LRU (not in the
  // table: its link never committed), so the LRU holds one more item than the table.
  ClassHdr& k = h->classes[cls];
  Item* head = t.r->item(k.lru_head);
  CHECK(head && head->nkey == 2 && std::memcmp(head->key(), "zz", 2) == 0);
  CHECK_EQ(k.curr_items, uint64_t(201));
  // Commands go on; an offline recovery then drops the unreachable item and verifies.
  CHECK(get(t, "k7") == std::optional<std::string>("v"));
  CHECK_EQ(store(t, StoreCmd::kSet, "k7", "w"), kOk);
  RecoveryReport rep;
  recover_offline(*t.r, &rep);
  CHECK_EQ(rep.items_kept, uint64_t(200));
  CHECK_EQ(rep.items_dropped, uint64_t(1));
  CHECK_STRUCTURE(t);
}

// The fail-points' death tests (core/failpoint.h): a forked child arms one point and runs a real
// command; it dies by SIGKILL inside the real code, holding what that code holds there. This
// process (the survivor; each case runs in a child of its own, so a hang is a failure) then uses
// the store: taking the abandoned locks repairs what they guard, nothing hangs, the structures
// verify with nothing leaked once the dead thread's allocation is reclaimed (what an attach does
// after a process died), and an offline recovery afterwards keeps every untouched item.
namespace {

enum class DieOp { kSet, kDelete, kSetBig, kMovePage, kMigrate };

struct DieCase {
  FailPoint point;
  DieOp op;
  const char* victim;  // what `victim` reads afterwards; nullptr: a miss
};

const std::string kBig(300000, 'n');  // a class with no page yet: its set grows the class

// Runs op in a forked child with point armed; true when the child died by SIGKILL.
bool die_in_child(TR& t, FailPoint point, const std::function<void(TR&)>& op) {
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    stats_attach(*t.r, &t.ctx);  // a thread slot of its own (this process's pid)
    failpoint_arm(point);
    op(t);
    _exit(3);  // the point was never reached
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

void die_case(const DieCase& dc) {
  TR t(dc.op == DieOp::kMigrate ? 64u << 20 : 8u << 20, 1 << 20, 1, "die");
  Header* h = t.h();
  CHECK_EQ(set(t, "victim", "old"), kOk);
  for (int i = 0; i < 100; ++i) CHECK_EQ(set(t, "k" + std::to_string(i), "v" + std::to_string(i)), kOk);
  int filled = 0;
  if (dc.op == DieOp::kMovePage) {
    // Out of pages, the small class holding the most (the victim's page at its LRU tail) and the
    // big class not idle: a set of a new class must move a page away from the small class.
    CHECK_EQ(set(t, "bigpre", kBig), kOk);
    while (h->pages_used < t.r->geo().pages_total && filled < 2000000) set(t, "fill" + std::to_string(filled++), "f");
  }
  if (dc.op == DieOp::kMigrate) {
    while (!ts_expanding(h->table_state.load()) && filled < 2000000) set(t, "m" + std::to_string(filled++), "v");
    CHECK(ts_expanding(h->table_state.load()));
  }
  bool killed = die_in_child(t, dc.point, [&](TR& c) {
    switch (dc.op) {
      case DieOp::kSet: set(c, "victim", "new"); break;
      case DieOp::kDelete: del(c, "victim"); break;
      case DieOp::kSetBig: set(c, "victim", kBig); break;
      case DieOp::kMovePage: set(c, "moved", std::string(2000, 'm')); break;
      case DieOp::kMigrate:
        for (int i = 0; i < 1000000; ++i) set(c, "x" + std::to_string(i), "x");
        break;
    }
  });
  CHECK(killed);
  t.ctx.enter();
  uint64_t takeovers = h->lock_takeovers.load();
  procs_reclaim(*t.r);
  auto v = get(t, "victim");
  if (dc.victim)
    CHECK(v == std::optional<std::string>(dc.victim));
  else
    CHECK(!v);
  CHECK_EQ(set(t, "big", kBig), kOk);
  CHECK_EQ(set(t, "victim2", "y"), kOk);
  for (int i = 0; i < 100; ++i)
    CHECK(get(t, "k" + std::to_string(i)) == std::optional<std::string>("v" + std::to_string(i)));
  if (dc.op == DieOp::kMigrate) {
    // Inserts move buckets again (the abandoned growth lock is reaped): the growth finishes.
    for (int i = 0; i < 200000 && ts_expanding(h->table_state.load()); ++i) set(t, "after" + std::to_string(i), "a");
    CHECK(!ts_expanding(h->table_state.load()));
    int missing = 0;
    for (int i = 0; i < filled; ++i) missing += !get(t, "m" + std::to_string(i));
    CHECK_EQ(missing, 0);
  }
  std::vector<std::string> problems;
  VerifyStats st;
  bool ok = verify_region(*t.r, &problems, &st);
  CHECK(ok);
  for (auto& p : problems) std::fprintf(stderr, "  %s: %s\n", kFailPointNames[uint32_t(dc.point)], p.c_str());
  CHECK_EQ(st.leaked_chunks, uint64_t(0));
  if (dc.point != FailPoint::kSetAfterAlloc) {
    CHECK(h->lock_takeovers.load() > takeovers);
    CHECK_EQ(h->dirty.load(), 1u);  // a repair asks for the next cold open's recovery
  }
  // The next cold open's recovery keeps what is stored.
  RecoveryReport rep;
  recover_offline(*t.r, &rep);
  CHECK_STRUCTURE(t);
  CHECK(get(t, "k7") == std::optional<std::string>("v7"));
  CHECK(get(t, "victim2") == std::optional<std::string>("y"));
}

}  // namespace

static void test_failpoints() {
  // Disarmed by default, and names round-trip.
  CHECK_EQ(g_failpoint, 0u);
  for (uint32_t i = 1; i < uint32_t(FailPoint::kCount); ++i)
    CHECK(failpoint_by_name(kFailPointNames[i]) == FailPoint(i));
  CHECK(failpoint_by_name("no.such.point") == FailPoint::kCount);
  const DieCase cases[] = {
      {FailPoint::kLinkAfterTable, DieOp::kSet, "new"},
      {FailPoint::kLruLinkBeforeCommit, DieOp::kSet, "new"},
      {FailPoint::kUnlinkAfterTable, DieOp::kDelete, nullptr},
      {FailPoint::kDeleteStripeHeld, DieOp::kDelete, "old"},
      {FailPoint::kGrowPagesLock, DieOp::kSetBig, "old"},
      {FailPoint::kMigrateMidItem, DieOp::kMigrate, "old"},
      {FailPoint::kCarveHalfway, DieOp::kSetBig, "old"},
      {FailPoint::kEmptyPageAfterEvict, DieOp::kMovePage, nullptr},
      {FailPoint::kSetAfterAlloc, DieOp::kSet, "old"},
  };
  for (const DieCase& dc : cases) in_child(kFailPointNames[uint32_t(dc.point)], [&] { die_case(dc); });
}

int main(int argc, char** argv) {
  const char* dir = std::getenv("SHMCACHED_TEST_DIR");
  g_dir = dir && *dir ? dir : "/dev/shm";
  const char* filter = argc > 1 ? argv[1] : nullptr;
  struct T {
    const char* name;
    void (*fn)();
  };
  const T tests[] = {
      {"keys", test_keys},
      {"set_get", test_set_get},
      {"add_replace", test_add_replace},
      {"append_prepend", test_append_prepend},
      {"append_cas", test_append_cas},
      {"append_cas_race", test_append_cas_race},
      {"cas", test_cas},
      {"delete", test_delete},
      {"incr_decr", test_incr_decr},
      {"parse_delta_value", test_parse_delta_value},
      {"expiry", test_expiry},
      {"touch_gat", test_touch_gat},
      {"flush_all", test_flush_all},
      {"too_large", test_too_large},
      {"slab_classes", test_slab_classes},
      {"eviction", test_eviction},
      {"no_evict", test_no_evict},
      {"reclaim_before_page", test_reclaim_before_page},
      {"crawler", test_crawler},
      {"growth", test_growth},
      {"crawl", test_crawl},
      {"reopen", test_reopen},
      {"bad_files", test_bad_files},
      {"file_rules", test_file_rules},
      {"bounds", test_bounds},
      {"stats_views", test_stats_views},
      {"recover_offline", test_recover_offline},
      {"lock_takeover", test_lock_takeover},
      {"failpoints", test_failpoints},
  };
  for (const T& t : tests) {
    if (filter && !std::strstr(t.name, filter)) continue;
    g_test = t.name;
    int f0 = g_fail, p0 = g_pass;
    t.fn();
    remove_files();
    std::fprintf(stderr, "%-18s %s (%d checks, %d failed)\n", t.name, g_fail == f0 ? "ok" : "FAILED",
                 g_pass - p0 + g_fail - f0, g_fail - f0);
  }
  remove_files();
  std::printf("%d passed, %d failed\n", g_pass, g_fail);
  return g_fail ? 1 : 0;
}
