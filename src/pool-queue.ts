/**
 * The queue of {@link CachePool}: operations encoded, as they are called, into one growing
 * buffer in the pool's wire format (see src/pool.ts), with the settle functions of their promises.
 * A pool has one queue per worker channel (atomics transport: an operation's queue is chosen by a
 * hash of its key) or a single queue (piscina transport).
 */
import { Bit, OP_HEADER, REQ_HEADER } from './pool-wire.js';

/** Settles one operation with its value; `slot` is its position in the queue it was taken from. */
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

/** What {@link Queue.take} hands over: a whole request and its operations' settle functions. */
export interface Taken {
  /** The request: header filled in, `used` bytes long. */
  bytes: Uint8Array;
  count: number;
  /** Byte offset of each operation in `bytes`. */
  starts: number[];
  res: Resolve[];
  rej: Reject[];
}

/** One queue of encoded operations. */
export class Queue {
  #buf: Buffer;
  #view: DataView;
  #pos = REQ_HEADER;
  #starts: number[] = [];
  #res: Resolve[] = [];
  #rej: Reject[] = [];
  /**
   * `reuse`: the buffer is copied by whoever takes it before {@link take} is called again (the
   * atomics transport), so it is kept; otherwise (piscina transfers it) each take starts a new one.
   */
  constructor(readonly reuse: boolean) {
    this.#buf = Buffer.from(new ArrayBuffer(INITIAL_BYTES));
    this.#view = new DataView(this.#buf.buffer);
  }

  /** Operations queued. */
  get count(): number {
    return this.#starts.length;
  }

  /**
   * Appends one operation; `keyBytes` is the key's UTF-8 length (a string key is encoded here).
   * Returns the promise its answer settles.
   */
  push(op: number, bits: number, key: string | Uint8Array, keyBytes: number, value: string | Uint8Array | undefined, valueBytes: number, a: number, b: number, big: bigint): Promise<unknown> {
    return new Promise((resolve, reject) => this.pushWith(op, bits, key, keyBytes, value, valueBytes, a, b, big, resolve, reject));
  }

  /** {@link push}, settling through `res` / `rej` instead of a promise of its own. */
  pushWith(op: number, bits: number, key: string | Uint8Array, keyBytes: number, value: string | Uint8Array | undefined, valueBytes: number, a: number, b: number, big: bigint, res: Resolve, rej: Reject): void {
    this.#ensure(OP_HEADER + keyBytes + valueBytes);
    const start = this.#pos;
    const buf = this.#buf;
    buf[start] = op;
    buf[start + 1] = bits;
    buf[start + 2] = keyBytes & 0xff;
    buf[start + 3] = keyBytes >>> 8;
    buf[start + 4] = valueBytes & 0xff;
    buf[start + 5] = (valueBytes >>> 8) & 0xff;
    buf[start + 6] = (valueBytes >>> 16) & 0xff;
    buf[start + 7] = valueBytes >>> 24;
    if (bits !== 0 || a !== 0 || b !== 0) {
      const v = this.#view;
      if (bits & Bit.BigDelta) v.setBigUint64(start + 8, big, true);
      else v.setFloat64(start + 8, a, true);
      v.setFloat64(start + 16, b, true);
    } else {
      for (let i = start + 8; i < start + 24; i++) buf[i] = 0; // a = b = 0.0
    }
    let p = start + OP_HEADER;
    if (typeof key === 'string') {
      if (keyBytes === key.length) {
        // ASCII (a UTF-8 length equal to the UTF-16 length means every char is one byte): by hand,
        // cheaper than a call into the encoder for a short key.
        for (let i = 0; i < keyBytes; i++) buf[p + i] = key.charCodeAt(i);
      } else {
        utf8Write.call(buf, key, p, keyBytes);
      }
    } else {
      buf.set(key, p);
    }
    p += keyBytes;
    if (value !== undefined) {
      if (typeof value === 'string') utf8Write.call(buf, value, p, valueBytes);
      else buf.set(value, p);
      p += valueBytes;
    }
    this.#pos = p;
    this.#starts.push(start);
    this.#res.push(res);
    this.#rej.push(rej);
  }

  /** Hands over everything queued as one request, and starts empty. */
  take(): Taken {
    const count = this.#starts.length;
    const used = this.#pos;
    this.#view.setUint32(0, count, true);
    this.#view.setUint32(4, used, true);
    const t: Taken = { bytes: this.#buf.subarray(0, used), count, starts: this.#starts, res: this.#res, rej: this.#rej };
    if (!this.reuse) {
      this.#buf = Buffer.from(new ArrayBuffer(INITIAL_BYTES));
      this.#view = new DataView(this.#buf.buffer);
    }
    this.#pos = REQ_HEADER;
    this.#starts = [];
    this.#res = [];
    this.#rej = [];
    return t;
  }

  /** Rejects everything queued with `err` and starts empty. */
  failAll(err: unknown): void {
    const rej = this.take().rej;
    for (const r of rej) r(err);
  }

  #ensure(extra: number): void {
    const need = this.#pos + extra;
    if (need <= this.#buf.length) return;
    let n = this.#buf.length * 2;
    while (n < need) n *= 2;
    const b = Buffer.from(new ArrayBuffer(n));
    b.set(this.#buf.subarray(0, this.#pos));
    this.#buf = b;
    this.#view = new DataView(b.buffer);
  }
}
