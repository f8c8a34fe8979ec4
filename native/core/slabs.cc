// slabs.cc — see slabs.h.
#include "core/slabs.h"

#include "core/failpoint.h"
#include "core/intent.h"
#include "core/region.h"

namespace shm {

// Split points: each gap between memcached's classes up to this size gets one class in its
// middle (rounded down to kUnit). Small items are where a cache holds most of its items and where
// memcached's 1.25 steps cost the most (a 153-byte item in a 192-byte chunk); every memcached
// class stays, so no item ever takes a larger chunk than memcached's table gives it.
// But every class in use holds at least one page of its own: a region gets the split classes only
// when it has at least kSplitPagesPerClass pages for each class up to kSplitMax, so that small
// items of every size leave most of its pages free to move. Smaller regions keep memcached's table
// (a 16 MiB region of 0-700 byte values needs 10 classes with it, 19 with the splits).
static constexpr uint32_t kSplitMax = 1184;
static constexpr uint32_t kSplitPagesPerClass = 2;

void slabs_init(Header* h) {
  const uint32_t page = h->page_size;
  uint32_t chunk_max = page / 2;  // memcached's slab_chunk_size_max
  if (chunk_max > h->item_size_max) chunk_max = h->item_size_max;
  // memcached's sizes first (-n 48 -f 1.25), exactly as it computes them.
  uint32_t base[kMaxClasses];
  uint32_t nb = 0;
  unsigned int size = kMemcachedItemHeader + kChunkMin;
  while (nb < kMaxClasses - 3) {
    if (size >= chunk_max / kGrowthFactor) break;
    if (size % kUnit) size += kUnit - (size % kUnit);
    base[nb++] = size;
    size = static_cast<unsigned int>(size * kGrowthFactor);
  }
  base[nb++] = chunk_max;
  // memcached would chain chunks for larger items; we give them one chunk of their own.
  if (h->item_size_max > chunk_max) base[nb++] = (h->item_size_max + kUnit - 1) / kUnit * kUnit;
  // Then the split classes, while class ids remain (ids 1 .. kMaxClasses - 1; class 0 is unused,
  // as in memcached's POWER_SMALLEST = 1).
  uint32_t small = 0;
  while (small < nb && base[small] <= kSplitMax) ++small;
  const uint32_t splits = small > 1 ? small - 1 : 0;
  uint32_t room = kMaxClasses - 1 - nb;
  if (uint64_t(h->pages_total) < uint64_t(kSplitPagesPerClass) * (small + splits)) room = 0;
  uint32_t i = 0;
  auto put = [&](uint32_t sz) {
    ++i;
    h->classes[i].size = sz;
    h->classes[i].perslab = page / sz;
  };
  for (uint32_t k = 0; k < nb; ++k) {
    if (k > 0 && room > 0 && base[k] <= kSplitMax) {
      uint32_t mid = (base[k - 1] + base[k]) / 2 / kUnit * kUnit;
      if (mid > base[k - 1]) {
        put(mid);
        --room;
      }
    }
    put(base[k]);
  }
  h->n_classes = i;
}

bool slabs_validate(const Header* h) {
  if (h->n_classes < 1 || h->n_classes >= kMaxClasses) return false;
  uint32_t prev = 0;
  for (uint32_t i = 1; i <= h->n_classes; ++i) {
    const ClassHdr& c = h->classes[i];
    if (c.size <= prev || c.size % kUnit || c.perslab == 0 || uint64_t(c.size) * c.perslab > h->page_size) return false;
    prev = c.size;
  }
  return true;
}

uint32_t slabs_clsid(const Header* h, uint64_t ntotal) {
  // Chunk sizes grow by 1.12x to 1.25x, so a short scan from the smallest class is cheap; a
  // binary search would save a few compares for large items only.
  uint32_t n = h->n_classes < kMaxClasses ? h->n_classes : kMaxClasses - 1;
  for (uint32_t i = 1; i <= n; ++i)
    if (ntotal <= h->classes[i].size) return i;
  return 0;
}

uint32_t slabs_pop_free(Region& r, ClassHdr& c) {
  uint32_t off = c.free_head;
  if (off == 0) return 0;
  Item* it = r.chunk(off);
  if (!it || !(it->iflags & kFree) || uint64_t(off) * kUnit + c.size > r.geo().file_size) {
    // A corrupt free list: drop it rather than hand out a chunk that may be in use.
    c.free_head = 0;
    counter_set(c.free_chunks, 0);
    return 0;
  }
  // No intent record here (nor in push): both change the list by one store of the head, so a
  // death leaves it consistent; at worst the chunk in flight leaks until the next offline recovery.
  c.free_head = it->h_next;  // the commit point: the chunk is the caller's
  counter_add(c.free_chunks, -1);
  // The next allocation reads the new head's link: start that miss now.
  if (Item* next = r.chunk(c.free_head)) __builtin_prefetch(next, 1, 1);
  it->iflags = 0;
  it->h_next = 0;
  return off;
}

bool slabs_carve(Region& r, uint32_t cls, uint32_t page) {
  ClassHdr& c = r.h()->classes[cls];
  if (c.size < sizeof(Item) || uint64_t(c.size) * c.perslab > r.geo().page_size) return false;
  if (page >= r.geo().pages_total) return false;
  uint8_t* base = r.page(page);
  // Recorded: a survivor taking this class lock from a dead carver carves the page again.
  class_intent(kIntentCarve, page, cls);
  // The page belongs to the class from here on (recovery reads this table to scan pages).
  r.h()->page_cls[page < kMaxPages ? page : 0] = uint8_t(cls);
  // Push in reverse so the free list hands chunks out in address order; in two halves, so that
  // the fail-point between them costs one check per page, not one per chunk.
  auto push = [&](uint32_t k) {
    Item* it = reinterpret_cast<Item*>(base + uint64_t(k) * c.size);
    it->iflags = kFree;
    it->cls = uint8_t(cls);
    it->h_next = c.free_head;
    c.free_head = r.offset_of(it);
    counter_add(c.free_chunks, 1);
  };
  uint32_t half = c.perslab / 2;
  for (uint32_t k = c.perslab; k-- > half;) push(k);
  SHM_FAILPOINT(kCarveHalfway);
  for (uint32_t k = half; k-- > 0;) push(k);
  counter_add(c.total_pages, 1);
  class_intent_clear();
  return true;
}

bool slabs_grow(Region& r, uint32_t cls) {
  Header* h = r.h();
  ClassHdr& c = h->classes[cls];
  if (c.size < sizeof(Item) || uint64_t(c.size) * c.perslab > r.geo().page_size) return false;
  uint32_t page;
  {
    Guard g(h->pages_lock);
    SHM_FAILPOINT(kGrowPagesLock);
    if (h->pages_used >= r.geo().pages_total) return false;
    page = h->pages_used;
    __atomic_store_n(&h->pages_used, page + 1, __ATOMIC_RELAXED);
  }
  return slabs_carve(r, cls, page);
}

void slabs_push_free(Region& r, ClassHdr& c, Item* it) {
  uint32_t off = r.offset_of(it);
  it->iflags = kFree;
  it->h_next = c.free_head;
  it->prev = it->next = 0;
  c.free_head = off;  // the commit point
  counter_add(c.free_chunks, 1);
}

}  // namespace shm
