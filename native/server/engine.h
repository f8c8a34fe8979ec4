// engine.h — how a connection's protocol engine is built and driven, shared by the two hosts:
// the JS server's binding (native/binding/proto.cc) and the native connection loop (loop.cc).
// Owns: EngineSpec (what every connection of one server shares: its ServerInfo, credential
// store and ProtoSetting array), make_engine (the one place a server's proto::Conn is built) and
// drive (one feed or run with the settings copied in and out and the host's unsent replies
// counted, answering the ProtoState bits).
//
// Invariants:
//  - Every engine of a server is built from the same spec, so `stats`, `stats conns` and the
//    connection counters are right whichever host accepted the connection.
//  - The settings array may be read and written by several loop threads and by JS: each
//    element is accessed with one relaxed atomic load or store, and drive() writes back only
//    the elements its command changed, so a thread never undoes another's `verbosity 1`.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "contract.h"
#include "proto/auth.h"
#include "proto/conn.h"
#include "proto/serverinfo.h"

namespace srv {

namespace c = shm::contract;

struct EngineSpec {
  std::shared_ptr<proto::ServerInfo> info;       // null: a bare engine (no stats conns)
  std::shared_ptr<const proto::AuthStore> auth;  // null: no authentication
  int32_t* settings = nullptr;                   // ProtoSetting.Count elements, or none
};

inline std::unique_ptr<proto::Conn> make_engine(const proto::Backend& be, const EngineSpec& spec, std::string peer,
                                                std::string local) {
  return std::make_unique<proto::Conn>(be, spec.info, std::move(peer), std::move(local), spec.auth);
}

inline int32_t ld(const int32_t* a, int i) { return __atomic_load_n(&a[i], __ATOMIC_RELAXED); }
inline void st(int32_t* a, int i, int32_t v) { __atomic_store_n(&a[i], v, __ATOMIC_RELAXED); }

// The server's settings array into the engine (before a feed).
inline void settings_in(const int32_t* a, proto::ServerSettings& s) {
  int32_t f = ld(a, c::kProtoSettingFlags);
  s.shutdown_enabled = (f & c::kProtoSettingFlagShutdownEnabled) != 0;
  s.lru_crawler = (f & c::kProtoSettingFlagLruCrawler) != 0;
  s.text_ok = (f & c::kProtoSettingFlagText) != 0;
  s.binary_ok = (f & c::kProtoSettingFlagBinary) != 0;
  s.automove = uint32_t(ld(a, c::kProtoSettingAutomove));
  s.tocrawl = uint32_t(ld(a, c::kProtoSettingTocrawl));
  s.crawler_sleep = uint32_t(ld(a, c::kProtoSettingCrawlerSleep));
  s.verbosity = uint32_t(ld(a, c::kProtoSettingVerbosity));
  s.reqs_per_event = uint32_t(ld(a, c::kProtoSettingReqsPerEvent));
  s.shutdown_requested = 0;
}

// What the commands changed back into the array (after a feed): only the changed elements.
inline void settings_out(const proto::ServerSettings& was, const proto::ServerSettings& s, int32_t* a) {
  if (s.lru_crawler != was.lru_crawler) {
    // The flags word is shared with JS: a compare-and-swap so no other bit is lost.
    int32_t f = ld(a, c::kProtoSettingFlags);
    int32_t want;
    do {
      want = s.lru_crawler ? (f | c::kProtoSettingFlagLruCrawler) : (f & ~c::kProtoSettingFlagLruCrawler);
    } while (
        !__atomic_compare_exchange_n(&a[c::kProtoSettingFlags], &f, want, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
  }
  if (s.automove != was.automove) st(a, c::kProtoSettingAutomove, int32_t(s.automove));
  if (s.tocrawl != was.tocrawl) st(a, c::kProtoSettingTocrawl, int32_t(s.tocrawl));
  if (s.crawler_sleep != was.crawler_sleep) st(a, c::kProtoSettingCrawlerSleep, int32_t(s.crawler_sleep));
  if (s.verbosity != was.verbosity) st(a, c::kProtoSettingVerbosity, int32_t(s.verbosity));
  if (s.shutdown_requested) st(a, c::kProtoSettingShutdown, int32_t(s.shutdown_requested));
}

// Feeds n bytes (data null: runs what is buffered) and answers the ProtoState bits. unsent: the
// host's replies of earlier runs not written yet, which count toward the engine's output mark.
inline int32_t drive(proto::Conn& conn, int32_t* settings, const uint8_t* data, size_t n, size_t unsent = 0) {
  uint64_t ran_before = conn.commands();
  conn.set_unsent(unsent);
  proto::ServerSettings was;
  if (settings) {
    settings_in(settings, conn.settings());
    was = conn.settings();
  }
  if (data)
    conn.feed(data, n);
  else
    conn.run();
  if (settings) settings_out(was, conn.settings(), settings);
  return (conn.closing() ? c::kProtoStateClose : 0) | (conn.more() ? c::kProtoStateMore : 0) |
         (conn.commands() != ran_before ? c::kProtoStateRan : 0);
}

}  // namespace srv
