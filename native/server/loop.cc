// loop.cc — see loop.h.
#include "server/loop.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace srv {

constexpr size_t kReadBuf = 64 * 1024;
constexpr int kMaxEvents = 256;
const char kTooMany[] = "ERROR Too many open connections\r\n";

struct Client {
  int fd = -1;
  std::unique_ptr<proto::Conn> eng;
  std::string wbuf;  // replies the socket has not taken yet, from woff
  size_t woff = 0;
  uint32_t armed = 0;  // the epoll events registered
  bool eof = false;    // the client half-closed (or the read side failed)
  bool closing = false;
  bool more = false;    // the engine has complete input left (ProtoState.More)
  bool queued = false;  // on the ready list
  bool dead = false;
  int64_t last_ms = 0;  // when a whole command last ran (or it connected)
  std::string name;     // "ADDRESS:PORT" for the verbose lines
  size_t pending() const { return wbuf.size() - woff; }
};

namespace {

// Tags in epoll data: listeners and the wake descriptor are small integers below this.
constexpr uintptr_t kTagWake = 1;
constexpr uintptr_t kTagListenBase = 2;  // + listener index
constexpr uintptr_t kTagLimit = 1 << 16;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void say(const std::string& line) {
  // One write per line: lines of several threads do not interleave.
  if (::write(2, line.data(), line.size()) < 0) {}  // stderr gone: nothing to tell
}

}  // namespace

Loop::~Loop() {
  for (int fd : inbox_) {  // handed after this thread stopped: never served
    ::close(fd);
    s_.conns_.fetch_sub(1, std::memory_order_relaxed);
  }
  for (Client* c : clients_) {
    if (c->fd >= 0) ::close(c->fd);
    delete c;
  }
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (ep_ >= 0) ::close(ep_);
}

bool Loop::init(std::string* err) {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (ep_ < 0 || wake_fd_ < 0) {
    *err = std::string("epoll: ") + std::strerror(errno);
    return false;
  }
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.u64 = kTagWake;
  if (epoll_ctl(ep_, EPOLL_CTL_ADD, wake_fd_, &e) != 0) {
    *err = std::string("epoll_ctl: ") + std::strerror(errno);
    return false;
  }
  set_listening(true);
  if (!listening_) {
    *err = std::string("epoll_ctl: ") + std::strerror(errno);
    return false;
  }
  rbuf_.resize(kReadBuf);
  return true;
}

void Loop::set_listening(bool on) {
  for (size_t i = 0; i < s_.listeners_.size(); ++i) {
    epoll_event l{};
    l.events = EPOLLIN | EPOLLEXCLUSIVE;
    l.data.u64 = kTagListenBase + i;
    // EPOLLEXCLUSIVE is allowed with ADD only: a pause takes the listener out, a resume puts it
    // back. A resume that failed half-way is retried on the next turn: EEXIST there means the
    // listener is already in, not a failure.
    if (epoll_ctl(ep_, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, s_.listeners_[i].fd, on ? &l : nullptr) != 0 && on &&
        errno != EEXIST)
      return;
  }
  listening_ = on;
}

void Loop::hand(int fd) {
  {
    std::lock_guard<std::mutex> lk(inbox_mu_);
    inbox_.push_back(fd);
  }
  wake();
}

void Loop::drain_inbox() {
  std::vector<int> fds;
  {
    std::lock_guard<std::mutex> lk(inbox_mu_);
    fds.swap(inbox_);
  }
  for (int fd : fds) adopt(fd);
}

void Loop::wake() {
  uint64_t one = 1;
  if (::write(wake_fd_, &one, sizeof one) < 0) {}  // already signalled (counter full): it wakes anyway
}

void Loop::run() {
  attached_ = s_.hooks_.attach(&be_);
  if (!attached_) be_ = proto::Backend{};  // unusable: every command answers that the store is closed
  const uint32_t idle_ms = s_.opt_.idle_timeout_s * 1000;
  const int tick = idle_ms ? int(std::clamp<uint32_t>(idle_ms / 4, 50, 1000)) : 1000;
  int64_t next_sweep = now_ms() + tick;
  epoll_event evs[kMaxEvents];
  for (;;) {
    if (s_.stopping_.load(std::memory_order_acquire) && !stopping_) begin_stop();
    if (stopping_ && (clients_.empty() || now_ms() >= stop_deadline_)) break;
    const bool accepting = s_.accepting_.load(std::memory_order_acquire);
    if (accepting != listening_ && !stopping_) set_listening(accepting);
    int timeout = ready_.empty() ? (stopping_ ? 50 : tick) : 0;
    if (!accepting && !stopping_)  // paused: wake for the retry timer
      timeout = int(std::clamp<int64_t>(s_.resume_at_ms_.load(std::memory_order_relaxed) - now_ms(), 0, timeout));
    int n = epoll_wait(ep_, evs, kMaxEvents, timeout);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      uint64_t tag = evs[i].data.u64;
      if (tag == kTagWake) {
        uint64_t v;
        if (::read(wake_fd_, &v, sizeof v) < 0) {}  // drained by another read: fine
        drain_inbox();
      } else if (tag < kTagLimit) {
        if (!stopping_) accept_all(s_.listeners_[tag - kTagListenBase].fd);
      } else {
        on_client(reinterpret_cast<Client*>(evs[i].data.ptr), evs[i].events);
      }
    }
    // Connections that yielded run again, after everyone else's events of this turn.
    if (!ready_.empty()) {
      ready_next_.swap(ready_);
      ready_.clear();
      for (Client* c : ready_next_) {
        c->queued = false;
        if (c->dead || !c->more || c->pending() > 0) continue;
        process(c, nullptr, 0);
      }
      ready_next_.clear();
    }
    // Reap the connections closed this turn (their epoll entries are gone with their fds).
    if (std::any_of(clients_.begin(), clients_.end(), [](Client* c) { return c->dead; })) {
      auto it = std::remove_if(clients_.begin(), clients_.end(), [](Client* c) {
        if (!c->dead) return false;
        delete c;
        return true;
      });
      clients_.erase(it, clients_.end());
    }
    int64_t t = now_ms();
    if (!stopping_ && !s_.accepting_.load(std::memory_order_relaxed) &&
        t >= s_.resume_at_ms_.load(std::memory_order_relaxed))
      s_.resume_accept();  // the timer: a descriptor may have been freed elsewhere in the process
    if (idle_ms && t >= next_sweep) {
      sweep(t);
      next_sweep = t + tick;
    }
  }
  for (Client* c : clients_)
    if (!c->dead) finish(c, nullptr);
  for (Client* c : clients_) delete c;
  clients_.clear();
  if (attached_) s_.hooks_.detach(&be_);
}

void Loop::accept_all(int lfd) {
  for (int i = 0; i < 64; ++i) {
    if (!s_.accepting_.load(std::memory_order_relaxed)) return;  // paused by another thread this turn
    int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors: the connection stays queued and the listener stays readable, so
      // retrying on the next wake would spin. Pause until one closes (or the retry timer).
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) s_.pause_accept();
      return;  // EAGAIN (another thread took it), or a transient error: epoll says when to try
    }
    if (s_.conns_.fetch_add(1, std::memory_order_relaxed) >= s_.opt_.max_conns) {
      s_.conns_.fetch_sub(1, std::memory_order_relaxed);
      if (::send(fd, kTooMany, sizeof kTooMany - 1, MSG_NOSIGNAL) < 0) {}  // best effort, as memcached
      ::shutdown(fd, SHUT_WR);
      ::close(fd);
      uint64_t counts[proto::kEngineCounters]{};
      counts[proto::kEcRejected] = 1;
      be_.add_counts(counts);
      continue;
    }
    Loop* to = s_.pick(this);
    if (to == this)
      adopt(fd);
    else
      to->hand(fd);
  }
}

void Loop::adopt(int fd) {
  auto* c = new Client();
  c->fd = fd;
  std::string peer_a, local_a, peer_s, local_s;
  int peer_p = 0, local_p = 0;
  sock_name(fd, true, &peer_a, &peer_p);
  sock_name(fd, false, &local_a, &local_p);
  bool unix_sock = peer_p == 0 && local_p == 0;
  if (unix_sock) {
    // A unix client has no address: memcached names both ends by the socket's path.
    const std::string& path = local_a.empty() ? peer_a : local_a;
    peer_s = local_s = "unix:" + path;
    c->name = path;
  } else {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    peer_s = "tcp:" + host_port(peer_a, peer_p);
    local_s = "tcp:" + host_port(local_a, local_p);
    c->name = peer_a + ":" + std::to_string(peer_p);
  }
  c->eng = make_engine(be_, s_.spec_, std::move(peer_s), std::move(local_s));
  c->last_ms = now_ms();
  clients_.push_back(c);
  if (s_.opt_.verbose > 0) say("<" + c->name + " new connection\n");
  epoll_event e{};
  e.events = EPOLLIN | EPOLLRDHUP;
  e.data.ptr = c;
  c->armed = e.events;
  if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &e) != 0) return finish(c, nullptr);
  if (stopping_) settle(c);
}

void Loop::on_client(Client* c, uint32_t ev) {
  if (c->dead) return;
  if (ev & EPOLLERR) return finish(c, nullptr);
  if (ev & EPOLLOUT) {
    if (!flush(c)) return finish(c, nullptr);
    if (c->pending() == 0 && c->more && !c->queued) {
      c->queued = true;
      ready_.push_back(c);
    }
  }
  if ((ev & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) && !c->eof && !c->closing && (c->armed & EPOLLIN)) {
    ssize_t n = ::read(c->fd, rbuf_.data(), rbuf_.size());
    if (n > 0) {
      process(c, rbuf_.data(), size_t(n));
      return;
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      if (n != 0) return finish(c, nullptr);  // reset: nothing can be answered
      c->eof = true;                          // half-close: answer what it sent, then close
    }
  }
  settle(c);
}

void Loop::process(Client* c, const uint8_t* data, size_t n) {
  int32_t* set = s_.spec_.settings;
  const int32_t crawl_was = set ? ld(set, c::kProtoSettingFlags) & c::kProtoSettingFlagLruCrawler : 0;
  // The replies still in wbuf count toward the engine's mark: a run never piles a second
  // mark's worth on them (loop.h).
  int32_t st = drive(*c->eng, set, data, n, c->pending());
  if (st & c::kProtoStateRan) {
    c->last_ms = now_ms();
    if (set && (ld(set, c::kProtoSettingFlags) & c::kProtoSettingFlagLruCrawler) != crawl_was)
      s_.hooks_.notify(kCrawler, crawl_was ? 0 : 1);
  }
  if (c->eng->settings().shutdown_requested) s_.hooks_.notify(kShutdown, int(c->eng->settings().shutdown_requested));
  if (!send_out(c)) return finish(c, nullptr);
  c->eng->trim();  // out_ is empty now (sent, or moved to wbuf)
  if (st & c::kProtoStateClose) c->closing = true;
  c->more = (st & c::kProtoStateMore) != 0;
  if (c->more && !c->queued && c->pending() == 0) {
    c->queued = true;
    ready_.push_back(c);
  }
  settle(c);
}

bool Loop::send_out(Client* c) {
  std::string& out = c->eng->out();
  if (out.empty()) return true;
  if (c->pending() == 0) {
    ssize_t w = ::send(c->fd, out.data(), out.size(), MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN && errno != EINTR) return false;
    size_t took = w < 0 ? 0 : size_t(w);
    if (took == out.size()) {
      out.clear();
      return true;
    }
    c->wbuf.swap(out);
    c->woff = took;
    out.clear();
    return true;
  }
  // Replies still wait: the sent front goes first when it is at least half the buffer or the
  // append would reallocate anyway, so wbuf holds unsent bytes (about the engine's mark, see
  // loop.h), not also a sent prefix, at the cost of moving each byte about once.
  if (c->woff > 0 && (c->woff >= c->pending() || c->wbuf.size() + out.size() > c->wbuf.capacity())) {
    c->wbuf.erase(0, c->woff);
    c->woff = 0;
  }
  c->wbuf.append(out);
  out.clear();
  return true;
}

bool Loop::flush(Client* c) {
  while (c->pending() > 0) {
    ssize_t w = ::send(c->fd, c->wbuf.data() + c->woff, c->pending(), MSG_NOSIGNAL);
    if (w < 0) return errno == EAGAIN || errno == EINTR;
    c->woff += size_t(w);
  }
  // Drained: a buffer grown by a large reply goes back (its engine's too, see trim()).
  if (c->wbuf.capacity() > proto::kBufKeep)
    std::string().swap(c->wbuf);
  else
    c->wbuf.clear();
  c->woff = 0;
  if (c->eng) c->eng->trim();
  return true;
}

void Loop::interest(Client* c) {
  // EPOLLRDHUP only while reading: on a half-closed socket it would fire on every wait. With
  // nothing wanted the connection waits for its ready-list turn only.
  uint32_t want = 0;
  if (!c->eof && !c->closing && !c->more && c->pending() < proto::kOutHigh) want |= EPOLLIN | EPOLLRDHUP;
  if (c->pending() > 0) want |= EPOLLOUT;
  if (want == c->armed) return;
  epoll_event e{};
  e.events = want;
  e.data.ptr = c;
  if (epoll_ctl(ep_, EPOLL_CTL_MOD, c->fd, &e) == 0) c->armed = want;
}

void Loop::settle(Client* c) {
  if (c->dead) return;
  if ((c->closing || c->eof || stopping_) && c->pending() == 0 && (!c->more || c->closing || stopping_))
    return finish(c, nullptr);
  interest(c);
}

void Loop::finish(Client* c, const char* why) {
  if (c->dead) return;
  c->dead = true;
  if (why && s_.opt_.verbose > 0) say("<" + c->name + " " + why + "\n");
  c->eng.reset();  // counts the close into this thread's slot
  ::shutdown(c->fd, SHUT_WR);
  ::close(c->fd);
  c->fd = -1;
  s_.conns_.fetch_sub(1, std::memory_order_relaxed);
  load_.fetch_sub(1, std::memory_order_relaxed);
  if (!s_.accepting_.load(std::memory_order_relaxed)) s_.resume_accept();  // a descriptor is free
  if (s_.opt_.verbose > 0) say("<" + c->name + " connection closed\n");
}

void Loop::begin_stop() {
  stopping_ = true;
  stop_deadline_ = now_ms() + (s_.abort_.load(std::memory_order_acquire) ? 0 : kStopGraceMs);
  if (listening_) set_listening(false);
  for (Client* c : clients_) settle(c);
}

void Loop::sweep(int64_t t) {
  const int64_t idle_ms = int64_t(s_.opt_.idle_timeout_s) * 1000;
  for (Client* c : clients_)
    if (!c->dead && t - c->last_ms >= idle_ms) finish(c, "idle timeout");
}

}  // namespace srv
