// stats.cc — see stats.h.
#include "core/stats.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <ctime>

#include "core/clock.h"
#include "core/region.h"

namespace shm {

thread_local StatSlot* t_slot SHM_TLS_IE = nullptr;

uint64_t proc_start(uint32_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%u/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  // Field 2 (comm) is in parentheses and may hold spaces: count fields after the last ')'.
  char* p = strrchr(buf, ')');
  if (!p) return 0;
  int field = 2;
  for (++p; *p && field < 22; ++p)
    if (*p == ' ') ++field;
  return strtoull(p, nullptr, 10);
}

uint32_t self_pid() { return uint32_t(getpid()); }

uint64_t self_start() {
  // Not cached across fork: a child has its own pid and start time.
  static thread_local uint32_t pid = 0;
  static thread_local uint64_t start = 0;
  uint32_t now = self_pid();
  if (pid != now) {
    start = proc_start(now);
    pid = now;
  }
  return start;
}

bool proc_alive(uint32_t pid, uint64_t start) {
  if (pid == 0) return false;
  if (kill(pid_t(pid), 0) != 0 && errno != EPERM) return false;
  if (start == 0) return true;
  uint64_t s = proc_start(pid);
  return s == 0 || s == start;  // unreadable /proc (hidepid): trust the pid
}

static bool slot_busy(const StatSlot& s) {
  return s.si.op.load(std::memory_order_relaxed) != kIntentNone ||
         s.ci.op.load(std::memory_order_relaxed) != kIntentNone;
}

static void claim(StatSlot& s, Ctx* c, uint32_t pid) {
  s.owner_pid.store(pid, std::memory_order_relaxed);
  s.owner_start.store(self_start(), std::memory_order_relaxed);
  uint32_t gen = (s.gen.load(std::memory_order_relaxed) + 1) & 0x7fffff;
  if (gen == 0) gen = 1;
  s.gen.store(gen, std::memory_order_release);
  c->slot = &s;
  c->shared_slot = false;
  c->token = (gen << 8) | uint32_t(&s - c->r->h()->slots);
}

void stats_attach(Region& r, Ctx* c) {
  Header* h = r.h();
  c->r = &r;
  uint32_t tid = uint32_t(syscall(SYS_gettid));
  uint32_t pid = self_pid();
  // Three passes: a free slot; a slot whose owning process is gone and that records no change in
  // flight (a lock it held still needs its intents for the repair); any slot of a dead process.
  for (int pass = 0; pass < 3; ++pass) {
    for (uint32_t i = 1; i < kSlots; ++i) {
      StatSlot& s = h->slots[i];
      uint32_t owner = s.owner_tid.load(std::memory_order_relaxed);
      if (pass >= 1 && owner != 0 &&
          !proc_alive(s.owner_pid.load(std::memory_order_relaxed), s.owner_start.load(std::memory_order_relaxed))) {
        if (pass == 1 && slot_busy(s)) continue;
        if (s.owner_tid.compare_exchange_strong(owner, tid, std::memory_order_acquire)) {
          s.si.op.store(kIntentNone, std::memory_order_relaxed);
          s.ci.op.store(kIntentNone, std::memory_order_relaxed);
          claim(s, c, pid);
          return;
        }
        continue;
      }
      uint32_t expected = 0;
      if (owner == 0 && s.owner_tid.compare_exchange_strong(expected, tid, std::memory_order_acquire)) {
        claim(s, c, pid);
        return;
      }
    }
  }
  c->slot = &h->slots[0];
  c->shared_slot = true;
  c->token = kAnonToken;
}

void stats_detach(Ctx* c) {
  if (c->slot && !c->shared_slot) {
    c->slot->owner_pid.store(0, std::memory_order_relaxed);
    c->slot->owner_tid.store(0, std::memory_order_release);
  }
  if (t_slot == c->slot) t_slot = nullptr;
  c->slot = nullptr;
  c->token = kAnonToken;
}

static uint64_t raw_sum(const Header* h, Counter k) {
  uint64_t t = 0;
  for (uint32_t i = 0; i < kSlots; ++i) t += __atomic_load_n(&h->slots[i].c[k], __ATOMIC_RELAXED);
  return t;
}

static uint64_t sum_counter(const Header* h, Counter k) {
  uint64_t t = raw_sum(h, k), base = __atomic_load_n(&h->stat_base[k], __ATOMIC_RELAXED);
  return t > base ? t - base : 0;
}

uint64_t stats_curr_items(Region& r) {
  const Header* h = r.h();
  uint64_t t = 0;
  for (uint32_t i = 1; i <= h->n_classes && i < kMaxClasses; ++i) t += counter_load(h->classes[i].curr_items);
  return t;
}

static std::string u(uint64_t v) { return std::to_string(v); }

StatList stats_general(Region& r, uint32_t now, const char* protection) {
  const Header* h = r.h();
  StatList out;
  auto add = [&](const char* k, std::string v) { out.emplace_back(k, std::move(v)); };
  uint64_t curr = 0, bytes = 0, total = 0, evictions = 0, reclaimed = 0, exp_unf = 0, ev_unf = 0, pages = 0, oom = 0,
           crawl_rec = 0, crawl_chk = 0;
  for (uint32_t i = 1; i <= h->n_classes && i < kMaxClasses; ++i) {
    const ClassHdr& c = h->classes[i];
    curr += counter_load(c.curr_items);
    bytes += counter_load(c.bytes);
    total += counter_load(c.total_items);
    evictions += counter_load(c.evicted);
    reclaimed += counter_load(c.reclaimed);
    exp_unf += counter_load(c.expired_unfetched);
    ev_unf += counter_load(c.evicted_unfetched);
    pages += counter_load(c.total_pages);
    oom += counter_load(c.outofmemory);
    crawl_rec += counter_load(c.crawler_reclaimed);
    crawl_chk += counter_load(c.crawler_items_checked);
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) {
    char b[32];
    snprintf(b, sizeof b, "%ld.%06ld", long(t.tv_sec), long(t.tv_usec));
    return std::string(b);
  };
  uint64_t s = h->table_state.load(std::memory_order_relaxed);
  add("pid", u(uint64_t(getpid())));
  add("uptime", u(now > h->created ? now - h->created : 0));
  add("time", u(now));
  add("version", "shmcached-0.1.0");
  add("pointer_size", "64");
  add("rusage_user", tv(ru.ru_utime));
  add("rusage_system", tv(ru.ru_stime));
  add("max_connections", "0");
  add("curr_connections", "0");
  add("total_connections", "0");
  add("cmd_get", u(sum_counter(h, kCmdGet)));
  add("cmd_set", u(sum_counter(h, kCmdSet)));
  add("cmd_flush", u(sum_counter(h, kCmdFlush)));
  add("cmd_touch", u(sum_counter(h, kCmdTouch)));
  add("get_hits", u(sum_counter(h, kGetHits)));
  add("get_misses", u(sum_counter(h, kGetMisses)));
  add("get_expired", u(sum_counter(h, kGetExpired)));
  add("get_flushed", u(sum_counter(h, kGetFlushed)));
  add("delete_misses", u(sum_counter(h, kDeleteMisses)));
  add("delete_hits", u(sum_counter(h, kDeleteHits)));
  add("incr_misses", u(sum_counter(h, kIncrMisses)));
  add("incr_hits", u(sum_counter(h, kIncrHits)));
  add("decr_misses", u(sum_counter(h, kDecrMisses)));
  add("decr_hits", u(sum_counter(h, kDecrHits)));
  add("cas_misses", u(sum_counter(h, kCasMisses)));
  add("cas_hits", u(sum_counter(h, kCasHits)));
  add("cas_badval", u(sum_counter(h, kCasBadval)));
  add("touch_hits", u(sum_counter(h, kTouchHits)));
  add("touch_misses", u(sum_counter(h, kTouchMisses)));
  add("limit_maxbytes", u(h->mem_limit));
  add("threads", "1");
  add("hash_power_level", u(ts_power(s)));
  add("hash_bytes", u(uint64_t(4) << ts_power(s)));
  add("hash_is_expanding", ts_expanding(s) ? "1" : "0");
  add("slab_global_page_pool", u(h->pages_total - __atomic_load_n(&h->pages_used, __ATOMIC_RELAXED)));
  add("total_malloced", u(pages * h->page_size));
  add("bytes", u(bytes));
  add("curr_items", u(curr));
  add("total_items", u(total));
  add("expired_unfetched", u(exp_unf));
  add("evicted_unfetched", u(ev_unf));
  add("evictions", u(evictions));
  add("reclaimed", u(reclaimed));
  add("crawler_reclaimed", u(crawl_rec));
  add("crawler_items_checked", u(crawl_chk));
  add("outofmemory", u(oom));
  add("protection", protection);
  return out;
}

// A class's counters copied under its lock (stats are cold; the lock is held for a few loads).
struct ClassSnap {
  uint32_t size, perslab, age;
  uint64_t pages, free_chunks, curr_items, evicted, evicted_nonzero, evicted_time, outofmemory, reclaimed,
      expired_unfetched, evicted_unfetched, crawler_reclaimed, crawler_items_checked;
};

static ClassSnap snap_class(Region& r, ClassHdr& c, uint32_t now) {
  Guard g(c.lock);
  ClassSnap s{c.size,
              c.perslab,
              0,
              c.total_pages,
              c.free_chunks,
              c.curr_items,
              c.evicted,
              c.evicted_nonzero,
              c.evicted_time,
              c.outofmemory,
              c.reclaimed,
              c.expired_unfetched,
              c.evicted_unfetched,
              c.crawler_reclaimed,
              c.crawler_items_checked};
  if (Item* tail = r.item(c.lru_tail)) s.age = now > tail->time ? now - tail->time : 0;
  return s;
}

StatList stats_slabs(Region& r) {
  Header* h = r.h();
  StatList out;
  uint32_t active = 0;
  uint64_t malloced = 0;
  for (uint32_t i = 1; i <= h->n_classes && i < kMaxClasses; ++i) {
    ClassSnap c = snap_class(r, h->classes[i], 0);
    if (c.pages == 0) continue;
    active++;
    malloced += c.pages * h->page_size;
    std::string p = u(i) + ":";
    uint64_t total_chunks = c.pages * c.perslab;
    out.emplace_back(p + "chunk_size", u(c.size));
    out.emplace_back(p + "chunks_per_page", u(c.perslab));
    out.emplace_back(p + "total_pages", u(c.pages));
    out.emplace_back(p + "total_chunks", u(total_chunks));
    out.emplace_back(p + "used_chunks", u(total_chunks - c.free_chunks));
    out.emplace_back(p + "free_chunks", u(c.free_chunks));
    out.emplace_back(p + "free_chunks_end", "0");
  }
  out.emplace_back("active_slabs", u(active));
  out.emplace_back("total_malloced", u(malloced));
  return out;
}

StatList stats_items(Region& r, uint32_t now) {
  Header* h = r.h();
  StatList out;
  for (uint32_t i = 1; i <= h->n_classes && i < kMaxClasses; ++i) {
    ClassSnap c = snap_class(r, h->classes[i], now);
    if (c.pages == 0) continue;
    std::string p = "items:" + u(i) + ":";
    out.emplace_back(p + "number", u(c.curr_items));
    out.emplace_back(p + "age", u(c.age));
    out.emplace_back(p + "evicted", u(c.evicted));
    out.emplace_back(p + "evicted_nonzero", u(c.evicted_nonzero));
    out.emplace_back(p + "evicted_time", u(c.evicted_time));
    out.emplace_back(p + "outofmemory", u(c.outofmemory));
    out.emplace_back(p + "reclaimed", u(c.reclaimed));
    out.emplace_back(p + "expired_unfetched", u(c.expired_unfetched));
    out.emplace_back(p + "evicted_unfetched", u(c.evicted_unfetched));
    out.emplace_back(p + "crawler_reclaimed", u(c.crawler_reclaimed));
    out.emplace_back(p + "crawler_items_checked", u(c.crawler_items_checked));
  }
  return out;
}

StatList stats_settings(Region& r) {
  const Header* h = r.h();
  StatList out;
  out.emplace_back("maxbytes", u(h->mem_limit));
  out.emplace_back("item_size_max", u(h->item_size_max));
  out.emplace_back("slab_page_size", u(h->page_size));
  out.emplace_back("growth_factor", "1.25");
  out.emplace_back("chunk_size", u(kChunkMin));
  out.emplace_back("evictions", h->evict ? "on" : "off");
  out.emplace_back("cas_enabled", "yes");
  out.emplace_back("hashpower_init", u(kMinHashPower));
  out.emplace_back("item_locks", u(kStripes));
  out.emplace_back("file", r.path());
  return out;
}

void stats_reset(Region& r) {
  Header* h = r.h();
  // Slot counters have one writer each and only grow; a reset records a baseline instead of
  // writing other threads' counters.
  for (uint32_t k = 0; k < kCounterCount; ++k)
    __atomic_store_n(&h->stat_base[k], raw_sum(h, Counter(k)), __ATOMIC_RELAXED);
  for (uint32_t i = 1; i <= h->n_classes && i < kMaxClasses; ++i) {
    ClassHdr& c = h->classes[i];
    Guard g(c.lock);
    c.total_items = c.evicted = c.evicted_nonzero = c.evicted_time = c.evicted_unfetched = 0;
    c.expired_unfetched = c.reclaimed = c.outofmemory = 0;
    c.crawler_reclaimed = c.crawler_items_checked = 0;
  }
}

}  // namespace shm
