// proto_fuzz.cc — libFuzzer harness for the protocol engine (native/proto/): arbitrary bytes, cut
// into arbitrary chunks, go through one connection's engine on a small real store (eviction on,
// so it never fills up). What it checks: no crash, no sanitizer report (ASan + UBSan), no hang,
// and the engine's own promises: it never buffers unboundedly (the input it holds stays under the
// line/packet limits it enforces), and after closing() it accepts nothing more. The first byte's
// top bit turns authentication on (native/proto/auth.h: a credential store, SASL on), so the
// unauthenticated paths (memcached's asciiauth, binary SASL) are fuzzed as well.
//
// Build and run: scripts/fuzz.sh (clang, -fsanitize=fuzzer,address,undefined). Inputs that ever
// crashed it live in native/test/fuzz-regressions/ and are replayed by the same script.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "core/region.h"
#include "core/stats.h"
#include "proto/conn.h"
#include "test/scratch_region.h"

namespace {

shm::Region* g_region = nullptr;
shm::Ctx g_ctx;

void setup() {
  if (g_region) return;
  std::string path = "/dev/shm/shmcached-fuzz-" + std::to_string(getpid());
  g_region = shm::open_scratch_region(path, 8u << 20, 256u << 10, 1, "proto_fuzz");
  if (!g_region) std::abort();
  unlink(path.c_str());  // the mapping stays; nothing is left behind
  shm::stats_attach(*g_region, &g_ctx);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  setup();
  proto::Backend b;
  b.ctx = &g_ctx;
  b.pkey = -1;
  b.closed = nullptr;
  static const auto auth = [] {
    auto a = std::make_shared<proto::AuthStore>();
    const std::string users = "u:p\nalice:wonder land\n";
    proto::auth_parse(users.data(), users.size(), a.get());
    a->sasl = true;
    a->ascii_label = "fuzz";
    return a;
  }();
  // A server's shared state too, so `stats`, `stats settings` and `stats conns` run its paths.
  static const auto srv = [] {
    auto s = std::make_shared<proto::ServerInfo>();
    s->listeners.emplace_back(0, "tcp:127.0.0.1:11211");
    s->settings.emplace_back("maxconns", "1024");
    return s;
  }();
  proto::Conn c(b, srv, "tcp:127.0.0.1:40000", "tcp:127.0.0.1:11211", size && (data[0] & 0x80) ? auth : nullptr);
  // The first byte picks the chunking, so every cut point of a stream gets exercised.
  size_t chunk = size ? size_t(data[0] % 64) + 1 : 1;
  size_t pos = size ? 1 : 0;
  size_t rounds = 0;
  while (pos < size && !c.closing()) {
    size_t n = size - pos < chunk ? size - pos : chunk;
    // A host may still hold unsent replies when input arrives (the native loop's wbuf): the run
    // then stops at the mark sooner, and goes on once they are written.
    c.set_unsent((chunk & 3) == 0 ? proto::kOutHigh - 64 * chunk : 0);
    c.feed(data + pos, n);
    pos += n;
    while (c.more() && !c.closing()) {
      c.out().clear();
      c.trim();  // as the hosts do once they took the replies
      c.set_unsent(0);
      c.run();
      if (++rounds > 1000000) std::abort();  // no progress: a hang
    }
    c.out().clear();
    c.trim();
    // A partial command may wait, but never more than a value (item max + framing) or a long get line.
    if (c.buffered() > proto::kGetLineMax + (256u << 10) + 64) std::abort();
    chunk = chunk * 7 % 61 + 1;
  }
  if (c.closing()) {
    c.feed(reinterpret_cast<const uint8_t*>("get a\r\n"), 7);
    if (!c.out().empty()) std::abort();  // a closing connection answers nothing more
  }
  return 0;
}
