// server.h — the native connection loop: memcached's threading model behind createServer's
// `engine: 'native'`. Owns: the listeners handed to it, N loop threads (loop.cc), each with its
// own epoll set, stats slot and connections, and the server's lifetime (start, stop, join).
//
// Invariants:
//  - No Node-API here: the host (native/binding/server.cc) supplies the per-thread store door
//    (Hooks::attach, a Backend with the thread's own stats slot) and hears events through
//    Hooks::notify, called from loop threads.
//  - Every listener is in every thread's epoll set with EPOLLEXCLUSIVE: one thread wakes per
//    incoming connection and accepts it, then hands it to the least-loaded thread (ties go
//    round-robin, memcached's dispatch), chosen under pick_mu_ so concurrent accepts never pick
//    from the same stale counts: 16 connections on 2 threads land 8/8. A handed descriptor goes
//    through the target's inbox (a mutex-protected queue) and wake eventfd; from there the
//    connection stays on that thread.
//  - Accepting pauses (memcached's accept_new_conns(false)) when accept4 runs out of descriptors
//    (EMFILE, ENFILE, ENOBUFS, ENOMEM): every thread takes the listeners out of its epoll set, so
//    no thread spins on a listener it cannot drain; the connection waits in the backlog. It
//    resumes when a connection of this server closes, or kAcceptRetryMs later (a descriptor freed
//    elsewhere in the process). Each pause counts in `listen_disabled_num`, its length in
//    `time_in_listen_disabled_us`, and `accepting_conns` shows 0 while paused (ServerInfo::live).
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
#include <mutex>
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

constexpr int kStopGraceMs = 2000;   // stop(): replies a client does not read are dropped after this
constexpr int kAcceptRetryMs = 100;  // a paused accept is tried again after this (a descriptor freed elsewhere)

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
  // Connections each loop thread serves now (handed ones included), in thread order.
  std::vector<uint32_t> thread_connections() const;
  uint64_t listen_disabled() const { return listen_disabled_.load(std::memory_order_relaxed); }

 private:
  friend class Loop;
  Loop* pick(Loop* self);  // the thread a new connection goes to (its load counted)
  void pause_accept();     // accept4 ran out of descriptors
  void resume_accept();    // a connection closed, or the retry timer fired
  void publish_accept();   // accepting_conns, listen_disabled_num, time_in_listen_disabled_us
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
  std::mutex pick_mu_;
  size_t rr_ = 0;  // under pick_mu_: where the next tie-break starts
  std::mutex acc_mu_;
  std::atomic<bool> accepting_{true};
  std::atomic<int64_t> resume_at_ms_{0};  // paused: when the timer tries again
  std::atomic<uint64_t> listen_disabled_{0};
  int64_t paused_since_us_ = 0;  // under acc_mu_
  uint64_t disabled_us_ = 0;     // under acc_mu_: time paused, over every pause ended
};

}  // namespace srv
