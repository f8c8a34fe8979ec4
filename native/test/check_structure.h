// check_structure.h — test-only: walks a quiescent region and checks every derived structure
// against the others: hash chains (both tables while growing), each class's LRU list and free
// list, and the class counters. Shared by core_test.cc and core_stress.cc.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/hash.h"
#include "core/layout.h"
#include "core/region.h"

namespace shm {

inline bool check_structure(Region& r, std::string* why) {
  Header* h = r.h();
  const Geometry& g = r.geo();
  auto fail = [&](std::string s) {
    *why = std::move(s);
    return false;
  };
  uint64_t st = h->table_state.load();
  uint32_t p = ts_power(st);
  if (p < kMinHashPower || p > g.max_hash_power) return fail("table power out of range");
  bool exp = ts_expanding(st);
  uint64_t pos = ts_pos(st);
  std::vector<uint64_t> in_hash(kMaxClasses, 0);
  uint64_t seen = 0;
  auto walk = [&](uint32_t* tab, uint64_t bucket, uint64_t mask) -> bool {
    uint32_t off = tab[bucket];
    for (uint32_t n = 0; off; ++n) {
      if (n > 1000000) return fail("hash chain loop");
      Item* it = r.item(off);
      if (!it) return fail("hash chain offset out of bounds");
      if (!(it->iflags & kLinked)) return fail("unlinked item in hash chain");
      if ((hash_key(it->key(), it->nkey) & mask) != bucket) return fail("item in the wrong bucket");
      if (it->cls < 1 || it->cls > h->n_classes) return fail("item class out of range");
      if (it->ntotal() > h->classes[it->cls].size) return fail("item larger than its chunk");
      in_hash[it->cls]++;
      seen++;
      off = it->h_next;
    }
    return true;
  };
  uint64_t half = uint64_t(1) << p;
  for (uint64_t b = 0; b < half; ++b) {
    if (exp && b < pos) {
      if (r.table(p)[b] != 0) return fail("migrated old bucket not empty");
      if (!walk(r.table(p + 1), b, 2 * half - 1) || !walk(r.table(p + 1), b + half, 2 * half - 1)) return false;
    } else {
      if (!walk(r.table(p), b, half - 1)) return false;
    }
  }
  uint64_t pages = 0;
  for (uint32_t i = 1; i <= h->n_classes; ++i) {
    ClassHdr& c = h->classes[i];
    pages += c.total_pages;
    uint64_t n = 0, bytes = 0;
    uint32_t prev = 0;
    for (uint32_t off = c.lru_head; off; ++n) {
      if (n > (1u << 26)) return fail("LRU loop");
      Item* it = r.item(off);
      if (!it) return fail("LRU offset out of bounds");
      if (!(it->iflags & kLinked) || it->cls != i) return fail("LRU holds a foreign item");
      if (it->prev != prev) return fail("LRU prev link broken in class " + std::to_string(i));
      bytes += it->ntotal();
      prev = off;
      off = it->next;
    }
    if (c.lru_tail != prev) return fail("LRU tail mismatch in class " + std::to_string(i));
    if (n != c.curr_items)
      return fail("class " + std::to_string(i) + ": LRU length " + std::to_string(n) + " != curr_items " +
                  std::to_string(c.curr_items));
    if (n != in_hash[i])
      return fail("class " + std::to_string(i) + ": hash holds " + std::to_string(in_hash[i]) + ", LRU " +
                  std::to_string(n));
    if (bytes != c.bytes) return fail("class " + std::to_string(i) + ": bytes counter off");
    uint64_t nf = 0;
    for (uint32_t off = c.free_head; off; ++nf) {
      if (nf > (1u << 26)) return fail("free list loop");
      Item* it = r.chunk(off);
      if (!it || !(it->iflags & kFree)) return fail("free list holds a non-free chunk");
      off = it->h_next;
    }
    if (nf != c.free_chunks) return fail("class " + std::to_string(i) + ": free list length != free_chunks");
    if (nf + n != c.total_pages * c.perslab)
      return fail("class " + std::to_string(i) + ": linked + free != chunks (" + std::to_string(n) + " + " +
                  std::to_string(nf) + " != " + std::to_string(c.total_pages * c.perslab) + ")");
  }
  if (pages != h->pages_used) return fail("pages per class do not add up to pages_used");
  return true;
}

}  // namespace shm
