// contract.ts — generated from contract/contract.json by scripts/gen-contract.mjs: do not edit.
/**
 * The numbers shared by the C++ addon (native/contract.h) and TypeScript: return codes, store
 * commands, statuses, buffer layout, meta buffer offsets, the event record format. See docs/contract.md.
 */

/** Negative results of the hot calls (native/binding/cache.cc); a call's non-negative result is a length, a count or an St. */
export const enum Ret {
  /** get-like call: no such key */
  Miss = -1,
  /** the value does not fit the buffer; its length is at MetaOff.Vlen */
  Small = -2,
  /** key length or characters refused (also: a bad argument) */
  BadKey = -3,
  /** the item is larger than itemSizeMax */
  TooLarge = -4,
  /** no chunk could be found or freed */
  NoMemory = -5,
  /** incr/decr of a value that is not a number */
  NonNumeric = -6,
  /** the handle is closed */
  Closed = -7,
  /** this thread is already inside a gate (a re-entrant call) */
  Busy = -8,
}

/** Store commands of handle.store(); the core's StoreCmd (native/core/store.h). */
export const enum Cmd {
  Set = 0,
  Add = 1,
  Replace = 2,
  Append = 3,
  Prepend = 4,
  Cas = 5,
}

/** Non-negative statuses of store/del/delta/touch/metaDelete; the core's Status (native/core/store.h). */
export const enum St {
  /** hit / stored / deleted / touched */
  Ok = 0,
  /** NOT_FOUND */
  Miss = 1,
  /** NOT_STORED */
  NotStored = 2,
  /** EXISTS (CAS mismatch) */
  Exists = 3,
}

/** Sizes of the per-thread buffers registered with setBuffers(scratch, meta). */
export const enum Layout {
  /** scratch: the key at byte 0, the value from this byte */
  ValueOffset = 1024,
  /** meta: getMany's per-key u32 lengths start at this byte */
  MetaLens = 64,
  /** longest key in bytes (memcached KEY_MAX_LENGTH) */
  KeyMax = 250,
  /** most keys per getMany call */
  ManyMax = 1024,
  /** bytes of an item's header in the region (key and value follow) */
  ItemHeader = 40,
}

/** Byte offsets in the meta buffer where the hot calls leave results (and read a few inputs). */
export const enum MetaOff {
  /** u32: a hit's value length; with Ret.Small, the length needed; setMany: the failing entry's Ret; drainEvents: records written */
  Vlen = 0,
  /** u32: a hit's client flags; drainEvents: records dropped since the last drain */
  Flags = 4,
  /** u64: a hit's CAS */
  Cas = 8,
  /** u64 in/out: store's CAS in and the new CAS out, delta's amount (when negative is passed) and result, metaDelete's CAS */
  Io64 = 16,
  /** u32: metaGet's MetaBit state bits */
  MetaBits = 24,
}

/** metaGet's state bits at MetaOff.MetaBits (memcached's W, X, Z flags and vivify). */
export const enum MetaBit {
  /** this caller holds the win token (W) */
  Won = 1,
  /** the item is stale (X) */
  Stale = 2,
  /** a win token was already out (Z) */
  TokenSent = 4,
  /** created by this call (vivify) */
  Created = 8,
}

/** getMany's per-key u32 at MetaLens + 4i when the key has no value. */
export const enum ManyLen {
  /** no such key */
  Miss = 0xFFFFFFFF,
  /** the key was refused */
  BadKey = 0xFFFFFFFE,
}

/** The group argument of handle.stats(group, protection). */
export const enum StatsGroup {
  General = 0,
  Slabs = 1,
  Items = 2,
  Settings = 3,
  /** `stats reset`: returns nothing */
  Reset = 4,
}

/** The kind byte of an event record (native/core/events.h). */
export const enum EventKind {
  /** pushed out by LRU eviction or a page move */
  Evict = 1,
  /** found expired */
  Expire = 2,
}

/** An event record as drainEvents() writes it into scratch: [u8 kind, u8 class, u8 nkey, u8 0, u32 size LE, key bytes], records back to back. */
export const enum EventRec {
  /** u8 EventKind */
  Kind = 0,
  /** u8 slab class */
  Class = 1,
  /** u8 key length */
  Nkey = 2,
  /** u32 the item's total bytes */
  Size = 4,
  /** bytes before the key; a record is Header + nkey bytes */
  Header = 8,
}

/** Bits of state[0] after a protocol connection's feed() (native/binding/proto.cc). */
export const enum ProtoState {
  /** close once the reply is written */
  Close = 1,
  /** complete input is still buffered: call feed() with no chunk once the socket drained */
  More = 2,
  /** a whole command (line, data block or binary packet) ran in this call: the idle clock restarts (memcached's last_cmd_time) */
  Ran = 4,
}

/** Indices of a server's settings Int32Array, shared by its connections and passed to protoConn(state, settings) (native/binding/proto.cc copies it into the engine before each feed and back after). */
export const enum ProtoSetting {
  /** ProtoSettingFlag bits */
  Flags = 0,
  /** slabs automove level 0|1|2 */
  Automove = 1,
  /** lru_crawler tocrawl: entries per class per crawl, 0 = all */
  Tocrawl = 2,
  /** lru_crawler sleep, microseconds */
  CrawlerSleep = 3,
  /** verbosity level */
  Verbosity = 4,
  /** -R: commands per feed before yielding, 0 = no limit */
  ReqsPerEvent = 5,
  /** out: 1 shutdown, 2 shutdown graceful was asked for */
  Shutdown = 6,
  /** length of the array */
  Count = 7,
}

/** Bits of settings[ProtoSetting.Flags]. */
export const enum ProtoSettingFlag {
  /** -A: the shutdown command is allowed */
  ShutdownEnabled = 1,
  /** the background crawler runs (lru_crawler enable/disable) */
  LruCrawler = 2,
  /** -B: the text protocol is accepted */
  Text = 4,
  /** -B: the binary protocol is accepted */
  Binary = 8,
}

/** Operation codes of CachePool's wire format (src/pool/wire.ts; TypeScript only: the pool and its workers). */
export const enum WireOp {
  Get = 1,
  Gat = 2,
  Set = 3,
  Add = 4,
  Replace = 5,
  Append = 6,
  Prepend = 7,
  Delete = 8,
  Incr = 9,
  Decr = 10,
  Touch = 11,
  /** value with flags and CAS (answered WireRes.Info): gets, and get/gat under a codec */
  Gets = 12,
  /** gat with flags and CAS (answered WireRes.Info) */
  Gats = 13,
  /** compare-and-swap: the value section starts with the u64 CAS unique (answered WireRes.Cas) */
  Cas = 14,
  Has = 15,
  /** no key; a is the delay. Keyless operations never split a flush (see CachePool) */
  FlushAll = 16,
  /** no key; answered WireRes.Number */
  Size = 17,
  /** no key; a is the crawl cursor; answered WireRes.Value: u8 done, f64 next, then the keys (u8 len, bytes) */
  Crawl = 18,
}

/** Bits of a CachePool wire operation header's bits byte. */
export const enum WireBit {
  Ttl = 1,
  Flags = 2,
  BigDelta = 4,
}

/** Per-operation result statuses of CachePool's wire format. */
export const enum WireRes {
  Undefined = 0,
  Value = 1,
  True = 2,
  False = 3,
  BigInt = 4,
  Error = 5,
  /** u32 flags, u64 cas, u32 length, then the value bytes */
  Info = 6,
  /** u8: 0 stored, 1 exists, 2 not_found */
  Cas = 7,
  /** f64 */
  Number = 8,
}

/** Error classes carried by a WireRes.Error result. */
export const enum WireErr {
  Error = 0,
  TypeError = 1,
  RangeError = 2,
  CacheError = 3,
}

/** Byte sizes of CachePool's wire format. */
export const enum WireSize {
  /** an operation header in a request */
  OpHeader = 24,
  /** before the first operation of a request (u32 count, u32 usedBytes) */
  ReqHeader = 8,
  /** before the first answer of a response (u32 count, u32 usedBytes) */
  ResHeader = 8,
}

/** Words of a CachePool channel's control block (src/pool/channel.ts, workers/channel-worker.ts). */
export const enum WireCtl {
  /** sequence number of the latest request (written by the caller) */
  Req = 0,
  /** sequence number of the latest answered request (written by the worker) */
  Resp = 1,
  /** WireFlag bits for the worker, consumed with each request */
  Flags = 2,
  /** 1 when the worker posted a larger response buffer with its answer */
  NewResponse = 3,
}

/** Bits of WireCtl.Flags. */
export const enum WireFlag {
  NewRequestBuffer = 1,
  Stop = 2,
}

/** Every constant by name (`Group.Name`), at run time: the drift test compares it with the addon's `native.contract`. */
export const contractValues: Readonly<Record<string, number>> = Object.freeze({
  'Ret.Miss': Ret.Miss,
  'Ret.Small': Ret.Small,
  'Ret.BadKey': Ret.BadKey,
  'Ret.TooLarge': Ret.TooLarge,
  'Ret.NoMemory': Ret.NoMemory,
  'Ret.NonNumeric': Ret.NonNumeric,
  'Ret.Closed': Ret.Closed,
  'Ret.Busy': Ret.Busy,
  'Cmd.Set': Cmd.Set,
  'Cmd.Add': Cmd.Add,
  'Cmd.Replace': Cmd.Replace,
  'Cmd.Append': Cmd.Append,
  'Cmd.Prepend': Cmd.Prepend,
  'Cmd.Cas': Cmd.Cas,
  'St.Ok': St.Ok,
  'St.Miss': St.Miss,
  'St.NotStored': St.NotStored,
  'St.Exists': St.Exists,
  'Layout.ValueOffset': Layout.ValueOffset,
  'Layout.MetaLens': Layout.MetaLens,
  'Layout.KeyMax': Layout.KeyMax,
  'Layout.ManyMax': Layout.ManyMax,
  'Layout.ItemHeader': Layout.ItemHeader,
  'MetaOff.Vlen': MetaOff.Vlen,
  'MetaOff.Flags': MetaOff.Flags,
  'MetaOff.Cas': MetaOff.Cas,
  'MetaOff.Io64': MetaOff.Io64,
  'MetaOff.MetaBits': MetaOff.MetaBits,
  'MetaBit.Won': MetaBit.Won,
  'MetaBit.Stale': MetaBit.Stale,
  'MetaBit.TokenSent': MetaBit.TokenSent,
  'MetaBit.Created': MetaBit.Created,
  'ManyLen.Miss': ManyLen.Miss,
  'ManyLen.BadKey': ManyLen.BadKey,
  'StatsGroup.General': StatsGroup.General,
  'StatsGroup.Slabs': StatsGroup.Slabs,
  'StatsGroup.Items': StatsGroup.Items,
  'StatsGroup.Settings': StatsGroup.Settings,
  'StatsGroup.Reset': StatsGroup.Reset,
  'EventKind.Evict': EventKind.Evict,
  'EventKind.Expire': EventKind.Expire,
  'EventRec.Kind': EventRec.Kind,
  'EventRec.Class': EventRec.Class,
  'EventRec.Nkey': EventRec.Nkey,
  'EventRec.Size': EventRec.Size,
  'EventRec.Header': EventRec.Header,
  'ProtoState.Close': ProtoState.Close,
  'ProtoState.More': ProtoState.More,
  'ProtoState.Ran': ProtoState.Ran,
  'ProtoSetting.Flags': ProtoSetting.Flags,
  'ProtoSetting.Automove': ProtoSetting.Automove,
  'ProtoSetting.Tocrawl': ProtoSetting.Tocrawl,
  'ProtoSetting.CrawlerSleep': ProtoSetting.CrawlerSleep,
  'ProtoSetting.Verbosity': ProtoSetting.Verbosity,
  'ProtoSetting.ReqsPerEvent': ProtoSetting.ReqsPerEvent,
  'ProtoSetting.Shutdown': ProtoSetting.Shutdown,
  'ProtoSetting.Count': ProtoSetting.Count,
  'ProtoSettingFlag.ShutdownEnabled': ProtoSettingFlag.ShutdownEnabled,
  'ProtoSettingFlag.LruCrawler': ProtoSettingFlag.LruCrawler,
  'ProtoSettingFlag.Text': ProtoSettingFlag.Text,
  'ProtoSettingFlag.Binary': ProtoSettingFlag.Binary,
  'WireOp.Get': WireOp.Get,
  'WireOp.Gat': WireOp.Gat,
  'WireOp.Set': WireOp.Set,
  'WireOp.Add': WireOp.Add,
  'WireOp.Replace': WireOp.Replace,
  'WireOp.Append': WireOp.Append,
  'WireOp.Prepend': WireOp.Prepend,
  'WireOp.Delete': WireOp.Delete,
  'WireOp.Incr': WireOp.Incr,
  'WireOp.Decr': WireOp.Decr,
  'WireOp.Touch': WireOp.Touch,
  'WireOp.Gets': WireOp.Gets,
  'WireOp.Gats': WireOp.Gats,
  'WireOp.Cas': WireOp.Cas,
  'WireOp.Has': WireOp.Has,
  'WireOp.FlushAll': WireOp.FlushAll,
  'WireOp.Size': WireOp.Size,
  'WireOp.Crawl': WireOp.Crawl,
  'WireBit.Ttl': WireBit.Ttl,
  'WireBit.Flags': WireBit.Flags,
  'WireBit.BigDelta': WireBit.BigDelta,
  'WireRes.Undefined': WireRes.Undefined,
  'WireRes.Value': WireRes.Value,
  'WireRes.True': WireRes.True,
  'WireRes.False': WireRes.False,
  'WireRes.BigInt': WireRes.BigInt,
  'WireRes.Error': WireRes.Error,
  'WireRes.Info': WireRes.Info,
  'WireRes.Cas': WireRes.Cas,
  'WireRes.Number': WireRes.Number,
  'WireErr.Error': WireErr.Error,
  'WireErr.TypeError': WireErr.TypeError,
  'WireErr.RangeError': WireErr.RangeError,
  'WireErr.CacheError': WireErr.CacheError,
  'WireSize.OpHeader': WireSize.OpHeader,
  'WireSize.ReqHeader': WireSize.ReqHeader,
  'WireSize.ResHeader': WireSize.ResHeader,
  'WireCtl.Req': WireCtl.Req,
  'WireCtl.Resp': WireCtl.Resp,
  'WireCtl.Flags': WireCtl.Flags,
  'WireCtl.NewResponse': WireCtl.NewResponse,
  'WireFlag.NewRequestBuffer': WireFlag.NewRequestBuffer,
  'WireFlag.Stop': WireFlag.Stop,
});
