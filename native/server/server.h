// server.h — the native connection loop: memcached's threading model behind createServer's
// `engine: 'native'`. Owns: the listeners handed to it, N loop threads (loop.cc), each with its
// own epoll set, stats slot and connections, and the server's lifetime (start, stop, join).
//
// Invariants:
//  - No Node-API here: the host (native/binding/server.cc) supplies the per-thread store door
//    (Hooks::attach, a Backend with the thread's own stats slot) and hears events through
//    Hooks::notify, called from loop threads.
//  - Every listener is in every thread's epoll set with EPOLLEXCLUSIVE: one thread wakes per
//    incoming connection, and a connection stays on the thread that accepted it.
//  - The connection count (maxConnections) is one atomic over all threads; a connection over it
//    is answered "ERROR Too many open connections" and counted as rejected.
//  - stop() is asynchronous: each thread stops accepting, ends its connections once their
//    replies are written (or after kStopGraceMs), detaches its slot and exits; the last to exit
//    notifies kStopped. join() then returns at once and closes the listeners (the port is free
//    once close()'s callback runs). The destructor stops and joins.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/engine.h"
#include "server/listener.h"

namespace srv {

struct Options {
  int threads = 1;
  uint32_t max_conns = 1024;
  uint32_t idle_timeout_s = 0;  // 0: never
  int verbose = 0;              // 1+: a stderr line per connection opened and closed
};

enum Event : int { kShutdown = 1, kStopped = 2, kCrawler = 3 };

struct Hooks {
  // On each loop thread before it serves: the thread's store door (its own stats slot).
  std::function<bool(proto::Backend*)> attach;
  // On each loop thread after its last connection ended.
  std::function<void(proto::Backend*)> detach;
  // From a loop thread: kShutdown (arg 1 now, 2 graceful), kStopped (every thread exited),
  // kCrawler (`lru_crawler enable|disable` flipped the flag: arg 1 on, 0 off).
  std::function<void(int event, int arg)> notify;
};

constexpr int kStopGraceMs = 2000;  // stop(): replies a client does not read are dropped after this

class Loop;

class Server {
 public:
  Server(Options opt, Hooks hooks, EngineSpec spec);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Takes the listener (join closes it, and unlinks a unix socket's path).
  void add_listener(const Bound& b) { listeners_.push_back(b); }
  // Starts the threads; false (err) when one cannot be made.
  bool start(std::string* err);
  void stop();
  // stop() without the grace: connections are cut at once (process exit).
  void stop_now() {
    abort_.store(true, std::memory_order_release);
    stop();
  }
  void join();
  uint32_t connections() const { return conns_.load(std::memory_order_relaxed); }

 private:
  friend class Loop;
  Options opt_;
  Hooks hooks_;
  EngineSpec spec_;
  std::vector<Bound> listeners_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
  std::atomic<uint32_t> conns_{0};
  std::atomic<int> running_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> abort_{false};
  bool joined_ = false;
};

}  // namespace srv
