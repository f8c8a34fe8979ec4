// serverinfo.h — what one server (src/server.ts's createServer) tells its connections' engines
// about itself: its values of memcached's server keys in `stats` and `stats settings`
// (max_connections, threads, maxconns, tcpport, idle_timeout, ...), its listening addresses, and
// the registry of its live connections that `stats conns` lists.
//
// Invariants: mu guards every field: the JS server's connections run on one thread, the native
// loop's (native/server/) on several; a connection registers in its constructor and leaves in
// its destructor (both under mu), and the ServerInfo outlives it (each connection holds a
// shared_ptr). Nothing else is done while mu is held.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "proto/backend.h"  // shm::StatList

namespace proto {

class Conn;

struct ServerInfo {
  mutable std::mutex mu;
  shm::StatList general;   // replaces the store's values of these `stats` keys
  shm::StatList settings;  // and of these `stats settings` keys
  shm::StatList
      live;  // set by the host as it runs (the native loop's accepting_conns, listen_disabled_num), over general
  std::vector<std::pair<uint64_t, std::string>> listeners;  // id, "tcp:127.0.0.1:11211" / "unix:/path"
  int64_t started = 0;             // unix seconds the listeners were set (their last "command")
  std::vector<const Conn*> conns;  // live connections, in the order they came
  uint64_t next_id = 1;            // connection ids (`stats conns` names them, as memcached its fds)
};

// Replaces the value of every key of over that l has; keys l lacks are appended.
void stats_overlay(shm::StatList& l, const shm::StatList& over);

}  // namespace proto
