// layout.h — the byte layout of a shmcached region file. Owns: every struct that lives inside
// the region, the constants that size them, and the ABI fingerprint that guards them.
//
// Invariants:
//  - Nothing in the region is a raw pointer. Items are named by 32-bit offsets in 8-byte units
//    from the region base (0 = null), so a region maps at any address in any process and
//    addresses up to 32 GiB. Other roots are byte offsets (uint64).
//  - Layout: [Header][hash-table arena][slab pages]. The arena holds the table of power p at
//    byte offset 4 * 2^p within it, so tables of different powers never overlap and a growing
//    table never needs the old one moved (see assoc.cc).
//  - Any change to these structs changes kLayoutVersion or the ABI fingerprint; opening a file
//    of another layout is a clear error, never a guess.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/lock.h"
#include "core/stripe.h"

namespace shm {

constexpr uint64_t kMagic = 0x315243484d485321ull;  // "!SHMHCR1" little-endian
constexpr uint32_t kLayoutVersion = 4;              // 2: stripes carry a sequence count; 3: attach table, owner
                                                    // tokens in locks, intent records, page classes;
                                                    // 4: 128 class headers (finer slab classes)
constexpr uint32_t kUnit = 8;                       // offset unit: items are 8-byte aligned
constexpr uint32_t kMaxClasses = 128;               // class ids 1..127 (memcached's limit is 64; slabs.cc)
constexpr uint32_t kStripeBits = 12;
constexpr uint32_t kStripes = 1u << kStripeBits;      // striped item locks
constexpr uint32_t kMinHashPower = 16;                // initial table: 64 Ki buckets (>= kStripes)
constexpr uint32_t kSlots = 256;                      // per-thread slots (stats, lock ownership, intents)
constexpr uint32_t kProcs = 128;                      // attached-process table (one entry per process mapping)
constexpr uint32_t kMaxPages = 32768;                 // 32 GiB of 1 MiB pages: the page -> class table
constexpr uint32_t kKeyMax = 250;                     // memcached KEY_MAX_LENGTH
constexpr uint32_t kMemcachedItemHeader = 48;         // memcached's sizeof(item), for its chunk sizes
constexpr uint32_t kChunkMin = 48;                    // memcached's -n default
constexpr double kGrowthFactor = 1.25;                // memcached's -f default
constexpr uint32_t kPageMin = 1u << 20;               // 1 MiB slab pages
constexpr uint32_t kLruBumpInterval = 60;             // memcached's ITEM_UPDATE_INTERVAL, seconds
constexpr uint64_t kRelativeMax = 60 * 60 * 24 * 30;  // exptime above this is absolute

// Item flags (Item::iflags): every bit, in one place. kStale and kTokenSent are changed only by
// meta.cc, under the item's stripe; an item replaced by a store starts with both clear.
enum : uint8_t {
  kLinked = 1,      // reachable from the hash table and on its class LRU
  kFetched = 2,     // read at least once since stored (for *_unfetched stats)
  kFree = 4,        // on its class free list
  kStale = 8,       // invalidated by `md I`: still served, with X (meta.cc)
  kTokenSent = 16,  // a client was handed the win token (W) for this item, others see Z (meta.cc)
  kMoving = 32,     // out of use while rebalance.cc empties its page (was 8, which is kStale)
  kCasChosen = 64,  // the CAS was the client's (meta E): Item::pad holds the flush mark (items.h)
};

// One cached item. Header is 40 bytes (memcached: 48, plus 8 for CAS): key and value follow.
struct Item {
  uint32_t h_next;   // next in hash chain (offset units)
  uint32_t prev;     // LRU, towards head (more recent)
  uint32_t next;     // LRU, towards tail (older)
  uint32_t exptime;  // absolute store-clock seconds; 0 = never
  uint32_t time;     // last store / recency bump, store-clock seconds
  uint32_t nbytes;   // value length
  uint64_t cas;
  uint32_t flags;  // client flags
  uint8_t nkey;
  uint8_t cls;  // slab class id
  uint8_t iflags;
  uint8_t pad;  // with kCasChosen: the low byte of flush_gen when the CAS was set (flushed_by)
  // uint8_t data[]: key[nkey] then value[nbytes]
  uint8_t* key() { return reinterpret_cast<uint8_t*>(this + 1); }
  uint8_t* value() { return key() + nkey; }
  uint64_t ntotal() const { return sizeof(Item) + nkey + nbytes; }
};

// iflags bits that change under the item's stripe alone (kFetched, kStale, kTokenSent) are read
// without it: by the LRU tail walk (class lock only) and the optimistic get (no lock). Every write
// of them is a relaxed atomic store and every such read a relaxed atomic load, so the words are
// never torn and ThreadSanitizer sees the protocol; a read is a hint, confirmed under the stripe.
inline uint8_t iflags_load(const Item* it) { return __atomic_load_n(&it->iflags, __ATOMIC_RELAXED); }
inline void iflags_store(Item* it, uint8_t v) { __atomic_store_n(&it->iflags, v, __ATOMIC_RELAXED); }
static_assert(sizeof(Item) == 40, "item header size is part of the layout");

// One slab class: chunk geometry, free list, LRU, and the counters that only change under its
// lock. Taken after the item stripe, before the pages lock (the lock order: lock.h).
struct alignas(64) ClassHdr {
  Lock lock;
  uint32_t size;       // chunk size in bytes (multiple of 8)
  uint32_t perslab;    // chunks per page
  uint32_t free_head;  // free list through Item::h_next
  uint32_t lru_head;   // most recent
  uint32_t lru_tail;   // least recent
  uint32_t pad0;
  uint64_t free_chunks;
  uint64_t total_pages;
  uint64_t curr_items;
  uint64_t bytes;        // sum of ntotal of linked items
  uint64_t total_items;  // successful links ever
  uint64_t evicted;
  uint64_t evicted_nonzero;
  uint64_t evicted_time;  // age of the last evicted item, seconds
  uint64_t evicted_unfetched;
  uint64_t expired_unfetched;
  uint64_t reclaimed;
  uint64_t outofmemory;
  uint64_t crawler_reclaimed;      // dead items freed by crawler.cc (in the struct's tail padding:
  uint64_t crawler_items_checked;  // sizeof unchanged, older files read 0 here)
};
static_assert(sizeof(ClassHdr) == 192, "class header size is part of the layout");

// Per-thread counters, written only by the owning thread, summed on read. 320 bytes, aligned so
// two threads never share a cache line.
enum Counter : uint32_t {
  kCmdGet,
  kGetHits,
  kGetMisses,
  kGetExpired,
  kGetFlushed,
  kCmdSet,
  kCmdTouch,
  kTouchHits,
  kTouchMisses,
  kDeleteHits,
  kDeleteMisses,
  kIncrHits,
  kIncrMisses,
  kDecrHits,
  kDecrMisses,
  kCasHits,
  kCasMisses,
  kCasBadval,
  kCmdFlush,
  kSlabsMoved,  // pages moved to another class (rebalance.cc)
  // Counted by the protocol engine (native/proto/) for the connections it serves; the store's own
  // API never moves them.
  kCmdMeta,        // meta commands (mg, ms, md, ma, mn, me)
  kStoreTooLarge,  // storage commands refused: value larger than the item size limit
  kStoreNoMemory,  // storage commands refused: no memory (eviction off or nothing evictable)
  kBytesRead,      // bytes received from clients
  kBytesWritten,   // bytes of replies produced for clients
  kConnsOpened,    // connections accepted (total_connections)
  kConnsClosed,    // connections closed: curr_connections is opened - closed over live owners
  kConnsRejected,  // connections refused over the connection limit (rejected_connections)
  kConnYields,     // times a connection stopped executing commands with replies unsent (conn_yields)
  kCounterCount
};
// Intent records (issue 5): what a thread is about to change, written in its own slot before the
// change and cleared after, so the thread that takes over a lock from a dead owner can finish or
// undo exactly that change (recover.h). One record per lock level, since a stripe operation takes
// a class lock inside.
enum : uint32_t {
  kIntentNone = 0,
  // Stripe level (under the item stripe): a = item, b = other item.
  kIntentLink = 1,     // item_link: a (new) replaces b (old, 0 for none)
  kIntentUnlink = 2,   // item_unlink: a leaves the table, LRU and joins the free list
  kIntentMigrate = 3,  // assoc_migrate: a moves from the old bucket (next was b) to the new table
  kIntentAlloc = 4,    // item_alloc: chunk a is in this thread's hands, before its link (no lock
                       // held): freed by the sweep of dead threads (recover.h procs_reclaim)
  // Class level (under the class lock): a = chunk.
  kIntentLruLink = 16,
  kIntentLruUnlink = 17,
  kIntentCarve = 18,      // slabs_carve: page a is being cut into chunks of class cls
  kIntentEmptyPage = 19,  // rebalance: page a of class cls is being emptied to move it
};
struct Intent {
  std::atomic<uint32_t> op;
  uint32_t a, b, cls;
};

struct alignas(64) StatSlot {
  std::atomic<uint32_t> owner_tid;  // 0 = free
  std::atomic<uint32_t> owner_pid;
  std::atomic<uint64_t> owner_start;  // the owner process's start time (/proc/PID/stat field 22)
  std::atomic<uint32_t> gen;          // bumped at every claim: lock tokens name (slot, gen)
  uint32_t pad;
  Intent si;  // stripe-level intent
  Intent ci;  // class-level intent
  uint64_t c[kCounterCount];
};

// One attached process mapping. Liveness = pid alive AND its start time unchanged (a recycled pid
// has another start time).
struct ProcSlot {
  std::atomic<uint32_t> pid;  // 0 = free
  uint32_t pad;
  std::atomic<uint64_t> start;
};
static_assert(sizeof(StatSlot) <= 320, "slot fits five cache lines");

struct alignas(64) Header {
  // Identity, written once at creation.
  uint64_t magic;
  uint32_t version;
  uint32_t abi;
  uint64_t file_size;
  uint64_t mem_limit;      // bytes of slab pages (memcached -m)
  uint32_t item_size_max;  // memcached -I
  uint32_t page_size;
  uint32_t n_classes;  // largest class id in use (classes 1..n_classes)
  uint32_t evict;      // 1 = evict LRU when full, 0 = -M
  uint64_t arena_off;  // byte offset of the hash-table arena
  uint64_t arena_size;
  uint32_t max_hash_power;
  uint32_t pages_total;
  uint64_t pages_off;  // byte offset of page 0 (4 KiB aligned)
  uint64_t created;    // unix seconds

  alignas(64) Lock pages_lock;
  uint32_t pages_used;  // bump allocator over pages, under pages_lock

  // Hash table state: power (bits 56..63), expanding (bit 48), migrate position (bits 0..31).
  alignas(64) std::atomic<uint64_t> table_state;
  Lock expand_lock;

  alignas(64) std::atomic<uint64_t> cas_counter;
  std::atomic<uint32_t> flush_gen;                // immediate flush_alls (in cas_counter's padding: older files hold 0)
  alignas(64) std::atomic<int64_t> clock_offset;  // seconds added to the wall clock (tests)
  std::atomic<uint64_t> flush_cas;                // immediate flush_all: the CAS counter's next value then
  std::atomic<uint32_t> flush_time;               // delayed flush: items with time < this die then
  std::atomic<uint32_t> clean;                    // 1 = closed cleanly (warm restart; issue 5)
  std::atomic<uint32_t> dirty;                    // 1 = a process died attached: recover at next cold open
  std::atomic<uint32_t> flush_live;               // the last immediate flush_all's second (0: none, or an older file)
  uint64_t stat_base[kCounterCount];              // `stats reset`: sums at the reset
  std::atomic<uint64_t> recoveries;               // times recovery ran on this region
  std::atomic<uint64_t> lock_takeovers;           // locks taken from dead owners (and repaired)

  alignas(64) ProcSlot procs[kProcs];       // attached processes, under the file's flock
  alignas(64) uint8_t page_cls[kMaxPages];  // class of each page in use (0 = none), under
                                            // that class's lock; read by recovery

  alignas(64) ClassHdr classes[kMaxClasses];
  alignas(64) Stripe stripes[kStripes];
  alignas(64) StatSlot slots[kSlots];
};

// The stripe of a hash value (or of a bucket index: its low bits are the hash's). The one place
// the stripe index is computed; assoc.h says why one stripe covers a whole bucket.
constexpr uint32_t stripe_index(uint64_t hv) { return uint32_t(hv & (kStripes - 1)); }
inline Stripe& stripe_of(Header* h, uint64_t hv) { return h->stripes[stripe_index(hv)]; }

// A fingerprint of the layout: struct sizes and the constants that shape the region.
constexpr uint32_t abi_fingerprint() {
  uint32_t h = 2166136261u;
  const uint64_t parts[] = {sizeof(Item),
                            sizeof(ClassHdr),
                            sizeof(StatSlot),
                            sizeof(Header),
                            kStripes,
                            kMaxClasses,
                            kSlots,
                            kUnit,
                            kCounterCount,
                            offsetof(Header, classes),
                            offsetof(Header, stripes),
                            offsetof(Header, slots),
                            sizeof(Intent),
                            kProcs,
                            kMaxPages,
                            offsetof(Header, procs)};
  for (uint64_t p : parts) {
    h = (h ^ static_cast<uint32_t>(p)) * 16777619u;
    h = (h ^ static_cast<uint32_t>(p >> 32)) * 16777619u;
  }
  return h;
}

// Counters in the region change under their owner's lock and are read by stats without it:
// the writer stores with a relaxed atomic (a plain read of its own field is safe under the lock),
// readers load with one.
inline void counter_add(uint64_t& v, int64_t d) { __atomic_store_n(&v, v + uint64_t(d), __ATOMIC_RELAXED); }
inline void counter_set(uint64_t& v, uint64_t x) { __atomic_store_n(&v, x, __ATOMIC_RELAXED); }
inline uint64_t counter_load(const uint64_t& v) { return __atomic_load_n(&v, __ATOMIC_RELAXED); }

// Table state word helpers.
constexpr uint64_t ts_make(uint32_t power, bool expanding, uint32_t pos) {
  return (uint64_t(power) << 56) | (uint64_t(expanding) << 48) | pos;
}
constexpr uint32_t ts_power(uint64_t s) { return uint32_t(s >> 56); }
constexpr bool ts_expanding(uint64_t s) { return (s >> 48) & 1; }
constexpr uint32_t ts_pos(uint64_t s) { return uint32_t(s); }

}  // namespace shm
