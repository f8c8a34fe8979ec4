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
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "decimal.h"
#include "proto/conn.h"
#include "proto/detail.h"
#include "proto/version.h"

namespace proto {

namespace {
inline bool eq(const Token& t, const char* s) { return t.value && std::strcmp(t.value, s) == 0; }
inline const uint8_t* u8(const char* p) { return reinterpret_cast<const uint8_t*>(p); }

// Writes v in decimal at p (what "%llu" prints); returns the end. p has room for 20 digits.
inline char* put_u64(char* p, uint64_t v) { return p + shm::put_decimal(p, v); }

}  // namespace

void Conn::out_line(const char* s) {
  if (noreply_) {
    noreply_ = false;
    return;
  }
  out_ += s;
  out_ += "\r\n";
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
  size_t cmdlen = len + 1;  // with the newline, as memcached measures a request
  if (len > 1 && start[len - 1] == '\r') --len;
  start[len] = '\0';
  text_command(start, len, cmdlen);
  return true;
}

namespace {
constexpr const char* kBadFormat = "CLIENT_ERROR bad command line format";

bool tok_u64(const Token& t, uint64_t* out) { return t.value && strict_u64(t.value, t.length, out); }
bool tok_u32(const Token& t, uint32_t* out) { return t.value && strict_u32(t.value, t.length, out); }
bool tok_i32(const Token& t, int32_t* out) { return t.value && strict_i32(t.value, t.length, out); }
// memcached compares a sub-command with strncmp(token, name, token length): a prefix matches.
bool sub_is(const Token& t, const char* name) {
  return t.value && t.length <= std::strlen(name) && std::strncmp(t.value, name, t.length) == 0;
}
}  // namespace

// memcached 1.6.4x's request parser (proto_parser.c's process_request): a request shorter than
// four bytes with its newline is a format error; the command is the bytes before the first space;
// a known command with too few tokens is a format error (never ERROR); arguments past the ones a
// command reads are ignored, and `noreply` is the last token.
void Conn::text_command(char* line, size_t len, size_t cmdlen) {
  noreply_ = false;
  if (cmdlen < 4) return out_line(kBadFormat);
  Token t[kMaxTokens + 1];
  // The command: the bytes before the first space, NUL bytes included (memcached 1.6.4x does not
  // stop at a NUL; the arguments are still read up to one, as the tokenizer below does).
  const char* sp = static_cast<const char*>(std::memchr(line, ' ', len));
  size_t cl = sp ? size_t(sp - line) : len;
  size_t nt = tokenize(line, t, kMaxTokens);
  size_t n = t[nt - 1].value ? nt : nt - 1;  // tokens (memcached 1.6.4x's ntokens)
  const Token& c = t[0];
  auto take_noreply = [&] {
    if (n > 0 && eq(t[n - 1], "noreply")) noreply_ = true;
  };
  // The command is exactly name: its bytes before the first space (so no NUL among them, and
  // t[0] is the same token). Literal names: the length folds and the compare is inlined.
  auto is = [&](const char* name) {
    return cl == std::strlen(name) && std::memcmp(line, name, std::strlen(name)) == 0;
  };
  if (n == 0) return out_line("ERROR");  // only spaces and NULs
  if (cl == 2 && line[0] == 'm') {
    if (line[1] != '\0' && std::strchr("ngsdae", line[1])) counts_[kEcMeta] += 1;
    switch (line[1]) {
      case 'n': out_ += "MN\r\n"; return;
      case 'g': return n < 2 ? out_line(kBadFormat) : meta_get(t, nt);
      case 's': {
        int32_t vlen;
        if (n < 3 || !tok_i32(t[2], &vlen) || vlen < 0 || vlen > 0x7ffffffd) return out_line(kBadFormat);
        return meta_set(t, nt);
      }
      case 'd': return n < 2 ? out_line(kBadFormat) : meta_delete(t, nt);
      case 'a': return n < 2 ? out_line(kBadFormat) : meta_arith(t, nt);
      case 'e': return n < 2 ? out_line(kBadFormat) : meta_debug(t, nt);
      default: break;
    }
  } else if (is("get") || is("gets")) {
    if (n < 2) return out_line(kBadFormat);
    take_noreply();
    noreply_ = false;  // a get's values are never suppressed
    return text_get(t, nt, cl == 4, false);
  } else if (is("gat") || is("gats")) {
    if (n < 3) return out_line(kBadFormat);
    return text_get(t, nt, cl == 4, true);
  } else if (is("set") || is("add") || is("cas") || is("append") || is("prepend") || is("replace")) {
    int32_t vlen;
    if (n < 5 || !tok_i32(t[4], &vlen) || vlen < 0 || vlen > 0x7ffffffd) return out_line(kBadFormat);
    take_noreply();
    shm::StoreCmd cmd = is("set")       ? shm::StoreCmd::kSet
                        : is("add")     ? shm::StoreCmd::kAdd
                        : is("cas")     ? shm::StoreCmd::kCas
                        : is("append")  ? shm::StoreCmd::kAppend
                        : is("prepend") ? shm::StoreCmd::kPrepend
                                        : shm::StoreCmd::kReplace;
    return text_update(t, vlen, cmd, cmd == shm::StoreCmd::kCas);
  } else if (is("incr") || is("decr")) {
    if (n < 3) return out_line(kBadFormat);
    take_noreply();
    return text_arith(t, nt, is("incr"));
  } else if (is("touch")) {
    if (n < 3) return out_line(kBadFormat);
    take_noreply();
    return text_touch(t, nt);
  } else if (is("delete")) {
    if (n < 2) return out_line(kBadFormat);
    take_noreply();
    return text_delete(t, nt);
  } else if (is("quit")) {
    closing_ = true;
    return;
  } else if (is("version")) {
    return out_line("VERSION " SHMCACHED_PROTO_VERSION);
  } else if (is("stats")) {
    return text_stats(t, nt);
  }
  // memcached's second table: matched on the first token (leading spaces skipped).
  take_noreply();
  if (n > 0) {
    if (eq(c, "shutdown")) return text_shutdown(t, n);
    if (eq(c, "slabs")) return text_slabs(t, n);
    if (eq(c, "flush_all")) return text_flush(t, n);
    if (eq(c, "lru_crawler")) return text_lru_crawler(t, n);
    if (eq(c, "verbosity")) return text_verbosity(t, n);
  }
  if (n > 1 && std::strncmp(t[n - 1].value, "HTTP/", 5) == 0) {
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
    if (!tok_i32(t[1], &exptime)) return out_line("CLIENT_ERROR invalid exptime argument");
    ++k;
  }
  for (;;) {
    while (k->length != 0) {
      if (k->length > kKeyMax) {
        out_.resize(mark);  // memcached drops the VALUEs already gathered for this command
        // memcached 1.6.4x re-sends the error line it had built, newline included, as a new
        // line: the error ends with an empty line.
        out_ += "CLIENT_ERROR bad command line format\r\n\r\n";
        return;
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
        // "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n", the line built without printf
        char hdr[6 + kKeyMax + 3 * 21 + 2];
        char* p = hdr;
        std::memcpy(p, "VALUE ", 6);
        std::memcpy(p + 6, k->value, k->length);
        p += 6 + k->length;
        *p++ = ' ';
        p = put_u64(p, m.flags);
        *p++ = ' ';
        p = put_u64(p, m.vlen);
        if (want_cas) {
          *p++ = ' ';
          p = put_u64(p, m.cas);
        }
        *p++ = '\r';
        *p++ = '\n';
        out_.reserve(out_.size() + size_t(p - hdr) + m.vlen + 2);
        out_.append(hdr, size_t(p - hdr));
        out_.append(reinterpret_cast<const char*>(stage_.data()), m.vlen);
        out_.append("\r\n", 2);
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

void Conn::text_update(Token* t, int32_t vlen, shm::StoreCmd cmd, bool with_cas) {
  // memcached 1.6.4x (process_update_cmd_start): every error from here on swallows the data block.
  auto fail = [&](const char* err) {
    out_line(err);
    swallow_ = uint64_t(vlen) + 2;
    state_ = State::kSwallow;
  };
  if (t[1].length > kKeyMax) return fail(kBadFormat);
  uint32_t flags;
  int32_t exptime;
  if (!(safe_strtoul(t[2].value, &flags) && safe_strtol(t[3].value, &exptime))) return fail(kBadFormat);
  uint64_t cas = 0;
  if (with_cas && !tok_u64(t[5], &cas)) return fail(kBadFormat);
  const uint8_t* key = u8(t[1].value);
  uint32_t nkey = uint32_t(t[1].length);
  if (!key_valid(key, nkey)) return fail(kBadFormat);  // control characters: shmcached refuses them
  if (detail_enabled()) detail_record_set(t[1].value, t[1].length);
  if (uint64_t(vlen) > value_floor() && uint64_t(vlen) > b_.max_value_len(nkey)) {
    // memcached: answer now, swallow the data; a failed set also drops the key's old value.
    if (!b_.usable()) return store_closed();
    counts_[kEcTooLarge] += 1;
    if (cmd == shm::StoreCmd::kSet) b_.del(key, nkey);
    return fail("SERVER_ERROR object too large for cache");
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
  pend_.cas_in = 0;
  pend_.vivify = false;
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

void Conn::text_arith(Token* t, size_t, bool incr) {
  if (t[1].length > kKeyMax) return out_line(kBadFormat);
  uint64_t delta;
  if (!tok_u64(t[2], &delta)) return out_line("CLIENT_ERROR invalid numeric delta argument");
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

// memcached 1.6.4x: `delete KEY [anything] [noreply]` (the old hold-time argument is ignored).
void Conn::text_delete(Token* t, size_t) {
  if (t[1].length > kKeyMax) return out_line(kBadFormat);
  if (detail_enabled()) detail_record_delete(t[1].value, t[1].length);
  int32_t r = b_.del(u8(t[1].value), uint32_t(t[1].length));
  if (r == shm::kOk) return out_line("DELETED");
  if (r == shm::kMiss || r == shm::kBadKey) return out_line("NOT_FOUND");
  store_closed();
}

void Conn::text_touch(Token* t, size_t) {
  if (t[1].length > kKeyMax) return out_line(kBadFormat);
  int32_t exptime;
  if (!tok_i32(t[2], &exptime)) return out_line("CLIENT_ERROR invalid exptime argument");
  int32_t r = b_.touch(u8(t[1].value), uint32_t(t[1].length), exptime);
  if (r == shm::kOk) return out_line("TOUCHED");
  if (r == shm::kMiss || r == shm::kBadKey) return out_line("NOT_FOUND");
  store_closed();
}

void Conn::text_flush(Token* t, size_t n) {
  int32_t exptime = 0;
  if (n != (noreply_ ? 2u : 1u)) {
    if (!tok_i32(t[1], &exptime)) return out_line("CLIENT_ERROR invalid exptime argument");
  }
  if (b_.flush_all(exptime > 0 ? exptime : 0) != 0) return store_closed();
  out_line("OK");
}

void Conn::text_verbosity(Token* t, size_t) {
  uint32_t level;
  if (!tok_u32(t[1], &level)) return out_line(kBadFormat);
  settings_.verbosity = level > 2 ? 2 : level;  // memcached's MAX_VERBOSITY_LEVEL
  out_line("OK");
}

// `shutdown [graceful]`: only with -A (the host closes the server when it sees the request).
void Conn::text_shutdown(Token* t, size_t n) {
  if (!settings_.shutdown_enabled) return out_line("SERVER_ERROR: shutdown not enabled");
  if (n == 1 || (n == 2 && sub_is(t[1], "graceful"))) {
    settings_.shutdown_requested = n == 1 ? 1 : 2;
    closing_ = true;
    return;
  }
  out_line("CLIENT_ERROR invalid shutdown mode");
}

// `slabs reassign SRC DST` (the page mover, core/rebalance.h) and `slabs automove 0|1|2`.
void Conn::text_slabs(Token* t, size_t n) {
  if (n == 4 && sub_is(t[1], "reassign")) {
    int32_t src, dst;
    if (!tok_i32(t[2], &src) || !tok_i32(t[3], &dst)) return out_line(kBadFormat);
    int32_t r = b_.reassign(src, dst);
    switch (r) {
      case int32_t(shm::Reassign::kOk): return out_line("OK");
      case int32_t(shm::Reassign::kBusy): return out_line("BUSY currently processing reassign request");
      case int32_t(shm::Reassign::kBadClass): return out_line("BADCLASS invalid src or dst class id");
      case int32_t(shm::Reassign::kNoSpare): return out_line("NOSPARE source class has no spare pages");
      case int32_t(shm::Reassign::kSame): return out_line("SAME src and dst class are identical");
      default: return store_closed();
    }
  }
  if (n >= 3 && sub_is(t[1], "automove")) {
    const Token& a = t[2];
    if (sub_is(a, "ratio") || sub_is(a, "freeratio")) {
      char* end = nullptr;
      if (n < 4 || (std::strtod(t[3].value, &end), end == t[3].value)) return out_line("ERROR");
      return out_line("OK");  // accepted; the page mover has no ratios to tune
    }
    if (sub_is(a, "window")) {
      uint32_t w;
      if (n < 4 || !tok_u32(t[3], &w)) return out_line(kBadFormat);
      if (w < 3 || w > 1800) return out_line("CLIENT_ERROR automove window too low or too high");
      return out_line("OK");
    }
    uint32_t level;
    if (!tok_u32(a, &level)) return out_line(kBadFormat);
    if (level > 2) return out_line("ERROR");
    settings_.automove = level;
    return out_line("OK");
  }
  out_line("ERROR");
}

// `lru_crawler crawl|metadump|mgdump CLASSES`, `tocrawl N`, `sleep N`, `enable`, `disable`.
void Conn::text_lru_crawler(Token* t, size_t n) {
  if (n == 3 && (sub_is(t[1], "crawl") || sub_is(t[1], "metadump") || sub_is(t[1], "mgdump"))) {
    const bool crawl = sub_is(t[1], "crawl");
    const bool mg = !crawl && !sub_is(t[1], "metadump");
    if (!settings_.lru_crawler) return out_line("CLIENT_ERROR lru crawler disabled");
    uint32_t ncls = b_.n_classes();
    if (!b_.usable()) return store_closed();
    // The classes: "all", "hash" (metadump: the table, which is how shmcached crawls anyway) or
    // a comma-separated list of class ids.
    std::vector<uint32_t> classes;
    bool all = std::strcmp(t[2].value, "all") == 0 || (!crawl && std::strcmp(t[2].value, "hash") == 0);
    if (!all) {
      std::string list(t[2].value, t[2].length);
      size_t pos = 0;
      while (pos <= list.size()) {
        size_t comma = list.find(',', pos);
        std::string id = list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        uint32_t cls;
        if (!safe_strtoul(id.c_str(), &cls) || cls < 1 || cls >= kMaxSlabClasses - 1)
          return out_line("BADCLASS invalid class id");
        classes.push_back(cls);
        if (comma == std::string::npos) break;
        pos = comma + 1;
      }
    } else {
      for (uint32_t i = 1; i <= ncls; ++i) classes.push_back(i);
    }
    if (crawl) {
      uint32_t budget = settings_.tocrawl ? settings_.tocrawl : UINT32_MAX;
      for (uint32_t cls : classes) {
        uint64_t checked = 0;
        if (cls <= ncls && b_.crawl_class(cls, budget, &checked) != 0) return store_closed();
      }
      return out_line("OK");
    }
    return lru_dump(classes, all, mg);
  }
  if (n == 3 && (sub_is(t[1], "tocrawl") || sub_is(t[1], "sleep"))) {
    const bool sleep = !sub_is(t[1], "tocrawl");
    uint32_t v;
    if (!tok_u32(t[2], &v)) return out_line(kBadFormat);
    if (sleep && v > 1000000) return out_line("CLIENT_ERROR sleep must be one second or less");
    (sleep ? settings_.crawler_sleep : settings_.tocrawl) = v;
    return out_line("OK");
  }
  if (n == 2 && sub_is(t[1], "enable")) {
    if (settings_.lru_crawler) return out_line("ERROR failed to start lru crawler thread");  // already on
    settings_.lru_crawler = true;
    return out_line("OK");
  }
  if (n == 2 && sub_is(t[1], "disable")) {
    settings_.lru_crawler = false;
    return out_line("OK");
  }
  out_line("ERROR");
}

// metadump (memcached's crawler_metadump_eval line per live item, then END) and mgdump (`mg KEY`
// per live item, then EN), through the store's key iteration (core/crawl.h). Starts the dump;
// run() writes it a batch at a time (dump_step) while the client takes its replies.
void Conn::lru_dump(const std::vector<uint32_t>& classes, bool all, bool mg) {
  dump_.cursor = 0;
  dump_.all = all;
  dump_.mg = mg;
  dump_.want.assign(shm::kMaxClasses, false);
  for (uint32_t c : classes)
    if (c < shm::kMaxClasses) dump_.want[c] = true;
  state_ = State::kDump;
}

bool Conn::dump_step() {
  bool done = false;
  std::vector<uint8_t> keys;
  const int64_t unix_now = int64_t(std::time(nullptr));
  const bool mg = dump_.mg;
  if (b_.crawl_keys(&dump_.cursor, &keys, 64 * 1024, &done) != 0) {
    state_ = State::kCommand;
    store_closed();
    return false;
  }
  for (size_t i = 0; i + 1 <= keys.size();) {
    uint32_t nkey = keys[i];
    const uint8_t* key = &keys[i + 1];
    i += 1 + nkey;
    shm::MetaView v;
    uint32_t cls = 0;
    uint64_t total = 0;
    int32_t r = b_.meta_debug(key, nkey, &v, &cls, &total);
    if (r == kStoreClosed || r == kGateBusy) {
      state_ = State::kCommand;
      store_closed();
      return false;
    }
    if (r != shm::kOk || (!dump_.all && (cls >= shm::kMaxClasses || !dump_.want[cls]))) continue;
    if (mg) {
      out_ += "mg ";
      out_.append(reinterpret_cast<const char*>(key), nkey);
      out_ += "\r\n";
      continue;
    }
    out_ += "key=";
    for (uint32_t j = 0; j < nkey; ++j) {  // memcached's uriencode
      char ch = char(key[j]);
      if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
          ch == '_' || ch == '~') {
        out_ += ch;
      } else {
        char b[4];
        std::snprintf(b, sizeof b, "%%%02X", unsigned(uint8_t(ch)));
        out_ += b;
      }
    }
    char b[200];
    int64_t la = unix_now - int64_t(v.now - v.atime);
    if (v.exptime == 0)
      std::snprintf(b, sizeof b, " exp=-1 la=%lld cas=%llu fetch=%s cls=%u size=%llu flags=%u \n",
                    static_cast<long long>(la), static_cast<unsigned long long>(v.cas), v.fetched ? "yes" : "no", cls,
                    static_cast<unsigned long long>(total), v.flags);
    else
      std::snprintf(b, sizeof b, " exp=%lld la=%lld cas=%llu fetch=%s cls=%u size=%llu flags=%u \n",
                    static_cast<long long>(unix_now + (int64_t(v.exptime) - int64_t(v.now))),
                    static_cast<long long>(la), static_cast<unsigned long long>(v.cas), v.fetched ? "yes" : "no", cls,
                    static_cast<unsigned long long>(total), v.flags);
    out_ += b;
  }
  if (done) {
    out_ += mg ? "EN\r\n" : "END\r\n";
    state_ = State::kCommand;
  }
  return true;
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
    if (srv_) {
      std::lock_guard<std::mutex> lk(srv_->mu);
      stats_overlay(*l, srv_->general);
      stats_overlay(*l, srv_->live);
    }
    add_auth_stats(group, l);
  } else if (group == 3) {
    for (auto& kv : *l)
      if (kv.first == "detail_enabled") kv.second = detail_enabled() ? "yes" : "no";
    if (srv_) {
      std::lock_guard<std::mutex> lk(srv_->mu);
      stats_overlay(*l, srv_->settings);
    }
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
  std::lock_guard<std::mutex> lk(srv_->mu);
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
