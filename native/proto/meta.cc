// meta.cc — memcached's meta commands: mg, ms, md, ma, me (mn is answered in text.cc), with
// memcached 1.6.18's flags: the base flags (b base64 keys, c, f, h, k, l, O opaque, q quiet, s, t,
// v, u, T, F, C, M modes, D, J) and the stampede-protection ones (N vivify on miss, R recache, I
// invalidate; W/X/Z in replies), whose per-item state the store keeps (core/meta.h, reached only
// through backend.h). The flag letters are parsed here and handed to the store as typed options.
//
// Invariants: flags are checked the way memcached checks them (duplicates, unknown letters, bad
// numbers: each its own CLIENT_ERROR, nothing changed); return flags come out in the order they
// were asked, then Z, X, W; q hides only the nominal reply (EN for mg, HD for the others);
// errors always show. An ms error after its length was read swallows the data block.
#include <cstdio>
#include <cstring>

#include "proto/base64.h"
#include "proto/conn.h"

namespace proto {

namespace {

constexpr size_t kMaxOptTokens = 20;  // memcached's MFLAG_MAX_OPT_LENGTH (counted in tokens)
constexpr size_t kMaxOpaque = 32;     // MFLAG_MAX_OPAQUE_LENGTH

struct MetaFlags {
  bool has_error = false;
  bool vivify = false;
  bool value = false;
  bool invalidate = false;
  bool quiet = false;
  bool has_cas = false;
  bool has_cas_in = false;  // E: the CAS the write takes
  bool new_ttl = false;
  bool key_binary = false;
  bool no_update = false;
  bool remove_val = false;  // md x: keep the item with an empty value instead of deleting it
  char mode = 0;
  int32_t ttl = 0, vivify_ttl = 0, recache_ttl = 0;
  uint32_t client_flags = 0;
  uint64_t cas = 0, delta = 1, initial = 0, cas_in = 0;
  char order[4] = {0, 0, 0, 0};  // T, N, R in the order given
};

// The number after a flag letter, by the type of its field (memcached's safe_strto* per flag).
bool flag_number(const char* s, size_t n, int32_t* v) { return strict_i32(s, n, v); }
bool flag_number(const char* s, size_t n, uint32_t* v) { return strict_u32(s, n, v); }
bool flag_number(const char* s, size_t n, uint64_t* v) { return strict_u64(s, n, v); }

// memcached's _meta_flag_preparse: nullptr, or the error to answer.
const char* preparse(Token* t, size_t start, MetaFlags* f) {
  bool seen[128] = {};
  const char* err = "CLIENT_ERROR bad command line format";
  size_t norder = 0;
  constexpr const char* kBadToken = "CLIENT_ERROR bad token in command line format";
  // A flag that does not parse: the command fails, with the last such flag's error (as memcached;
  // a null e keeps the error so far).
  auto fail = [&](const char* e) {
    if (e) err = e;
    f->has_error = true;
  };
  for (size_t i = start; t[i].length != 0; ++i) {
    uint8_t o = uint8_t(t[i].value[0]);
    if (o >= 127 || seen[o]) return "CLIENT_ERROR duplicate flag";
    seen[o] = true;
    const char* arg = t[i].value + 1;
    const size_t alen = t[i].length - 1;
    // A flag's number into *v (an empty one does not parse): *has set when it parses, fail(e) when not.
    auto number = [&](auto* v, bool* has, const char* e) {
      if (!flag_number(arg, alen, v) || alen == 0)
        fail(e);
      else if (has)
        *has = true;
    };
    switch (o) {
      case 'b': {
        size_t n = base64_decode(reinterpret_cast<const uint8_t*>(t[1].value), t[1].length,
                                 reinterpret_cast<uint8_t*>(t[1].value));
        if (n == 0) fail("CLIENT_ERROR error decoding key");
        t[1].length = n;
        f->key_binary = true;
        break;
      }
      case 'N':
      case 'T':
      case 'R':
        f->vivify = f->vivify || o == 'N';
        number(o == 'N'   ? &f->vivify_ttl
               : o == 'T' ? &f->ttl
                          : &f->recache_ttl,
               o == 'T' ? &f->new_ttl : nullptr, kBadToken);
        f->order[norder++] = char(o);
        break;
      case 'l':
      case 'O':
      case 'P':
      case 'L':
      case 'k':
      case 's':
      case 't':
      case 'c':
      case 'f':
      case 'h': break;
      case 'v': f->value = true; break;
      case 'u': f->no_update = true; break;
      case 'q': f->quiet = true; break;
      case 'F': number(&f->client_flags, nullptr, nullptr); break;
      case 'C': number(&f->cas, &f->has_cas, kBadToken); break;
      case 'E': number(&f->cas_in, &f->has_cas_in, kBadToken); break;
      case 'M':  // memcached 1.6.4x takes the letter after M whatever follows it
        f->mode = t[i].length >= 2 ? t[i].value[1] : '\r';
        break;
      case 'J': number(&f->initial, nullptr, "CLIENT_ERROR invalid numeric initial value"); break;
      case 'D': number(&f->delta, nullptr, "CLIENT_ERROR invalid numeric delta value"); break;
      case 'I': f->invalidate = true; break;
      case 'x': f->remove_val = true; break;
      default: return "CLIENT_ERROR invalid flag";
    }
  }
  return f->has_error ? err : nullptr;
}

inline const uint8_t* u8(const char* p) { return reinterpret_cast<const uint8_t*>(p); }

void put_u64(std::string& o, uint64_t v) {
  char b[24];
  int n = std::snprintf(b, sizeof b, "%llu", static_cast<unsigned long long>(v));
  o.append(b, size_t(n));
}

// " k<key>", base64 and " b" for a binary key.
void put_key(std::string& o, const char* key, size_t nkey, bool binary) {
  o += " k";
  if (!binary) {
    o.append(key, nkey);
    return;
  }
  base64_encode(u8(key), nkey, &o);
  o += " b";
}

// The O and k flags, as every reply without an item carries them. False: an opaque too long.
bool put_opaque_key(std::string& o, Token* t, size_t nt, const Token& key, bool binary) {
  for (size_t i = 2; i < nt - 1; ++i) {
    if (t[i].value[0] == 'O') {
      if (t[i].length > kMaxOpaque) return false;
      o += ' ';
      o.append(t[i].value, t[i].length);
    } else if (t[i].value[0] == 'k') {
      put_key(o, key.value, key.length, binary);
    }
  }
  return true;
}

void put_ttl(std::string& o, uint32_t exptime, uint32_t now) {
  if (exptime == 0)
    o += "-1";
  else
    put_u64(o, uint32_t(exptime - now));
}

// Appends the return flags of an mg or ma reply in the order they were asked (t[2..nt-2]), those
// of `letters` only. T and N print nothing: memcached applies them while printing, so they move
// the exptime a later t shows. False when an opaque is too long (nothing more to print then).
bool put_return_flags(std::string& line, const Token* t, size_t nt, const char* letters, const MetaFlags& f,
                      const shm::MetaView& v) {
  uint32_t exp = v.exptime0;
  for (size_t i = 2; i < nt - 1; ++i) {
    const char* tok = t[i].value;
    if (!std::strchr(letters, tok[0])) continue;
    switch (tok[0]) {
      case 'T': exp = abs_exptime(f.ttl, v.now); break;
      case 'N':
        if (v.created) exp = abs_exptime(f.vivify_ttl, v.now);
        break;
      case 't':
        line += " t";
        put_ttl(line, exp, v.now);
        break;
      case 's':  // the numeric return flags: the letter, then the number
      case 'c':
      case 'f':
      case 'l':
        line += ' ';
        line += tok[0];
        put_u64(line, tok[0] == 's'   ? uint64_t(v.vlen)
                      : tok[0] == 'c' ? v.cas
                      : tok[0] == 'f' ? uint64_t(v.flags)
                                      : uint64_t(uint32_t(v.now - v.atime)));
        break;
      case 'h': line += v.fetched ? " h1" : " h0"; break;
      case 'O':
        if (t[i].length > kMaxOpaque) return false;
        line += ' ';
        line.append(tok, t[i].length);
        break;
      case 'k': put_key(line, t[1].value, t[1].length, f.key_binary); break;
    }
  }
  return true;
}

// memcached 1.6.4x's _meta_flag_preparse with its two checks first: key length, then the number
// of tokens (more than 20 with the command and key). nullptr, or the error line to answer.
const char* meta_flags(Token* t, size_t nt, size_t start, MetaFlags* f) {
  if (t[1].length > kKeyMax) return "CLIENT_ERROR bad command line format";
  if (nt - 1 > kMaxOptTokens) return "CLIENT_ERROR options flags are too long";
  return preparse(t, start, f);
}

}  // namespace

void Conn::meta_get(Token* t, size_t nt) {
  MetaFlags f;
  if (const char* err = meta_flags(t, nt, 2, &f)) return out_line(err);
  const Token& key = t[1];
  shm::MetaGetOptions req;
  for (const char* o = f.order; *o; ++o)  // the letters become the store's steps, in their order
    req.add(*o == 'T'   ? shm::MetaGetStep::kSetTtl
            : *o == 'N' ? shm::MetaGetStep::kVivifyTtl
                        : shm::MetaGetStep::kRecache);
  req.ttl = f.ttl;
  req.vivify = f.vivify;
  req.vivify_ttl = f.vivify_ttl;
  req.recache_ttl = f.recache_ttl;
  req.no_bump = f.no_update;
  shm::MetaView v;
  if (stage_.size() < 64 * 1024) stage_.resize(64 * 1024);
  int32_t r = shm::kBufferSmall;
  b_.cas_in = f.has_cas_in ? f.cas_in : 0;  // a vivified item's CAS (taken by the first call)
  for (int tries = 0; r == shm::kBufferSmall && tries < 4; ++tries) {
    r = b_.meta_get(u8(key.value), uint32_t(key.length), req, stage_.data(), uint32_t(stage_.size()), &v);
    if (r == shm::kBufferSmall) stage_.resize(v.vlen);
  }
  if (r == kStoreClosed || r == kGateBusy) return store_closed();
  std::string line;
  if (r != shm::kOk) {  // a miss (a key the store refuses cannot be there either)
    line = "EN";
    if (!put_opaque_key(line, t, nt, key, f.key_binary)) return out_line("CLIENT_ERROR opaque token too long");
    if (!f.quiet) out_ += line + "\r\n";
    return;
  }
  if (f.value) {
    line = "VA ";
    put_u64(line, v.vlen);
  } else {
    line = "HD";
  }
  if (!put_return_flags(line, t, nt, "TNtscflhOk", f, v)) return out_line("CLIENT_ERROR opaque token too long");
  if (v.token_sent) line += " Z";
  if (v.stale) line += " X";
  if (v.won) line += " W";
  out_ += line;
  out_ += "\r\n";
  if (f.value) {
    out_.append(reinterpret_cast<const char*>(stage_.data()), v.vlen);
    out_ += "\r\n";
  }
}

// The token count and the length were checked by text_command (memcached 1.6.4x's request parser).
void Conn::meta_set(Token* t, size_t nt) {
  int32_t vlen = 0;
  strict_i32(t[2].value, t[2].length, &vlen);
  auto fail = [&](const char* err) {
    out_line(err);  // errors always show (noreply_ is still off here)
    swallow_ = uint64_t(vlen) + 2;
    state_ = State::kSwallow;
  };
  MetaFlags f;
  if (const char* err = meta_flags(t, nt, 3, &f)) return fail(err);
  std::string rflags;  // the return flags, in order: O, k, c, s
  for (size_t i = 3; i < nt - 1; ++i) {
    const char c0 = t[i].value[0];
    if (c0 == 's') {
      rflags += '\x02';  // the item's size, known only after the store (append/prepend)
    } else if (c0 == 'O') {
      if (t[i].length > kMaxOpaque) return fail("CLIENT_ERROR opaque token too long");
      rflags += ' ';
      rflags.append(t[i].value, t[i].length);
    } else if (c0 == 'k') {
      put_key(rflags, t[1].value, t[1].length, f.key_binary);
    } else if (c0 == 'c') {
      rflags += '\x01';  // the CAS, known only after the store
    }
  }
  shm::StoreCmd cmd;
  switch (f.mode) {
    case 0:
    case 'S': cmd = shm::StoreCmd::kSet; break;
    case 'E': cmd = shm::StoreCmd::kAdd; break;
    case 'A': cmd = shm::StoreCmd::kAppend; break;
    case 'P': cmd = shm::StoreCmd::kPrepend; break;
    case 'R': cmd = shm::StoreCmd::kReplace; break;
    default: return fail("CLIENT_ERROR invalid mode for ms M token");
  }
  if (f.has_cas && (cmd == shm::StoreCmd::kSet || cmd == shm::StoreCmd::kReplace)) cmd = shm::StoreCmd::kCas;
  const uint8_t* key = u8(t[1].value);
  uint32_t nkey = uint32_t(t[1].length);
  if (!key_valid(key, nkey)) return fail("CLIENT_ERROR bad command line format");
  if (uint64_t(vlen) > b_.max_value_len(nkey)) {
    if (!b_.usable()) return store_closed();
    b_.del(key, nkey);  // memcached drops the old value of a failed ms
    counts_[kEcTooLarge] += 1;
    return fail("SERVER_ERROR object too large for cache");
  }
  pend_.cmd = cmd;
  pend_.key.assign(t[1].value, t[1].length);
  pend_.flags = f.client_flags;
  pend_.exptime = f.new_ttl ? f.ttl : 0;
  pend_.vlen = uint32_t(vlen);
  pend_.cas = f.has_cas ? f.cas : 0;
  pend_.noreply = f.quiet;
  pend_.meta = true;
  pend_.stale_ok = f.invalidate && cmd == shm::StoreCmd::kCas;
  // memcached 1.6.4x: ms MA/MP with N creates a missing item (exptime N's) instead of NS.
  pend_.vivify = f.vivify && (cmd == shm::StoreCmd::kAppend || cmd == shm::StoreCmd::kPrepend);
  if (pend_.vivify) pend_.exptime = f.vivify_ttl;
  pend_.mflags = rflags;
  pend_.cas_in = f.has_cas_in ? f.cas_in : 0;
  state_ = State::kValue;
}

void Conn::meta_set_done(const uint8_t* data) {
  uint32_t vlen = pend_.vlen;
  noreply_ = false;
  if (data[vlen] != '\r' || data[vlen + 1] != '\n') return out_line("CLIENT_ERROR bad data chunk");
  const uint8_t* key = u8(pend_.key.data());
  uint32_t nkey = uint32_t(pend_.key.size());
  uint64_t cas_out = 0;
  int32_t r;
  // An append/prepend's C<cas> is checked by the core under the same lock as the store.
  if (pend_.stale_ok) {
    b_.cas_in = pend_.cas_in;
    r = b_.meta_store_stale(key, nkey, data, vlen, pend_.flags, pend_.exptime, pend_.cas, &cas_out);
  } else {
    b_.cas_in = pend_.cas_in;
    r = b_.store(pend_.cmd, key, nkey, data, vlen, pend_.flags, pend_.exptime, pend_.cas, &cas_out);
    if (r == shm::kNotStored && pend_.vivify) {  // missing: create it (an add, so a racing create wins)
      b_.cas_in = pend_.cas_in;
      r = b_.store(shm::StoreCmd::kAdd, key, nkey, data, vlen, pend_.flags, pend_.exptime, 0, &cas_out);
    }
  }
  std::string line;
  switch (r) {
    case shm::kOk:
      if (pend_.noreply) return;
      line = "HD";
      break;
    case shm::kExists: line = "EX"; break;
    case shm::kMiss: line = "NF"; break;
    case shm::kNotStored: line = "NS"; break;
    case shm::kTooLarge: counts_[kEcTooLarge] += 1; return out_line("SERVER_ERROR object too large for cache");
    case shm::kNoMemory: counts_[kEcNoMemory] += 1; return out_line("SERVER_ERROR out of memory storing object");
    case shm::kBadKey: return out_line("CLIENT_ERROR bad command line format");
    default: return store_closed();
  }
  const bool grew = r == shm::kOk && (pend_.cmd == shm::StoreCmd::kAppend || pend_.cmd == shm::StoreCmd::kPrepend);
  for (char c : pend_.mflags) {
    if (c == '\x02') {  // memcached 1.6.4x: the stored item's size (after append/prepend), else the value's
      uint32_t size = vlen;
      if (grew) peek_cas(key, nkey, &size);
      line += " s";
      put_u64(line, size);
      continue;
    }
    if (c != '\x01') {
      line += c;
      continue;
    }
    line += " c";
    put_u64(line, cas_out);
  }
  out_ += line;
  out_ += "\r\n";
}

void Conn::meta_delete(Token* t, size_t nt) {
  MetaFlags f;
  if (const char* err = meta_flags(t, nt, 2, &f)) return out_line(err);
  std::string tail;
  if (!put_opaque_key(tail, t, nt, t[1], f.key_binary)) return out_line("CLIENT_ERROR opaque token too long");
  shm::MetaDeleteOptions opt;
  opt.has_cas = f.has_cas;
  opt.cas = f.cas;
  opt.invalidate = f.invalidate;
  opt.set_ttl = f.new_ttl;
  opt.ttl = f.ttl;
  const uint8_t* key = u8(t[1].value);
  const uint32_t nkey = uint32_t(t[1].length);
  int32_t r;
  if (f.remove_val) {
    // memcached 1.6.4x's md x: the item stays, its value emptied (client flags F, exptime T or
    // none), keeping its CAS (or E's); with I it is then marked stale as well.
    uint64_t cur = peek_cas(key, nkey);
    if (cur == 0) {
      r = b_.usable() ? int32_t(shm::kMiss) : kStoreClosed;
    } else if (f.has_cas && cur != f.cas) {
      r = shm::kExists;
    } else {
      static const uint8_t kEmpty[1] = {0};
      uint64_t cas_out = 0;
      b_.cas_in = f.has_cas_in ? f.cas_in : cur;
      r = b_.store(shm::StoreCmd::kCas, key, nkey, kEmpty, 0, f.client_flags, f.new_ttl ? f.ttl : 0, cur, &cas_out);
      if (r == shm::kOk && f.invalidate) {
        b_.cas_in = f.has_cas_in ? f.cas_in : 0;
        opt.has_cas = false;
        r = b_.meta_delete(key, nkey, opt);
      }
    }
  } else {
    b_.cas_in = f.has_cas_in ? f.cas_in : 0;
    r = b_.meta_delete(key, nkey, opt);
  }
  const char* code;
  switch (r) {
    case shm::kOk:
      if (f.quiet) return;
      code = "HD";
      break;
    case shm::kMiss:
    case shm::kBadKey: code = "NF"; break;
    case shm::kExists: code = "EX"; break;
    default: return store_closed();
  }
  out_ += code;
  out_ += tail;
  out_ += "\r\n";
}

void Conn::meta_arith(Token* t, size_t nt) {
  MetaFlags f;
  if (meta_flags(t, nt, 2, &f)) return out_line("CLIENT_ERROR invalid or duplicate flag");  // whatever the cause
  shm::MetaArithOptions req;
  switch (f.mode) {
    case 0:
    case 'I':
    case '+': req.incr = true; break;
    case 'D':
    case '-': req.incr = false; break;
    default: return out_line("CLIENT_ERROR invalid mode for ma M token");
  }
  req.delta = f.delta;
  req.vivify = f.vivify;
  req.initial = f.initial;
  req.vivify_ttl = f.vivify_ttl;
  req.has_cas = f.has_cas;
  req.cas = f.cas;
  req.set_ttl = f.new_ttl;
  req.ttl = f.ttl;
  req.vivify_ttl_last = std::strchr(f.order, 'N') > std::strchr(f.order, 'T') && std::strchr(f.order, 'T');
  uint64_t result = 0;
  shm::MetaView v;
  b_.cas_in = f.has_cas_in ? f.cas_in : 0;
  int32_t r = b_.meta_arith(u8(t[1].value), uint32_t(t[1].length), req, &result, &v);
  std::string line;
  switch (r) {
    case shm::kOk: break;
    case shm::kMiss:
    case shm::kBadKey:
    case shm::kExists:
      line = r == shm::kExists ? "EX" : "NF";
      if (!put_opaque_key(line, t, nt, t[1], f.key_binary)) return out_line("CLIENT_ERROR opaque token too long");
      out_ += line + "\r\n";
      return;
    case shm::kNonNumeric: return out_line("CLIENT_ERROR cannot increment or decrement non-numeric value");
    case shm::kNoMemory: return out_line("SERVER_ERROR out of memory");
    default: return store_closed();
  }
  std::string num;
  put_u64(num, result);
  if (f.value) {
    line = "VA ";
    put_u64(line, num.size());
  } else {
    line = "HD";
  }
  if (!put_return_flags(line, t, nt, "cTNtOk", f, v)) return out_line("CLIENT_ERROR opaque token too long");
  if (f.quiet) return;  // memcached 1.6.4x hides a nominal reply, value included, a vivified one too
  out_ += line;
  out_ += "\r\n";
  if (f.value) {
    out_ += num;
    out_ += "\r\n";
  }
}

void Conn::meta_debug(Token* t, size_t nt) {
  if (nt < 3 || t[1].length > kKeyMax) return out_line("CLIENT_ERROR bad command line format");
  bool binary = nt > 3 && t[2].value[0] == 'b';
  if (binary) {
    size_t n = base64_decode(u8(t[1].value), t[1].length, reinterpret_cast<uint8_t*>(t[1].value));
    if (n == 0) return out_line("CLIENT_ERROR error decoding key");
    t[1].length = n;
  }
  shm::MetaView v;
  uint32_t cls = 0;
  uint64_t total = 0;
  int32_t r = b_.meta_debug(u8(t[1].value), uint32_t(t[1].length), &v, &cls, &total);
  if (r == kStoreClosed || r == kGateBusy) return store_closed();
  if (r != shm::kOk) return out_line("EN");
  std::string line = "ME ";
  if (binary)
    base64_encode(u8(t[1].value), t[1].length, &line);
  else
    line.append(t[1].value, t[1].length);
  char b[160];
  // memcached prints exp as now - exptime (negative while alive), -1 for never.
  std::snprintf(b, sizeof b, " exp=%d la=%u cas=%llu fetch=%s cls=%u size=%llu",
                v.exptime == 0 ? -1 : int(int64_t(v.now) - int64_t(v.exptime)), uint32_t(v.now - v.atime),
                static_cast<unsigned long long>(v.cas), v.fetched ? "yes" : "no", cls,
                static_cast<unsigned long long>(total));
  line += b;
  out_line(line);
}

}  // namespace proto
