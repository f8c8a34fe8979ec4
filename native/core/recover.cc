// recover.cc — see recover.h.
#include "core/recover.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include <signal.h>

#include "core/assoc.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/intent.h"
#include "core/items.h"
#include "core/region.h"
#include "core/stats.h"
#include "core/store.h"

namespace shm {

// ---- attach table ----------------------------------------------------------------------------

uint32_t procs_sweep(Header* h, uint64_t* dead) {
  uint32_t live = 0;
  for (uint32_t i = 0; i < kProcs; ++i) {
    ProcSlot& p = h->procs[i];
    uint32_t pid = p.pid.load(std::memory_order_relaxed);
    if (pid == 0) continue;
    if (proc_alive(pid, p.start.load(std::memory_order_relaxed))) {
      ++live;
    } else {
      p.pid.store(0, std::memory_order_relaxed);
      p.start.store(0, std::memory_order_relaxed);
      ++*dead;
    }
  }
  return live;
}

bool procs_add(Header* h, uint32_t* index) {
  for (uint32_t i = 0; i < kProcs; ++i) {
    ProcSlot& p = h->procs[i];
    if (p.pid.load(std::memory_order_relaxed) != 0) continue;
    p.start.store(self_start(), std::memory_order_relaxed);
    p.pid.store(self_pid(), std::memory_order_release);
    *index = i;
    return true;
  }
  return false;
}

void procs_remove(Header* h, uint32_t index) {
  if (index >= kProcs) return;
  h->procs[index].pid.store(0, std::memory_order_relaxed);
  h->procs[index].start.store(0, std::memory_order_relaxed);
}

// ---- small helpers ---------------------------------------------------------------------------

// A chunk that may be trusted as a stored item of class cls: linked and not free, its own class,
// a valid memcached key, and a length that fits its chunk.
static bool item_sane(const Header* h, const Item* it, uint32_t cls) {
  if ((it->iflags & (kLinked | kFree)) != kLinked || it->cls != cls) return false;
  if (it->nkey == 0 || it->nkey > kKeyMax) return false;
  if (it->ntotal() > h->classes[cls].size) return false;
  return key_valid(reinterpret_cast<const uint8_t*>(it + 1), it->nkey);
}

static ClassHdr* class_of(Header* h, uint32_t cls) {
  return cls >= 1 && cls <= h->n_classes && cls < kMaxClasses ? &h->classes[cls] : nullptr;
}

// lru_link / slabs_push_free without intent records (repairs and recovery record none).
static void raw_lru_link(Region& r, ClassHdr& c, Item* it) {
  uint32_t off = r.offset_of(it);
  it->prev = 0;
  it->next = c.lru_head;
  if (Item* head = r.chunk(c.lru_head)) head->prev = off;
  c.lru_head = off;
  if (c.lru_tail == 0) c.lru_tail = off;
}

static void raw_lru_unlink(Region& r, ClassHdr& c, Item* it) {
  uint32_t off = r.offset_of(it);
  if (Item* p = r.chunk(it->prev)) p->next = it->next;
  else if (c.lru_head == off) c.lru_head = it->next;
  if (Item* n = r.chunk(it->next)) n->prev = it->prev;
  else if (c.lru_tail == off) c.lru_tail = it->prev;
  it->prev = it->next = 0;
}

static void raw_push_free(Region& r, ClassHdr& c, Item* it, uint32_t cls) {
  it->iflags = kFree;
  it->cls = uint8_t(cls);
  it->h_next = c.free_head;
  it->prev = it->next = 0;
  c.free_head = r.offset_of(it);
  counter_add(c.free_chunks, 1);
}

// ---- warm start and offline recovery ---------------------------------------------------------

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
  for (uint64_t b = 0; b < half; ++b) {
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
    // Backwards, so that the free list hands chunks out in address order, as carving does.
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
        uint64_t hv = hash_key(it->key(), it->nkey);
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
      }
      if (keep) {
        it->iflags = uint8_t(kLinked | (it->iflags & kFetched));
        it->prev = it->next = 0;
        lru[cls].push_back((uint64_t(it->time) << 32) | off);
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
    std::sort(lru[i].begin(), lru[i].end());
    for (uint64_t e : lru[i]) {
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

// ---- online repair after a dead owner --------------------------------------------------------

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

  // 1. A bucket move cut short: put the item in flight where it belongs, move the rest, advance.
  uint64_t s = h->table_state.load(std::memory_order_acquire);
  uint32_t p = ts_power(s);
  if (ts_expanding(s) && p >= kMinHashPower && p < maxp && ts_pos(s) < (uint64_t(1) << p) &&
      (ts_pos(s) & (kStripes - 1)) == idx) {
    uint32_t b = ts_pos(s);
    uint64_t half = uint64_t(1) << p;
    uint32_t* lo = &r.table(p + 1)[b];
    uint32_t* hi = &r.table(p + 1)[b + half];
    cut_chain(r, &r.table(p)[b], b, half - 1);
    cut_chain(r, lo, b, 2 * half - 1);
    cut_chain(r, hi, b + half, 2 * half - 1);
    if (op == kIntentMigrate) {
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
    return it && it->nkey >= 1 && it->nkey <= kKeyMax &&
           (hash_key(it->key(), it->nkey) & (kStripes - 1)) == idx;
  };
  if (op == kIntentLink || op == kIntentUnlink) {
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
  if (dead && op != kIntentNone) dead->si.op.store(kIntentNone, std::memory_order_release);
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
    prev = *link;
    ++n;
    bytes += it->ntotal();
    link = &it->next;
  }
  c.lru_tail = prev;
  Item* xi = r.item(x);
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
}

}  // namespace

void install_lock_hooks() { lock_set_hooks(hook_alive, hook_repair); }

// ---- test only: dying in the middle ---------------------------------------------------------

void debug_die_in(Ctx& ctx, int point, const uint8_t* key, uint32_t nkey, const uint8_t* val, uint32_t nval) {
  if (!key_valid(key, nkey)) return;
  ctx.enter();
  Region& r = *ctx.r;
  Header* h = r.h();
  uint64_t hv = hash_key(key, nkey);
  Stripe& s = h->stripes[hv & (kStripes - 1)];
  if (point == 5) {
    lock(h->pages_lock);
    raise(SIGKILL);
  }
  if (point == 4) {
    stripe_lock(s);
    raise(SIGKILL);
  }
  if (point == 3) {
    stripe_lock(s);
    Item* it = assoc_find(r, hv, key, nkey);
    if (!it) {
      stripe_unlock(s);
      return;
    }
    stripe_intent(kIntentUnlink, r.offset_of(it), 0);
    assoc_unlink(r, hv, it);
    raise(SIGKILL);
  }
  Item* it = nullptr;
  if (item_alloc(ctx, sizeof(Item) + nkey + uint64_t(nval), &it) != Alloc::kOk) return;
  it->nkey = uint8_t(nkey);
  it->nbytes = nval;
  it->flags = 0;
  it->exptime = 0;
  std::memcpy(it->key(), key, nkey);
  std::memcpy(it->value(), val, nval);
  stripe_lock(s);
  Item* old = assoc_find(r, hv, key, nkey);
  stripe_intent(kIntentLink, r.offset_of(it), old ? r.offset_of(old) : 0);
  it->cas = next_cas(ctx);
  it->time = clock_now(h);
  it->iflags = kLinked;
  if (old) assoc_replace(r, hv, old, it);
  else assoc_insert(r, hv, it);
  if (point == 2) {
    ClassHdr& c = h->classes[it->cls];
    lock(c.lock);
    class_intent(kIntentLruLink, r.offset_of(it), it->cls);
    it->prev = 0;
    it->next = c.lru_head;
    if (Item* head = r.chunk(c.lru_head)) head->prev = r.offset_of(it);
  }
  raise(SIGKILL);
}

// ---- verification ----------------------------------------------------------------------------

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
    if (pages_of[i] != c.total_pages) bad(cn + "page table says " + std::to_string(pages_of[i]) + " pages, class " + std::to_string(c.total_pages));
    uint64_t cap = uint64_t(g.pages_total) * c.perslab + 1;
    uint64_t n = 0, bytes = 0;
    uint32_t prev = 0;
    bool ok = true;
    for (uint32_t off = c.lru_head; off; ++n) {
      Item* it = r.item(off);
      if (n > cap) { bad(cn + "LRU loop"); ok = false; break; }
      if (!it || it->cls != i || !item_sane(h, it, i)) { bad(cn + "LRU holds a chunk that is not a linked item of the class"); ok = false; break; }
      if (it->prev != prev) { bad(cn + "LRU prev link broken"); ok = false; break; }
      bytes += it->ntotal();
      prev = off;
      off = it->next;
    }
    if (ok && c.lru_tail != prev) bad(cn + "LRU tail mismatch");
    if (ok && n != c.curr_items) bad(cn + "LRU length " + std::to_string(n) + " != curr_items " + std::to_string(c.curr_items));
    if (ok && n != in_hash[i]) bad(cn + "hash holds " + std::to_string(in_hash[i]) + " items, LRU " + std::to_string(n));
    if (ok && bytes != c.bytes) bad(cn + "bytes counter off");
    st->items += in_hash[i];
    uint64_t nf = 0;
    for (uint32_t off = c.free_head; off; ++nf) {
      Item* it = r.chunk(off);
      if (nf > cap) { bad(cn + "free list loop"); ok = false; break; }
      if (!it || !(it->iflags & kFree)) { bad(cn + "free list holds a chunk that is not free"); ok = false; break; }
      off = it->h_next;
    }
    st->free_chunks += nf;
    if (ok && nf != c.free_chunks) bad(cn + "free list length " + std::to_string(nf) + " != free_chunks " + std::to_string(c.free_chunks));
    if (ok && nf + n != c.total_pages * c.perslab)
      bad(cn + "linked + free != chunks (" + std::to_string(n) + " + " + std::to_string(nf) + " != " +
          std::to_string(c.total_pages * c.perslab) + ")");
  }
  if (pages != h->pages_used) bad("pages per class do not add up to pages_used");
  return problems->empty();
}

}  // namespace shm
