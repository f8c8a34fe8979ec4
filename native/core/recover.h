// recover.h — crash safety: the attach table, dead-owner lock repair, offline recovery and the
// structure verifier. Owns: deciding at open between warm start, attach and recovery (called by
// region.cc under the file's flock); the lock hooks (lock.h) that judge an owner's liveness from
// the attach table and repair what a taken-over lock guards; the rebuild of every derived
// structure from a scan of the slab pages; the read-only verifier behind `shmcached check`.
//
// Invariants:
//  - What is stored is the items: a chunk whose header says linked (kLinked, set before the table
//    store that publishes it) with a sane class, key and length. Everything else (hash chains,
//    LRU lists, free lists, class counters, pages per class) is derived and can be rebuilt.
//  - Offline recovery runs only with no live process attached (under the flock), so it owns the
//    whole region; it never trusts an offset without the bounds check of Region::item/chunk.
//  - Online repair runs in the thread that just took a lock from a dead owner, holding that lock
//    (and whatever it held before, in lock order): a stripe repair may take class locks, a class
//    repair takes none. Repairs record no intents of their own.
//  - A repair online keeps every structure walkable and consistent; chunks it cannot place
//    (held by the dead thread between allocation and link) are leaked until the next offline
//    recovery, which the `dirty` word asks for.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/layout.h"

namespace shm {

class Region;

// What opening a region did (RegionOptions / Region::open).
struct RecoveryReport {
  enum Kind : uint32_t { kCreated = 0, kAttached = 1, kWarm = 2, kRecovered = 3, kReset = 4 };
  Kind kind = kCreated;
  uint64_t items_kept = 0;       // linked items found valid and kept
  uint64_t items_dropped = 0;    // linked-looking chunks that failed verification
  uint64_t duplicates = 0;       // older copies of a key (a replace cut short): dropped
  uint64_t expired = 0;          // expired or flushed items: reclaimed
  uint64_t chunks_freed = 0;     // chunks put on free lists (all not holding a kept item)
  uint64_t pages_scanned = 0;
  uint64_t orphan_pages = 0;     // pages in use but of no class (a page move cut short)
  uint64_t dead_processes = 0;   // attach-table entries of processes that had died
  double ms = 0;                 // time spent in recovery (or warm start)
  std::string reason;            // for kReset: why the old contents were dropped
};

// The attach table, under the file's flock (region.cc calls these from open and close).
// Removes dead entries (counted in *dead), returns the number of live ones.
uint32_t procs_sweep(Header* h, uint64_t* dead);
// Adds this process; false when the table is full.
bool procs_add(Header* h, uint32_t* index);
void procs_remove(Header* h, uint32_t index);

// With no live process attached: clears every lock, owner and intent (the warm start's part).
void reset_runtime(Region& r);
// With no live process attached: rebuilds every derived structure from the slab pages.
void recover_offline(Region& r, RecoveryReport* rep);

// Installs the lock hooks (idempotent).
void install_lock_hooks();

// Test only: dies by SIGKILL (never returns) in the middle of a structural change, to prove the
// repair of exactly that state. Points: 1 a set of key, its table store done, before the LRU link
// (stripe held); 2 the same with the class lock held, inside the LRU link before its commit;
// 3 a delete of key (which must exist), its table store done, before the LRU unlink (stripe
// held); 4 holding key's stripe lock, changing nothing; 5 holding the pages lock.
// Returns only when the key is invalid or the item cannot be allocated.
struct Ctx;
void debug_die_in(Ctx& ctx, int point, const uint8_t* key, uint32_t nkey, const uint8_t* val, uint32_t nval);

// Verifies every structure (hash chains, LRU lists, free lists, counters, page ownership)
// without writing; problems are described in *problems. Meaningful only when no process is
// changing the region at the same time.
struct VerifyStats {
  uint64_t items = 0, free_chunks = 0, pages_used = 0, pages_total = 0, live_procs = 0;
  uint32_t hash_power = 0;
  bool expanding = false, clean = false, dirty = false;
};
bool verify_region(Region& r, std::vector<std::string>* problems, VerifyStats* st);

}  // namespace shm
