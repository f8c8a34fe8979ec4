// conn.cc — see conn.h: the connection's buffers and the loop that hands complete input to the
// text or binary parser.
#include "proto/conn.h"

#include <cstring>
#include <ctime>
#include <utility>

namespace proto {

Conn::Conn(const Backend& b) : Conn(b, nullptr, std::string(), std::string(), nullptr) {}

Conn::Conn(const Backend& b, std::shared_ptr<ServerInfo> srv, std::string addr, std::string listen_addr,
           std::shared_ptr<const AuthStore> auth)
    : b_(b),
      auth_(std::move(auth)),
      srv_(std::move(srv)),
      addr_(std::move(addr)),
      listen_addr_(std::move(listen_addr)) {
  authed_ = !auth_;
  conn_opened();
  last_cmd_.store(int64_t(std::time(nullptr)), std::memory_order_relaxed);
  if (srv_) {
    std::lock_guard<std::mutex> lk(srv_->mu);
    id_ = srv_->next_id++;
    srv_->conns.push_back(this);
  }
  counts_[kEcOpened] = 1;
  b_.add_counts(counts_);
}

Conn::~Conn() {
  counts_[kEcClosed] += 1;
  b_.add_counts(counts_);
  if (srv_) {
    std::lock_guard<std::mutex> lk(srv_->mu);
    auto& v = srv_->conns;
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] == this) {
        v.erase(v.begin() + long(i));
        break;
      }
    }
  }
  conn_closed();
}

void Conn::feed(const uint8_t* data, size_t n) {
  if (closing_) return;
  if (n) {
    in_.append(reinterpret_cast<const char*>(data), n);
    counts_[kEcRead] += n;
    last_cmd_.store(int64_t(std::time(nullptr)), std::memory_order_relaxed);
  }
  run();
}

void Conn::run() {
  more_ = false;
  const size_t out_before = out_.size();
  uint32_t ran = 0;
  while (!closing_ && (rpos_ < in_.size() || state_ == State::kDump)) {
    if (settings_.reqs_per_event != 0 && ran >= settings_.reqs_per_event) {
      more_ = true;  // -R: yield; the host calls run() again on its next turn
      break;
    }
    // The unsent replies: this run's and those the host still holds from earlier runs.
    const size_t unsent = out_.size() + unsent_;
    if (unsent >= kOutHigh || (state_ == State::kDump && unsent >= kDumpHigh)) {
      more_ = true;
      break;
    }
    if (state_ == State::kDump) {
      // Later commands wait for the dump's end, as they wait for any reply before theirs.
      if (!dump_step()) break;
      ++commands_;  // a batch taken by a client that reads keeps it from the idle timeout
      continue;
    }
    if (state_ == State::kSwallow) {
      size_t avail = in_.size() - rpos_;
      size_t take = swallow_ < avail ? size_t(swallow_) : avail;
      rpos_ += take;
      swallow_ -= take;
      if (swallow_ == 0) state_ = State::kCommand;
      continue;
    }
    if (proto_ == Proto::kUnknown) {
      // -B: a server limited to one protocol reads every connection as that one (memcached).
      bool bin = settings_.binary_ok && (!settings_.text_ok || uint8_t(in_[rpos_]) == 0x80);
      proto_ = bin ? Proto::kBinary : Proto::kText;
    }
    bool value = state_ == State::kValue;
    bool progressed = proto_ == Proto::kBinary ? binary_step() : authed_ ? text_step() : text_auth_step();
    if (!progressed) break;
    ++commands_;
    if (!value) ++ran;
  }
  if (closing_) {
    in_.clear();
    rpos_ = 0;
  } else if (rpos_ == in_.size()) {
    in_.clear();
    rpos_ = 0;
  } else if (rpos_ > 0 && (rpos_ >= 64 * 1024 || rpos_ * 2 >= in_.size())) {
    in_.erase(0, rpos_);
    rpos_ = 0;
  }
  if (out_.size() > out_before) counts_[kEcWritten] += out_.size() - out_before;
  if (more_) counts_[kEcYields] += 1;
  b_.add_counts(counts_);
  publish_state();
}

void Conn::trim_grown() {
  // Fresh, empty objects rather than shrink_to_fit: the release is then certain, not a request.
  if (out_.empty() && out_.capacity() > kBufKeep) std::string().swap(out_);
  if (in_.capacity() > kBufKeep) {
    // Only a small partial command left (memcached moves it to a small buffer too): it moves to
    // a fresh string; every reader of in_ works from rpos_, so offsets stay right.
    const size_t left = in_.size() - rpos_;
    if (left == 0) {
      std::string().swap(in_);
      rpos_ = 0;
    } else if (left <= kBufKeep / 2) {
      std::string rest(in_, rpos_);
      in_.swap(rest);
      rpos_ = 0;
    }
  }
  if (stage_.size() > kBufKeep) std::vector<uint8_t>().swap(stage_);  // the next fetch sizes it to 64 KiB
}

namespace {
enum Shown : uint8_t { kShownWaiting, kShownNread, kShownSwallow, kShownClosing };
}  // namespace

void Conn::publish_state() {
  uint8_t v = closing_                    ? kShownClosing
              : state_ == State::kValue   ? kShownNread
              : state_ == State::kSwallow ? kShownSwallow
                                          : kShownWaiting;
  if (shown_.load(std::memory_order_relaxed) != v) shown_.store(v, std::memory_order_relaxed);
}

void Conn::describe(shm::StatList& l, bool self) const {
  // Another connection's state is read from what its thread published (shown_), never from its
  // live fields: it may be running on another loop thread right now.
  const uint8_t shown = self ? 0 : shown_.load(std::memory_order_relaxed);
  const char* st = (self ? closing_ : shown == kShownClosing) ? "conn_closing"
                   : self                                     ? "conn_parse_cmd"
                   : shown == kShownNread                     ? "conn_nread"
                   : shown == kShownSwallow                   ? "conn_swallow"
                                                              : "conn_waiting";
  int64_t now = int64_t(std::time(nullptr));
  int64_t last = last_cmd_.load(std::memory_order_relaxed);
  std::string p = std::to_string(id_) + ":";
  l.emplace_back(p + "addr", addr_);
  if (!listen_addr_.empty()) l.emplace_back(p + "listen_addr", listen_addr_);
  l.emplace_back(p + "state", st);
  l.emplace_back(p + "secs_since_last_cmd", std::to_string(now > last ? now - last : 0));
}

int32_t Conn::fetch(const uint8_t* key, uint32_t nkey, bool touch, int64_t ttl, shm::ItemMeta* meta) {
  if (stage_.size() < 64 * 1024) stage_.resize(64 * 1024);
  for (int tries = 0;; ++tries) {
    int32_t r = b_.get(key, nkey, touch, ttl, stage_.data(), uint32_t(stage_.size()), meta);
    if (r != shm::kBufferSmall || tries == 4) return r == shm::kBufferSmall ? int32_t(shm::kMiss) : r;
    stage_.resize(meta->vlen);  // grew since: try again with room for it
  }
}

uint32_t Conn::value_floor() {
  if (value_floor_ == 0 && b_.usable()) value_floor_ = b_.max_value_len(kKeyMax);
  return value_floor_;
}

uint64_t Conn::peek_cas(const uint8_t* key, uint32_t nkey, uint32_t* vlen) {
  shm::MetaGetOptions req;
  req.no_bump = true;
  shm::MetaView v;
  if (stage_.size() < 64 * 1024) stage_.resize(64 * 1024);
  for (int tries = 0; tries < 4; ++tries) {
    int32_t r = b_.meta_get(key, nkey, req, stage_.data(), uint32_t(stage_.size()), &v);
    if (r == shm::kOk) {
      if (vlen) *vlen = v.vlen;
      return v.cas;
    }
    if (r != shm::kBufferSmall) return 0;
    stage_.resize(v.vlen);
  }
  return 0;
}

void Conn::store_closed() {
  out_ += "SERVER_ERROR store closed\r\n";
  closing_ = true;
}

}  // namespace proto
