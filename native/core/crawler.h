// crawler.h — the expired-item crawler: frees dead (expired or flushed) items that no allocation
// pressure reaches, a bounded number of LRU entries per call (memcached's LRU crawler, driven from
// JS by a timer rather than by a thread of ours). Owns: the walk position (CrawlState, private to
// the caller) and the crawler_reclaimed / crawler_items_checked class counters.
//
// Invariants: each class is walked under its own lock, from the tail towards the head; a dead
// item's stripe is taken by try_lock only (class -> stripe goes against the lock order) and one
// that is busy is skipped until the next pass. A dead item leaves through lru_drop, with the same
// intent records as item_unlink, so a crawler that dies mid-way is repaired like a dying unlink.
// A saved position is trusted only if it is still a linked item of that class: anything else
// (freed, reused elsewhere) restarts the class from its tail.
#pragma once
#include <cstdint>

#include "core/stats.h"

namespace shm {

struct CrawlState {
  uint32_t cls = 1;     // class being walked
  uint32_t cursor = 0;  // next item to look at (0: the class's tail)
};

struct CrawlResult {
  uint64_t checked = 0;
  uint64_t reclaimed = 0;
  bool wrapped = false;  // the walk passed the last class and started again at class 1
};

// Looks at up to budget LRU entries (at most kCrawlBatch under one class lock at a time), across
// classes in turn, freeing the dead ones. Enters ctx and reads the clock itself.
CrawlResult crawl_expired(Ctx& ctx, CrawlState& st, uint32_t budget);

// One class only, from its tail: what a test or the allocator can call directly.
CrawlResult crawl_class(Ctx& ctx, uint32_t cls, uint32_t budget);

}  // namespace shm
