// proto_bench.cc — a microbench of the protocol engine's hot path (native/proto/): the ns one
// text `get` or `set` of a 128 B value costs inside proto::Conn, with no socket and no Node: feed
// (copy into the connection's buffer), line framing and tokenizing, the gated store call, and the
// reply built into out(). Each command is fed on its own (a sequential client's read) or 8 to a
// feed (an 8-deep pipeline's read); replies are taken (cleared) after every feed, as a host does.
// The store is a fresh scratch region under /dev/shm, unlinked at once.
//
//   bash bench/native/proto-bench.sh [ITERS]       (builds with the addon's -O2, runs, prints
//                                                   one line per case: "<case> <ns per command>")
// Also the target for perf stat / valgrind --tool=callgrind: the build is at build/bench/proto_bench.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/region.h"
#include "core/stats.h"
#include "proto/conn.h"
#include "test/scratch_region.h"

namespace {

constexpr uint32_t kKeys = 10000;
constexpr uint32_t kValue = 128;

uint64_t now_ns() {
  return uint64_t(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

// Requests for `ops` commands on uniformly random keys, cut into feeds of `depth` commands each.
std::vector<std::string> make_feeds(bool set, uint32_t ops, uint32_t depth, uint64_t seed) {
  std::string value(kValue, 'v');
  std::vector<std::string> feeds;
  std::string cur;
  for (uint32_t i = 0; i < ops; ++i) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    uint32_t k = uint32_t(seed >> 33) % kKeys;
    char line[64];
    if (set) {
      std::snprintf(line, sizeof line, "set key:%u 0 0 %u\r\n", k, kValue);
      cur += line;
      cur += value;
      cur += "\r\n";
    } else {
      std::snprintf(line, sizeof line, "get key:%u\r\n", k);
      cur += line;
    }
    if ((i + 1) % depth == 0) {
      feeds.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) feeds.push_back(std::move(cur));
  return feeds;
}

// Runs the feeds through c; returns ns per command (best of `rounds`: short rounds, so one of them
// runs without being preempted on a busy machine), checks every reply.
[[gnu::noinline]] double run_case(proto::Conn& c, const std::vector<std::string>& feeds, uint32_t ops, bool set,
                                  int rounds) {
  double best = 1e18;
  const char* want = set ? "STORED\r\n" : "VALUE ";
  for (int r = 0; r < rounds; ++r) {
    uint64_t bad = 0;
    uint64_t t0 = now_ns();
    for (const std::string& f : feeds) {
      c.feed(reinterpret_cast<const uint8_t*>(f.data()), f.size());
      std::string& o = c.out();
      bad += std::memcmp(o.data(), want, 6) != 0;
      o.clear();
    }
    uint64_t t1 = now_ns();
    if (bad) {
      std::fprintf(stderr, "proto_bench: %llu unexpected replies\n", static_cast<unsigned long long>(bad));
      std::exit(2);
    }
    double ns = double(t1 - t0) / ops;
    if (ns < best) best = ns;
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t ops = argc > 1 ? uint32_t(std::strtoul(argv[1], nullptr, 10)) : 2000;
  const char* only = argc > 2 && argv[2][0] ? argv[2] : nullptr;  // one case by name (for perf / callgrind)
  int rounds = argc > 3 ? std::atoi(argv[3]) : 300;
  std::string path = "/dev/shm/shmcached-proto-bench-" + std::to_string(getpid());
  shm::Region* region = shm::open_scratch_region(path, 64u << 20, 1u << 20, 1, "proto_bench");
  if (!region) return 1;
  unlink(path.c_str());
  shm::Ctx ctx;
  shm::stats_attach(*region, &ctx);
  proto::Backend b;
  b.ctx = &ctx;
  b.pkey = -1;
  b.closed = nullptr;
  auto srv = std::make_shared<proto::ServerInfo>();
  proto::Conn c(b, srv, "tcp:127.0.0.1:40000", "tcp:127.0.0.1:11211");
  {  // populate every key
    auto feeds = make_feeds(true, kKeys, 64, 1);
    std::string value(kValue, 'v');
    for (uint32_t k = 0; k < kKeys; ++k) {
      std::string req = "set key:" + std::to_string(k) + " 0 0 " + std::to_string(kValue) + "\r\n" + value + "\r\n";
      c.feed(reinterpret_cast<const uint8_t*>(req.data()), req.size());
      c.out().clear();
    }
  }
  struct Case {
    const char* name;
    bool set;
    uint32_t depth;
  } cases[] = {{"get-seq", false, 1}, {"get-8deep", false, 8}, {"set-seq", true, 1}, {"set-8deep", true, 8}};
  for (const Case& k : cases) {
    if (only && std::strcmp(only, k.name) != 0) continue;
    auto feeds = make_feeds(k.set, ops, k.depth, 42);
    double ns = run_case(c, feeds, ops, k.set, rounds);
    std::printf("%-10s %7.1f ns/command\n", k.name, ns);
  }
  return 0;
}
