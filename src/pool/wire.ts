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
