// server.cc — see server.h: the threads' lifetime, which thread a new connection goes to, and
// pausing the accepts when descriptors run out.
#include "server/server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "server/loop.h"

namespace srv {

Server::Server(Options opt, Hooks hooks, EngineSpec spec)
    : opt_(opt), hooks_(std::move(hooks)), spec_(std::move(spec)) {
  if (opt_.threads < 1) opt_.threads = 1;
}

Server::~Server() {
  stop();
  join();
}

bool Server::start(std::string* err) {
  for (int i = 0; i < opt_.threads; ++i) {
    auto l = std::make_unique<Loop>(*this);
    if (!l->init(err)) return false;
    loops_.push_back(std::move(l));
  }
  running_.store(int(loops_.size()), std::memory_order_release);
  for (auto& l : loops_) {
    Loop* lp = l.get();
    try {
      threads_.emplace_back([this, lp] {
        lp->run();
        if (running_.fetch_sub(1, std::memory_order_acq_rel) == 1) hooks_.notify(kStopped, 0);
      });
    } catch (const std::exception& e) {
      // The threads already running are stopped by the caller (stop, join).
      running_.fetch_sub(int(loops_.size() - threads_.size()), std::memory_order_acq_rel);
      *err = std::string("cannot start a loop thread: ") + e.what();
      return false;
    }
  }
  return true;
}

void Server::stop() {
  if (stopping_.exchange(true, std::memory_order_acq_rel)) return;
  for (auto& l : loops_) l->wake();
}

std::vector<uint32_t> Server::thread_connections() const {
  std::vector<uint32_t> v;
  for (auto& l : loops_) v.push_back(l->load_.load(std::memory_order_relaxed));
  return v;
}

Loop* Server::pick(Loop* self) {
  if (loops_.size() == 1) {
    self->load_.fetch_add(1, std::memory_order_relaxed);
    return self;
  }
  std::lock_guard<std::mutex> lk(pick_mu_);
  size_t best = rr_ % loops_.size();
  uint32_t least = loops_[best]->load_.load(std::memory_order_relaxed);
  for (size_t k = 1; k < loops_.size(); ++k) {
    size_t i = (rr_ + k) % loops_.size();
    uint32_t n = loops_[i]->load_.load(std::memory_order_relaxed);
    if (n < least) {
      least = n;
      best = i;
    }
  }
  rr_ = best + 1;
  loops_[best]->load_.fetch_add(1, std::memory_order_relaxed);
  return loops_[best].get();
}

namespace {
int64_t mono_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

void Server::pause_accept() {
  {
    std::lock_guard<std::mutex> lk(acc_mu_);
    if (!accepting_.load(std::memory_order_relaxed)) return;
    paused_since_us_ = mono_us();
    resume_at_ms_.store(paused_since_us_ / 1000 + kAcceptRetryMs, std::memory_order_relaxed);
    listen_disabled_.fetch_add(1, std::memory_order_relaxed);
    accepting_.store(false, std::memory_order_release);
  }
  publish_accept();
  for (auto& l : loops_) l->wake();
}

void Server::resume_accept() {
  {
    std::lock_guard<std::mutex> lk(acc_mu_);
    if (accepting_.load(std::memory_order_relaxed)) return;
    disabled_us_ += uint64_t(mono_us() - paused_since_us_);
    accepting_.store(true, std::memory_order_release);
  }
  publish_accept();
  for (auto& l : loops_) l->wake();
}

void Server::publish_accept() {
  if (!spec_.info) return;
  bool on;
  uint64_t us;
  {
    std::lock_guard<std::mutex> lk(acc_mu_);
    on = accepting_.load(std::memory_order_relaxed);
    us = disabled_us_;
  }
  // accepting_conns only while paused: otherwise the host's value (0 once closed) stands.
  shm::StatList live{{"listen_disabled_num", std::to_string(listen_disabled_.load(std::memory_order_relaxed))},
                     {"time_in_listen_disabled_us", std::to_string(us)}};
  if (!on) live.emplace_back("accepting_conns", "0");
  std::lock_guard<std::mutex> lk(spec_.info->mu);
  spec_.info->live = std::move(live);
}

void Server::join() {
  if (joined_) return;
  joined_ = true;
  stop();  // never blocks on a server that was not told to stop
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
  loops_.clear();
  // No thread waits on them any more: the port (or the socket file) is free from here.
  for (auto& b : listeners_) {
    if (b.fd >= 0) ::close(b.fd);
    if (b.family == AF_UNIX) ::unlink(b.address.c_str());
  }
  listeners_.clear();
}

}  // namespace srv
