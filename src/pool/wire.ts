/**
 * The wire format between {@link CachePool} and its workers (described in src/pool/pool.ts): the
 * operation codes, bits, result statuses and header sizes, shared by both sides. The numbers live
 * in contract/contract.json (groups Wire*) with the addon's, so that each is written down once;
 * here they get the short names the pool and the workers use.
 */
import { WireSize } from '../contract.js';

export { WireBit as Bit, WireErr as ErrKind, WireOp as Op, WireRes as Res } from '../contract.js';

/** Bytes of an operation header in a request. */
export const OP_HEADER: number = WireSize.OpHeader;
/** Bytes before the first operation of a request (`u32 count, u32 usedBytes`). */
export const REQ_HEADER: number = WireSize.ReqHeader;
/** Bytes before the first answer of a response (`u32 count, u32 usedBytes`). */
export const RES_HEADER: number = WireSize.ResHeader;
