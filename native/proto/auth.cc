// auth.cc — see auth.h: the credential store, its constant-time check, the auth counters, and
// the two ways a connection authenticates: memcached's text convention (a `set` of any key whose
// data block is "username password") and binary SASL PLAIN.
#include "proto/auth.h"

#include <atomic>
#include <cstring>

#include "proto/conn.h"

namespace proto {

namespace {

std::atomic<uint64_t> g_auth_cmds{0};
std::atomic<uint64_t> g_auth_errors{0};

constexpr size_t kAuthTokenMax = 16384;  // memcached's MAX_AUTH_REQ_LEN
constexpr size_t kAuthLineMin = 6;       // memcached's MIN_AUTH_REQ_LEN: shorter lines close

// 0 when the len bytes at a equal the stored bytes b (blen of them), else nonzero; the time
// depends on blen only (the stored side), never on where a guess differs.
unsigned ct_diff(const char* a, size_t alen, const std::string& b) {
  unsigned d = unsigned(alen != b.size());
  for (size_t i = 0; i < b.size(); ++i) {
    unsigned char x = i < alen ? static_cast<unsigned char>(a[i]) : 0;
    d |= x ^ static_cast<unsigned char>(b[i]);
  }
  return d;
}

// memcached's mcmc_toktou32: digits only, no overflow.
bool tok_u32(const char* s, size_t n, uint32_t* out) {
  if (n == 0 || n > 10) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + uint64_t(s[i] - '0');
  }
  if (v > 0xffffffffu) return false;
  *out = uint32_t(v);
  return true;
}

}  // namespace

bool auth_parse(const char* data, size_t n, AuthStore* out) {
  std::vector<std::pair<std::string, std::string>> users;
  size_t i = 0;
  while (i < n) {
    const char* nl = static_cast<const char*>(std::memchr(data + i, '\n', n - i));
    size_t end = nl ? size_t(nl - data) : n;
    size_t len = end - i;
    if (len > 0 && data[i + len - 1] == '\r') --len;
    if (len > 0) {
      const char* colon = static_cast<const char*>(std::memchr(data + i, ':', len));
      if (!colon) return false;
      size_t ulen = size_t(colon - (data + i));
      users.emplace_back(std::string(data + i, ulen), std::string(colon + 1, len - ulen - 1));
    }
    i = end + 1;
  }
  out->users = std::move(users);
  return true;
}

bool auth_check(const AuthStore& store, const char* user, size_t ulen, const char* pass, size_t plen) {
  unsigned any = 0;
  for (const auto& e : store.users) {
    unsigned d = ct_diff(user, ulen, e.first) | ct_diff(pass, plen, e.second);
    any |= unsigned(d == 0);
  }
  return any != 0;
}

void auth_counted(bool ok) {
  g_auth_cmds.fetch_add(1, std::memory_order_relaxed);
  if (!ok) g_auth_errors.fetch_add(1, std::memory_order_relaxed);
}
uint64_t auth_cmds() { return g_auth_cmds.load(std::memory_order_relaxed); }
uint64_t auth_errors() { return g_auth_errors.load(std::memory_order_relaxed); }

// memcached's try_read_command_asciiauth: until the client authenticates, the only command is
// "set <any> <any> <any> <N>" followed by an N-byte "user pass" block; any other line answers
// "CLIENT_ERROR unauthenticated", a line under 6 bytes or 2048 bytes without a newline closes.
bool Conn::text_auth_step() {
  size_t avail = in_.size() - rpos_;
  if (!auth_data_) {
    if (avail < 3) return false;
    char* st = &in_[rpos_];
    char* el = static_cast<char*>(std::memchr(st, '\n', avail));
    if (!el) {
      if (avail > kLineMax) {
        closing_ = true;
        out_.clear();
      }
      return false;
    }
    size_t len = size_t(el - st);  // without the '\n'
    if (len < kAuthLineMin) {
      closing_ = true;
      return false;
    }
    rpos_ += len + 1;
    // mcmc's tokenizer: the line's last byte is dropped (its '\r', or without one its last
    // character: memcached's own quirk), tokens split on spaces.
    size_t end = st[len - 2] == '\r' ? len - 2 : len - 1;
    const char* tok[5] = {};
    size_t tlen[5] = {};
    size_t nt = 0;
    for (size_t i = 0; i < end && nt < 5;) {
      while (i < end && st[i] == ' ') ++i;
      if (i >= end) break;
      size_t s = i;
      while (i < end && st[i] != ' ') ++i;
      tok[nt] = st + s;
      tlen[nt] = i - s;
      ++nt;
    }
    uint32_t size = 0;
    if (nt < 5 || std::strncmp(st, "set", 3) != 0 || !tok_u32(tok[4], tlen[4], &size)) {
      out_ += "CLIENT_ERROR unauthenticated\r\n";
      return true;
    }
    if (size > kAuthTokenMax) {
      out_ += "CLIENT_ERROR auth token too long\r\n";
      return true;
    }
    auth_need_ = size + 2;
    auth_data_ = true;
    return true;
  }
  if (avail < auth_need_) return false;
  const char* cont = &in_[rpos_];
  size_t need = auth_need_;
  rpos_ += need;
  auth_data_ = false;
  if (cont[need - 2] != '\r' || cont[need - 1] != '\n') {
    out_ += "CLIENT_ERROR bad command line termination\r\n";
    return true;
  }
  const char* mid = static_cast<const char*>(std::memchr(cont, ' ', need));
  if (!mid) {
    out_ += "CLIENT_ERROR bad authentication token format\r\n";
    return true;
  }
  size_t ulen = size_t(mid - cont);
  bool ok = auth_check(*auth_, cont, ulen, mid + 1, need - 2 - ulen - 1);
  auth_counted(ok);
  if (ok) {
    authed_ = true;
    out_ += "STORED\r\n";
  } else {
    out_ += "CLIENT_ERROR authentication failure\r\n";
  }
  return true;
}

// Binary SASL (opcodes 0x20 list mechanisms, 0x21 auth, 0x22 step), PLAIN only. The packet is
// fully buffered and already consumed; returns false when the connection must close.
bool Conn::bin_sasl(uint8_t op, uint32_t opaque, const uint8_t* key, uint16_t nkey, const uint8_t* val, uint32_t vlen) {
  constexpr uint16_t kAuthError = 0x20;
  auto put_header = [&](uint16_t status, uint32_t bodylen) {
    const uint8_t h[24] = {0x81,
                           op,
                           0,
                           0,
                           0,
                           0,
                           uint8_t(status >> 8),
                           uint8_t(status),
                           uint8_t(bodylen >> 24),
                           uint8_t(bodylen >> 16),
                           uint8_t(bodylen >> 8),
                           uint8_t(bodylen),
                           uint8_t(opaque >> 24),
                           uint8_t(opaque >> 16),
                           uint8_t(opaque >> 8),
                           uint8_t(opaque)};
    out_.append(reinterpret_cast<const char*>(h), sizeof h);
  };
  auto reply = [&](uint16_t status, const char* body) {
    size_t n = std::strlen(body);
    put_header(status, uint32_t(n));
    out_.append(body, n);
  };
  if (op == 0x20) {
    reply(0, "PLAIN");
    return true;
  }
  bool ok = false;
  // PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd; an authzid other than empty or the
  // authcid is refused (no proxy authorization).
  if (op == 0x21 && nkey == 5 && std::memcmp(key, "PLAIN", 5) == 0) {
    const char* p = reinterpret_cast<const char*>(val);
    const char* z1 = static_cast<const char*>(std::memchr(p, '\0', vlen));
    if (z1) {
      const char* user = z1 + 1;
      size_t rest = vlen - size_t(user - p);
      const char* z2 = static_cast<const char*>(std::memchr(user, '\0', rest));
      if (z2) {
        size_t ulen = size_t(z2 - user);
        size_t zlen = size_t(z1 - p);
        const char* pass = z2 + 1;
        size_t plen = rest - ulen - 1;
        bool authz_ok = zlen == 0 || (zlen == ulen && std::memcmp(p, user, ulen) == 0);
        ok = auth_check(*auth_, user, ulen, pass, plen) && authz_ok;
      }
    }
  }
  auth_counted(ok);
  if (ok) {
    authed_ = true;
    reply(0, "Authenticated");
  } else {
    reply(kAuthError, "Auth failure.");
  }
  return true;
}

void Conn::add_auth_stats(int group, shm::StatList* l) const {
  // At memcached's places: after store_no_memory in `stats`, after binding_protocol in settings.
  auto put_after = [l](const char* key, shm::StatList add) {
    auto at = l->end();
    for (auto it = l->begin(); it != l->end(); ++it)
      if (it->first == key) at = it + 1;
    l->insert(at, add.begin(), add.end());
  };
  if (group == 0) {
    put_after("store_no_memory",
              {{"auth_cmds", std::to_string(auth_cmds())}, {"auth_errors", std::to_string(auth_errors())}});
  } else if (group == 3) {
    put_after("binding_protocol", {{"auth_enabled_sasl", auth_ && auth_->sasl ? "yes" : "no"},
                                   {"auth_enabled_ascii", auth_ ? auth_->ascii_label : "no"}});
  }
}

}  // namespace proto
