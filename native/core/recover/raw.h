// recover/raw.h — the small helpers every crash-safety mechanism shares (internal to recover/).
// Owns: the test "may this chunk be trusted as a stored item" (item_sane), the bounds-checked class
// lookup (class_of), and LRU link/unlink and free-list push that record no intent.
//
// Invariants:
//  - Repairs and the offline rebuild record no intents of their own (their caller has t_slot
//    null): these are lru.cc's and slabs.cc's list operations without the intent records.
//  - The caller holds what the list belongs to: the class lock (online repair), or the whole
//    region (offline, no live process attached).
#pragma once
#include <cstdint>

#include "core/layout.h"
#include "core/lru.h"
#include "core/region.h"
#include "core/stats.h"
#include "core/store.h"

namespace shm {

inline bool item_sane(const Header* h, const Item* it, uint32_t cls) {
  if ((it->iflags & (kLinked | kFree)) != kLinked || it->cls != cls) return false;
  if (it->nkey == 0 || it->nkey > kKeyMax) return false;
  if (it->ntotal() > h->classes[cls].size) return false;
  return key_valid(reinterpret_cast<const uint8_t*>(it + 1), it->nkey);
}

inline ClassHdr* class_of(Header* h, uint32_t cls) {
  return cls >= 1 && cls <= h->n_classes && cls < kMaxClasses ? &h->classes[cls] : nullptr;
}

// lru_link / slabs_push_free without intent records (repairs and recovery record none).
inline void raw_lru_link(Region& r, ClassHdr& c, Item* it) {
  uint32_t off = r.offset_of(it);
  it->prev = 0;
  it->next = c.lru_head;
  if (Item* head = r.chunk(c.lru_head)) head->prev = off;
  c.lru_head = off;
  if (c.lru_tail == 0) c.lru_tail = off;
}

// lru.cc's unlink with record = false: one copy of the list surgery.
inline void raw_lru_unlink(Region& r, ClassHdr& c, Item* it) { lru_unlink(r, c, it, false); }

inline void raw_push_free(Region& r, ClassHdr& c, Item* it, uint32_t cls) {
  it->iflags = kFree;
  it->cls = uint8_t(cls);
  it->h_next = c.free_head;
  it->prev = it->next = 0;
  c.free_head = r.offset_of(it);
  counter_add(c.free_chunks, 1);
}

}  // namespace shm
