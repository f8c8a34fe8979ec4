// intent.h — writing intent records (layout.h Intent) into the calling thread's own slot. Owns
// the order of those stores: the record is complete before the change it announces, and cleared
// only after the change is complete.
//
// Invariants: a thread writes only its own slot (t_slot, set by Ctx::enter; null for the shared
// overflow slot and during a repair, when nothing is recorded). x86 keeps stores in order, so a
// release store of `op` after a and b, plus a compiler fence, is enough for a survivor in another
// process to read a complete record once this process is dead.
#pragma once
#include <atomic>
#include <cstdint>

#include "core/stats.h"

namespace shm {

inline void intent_set(Intent StatSlot::*which, uint32_t op, uint32_t a, uint32_t b, uint32_t cls = 0) {
  if (StatSlot* s = t_slot) {
    Intent& in = s->*which;
    in.a = a;
    in.b = b;
    in.cls = cls;
    in.op.store(op, std::memory_order_release);
    std::atomic_signal_fence(std::memory_order_seq_cst);  // the change below stays below
  }
}

inline void intent_clear(Intent StatSlot::*which) {
  if (StatSlot* s = t_slot) {
    std::atomic_signal_fence(std::memory_order_seq_cst);  // the change above stays above
    (s->*which).op.store(kIntentNone, std::memory_order_release);
  }
}

inline void stripe_intent(uint32_t op, uint32_t a, uint32_t b) { intent_set(&StatSlot::si, op, a, b); }
inline void stripe_intent_clear() { intent_clear(&StatSlot::si); }
inline void class_intent(uint32_t op, uint32_t a, uint32_t cls) { intent_set(&StatSlot::ci, op, a, 0, cls); }
inline void class_intent_clear() { intent_clear(&StatSlot::ci); }

}  // namespace shm
