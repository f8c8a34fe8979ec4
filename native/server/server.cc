// server.cc — see server.h: the threads' lifetime.
#include "server/server.h"

#include <sys/socket.h>
#include <unistd.h>

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
