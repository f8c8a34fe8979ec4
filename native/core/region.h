// region.h — the mapped region file. Owns: creating, validating and mapping the file; the
// geometry derived from (mem_limit, item_size_max); and bounds-checked access from offsets to
// memory. Nothing else in core/ turns an offset into a pointer.
//
// Invariants:
//  - A Region's local copies of the geometry (size, arena, pages) are computed from the options
//    and checked against the header at open; accessors check offsets against these local copies,
//    never against header fields that a stray write could have changed.
//  - Opening never trusts the file: a short file, a foreign file, another layout version or a
//    header whose geometry does not match is a clear error (unless reset was asked for).
//  - The file is opened through region_file.h (no symlink, our own regular file, no loose mode);
//    a file without our magic is never written, whatever the options: reset and reset_if_bad
//    refuse it (ERR_REGION_FOREIGN). Reset unlinks our file and makes a fresh one, never
//    truncating in place. An empty file (size 0) is taken as ours to initialise.
#pragma once
#include <cstdint>
#include <string>

#include "core/layout.h"
#include "core/recover.h"

namespace shm {

struct RegionOptions {
  uint64_t mem_limit = 0;      // 0 = take the file's (or the default when creating)
  uint32_t item_size_max = 0;  // 0 = take the file's (or the default when creating)
  int evict = -1;              // -1 = take the file's (default 1 when creating)
  bool reset = false;          // re-initialise whatever is there
  bool reset_if_bad = false;   // a file that is not a valid region of this layout is re-created
                               // (a cold start) instead of failing
  bool recover = false;        // run recovery even on a clean region (when no process is attached)
  bool readonly = false;       // map read-only, never create, no attach (for `shmcached check`)
  uint32_t mode = 0600;        // a new file's mode, and the group/other write bits a file may have
  bool mode_explicit = false;  // mode was asked for: a new file gets exactly it (past the umask)
  int64_t allow_owner = -1;    // a uid besides ours whose file may be opened (-1: none)
};

struct Geometry {
  uint64_t mem_limit;
  uint32_t item_size_max;
  uint32_t page_size;
  uint32_t pages_total;
  uint32_t max_hash_power;
  uint64_t arena_off;
  uint64_t arena_size;
  uint64_t pages_off;
  uint64_t file_size;
};

// The mapped region (of this process) whose memory holds p, or nullptr. For the lock hooks.
Region* region_containing(const void* p);

// Computes the layout for the given limits, or returns false with a reason.
bool compute_geometry(uint64_t mem_limit, uint32_t item_size_max, Geometry* g, std::string* err);

class Region {
 public:
  // Opens (creating or attaching) the region at path. Returns nullptr and sets *err on failure
  // (and *code, when given, to the error's code: region_file.h's kErr*).
  // Under the file's flock, the opener joins the attach table; when it finds no live process
  // attached it starts warm (clean region) or recovers (recover.h). *rep says which.
  static Region* open(const std::string& path, const RegionOptions& opt, std::string* err, bool* created,
                      RecoveryReport* rep = nullptr, const char** code = nullptr);
  // Detaches (under the flock): the last process out of a region with no dead process marks it
  // clean, so the next open starts warm.
  ~Region();

  // At process exit with handles still open (addon.cc's atexit hook): takes every lock of the
  // region within deadline_ms (so no thread of ours is inside a change), leaves the attach table,
  // and, when it was the last process and everything was taken, marks the region clean and keeps
  // the locks held: threads of ours still running block instead of changing a clean region (the
  // next open clears lock words anyway). Otherwise releases what it took. Leaves the mapping in
  // place (other threads may still touch it until exit). Returns whether it marked it clean.
  bool exit_detach(int deadline_ms);

  Header* h() const { return h_; }
  uint8_t* base() const { return base_; }
  const Geometry& geo() const { return geo_; }
  const std::string& path() const { return path_; }

  // Item at an offset, or nullptr when the offset is null or outside the page area. Checks the
  // header and the key/value extent.
  Item* item(uint32_t off) const {
    uint64_t b = uint64_t(off) * kUnit;
    if (b < geo_.pages_off || b + sizeof(Item) > geo_.file_size) return nullptr;
    Item* it = reinterpret_cast<Item*>(base_ + b);
    if (b + sizeof(Item) + it->nkey + uint64_t(it->nbytes) > geo_.file_size) return nullptr;
    return it;
  }
  // Chunk at an offset without looking at its contents (free chunks, fresh pages).
  Item* chunk(uint32_t off) const {
    uint64_t b = uint64_t(off) * kUnit;
    if (b < geo_.pages_off || b + sizeof(Item) > geo_.file_size) return nullptr;
    return reinterpret_cast<Item*>(base_ + b);
  }
  uint32_t offset_of(const void* p) const { return uint32_t((static_cast<const uint8_t*>(p) - base_) / kUnit); }
  // The bucket array of the table of the given power (power is clamped by the caller).
  uint32_t* table(uint32_t power) const {
    return reinterpret_cast<uint32_t*>(base_ + geo_.arena_off + (uint64_t(4) << power));
  }
  uint8_t* page(uint32_t index) const { return base_ + geo_.pages_off + uint64_t(index) * geo_.page_size; }

 private:
  Region() = default;
  std::string path_;
  int fd_ = -1;
  bool readonly_ = false;
  uint32_t proc_ = UINT32_MAX;  // our entry in the attach table
  uint8_t* base_ = nullptr;
  Header* h_ = nullptr;
  Geometry geo_{};
};

}  // namespace shm
