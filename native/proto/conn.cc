// conn.cc — see conn.h: the connection's buffers and the loop that hands complete input to the
// text or binary parser.
#include "proto/conn.h"

#include <cstring>

namespace proto {

Conn::Conn(const Backend& b) : b_(b) { conn_opened(); }
Conn::~Conn() { conn_closed(); }

void Conn::feed(const uint8_t* data, size_t n) {
  if (closing_) return;
  if (n) in_.append(reinterpret_cast<const char*>(data), n);
  run();
}

void Conn::run() {
  more_ = false;
  uint32_t ran = 0;
  while (!closing_ && rpos_ < in_.size()) {
    if (settings_.reqs_per_event != 0 && ran >= settings_.reqs_per_event) {
      more_ = true;  // -R: yield; the host calls run() again on its next turn
      break;
    }
    if (out_.size() >= kOutHigh) {
      more_ = true;
      break;
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
    bool progressed = proto_ == Proto::kText ? text_step() : binary_step();
    if (!progressed) break;
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
}

int32_t Conn::fetch(const uint8_t* key, uint32_t nkey, bool touch, int64_t ttl, shm::ItemMeta* meta) {
  if (stage_.size() < 64 * 1024) stage_.resize(64 * 1024);
  for (int tries = 0;; ++tries) {
    int32_t r = b_.get(key, nkey, touch, ttl, stage_.data(), uint32_t(stage_.size()), meta);
    if (r != shm::kBufferSmall || tries == 4) return r == shm::kBufferSmall ? int32_t(shm::kMiss) : r;
    stage_.resize(meta->vlen);  // grew since: try again with room for it
  }
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
