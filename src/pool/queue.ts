/**
 * The queue of {@link CachePool}: the operations called since the last flush, kept as their
 * arguments ({@link Pending} records), and the encoder that turns some of them into one request of
 * the pool's wire format (see src/pool/pool.ts) when they go to a worker. An operation run inline on the
 * calling thread is never encoded: its arguments go straight to the op runner (workers/ops.ts).
 */
import { bytesLength, detachedError, isDetached } from '../bytes.js';
import { Layout } from '../contract.js';
import { rangeError } from '../errors.js';
import { Bit, OP_HEADER, Op, REQ_HEADER } from './wire.js';

/** Settles one operation with its value; `slot` is its position in the flush it was taken in. */
export type Resolve = (v: unknown, slot: number) => void;
/** Settles one operation with its error. */
export type Reject = (e: unknown) => void;

type Utf8Write = (this: Buffer, s: string, offset: number, length: number) => number;
/** Buffer's own UTF-8 encoder, without the argument normalisation of Buffer#write (as in cache.ts). */
export const utf8Write: Utf8Write =
  (Buffer.prototype as unknown as { utf8Write?: Utf8Write }).utf8Write ??
  function (this: Buffer, s: string, offset: number, length: number) {
    return this.write(s, offset, length, 'utf8');
  };

const INITIAL_BYTES = 16 * 1024;

/**
 * One queued operation: the wire format's fields, unencoded. `a` is the ttl or the numeric delta
 * (a bigint with {@link Bit.BigDelta}); `b` the flags. `keyBytes` is the key's UTF-8 length, or -1
 * when only known to be valid (a short string key: counted if it is ever encoded). `cas`: the
 * CAS unique of {@link Op.Cas} (encoded as the first 8 bytes of its value section).
 */
export class Pending {
  /** Settles the operation with its value (set when it is queued). */
  res: Resolve = noop;
  /** Settles the operation with its error (set when it is queued). */
  rej: Reject = noop;
  constructor(
    readonly op: number,
    readonly bits: number,
    readonly key: string | Uint8Array,
    public keyBytes: number,
    readonly value: string | Uint8Array | undefined = undefined,
    readonly a: number | bigint = 0,
    readonly b = 0,
    readonly cas = 0n,
  ) {}
}

function noop(): void {}

/** `arr[i]`, which the caller knows is there: a RangeError (an internal fault) when it is not. */
export function itemAt<T>(arr: ArrayLike<T>, i: number): T {
  const v = arr[i];
  if (v === undefined) throw new RangeError(`shmcached pool: no item ${i} (length ${arr.length})`);
  return v;
}

/** The slot (position in the flush) of a share's `i`th operation: `i` when the share is the whole flush (`idx` null). */
export function slotAt(idx: ArrayLike<number> | null, i: number): number {
  return idx === null ? i : itemAt(idx, i);
}

/**
 * Why `p` can no longer be encoded as it was called, or undefined. Its bytes are read at the
 * flush, not at the call, so a Uint8Array key or value may have changed meanwhile: detached
 * (transferred away: TypeError `ERR_INVALID_ARG_VALUE`, as the call itself would have thrown), or
 * a key resized out of 1..KeyMax bytes (RangeError `ERR_OUT_OF_RANGE`). A key resized within
 * range is taken at its new length (its bytes at the flush, as a value's are).
 */
export function staleBytes(p: Pending): Error | undefined {
  const key = p.key;
  if (typeof key !== 'string' && bytesLength(key) !== p.keyBytes) {
    const n = bytesLength(key);
    if (n === 0 && isDetached(key)) return detachedError('key');
    if (n === 0 || n > Layout.KeyMax) return rangeError('ERR_OUT_OF_RANGE', `key must be 1 to ${Layout.KeyMax} bytes long, got ${n}`);
    p.keyBytes = n;
  }
  const value = p.value;
  if (value !== undefined && typeof value !== 'string' && bytesLength(value) === 0 && isDetached(value)) return detachedError('value');
  return undefined;
}

/** One encoded request: header filled in, `bytes.length` used bytes, and where each operation starts. */
export interface Encoded {
  bytes: Uint8Array;
  starts: number[];
}

/** The UTF-8 length of a key already known to be valid. */
function keyBytesOf(p: Pending): number {
  if (p.keyBytes < 0) p.keyBytes = Buffer.byteLength(p.key as string);
  return p.keyBytes;
}

function valueBytesOf(v: string | Uint8Array | undefined): number {
  return v === undefined ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : bytesLength(v);
}

/**
 * Encodes `ops` (all of them, or those at the positions in `idx`) as one request. `into`: a
 * buffer to write into if large enough (the returned bytes may be a view of it); otherwise a new one.
 */
export function encode(ops: readonly Pending[], idx: ArrayLike<number> | null, into?: Buffer): Encoded {
  const n = idx === null ? ops.length : idx.length;
  let size = REQ_HEADER;
  const vbytes = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const p = itemAt(ops, slotAt(idx, i));
    const vb = valueBytesOf(p.value) + (p.op === Op.Cas ? 8 : 0);
    vbytes[i] = vb;
    size += OP_HEADER + keyBytesOf(p) + vb;
  }
  const buf = into !== undefined && into.length >= size ? into : Buffer.from(new ArrayBuffer(size));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const starts = new Array<number>(n);
  let pos = REQ_HEADER;
  for (let i = 0; i < n; i++) {
    const p = itemAt(ops, slotAt(idx, i));
    const keyBytes = p.keyBytes;
    const valueBytes = itemAt(vbytes, i);
    starts[i] = pos;
    buf[pos] = p.op;
    buf[pos + 1] = p.bits;
    view.setUint16(pos + 2, keyBytes, true);
    view.setUint32(pos + 4, valueBytes, true);
    if (p.bits & Bit.BigDelta) view.setBigUint64(pos + 8, p.a as bigint, true);
    else view.setFloat64(pos + 8, p.a as number, true);
    view.setFloat64(pos + 16, p.b, true);
    let q = pos + OP_HEADER;
    const key = p.key;
    if (typeof key === 'string') {
      if (keyBytes === key.length) {
        for (let j = 0; j < keyBytes; j++) buf[q + j] = key.charCodeAt(j);
      } else {
        utf8Write.call(buf, key, q, keyBytes);
      }
    } else {
      buf.set(key, q);
    }
    q += keyBytes;
    if (p.op === Op.Cas) {
      view.setBigUint64(q, p.cas, true);
      q += 8;
    }
    const value = p.value;
    if (value !== undefined) {
      const n = p.op === Op.Cas ? valueBytes - 8 : valueBytes;
      if (typeof value === 'string') utf8Write.call(buf, value, q, n);
      else buf.set(value, q);
      q += n;
    }
    pos = q;
  }
  view.setUint32(0, n, true);
  view.setUint32(4, pos, true);
  return { bytes: buf.subarray(0, pos), starts };
}

/** A hash of an operation's key bytes (FNV-1a), the same for a string key and its UTF-8 bytes. */
export function keyHash(p: Pending): number {
  let h = 0x811c9dc5;
  let key = p.key;
  if (typeof key === 'string') {
    if (keyBytesOf(p) === key.length) {
      for (let j = 0; j < key.length; j++) h = Math.imul(h ^ key.charCodeAt(j), 0x01000193);
      return h >>> 0;
    }
    key = Buffer.from(key, 'utf8');
  }
  for (const c of key) h = Math.imul(h ^ c, 0x01000193);
  return h >>> 0;
}

/** The operations called since the last flush. */
export class Queue {
  #ops: Pending[] = [];
  /**
   * The queue holds a keyless operation (flushAll, size, a crawl step): its flush must not be
   * split, so that it stays in call order with every other operation of the tick.
   */
  barrier = false;
  #buf: Buffer | undefined;

  /**
   * `reuse`: a request encoded by {@link encodeAll} is read (copied into a channel) before the
   * next encode, so one buffer is kept for them; otherwise (piscina transfers it) each is new.
   */
  constructor(readonly reuse: boolean) {
    if (reuse) this.#buf = Buffer.from(new ArrayBuffer(INITIAL_BYTES));
  }

  /** Operations queued. */
  get count(): number {
    return this.#ops.length;
  }

  /** Appends one operation; returns the promise its answer settles. */
  push(p: Pending): Promise<unknown> {
    return new Promise((resolve, reject) => this.pushWith(p, resolve, reject));
  }

  /** {@link push}, settling through `res` / `rej` instead of a promise of its own. */
  pushWith(p: Pending, res: Resolve, rej: Reject): void {
    p.res = res;
    p.rej = rej;
    this.#ops.push(p);
  }

  /** Hands over everything queued, and starts empty. */
  take(): Pending[] {
    const ops = this.#ops;
    this.#ops = [];
    this.barrier = false;
    return ops;
  }

  /** Encodes `ops` (or those at `idx`) into this queue's reusable buffer when it has one (growing it). */
  encodeAll(ops: readonly Pending[], idx: ArrayLike<number> | null): Encoded {
    const e = encode(ops, idx, this.#buf);
    if (this.reuse && e.bytes.buffer !== this.#buf!.buffer) this.#buf = Buffer.from(e.bytes.buffer, 0, e.bytes.buffer.byteLength);
    return e;
  }

  /** Rejects everything queued with `err` and starts empty. */
  failAll(err: unknown): void {
    for (const p of this.take()) p.rej(err);
  }
}
