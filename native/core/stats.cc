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
  // Connections the previous owner left open died with it (or with its store handle): the new
  // owner starts with none open (curr_connections sums opened - closed).
  __atomic_store_n(&s.c[kConnsClosed], __atomic_load_n(&s.c[kConnsOpened], __ATOMIC_RELAXED), __ATOMIC_RELAXED);
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

// Sums of the connection counters: curr_connections is opened - closed over the slots whose
// owner still lives (a dead process's connections died with it; slot 0, the shared overflow slot,
// has no owner and always counts).
static uint64_t curr_connections(const Header* h) {
  uint64_t curr = 0;
  for (uint32_t i = 0; i < kSlots; ++i) {
    const StatSlot& s = h->slots[i];
    uint64_t o = __atomic_load_n(&s.c[kConnsOpened], __ATOMIC_RELAXED);
    uint64_t c = __atomic_load_n(&s.c[kConnsClosed], __ATOMIC_RELAXED);
    if (o <= c) continue;
    if (i != 0 &&
        !proc_alive(s.owner_pid.load(std::memory_order_relaxed), s.owner_start.load(std::memory_order_relaxed)))
      continue;
    curr += o - c;
  }
  return curr;
}

StatList stats_general(Region& r, uint32_t now, const char* protection) {
  const Header* h = r.h();
  StatList out;
  out.reserve(100);
  auto add = [&](const char* k, std::string v) { out.emplace_back(k, std::move(v)); };
  auto cnt = [&](const char* k, Counter c) { out.emplace_back(k, u(sum_counter(h, c))); };
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
  // memcached 1.6's order (server_stats + threadlocal_stats + slab/item totals). Keys whose
  // mechanism shmcached does not have report what is true for it (docs/protocol.md lists them);
  // the protocol engine replaces the server's own keys (max_connections, threads, ...).
  add("pid", u(uint64_t(getpid())));
  add("uptime", u(now > h->created ? now - h->created : 0));
  add("time", u(now));
  add("version", "shmcached-0.1.0");
  add("libevent", "none");
  add("pointer_size", u(sizeof(void*) * 8));
  add("rusage_user", tv(ru.ru_utime));
  add("rusage_system", tv(ru.ru_stime));
  add("max_connections", "0");
  add("curr_connections", u(curr_connections(h)));
  cnt("total_connections", kConnsOpened);
  cnt("rejected_connections", kConnsRejected);
  add("connection_structures", "0");
  add("response_obj_oom", "0");
  add("response_obj_count", "0");
  add("response_obj_bytes", "0");
  add("read_buf_count", "0");
  add("read_buf_bytes", "0");
  add("read_buf_bytes_free", "0");
  add("read_buf_oom", "0");
  add("reserved_fds", "0");
  cnt("cmd_get", kCmdGet);
  cnt("cmd_set", kCmdSet);
  cnt("cmd_flush", kCmdFlush);
  cnt("cmd_touch", kCmdTouch);
  cnt("cmd_meta", kCmdMeta);
  cnt("get_hits", kGetHits);
  cnt("get_misses", kGetMisses);
  cnt("get_expired", kGetExpired);
  cnt("get_flushed", kGetFlushed);
  cnt("delete_misses", kDeleteMisses);
  cnt("delete_hits", kDeleteHits);
  cnt("incr_misses", kIncrMisses);
  cnt("incr_hits", kIncrHits);
  cnt("decr_misses", kDecrMisses);
  cnt("decr_hits", kDecrHits);
  cnt("cas_misses", kCasMisses);
  cnt("cas_hits", kCasHits);
  cnt("cas_badval", kCasBadval);
  cnt("touch_hits", kTouchHits);
  cnt("touch_misses", kTouchMisses);
  cnt("store_too_large", kStoreTooLarge);
  cnt("store_no_memory", kStoreNoMemory);
  cnt("bytes_read", kBytesRead);
  cnt("bytes_written", kBytesWritten);
  add("limit_maxbytes", u(h->mem_limit));
  add("accepting_conns", "0");
  add("listen_disabled_num", "0");
  add("time_in_listen_disabled_us", "0");
  add("threads", "1");
  cnt("conn_yields", kConnYields);
  add("hash_power_level", u(ts_power(s)));
  add("hash_bytes", u(uint64_t(4) << ts_power(s)));
  add("hash_is_expanding", ts_expanding(s) ? "1" : "0");
  add("slab_reassign_rescues", "0");
  add("slab_reassign_chunk_rescues", "0");
  add("slab_reassign_inline_reclaim", "0");
  add("slab_reassign_busy_items", "0");
  add("slab_reassign_busy_deletes", "0");
  add("slab_reassign_busy_nomem", "0");
  add("slab_reassign_last_busy_status", "none");
  add("slab_reassign_running", "0");
  cnt("slabs_moved", kSlabsMoved);
  add("lru_crawler_running", "0");
  add("lru_crawler_starts", "0");
  add("lru_maintainer_juggles", "0");
  add("malloc_fails", "0");
  add("log_worker_dropped", "0");
  add("log_worker_written", "0");
  add("log_watcher_skipped", "0");
  add("log_watcher_sent", "0");
  add("log_watchers", "0");
  add("unexpected_napi_ids", "0");
  add("round_robin_fallback", "0");
  add("bytes", u(bytes));
  add("curr_items", u(curr));
  add("total_items", u(total));
  add("slab_global_page_pool", u(h->pages_total - __atomic_load_n(&h->pages_used, __ATOMIC_RELAXED)));
  add("expired_unfetched", u(exp_unf));
  add("evicted_unfetched", u(ev_unf));
  add("evicted_active", "0");
  add("evictions", u(evictions));
  add("reclaimed", u(reclaimed));
  add("crawler_reclaimed", u(crawl_rec));
  add("crawler_items_checked", u(crawl_chk));
  add("lrutail_reflocked", "0");
  add("moves_to_cold", "0");
  add("moves_to_warm", "0");
  add("moves_within_lru", "0");
  add("direct_reclaims", u(evictions + reclaimed));
  add("lru_bumps_dropped", "0");
  // shmcached's own, after memcached's.
  add("total_malloced", u(pages * h->page_size));
  add("outofmemory", u(oom));
  add("protection", protection);
  return out;
}

// A class's counters copied under its lock (stats are cold; the lock is held for a few loads).
struct ClassSnap {
  uint32_t size, perslab, age;
  uint64_t pages, free_chunks, curr_items, bytes, evicted, evicted_nonzero, evicted_time, outofmemory, reclaimed,
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
              c.bytes,
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
    // Per-class command counters: not kept per class (the per-thread slots count per store).
    for (const char* k :
         {"get_hits", "cmd_set", "delete_hits", "incr_hits", "decr_hits", "cas_hits", "cas_badval", "touch_hits"})
      out.emplace_back(p + k, "0");
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
    auto add = [&](const char* k, std::string v) { out.emplace_back(p + k, std::move(v)); };
    // One LRU per class (no hot/warm/cold segments): every item counts as cold.
    add("number", u(c.curr_items));
    add("number_hot", "0");
    add("number_warm", "0");
    add("number_cold", u(c.curr_items));
    add("age_hot", "0");
    add("age_warm", "0");
    add("age", u(c.age));
    add("mem_requested", u(c.bytes));
    add("evicted", u(c.evicted));
    add("evicted_nonzero", u(c.evicted_nonzero));
    add("evicted_time", u(c.evicted_time));
    add("outofmemory", u(c.outofmemory));
    add("tailrepairs", "0");
    add("reclaimed", u(c.reclaimed));
    add("expired_unfetched", u(c.expired_unfetched));
    add("evicted_unfetched", u(c.evicted_unfetched));
    add("evicted_active", "0");
    add("crawler_reclaimed", u(c.crawler_reclaimed));
    add("crawler_items_checked", u(c.crawler_items_checked));
    add("lrutail_reflocked", "0");
    add("moves_to_cold", "0");
    add("moves_to_warm", "0");
    add("moves_within_lru", "0");
    add("direct_reclaims", u(c.evicted + c.reclaimed));
    add("hits_to_hot", "0");
    add("hits_to_warm", "0");
    add("hits_to_cold", "0");
    add("hits_to_temp", "0");
  }
  return out;
}

StatList stats_settings(Region& r) {
  const Header* h = r.h();
  StatList out;
  out.reserve(90);
  auto add = [&](const char* k, std::string v) { out.emplace_back(k, std::move(v)); };
  uint32_t flush = h->flush_time.load(std::memory_order_relaxed);
  uint32_t top = h->n_classes < kMaxClasses ? h->n_classes : kMaxClasses - 1;
  // memcached 1.6's order. The server's own settings (maxconns, tcpport, inter, verbosity,
  // idle_timeout, num_threads, ...) are replaced by the protocol engine with the serving
  // server's values; what is here is true for a store without a server.
  add("maxbytes", u(h->mem_limit));
  add("maxconns", "0");
  add("tcpport", "0");
  add("udpport", "0");
  add("inter", "NULL");
  add("verbosity", "0");
  add("oldest", u(flush));
  add("evictions", h->evict ? "on" : "off");
  add("domain_socket", "NULL");
  add("umask", "700");
  add("shutdown_command", "no");
  add("growth_factor", "1.25");
  add("chunk_size", u(kChunkMin));
  add("num_threads", "1");
  add("num_threads_per_udp", "1");
  add("stat_key_prefix", ":");
  add("detail_enabled", "no");
  add("reqs_per_event", "0");
  add("cas_enabled", "yes");
  add("tcp_backlog", "511");
  add("binding_protocol", "auto-negotiate");
  add("item_size_max", u(h->item_size_max));
  add("maxconns_fast", "yes");
  add("hashpower_init", u(kMinHashPower));
  add("slab_reassign", "yes");
  add("slab_automove", "1");
  add("slab_automove_ratio", "0.80");
  add("slab_automove_window", "10");
  add("slab_chunk_max", u(top ? h->classes[top].size : h->item_size_max));
  add("lru_crawler", "no");
  add("lru_crawler_sleep", "0");
  add("lru_crawler_tocrawl", "0");
  add("tail_repair_time", "0");
  add("flush_enabled", "yes");
  add("dump_enabled", "yes");
  add("hash_algorithm", "shmcached-mulfold");
  add("lru_maintainer_thread", "no");
  add("lru_segmented", "no");
  add("hot_lru_pct", "0");
  add("warm_lru_pct", "0");
  add("hot_max_factor", "0.00");
  add("warm_max_factor", "0.00");
  add("temp_lru", "no");
  add("temporary_ttl", "0");
  add("idle_timeout", "0");
  add("watcher_logbuf_size", "0");
  add("worker_logbuf_size", "0");
  add("read_buf_mem_limit", "0");
  add("track_sizes", "no");
  add("inline_ascii_response", "no");
  add("ext_item_size", "0");
  add("ext_item_age", "0");
  add("ext_low_ttl", "0");
  add("ext_recache_rate", "0");
  add("ext_wbuf_size", "0");
  add("ext_compact_under", "0");
  add("ext_drop_under", "0");
  add("ext_max_sleep", "0");
  add("ext_max_frag", "0.00");
  add("slab_automove_freeratio", "0.000");
  add("ext_drop_unread", "no");
  add("num_napi_ids", "0");
  add("memory_file", r.path());
  add("client_flags_size", "4");
  // shmcached's own, after memcached's.
  add("slab_page_size", u(h->page_size));
  add("item_locks", u(kStripes));
  add("file", r.path());
  return out;
}

// memcached's item_cachedump: the first limit (0: all) items of class cls from the most recent
// end of its LRU, "ITEM key [N b; T s]" (value bytes; absolute expiry, 0 = never), then END;
// at most 2 MiB, like memcached.
std::string stats_cachedump(Region& r, uint32_t cls, uint32_t limit) {
  Header* h = r.h();
  std::string out;
  if (cls >= 1 && cls <= h->n_classes && cls < kMaxClasses) {
    ClassHdr& c = h->classes[cls];
    Guard g(c.lock);
    uint64_t bound = c.curr_items + 1, shown = 0;
    char line[kKeyMax + 64];
    for (Item* it = r.item(c.lru_head); it && bound-- > 0 && (limit == 0 || shown < limit); it = r.item(it->next)) {
      if (it->nkey == 0 || it->nkey > kKeyMax) continue;
      int n = snprintf(line, sizeof line, "ITEM %.*s [%u b; %u s]\r\n", int(it->nkey),
                       reinterpret_cast<const char*>(it->key()), it->nbytes, it->exptime);
      if (n <= 0 || out.size() + size_t(n) + 6 > kCachedumpMax) break;
      out.append(line, size_t(n));
      ++shown;
    }
  }
  out += "END\r\n";
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
