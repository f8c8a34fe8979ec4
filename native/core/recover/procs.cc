// recover/procs.cc — the attach table: which processes have the region mapped (recover.h
// procs_sweep / procs_add / procs_remove). Owns the Header::procs slots: a slot is a pid plus that
// process's start time, so a recycled pid is not taken for the old process.
//
// Invariants:
//  - Called only under the region file's flock (region.cc's open and close): one opener or closer
//    at a time edits the table, so plain relaxed stores suffice; the pid is stored last (release)
//    so a reader that sees it also sees the start time.
//  - A slot whose process is gone (or was restarted under the same pid) is dead: the sweep clears
//    it and counts it, which is what tells region.cc that a process died attached (dirty region:
//    reclaim now, recover on the next cold open).
//
// Lock order: takes no region lock (the flock is outside and before every region lock).
#include "core/recover.h"
#include "core/stats.h"

namespace shm {

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

}  // namespace shm
