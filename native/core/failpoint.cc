// failpoint.cc — see failpoint.h.
#include "core/failpoint.h"

#include <signal.h>
#include <unistd.h>

#include <cstring>

namespace shm {

uint32_t g_failpoint = 0;

const char* const kFailPointNames[uint32_t(FailPoint::kCount)] = {
    "",                      // kNone
    "link.afterTable",       // kLinkAfterTable
    "lru.linkBeforeCommit",  // kLruLinkBeforeCommit
    "unlink.afterTable",     // kUnlinkAfterTable
    "delete.stripeHeld",     // kDeleteStripeHeld
    "grow.pagesLock",        // kGrowPagesLock
    "migrate.midItem",       // kMigrateMidItem
    "carve.halfway",         // kCarveHalfway
    "emptyPage.afterEvict",  // kEmptyPageAfterEvict
    "set.afterAlloc",        // kSetAfterAlloc
};

void failpoint_hit(FailPoint) {
  raise(SIGKILL);
  for (;;) pause();  // SIGKILL cannot be caught: not reached
}

void failpoint_arm(FailPoint p) {
  __atomic_store_n(&g_failpoint, uint32_t(p) < uint32_t(FailPoint::kCount) ? uint32_t(p) : 0u, __ATOMIC_RELAXED);
}

FailPoint failpoint_by_name(const char* name) {
  if (!name) return FailPoint::kCount;
  for (uint32_t i = 0; i < uint32_t(FailPoint::kCount); ++i)
    if (std::strcmp(kFailPointNames[i], name) == 0) return FailPoint(i);
  return FailPoint::kCount;
}

}  // namespace shm
