// recover/repair.cc — online repair after a thread died holding a lock, while other processes
// stay attached (recover.h install_lock_hooks, procs_reclaim). Owns: the lock hooks (lock.h) that
// judge an owner's liveness from its thread slot and the attach table; the stripe repair and the
// class repair that a survivor runs on the lock it just took over, acting on the dead thread's
// intent records (layout.h Intent); and the reclaim of chunks dead threads held between
// allocation and link (their kIntentAlloc records).
//
// Invariants:
//  - A repair runs in the thread that just took the lock from a dead owner, holding that lock and
//    whatever it held before (in lock order). It records no intents of its own (t_slot null).
//  - A dead thread's record is acted on, and cleared, only by the repair of the lock it is about:
//    the stripe record (si) by the repair of the stripe its key hashes to, the class record (ci)
//    by the repair of its class. The table words are the commit points: a link or unlink whose
//    table store happened is finished, one whose store did not is undone.
//  - Afterwards every structure the lock guards is walkable and consistent. Chunks it cannot place
//    (held by a dead thread between allocation and link, when the class lock is busy) stay leaked
//    until the next offline recovery, which the `dirty` word (set here) asks for.
//
// Lock order (expand_lock -> stripe -> class -> pages): a stripe repair may take class locks
// (retiring an item, finishing an LRU link) and, by try-lock only, nothing else; a class repair
// takes no lock but try-locks a stripe to ask whether an item is in the table; the reclaim only
// try-locks class locks. pages_lock guards one word stored once and needs no repair; expand_lock
// guards nothing the stripe repair of the bucket being moved does not already finish.
#include <algorithm>
#include <vector>

#include "core/assoc.h"
#include "core/hash.h"
#include "core/lock.h"
#include "core/recover.h"
#include "core/recover/raw.h"
#include "core/region.h"
#include "core/stats.h"
#include "core/stripe.h"

namespace shm {

uint64_t procs_reclaim(Region& r) {
  Header* h = r.h();
  StatSlot* saved = t_slot;
  t_slot = nullptr;
  uint64_t freed = 0;
  for (uint32_t i = 1; i < kSlots; ++i) {
    StatSlot& s = h->slots[i];
    uint32_t op = s.si.op.load(std::memory_order_acquire);
    if (op != kIntentAlloc || s.owner_tid.load(std::memory_order_relaxed) == 0 ||
        proc_alive(s.owner_pid.load(std::memory_order_relaxed), s.owner_start.load(std::memory_order_relaxed)))
      continue;
    Item* it = r.chunk(s.si.a);
    ClassHdr* c = it ? class_of(h, it->cls) : nullptr;
    if (!c || !try_lock(c->lock)) continue;
    // One reclaimer per record: whoever clears it frees the chunk.
    if (s.si.op.compare_exchange_strong(op, kIntentNone, std::memory_order_acq_rel) &&
        (it->iflags & (kLinked | kFree)) == 0) {
      raw_push_free(r, *c, it, it->cls);
      ++freed;
    }
    unlock(c->lock);
  }
  t_slot = saved;
  return freed;
}

namespace {

// Cuts hv-bucket chain at its first link that is not a sane item of that bucket.
void cut_chain(Region& r, uint32_t* head, uint64_t bucket, uint64_t mask) {
  Header* h = r.h();
  uint32_t* link = head;
  for (uint32_t n = 0; *link; ++n) {
    Item* it = r.item(*link);
    if (n >= (1u << 20) || !it || it->cls < 1 || it->cls > h->n_classes || !item_sane(h, it, it->cls) ||
        (hash_key(it->key(), it->nkey) & mask) != bucket) {
      __atomic_store_n(link, 0u, __ATOMIC_RELEASE);
      return;
    }
    link = &it->h_next;
  }
}

bool on_chain(Region& r, uint32_t head, uint32_t off) {
  for (uint32_t n = 0; head && n < (1u << 20); ++n) {
    if (head == off) return true;
    Item* it = r.item(head);
    if (!it) return false;
    head = it->h_next;
  }
  return false;
}

// Under the class lock: whether the item is on the class's LRU, judged from its neighbour (the
// list's forward links are the commit points; its own prev may be stale after a death).
bool on_lru(Region& r, ClassHdr& c, uint32_t off, Item* it) {
  if (c.lru_head == off) return true;
  Item* p = r.item(it->prev);
  return p && p->cls == it->cls && (p->iflags & (kLinked | kFree)) == kLinked && p->next == off;
}

// Takes an item whose link to the table is gone out of the LRU (if still on it) and onto the
// free list. The counters follow the LRU (a class repair, if this took one, recounted them).
void retire_raw(Region& r, Item* it) {
  ClassHdr* c = class_of(r.h(), it->cls);
  if (!c) return;
  Guard g(c->lock);  // stripe -> class: in lock order
  if ((it->iflags & (kLinked | kFree)) != kLinked) return;
  if (on_lru(r, *c, r.offset_of(it), it)) {
    raw_lru_unlink(r, *c, it);
    counter_add(c->curr_items, -1);
    counter_add(c->bytes, -int64_t(it->ntotal()));
  }
  raw_push_free(r, *c, it, it->cls);
}

void stripe_repair(Region& r, uint32_t idx, StatSlot* dead) {
  Header* h = r.h();
  Stripe& st = h->stripes[idx];
  st.seq.store(st.seq.load(std::memory_order_relaxed) | 1, std::memory_order_relaxed);  // readers: keep off
  std::atomic_thread_fence(std::memory_order_release);
  uint32_t maxp = r.geo().max_hash_power;
  uint32_t op = dead ? dead->si.op.load(std::memory_order_acquire) : kIntentNone;
  // The dead thread may have held other stripes too (an eviction try-locks a victim's): its
  // record is acted on, and cleared, only by the repair of the stripe it is about.
  bool mine = false;

  // 1. A bucket move cut short: put the item in flight where it belongs, move the rest, advance.
  uint64_t s = h->table_state.load(std::memory_order_acquire);
  uint32_t p = ts_power(s);
  if (ts_expanding(s) && p >= kMinHashPower && p < maxp && ts_pos(s) < (uint64_t(1) << p) &&
      stripe_index(ts_pos(s)) == idx) {
    uint32_t b = ts_pos(s);
    uint64_t half = uint64_t(1) << p;
    uint32_t* lo = &r.table(p + 1)[b];
    uint32_t* hi = &r.table(p + 1)[b + half];
    cut_chain(r, &r.table(p)[b], b, half - 1);
    cut_chain(r, lo, b, 2 * half - 1);
    cut_chain(r, hi, b + half, 2 * half - 1);
    if (op == kIntentMigrate) {
      mine = true;
      uint32_t off = dead->si.a;
      Item* it = r.item(off);
      if (it && it->cls >= 1 && it->cls <= h->n_classes && item_sane(h, it, it->cls) &&
          (hash_key(it->key(), it->nkey) & (half - 1)) == b && !on_chain(r, r.table(p)[b], off) &&
          !on_chain(r, *lo, off) && !on_chain(r, *hi, off)) {
        uint32_t* dst = (hash_key(it->key(), it->nkey) & half) ? hi : lo;
        it->h_next = *dst;
        __atomic_store_n(dst, off, __ATOMIC_RELEASE);
      }
    }
    assoc_migrate_bucket(r, p, b, false);
    h->table_state.store(uint64_t(b) + 1 == half ? ts_make(p + 1, false, 0) : ts_make(p, true, b + 1),
                         std::memory_order_release);
    s = h->table_state.load(std::memory_order_acquire);
    p = ts_power(s);
  }

  // 2. Every chain of this stripe's buckets: cut at anything that is not an item of that bucket.
  if (p >= kMinHashPower && p <= maxp) {
    bool exp = ts_expanding(s) && p < maxp;
    uint64_t half = uint64_t(1) << p, pos = ts_pos(s);
    for (uint64_t b = idx; b < half; b += kStripes) {
      if (exp && b < pos) {
        cut_chain(r, &r.table(p + 1)[b], b, 2 * half - 1);
        cut_chain(r, &r.table(p + 1)[b + half], b + half, 2 * half - 1);
      } else {
        cut_chain(r, &r.table(p)[b], b, half - 1);
      }
    }
  }

  // 3. The dead owner's link or unlink: finish it if its table store happened, else undo it.
  auto ours = [&](Item* it) {
    return it && it->nkey >= 1 && it->nkey <= kKeyMax && stripe_index(hash_key(it->key(), it->nkey)) == idx;
  };
  if ((op == kIntentLink || op == kIntentUnlink) && ours(r.item(dead->si.a))) {
    mine = true;
    Item* a = r.item(dead->si.a);
    Item* b = op == kIntentLink ? r.item(dead->si.b) : nullptr;
    bool a_in = ours(a) && (a->iflags & kLinked) && assoc_contains(r, hash_key(a->key(), a->nkey), dead->si.a);
    if (op == kIntentLink && a && ours(a) && !(a->iflags & kFree)) {
      ClassHdr* c = class_of(h, a->cls);
      if (c && a_in) {
        // Committed: make sure it is on its LRU and counted.
        Guard g(c->lock);
        if (!on_lru(r, *c, dead->si.a, a)) {
          raw_lru_link(r, *c, a);
          counter_add(c->curr_items, 1);
          counter_add(c->bytes, int64_t(a->ntotal()));
          counter_add(c->total_items, 1);
        }
      } else if (c && !a_in) {
        // Never published: the chunk goes back (the old item, if any, is untouched).
        Guard g(c->lock);
        if (!on_lru(r, *c, dead->si.a, a)) raw_push_free(r, *c, a, a->cls);
      }
    }
    // The replaced (or deleted) item: out of the table but still linked: retire it.
    Item* gone = op == kIntentLink ? (a_in ? b : nullptr) : a;
    if (gone && ours(gone) && (gone->iflags & (kLinked | kFree)) == kLinked &&
        !assoc_contains(r, hash_key(gone->key(), gone->nkey), r.offset_of(gone)))
      retire_raw(r, gone);
  }
  if (mine) dead->si.op.store(kIntentNone, std::memory_order_release);
}

void class_repair(Region& r, uint32_t cls, StatSlot* dead) {
  Header* h = r.h();
  ClassHdr* cp = class_of(h, cls);
  if (!cp) return;
  ClassHdr& c = *cp;
  uint64_t cap = uint64_t(r.geo().pages_total) * c.perslab + 1;
  uint32_t op = kIntentNone, x = 0;
  if (dead && dead->ci.cls == cls) {
    op = dead->ci.op.load(std::memory_order_acquire);
    x = dead->ci.a;
  }
  // A page being carved or emptied: [plo, phi) in the region, and which of its chunks the LRU reaches.
  bool page_op = (op == kIntentCarve || op == kIntentEmptyPage) && x < r.geo().pages_total && x < kMaxPages;
  const uint8_t* plo = page_op ? r.page(x) : nullptr;
  const uint8_t* phi = page_op ? plo + uint64_t(c.size) * c.perslab : nullptr;
  std::vector<uint8_t> reached(page_op ? c.perslab : 0, 0);
  // The LRU: walk from the head, re-deriving every prev link, the tail and the counters.
  bool x_seen = false;
  uint64_t n = 0, bytes = 0;
  uint32_t prev = 0;
  uint32_t* link = &c.lru_head;
  while (*link) {
    Item* it = r.item(*link);
    if (n >= cap || !it || it->cls != cls || (it->iflags & (kLinked | kFree)) != kLinked) {
      *link = 0;
      break;
    }
    it->prev = prev;
    if (*link == x) x_seen = true;
    const uint8_t* ip = reinterpret_cast<const uint8_t*>(it);
    if (page_op && ip >= plo && ip < phi) reached[(ip - plo) / c.size] = 1;
    prev = *link;
    ++n;
    bytes += it->ntotal();
    link = &it->next;
  }
  c.lru_tail = prev;
  Item* xi = page_op ? nullptr : r.item(x);
  if (op == kIntentLruLink && !x_seen && xi && xi->cls == cls && (xi->iflags & (kLinked | kFree)) == kLinked) {
    raw_lru_link(r, c, xi);
    ++n;
    bytes += xi->ntotal();
  } else if (op == kIntentLruUnlink && x_seen && xi) {
    raw_lru_unlink(r, c, xi);
    --n;
    bytes -= xi->ntotal();
  }
  counter_set(c.curr_items, n);
  counter_set(c.bytes, bytes);
  // The free list: cut at the first chunk that is not free, recount.
  uint64_t nf = 0;
  link = &c.free_head;
  while (*link) {
    Item* it = r.chunk(*link);
    if (nf >= cap || !it || !(it->iflags & kFree) || uint64_t(*link) * kUnit + c.size > r.geo().file_size) {
      *link = 0;
      break;
    }
    ++nf;
    link = &it->h_next;
  }
  counter_set(c.free_chunks, nf);
  if (page_op) {
    // Carving: the page was the dead thread's alone; cut it again from the start. Emptying: give
    // it back to this class, as a move that fails does: its chunks leave the free list, then
    // every chunk that is not a live item goes back on it. A chunk held by someone else is left
    // alone: one not yet linked (no flags), or linked but off the LRU while its stripe is held
    // (a link waiting for this lock).
    Header* hh = r.h();
    uint32_t* fl = &c.free_head;
    for (uint64_t g = 0; *fl && g < cap; ++g) {
      const uint8_t* fp = reinterpret_cast<const uint8_t*>(r.chunk(*fl));
      if (fp && fp >= plo && fp < phi) {
        *fl = reinterpret_cast<const Item*>(fp)->h_next;
        --nf;
      } else if (fp) {
        fl = &reinterpret_cast<Item*>(const_cast<uint8_t*>(fp))->h_next;
      } else {
        break;
      }
    }
    for (uint32_t k = c.perslab; k-- > 0;) {
      Item* it = reinterpret_cast<Item*>(const_cast<uint8_t*>(plo) + uint64_t(k) * c.size);
      if (op == kIntentEmptyPage) {
        if (reached[k]) continue;  // a live item, still on its LRU
        uint8_t f = it->iflags & (kLinked | kFree | kMoving);
        if (f == 0) continue;  // allocated by someone, not yet linked
        if (f & kLinked && !(f & kFree)) {
          // Off the LRU: being evicted by the dead mover (out of the table) or linked by a live
          // thread that waits for this lock (holding its stripe). Only the first is ours.
          if (it->nkey == 0 || it->nkey > kKeyMax) continue;
          Stripe& st = stripe_of(hh, hash_key(it->key(), it->nkey));
          if (!stripe_try_lock(st)) continue;
          bool in_table = assoc_contains(r, hash_key(it->key(), it->nkey), r.offset_of(it));
          stripe_unlock(st);
          if (in_table) continue;
        }
      }
      it->iflags = kFree;
      it->cls = uint8_t(cls);
      it->h_next = c.free_head;
      it->prev = it->next = 0;
      c.free_head = r.offset_of(it);
      ++nf;
    }
    hh->page_cls[x] = uint8_t(cls);
    uint64_t pages = 0;
    uint32_t used = std::min(hh->pages_used, r.geo().pages_total);
    for (uint32_t pg = 0; pg < used; ++pg) pages += hh->page_cls[pg] == cls;
    counter_set(c.total_pages, pages);
    counter_set(c.free_chunks, nf);
  }
  if (dead && op != kIntentNone) dead->ci.op.store(kIntentNone, std::memory_order_release);
}

bool hook_alive(const Lock& l, uint32_t token) {
  Region* r = region_containing(&l);
  if (!r) return true;
  uint32_t slot = token & 0xff;
  if (slot == 0 || slot >= kSlots) return true;
  const StatSlot& s = r->h()->slots[slot];
  if ((s.gen.load(std::memory_order_acquire) & 0x7fffff) != (token >> 8)) return false;  // slot re-claimed
  if (s.owner_tid.load(std::memory_order_relaxed) == 0) return false;
  return proc_alive(s.owner_pid.load(std::memory_order_relaxed), s.owner_start.load(std::memory_order_relaxed));
}

void hook_repair(Lock& l, uint32_t token) {
  Region* r = region_containing(&l);
  if (!r) return;
  Header* h = r->h();
  StatSlot* saved = t_slot;
  t_slot = nullptr;  // repairs record no intents
  uint32_t slot = token & 0xff;
  StatSlot* dead = slot > 0 && slot < kSlots ? &h->slots[slot] : nullptr;
  if (dead && (dead->gen.load(std::memory_order_acquire) & 0x7fffff) != (token >> 8)) dead = nullptr;
  h->dirty.store(1, std::memory_order_relaxed);
  h->lock_takeovers.fetch_add(1, std::memory_order_relaxed);
  const uint8_t* a = reinterpret_cast<const uint8_t*>(&l);
  const uint8_t* stripes = reinterpret_cast<const uint8_t*>(h->stripes);
  const uint8_t* classes = reinterpret_cast<const uint8_t*>(h->classes);
  if (a >= stripes && a < stripes + sizeof(h->stripes)) {
    stripe_repair(*r, uint32_t((a - stripes) / sizeof(Stripe)), dead);
  } else if (a >= classes && a < classes + sizeof(h->classes)) {
    class_repair(*r, uint32_t((a - classes) / sizeof(ClassHdr)), dead);
  }
  // pages_lock guards one word (pages_used) stored once; expand_lock guards nothing the stripe
  // repair of the bucket being moved does not already finish.
  t_slot = saved;
  // A process died: chunks its threads held between allocation and link go back (try-locks only).
  procs_reclaim(*r);
}

}  // namespace

void install_lock_hooks() { lock_set_hooks(hook_alive, hook_repair); }

}  // namespace shm
