// region_fuzz.cc — a seeded mutator over a populated region file (issue 17, "a corruption-proof
// opener"). Builds one region with items of many sizes, closes it (clean), then for each input:
// copies it, damages it (bytes flipped or overwritten in the header, the hash table arena, the
// slab pages and item headers, or anywhere; the clean flag set either way so both the warm and the
// recovering open run), writes it to a file and, in a forked child with an alarm, opens it, gets
// every known key, sets, deletes, verifies, closes, and checks it read-only. The parent counts
// each child's end: ok, refused (a clear error), crash (a signal or a sanitizer's exit code) or
// hang (SIGALRM). Crashing inputs are kept under REGION_FUZZ_OUT for replay.
//
//   region_fuzz [iterations=500] [seed=1] [seconds=120]
// Last line: `N passed, N failed` (each input is one test: a crash or a hang fails it).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/layout.h"
#include "core/recover.h"
#include "core/region.h"
#include "core/stats.h"
#include "core/store.h"

using namespace shm;

static uint64_t g_x = 1;
static uint64_t rnd() {
  g_x ^= g_x << 13, g_x ^= g_x >> 7, g_x ^= g_x << 17;
  return g_x;
}

static const uint8_t* B(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

static bool write_all(const std::string& p, const std::vector<uint8_t>& d) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  size_t off = 0;
  while (off < d.size()) {
    ssize_t n = ::write(fd, d.data() + off, d.size() - off);
    if (n <= 0) break;
    off += size_t(n);
  }
  ::close(fd);
  return off == d.size();
}

static std::string key_of(int i) { return "key:" + std::to_string(i); }
static std::string val_of(int i) { return std::string(size_t(1 + (i * 37) % 3000), char('a' + i % 26)); }
static constexpr int kKeys = 4000;

// The child's work on one damaged file: every path must end in a clear error or a working store.
static int exercise(const std::string& path, uint64_t seed) {
  RegionOptions o;
  o.recover = (seed & 1) != 0;
  std::string err;
  bool created = false;
  Region* r = Region::open(path, o, &err, &created);
  if (!r) return 3;  // refused with a clear error
  Ctx c;
  stats_attach(*r, &c);
  std::vector<uint8_t> buf(1 << 20);
  ItemMeta m{};
  for (int i = 0; i < kKeys; ++i) {
    std::string k = key_of(i);
    cmd_get(c, B(k), uint32_t(k.size()), false, 0, buf.data(), uint32_t(buf.size()), &m);
  }
  for (int i = 0; i < 500; ++i) {
    std::string k = key_of(int(rnd() % (kKeys * 2)));
    std::string v = val_of(int(rnd() % 1000));
    switch (rnd() % 4) {
      case 0: cmd_delete(c, B(k), uint32_t(k.size())); break;
      case 1: cmd_touch(c, B(k), uint32_t(k.size()), 100); break;
      default: cmd_store(c, StoreCmd::kSet, B(k), uint32_t(k.size()), B(v), uint32_t(v.size()), 0, 0, 0, nullptr);
    }
  }
  std::vector<std::string> problems;
  VerifyStats vs;
  verify_region(*r, &problems, &vs);
  stats_detach(&c);
  delete r;
  RegionOptions ro;
  ro.readonly = true;
  r = Region::open(path, ro, &err, &created);
  if (r) {
    verify_region(*r, &problems, &vs);
    delete r;
  }
  return 0;
}

int main(int argc, char** argv) {
  int iterations = argc > 1 ? std::atoi(argv[1]) : 500;
  uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
  int seconds = argc > 3 ? std::atoi(argv[3]) : 120;
  const char* dir_env = std::getenv("SHMCACHED_TEST_DIR");
  std::string dir = dir_env ? dir_env : "/tmp";
  const char* out_env = std::getenv("REGION_FUZZ_OUT");
  g_x = seed * 0x9E3779B97F4A7C15ull + 1;

  // The template: a populated region, closed cleanly.
  std::string tpl = dir + "/region-fuzz-" + std::to_string(getpid()) + "-template";
  {
    RegionOptions o;
    o.mem_limit = 8u << 20;
    o.item_size_max = 64u << 10;
    o.reset = true;
    std::string err;
    bool created = false;
    Region* r = Region::open(tpl, o, &err, &created);
    if (!r) {
      std::fprintf(stderr, "region_fuzz: cannot create the template: %s\n", err.c_str());
      std::printf("0 passed, 1 failed\n");
      return 1;
    }
    Ctx c;
    stats_attach(*r, &c);
    for (int i = 0; i < kKeys; ++i) {
      std::string k = key_of(i), v = val_of(i);
      cmd_store(c, StoreCmd::kSet, B(k), uint32_t(k.size()), B(v), uint32_t(v.size()), uint32_t(i), 0, 0, nullptr);
      if (i % 7 == 0) cmd_delete(c, B(key_of(i / 2)), uint32_t(key_of(i / 2).size()));
    }
    stats_detach(&c);
    delete r;
  }
  std::vector<uint8_t> base;
  {
    struct stat st {};
    stat(tpl.c_str(), &st);
    base.resize(size_t(st.st_size));
    int fd = ::open(tpl.c_str(), O_RDONLY);
    if (fd < 0 || pread(fd, base.data(), base.size(), 0) != ssize_t(base.size())) {
      std::printf("0 passed, 1 failed\n");
      return 1;
    }
    ::close(fd);
    unlink(tpl.c_str());
  }
  const Header* h = reinterpret_cast<const Header*>(base.data());
  const uint64_t arena_off = h->arena_off, arena_size = h->arena_size, pages_off = h->pages_off;
  const uint64_t used_end = pages_off + uint64_t(h->pages_used) * h->page_size;

  int ok = 0, refused = 0, crashes = 0, hangs = 0, done = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  std::string path = dir + "/region-fuzz-" + std::to_string(getpid());
  for (int it = 0; it < iterations && std::chrono::steady_clock::now() < until; ++it) {
    std::vector<uint8_t> d = base;
    int flips = 1 + int(rnd() % 16);
    for (int k = 0; k < flips; ++k) {
      uint64_t at;
      switch (rnd() % 5) {
        case 0: at = rnd() % sizeof(Header); break;                                               // the header
        case 1: at = arena_off + rnd() % arena_size; break;                                       // hash tables
        case 2: at = pages_off + rnd() % (used_end - pages_off); break;                           // slab pages
        case 3: at = pages_off + (rnd() % ((used_end - pages_off) / 8)) * 8 + rnd() % 24; break;  // item headers
        default: at = rnd() % d.size();
      }
      if (at >= d.size()) continue;
      switch (rnd() % 4) {
        case 0: d[at] ^= uint8_t(1u << (rnd() % 8)); break;
        case 1: d[at] = uint8_t(rnd()); break;
        case 2: d[at] = 0xFF; break;
        default: {  // a plausible 32-bit offset into the pages (a planted link)
          uint32_t off = uint32_t((pages_off + rnd() % (used_end - pages_off)) / kUnit);
          if (at + 4 <= d.size()) std::memcpy(&d[at], &off, 4);
        }
      }
    }
    // Both opens: a clean region (warm start, trusting the lists) and a dirty one (recovery).
    Header* dh = reinterpret_cast<Header*>(d.data());
    dh->clean.store(rnd() % 2 ? 1 : 0);
    if (!write_all(path, d)) {
      std::fprintf(stderr, "region_fuzz: cannot write %s\n", path.c_str());
      break;
    }
    uint64_t child_seed = rnd();
    std::fflush(stdout);
    std::fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
      g_x = child_seed | 1;
      alarm(20);
      _exit(exercise(path, child_seed));
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ++done;
    bool bad = false;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      ++ok;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
      ++refused;
    } else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
      ++hangs;
      bad = true;
      std::fprintf(stderr, "region_fuzz: input %d hung\n", it);
    } else {
      ++crashes;
      bad = true;
      std::fprintf(stderr, "region_fuzz: input %d crashed (%s %d)\n", it, WIFSIGNALED(status) ? "signal" : "exit",
                   WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    }
    if (bad && out_env) {
      std::string keep =
          std::string(out_env) + "/region-fuzz-seed" + std::to_string(seed) + "-input" + std::to_string(it);
      write_all(keep, d);
    }
  }
  unlink(path.c_str());
  std::printf(
      "region_fuzz: %d inputs (seed %llu): %d opened and exercised, %d refused with an error, %d crashes, %d hangs\n",
      done, static_cast<unsigned long long>(seed), ok, refused, crashes, hangs);
  std::printf("%d passed, %d failed\n", ok + refused, crashes + hangs);
  return crashes + hangs ? 1 : 0;
}
