// store.h — memcached's commands over the shared store, with memcached 1.6 semantics. This is
// the core's whole surface: the binding layer (and later the protocol engine, through gates)
// calls only these.
//
// Lock order: lock.h (expand_lock -> item stripe -> class lock -> pages lock).
// Every command takes its key's stripe (kStripes striped locks, chosen by hash), never a global
// lock; the class lock is taken inside it only to link, unlink or bump recency (at most once per
// kLruBumpInterval for reads).
#pragma once
#include <cstdint>

#include "contract.h"
#include "core/layout.h"
#include "core/stats.h"

namespace shm {

// The non-negative statuses are the contract's St (native/contract.h): the binding returns them
// to JavaScript as they are. The negative ones are the core's own; the binding maps them to Ret.
enum Status : int32_t {
  kOk = contract::kStOk,                // hit / stored / deleted / touched
  kMiss = contract::kStMiss,            // get miss, NOT_FOUND
  kNotStored = contract::kStNotStored,  // NOT_STORED
  kExists = contract::kStExists,        // EXISTS (cas mismatch)
  kTooLarge = -1,                       // SERVER_ERROR object too large for cache
  kNoMemory = -2,                       // SERVER_ERROR out of memory storing object
  kNonNumeric = -3,                     // CLIENT_ERROR cannot increment or decrement non-numeric value
  kBadKey = -4,                         // key length or characters
  kBufferSmall = -5                     // reply does not fit the caller's buffer; needed length reported
};

// The contract's Cmd: JavaScript passes these numbers to handle.store().
enum class StoreCmd : uint32_t {
  kSet = contract::kCmdSet,
  kAdd = contract::kCmdAdd,
  kReplace = contract::kCmdReplace,
  kAppend = contract::kCmdAppend,
  kPrepend = contract::kCmdPrepend,
  kCas = contract::kCmdCas,
};

struct ItemMeta {
  uint32_t vlen;
  uint32_t flags;
  uint64_t cas;
};

// 1..250 bytes, none of them space or control characters (memcached's key rule).
bool key_valid(const uint8_t* key, uint32_t nkey);

// get / gets (touch=false) and gat / gats (touch=true, ttl = new exptime). Copies the value into
// out when it fits in cap; otherwise kBufferSmall with meta->vlen set and nothing counted.
Status cmd_get(Ctx& ctx, const uint8_t* key, uint32_t nkey, bool touch, int64_t ttl, uint8_t* out, uint32_t cap,
               ItemMeta* meta);
// A multi-key get: n keys, each followed by its length; results per key in meta[i] (vlen, or
// kMiss / kBadKey in `status[i]`), values packed into out at 8-aligned offsets from *off. Stops
// before the first value that does not fit (its length in *need) and returns how many keys are
// done. Keys are looked up in groups with the bucket and item lines prefetched first, so their
// memory misses overlap instead of queueing (most of a get's cost at 100k+ keys). The batch is
// one command to the clock (read once) and to the stats (the same totals as n gets, added once);
// each key is hashed once, and hits bump recency exactly as cmd_get does.
uint32_t cmd_get_many(Ctx& ctx, const uint8_t* const* keys, const uint32_t* nkeys, uint32_t n, uint8_t* out,
                      uint64_t cap, uint64_t* off, Status* status, ItemMeta* meta, uint32_t* need);

// set/add/replace/append/prepend/cas. Flags and ttl are ignored by append/prepend (memcached).
// cas_in is the expected CAS of kCas and, when non-zero, of kAppend/kPrepend too (checked and
// applied under one stripe lock: kExists on a mismatch); other commands ignore it. *cas_out gets
// the stored item's CAS on kOk (append/prepend included).
Status cmd_store(Ctx& ctx, StoreCmd cmd, const uint8_t* key, uint32_t nkey, const uint8_t* val, uint32_t nval,
                 uint32_t flags, int64_t ttl, uint64_t cas_in, uint64_t* cas_out);
Status cmd_delete(Ctx& ctx, const uint8_t* key, uint32_t nkey);
Status cmd_delta(Ctx& ctx, const uint8_t* key, uint32_t nkey, bool incr, uint64_t delta, uint64_t* result);
Status cmd_touch(Ctx& ctx, const uint8_t* key, uint32_t nkey, int64_t ttl);
// Immediate when delay <= 0; otherwise every item stored before now+delay dies at that time.
void cmd_flush_all(Ctx& ctx, int64_t delay);
// Largest value that fits with a key of nkey bytes.
uint32_t max_value_len(const Region& r, uint32_t nkey);

}  // namespace shm
