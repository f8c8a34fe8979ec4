// slabs.cc — see slabs.h.
#include "core/slabs.h"

#include <cmath>

#include "core/failpoint.h"
#include "core/intent.h"
#include "core/region.h"

namespace shm {

// The table: memcached's sizes (-n 48 -f 1.25, every one of them, so no item ever takes a larger
// chunk than memcached's table gives it; ours is 19 bytes smaller for the same key and value),
// and, in the dense range (memcached's classes up to kDenseMax, values up to about 8 KiB, where a
// page holds at least 118 chunks and a cache keeps most of its items), each 1.25 gap cut into k
// geometric steps (1.118 at k = 2, 1.077 at 3, 1.058 at 4, 1.046 at 5), rounded to kUnit.
// Finer is denser (an item wastes about half a step on average) but every class in use ties up
// at least one page of its own, partly filled while the cache fills. So k is the largest whose
// dense classes number at most the region's pages (kPagesPerDenseClass each): a workload that
// spreads over every size still has a page per class before pages must move between classes
// (rebalance.cc). At 1 MiB pages and itemSizeMax 1 MiB: under 41 pages memcached's 40 classes,
// from 41 pages k = 2 (60 classes), 61 k = 3 (80), 80 k = 4 (99), 98 and more k = 5 (117). A
// 16 MiB region of 0-700 byte values once ran out of memory with 19 classes: small regions keep
// memcached's table. When class ids run short (a large itemSizeMax adds memcached classes), the
// smallest gaps get their steps first.
static constexpr uint32_t kDenseMax = 8880;
static constexpr uint32_t kPagesPerDenseClass = 1;
static constexpr uint32_t kMaxSteps = 5;

// The sizes strictly between lo and hi that cut [lo, hi] into k geometric steps, rounded to kUnit
// (nearest); fewer when rounding makes two of them equal. Writes up to k - 1 sizes to out.
static uint32_t gap_steps(uint32_t lo, uint32_t hi, uint32_t k, uint32_t* out) {
  uint32_t n = 0, prev = lo;
  for (uint32_t j = 1; j < k; ++j) {
    double x = lo * std::pow(double(hi) / lo, double(j) / k);
    uint32_t s = uint32_t(x / kUnit + 0.5) * kUnit;
    if (s > prev && s < hi) out[n++] = prev = s;
  }
  return n;
}

void slabs_init(Header* h) {
  const uint32_t page = h->page_size;
  uint32_t chunk_max = page / 2;  // memcached's slab_chunk_size_max
  if (chunk_max > h->item_size_max) chunk_max = h->item_size_max;
  // memcached's sizes first (-n 48 -f 1.25), exactly as it computes them.
  constexpr uint32_t kMemcachedMaxClasses = 64;  // its MAX_NUMBER_OF_SLAB_CLASSES bounds its loop
  uint32_t base[kMemcachedMaxClasses];
  uint32_t nb = 0;
  unsigned int size = kMemcachedItemHeader + kChunkMin;
  while (nb < kMemcachedMaxClasses - 3) {
    if (size >= chunk_max / kGrowthFactor) break;
    if (size % kUnit) size += kUnit - (size % kUnit);
    base[nb++] = size;
    size = static_cast<unsigned int>(size * kGrowthFactor);
  }
  base[nb++] = chunk_max;
  // memcached would chain chunks for larger items; we give them one chunk of their own.
  if (h->item_size_max > chunk_max) base[nb++] = (h->item_size_max + kUnit - 1) / kUnit * kUnit;
  // The steps per gap: the largest k whose dense classes the region's pages cover.
  uint32_t k = 1;
  for (uint32_t t = 2; t <= kMaxSteps; ++t) {
    uint32_t dense = 0, steps[kMaxSteps];
    for (uint32_t b = 0; b < nb && base[b] <= kDenseMax; ++b)
      dense += 1 + (b > 0 ? gap_steps(base[b - 1], base[b], t, steps) : 0);
    if (uint64_t(h->pages_total) >= uint64_t(kPagesPerDenseClass) * dense) k = t;
  }
  // Class ids 1 .. kMaxClasses - 1 (class 0 is unused, as in memcached's POWER_SMALLEST = 1).
  uint32_t room = kMaxClasses - 1 - nb;
  uint32_t i = 0;
  auto put = [&](uint32_t sz) {
    ++i;
    h->classes[i].size = sz;
    h->classes[i].perslab = page / sz;
  };
  for (uint32_t b = 0; b < nb; ++b) {
    if (b > 0 && k > 1 && base[b] <= kDenseMax) {
      uint32_t steps[kMaxSteps];
      uint32_t n = gap_steps(base[b - 1], base[b], k, steps);
      for (uint32_t j = 0; j < n && room > 0; ++j, --room) put(steps[j]);
    }
    put(base[b]);
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
  // Binary search: up to 116 classes, sizes strictly increasing (slabs_validate).
  uint32_t n = h->n_classes < kMaxClasses ? h->n_classes : kMaxClasses - 1;
  if (n == 0 || ntotal > h->classes[n].size) return 0;
  uint32_t lo = 1, hi = n;  // the answer is in [lo, hi]
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    if (ntotal <= h->classes[mid].size)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
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
