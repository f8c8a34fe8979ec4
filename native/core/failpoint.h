// failpoint.h — named fail-points compiled into the real code paths, so that tests can kill a
// thread (SIGKILL, the whole process) in the middle of a real structural change and prove that the
// survivors repair exactly that state (recover/repair.cc) and that a later open recovers it
// (recover/rebuild.cc). Owns: the list of points, the one armed point of this process, and what
// hitting it does.
//
// Invariants:
//  - Off by default: g_failpoint is 0 until a test arms a point (core tests with failpoint_arm,
//    the JS death tests through the addon's test-only armFailpoint). A disarmed point costs one
//    load of a process-private global and one predicted-not-taken branch; the hit path is cold
//    and out of line.
//  - Arming is process-wide and sticky: the first thread of this process that reaches the armed
//    point dies there, with whatever locks and intent records the real code holds at that point.
//  - Points live in process memory, never in the region: one process's test cannot arm another's.
//  - Each point's number is part of the test contract (native/test/core_test.cc,
//    test/recovery.test.ts name them by string, kFailPointNames); add new ones at the end.
#pragma once
#include <cstdint>

namespace shm {

enum class FailPoint : uint32_t {
  kNone = 0,
  kLinkAfterTable = 1,       // items.cc item_link: the table store done, before the LRU link (stripe held)
  kLruLinkBeforeCommit = 2,  // lru.cc lru_link: half linked, before the head store (stripe and class held)
  kUnlinkAfterTable = 3,     // items.cc item_unlink: out of the table, still on the LRU (stripe held)
  kDeleteStripeHeld = 4,     // store.cc cmd_delete: the stripe taken, nothing changed yet
  kGrowPagesLock = 5,        // slabs.cc slabs_grow: holding the pages lock (and the class lock)
  kMigrateMidItem = 6,       // assoc.cc assoc_migrate_bucket: an item out of the old chain, not yet in
                             //   the new one (expand lock and the bucket's stripe held)
  kCarveHalfway = 7,         // slabs.cc slabs_carve: half the new page's chunks on the free list (class held)
  kEmptyPageAfterEvict = 8,  // rebalance.cc empty_page: an item just evicted for a page move, its
                             //   stripe and the source class lock held
  kSetAfterAlloc = 9,        // store.cc cmd_store: a chunk allocated and filled, not linked (no lock held)
  kCount
};

// Test names, indexed by FailPoint ("" for kNone).
extern const char* const kFailPointNames[uint32_t(FailPoint::kCount)];

// The armed point (a FailPoint value; 0 = none). Written only by failpoint_arm.
extern uint32_t g_failpoint;

// Dies by SIGKILL: no handler, no unwinding, no destructor runs (what a crash looks like to the
// survivors).
[[noreturn, gnu::cold, gnu::noinline]] void failpoint_hit(FailPoint p);

// Test only: arms p for this process (kNone disarms).
void failpoint_arm(FailPoint p);
// The point named name, or kCount when there is none.
FailPoint failpoint_by_name(const char* name);

}  // namespace shm

// One branch on a global, off by default (see above).
#define SHM_FAILPOINT(point)                                                                                          \
  do {                                                                                                                \
    if (__builtin_expect(__atomic_load_n(&::shm::g_failpoint, __ATOMIC_RELAXED) == uint32_t(::shm::FailPoint::point), \
                         0))                                                                                          \
      ::shm::failpoint_hit(::shm::FailPoint::point);                                                                  \
  } while (0)
