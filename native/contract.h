// contract.h — generated from contract/contract.json by scripts/gen-contract.mjs: do not edit.
// The numbers shared by native/ and src/ (docs/contract.md). static_asserts tying them to the
// real layout live next to that layout (native/binding/, native/core/events.h, store.h).
#pragma once
#include <cstdint>

namespace shm::contract {

// Ret: Negative results of the hot calls (native/binding/cache.cc); a call's non-negative result is a length, a count or an St.
constexpr int32_t kRetMiss = -1;  // get-like call: no such key
constexpr int32_t kRetSmall = -2;  // the value does not fit the buffer; its length is at MetaOff.Vlen
constexpr int32_t kRetBadKey = -3;  // key length or characters refused (also: a bad argument)
constexpr int32_t kRetTooLarge = -4;  // the item is larger than itemSizeMax
constexpr int32_t kRetNoMemory = -5;  // no chunk could be found or freed
constexpr int32_t kRetNonNumeric = -6;  // incr/decr of a value that is not a number
constexpr int32_t kRetClosed = -7;  // the handle is closed
constexpr int32_t kRetBusy = -8;  // this thread is already inside a gate (a re-entrant call)

// Cmd: Store commands of handle.store(); the core's StoreCmd (native/core/store.h).
constexpr int32_t kCmdSet = 0;
constexpr int32_t kCmdAdd = 1;
constexpr int32_t kCmdReplace = 2;
constexpr int32_t kCmdAppend = 3;
constexpr int32_t kCmdPrepend = 4;
constexpr int32_t kCmdCas = 5;

// St: Non-negative statuses of store/del/delta/touch/metaDelete; the core's Status (native/core/store.h).
constexpr int32_t kStOk = 0;  // hit / stored / deleted / touched
constexpr int32_t kStMiss = 1;  // NOT_FOUND
constexpr int32_t kStNotStored = 2;  // NOT_STORED
constexpr int32_t kStExists = 3;  // EXISTS (CAS mismatch)

// Layout: Sizes of the per-thread buffers registered with setBuffers(scratch, meta).
constexpr int32_t kLayoutValueOffset = 1024;  // scratch: the key at byte 0, the value from this byte
constexpr int32_t kLayoutMetaLens = 64;  // meta: getMany's per-key u32 lengths start at this byte
constexpr int32_t kLayoutKeyMax = 250;  // longest key in bytes (memcached KEY_MAX_LENGTH)
constexpr int32_t kLayoutManyMax = 1024;  // most keys per getMany call
constexpr int32_t kLayoutItemHeader = 40;  // bytes of an item's header in the region (key and value follow)

// MetaOff: Byte offsets in the meta buffer where the hot calls leave results (and read a few inputs).
constexpr int32_t kMetaOffVlen = 0;  // u32: a hit's value length; with Ret.Small, the length needed; setMany: the failing entry's Ret; drainEvents: records written
constexpr int32_t kMetaOffFlags = 4;  // u32: a hit's client flags; drainEvents: records dropped since the last drain
constexpr int32_t kMetaOffCas = 8;  // u64: a hit's CAS
constexpr int32_t kMetaOffIo64 = 16;  // u64 in/out: store's CAS in and the new CAS out, delta's amount (when negative is passed) and result, metaDelete's CAS
constexpr int32_t kMetaOffMetaBits = 24;  // u32: metaGet's MetaBit state bits

// MetaBit: metaGet's state bits at MetaOff.MetaBits (memcached's W, X, Z flags and vivify).
constexpr int32_t kMetaBitWon = 1;  // this caller holds the win token (W)
constexpr int32_t kMetaBitStale = 2;  // the item is stale (X)
constexpr int32_t kMetaBitTokenSent = 4;  // a win token was already out (Z)
constexpr int32_t kMetaBitCreated = 8;  // created by this call (vivify)

// ManyLen: getMany's per-key u32 at MetaLens + 4i when the key has no value.
constexpr uint32_t kManyLenMiss = 0xFFFFFFFFu;  // no such key
constexpr uint32_t kManyLenBadKey = 0xFFFFFFFEu;  // the key was refused

// StatsGroup: The group argument of handle.stats(group, protection).
constexpr int32_t kStatsGroupGeneral = 0;
constexpr int32_t kStatsGroupSlabs = 1;
constexpr int32_t kStatsGroupItems = 2;
constexpr int32_t kStatsGroupSettings = 3;
constexpr int32_t kStatsGroupReset = 4;  // `stats reset`: returns nothing

// EventKind: The kind byte of an event record (native/core/events.h).
constexpr int32_t kEventKindEvict = 1;  // pushed out by LRU eviction or a page move
constexpr int32_t kEventKindExpire = 2;  // found expired

// EventRec: An event record as drainEvents() writes it into scratch: [u8 kind, u8 class, u8 nkey, u8 0, u32 size LE, key bytes], records back to back.
constexpr int32_t kEventRecKind = 0;  // u8 EventKind
constexpr int32_t kEventRecClass = 1;  // u8 slab class
constexpr int32_t kEventRecNkey = 2;  // u8 key length
constexpr int32_t kEventRecSize = 4;  // u32 the item's total bytes
constexpr int32_t kEventRecHeader = 8;  // bytes before the key; a record is Header + nkey bytes

// ProtoState: Bits of state[0] after a protocol connection's feed() (native/binding/proto.cc).
constexpr int32_t kProtoStateClose = 1;  // close once the reply is written
constexpr int32_t kProtoStateMore = 2;  // complete input is still buffered: call feed() with no chunk once the socket drained
constexpr int32_t kProtoStateRan = 4;  // a whole command (line, data block or binary packet) ran in this call: the idle clock restarts (memcached's last_cmd_time)

// ProtoSetting: Indices of a server's settings Int32Array, shared by its connections and passed to protoConn(state, settings) (native/binding/proto.cc copies it into the engine before each feed and back after).
constexpr int32_t kProtoSettingFlags = 0;  // ProtoSettingFlag bits
constexpr int32_t kProtoSettingAutomove = 1;  // slabs automove level 0|1|2
constexpr int32_t kProtoSettingTocrawl = 2;  // lru_crawler tocrawl: entries per class per crawl, 0 = all
constexpr int32_t kProtoSettingCrawlerSleep = 3;  // lru_crawler sleep, microseconds
constexpr int32_t kProtoSettingVerbosity = 4;  // verbosity level
constexpr int32_t kProtoSettingReqsPerEvent = 5;  // -R: commands per feed before yielding, 0 = no limit
constexpr int32_t kProtoSettingShutdown = 6;  // out: 1 shutdown, 2 shutdown graceful was asked for
constexpr int32_t kProtoSettingCount = 7;  // length of the array

// ProtoSettingFlag: Bits of settings[ProtoSetting.Flags].
constexpr int32_t kProtoSettingFlagShutdownEnabled = 1;  // -A: the shutdown command is allowed
constexpr int32_t kProtoSettingFlagLruCrawler = 2;  // the background crawler runs (lru_crawler enable/disable)
constexpr int32_t kProtoSettingFlagText = 4;  // -B: the text protocol is accepted
constexpr int32_t kProtoSettingFlagBinary = 8;  // -B: the binary protocol is accepted

// WireOp: Operation codes of CachePool's wire format (src/pool/wire.ts; TypeScript only: the pool and its workers).
constexpr int32_t kWireOpGet = 1;
constexpr int32_t kWireOpGat = 2;
constexpr int32_t kWireOpSet = 3;
constexpr int32_t kWireOpAdd = 4;
constexpr int32_t kWireOpReplace = 5;
constexpr int32_t kWireOpAppend = 6;
constexpr int32_t kWireOpPrepend = 7;
constexpr int32_t kWireOpDelete = 8;
constexpr int32_t kWireOpIncr = 9;
constexpr int32_t kWireOpDecr = 10;
constexpr int32_t kWireOpTouch = 11;
constexpr int32_t kWireOpGets = 12;  // value with flags and CAS (answered WireRes.Info): gets, and get/gat under a codec
constexpr int32_t kWireOpGats = 13;  // gat with flags and CAS (answered WireRes.Info)
constexpr int32_t kWireOpCas = 14;  // compare-and-swap: the value section starts with the u64 CAS unique (answered WireRes.Cas)
constexpr int32_t kWireOpHas = 15;
constexpr int32_t kWireOpFlushAll = 16;  // no key; a is the delay. Keyless operations never split a flush (see CachePool)
constexpr int32_t kWireOpSize = 17;  // no key; answered WireRes.Number
constexpr int32_t kWireOpCrawl = 18;  // no key; a is the crawl cursor; answered WireRes.Value: u8 done, f64 next, then the keys (u8 len, bytes)

// WireBit: Bits of a CachePool wire operation header's bits byte.
constexpr int32_t kWireBitTtl = 1;
constexpr int32_t kWireBitFlags = 2;
constexpr int32_t kWireBitBigDelta = 4;

// WireRes: Per-operation result statuses of CachePool's wire format.
constexpr int32_t kWireResUndefined = 0;
constexpr int32_t kWireResValue = 1;
constexpr int32_t kWireResTrue = 2;
constexpr int32_t kWireResFalse = 3;
constexpr int32_t kWireResBigInt = 4;
constexpr int32_t kWireResError = 5;
constexpr int32_t kWireResInfo = 6;  // u32 flags, u64 cas, u32 length, then the value bytes
constexpr int32_t kWireResCas = 7;  // u8: 0 stored, 1 exists, 2 not_found
constexpr int32_t kWireResNumber = 8;  // f64

// WireErr: Error classes carried by a WireRes.Error result.
constexpr int32_t kWireErrError = 0;
constexpr int32_t kWireErrTypeError = 1;
constexpr int32_t kWireErrRangeError = 2;
constexpr int32_t kWireErrCacheError = 3;

// WireSize: Byte sizes of CachePool's wire format.
constexpr int32_t kWireSizeOpHeader = 24;  // an operation header in a request
constexpr int32_t kWireSizeReqHeader = 8;  // before the first operation of a request (u32 count, u32 usedBytes)
constexpr int32_t kWireSizeResHeader = 8;  // before the first answer of a response (u32 count, u32 usedBytes)

// WireCtl: Words of a CachePool channel's control block (src/pool/channel.ts, workers/channel-worker.ts).
constexpr int32_t kWireCtlReq = 0;  // sequence number of the latest request (written by the caller)
constexpr int32_t kWireCtlResp = 1;  // sequence number of the latest answered request (written by the worker)
constexpr int32_t kWireCtlFlags = 2;  // WireFlag bits for the worker, consumed with each request
constexpr int32_t kWireCtlNewResponse = 3;  // 1 when the worker posted a larger response buffer with its answer

// WireFlag: Bits of WireCtl.Flags.
constexpr int32_t kWireFlagNewRequestBuffer = 1;
constexpr int32_t kWireFlagStop = 2;

// Every constant by its TypeScript name, for the addon to export (the drift test compares it
// with src/contract.ts's contractValues).
struct Entry {
  const char* name;
  int64_t value;
};
inline constexpr Entry kAll[] = {
    {"Ret.Miss", kRetMiss},
    {"Ret.Small", kRetSmall},
    {"Ret.BadKey", kRetBadKey},
    {"Ret.TooLarge", kRetTooLarge},
    {"Ret.NoMemory", kRetNoMemory},
    {"Ret.NonNumeric", kRetNonNumeric},
    {"Ret.Closed", kRetClosed},
    {"Ret.Busy", kRetBusy},
    {"Cmd.Set", kCmdSet},
    {"Cmd.Add", kCmdAdd},
    {"Cmd.Replace", kCmdReplace},
    {"Cmd.Append", kCmdAppend},
    {"Cmd.Prepend", kCmdPrepend},
    {"Cmd.Cas", kCmdCas},
    {"St.Ok", kStOk},
    {"St.Miss", kStMiss},
    {"St.NotStored", kStNotStored},
    {"St.Exists", kStExists},
    {"Layout.ValueOffset", kLayoutValueOffset},
    {"Layout.MetaLens", kLayoutMetaLens},
    {"Layout.KeyMax", kLayoutKeyMax},
    {"Layout.ManyMax", kLayoutManyMax},
    {"Layout.ItemHeader", kLayoutItemHeader},
    {"MetaOff.Vlen", kMetaOffVlen},
    {"MetaOff.Flags", kMetaOffFlags},
    {"MetaOff.Cas", kMetaOffCas},
    {"MetaOff.Io64", kMetaOffIo64},
    {"MetaOff.MetaBits", kMetaOffMetaBits},
    {"MetaBit.Won", kMetaBitWon},
    {"MetaBit.Stale", kMetaBitStale},
    {"MetaBit.TokenSent", kMetaBitTokenSent},
    {"MetaBit.Created", kMetaBitCreated},
    {"ManyLen.Miss", kManyLenMiss},
    {"ManyLen.BadKey", kManyLenBadKey},
    {"StatsGroup.General", kStatsGroupGeneral},
    {"StatsGroup.Slabs", kStatsGroupSlabs},
    {"StatsGroup.Items", kStatsGroupItems},
    {"StatsGroup.Settings", kStatsGroupSettings},
    {"StatsGroup.Reset", kStatsGroupReset},
    {"EventKind.Evict", kEventKindEvict},
    {"EventKind.Expire", kEventKindExpire},
    {"EventRec.Kind", kEventRecKind},
    {"EventRec.Class", kEventRecClass},
    {"EventRec.Nkey", kEventRecNkey},
    {"EventRec.Size", kEventRecSize},
    {"EventRec.Header", kEventRecHeader},
    {"ProtoState.Close", kProtoStateClose},
    {"ProtoState.More", kProtoStateMore},
    {"ProtoState.Ran", kProtoStateRan},
    {"ProtoSetting.Flags", kProtoSettingFlags},
    {"ProtoSetting.Automove", kProtoSettingAutomove},
    {"ProtoSetting.Tocrawl", kProtoSettingTocrawl},
    {"ProtoSetting.CrawlerSleep", kProtoSettingCrawlerSleep},
    {"ProtoSetting.Verbosity", kProtoSettingVerbosity},
    {"ProtoSetting.ReqsPerEvent", kProtoSettingReqsPerEvent},
    {"ProtoSetting.Shutdown", kProtoSettingShutdown},
    {"ProtoSetting.Count", kProtoSettingCount},
    {"ProtoSettingFlag.ShutdownEnabled", kProtoSettingFlagShutdownEnabled},
    {"ProtoSettingFlag.LruCrawler", kProtoSettingFlagLruCrawler},
    {"ProtoSettingFlag.Text", kProtoSettingFlagText},
    {"ProtoSettingFlag.Binary", kProtoSettingFlagBinary},
    {"WireOp.Get", kWireOpGet},
    {"WireOp.Gat", kWireOpGat},
    {"WireOp.Set", kWireOpSet},
    {"WireOp.Add", kWireOpAdd},
    {"WireOp.Replace", kWireOpReplace},
    {"WireOp.Append", kWireOpAppend},
    {"WireOp.Prepend", kWireOpPrepend},
    {"WireOp.Delete", kWireOpDelete},
    {"WireOp.Incr", kWireOpIncr},
    {"WireOp.Decr", kWireOpDecr},
    {"WireOp.Touch", kWireOpTouch},
    {"WireOp.Gets", kWireOpGets},
    {"WireOp.Gats", kWireOpGats},
    {"WireOp.Cas", kWireOpCas},
    {"WireOp.Has", kWireOpHas},
    {"WireOp.FlushAll", kWireOpFlushAll},
    {"WireOp.Size", kWireOpSize},
    {"WireOp.Crawl", kWireOpCrawl},
    {"WireBit.Ttl", kWireBitTtl},
    {"WireBit.Flags", kWireBitFlags},
    {"WireBit.BigDelta", kWireBitBigDelta},
    {"WireRes.Undefined", kWireResUndefined},
    {"WireRes.Value", kWireResValue},
    {"WireRes.True", kWireResTrue},
    {"WireRes.False", kWireResFalse},
    {"WireRes.BigInt", kWireResBigInt},
    {"WireRes.Error", kWireResError},
    {"WireRes.Info", kWireResInfo},
    {"WireRes.Cas", kWireResCas},
    {"WireRes.Number", kWireResNumber},
    {"WireErr.Error", kWireErrError},
    {"WireErr.TypeError", kWireErrTypeError},
    {"WireErr.RangeError", kWireErrRangeError},
    {"WireErr.CacheError", kWireErrCacheError},
    {"WireSize.OpHeader", kWireSizeOpHeader},
    {"WireSize.ReqHeader", kWireSizeReqHeader},
    {"WireSize.ResHeader", kWireSizeResHeader},
    {"WireCtl.Req", kWireCtlReq},
    {"WireCtl.Resp", kWireCtlResp},
    {"WireCtl.Flags", kWireCtlFlags},
    {"WireCtl.NewResponse", kWireCtlNewResponse},
    {"WireFlag.NewRequestBuffer", kWireFlagNewRequestBuffer},
    {"WireFlag.Stop", kWireFlagStop},
};

}  // namespace shm::contract
