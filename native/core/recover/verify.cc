// recover/verify.cc — the read-only structure verifier behind `shmcached check` and the tests
// (recover.h verify_region). Owns: walking every hash chain, LRU list and free list, and checking
// them against each other and against the class counters and the page table.
//
// Invariants:
//  - Writes nothing and takes no lock; meaningful only when no process is changing the region.
//  - Every walk is bounded (a loop is reported, never followed forever) and every offset is
//    bounds-checked (Region::item/chunk), so a damaged region is described, not crashed on.
//  - Fewer linked + free chunks than a class's pages hold is a leak (chunks a dead process held
//    between allocation and link), reported in leaked_chunks, not a problem; more is damage.
//
// Lock order: takes none.
#include <algorithm>
#include <string>
#include <vector>

#include "core/hash.h"
#include "core/recover.h"
#include "core/recover/raw.h"
#include "core/region.h"
#include "core/stats.h"

namespace shm {

bool verify_region(Region& r, std::vector<std::string>* problems, VerifyStats* st) {
  Header* h = r.h();
  const Geometry& g = r.geo();
  auto bad = [&](std::string s) {
    if (problems->size() < 50) problems->push_back(std::move(s));
  };
  uint64_t ts = h->table_state.load(std::memory_order_relaxed);
  uint32_t p = ts_power(ts);
  st->hash_power = p;
  st->expanding = ts_expanding(ts);
  st->clean = h->clean.load() == 1;
  st->dirty = h->dirty.load() == 1;
  st->pages_used = h->pages_used;
  st->pages_total = g.pages_total;
  for (uint32_t i = 0; i < kProcs; ++i) {
    uint32_t pid = h->procs[i].pid.load();
    if (pid && proc_alive(pid, h->procs[i].start.load())) st->live_procs++;
  }
  if (p < kMinHashPower || p > g.max_hash_power || (st->expanding && p >= g.max_hash_power)) {
    bad("hash table state out of range");
    return false;
  }
  uint32_t ncls = h->n_classes;
  std::vector<uint64_t> in_hash(kMaxClasses, 0);
  bool exp = st->expanding;
  uint64_t half = uint64_t(1) << p, pos = ts_pos(ts);
  auto walk = [&](uint32_t* tab, uint64_t bucket, uint64_t mask) {
    uint32_t off = tab[bucket];
    for (uint32_t n = 0; off; ++n) {
      Item* it = r.item(off);
      if (n > (1u << 20)) return bad("hash chain loop at bucket " + std::to_string(bucket));
      if (!it) return bad("hash chain offset out of bounds at bucket " + std::to_string(bucket));
      if (it->cls < 1 || it->cls > ncls || !item_sane(h, it, it->cls))
        return bad("hash chain holds a chunk that is not a linked item (bucket " + std::to_string(bucket) + ")");
      if ((hash_key(it->key(), it->nkey) & mask) != bucket) return bad("item in the wrong bucket");
      in_hash[it->cls]++;
      off = it->h_next;
    }
  };
  for (uint64_t b = 0; b < half; ++b) {
    if (exp && b < pos) {
      if (r.table(p)[b] != 0) bad("moved bucket not empty in the old table");
      walk(r.table(p + 1), b, 2 * half - 1);
      walk(r.table(p + 1), b + half, 2 * half - 1);
    } else {
      walk(r.table(p), b, half - 1);
    }
  }
  std::vector<uint64_t> pages_of(kMaxClasses, 0);
  uint32_t used = std::min(h->pages_used, g.pages_total);
  for (uint32_t pg = 0; pg < used; ++pg) {
    uint32_t c = h->page_cls[pg];
    if (c >= 1 && c <= ncls) pages_of[c]++;
  }
  uint64_t pages = 0;
  for (uint32_t i = 1; i <= ncls; ++i) {
    ClassHdr& c = h->classes[i];
    std::string cn = "class " + std::to_string(i) + ": ";
    pages += c.total_pages;
    if (pages_of[i] != c.total_pages)
      bad(cn + "page table says " + std::to_string(pages_of[i]) + " pages, class " + std::to_string(c.total_pages));
    uint64_t cap = uint64_t(g.pages_total) * c.perslab + 1;
    uint64_t n = 0, bytes = 0;
    uint32_t prev = 0;
    bool ok = true;
    // Each list walk stops at its first problem: broken() reports it and marks the class.
    auto broken = [&](const char* why) {
      if (why) bad(cn + why);
      ok = ok && !why;
      return why != nullptr;
    };
    for (uint32_t off = c.lru_head; off; ++n) {
      Item* it = r.item(off);
      if (broken(n > cap ? "LRU loop"
                 : !it || it->cls != i || !item_sane(h, it, i)
                     ? "LRU holds a chunk that is not a linked item of the class"
                 : it->prev != prev ? "LRU prev link broken"
                                    : nullptr))
        break;
      bytes += it->ntotal();
      prev = off;
      off = it->next;
    }
    if (ok && c.lru_tail != prev) bad(cn + "LRU tail mismatch");
    if (ok && n != c.curr_items)
      bad(cn + "LRU length " + std::to_string(n) + " != curr_items " + std::to_string(c.curr_items));
    if (ok && n != in_hash[i])
      bad(cn + "hash holds " + std::to_string(in_hash[i]) + " items, LRU " + std::to_string(n));
    if (ok && bytes != c.bytes) bad(cn + "bytes counter off");
    st->items += in_hash[i];
    uint64_t nf = 0;
    for (uint32_t off = c.free_head; off; ++nf) {
      Item* it = r.chunk(off);
      if (broken(nf > cap                       ? "free list loop"
                 : !it || !(it->iflags & kFree) ? "free list holds a chunk that is not free"
                                                : nullptr))
        break;
      off = it->h_next;
    }
    st->free_chunks += nf;
    if (ok && nf != c.free_chunks)
      bad(cn + "free list length " + std::to_string(nf) + " != free_chunks " + std::to_string(c.free_chunks));
    // Fewer is a leak, not damage: chunks a dead process held between allocation and link (or
    // free), which only the next offline recovery reclaims. More is damage.
    uint64_t chunks = c.total_pages * c.perslab;
    if (ok && nf + n < chunks) st->leaked_chunks += chunks - nf - n;
    if (ok && nf + n > chunks)
      bad(cn + "linked + free > chunks (" + std::to_string(n) + " + " + std::to_string(nf) + " > " +
          std::to_string(chunks) + ")");
  }
  if (pages != h->pages_used) bad("pages per class do not add up to pages_used");
  return problems->empty();
}

}  // namespace shm
