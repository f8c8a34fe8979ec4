// events.h — item events for observers: evictions and expirations, recorded (sampled) into a
// ring in process-private memory owned by one thread's handle, drained by the binding to publish
// them (src/events.ts). Owns: EventRing and the record/drain protocol.
//
// Invariants:
//  - A Ctx with no ring (events == nullptr, the default) records nothing: the cost of a disabled
//    observer is one pointer test on the eviction and expiry paths, never on a plain hit.
//  - The ring is written and drained by the thread that owns the Ctx only (no locks); records
//    are copied out of the item while the caller still holds the item's stripe, so the key is
//    the evicted item's own.
//  - A full ring drops new records and counts them (observers are told how many they missed).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "contract.h"
#include "core/layout.h"

namespace shm {

// The contract's EventKind (src/events.ts reads the kind byte).
enum EventKind : uint8_t {
  kEventEvict = contract::kEventKindEvict,    // pushed out by LRU eviction or a page move
  kEventExpire = contract::kEventKindExpire,  // found expired (on lookup, or reclaimed from the LRU tail)
};

struct EventRec {
  uint8_t kind;
  uint8_t cls;
  uint8_t nkey;
  uint8_t pad;
  uint32_t size;  // the item's total bytes (header + key + value)
  uint8_t key[kKeyMax];
};

// A record's header is written field by field in the contract's EventRec format (event_drain);
// these tie that format to this struct, so one side cannot change alone.
static_assert(offsetof(EventRec, kind) == contract::kEventRecKind &&
                  offsetof(EventRec, cls) == contract::kEventRecClass &&
                  offsetof(EventRec, nkey) == contract::kEventRecNkey &&
                  offsetof(EventRec, size) == contract::kEventRecSize &&
                  offsetof(EventRec, key) == contract::kEventRecHeader,
              "EventRec is the contract's event record format");
static_assert(contract::kLayoutKeyMax == kKeyMax, "an event's key fits the contract's KeyMax");

constexpr uint32_t kEventCap = 256;

struct EventRing {
  uint32_t sample = 1;   // record one event in `sample`
  uint32_t seen = 0;     // events since the last recorded one
  uint32_t count = 0;    // records waiting to be drained
  uint32_t dropped = 0;  // records lost to a full ring since the last drain
  EventRec recs[kEventCap];
};

// Records `it` (stripe held by the caller) as an event of `kind`, if this ring samples it.
inline void event_record(EventRing* ring, EventKind kind, const Item* it) {
  if (!ring) return;
  if (++ring->seen < ring->sample) return;
  ring->seen = 0;
  if (ring->count >= kEventCap) {
    ++ring->dropped;
    return;
  }
  EventRec& e = ring->recs[ring->count++];
  e.kind = kind;
  e.cls = it->cls;
  e.nkey = it->nkey <= kKeyMax ? it->nkey : uint8_t(kKeyMax);
  e.pad = 0;
  e.size = uint32_t(sizeof(Item) + it->nkey + uint64_t(it->nbytes));
  std::memcpy(e.key, reinterpret_cast<const uint8_t*>(it + 1), e.nkey);
}

// Copies waiting records into out in the contract's EventRec format ([u8 kind, u8 cls, u8 nkey,
// u8 0, u32 size, key bytes]...),
// as many whole records as fit in cap bytes; returns the bytes written and leaves the rest.
uint32_t event_drain(EventRing* ring, uint8_t* out, uint32_t cap, uint32_t* records);

}  // namespace shm
