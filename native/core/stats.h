// stats.h — statistics. Owns: the per-thread slots in the region (claimed by a thread, written
// only by it, summed by readers), the per-operation context that carries the slot, and the
// memcached-named views (`stats`, `stats slabs`, `stats items`, `stats settings`, `stats
// cachedump`).
//
// Invariants: a slot's counters only grow and outlive the thread that wrote them (a released
// slot keeps its totals for the next owner), so sums never go backwards. Gauges that change
// under a class lock (curr_items, bytes, evictions, ...) live in the class, not in slots. The one
// gauge kept in slots, curr_connections, is opened - closed summed over slots whose owner process
// lives; claiming a slot sets its closed count to its opened count, so a new owner starts with
// none of the previous owner's connections.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/layout.h"
#include "core/tls.h"

namespace shm {

class Region;
struct EventRing;

// The slot whose intent records the current thread writes (null: none, e.g. the shared slot or
// a repair in progress). Set with the lock token by Ctx::enter.
extern thread_local StatSlot* t_slot SHM_TLS_IE;

// What one thread needs to run commands on one region.
struct Ctx {
  Region* r = nullptr;
  StatSlot* slot = nullptr;
  bool shared_slot = false;     // all slots taken: count with atomic adds in slot 0
  uint32_t now = 0;             // store clock, read once per command
  uint32_t token = kAnonToken;  // this thread's lock owner token in r (lock.h)
  EventRing* events = nullptr;  // eviction/expiry observer of this thread (events.h), or none
  uint64_t cas_in = 0;          // memcached's meta E flag: the CAS the command's write takes (0: the next)

  // Every command starts here: locks taken from now on name this thread's slot in this region.
  // The cmd_* functions call it; any other caller that takes region locks (the stats views,
  // flush, the bindings' cold paths) must call it first, or its locks carry a token of whatever
  // region the thread used last, which a waiter there could judge dead.
  void enter() {
    t_lock_token = token;
    t_slot = shared_slot ? nullptr : slot;
  }

  void count(Counter k, uint64_t n = 1) {
    uint64_t* p = &slot->c[k];
    if (shared_slot) {
      __atomic_fetch_add(p, n, __ATOMIC_RELAXED);
    } else {
      __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
    }
  }
};

// The calling process's identity for the attach table: pid and start time (clock ticks after boot,
// /proc/self/stat field 22), read once.
uint32_t self_pid();
uint64_t self_start();
// Start time of pid, or 0 when it does not exist (or cannot be read).
uint64_t proc_start(uint32_t pid);
// pid exists with this start time (start 0: any).
bool proc_alive(uint32_t pid, uint64_t start);

// Claims a slot for the calling thread (slot 0 is the shared overflow slot).
void stats_attach(Region& r, Ctx* c);
void stats_detach(Ctx* c);

using StatList = std::vector<std::pair<std::string, std::string>>;
StatList stats_general(Region& r, uint32_t now, const char* protection);
StatList stats_slabs(Region& r);
StatList stats_items(Region& r, uint32_t now);
StatList stats_settings(Region& r);
// memcached's `stats cachedump CLASS LIMIT` reply (ITEM lines, then END), at most this long.
constexpr size_t kCachedumpMax = 2u * 1024 * 1024;
std::string stats_cachedump(Region& r, uint32_t cls, uint32_t limit);
// memcached's `stats reset`: zeroes the counters (not the gauges).
void stats_reset(Region& r);

uint64_t stats_curr_items(Region& r);

}  // namespace shm
