// contract.ts — generated from contract/contract.json by scripts/gen-contract.mjs: do not edit.
// The numbers shared by the C++ addon (native/contract.h) and TypeScript: return codes, store
// commands, statuses, buffer layout, meta buffer offsets, the event record format. See docs/contract.md.

/**
 * Negative results of the hot calls (native/binding/cache.cc); a call's non-negative result is a length, a count or an St.
 * - Miss: get-like call: no such key
 * - Small: the value does not fit the buffer; its length is at MetaOff.Vlen
 * - BadKey: key length or characters refused (also: a bad argument)
 * - TooLarge: the item is larger than itemSizeMax
 * - NoMemory: no chunk could be found or freed
 * - NonNumeric: incr/decr of a value that is not a number
 * - Closed: the handle is closed
 * - Busy: this thread is already inside a gate (a re-entrant call)
 */
export const enum Ret { Miss = -1, Small = -2, BadKey = -3, TooLarge = -4, NoMemory = -5, NonNumeric = -6, Closed = -7, Busy = -8 }

/** Store commands of handle.store(); the core's StoreCmd (native/core/store.h). */
export const enum Cmd { Set = 0, Add = 1, Replace = 2, Append = 3, Prepend = 4, Cas = 5 }

/**
 * Non-negative statuses of store/del/delta/touch/metaDelete; the core's Status (native/core/store.h).
 * - Ok: hit / stored / deleted / touched
 * - Miss: NOT_FOUND
 * - NotStored: NOT_STORED
 * - Exists: EXISTS (CAS mismatch)
 */
export const enum St { Ok = 0, Miss = 1, NotStored = 2, Exists = 3 }

/**
 * Sizes of the per-thread buffers registered with setBuffers(scratch, meta).
 * - ValueOffset: scratch: the key at byte 0, the value from this byte
 * - MetaLens: meta: getMany's per-key u32 lengths start at this byte
 * - KeyMax: longest key in bytes (memcached KEY_MAX_LENGTH)
 * - ManyMax: most keys per getMany call
 * - ItemHeader: bytes of an item's header in the region (key and value follow)
 */
export const enum Layout { ValueOffset = 1024, MetaLens = 64, KeyMax = 250, ManyMax = 1024, ItemHeader = 40 }

/**
 * Byte offsets in the meta buffer where the hot calls leave results (and read a few inputs).
 * - Vlen: u32: a hit's value length; with Ret.Small, the length needed; setMany: the failing entry's Ret; drainEvents: records written
 * - Flags: u32: a hit's client flags; drainEvents: records dropped since the last drain
 * - Cas: u64: a hit's CAS
 * - Io64: u64 in/out: store's CAS in and the new CAS out, delta's amount (when negative is passed) and result, metaDelete's CAS
 * - MetaBits: u32: metaGet's MetaBit state bits
 */
export const enum MetaOff { Vlen = 0, Flags = 4, Cas = 8, Io64 = 16, MetaBits = 24 }

/**
 * metaGet's state bits at MetaOff.MetaBits (memcached's W, X, Z flags and vivify).
 * - Won: this caller holds the win token (W)
 * - Stale: the item is stale (X)
 * - TokenSent: a win token was already out (Z)
 * - Created: created by this call (vivify)
 */
export const enum MetaBit { Won = 1, Stale = 2, TokenSent = 4, Created = 8 }

/**
 * getMany's per-key u32 at MetaLens + 4i when the key has no value.
 * - Miss: no such key
 * - BadKey: the key was refused
 */
export const enum ManyLen { Miss = 0xFFFFFFFF, BadKey = 0xFFFFFFFE }

/**
 * The group argument of handle.stats(group, protection).
 * - Reset: `stats reset`: returns nothing
 */
export const enum StatsGroup { General = 0, Slabs = 1, Items = 2, Settings = 3, Reset = 4 }

/**
 * The kind byte of an event record (native/core/events.h).
 * - Evict: pushed out by LRU eviction or a page move
 * - Expire: found expired
 */
export const enum EventKind { Evict = 1, Expire = 2 }

/**
 * An event record as drainEvents() writes it into scratch: [u8 kind, u8 class, u8 nkey, u8 0, u32 size LE, key bytes], records back to back.
 * - Kind: u8 EventKind
 * - Class: u8 slab class
 * - Nkey: u8 key length
 * - Size: u32 the item's total bytes
 * - Header: bytes before the key; a record is Header + nkey bytes
 */
export const enum EventRec { Kind = 0, Class = 1, Nkey = 2, Size = 4, Header = 8 }

/**
 * Bits of state[0] after a protocol connection's feed() (native/binding/proto.cc).
 * - Close: close once the reply is written
 * - More: complete input is still buffered: call feed() with no chunk once the socket drained
 * - Ran: a whole command (line, data block or binary packet) ran in this call: the idle clock restarts (memcached's last_cmd_time)
 */
export const enum ProtoState { Close = 1, More = 2, Ran = 4 }

/**
 * Indices of a server's settings Int32Array, shared by its connections and passed to protoConn(state, settings) (native/binding/proto.cc copies it into the engine before each feed and back after).
 * - Flags: ProtoSettingFlag bits
 * - Automove: slabs automove level 0|1|2
 * - Tocrawl: lru_crawler tocrawl: entries per class per crawl, 0 = all
 * - CrawlerSleep: lru_crawler sleep, microseconds
 * - Verbosity: verbosity level
 * - ReqsPerEvent: -R: commands per feed before yielding, 0 = no limit
 * - Shutdown: out: 1 shutdown, 2 shutdown graceful was asked for
 * - Count: length of the array
 */
export const enum ProtoSetting { Flags = 0, Automove = 1, Tocrawl = 2, CrawlerSleep = 3, Verbosity = 4, ReqsPerEvent = 5, Shutdown = 6, Count = 7 }

/**
 * Bits of settings[ProtoSetting.Flags].
 * - ShutdownEnabled: -A: the shutdown command is allowed
 * - LruCrawler: the background crawler runs (lru_crawler enable/disable)
 * - Text: -B: the text protocol is accepted
 * - Binary: -B: the binary protocol is accepted
 */
export const enum ProtoSettingFlag { ShutdownEnabled = 1, LruCrawler = 2, Text = 4, Binary = 8 }

/**
 * Operation codes of CachePool's wire format (src/pool/wire.ts; TypeScript only: the pool and its workers).
 * - Gets: value with flags and CAS (answered WireRes.Info): gets, and get/gat under a codec
 * - Gats: gat with flags and CAS (answered WireRes.Info)
 * - Cas: compare-and-swap: the value section starts with the u64 CAS unique (answered WireRes.Cas)
 * - FlushAll: no key; a is the delay. Keyless operations never split a flush (see CachePool)
 * - Size: no key; answered WireRes.Number
 * - Crawl: no key; a is the crawl cursor; answered WireRes.Value: u8 done, f64 next, then the keys (u8 len, bytes)
 */
export const enum WireOp { Get = 1, Gat = 2, Set = 3, Add = 4, Replace = 5, Append = 6, Prepend = 7, Delete = 8, Incr = 9, Decr = 10, Touch = 11, Gets = 12, Gats = 13, Cas = 14, Has = 15, FlushAll = 16, Size = 17, Crawl = 18 }

/** Bits of a CachePool wire operation header's bits byte. */
export const enum WireBit { Ttl = 1, Flags = 2, BigDelta = 4 }

/**
 * Per-operation result statuses of CachePool's wire format.
 * - Info: u32 flags, u64 cas, u32 length, then the value bytes
 * - Cas: u8: 0 stored, 1 exists, 2 not_found
 * - Number: f64
 */
export const enum WireRes { Undefined = 0, Value = 1, True = 2, False = 3, BigInt = 4, Error = 5, Info = 6, Cas = 7, Number = 8 }

/** Error classes carried by a WireRes.Error result. */
export const enum WireErr { Error = 0, TypeError = 1, RangeError = 2, CacheError = 3 }

/**
 * Byte sizes of CachePool's wire format.
 * - OpHeader: an operation header in a request
 * - ReqHeader: before the first operation of a request (u32 count, u32 usedBytes)
 * - ResHeader: before the first answer of a response (u32 count, u32 usedBytes)
 */
export const enum WireSize { OpHeader = 24, ReqHeader = 8, ResHeader = 8 }

/**
 * Words of a CachePool channel's control block (src/pool/channel.ts, workers/channel-worker.ts).
 * - Req: sequence number of the latest request (written by the caller)
 * - Resp: sequence number of the latest answered request (written by the worker)
 * - Flags: WireFlag bits for the worker, consumed with each request
 * - NewResponse: 1 when the worker posted a larger response buffer with its answer
 */
export const enum WireCtl { Req = 0, Resp = 1, Flags = 2, NewResponse = 3 }

/** Bits of WireCtl.Flags. */
export const enum WireFlag { NewRequestBuffer = 1, Stop = 2 }

/** Every constant by name (`Group.Name`), at run time: the drift test compares it with the addon's `native.contract`. */
export const contractValues: Readonly<Record<string, number>> = Object.freeze({
  'Ret.Miss': Ret.Miss, 'Ret.Small': Ret.Small, 'Ret.BadKey': Ret.BadKey, 'Ret.TooLarge': Ret.TooLarge, 'Ret.NoMemory': Ret.NoMemory, 'Ret.NonNumeric': Ret.NonNumeric, 'Ret.Closed': Ret.Closed, 'Ret.Busy': Ret.Busy,
  'Cmd.Set': Cmd.Set, 'Cmd.Add': Cmd.Add, 'Cmd.Replace': Cmd.Replace, 'Cmd.Append': Cmd.Append, 'Cmd.Prepend': Cmd.Prepend, 'Cmd.Cas': Cmd.Cas,
  'St.Ok': St.Ok, 'St.Miss': St.Miss, 'St.NotStored': St.NotStored, 'St.Exists': St.Exists,
  'Layout.ValueOffset': Layout.ValueOffset, 'Layout.MetaLens': Layout.MetaLens, 'Layout.KeyMax': Layout.KeyMax, 'Layout.ManyMax': Layout.ManyMax, 'Layout.ItemHeader': Layout.ItemHeader,
  'MetaOff.Vlen': MetaOff.Vlen, 'MetaOff.Flags': MetaOff.Flags, 'MetaOff.Cas': MetaOff.Cas, 'MetaOff.Io64': MetaOff.Io64, 'MetaOff.MetaBits': MetaOff.MetaBits,
  'MetaBit.Won': MetaBit.Won, 'MetaBit.Stale': MetaBit.Stale, 'MetaBit.TokenSent': MetaBit.TokenSent, 'MetaBit.Created': MetaBit.Created,
  'ManyLen.Miss': ManyLen.Miss, 'ManyLen.BadKey': ManyLen.BadKey,
  'StatsGroup.General': StatsGroup.General, 'StatsGroup.Slabs': StatsGroup.Slabs, 'StatsGroup.Items': StatsGroup.Items, 'StatsGroup.Settings': StatsGroup.Settings, 'StatsGroup.Reset': StatsGroup.Reset,
  'EventKind.Evict': EventKind.Evict, 'EventKind.Expire': EventKind.Expire,
  'EventRec.Kind': EventRec.Kind, 'EventRec.Class': EventRec.Class, 'EventRec.Nkey': EventRec.Nkey, 'EventRec.Size': EventRec.Size, 'EventRec.Header': EventRec.Header,
  'ProtoState.Close': ProtoState.Close, 'ProtoState.More': ProtoState.More, 'ProtoState.Ran': ProtoState.Ran,
  'ProtoSetting.Flags': ProtoSetting.Flags, 'ProtoSetting.Automove': ProtoSetting.Automove, 'ProtoSetting.Tocrawl': ProtoSetting.Tocrawl, 'ProtoSetting.CrawlerSleep': ProtoSetting.CrawlerSleep, 'ProtoSetting.Verbosity': ProtoSetting.Verbosity, 'ProtoSetting.ReqsPerEvent': ProtoSetting.ReqsPerEvent, 'ProtoSetting.Shutdown': ProtoSetting.Shutdown, 'ProtoSetting.Count': ProtoSetting.Count,
  'ProtoSettingFlag.ShutdownEnabled': ProtoSettingFlag.ShutdownEnabled, 'ProtoSettingFlag.LruCrawler': ProtoSettingFlag.LruCrawler, 'ProtoSettingFlag.Text': ProtoSettingFlag.Text, 'ProtoSettingFlag.Binary': ProtoSettingFlag.Binary,
  'WireOp.Get': WireOp.Get, 'WireOp.Gat': WireOp.Gat, 'WireOp.Set': WireOp.Set, 'WireOp.Add': WireOp.Add, 'WireOp.Replace': WireOp.Replace, 'WireOp.Append': WireOp.Append, 'WireOp.Prepend': WireOp.Prepend, 'WireOp.Delete': WireOp.Delete, 'WireOp.Incr': WireOp.Incr, 'WireOp.Decr': WireOp.Decr, 'WireOp.Touch': WireOp.Touch, 'WireOp.Gets': WireOp.Gets, 'WireOp.Gats': WireOp.Gats, 'WireOp.Cas': WireOp.Cas, 'WireOp.Has': WireOp.Has, 'WireOp.FlushAll': WireOp.FlushAll, 'WireOp.Size': WireOp.Size, 'WireOp.Crawl': WireOp.Crawl,
  'WireBit.Ttl': WireBit.Ttl, 'WireBit.Flags': WireBit.Flags, 'WireBit.BigDelta': WireBit.BigDelta,
  'WireRes.Undefined': WireRes.Undefined, 'WireRes.Value': WireRes.Value, 'WireRes.True': WireRes.True, 'WireRes.False': WireRes.False, 'WireRes.BigInt': WireRes.BigInt, 'WireRes.Error': WireRes.Error, 'WireRes.Info': WireRes.Info, 'WireRes.Cas': WireRes.Cas, 'WireRes.Number': WireRes.Number,
  'WireErr.Error': WireErr.Error, 'WireErr.TypeError': WireErr.TypeError, 'WireErr.RangeError': WireErr.RangeError, 'WireErr.CacheError': WireErr.CacheError,
  'WireSize.OpHeader': WireSize.OpHeader, 'WireSize.ReqHeader': WireSize.ReqHeader, 'WireSize.ResHeader': WireSize.ResHeader,
  'WireCtl.Req': WireCtl.Req, 'WireCtl.Resp': WireCtl.Resp, 'WireCtl.Flags': WireCtl.Flags, 'WireCtl.NewResponse': WireCtl.NewResponse,
  'WireFlag.NewRequestBuffer': WireFlag.NewRequestBuffer, 'WireFlag.Stop': WireFlag.Stop,
});
