// recover.h — crash safety: the interface of native/core/recover/. Each mechanism has its own
// file (each with its Owns/Invariants comment and its place in the lock order):
//   recover/procs.cc    the attach table (which processes have the region mapped)
//   recover/repair.cc   online repair: the lock hooks (lock.h), the stripe and class repairs a
//                       survivor runs on a lock taken from a dead owner (acting on the dead thread's
//                       intent records), and the reclaim of chunks dead threads held unlinked
//   recover/rebuild.cc  with no live process attached: the warm start's reset, and the offline
//                       recovery that rebuilds every derived structure from the slab pages
//   recover/verify.cc   the read-only verifier behind `shmcached check`
//   recover/raw.h       helpers they share (item_sane, intent-free list operations)
// region.cc decides at open, under the file's flock, between warm start, attach and recovery.
// The named fail-points that let tests kill a thread inside real changes are failpoint.h's.
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
  uint64_t items_kept = 0;     // linked items found valid and kept
  uint64_t items_dropped = 0;  // linked-looking chunks that failed verification
  uint64_t duplicates = 0;     // older copies of a key (a replace cut short): dropped
  uint64_t expired = 0;        // expired or flushed items: reclaimed
  uint64_t chunks_freed = 0;   // chunks put on free lists (all not holding a kept item)
  uint64_t pages_scanned = 0;
  uint64_t orphan_pages = 0;    // pages in use but of no class (a page move cut short)
  uint64_t dead_processes = 0;  // attach-table entries of processes that had died
  double ms = 0;                // time spent in recovery (or warm start)
  std::string reason;           // for kReset: why the old contents were dropped
};

// recover/procs.cc: the attach table, under the file's flock (region.cc calls these from open
// and close). Removes dead entries (counted in *dead), returns the number of live ones.
uint32_t procs_sweep(Header* h, uint64_t* dead);
// Adds this process; false when the table is full.
bool procs_add(Header* h, uint32_t* index);
void procs_remove(Header* h, uint32_t index);

// recover/repair.cc: with processes attached, frees the chunks that dead threads held between
// allocation and link (their kIntentAlloc records), taking class locks only by try-lock. Returns
// how many. Called at open when the attach table shows a dead process, and after a lock is taken
// from a dead owner.
uint64_t procs_reclaim(Region& r);

// recover/rebuild.cc: with no live process attached, clears every lock, owner and intent (the
// warm start's part).
void reset_runtime(Region& r);
// With no live process attached: rebuilds every derived structure from the slab pages.
void recover_offline(Region& r, RecoveryReport* rep);

// recover/repair.cc: installs the lock hooks (idempotent).
void install_lock_hooks();

// recover/verify.cc: verifies every structure (hash chains, LRU lists, free lists, counters, page
// ownership) without writing; problems are described in *problems. Meaningful only when no process is
// changing the region at the same time.
struct VerifyStats {
  uint64_t items = 0, free_chunks = 0, pages_used = 0, pages_total = 0, live_procs = 0;
  uint64_t leaked_chunks = 0;  // neither linked nor free: held by a process that died (or, while
                               // processes are attached, by one of them right now)
  uint32_t hash_power = 0;
  bool expanding = false, clean = false, dirty = false;
};
bool verify_region(Region& r, std::vector<std::string>* problems, VerifyStats* st);

}  // namespace shm
