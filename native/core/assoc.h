// assoc.h — the hash table: chains of items linked by offsets, grown incrementally.
//
// Lock order: lock.h (expand_lock -> item stripe -> class lock -> pages lock).
//
// Invariants:
//  - The stripe of a key is layout.h's stripe_index(hv) = hv & (kStripes - 1) and its bucket
//    is hv & (2^power - 1). Since 2^power >= kStripes always, one stripe lock covers a whole
//    bucket, in the old table and in both of its halves in the new one. Every read or write of a bucket happens under
//    its stripe.
//  - Growth (Redis's dict.c idea, with memcached's stripes): the table of power p+1 lives at its
//    own place in the arena; writers move a few old buckets per operation. table_state packs
//    (power, expanding, pos) in one word and changes only while the stripe of the bucket being
//    moved is held, so a thread holding a stripe reads a state that is exact for its buckets.
//  - Every offset followed is bounds-checked; a chain longer than any real one is cut.
#pragma once
#include <cstdint>

#include "core/layout.h"

namespace shm {

class Region;

// Under the key's stripe: the item with this key, or nullptr.
Item* assoc_find(Region& r, uint64_t hv, const uint8_t* key, uint32_t nkey);
// Without the stripe, as an optimistic reader (stripe.h): the item with this key as the chain
// looked while being read, or nullptr; at most `hops` items are visited (*gave_up set when the
// walk was cut). The caller validates the stripe's count before trusting anything it read.
Item* assoc_find_racy(Region& r, uint64_t hv, const uint8_t* key, uint32_t nkey, uint32_t hops, bool* gave_up);

// Under the key's stripe: whether the item at offset off is on hv's chain.
bool assoc_contains(Region& r, uint64_t hv, uint32_t off);

// Under the key's stripe: links a new item (its key must not be present).
void assoc_insert(Region& r, uint64_t hv, Item* it);
// Under the key's stripe: replaces old with neu in its chain by one store of the link word.
void assoc_replace(Region& r, uint64_t hv, Item* old, Item* neu);
// Under the key's stripe: unlinks the item; false if it was not in its chain.
bool assoc_unlink(Region& r, uint64_t hv, Item* it);

// With no lock held: hints the CPU to fetch the bucket of hv (step 1 of a batched lookup), or
// the first item of its chain (step 2, once the bucket is cached). Both read the table without
// the stripe: a stale answer only prefetches the wrong line, and a prefetch never faults.
void assoc_prefetch_bucket(Region& r, uint64_t hv);
void assoc_prefetch_item(Region& r, uint64_t hv);
// The same two steps for n hashes in one call each (a batched get's group).
void assoc_prefetch_buckets(Region& r, const uint64_t* hv, uint32_t n);
void assoc_prefetch_items(Region& r, const uint64_t* hv, uint32_t n);

// With no lock held: starts growing the table if items exceed 0.75 per bucket (short chains:
// at 100k+ keys every hop is a memory miss).
void assoc_maybe_grow(Region& r, uint64_t items);
// Under the stripe of bucket b, with the table growing from power p: moves the rest of old bucket b
// into the new table (fresh: the two new buckets start empty; a repair continues a half-moved one).
void assoc_migrate_bucket(Region& r, uint32_t p, uint32_t b, bool fresh);
// With no lock held: moves up to n buckets of a growing table (no-op when not growing).
void assoc_migrate(Region& r, uint32_t n);

}  // namespace shm
