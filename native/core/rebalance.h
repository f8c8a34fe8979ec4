// rebalance.h — moving a slab page from one class to another (memcached's slab_reassign /
// automove idea, done synchronously). Owns: choosing a source class and page, emptying that
// page (evicting its items, pulling its free chunks off the source's free list), and handing it
// to the starving class.
//
// Why: pages are given to classes on first use. Once every page is taken, a class that has no
// page (or no items to evict) could never store anything, even with eviction on. memcached moves
// pages in a background thread; here the starving allocation moves one page itself.
//
// Invariants: runs with no lock held by the caller except possibly one item stripe. Takes the
// source class lock, then the stripes of the page's items with try_lock only (class -> stripe
// goes against the lock order), releases the source before taking the destination's lock. If any
// chunk of the page cannot be taken (its stripe is busy, or it is allocated but not yet linked),
// the page is given back to the source intact except for items already evicted, which go to the
// source's free list. A page is owned by exactly one class, or by this function in between.
#pragma once
#include <cstdint>

#include "core/stats.h"

namespace shm {

// Frees one page from another class (one with pages but no items, else the one with the most
// pages, taking the page that holds its least recently used item) and carves it into class dst. True if dst got a page.
// Only with eviction on: moving a page evicts its items.
bool slabs_reassign(Ctx& ctx, uint32_t dst);

// memcached's `slabs reassign SRC DST`: moves one page of class src (-1: the first class other
// than dst with two pages or more) to dst, evicting the items on it, whatever the eviction
// setting. Replies as memcached: kSame, kBadClass (no such class; dst 0, memcached's global page
// pool, which shmcached does not have), kNoSpare (src has fewer than two pages), kBusy (a chunk of
// the page could not be taken now). Enters ctx.
enum class Reassign { kOk, kBusy, kBadClass, kNoSpare, kSame };
Reassign slabs_reassign_from(Ctx& ctx, int32_t src, int32_t dst);

}  // namespace shm
