// slabs.h — the slab heap: size classes over 1 MiB pages. Owns: the class table (every chunk
// size memcached computes for -n 48 -f 1.25; in regions with enough pages, each gap up to 8880
// bytes cut into 2..5 geometric steps (the rule: slabs.cc); and one class of itemSizeMax when that
// exceeds memcached's largest chunk, since items are never chunked here), handing pages to classes, and each class's
// free list. The table is written into a region at creation and read from it after, so a file keeps the table it was
// made with.
//
// Invariants: a chunk is on exactly one of {its class free list (kFree), the hash table + LRU
// (kLinked), a caller's hands between alloc and link}. Free lists and pages_used change only
// under the class lock / pages lock, taken in the lock order of lock.h (class -> pages).
#pragma once
#include <cstdint>

#include "core/layout.h"

namespace shm {

class Region;

void slabs_init(Header* h);
bool slabs_validate(const Header* h);

// The smallest class whose chunk holds ntotal bytes; 0 when none does (too large).
uint32_t slabs_clsid(const Header* h, uint64_t ntotal);

// Under the class lock: pops a free chunk (0 when the list is empty or corrupt).
uint32_t slabs_pop_free(Region& r, ClassHdr& c);
// Under the class lock: takes a fresh page for the class and carves it into the free list.
// False when every page of the region is in use.
bool slabs_grow(Region& r, uint32_t cls);
// Under the class lock: carves a page the caller owns (fresh, or taken from another class by
// rebalance.cc) into the class's free list.
bool slabs_carve(Region& r, uint32_t cls, uint32_t page);
// Under the class lock: returns a chunk to its class's free list.
void slabs_push_free(Region& r, ClassHdr& c, Item* it);

}  // namespace shm
