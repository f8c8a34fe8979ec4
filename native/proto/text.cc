// text.cc — memcached's text protocol (1.6.18 semantics, proto_text.c's rules re-derived and
// checked against a real memcached): line framing, command dispatch with memcached's token-count
// checks, storage commands and their data blocks, retrieval, arithmetic, delete, touch,
// flush_all, verbosity, version, stats, quit. Meta commands (two letters starting with 'm') go
// to meta.cc.
//
// Invariants: a line is parsed in place in the connection's private buffer (NUL-terminated like
// memcached's, so a NUL byte ends the command as strlen() would); every error is one of
// memcached's messages and stores nothing; noreply suppresses exactly the replies memcached
// suppresses (errors included); a storage command whose value is too large answers at once and
// swallows the value's bytes, so they are never read as commands.
#include <cstdio>
#include <cstring>
#include <ctime>

#include "proto/conn.h"
#include "proto/detail.h"
#include "proto/version.h"

namespace proto {

namespace {
inline bool eq(const Token& t, const char* s) { return t.value && std::strcmp(t.value, s) == 0; }
inline const uint8_t* u8(const char* p) { return reinterpret_cast<const uint8_t*>(p); }

}  // namespace

void Conn::out_line(const char* s) {
  if (noreply_) {
    noreply_ = false;
    return;
  }
  out_ += s;
  out_ += "\r\n";
}

bool Conn::set_noreply(Token* t, size_t nt) {
  const Token& last = t[nt - 2];
  if (last.value && std::strcmp(last.value, "noreply") == 0) noreply_ = true;
  return noreply_;
}

bool Conn::text_step() {
  size_t avail = in_.size() - rpos_;
  if (avail == 0) return false;
  if (state_ == State::kValue) {
    if (avail < uint64_t(pend_.vlen) + 2) return false;
    text_value_done();
    return true;
  }
  char* start = &in_[rpos_];
  size_t from = scanned_ < avail ? scanned_ : 0;
  char* nl = static_cast<char*>(std::memchr(start + from, '\n', avail - from));
  if (!nl) {
    scanned_ = avail;  // next time, search only what arrives after this
    if (avail > kLineMax) {
      // memcached: only a large multi-get may be this long; anything else closes.
      const char* p = start;
      while (*p == ' ' && p - start < 101) ++p;
      if (p - start > 100 || (std::strncmp(p, "get ", 4) != 0 && std::strncmp(p, "gets ", 5) != 0) ||
          avail > kGetLineMax) {
        closing_ = true;
        out_.clear();  // memcached hangs up without sending the replies of this read either
      }
    }
    return false;
  }
  size_t len = size_t(nl - start);
  rpos_ += len + 1;
  scanned_ = 0;
  if (len > 1 && start[len - 1] == '\r') --len;
  start[len] = '\0';
  text_command(start, std::strlen(start));
  return true;
}

void Conn::text_command(char* line, size_t) {
  noreply_ = false;
  Token t[kMaxTokens + 1];
  size_t nt = tokenize(line, t, kMaxTokens);
  if (nt < 2 || t[0].length < 2) return out_line("ERROR");
  const Token& c = t[0];
  const char first = c.value[0];
  auto want_or = [&](size_t a, size_t b) { return nt == a || nt == b; };
  if (first == 'm' && c.length == 2) {
    if (std::strchr("ngsdae", c.value[1])) counts_[kEcMeta] += 1;
    switch (c.value[1]) {
      case 'n': out_ += "MN\r\n"; return;
      case 'g': return meta_get(t, nt);
      case 's': return meta_set(t, nt);
      case 'd': return meta_delete(t, nt);
      case 'a': return meta_arith(t, nt);
      case 'e': return meta_debug(t, nt);
      default: return out_line("ERROR");
    }
  }
  if (first == 'g') {
    if (nt < 3) return out_line("ERROR");
    if (eq(c, "get")) return text_get(t, nt, false, false);
    if (eq(c, "gets")) return text_get(t, nt, true, false);
    if (eq(c, "gat")) return text_get(t, nt, false, true);
    if (eq(c, "gats")) return text_get(t, nt, true, true);
    return out_line("ERROR");
  }
  if (eq(c, "set")) return want_or(6, 7) ? text_update(t, nt, shm::StoreCmd::kSet, false) : out_line("ERROR");
  if (eq(c, "stats")) return text_stats(t, nt);
  if (eq(c, "shutdown")) return out_line("ERROR: shutdown not enabled");
  if (eq(c, "add")) return want_or(6, 7) ? text_update(t, nt, shm::StoreCmd::kAdd, false) : out_line("ERROR");
  if (eq(c, "append")) return want_or(6, 7) ? text_update(t, nt, shm::StoreCmd::kAppend, false) : out_line("ERROR");
  if (eq(c, "cas")) return want_or(7, 8) ? text_update(t, nt, shm::StoreCmd::kCas, true) : out_line("ERROR");
  if (eq(c, "incr")) return want_or(4, 5) ? text_arith(t, nt, true) : out_line("ERROR");
  if (eq(c, "delete")) return nt >= 3 && nt <= 5 ? text_delete(t, nt) : out_line("ERROR");
  if (eq(c, "decr")) return want_or(4, 5) ? text_arith(t, nt, false) : out_line("ERROR");
  if (eq(c, "touch")) return want_or(4, 5) ? text_touch(t, nt) : out_line("ERROR");
  if (first == 's' || first == 'a' || first == 'c' || first == 'i' || first == 'd' || first == 't')
    return out_line("ERROR");
  if (eq(c, "prepend")) return want_or(6, 7) ? text_update(t, nt, shm::StoreCmd::kPrepend, false) : out_line("ERROR");
  if (eq(c, "replace")) return want_or(6, 7) ? text_update(t, nt, shm::StoreCmd::kReplace, false) : out_line("ERROR");
  if (eq(c, "flush_all")) return nt >= 2 && nt <= 4 ? text_flush(t, nt) : out_line("ERROR");
  if (eq(c, "version")) return out_line("VERSION " SHMCACHED_PROTO_VERSION);
  if (eq(c, "quit")) {
    closing_ = true;
    return;
  }
  if (eq(c, "verbosity")) return want_or(3, 4) ? text_verbosity(t, nt) : out_line("ERROR");
  if (t[nt - 2].value && std::strncmp(t[nt - 2].value, "HTTP/", 5) == 0) {
    closing_ = true;  // memcached hangs up on HTTP requests
    return;
  }
  out_line("ERROR");
}

void Conn::text_get(Token* t, size_t nt, bool want_cas, bool touch) {
  size_t mark = out_.size();
  int32_t exptime = 0;
  Token* k = &t[1];
  if (touch) {
    if (!safe_strtol(t[1].value, &exptime)) return out_line("CLIENT_ERROR invalid exptime argument");
    ++k;
  }
  for (;;) {
    while (k->length != 0) {
      if (k->length > kKeyMax) {
        out_.resize(mark);  // memcached drops the VALUEs already gathered for this command
        return out_line("CLIENT_ERROR bad command line format");
      }
      if (out_.size() - mark >= kGetReplyMax) {
        out_.resize(mark);  // memcached's answer when it cannot hold the responses of a get
        return out_line("SERVER_ERROR out of memory writing get response");
      }
      shm::ItemMeta m{};
      int32_t r = fetch(u8(k->value), uint32_t(k->length), touch, exptime, &m);
      if (detail_enabled()) detail_record_get(k->value, k->length, r == shm::kOk);
      if (r == kStoreClosed || r == kGateBusy) {
        out_.resize(mark);
        return store_closed();
      }
      if (r == shm::kOk) {
        char hdr[64];
        int n = want_cas ? std::snprintf(hdr, sizeof hdr, " %u %u %llu\r\n", m.flags, m.vlen,
                                         static_cast<unsigned long long>(m.cas))
                         : std::snprintf(hdr, sizeof hdr, " %u %u\r\n", m.flags, m.vlen);
        out_ += "VALUE ";
        out_.append(k->value, k->length);
        out_.append(hdr, size_t(n));
        out_.append(reinterpret_cast<const char*>(stage_.data()), m.vlen);
        out_ += "\r\n";
      }
      ++k;
    }
    if (k->value == nullptr) break;
    nt = tokenize(k->value, t, kMaxTokens);
    (void)nt;
    k = &t[0];
  }
  out_ += "END\r\n";
}

void Conn::text_update(Token* t, size_t nt, shm::StoreCmd cmd, bool with_cas) {
  set_noreply(t, nt);
  if (t[1].length > kKeyMax) return out_line("CLIENT_ERROR bad command line format");
  uint32_t flags;
  int32_t exptime, vlen;
  if (!(safe_strtoul(t[2].value, &flags) && safe_strtol(t[3].value, &exptime) && safe_strtol(t[4].value, &vlen)))
    return out_line("CLIENT_ERROR bad command line format");
  uint64_t cas = 0;
  if (with_cas && !safe_strtoull(t[5].value, &cas)) return out_line("CLIENT_ERROR bad command line format");
  if (vlen < 0 || vlen > 0x7ffffffd) return out_line("CLIENT_ERROR bad command line format");
  if (detail_enabled()) detail_record_set(t[1].value, t[1].length);
  const uint8_t* key = u8(t[1].value);
  uint32_t nkey = uint32_t(t[1].length);
  if (!key_valid(key, nkey) || uint64_t(vlen) > b_.max_value_len(nkey)) {
    // memcached: answer now, swallow the data; a failed set also drops the key's old value.
    if (!b_.usable()) return store_closed();
    if (!key_valid(key, nkey)) {
      out_line("CLIENT_ERROR bad command line format");  // control characters: shmcached refuses them
    } else {
      out_line("SERVER_ERROR object too large for cache");
      counts_[kEcTooLarge] += 1;
      if (cmd == shm::StoreCmd::kSet) b_.del(key, nkey);
    }
    swallow_ = uint64_t(vlen) + 2;
    state_ = State::kSwallow;
    return;
  }
  pend_.cmd = cmd;
  pend_.key.assign(t[1].value, t[1].length);
  pend_.flags = flags;
  pend_.exptime = exptime;
  pend_.vlen = uint32_t(vlen);
  pend_.cas = cas;
  pend_.noreply = noreply_;
  pend_.meta = false;
  pend_.stale_ok = false;
  state_ = State::kValue;
}

void Conn::text_value_done() {
  const uint8_t* data = u8(&in_[rpos_]);
  uint32_t vlen = pend_.vlen;
  rpos_ += size_t(vlen) + 2;
  state_ = State::kCommand;
  if (pend_.meta) return meta_set_done(data);
  noreply_ = pend_.noreply;
  if (data[vlen] != '\r' || data[vlen + 1] != '\n') return out_line("CLIENT_ERROR bad data chunk");
  uint64_t cas_out = 0;
  int32_t r = b_.store(pend_.cmd, u8(pend_.key.data()), uint32_t(pend_.key.size()), data, vlen, pend_.flags,
                       pend_.exptime, pend_.cas, &cas_out);
  switch (r) {
    case shm::kOk: return out_line("STORED");
    case shm::kNotStored: return out_line("NOT_STORED");
    case shm::kExists: return out_line("EXISTS");
    case shm::kMiss: return out_line("NOT_FOUND");
    case shm::kTooLarge: counts_[kEcTooLarge] += 1; return out_line("SERVER_ERROR object too large for cache");
    case shm::kNoMemory: counts_[kEcNoMemory] += 1; return out_line("SERVER_ERROR out of memory storing object");
    case shm::kBadKey: return out_line("CLIENT_ERROR bad command line format");
    default: return store_closed();
  }
}

void Conn::text_arith(Token* t, size_t nt, bool incr) {
  set_noreply(t, nt);
  if (t[1].length > kKeyMax) return out_line("CLIENT_ERROR bad command line format");
  uint64_t delta;
  if (!safe_strtoull(t[2].value, &delta)) return out_line("CLIENT_ERROR invalid numeric delta argument");
  uint64_t result = 0;
  int32_t r = b_.delta(u8(t[1].value), uint32_t(t[1].length), incr, delta, &result);
  switch (r) {
    case shm::kOk: {
      char b[24];
      std::snprintf(b, sizeof b, "%llu", static_cast<unsigned long long>(result));
      return out_line(b);
    }
    case shm::kMiss:
    case shm::kBadKey: return out_line("NOT_FOUND");
    case shm::kNonNumeric: return out_line("CLIENT_ERROR cannot increment or decrement non-numeric value");
    case shm::kNoMemory: return out_line("SERVER_ERROR out of memory");
    default: return store_closed();
  }
}

void Conn::text_delete(Token* t, size_t nt) {
  if (nt > 3) {
    bool hold_is_zero = eq(t[2], "0");
    bool sets_noreply = set_noreply(t, nt);
    bool valid = (nt == 4 && (hold_is_zero || sets_noreply)) || (nt == 5 && hold_is_zero && sets_noreply);
    if (!valid) return out_line("CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]");
  }
  if (t[1].length > kKeyMax) return out_line("CLIENT_ERROR bad command line format");
  if (detail_enabled()) detail_record_delete(t[1].value, t[1].length);
  int32_t r = b_.del(u8(t[1].value), uint32_t(t[1].length));
  if (r == shm::kOk) return out_line("DELETED");
  if (r == shm::kMiss || r == shm::kBadKey) return out_line("NOT_FOUND");
  store_closed();
}

void Conn::text_touch(Token* t, size_t nt) {
  set_noreply(t, nt);
  if (t[1].length > kKeyMax) return out_line("CLIENT_ERROR bad command line format");
  int32_t exptime;
  if (!safe_strtol(t[2].value, &exptime)) return out_line("CLIENT_ERROR invalid exptime argument");
  int32_t r = b_.touch(u8(t[1].value), uint32_t(t[1].length), exptime);
  if (r == shm::kOk) return out_line("TOUCHED");
  if (r == shm::kMiss || r == shm::kBadKey) return out_line("NOT_FOUND");
  store_closed();
}

void Conn::text_flush(Token* t, size_t nt) {
  set_noreply(t, nt);
  int32_t exptime = 0;
  if (nt != (noreply_ ? 3u : 2u)) {
    if (!safe_strtol(t[1].value, &exptime)) return out_line("CLIENT_ERROR invalid exptime argument");
  }
  if (b_.flush_all(exptime > 0 ? exptime : 0) != 0) return store_closed();
  out_line("OK");
}

void Conn::text_verbosity(Token* t, size_t nt) {
  set_noreply(t, nt);
  uint32_t level;
  if (!safe_strtoul(t[1].value, &level)) return out_line("CLIENT_ERROR bad command line format");
  out_line("OK");  // accepted; the server logs nothing per command
}

namespace {
// memcached compares the built-in subcommands (reset, detail, settings, cachedump, conns) and the
// detail verbs as prefixes of the word given ("stats r" resets); the store's groups exactly.
inline bool prefix_of(const Token& t, const char* word) { return std::strncmp(t.value, word, t.length) == 0; }

void put_stats(std::string& out, const shm::StatList& l) {
  for (auto& kv : l) {
    out += "STAT ";
    out += kv.first;
    out += ' ';
    out += kv.second;
    out += "\r\n";
  }
  out += "END\r\n";
}
}  // namespace

bool Conn::stats_group(int group, shm::StatList* l) {
  b_.add_counts(counts_);  // what this connection counted so far (bytes_read of this chunk) shows
  if (!b_.stats(group, l)) return false;
  if (group == 0) {
    // Connection structures are the engines alive in this process; detail is process-wide.
    for (auto& kv : *l)
      if (kv.first == "connection_structures") kv.second = std::to_string(conns_current());
    if (srv_) stats_overlay(*l, srv_->general);
    add_auth_stats(group, l);
  } else if (group == 3) {
    for (auto& kv : *l)
      if (kv.first == "detail_enabled") kv.second = detail_enabled() ? "yes" : "no";
    if (srv_) stats_overlay(*l, srv_->settings);
    add_auth_stats(group, l);
  }
  return true;
}

void Conn::stats_conns(shm::StatList* l) {
  if (!srv_) {
    describe(*l, true);
    return;
  }
  int64_t now = int64_t(std::time(nullptr));
  for (auto& ls : srv_->listeners) {
    std::string p = std::to_string(ls.first) + ":";
    l->emplace_back(p + "addr", ls.second);
    l->emplace_back(p + "state", "conn_listening");
    l->emplace_back(p + "secs_since_last_cmd", std::to_string(now > srv_->started ? now - srv_->started : 0));
  }
  for (const Conn* c : srv_->conns) c->describe(*l, c == this);
}

void Conn::text_stats(Token* t, size_t nt) {
  shm::StatList l;
  if (nt <= 2 || t[1].length == 0) {
    if (!stats_group(0, &l)) return store_closed();
    return put_stats(out_, l);
  }
  const Token& sub = t[1];
  if (prefix_of(sub, "reset")) {
    if (!b_.stats(4, &l)) return store_closed();
    return out_line("RESET");
  }
  if (prefix_of(sub, "detail")) {
    if (nt >= 4) {
      const Token& verb = t[2];
      if (prefix_of(verb, "on")) {
        detail_enable(true);
        return out_line("OK");
      }
      if (prefix_of(verb, "off")) {
        detail_enable(false);
        return out_line("OK");
      }
      if (prefix_of(verb, "dump")) {
        out_ += detail_dump();
        return;
      }
    }
    return out_line("CLIENT_ERROR usage: stats detail on|off|dump");
  }
  if (prefix_of(sub, "settings")) {
    if (!stats_group(3, &l)) return store_closed();
    return put_stats(out_, l);
  }
  if (prefix_of(sub, "cachedump")) {
    if (nt < 5) return out_line("CLIENT_ERROR bad command line");
    uint32_t id, limit;
    if (!safe_strtoul(t[2].value, &id) || !safe_strtoul(t[3].value, &limit))
      return out_line("CLIENT_ERROR bad command line format");
    if (id >= kMaxSlabClasses) return out_line("CLIENT_ERROR Illegal slab id");
    std::string dump;
    if (!b_.cachedump(id, limit, &dump)) return store_closed();
    out_ += dump;
    return;
  }
  if (prefix_of(sub, "conns")) {
    stats_conns(&l);
    return put_stats(out_, l);
  }
  if (eq(sub, "items") || eq(sub, "slabs")) {
    if (!stats_group(eq(sub, "items") ? 2 : 1, &l)) return store_closed();
    return put_stats(out_, l);
  }
  if (eq(sub, "sizes")) {
    // memcached tracks item sizes only with -o track_sizes; shmcached never does.
    out_ += "STAT sizes_status disabled\r\nEND\r\n";
    return;
  }
  out_line("ERROR");
}

}  // namespace proto
