// scratch_region.h — test-only: opens the fresh (reset) region a C++ test binary runs on
// (core_test, core_stress, proto_fuzz). Owns only that open call; the caller owns the Region.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/region.h"

namespace shm {

// Opens path as a fresh region of mem bytes, items up to imax bytes, eviction on or off. On failure
// prints "<who>: cannot open <path>: <why>" to stderr and returns nullptr.
inline Region* open_scratch_region(const std::string& path, uint64_t mem, uint32_t imax, int evict, const char* who) {
  RegionOptions o;
  o.mem_limit = mem;
  o.item_size_max = imax;
  o.evict = evict;
  o.reset = true;
  std::string err;
  bool created = false;
  Region* r = Region::open(path, o, &err, &created);
  if (!r) std::fprintf(stderr, "%s: cannot open %s: %s\n", who, path.c_str(), err.c_str());
  return r;
}

}  // namespace shm
