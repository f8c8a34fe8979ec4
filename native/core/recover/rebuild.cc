// recover/rebuild.cc — what opening a region does when no live process is attached (recover.h
// reset_runtime, recover_offline). Owns: the warm start's reset of every lock, owner and intent;
// and the offline recovery that rebuilds every derived structure (hash table, LRU lists, free
// lists, class counters, pages per class, the CAS counter) from a scan of the slab pages.
//
// Invariants:
//  - Runs only under the file's flock with no live process attached, so it owns the whole region;
//    it never trusts an offset without the bounds check of Region::item/chunk.
//  - What is stored is the items: a chunk kept is sane (raw.h item_sane) AND was reachable from
//    the hash table as it was at the crash (the table words are the commit points of link and
//    unlink; an item a bucket move had in flight is named by its mover's intent). Everything
//    else goes on the free list and is counted in the report (dropped, expired, duplicates).
//  - Of two copies of one key (a replace cut short) the higher CAS wins; the CAS counter restarts
//    above every CAS kept. LRU order is rebuilt from each item's last-access time.
//  - Records no intents (t_slot is null while it runs) and clears `dirty`.
//
// Lock order: takes no lock (it clears them all; nobody else is attached).
#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "core/assoc.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/items.h"
#include "core/recover.h"
#include "core/recover/raw.h"
#include "core/region.h"
#include "core/slabs.h"
#include "core/stats.h"

namespace shm {

void reset_runtime(Region& r) {
  Header* h = r.h();
  h->expand_lock.word.store(0, std::memory_order_relaxed);
  h->pages_lock.word.store(0, std::memory_order_relaxed);
  for (uint32_t i = 0; i < kMaxClasses; ++i) h->classes[i].lock.word.store(0, std::memory_order_relaxed);
  for (uint32_t i = 0; i < kStripes; ++i) {
    Stripe& s = h->stripes[i];
    s.lock.word.store(0, std::memory_order_relaxed);
    uint32_t q = s.seq.load(std::memory_order_relaxed);
    if (q & 1) s.seq.store(q + 1, std::memory_order_relaxed);
  }
  for (uint32_t i = 0; i < kSlots; ++i) {
    StatSlot& s = h->slots[i];
    s.owner_tid.store(0, std::memory_order_relaxed);
    s.owner_pid.store(0, std::memory_order_relaxed);
    s.owner_start.store(0, std::memory_order_relaxed);
    s.si.op.store(kIntentNone, std::memory_order_relaxed);
    s.ci.op.store(kIntentNone, std::memory_order_relaxed);
  }
  for (uint32_t i = 0; i < kProcs; ++i) procs_remove(h, i);
}

namespace {

// One bit per 8-byte unit of the page area: which chunks the old hash table reached.
struct Reach {
  uint64_t base_unit = 0;
  std::vector<uint64_t> bits;
  void init(const Region& r) {
    base_unit = r.geo().pages_off / kUnit;
    bits.assign((r.geo().file_size - r.geo().pages_off) / kUnit / 64 + 1, 0);
  }
  void set(uint32_t off) {
    uint64_t i = off - base_unit;
    if (off >= base_unit && i / 64 < bits.size()) bits[i / 64] |= uint64_t(1) << (i % 64);
  }
  bool get(uint32_t off) const {
    uint64_t i = off - base_unit;
    return off >= base_unit && i / 64 < bits.size() && (bits[i / 64] >> (i % 64)) & 1;
  }
};

// Marks every sane item reachable from the table as it was at the crash (the table words are
// the commit points of link and unlink).
void mark_reachable(Region& r, Reach* reach) {
  Header* h = r.h();
  uint64_t s = h->table_state.load(std::memory_order_relaxed);
  uint32_t p = ts_power(s);
  uint32_t maxp = r.geo().max_hash_power;
  if (p < kMinHashPower || p > maxp) return;
  bool exp = ts_expanding(s) && p < maxp;
  uint64_t half = uint64_t(1) << p, pos = ts_pos(s);
  auto walk = [&](uint32_t* tab, uint64_t bucket, uint64_t mask) {
    uint32_t off = tab[bucket];
    for (uint32_t n = 0; off && n < (1u << 20); ++n) {
      Item* it = r.item(off);
      if (!it || it->cls < 1 || it->cls > h->n_classes || !item_sane(h, it, it->cls)) return;
      if ((hash_key(it->key(), it->nkey) & mask) != bucket) return;
      reach->set(off);
      off = it->h_next;
    }
  };
  constexpr uint64_t kAhead = 16;  // chain heads are random misses: fetch them ahead of the walk
  for (uint64_t b = 0; b < half; ++b) {
    if (b + kAhead < half && (!exp || b + kAhead >= pos))
      if (Item* ahead = r.chunk(r.table(p)[b + kAhead])) __builtin_prefetch(ahead, 0, 0);
    if (!exp || b >= pos) walk(r.table(p), b, half - 1);
    if (exp && b <= pos) {  // moved buckets, and the one being moved (partly in both tables)
      walk(r.table(p + 1), b, 2 * half - 1);
      walk(r.table(p + 1), b + half, 2 * half - 1);
    }
  }
  // An item in the middle of a bucket move is in no chain: its mover's intent names it.
  for (uint32_t i = 0; i < kSlots; ++i) {
    const Intent& in = h->slots[i].si;
    if (in.op.load(std::memory_order_relaxed) == kIntentMigrate) reach->set(in.a);
  }
}

}  // namespace

void recover_offline(Region& r, RecoveryReport* rep) {
  auto t0 = std::chrono::steady_clock::now();
  Header* h = r.h();
  const Geometry& g = r.geo();
  StatSlot* saved_slot = t_slot;
  t_slot = nullptr;

  Reach reach;
  reach.init(r);
  mark_reachable(r, &reach);
  reset_runtime(r);

  // The table: the larger power if it was growing; rebuilt from empty.
  uint64_t s = h->table_state.load(std::memory_order_relaxed);
  uint32_t p = ts_power(s);
  if (p < kMinHashPower) p = kMinHashPower;
  if (p > g.max_hash_power) p = g.max_hash_power;
  if (ts_expanding(s) && p < g.max_hash_power) ++p;
  std::memset(r.table(p), 0, size_t(4) << p);
  h->table_state.store(ts_make(p, false, 0), std::memory_order_relaxed);

  uint32_t ncls = h->n_classes;
  for (uint32_t i = 1; i <= ncls; ++i) {
    ClassHdr& c = h->classes[i];
    c.free_head = c.lru_head = c.lru_tail = 0;
    counter_set(c.free_chunks, 0);
    counter_set(c.total_pages, 0);
    counter_set(c.curr_items, 0);
    counter_set(c.bytes, 0);
  }

  Ctx ctx;
  ctx.r = &r;
  ctx.now = clock_now(h);
  uint64_t max_cas = h->cas_counter.load(std::memory_order_relaxed);
  std::vector<std::vector<uint64_t>> lru(ncls + 1);  // (time << 32 | offset) per class
  struct Cand {
    Item* it;
    uint64_t hv;
  };
  std::vector<Cand> cand;
  uint32_t pages = std::min(h->pages_used, g.pages_total);
  for (uint32_t pg = 0; pg < pages; ++pg) {
    uint32_t cls = h->page_cls[pg];
    bool orphan = class_of(h, cls) == nullptr;
    if (orphan) {
      // A page taken but never carved, or emptied by a page move that did not finish: its chunks
      // hold nothing (a move evicts before it frees). Give it to the largest class.
      cls = ncls;
      h->page_cls[pg] = uint8_t(cls);
      rep->orphan_pages++;
    }
    ClassHdr& c = h->classes[cls];
    counter_add(c.total_pages, 1);
    rep->pages_scanned++;
    uint8_t* base = r.page(pg);
    // Pass 1 over the page: verify each chunk; what is not kept goes on the free list, backwards,
    // so that the list hands chunks out in address order, as carving does.
    cand.clear();
    for (uint32_t k = c.perslab; k-- > 0;) {
      Item* it = reinterpret_cast<Item*>(base + uint64_t(k) * c.size);
      uint32_t off = r.offset_of(it);
      bool linked_look = (it->iflags & (kLinked | kFree)) == kLinked;
      bool keep = !orphan && item_sane(h, it, cls);
      if (keep && !reach.get(off)) {
        keep = false;  // a link or an unlink cut short: the table, the commit point, says no
        rep->items_dropped++;
      } else if (!keep && linked_look && !orphan) {
        rep->items_dropped++;
      }
      if (keep && item_is_dead(ctx, it)) {
        keep = false;
        rep->expired++;
      }
      if (keep) {
        cand.push_back({it, hash_key(it->key(), it->nkey)});
      } else {
        raw_push_free(r, c, it, cls);
        rep->chunks_freed++;
      }
    }
    // Pass 2: into the new table, each bucket fetched a few items ahead (random misses).
    constexpr size_t kAhead = 8;
    for (size_t i = 0; i < cand.size(); ++i) {
      if (i + kAhead < cand.size()) assoc_prefetch_bucket(r, cand[i + kAhead].hv);
      Item* it = cand[i].it;
      uint64_t hv = cand[i].hv;
      bool keep = true;
      Item* other = assoc_find(r, hv, it->key(), it->nkey);
      if (other) {
        rep->duplicates++;
        if (other->cas >= it->cas) {
          keep = false;
        } else {
          assoc_replace(r, hv, other, it);
          other->iflags = 0;  // dropped below, when its turn in the LRU build comes
        }
      } else {
        assoc_insert(r, hv, it);
      }
      if (keep) {
        it->iflags = uint8_t((it->iflags & ~(kFree | kMoving)) | kLinked);  // keeps fetched, meta marks
        it->prev = it->next = 0;
        lru[cls].push_back((uint64_t(it->time) << 32) | r.offset_of(it));
        if (it->cas > max_cas) max_cas = it->cas;
      } else {
        raw_push_free(r, c, it, cls);
        rep->chunks_freed++;
      }
    }
  }
  // LRU lists in order of last access (oldest linked first, so the newest ends at the head).
  for (uint32_t i = 1; i <= ncls; ++i) {
    ClassHdr& c = h->classes[i];
    std::vector<uint64_t>& order = lru[i];
    std::sort(order.begin(), order.end());
    for (size_t j = 0; j < order.size(); ++j) {
      if (j + 8 < order.size())
        if (Item* ahead = r.chunk(uint32_t(order[j + 8]))) __builtin_prefetch(ahead, 1, 0);
      uint64_t e = order[j];
      Item* it = r.item(uint32_t(e));
      if (!it) continue;
      if (it->iflags == 0) {  // lost to a newer copy of its key
        raw_push_free(r, c, it, i);
        rep->chunks_freed++;
        continue;
      }
      raw_lru_link(r, c, it);
      counter_add(c.curr_items, 1);
      counter_add(c.bytes, int64_t(it->ntotal()));
      rep->items_kept++;
    }
    std::vector<uint64_t>().swap(lru[i]);
  }
  h->cas_counter.store(max_cas, std::memory_order_relaxed);
  h->dirty.store(0, std::memory_order_relaxed);
  h->recoveries.fetch_add(1, std::memory_order_relaxed);
  t_slot = saved_slot;
  rep->ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace shm
