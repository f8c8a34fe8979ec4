// conn.h — one client connection's protocol engine: bytes in, complete replies out. Owns: the
// connection's private input buffer (partial commands wait there for the rest), the reply buffer,
// the protocol chosen by the first byte (0x80: binary, anything else: text and meta), and the
// per-connection states between a command line and its data (reading a value, swallowing one).
//
// Invariants:
//  - Input is copied into in_ before anything looks at it: parsers never read the caller's
//    (JS) memory, and the store only ever sees the engine's private copies (backend.h).
//  - Replies leave in command order; a command either produces its whole reply or, with
//    noreply/quiet, nothing. Processing stops while the connection's unsent replies reach
//    kOutHigh bytes: out_ plus what the host took from out_ earlier and has not written yet
//    (set_unsent() before each feed/run; 0 when the host feeds only once its queue drained).
//    A run that starts with replies still unsent therefore adds only up to the mark, not a
//    second mark on top, so a client that pipelines gets without reading replies makes the
//    server hold at most kOutHigh plus one command's reply (one multi-get's is capped at
//    kGetReplyMax) plus the input it sent (the host stops reading once the engine yields);
//    the host calls run() again once it has written the replies away (more() says there is
//    work left). An lru_crawler metadump/mgdump is written a batch of keys at a time under a
//    lower mark, kDumpHigh (state kDump, the same count), however many keys the store has.
//  - Buffers go back to their base size once empty after a large use (memcached's conn_shrink):
//    the host calls trim() after it took out_; in_, out_ and stage_ grown past kBufKeep are
//    released then (in_ when at most kBufKeep/2 of a partial command waits in it, which moves to
//    a fresh string). trim() is a few compares when nothing grew.
//  - Bad input gets memcached's error and changes nothing stored; input memcached would close
//    the connection on (a text line past kLineMax without a newline, a bad binary magic) sets
//    closing(): the host writes out_ and closes. Nothing in here can crash on any input.
#pragma once
#include <cstddef>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proto/auth.h"
#include "proto/backend.h"
#include "proto/serverinfo.h"

namespace proto {

constexpr size_t kLineMax = 2048;                  // memcached: a line this long without '\n' closes
constexpr size_t kGetLineMax = 16u * 1024 * 1024;  // a large multi-get line may be longer, up to this
constexpr size_t kOutHigh = 4u * 1024 * 1024;      // stop executing commands while this much is unsent (out_ + host's)
// A metadump/mgdump stops writing batches at this much unsent output: one batch at a time is all
// a dump needs (the kernel's socket buffers hold megabytes more), and a client that never reads
// holds that, not kOutHigh of dump lines.
constexpr size_t kDumpHigh = 64u * 1024;
// A buffer grown past this by one large request (a big value, a multi-get's replies, a dump) is
// released once it is empty again (trim): an idle connection holds no more than this per buffer.
// Above what one 64 KiB read and its leftover need, so pipelined small requests never churn.
constexpr size_t kBufKeep = 128u * 1024;
// One text multi-get's replies past this many bytes: memcached's "SERVER_ERROR out of memory
// writing get response" instead (a 16 MiB line naming one large value a million times must not
// make a reply of terabytes; the first value is always served whatever its size).
constexpr size_t kGetReplyMax = 64u * 1024 * 1024;
constexpr size_t kMaxTokens = 24;  // memcached's MAX_TOKENS

struct Token {
  char* value;  // NUL-terminated in place; nullptr for the terminal token when the line is done
  size_t length;
};

// A server's settings that its commands read and change (memcached's `settings`): the host
// (native/binding/proto.cc) copies them in before each feed and back out after, so every
// connection of a server sees one set.
struct ServerSettings {
  bool shutdown_enabled = false;  // -A
  bool lru_crawler = false;       // the background crawler runs (lru_crawler enable/disable)
  uint32_t automove = 0;          // slabs automove 0|1|2
  uint32_t tocrawl = 0;           // lru_crawler tocrawl: entries per class per crawl, 0 = all
  uint32_t crawler_sleep = 100;   // lru_crawler sleep (microseconds, memcached's unit)
  uint32_t verbosity = 0;
  uint32_t reqs_per_event = 0;  // -R: commands run per feed before yielding (0 = no limit)
  bool text_ok = true;          // -B: protocols accepted
  bool binary_ok = true;
  uint32_t shutdown_requested = 0;  // out: 1 shutdown, 2 shutdown graceful
};

class Conn {
 public:
  explicit Conn(const Backend& b);
  // A connection of a server: srv supplies the server's stats keys and lists the connection in
  // `stats conns` (addr: the peer, "tcp:HOST:PORT"; listen_addr: where it was accepted).
  // auth: the server's credential store; null = no authentication (every client trusted).
  Conn(const Backend& b, std::shared_ptr<ServerInfo> srv, std::string addr, std::string listen_addr,
       std::shared_ptr<const AuthStore> auth = nullptr);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Bytes of this connection's replies that the host took from out() and has not written yet:
  // they count toward the output mark of the next feed/run (see the invariants).
  void set_unsent(size_t n) { unsent_ = n; }
  // Appends n bytes of input and executes every complete command (up to the output mark).
  void feed(const uint8_t* data, size_t n);
  // Executes what is buffered (after the host drained out_).
  void run();
  // Replies produced so far; the host takes them (and clears the string).
  std::string& out() { return out_; }
  bool closing() const { return closing_; }
  // The host took out_ (all of it, or the part it will write itself): release what a large
  // request grew past kBufKeep (see the invariants). Cheap when nothing grew.
  void trim() {
    if (out_.capacity() > kBufKeep || in_.capacity() > kBufKeep || stage_.size() > kBufKeep) trim_grown();
  }
  // True when complete input is still waiting because the unsent replies reached the mark
  // (kOutHigh; kDumpHigh while a dump is written) or -R's limit was reached.
  bool more() const { return more_; }
  size_t buffered() const { return in_.size() - rpos_; }
  // Whole commands (text lines, data blocks, binary packets) run so far: the host restarts its
  // idle clock when this moves, so bytes that never complete a command do not keep a connection.
  uint64_t commands() const { return commands_; }
  // The store may be gone before this engine (a finalizer at env teardown): touch it no more.
  void forget_store() { b_.ctx = nullptr; }
  // This connection's `stats conns` lines (self: the connection asking). Called with the server's mu held.
  void describe(shm::StatList& l, bool self) const;
  ServerSettings& settings() { return settings_; }

 private:
  enum class Proto { kUnknown, kText, kBinary };
  enum class State { kCommand, kValue, kSwallow, kDump };

  // A storage command waiting for its data block (text set/add/..., or ms).
  struct Pending {
    shm::StoreCmd cmd;
    std::string key;
    uint32_t flags;
    int64_t exptime;
    uint32_t vlen;  // without the trailing "\r\n"
    uint64_t cas;
    bool noreply;
    bool meta;           // an ms command: reply in meta form
    bool stale_ok;       // ms with C and I: an older CAS stores a stale value
    std::string mflags;  // ms: the return flags to echo
    uint64_t cas_in;     // ms E: the CAS the stored item takes (0: the next)
    bool vivify;         // ms MA/MP with N: create the item when it is missing
  };

  // text.cc
  bool text_step();
  void text_command(char* line, size_t len, size_t cmdlen);
  void text_get(Token* t, size_t nt, bool want_cas, bool touch);
  void text_update(Token* t, int32_t vlen, shm::StoreCmd cmd, bool with_cas);  // vlen: checked, >= 0
  void text_value_done();
  void text_arith(Token* t, size_t nt, bool incr);
  void text_delete(Token* t, size_t nt);
  void text_touch(Token* t, size_t nt);
  void text_flush(Token* t, size_t nt);
  void text_verbosity(Token* t, size_t nt);
  void text_shutdown(Token* t, size_t n);
  void text_slabs(Token* t, size_t n);
  void text_lru_crawler(Token* t, size_t n);
  void lru_dump(const std::vector<uint32_t>& classes, bool all, bool mg);
  // One batch of the dump in progress (state kDump): its lines, and its end line once the
  // iteration is done (state kCommand again). False when the store is gone (closing_).
  bool dump_step();
  void text_stats(Token* t, size_t nt);
  // The keys of a `stats` group as this connection's server answers them (0 general, 1 slabs,
  // 2 items, 3 settings): the store's list with the server's values over it. False: unusable.
  bool stats_group(int group, shm::StatList* l);
  void stats_conns(shm::StatList* l);
  void out_line(const char* s);
  void out_line(const std::string& s) { out_line(s.c_str()); }
  void store_closed();

  // meta.cc
  void meta_get(Token* t, size_t nt);
  void meta_set(Token* t, size_t nt);
  void meta_set_done(const uint8_t* data);
  void meta_delete(Token* t, size_t nt);
  void meta_arith(Token* t, size_t nt);
  void meta_debug(Token* t, size_t nt);

  // auth.cc
  bool text_auth_step();
  bool bin_sasl(uint8_t op, uint32_t opaque, const uint8_t* key, uint16_t nkey, const uint8_t* val, uint32_t vlen);
  void add_auth_stats(int group, shm::StatList* l) const;  // auth_cmds/auth_errors, settings

  // binary.cc
  bool binary_step();
  void bin_header(uint8_t op, uint16_t status, uint8_t extlen, uint16_t keylen, uint32_t bodylen, uint32_t opaque,
                  uint64_t cas);
  void bin_error(uint8_t op, uint16_t status, uint32_t opaque);
  void bin_stats(uint8_t op, uint32_t opaque, const uint8_t* key, uint16_t nkey);

  // The CAS of key without counting as a fetch or bumping it (0 when absent).
  uint64_t peek_cas(const uint8_t* key, uint32_t nkey, uint32_t* vlen = nullptr);
  // A value size every key fits with (Backend::max_value_len(kKeyMax)), read once: the limit is
  // fixed when the region is made (its item size and slab classes), so a value within it needs no
  // gated max_value_len call. 0 while unknown (never read, or the store is unusable).
  uint32_t value_floor();
  // Copies the value of key (stage_ grows as needed) and returns the core status.
  int32_t fetch(const uint8_t* key, uint32_t nkey, bool touch, int64_t ttl, shm::ItemMeta* meta);

  Backend b_;
  std::string in_;
  size_t rpos_ = 0;
  size_t scanned_ = 0;  // bytes after rpos_ already searched for a newline (a long line arriving in parts)
  std::string out_;
  Proto proto_ = Proto::kUnknown;
  State state_ = State::kCommand;
  Pending pend_{};
  uint64_t swallow_ = 0;
  // A metadump/mgdump in progress: written a batch at a time while the unsent replies are under kDumpHigh, so
  // a client that does not read holds one batch, not a copy of every key in the store.
  struct Dump {
    uint64_t cursor = 0;
    bool all = false;
    bool mg = false;
    std::vector<bool> want;  // by class id
  } dump_;
  bool noreply_ = false;
  bool closing_ = false;
  bool more_ = false;
  size_t unsent_ = 0;  // the host's unsent replies (set_unsent), counted with out_ against the marks
  uint64_t commands_ = 0;
  std::vector<uint8_t> stage_;
  uint32_t value_floor_ = 0;               // max_value_len(kKeyMax) once read (0: not yet, or the store was unusable)
  std::shared_ptr<const AuthStore> auth_;  // null: no authentication
  bool authed_ = true;                     // false until the client authenticates (when auth_)
  bool auth_data_ = false;                 // text auth: the `set` line was read, its data is next
  uint32_t auth_need_ = 0;                 // text auth: bytes of that data block with its "\r\n"
  std::shared_ptr<ServerInfo> srv_;
  std::string addr_, listen_addr_;
  uint64_t id_ = 0;
  std::atomic<int64_t> last_cmd_{
      0};  // unix seconds of the last chunk of input (`stats conns` reads it from any loop thread)
  // The state `stats conns` shows when another connection asks: closing_/state_ as they stood at
  // the end of this connection's last run(), published by its own thread (a loop thread asking
  // about a connection of another thread reads only this, never closing_ or state_).
  std::atomic<uint8_t> shown_{0};
  void publish_state();
  void trim_grown();
  uint64_t counts_[kEngineCounters]{};  // for the store's stats, added once per run()
  ServerSettings settings_;
};

// memcached's tokenize_command: splits on ' ' in place (NUL-terminating each token), at most
// max-1 tokens, then a terminal token whose value is the unparsed rest (or nullptr).
size_t tokenize(char* command, Token* tokens, size_t max);

// memcached's safe_strtoul / safe_strtol / safe_strtoull on a NUL-terminated token.
bool safe_strtoul(const char* s, uint32_t* out);
bool safe_strtol(const char* s, int32_t* out);
bool safe_strtoull(const char* s, uint64_t* out);

// memcached 1.6.4x's number tokens (mcmc_toktou64 / mcmc_toktou32 / mcmc_tokto32): digits only
// (a leading '-' for the signed one), no sign, no white space, at most 22 (11) characters.
bool strict_u64(const char* s, size_t len, uint64_t* out, size_t maxlen = 22);
bool strict_u32(const char* s, size_t len, uint32_t* out);
bool strict_i32(const char* s, size_t len, int32_t* out);

}  // namespace proto
