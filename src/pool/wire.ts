/**
 * The wire format between {@link CachePool} and its workers (described in src/pool/pool.ts): the
 * operation codes, bits, result statuses and header sizes, shared by both sides.
 */
/** Operation codes of the wire format (internal: shared with the workers). */
export const enum Op {
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
  /** Value with flags and CAS (answered {@link Res.Info}): gets, and get/gat under a codec. */
  Gets = 12,
  /** gat with flags and CAS (answered {@link Res.Info}). */
  Gats = 13,
  /** Compare-and-swap: the value section starts with the u64 CAS unique (answered {@link Res.Cas}). */
  Cas = 14,
  Has = 15,
  /** No key; `a` is the delay. Keyless operations never split a flush (see CachePool). */
  FlushAll = 16,
  /** No key; answered {@link Res.Number}. */
  Size = 17,
  /** No key; `a` is the crawl cursor; answered {@link Res.Value}: `u8 done, f64 next`, then the keys (`u8 len, bytes`). */
  Crawl = 18,
}

/** Bits of an operation header's `bits` byte (internal: shared with the workers). */
export const enum Bit {
  Ttl = 1,
  Flags = 2,
  BigDelta = 4,
}

/** Per-operation result statuses of the wire format (internal: shared with the workers). */
export const enum Res {
  Undefined = 0,
  Value = 1,
  True = 2,
  False = 3,
  BigInt = 4,
  Error = 5,
  /** `u32 flags, u64 cas, u32 length`, then the value bytes. */
  Info = 6,
  /** `u8`: 0 stored, 1 exists, 2 not_found. */
  Cas = 7,
  /** `f64`. */
  Number = 8,
}

/** Error classes carried by a {@link Res.Error} result (internal: shared with the workers). */
export const enum ErrKind {
  Error = 0,
  TypeError = 1,
  RangeError = 2,
  CacheError = 3,
}

/** Bytes of an operation header in a request. */
export const OP_HEADER = 24;
/** Bytes before the first operation of a request (`u32 count, u32 usedBytes`). */
export const REQ_HEADER = 8;
/** Bytes before the first answer of a response (`u32 count, u32 usedBytes`). */
export const RES_HEADER = 8;
