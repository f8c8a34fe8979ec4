// region.cc — see region.h.
#include "core/region.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "core/region_file.h"
#include "core/slabs.h"

namespace shm {

static constexpr uint64_t kMaxFile = uint64_t(UINT32_MAX) * kUnit;  // 32 GiB of 8-byte units
static constexpr uint64_t kDefaultMem = 64ull << 20;
static constexpr uint32_t kDefaultItemMax = 1u << 20;

static std::mutex g_regions_mu;
static std::vector<Region*> g_regions;

Region* region_containing(const void* p) {
  const uint8_t* a = static_cast<const uint8_t*>(p);
  std::lock_guard<std::mutex> lk(g_regions_mu);
  for (Region* r : g_regions)
    if (a >= r->base() && a < r->base() + r->geo().file_size) return r;
  return nullptr;
}

static uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

bool compute_geometry(uint64_t mem_limit, uint32_t item_size_max, Geometry* g, std::string* err) {
  if (item_size_max < 1024) {
    *err = "itemSizeMax must be at least 1 KiB";
    return false;
  }
  if (item_size_max > (64u << 20)) {
    *err = "itemSizeMax must be at most 64 MiB";
    return false;
  }
  if (uint64_t(item_size_max) * 2 > mem_limit) {
    *err = "itemSizeMax cannot be more than half of size (memcached's rule for -I and -m)";
    return false;
  }
  g->mem_limit = mem_limit;
  g->item_size_max = item_size_max;
  g->page_size = item_size_max > kPageMin ? uint32_t(round_up(item_size_max, 4096)) : kPageMin;
  uint64_t pages = mem_limit / g->page_size;
  if (pages < 2) pages = 2;
  if (pages > UINT32_MAX) {
    *err = "size is too large";
    return false;
  }
  if (pages > kMaxPages) {
    *err = "size is too large: a region is limited to 32 GiB";
    return false;
  }
  g->pages_total = uint32_t(pages);
  // Enough buckets that a region full of the smallest items keeps the load under 0.75.
  uint64_t max_items = pages * g->page_size / 96;
  uint32_t p = kMinHashPower;
  while (p < 30 && (uint64_t(1) << p) * 3 / 4 < max_items) ++p;
  g->max_hash_power = p;
  g->arena_off = round_up(sizeof(Header), 4096);
  g->arena_size = uint64_t(8) << p;  // tables of power kMin..p at 4 * 2^power
  g->pages_off = round_up(g->arena_off + g->arena_size, 4096);
  g->file_size = g->pages_off + pages * g->page_size;
  if (g->file_size > kMaxFile) {
    *err = "size is too large: a region is limited to 32 GiB";
    return false;
  }
  return true;
}

static void init_header(Header* h, const Geometry& g, bool evict) {
  std::memset(static_cast<void*>(h), 0, sizeof(Header));
  h->version = kLayoutVersion;
  h->abi = abi_fingerprint();
  h->file_size = g.file_size;
  h->mem_limit = g.mem_limit;
  h->item_size_max = g.item_size_max;
  h->page_size = g.page_size;
  h->evict = evict ? 1 : 0;
  h->arena_off = g.arena_off;
  h->arena_size = g.arena_size;
  h->max_hash_power = g.max_hash_power;
  h->pages_total = g.pages_total;
  h->pages_off = g.pages_off;
  h->created = uint64_t(time(nullptr));
  h->table_state.store(ts_make(kMinHashPower, false, 0));
  slabs_init(h);
  // The magic goes last: a file is a region only once everything else is in place.
  std::atomic_thread_fence(std::memory_order_release);
  h->magic = kMagic;
}

// Checks a header read from a file against the geometry its own limits imply.
static bool validate_header(const Header* h, uint64_t file_size, Geometry* g, std::string* err) {
  if (h->magic != kMagic) {
    *err = "not a shmcached region (bad magic)";
    return false;
  }
  if (h->version != kLayoutVersion) {
    *err = "region has layout version " + std::to_string(h->version) + ", this build reads version " +
           std::to_string(kLayoutVersion);
    return false;
  }
  if (h->abi != abi_fingerprint()) {
    *err = "region was written by a build with another layout (ABI fingerprint differs)";
    return false;
  }
  std::string why;
  if (!compute_geometry(h->mem_limit, h->item_size_max, g, &why)) {
    *err = "corrupt region header: " + why;
    return false;
  }
  if (h->file_size != g->file_size || file_size != g->file_size || h->page_size != g->page_size ||
      h->pages_total != g->pages_total || h->arena_off != g->arena_off || h->arena_size != g->arena_size ||
      h->pages_off != g->pages_off || h->max_hash_power != g->max_hash_power) {
    *err = file_size < g->file_size ? "region file is truncated" : "corrupt region header: geometry mismatch";
    return false;
  }
  uint64_t s = h->table_state.load();
  if (ts_power(s) < kMinHashPower || ts_power(s) > g->max_hash_power ||
      (ts_expanding(s) && (ts_power(s) >= g->max_hash_power || ts_pos(s) >= (uint64_t(1) << ts_power(s))))) {
    *err = "corrupt region header: hash table state";
    return false;
  }
  if (!slabs_validate(h)) {
    *err = "corrupt region header: slab classes";
    return false;
  }
  if (h->pages_used > h->pages_total) {
    *err = "corrupt region header: page count";
    return false;
  }
  return true;
}

// Whether the file at fd begins with our magic (a shmcached region of whatever layout).
static bool has_magic(int fd, const struct stat& st) {
  uint64_t m = 0;
  return uint64_t(st.st_size) >= sizeof m && pread(fd, &m, sizeof m, 0) == ssize_t(sizeof m) && m == kMagic;
}

Region* Region::open(const std::string& path, const RegionOptions& opt, std::string* err, bool* created,
                     RecoveryReport* rep_out, const char** code_out) {
  *created = false;
  RecoveryReport rep_local;
  RecoveryReport& rep = rep_out ? *rep_out : rep_local;
  rep = RecoveryReport{};
  const char* dummy_code = nullptr;
  const char*& code = code_out ? *code_out : dummy_code;
  code = nullptr;
  FileRules rules;
  rules.mode = opt.mode & 07777;
  rules.mode_explicit = opt.mode_explicit;
  rules.allow_owner = opt.allow_owner;
  RegionFile file;
  // Opened, checked and locked (LOCK_EX; LOCK_SH read-only): one opener at a time decides between
  // creating, attaching, starting warm and recovering.
  if (const char* c = region_file_open(path, rules, opt.readonly, &file, err)) {
    code = c;
    return nullptr;
  }
  int fd = file.fd;
  auto fail = [&](const std::string& why, const char* c = kErrBadRegion) -> Region* {
    *err = why;
    code = c;
    flock(fd, LOCK_UN);
    ::close(fd);
    if (file.dirfd >= 0) ::close(file.dirfd);
    return nullptr;
  };
  struct stat st = file.st;

  Geometry g{};
  bool reset = !opt.readonly && opt.reset && st.st_size != 0;
  bool init = !opt.readonly && st.st_size == 0;
  if (opt.readonly && st.st_size == 0) return fail(path + ": empty file (no region)");
  std::unique_ptr<uint8_t[]> buf(new uint8_t[sizeof(Header)]);
  if (reset) {
    rep.kind = RecoveryReport::kReset;
    rep.reason = "reset requested";
    // Never write over a file that is not ours, whatever was asked.
    if (!has_magic(fd, st))
      return fail("refusing to reset " + path + ": it is not a shmcached region (no magic), and a file that is " +
                      "not ours is never written; nothing was changed (remove it yourself if it is yours to " +
                      "discard, or choose another path)",
                  kErrForeign);
    // Re-creating the file under processes that have it mapped would leave them on a store
    // nobody else sees: refuse while the attach table names a live process.
    Geometry og{};
    std::string why;
    if (uint64_t(st.st_size) >= sizeof(Header) && pread(fd, buf.get(), sizeof(Header), 0) == ssize_t(sizeof(Header)) &&
        validate_header(reinterpret_cast<const Header*>(buf.get()), uint64_t(st.st_size), &og, &why)) {
      uint64_t dead = 0;
      uint32_t live = procs_sweep(reinterpret_cast<Header*>(buf.get()), &dead);  // on the private copy
      if (live > 0) return fail("cannot reset " + path + ": " + std::to_string(live) + " process(es) have it open");
    }
  } else if (!init) {
    std::string why;
    bool valid = false;
    if (uint64_t(st.st_size) < sizeof(Header)) {
      why = "not a shmcached region (file too short)";
    } else if (pread(fd, buf.get(), sizeof(Header), 0) != ssize_t(sizeof(Header))) {
      return fail("cannot read " + path);
    } else {
      // Read the header into private memory first: nothing is mapped until it checks out.
      valid = validate_header(reinterpret_cast<const Header*>(buf.get()), uint64_t(st.st_size), &g, &why);
    }
    if (!valid && opt.reset_if_bad) {
      if (!has_magic(fd, st))
        return fail("refusing to start " + path + " cold: " + why + ", and a file that is not ours is never " +
                        "written; nothing was changed (remove it yourself if it is yours to discard, or choose " +
                        "another path)",
                    kErrForeign);
      reset = true;
      rep.kind = RecoveryReport::kReset;
      rep.reason = why;
    } else if (!valid) {
      return fail(path + ": " + why + (opt.readonly ? "" : " (open with reset, or onCorrupt 'reset', to start cold)"));
    }
  }
  if (reset) {
    // Our own file (magic checked, still locked): unlink it and start a fresh one, never
    // truncating in place (processes that still map the old one keep their pages).
    if (const char* c = region_file_recreate(path, rules, &file, err)) {
      code = c;
      return nullptr;  // (recreate closed the file)
    }
    fd = file.fd;
    st = file.st;
    // Another opener may have found the fresh file first and made it a region: join that.
    init = st.st_size == 0;
    if (!init) {
      std::string why;
      if (pread(fd, buf.get(), sizeof(Header), 0) != ssize_t(sizeof(Header)) ||
          !validate_header(reinterpret_cast<const Header*>(buf.get()), uint64_t(st.st_size), &g, &why))
        return fail(path + ": reset raced with another opener and the new file is not a region (" + why +
                    "); try again");
    }
  }
  ::close(file.dirfd);
  file.dirfd = -1;
  if (!init) {
    const Header& hdr = *reinterpret_cast<const Header*>(buf.get());
    if (opt.mem_limit && opt.mem_limit != g.mem_limit)
      return fail(path + ": region has size " + std::to_string(g.mem_limit) + " bytes, opened with size " +
                  std::to_string(opt.mem_limit) + " (use reset to re-create it)");
    if (opt.item_size_max && opt.item_size_max != g.item_size_max)
      return fail(path + ": region has itemSizeMax " + std::to_string(g.item_size_max) + ", opened with " +
                  std::to_string(opt.item_size_max) + " (use reset to re-create it)");
    if (opt.evict >= 0 && uint32_t(opt.evict) != hdr.evict)
      return fail(path + std::string(": region was created with evict ") + (hdr.evict ? "true" : "false") +
                  " (use reset to re-create it)");
  } else {
    std::string why;
    uint64_t mem = opt.mem_limit ? opt.mem_limit : kDefaultMem;
    uint32_t imax = opt.item_size_max ? opt.item_size_max : kDefaultItemMax;
    if (!compute_geometry(mem, imax, &g, &why)) return fail(why);
    // Drop old contents (tmpfs frees them), then size the file; the new pages read as zero.
    if (ftruncate(fd, 0) != 0 || ftruncate(fd, off_t(g.file_size)) != 0)
      return fail("cannot size " + path + ": " + std::strerror(errno));
  }

  void* m = mmap(nullptr, g.file_size, opt.readonly ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) return fail("cannot map " + path + ": " + std::strerror(errno));
  // Random access over a large region pays TLB misses on 4 KiB pages (~12% of a get at 100k keys
  // in a huge=always tmpfs test here); ask for
  // transparent huge pages. A tmpfs honours this only when mounted with huge=advise (or
  // within_size/always); /dev/shm here is mounted without, so it is a no-op there.
  madvise(m, g.file_size, MADV_HUGEPAGE);
  auto* r = new Region();
  r->path_ = path;
  r->fd_ = fd;
  r->base_ = static_cast<uint8_t*>(m);
  r->h_ = static_cast<Header*>(m);
  r->geo_ = g;
  r->readonly_ = opt.readonly;
  {
    std::lock_guard<std::mutex> lk(g_regions_mu);
    g_regions.push_back(r);
  }
  install_lock_hooks();
  if (opt.readonly) {
    flock(fd, LOCK_UN);
    return r;
  }
  Header* h = r->h_;
  if (init) {
    init_header(h, g, opt.evict != 0);
    *created = true;
  } else {
    auto t0 = std::chrono::steady_clock::now();
    uint32_t live = procs_sweep(h, &rep.dead_processes);
    if (live > 0) {
      // Others are using it: join them. A process that died attached leaves its locks to be taken
      // over when someone needs them, and may have leaked chunks: the next cold open recovers.
      if (rep.dead_processes) {
        h->dirty.store(1, std::memory_order_relaxed);
        uint32_t token = t_lock_token;
        t_lock_token = kAnonToken;  // no slot of ours in this region yet
        procs_reclaim(*r);
        t_lock_token = token;
      }
      rep.kind = RecoveryReport::kAttached;
    } else if (h->clean.load() == 1 && h->dirty.load() == 0 && !opt.recover) {
      reset_runtime(*r);  // lock words and thread owners of processes that are gone
      rep.kind = RecoveryReport::kWarm;
      rep.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    } else {
      recover_offline(*r, &rep);
      rep.kind = RecoveryReport::kRecovered;
    }
  }
  if (!procs_add(h, &r->proc_)) {
    flock(fd, LOCK_UN);
    r->fd_ = -1;
    delete r;
    return fail(path + ": too many processes attached (" + std::to_string(kProcs) + ")");
  }
  h->clean.store(0, std::memory_order_release);
  flock(fd, LOCK_UN);
  return r;
}

bool Region::exit_detach(int deadline_ms) {
  if (readonly_ || proc_ == UINT32_MAX || fd_ < 0) return false;
  Header* h = h_;
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_ms);
  std::vector<Lock*> held;
  auto take = [&](Lock& l) {
    while (!try_lock(l)) {
      if (std::chrono::steady_clock::now() > until) return false;
      sched_yield();
    }
    held.push_back(&l);
    return true;
  };
  bool all = take(h->expand_lock);
  for (uint32_t i = 0; all && i < kStripes; ++i) all = take(h->stripes[i].lock);
  for (uint32_t i = 1; all && i < kMaxClasses; ++i) all = take(h->classes[i].lock);
  all = all && take(h->pages_lock);
  bool marked = false;
  if (flock(fd_, LOCK_EX) == 0) {
    procs_remove(h, proc_);
    proc_ = UINT32_MAX;
    uint64_t dead = 0;
    uint32_t live = procs_sweep(h, &dead);
    if (dead) h->dirty.store(1, std::memory_order_relaxed);
    if (all && live == 0 && h->dirty.load(std::memory_order_relaxed) == 0) {
      h->clean.store(1, std::memory_order_release);
      marked = true;
    }
    flock(fd_, LOCK_UN);
  }
  if (!marked)
    for (Lock* l : held) unlock(*l);
  return marked;
}

Region::~Region() {
  {
    std::lock_guard<std::mutex> lk(g_regions_mu);
    for (size_t i = 0; i < g_regions.size(); ++i)
      if (g_regions[i] == this) {
        g_regions.erase(g_regions.begin() + long(i));
        break;
      }
  }
  if (base_ && !readonly_ && proc_ != UINT32_MAX && fd_ >= 0 && flock(fd_, LOCK_EX) == 0) {
    Header* h = h_;
    procs_remove(h, proc_);
    uint64_t dead = 0;
    uint32_t live = procs_sweep(h, &dead);
    if (dead) h->dirty.store(1, std::memory_order_relaxed);
    // The last one out, with no process having died attached: the next open starts warm.
    if (live == 0 && h->dirty.load(std::memory_order_relaxed) == 0) h->clean.store(1, std::memory_order_release);
    flock(fd_, LOCK_UN);
  }
  if (base_) munmap(base_, geo_.file_size);
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace shm
