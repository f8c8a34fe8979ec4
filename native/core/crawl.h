// crawl.h — reading the table without changing it: has (a peek: no value copy, no LRU bump, no
// counters) and the key crawler behind Cache#keys() (memcached's `lru_crawler metadump`, done
// bucket by bucket rather than by LRU).
//
// Invariants:
//  - Every item is read under its bucket's stripe, so a key is never torn, and nothing is
//    written: no LRU bump, no unlinking of dead items (they are skipped), no stats.
//  - The crawl cursor counts logical buckets. Tables only grow, and a bucket b of power p splits
//    into b and b + 2^p of power p+1, so continuing a cursor after growth visits every bucket
//    not yet visited (and some again): each key live for the whole crawl is reported at least
//    once; duplicates only when the table grew meanwhile.
#pragma once
#include <cstdint>
#include <vector>

#include "core/stats.h"
#include "core/store.h"

namespace shm {

// Whether key holds a live item: kOk (yes), kMiss, or kBadKey.
Status cmd_peek(Ctx& ctx, const uint8_t* key, uint32_t nkey);

// Appends the keys of live items as [u8 nkey][key] to out, whole buckets at a time, from
// logical bucket *cursor on, until out holds at least soft_cap bytes or the table ends. Returns
// true when the crawl is complete (*cursor is then past the last bucket).
bool crawl_keys(Ctx& ctx, uint64_t* cursor, std::vector<uint8_t>* out, size_t soft_cap);

}  // namespace shm
