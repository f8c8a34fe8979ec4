// binary.cc — memcached's binary protocol (proto_bin.c's rules re-derived, checked against a real
// memcached): 24-byte request headers, every opcode memccapable exercises and their quiet forms,
// memcached's packet-shape checks (a malformed packet gets "Invalid arguments" and the
// connection is closed, as memcached does), unknown opcodes answered and their body skipped.
//
// Invariants: a packet is executed only when all of it is buffered, except a storage packet
// whose value is too large: that is answered as soon as its key is in, and its value is
// swallowed (never buffered). Bodies the engine would have to buffer are bounded by the item
// size; anything else larger is a protocol error. Keys with bytes the store refuses (spaces,
// control characters) are misses for reads and "Invalid arguments" for writes.
#include <cstdio>
#include <cstring>

#include "proto/conn.h"
#include "proto/detail.h"
#include "proto/version.h"

namespace proto {

namespace {

enum Op : uint8_t {
  kGet = 0x00,
  kSet = 0x01,
  kAdd = 0x02,
  kReplace = 0x03,
  kDelete = 0x04,
  kIncr = 0x05,
  kDecr = 0x06,
  kQuit = 0x07,
  kFlush = 0x08,
  kGetQ = 0x09,
  kNoop = 0x0a,
  kVersion = 0x0b,
  kGetK = 0x0c,
  kGetKQ = 0x0d,
  kAppend = 0x0e,
  kPrepend = 0x0f,
  kStat = 0x10,
  kSetQ = 0x11,
  kAddQ = 0x12,
  kReplaceQ = 0x13,
  kDeleteQ = 0x14,
  kIncrQ = 0x15,
  kDecrQ = 0x16,
  kQuitQ = 0x17,
  kFlushQ = 0x18,
  kAppendQ = 0x19,
  kPrependQ = 0x1a,
  kTouch = 0x1c,
  kGat = 0x1d,
  kGatQ = 0x1e,
  kGatK = 0x23,
  kGatKQ = 0x24,
  kSaslList = 0x20,  // SASL (auth.cc): offered only when the server has a credential store and -S
  kSaslAuth = 0x21,
  kSaslStep = 0x22,
};

enum St : uint16_t {
  kOkSt = 0x00,
  kNotFound = 0x01,
  kExistsSt = 0x02,
  kTooBig = 0x03,
  kInval = 0x04,
  kNotStoredSt = 0x05,
  kBadDelta = 0x06,
  kUnknown = 0x81,
  kNoMem = 0x82,
  kAuthErr = 0x20,
};

constexpr size_t kHdr = 24;
constexpr uint32_t kSmallBodyMax = 64 * 1024;  // bodies of non-storage packets we agree to buffer

inline uint16_t be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline uint32_t be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
inline uint64_t be64(const uint8_t* p) { return uint64_t(be32(p)) << 32 | be32(p + 4); }
inline void put16(std::string& o, uint16_t v) {
  o += char(v >> 8);
  o += char(v);
}
inline void put32(std::string& o, uint32_t v) {
  put16(o, uint16_t(v >> 16));
  put16(o, uint16_t(v));
}
inline void put64(std::string& o, uint64_t v) {
  put32(o, uint32_t(v >> 32));
  put32(o, uint32_t(v));
}

// The non-quiet opcode of a quiet one (and whether it was quiet).
uint8_t base_op(uint8_t op, bool* quiet) {
  *quiet = true;
  switch (op) {
    case kGetQ: return kGet;
    case kGetKQ: return kGetK;
    case kSetQ: return kSet;
    case kAddQ: return kAdd;
    case kReplaceQ: return kReplace;
    case kDeleteQ: return kDelete;
    case kIncrQ: return kIncr;
    case kDecrQ: return kDecr;
    case kQuitQ: return kQuit;
    case kFlushQ: return kFlush;
    case kAppendQ: return kAppend;
    case kPrependQ: return kPrepend;
    case kGatQ: return kGat;
    case kGatKQ: return kGatK;
    default: *quiet = false; return op;
  }
}

const char* err_text(uint16_t st) {
  switch (st) {
    case kNoMem: return "Out of memory";
    case kUnknown: return "Unknown command";
    case kNotFound: return "Not found";
    case kInval: return "Invalid arguments";
    case kExistsSt: return "Data exists for key.";
    case kTooBig: return "Too large.";
    case kBadDelta: return "Non-numeric server-side value for incr or decr";
    case kNotStoredSt: return "Not stored.";
    case kAuthErr: return "Auth failure.";
    default: return "UNHANDLED ERROR";
  }
}

}  // namespace

void Conn::bin_header(uint8_t op, uint16_t status, uint8_t extlen, uint16_t keylen, uint32_t bodylen, uint32_t opaque,
                      uint64_t cas) {
  out_ += char(0x81);
  out_ += char(op);
  put16(out_, keylen);
  out_ += char(extlen);
  out_ += char(0);
  put16(out_, status);
  put32(out_, bodylen);
  put32(out_, opaque);
  put64(out_, cas);
}

void Conn::bin_error(uint8_t op, uint16_t status, uint32_t opaque) {
  const char* t = err_text(status);
  uint32_t n = uint32_t(std::strlen(t));
  bin_header(op, status, 0, 0, n, opaque, 0);
  out_.append(t, n);
}

void Conn::bin_stats(uint8_t op, uint32_t opaque, const uint8_t* key, uint16_t nkey) {
  std::string sub(reinterpret_cast<const char*>(key), nkey);
  auto stat = [&](const std::string& k, const std::string& v) {
    bin_header(op, 0, 0, uint16_t(k.size()), uint32_t(k.size() + v.size()), opaque, 0);
    out_ += k;
    out_ += v;
  };
  auto starts = [&](const char* w) { return sub.compare(0, std::strlen(w), w) == 0; };
  shm::StatList l;
  // memcached's process_bin_stat: reset, settings and detail match as prefixes of the key; the
  // store's groups (items, slabs, sizes) exactly; anything else is "not found".
  if (nkey == 0) {
    if (!stats_group(0, &l)) return store_closed();
  } else if (starts("reset")) {
    if (!b_.stats(4, &l)) return store_closed();
  } else if (starts("settings")) {
    if (!stats_group(3, &l)) return store_closed();
  } else if (starts("detail")) {
    std::string verb = sub.substr(6);
    if (verb.compare(0, 5, " dump") == 0)
      l.emplace_back("detailed", detail_dump());
    else if (verb.compare(0, 3, " on") == 0)
      detail_enable(true);
    else if (verb.compare(0, 4, " off") == 0)
      detail_enable(false);
    else
      return bin_error(op, kNotFound, opaque);
  } else if (sub == "items" || sub == "slabs") {
    if (!stats_group(sub == "items" ? 2 : 1, &l)) return store_closed();
  } else if (sub == "sizes") {
    l.emplace_back("sizes_status", "disabled");
  } else {
    return bin_error(op, kNotFound, opaque);
  }
  for (auto& kv : l) stat(kv.first, kv.second);
  bin_header(op, 0, 0, 0, 0, opaque, 0);  // the terminating empty stat
}

bool Conn::binary_step() {
  size_t avail = in_.size() - rpos_;
  if (avail < kHdr) return false;
  const uint8_t* p = reinterpret_cast<const uint8_t*>(&in_[rpos_]);
  if (p[0] != 0x80) {  // memcached closes a binary connection on a bad magic byte
    closing_ = true;
    return false;
  }
  const uint8_t op = p[1];
  const uint16_t keylen = be16(p + 2);
  const uint8_t extlen = p[4];
  const uint32_t bodylen = be32(p + 8);
  const uint32_t opaque = be32(p + 12);
  const uint64_t cas = be64(p + 16);
  auto protocol_error = [&] {
    bin_error(op, kInval, opaque);
    closing_ = true;
    return false;
  };
  if (keylen > bodylen || uint32_t(keylen) + extlen > bodylen) {
    bin_error(op, kUnknown, opaque);
    closing_ = true;
    return false;
  }
  const bool sasl = auth_ && auth_->sasl && (op == kSaslList || op == kSaslAuth || op == kSaslStep);
  if (!authed_ && op != kVersion && !sasl) {
    // memcached: before SASL succeeds only SASL and VERSION run; anything else is refused and closes.
    bin_error(op, kAuthErr, opaque);
    closing_ = true;
    return false;
  }
  if (keylen > kKeyMax) return protocol_error();
  bool quiet;
  const uint8_t cmd = base_op(op, &quiet);
  const uint32_t vlen = bodylen - keylen - extlen;

  // Unknown: answer, then skip its body.
  auto unknown = [&] {
    bin_error(op, kUnknown, opaque);
    rpos_ += kHdr;
    swallow_ = bodylen;
    if (swallow_) state_ = State::kSwallow;
    return true;
  };

  // Shape checks (memcached's dispatch_bin_command).
  bool ok = true;
  bool storage = false;
  switch (cmd) {
    case kVersion:
    case kNoop:
    case kQuit: ok = extlen == 0 && keylen == 0 && bodylen == 0; break;
    case kFlush: ok = keylen == 0 && bodylen == extlen && (extlen == 0 || extlen == 4); break;
    case kSet:
    case kAdd:
    case kReplace:
      ok = extlen == 8 && keylen != 0;
      storage = true;
      break;
    case kGet:
    case kGetK: ok = extlen == 0 && bodylen == keylen && keylen > 0; break;
    case kDelete: ok = keylen > 0 && extlen == 0 && bodylen == keylen; break;
    case kIncr:
    case kDecr: ok = keylen > 0 && extlen == 20 && bodylen == uint32_t(keylen) + extlen; break;
    case kAppend:
    case kPrepend:
      ok = keylen > 0 && extlen == 0;
      storage = true;
      break;
    case kStat: ok = extlen == 0 && bodylen <= kSmallBodyMax; break;
    case kSaslList:
    case kSaslAuth:
    case kSaslStep:
      if (!sasl) return unknown();  // not offered on this server
      ok = op == kSaslList ? extlen == 0 && keylen == 0 && bodylen == 0
                           : extlen == 0 && keylen != 0 && bodylen <= kSmallBodyMax;
      if (ok && keylen > 32) {  // memcached's MAX_SASL_MECH_LEN: answered, the body swallowed
        bin_error(op, kInval, opaque);
        rpos_ += kHdr;
        swallow_ = bodylen;
        if (swallow_) state_ = State::kSwallow;
        return true;
      }
      break;
    case kTouch:
    case kGat:
    case kGatK: ok = extlen == 4 && keylen != 0 && bodylen == uint32_t(keylen) + extlen; break;
    default: return unknown();
  }
  if (!ok) return protocol_error();

  if (storage) {
    if (avail < kHdr + extlen + keylen) return false;
    const uint8_t* key = p + kHdr + extlen;
    if (!key_valid(key, keylen) || vlen > b_.max_value_len(keylen)) {
      if (!b_.usable()) {
        store_closed();
        return false;
      }
      if (!key_valid(key, keylen)) {
        bin_error(op, kInval, opaque);
      } else {
        bin_error(op, kTooBig, opaque);
        counts_[kEcTooLarge] += 1;
        if (cmd == kSet) b_.del(key, keylen);  // memcached drops the old value of a failed set
      }
      rpos_ += kHdr + extlen + keylen;
      swallow_ = vlen;
      if (swallow_) state_ = State::kSwallow;
      return true;
    }
  }
  if (avail < kHdr + uint64_t(bodylen)) return false;
  const uint8_t* ext = p + kHdr;
  const uint8_t* key = ext + extlen;
  const uint8_t* val = key + keylen;
  rpos_ += kHdr + bodylen;

  switch (cmd) {
    case kSaslList:
    case kSaslAuth:
    case kSaslStep: return bin_sasl(op, opaque, key, keylen, val, vlen);
    case kVersion: {
      const char* v = SHMCACHED_PROTO_VERSION;
      bin_header(op, 0, 0, 0, uint32_t(std::strlen(v)), opaque, 0);
      out_ += v;
      return true;
    }
    case kNoop: bin_header(op, 0, 0, 0, 0, opaque, 0); return true;
    case kQuit:
      if (!quiet) bin_header(op, 0, 0, 0, 0, opaque, 0);
      closing_ = true;
      return false;
    case kFlush: {
      int64_t delay = extlen == 4 ? int64_t(be32(ext)) : 0;  // binary times are unsigned
      if (b_.flush_all(delay > 0 ? delay : 0) != 0) {
        store_closed();
        return false;
      }
      if (!quiet) bin_header(op, 0, 0, 0, 0, opaque, 0);
      return true;
    }
    case kGet:
    case kGetK:
    case kTouch:
    case kGat:
    case kGatK: {
      const bool touch = cmd == kTouch || cmd == kGat || cmd == kGatK;
      const bool with_key = cmd == kGetK || cmd == kGatK;
      const int64_t exptime = touch ? int64_t(be32(ext)) : 0;
      shm::ItemMeta m{};
      int32_t r = fetch(key, keylen, touch, exptime, &m);
      if (r == kStoreClosed || r == kGateBusy) {
        store_closed();
        return false;
      }
      if (r == shm::kOk) {
        const uint32_t body = 4 + (with_key ? keylen : 0) + (cmd == kTouch ? 0 : m.vlen);
        bin_header(op, 0, 4, with_key ? keylen : 0, body, opaque, m.cas);
        put32(out_, m.flags);
        if (with_key) out_.append(reinterpret_cast<const char*>(key), keylen);
        if (cmd != kTouch) out_.append(reinterpret_cast<const char*>(stage_.data()), m.vlen);
      } else if (!quiet) {
        if (with_key) {
          bin_header(op, kNotFound, 0, keylen, keylen, opaque, 0);
          out_.append(reinterpret_cast<const char*>(key), keylen);
        } else {
          bin_error(op, kNotFound, opaque);
        }
      }
      return true;
    }
    case kSet:
    case kAdd:
    case kReplace:
    case kAppend:
    case kPrepend: {
      shm::StoreCmd sc = cmd == kSet       ? shm::StoreCmd::kSet
                         : cmd == kAdd     ? shm::StoreCmd::kAdd
                         : cmd == kReplace ? shm::StoreCmd::kReplace
                         : cmd == kAppend  ? shm::StoreCmd::kAppend
                                           : shm::StoreCmd::kPrepend;
      uint32_t flags = 0;
      int64_t exptime = 0;
      if (extlen == 8) {
        flags = be32(ext);
        exptime = int64_t(be32(ext + 4));
      }
      if (cas != 0 && extlen == 8) sc = shm::StoreCmd::kCas;  // memcached: a CAS in the header makes it a cas
      uint64_t cas_out = 0;
      // An append/prepend's CAS is checked by the core under the same lock as the store.
      int32_t r = b_.store(sc, key, keylen, val, vlen, flags, exptime, cas, &cas_out);
      switch (r) {
        case shm::kOk:
          if (!quiet) bin_header(op, 0, 0, 0, 0, opaque, cas_out);
          return true;
        case shm::kExists: bin_error(op, kExistsSt, opaque); return true;
        case shm::kMiss: bin_error(op, kNotFound, opaque); return true;
        case shm::kNotStored:
          bin_error(op, cmd == kAdd ? kExistsSt : cmd == kReplace ? kNotFound : kNotStoredSt, opaque);
          return true;
        case shm::kTooLarge:
          counts_[kEcTooLarge] += 1;
          bin_error(op, kTooBig, opaque);
          return true;
        case shm::kNoMemory:
          counts_[kEcNoMemory] += 1;
          bin_error(op, kNoMem, opaque);
          return true;
        case shm::kBadKey: bin_error(op, kInval, opaque); return true;
        default: store_closed(); return false;
      }
    }
    case kDelete: {
      // memcached deletes only when a given CAS matches: the core checks it under the same lock.
      shm::MetaDeleteOptions del;
      del.has_cas = cas != 0;
      del.cas = cas;
      int32_t r = cas != 0 ? b_.meta_delete(key, keylen, del) : b_.del(key, keylen);
      if (r == shm::kExists) {
        bin_error(op, kExistsSt, opaque);
      } else if (r == shm::kOk) {
        if (!quiet) bin_header(op, 0, 0, 0, 0, opaque, 0);
      } else if (r == shm::kMiss || r == shm::kBadKey) {
        bin_error(op, kNotFound, opaque);
      } else {
        store_closed();
        return false;
      }
      return true;
    }
    case kIncr:
    case kDecr: {
      const uint64_t delta = be64(ext), initial = be64(ext + 8);
      const uint32_t exptime = be32(ext + 16);
      uint64_t result = 0;
      int32_t r = b_.delta(key, keylen, cmd == kIncr, delta, &result);
      if ((r == shm::kMiss || r == shm::kBadKey) && exptime != 0xffffffffu && r != shm::kBadKey) {
        // Missing: created with the initial value (memcached), unless the expiration is all ones.
        char digits[24];
        int n = std::snprintf(digits, sizeof digits, "%llu", static_cast<unsigned long long>(initial));
        uint64_t cas_out = 0;
        int32_t s = b_.store(shm::StoreCmd::kAdd, key, keylen, reinterpret_cast<const uint8_t*>(digits), uint32_t(n), 0,
                             int64_t(exptime), 0, &cas_out);
        if (s == shm::kOk) {
          if (!quiet) {
            bin_header(op, 0, 0, 0, 8, opaque, cas_out);
            put64(out_, initial);
          }
          return true;
        }
        if (s == shm::kNotStored) {  // raced with a creator: apply the delta to its value
          r = b_.delta(key, keylen, cmd == kIncr, delta, &result);
        } else {
          bin_error(op, s == shm::kNoMemory ? kNoMem : kNotStoredSt, opaque);
          return true;
        }
      }
      switch (r) {
        case shm::kOk: {
          if (quiet) return true;
          bin_header(op, 0, 0, 0, 8, opaque, peek_cas(key, keylen));
          put64(out_, result);
          return true;
        }
        case shm::kMiss:
        case shm::kBadKey: bin_error(op, kNotFound, opaque); return true;
        case shm::kNonNumeric: bin_error(op, kBadDelta, opaque); return true;
        case shm::kNoMemory: bin_error(op, kNoMem, opaque); return true;
        default: store_closed(); return false;
      }
    }
    case kStat: bin_stats(op, opaque, key, keylen); return true;
  }
  return true;
}

}  // namespace proto
