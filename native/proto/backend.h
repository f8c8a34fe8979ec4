// backend.h — the protocol engine's only door into the store. Owns: running each core command
// inside a gate (gate/pku.h) on the connection's store handle, and reporting a closed store or a
// refused (re-entrant) gate as statuses instead of touching the region.
//
// Invariants:
//  - Nothing in native/proto/ except this door includes anything from native/core/ or
//    dereferences region memory: parsers work on the connection's private copy of the input,
//    outside any gate, and hand only validated, private buffers to these calls. What they need of
//    the store's rules (the key limit and key rule, the ttl-to-time conversion) is declared here.
//    This header includes the core's headers only for the types of the calls below (statuses,
//    store commands, item metadata, the meta commands' options and view); backend.cc is the one
//    file that calls the core.
//  - One gate per call, opened and closed inside the call; no gate is open when a call returns.
//  - Output buffers passed in are the engine's own heap memory (never a JS buffer), so a copy
//    out of the store cannot fault while a stripe lock is held.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/meta.h"
#include "core/rebalance.h"
#include "core/stats.h"
#include "core/store.h"

namespace proto {

// The store's rules, for the parsers.
constexpr uint32_t kKeyMax = shm::kKeyMax;  // memcached's KEY_MAX_LENGTH
// memcached's MAX_NUMBER_OF_SLAB_CLASSES: the class ids the wire accepts (`stats cachedump`,
// `lru_crawler crawl`), so their replies stay memcached's byte for byte. The store's ids go higher
// (shm::kMaxClasses, slabs.cc); `lru_crawler crawl all` still covers every class.
constexpr uint32_t kMaxSlabClasses = 64;
static_assert(kMaxSlabClasses <= shm::kMaxClasses);
// 1..kKeyMax bytes, none of them space or control characters (memcached's key rule).
bool key_valid(const uint8_t* key, uint32_t nkey);
// The store's absolute exptime for a ttl given at store time now (memcached's realtime(): 0
// never, negative already expired, up to 30 days relative, beyond that a unix time).
uint32_t abs_exptime(int64_t ttl, uint32_t now);

// Statuses beyond shm::Status: the store handle was closed, or this thread is inside a gate.
constexpr int32_t kStoreClosed = -100;
constexpr int32_t kGateBusy = -101;

struct Backend {
  shm::Ctx* ctx = nullptr;       // the store handle's per-thread context (stats slot)
  int pkey = -1;                 // protection key of the region; -1 = none
  const bool* closed = nullptr;  // the handle's closed flag (read outside gates)
  const char* protection = "none";
  uint64_t cas_in = 0;  // the meta E flag: the CAS the next call's write takes (consumed by that call)

  bool usable() const { return ctx && ctx->r && !(closed && *closed); }

  int32_t get(const uint8_t* key, uint32_t nkey, bool touch, int64_t ttl, uint8_t* out, uint32_t cap,
              shm::ItemMeta* meta);
  int32_t store(shm::StoreCmd cmd, const uint8_t* key, uint32_t nkey, const uint8_t* val, uint32_t nval, uint32_t flags,
                int64_t ttl, uint64_t cas_in, uint64_t* cas_out);
  int32_t del(const uint8_t* key, uint32_t nkey);
  int32_t delta(const uint8_t* key, uint32_t nkey, bool incr, uint64_t by, uint64_t* result);
  int32_t touch(const uint8_t* key, uint32_t nkey, int64_t ttl);
  int32_t flush_all(int64_t delay);
  // Meta commands (core/meta.h), gated.
  int32_t meta_get(const uint8_t* key, uint32_t nkey, const shm::MetaGetOptions& opt, uint8_t* out, uint32_t cap,
                   shm::MetaView* view);
  int32_t meta_delete(const uint8_t* key, uint32_t nkey, const shm::MetaDeleteOptions& opt);
  int32_t meta_arith(const uint8_t* key, uint32_t nkey, const shm::MetaArithOptions& opt, uint64_t* result,
                     shm::MetaView* view);
  int32_t meta_store_stale(const uint8_t* key, uint32_t nkey, const uint8_t* val, uint32_t nval, uint32_t flags,
                           int64_t ttl, uint64_t cas, uint64_t* cas_out);
  int32_t meta_debug(const uint8_t* key, uint32_t nkey, shm::MetaView* view, uint32_t* cls, uint64_t* total);
  // `slabs reassign`: a shm::Reassign value, or kStoreClosed / kGateBusy.
  int32_t reassign(int32_t src, int32_t dst);
  // `lru_crawler crawl`: frees the dead items among up to budget LRU entries of class cls.
  int32_t crawl_class(uint32_t cls, uint32_t budget, uint64_t* checked);
  // Number of slab classes (0 when unusable).
  uint32_t n_classes();
  // Key iteration (core/crawl.h): appends [u8 nkey][key] records; *done when the table ended.
  int32_t crawl_keys(uint64_t* cursor, std::vector<uint8_t>* out, size_t soft_cap, bool* done);
  // Largest value for a key of nkey bytes (0 when the store is unusable).
  uint32_t max_value_len(uint32_t nkey);
  // group: 0 general, 1 slabs, 2 items, 3 settings, 4 reset. False when unusable.
  bool stats(int group, shm::StatList* out);
  // `stats cachedump CLASS LIMIT`'s reply (ITEM lines and END). False when unusable.
  bool cachedump(uint32_t cls, uint32_t limit, std::string* out);
  // Adds the engine's counters (indexed by EngineCounter) to this thread's stats slot in the
  // store, and zeroes them. Nothing is added (nor zeroed) when the store is unusable.
  void add_counts(uint64_t* counts);
};

// What the protocol engine counts for the store's `stats` (kept per connection, added to the
// store in one gated call per chunk of input).
enum EngineCounter : uint32_t {
  kEcMeta,      // cmd_meta
  kEcTooLarge,  // store_too_large
  kEcNoMemory,  // store_no_memory
  kEcRead,      // bytes_read
  kEcWritten,   // bytes_written
  kEcOpened,    // total_connections (and curr_connections with kEcClosed)
  kEcClosed,    //
  kEcRejected,  // rejected_connections
  kEcYields,    // conn_yields
  kEngineCounters
};

// Connection engines alive in this process (`stats` connection_structures), and ever made.
void conn_opened();
void conn_closed();
uint64_t conns_current();
uint64_t conns_total();

}  // namespace proto
