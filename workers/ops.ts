/**
 * The operation runner shared by both of {@link CachePool}'s transports (the piscina task in
 * `pool-worker.ts` and the SharedArrayBuffer channel in `channel-worker.ts`): decodes one request
 * (the wire format in src/pool/pool.ts), runs each operation with this thread's synchronous
 * {@link Cache}, and writes every answer into an {@link Out}. Each operation is caught on its own:
 * a bad one is answered with its error and its neighbours still run.
 */
import { type Cache, crawlStep } from '../src/cache.js';
import { CacheError } from '../src/errors.js';
import { Bit, ErrKind, Op, OP_HEADER, REQ_HEADER, RES_HEADER, Res } from '../src/pool/wire.js';
import type { CasResult, ItemInfo, SetOptions } from '../src/types.js';

const enc = new TextEncoder();

/** Makes the backing store of an {@link Out}: a plain ArrayBuffer or a SharedArrayBuffer. */
export type Alloc = (bytes: number) => ArrayBufferLike;

/**
 * A growable response buffer. Growing replaces {@link buf} (and its backing store) with a larger
 * one from the allocator and copies what was written; {@link grew} records that it happened.
 */
export class Out {
  buf: Uint8Array;
  view: DataView;
  pos = RES_HEADER;
  grew = false;
  readonly #alloc: Alloc;
  /** Starts on `initial` (whose backing store `alloc` made); grows through `alloc`. */
  constructor(initial: Uint8Array, alloc: Alloc) {
    this.#alloc = alloc;
    this.buf = initial;
    this.view = new DataView(initial.buffer, initial.byteOffset, initial.byteLength);
  }
  /** Starts a new response in the same buffer. */
  reset(): void {
    this.pos = RES_HEADER;
    this.grew = false;
  }
  /**
   * Starts a new response in a fresh buffer of `n` bytes (from `alloc`, announced through `grew`
   * like a grown one), when the current one is larger than `keep` and the last response (the one
   * before this reset) used at most a quarter of `keep`: a large response does not pin its buffer.
   */
  resetShrinking(keep: number, n: number): void {
    const last = this.pos;
    this.reset();
    if (this.buf.length <= keep || last > keep / 4) return;
    this.buf = new Uint8Array(this.#alloc(n));
    this.view = new DataView(this.buf.buffer);
    this.grew = true;
  }
  ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let n = this.buf.length * 2;
    while (n < need) n *= 2;
    const b = new Uint8Array(this.#alloc(n));
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
    this.view = new DataView(b.buffer);
    this.grew = true;
  }
  status(st: Res): void {
    this.ensure(1);
    this.buf[this.pos++] = st;
  }
  value(v: Buffer | undefined): void {
    if (v === undefined) {
      this.status(Res.Undefined);
      return;
    }
    this.ensure(5 + v.length);
    this.buf[this.pos] = Res.Value;
    this.view.setUint32(this.pos + 1, v.length, true);
    this.buf.set(v, this.pos + 5);
    this.pos += 5 + v.length;
  }
  /** A get straight into the response buffer (no Buffer per value): Cache.getInto, growing once if needed. */
  getInto(c: Cache, key: Uint8Array): void {
    for (;;) {
      this.ensure(5);
      const room = this.buf.length - this.pos - 5;
      const n = c.getInto(key, this.buf, this.pos + 5);
      if (n === undefined) {
        this.status(Res.Undefined);
        return;
      }
      if (n <= room) {
        this.buf[this.pos] = Res.Value;
        this.view.setUint32(this.pos + 1, n, true);
        this.pos += 5 + n;
        return;
      }
      this.ensure(5 + n);
    }
  }
  /** A value with its flags and CAS ({@link Res.Info}), or `undefined`. */
  info(i: ItemInfo | undefined): void {
    if (i === undefined) {
      this.status(Res.Undefined);
      return;
    }
    const v = i.value;
    this.ensure(17 + v.length);
    const p = this.pos;
    this.buf[p] = Res.Info;
    this.view.setUint32(p + 1, i.flags, true);
    this.view.setBigUint64(p + 5, i.cas, true);
    this.view.setUint32(p + 13, v.length, true);
    this.buf.set(v, p + 17);
    this.pos = p + 17 + v.length;
  }
  /** A cas outcome ({@link Res.Cas}). */
  cas(r: CasResult): void {
    this.ensure(2);
    this.buf[this.pos] = Res.Cas;
    this.buf[this.pos + 1] = r === 'stored' ? 0 : r === 'exists' ? 1 : 2;
    this.pos += 2;
  }
  /** A number ({@link Res.Number}). */
  number(n: number): void {
    this.ensure(9);
    this.buf[this.pos] = Res.Number;
    this.view.setFloat64(this.pos + 1, n, true);
    this.pos += 9;
  }
  bool(b: boolean): void {
    this.status(b ? Res.True : Res.False);
  }
  bigint(v: bigint | undefined): void {
    if (v === undefined) {
      this.status(Res.Undefined);
      return;
    }
    this.ensure(9);
    this.buf[this.pos] = Res.BigInt;
    this.view.setBigUint64(this.pos + 1, v, true);
    this.pos += 9;
  }
  error(e: unknown): void {
    const err = e as { code?: unknown; message?: unknown };
    const kind =
      e instanceof CacheError
        ? ErrKind.CacheError
        : e instanceof TypeError
          ? ErrKind.TypeError
          : e instanceof RangeError
            ? ErrKind.RangeError
            : ErrKind.Error;
    const code = enc.encode(typeof err?.code === 'string' ? err.code : '').subarray(0, 0xffff);
    const msg = enc.encode(typeof err?.message === 'string' ? err.message : String(e));
    this.ensure(8 + code.length + msg.length);
    const v = this.view;
    let p = this.pos;
    v.setUint8(p, Res.Error);
    v.setUint8(p + 1, kind);
    v.setUint16(p + 2, code.length, true);
    p += 4;
    this.buf.set(code, p);
    p += code.length;
    v.setUint32(p, msg.length, true);
    p += 4;
    this.buf.set(msg, p);
    this.pos = p + msg.length;
  }
  /** Writes the response header (`u32 count, u32 usedBytes`). */
  finish(count: number): void {
    this.view.setUint32(0, count, true);
    this.view.setUint32(4, this.pos, true);
  }
}

/**
 * Runs one operation against `c` and returns what the {@link Cache} method returns (or throws what
 * it throws): the one mapping from the wire format's fields to Cache calls, used by {@link runOps}
 * for a decoded request and by CachePool for an operation it runs inline, unencoded. `a` is the
 * ttl or delta (a bigint with {@link Bit.BigDelta}), the flush delay or the crawl cursor; `b`
 * the flags; `cas` the CAS unique of {@link Op.Cas}. `c` is always a bytes Cache: a codec lives
 * in CachePool, on the calling thread.
 */
export function runOne(
  c: Cache,
  op: number,
  bits: number,
  key: string | Uint8Array,
  value: string | Uint8Array,
  a: number | bigint,
  b: number,
  cas = 0n,
): unknown {
  let opts: SetOptions | undefined;
  if (bits & (Bit.Ttl | Bit.Flags)) {
    opts = {};
    if (bits & Bit.Ttl) opts.ttl = a as number;
    if (bits & Bit.Flags) opts.flags = b;
  }
  switch (op as Op) {
    case Op.Get:
      return c.get(key);
    case Op.Gat:
      return c.gat(key, a as number);
    case Op.Set:
      return c.set(key, value, opts);
    case Op.Add:
      return c.add(key, value, opts);
    case Op.Replace:
      return c.replace(key, value, opts);
    case Op.Append:
      return c.append(key, value);
    case Op.Prepend:
      return c.prepend(key, value);
    case Op.Delete:
      return c.delete(key);
    case Op.Incr:
      return c.incr(key, a);
    case Op.Decr:
      return c.decr(key, a);
    case Op.Touch:
      return c.touch(key, a as number);
    case Op.Gets:
      return c.gets(key);
    case Op.Gats:
      return c.gats(key, a as number);
    case Op.Cas:
      return c.cas(key, value, cas, opts);
    case Op.Has:
      return c.has(key);
    case Op.FlushAll:
      return c.flushAll(a as number);
    case Op.Size:
      return c.size;
    case Op.Crawl:
      return crawlChunk(c, a as number);
    default:
      throw new Error(`shmcached pool: unknown operation ${op}`);
  }
}

/** One crawl step as {@link Op.Crawl} answers it: `u8 done, f64 next`, then the keys. */
function crawlChunk(c: Cache, cursor: number): Buffer {
  const [keys, next, done] = crawlStep(c, cursor);
  const out = Buffer.allocUnsafe(9 + keys.length);
  out[0] = done ? 1 : 0;
  out.writeDoubleLE(next, 1);
  out.set(keys, 9);
  return out;
}

/**
 * Runs the request in `bytes` (count and used length from its header) against `c`, appending one
 * answer per operation to `out`, and finishes the response header. A get is read straight into
 * the response; every other operation goes through {@link runOne}.
 */
export function runOps(bytes: Uint8Array, c: Cache, out: Out): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = v.getUint32(0, true);
  const used = Math.min(v.getUint32(4, true), bytes.length);
  let p = REQ_HEADER;
  let done = 0;
  for (; done < count && p + OP_HEADER <= used; done++) {
    const op = v.getUint8(p);
    const bits = v.getUint8(p + 1);
    const klen = v.getUint16(p + 2, true);
    const vlen = v.getUint32(p + 4, true);
    const kOff = p + OP_HEADER;
    const key = bytes.subarray(kOff, kOff + klen);
    p = kOff + klen + vlen;
    try {
      if (op === Op.Get) {
        out.getInto(c, key);
        continue;
      }
      const a = bits & Bit.BigDelta ? v.getBigUint64(kOff - 16, true) : v.getFloat64(kOff - 16, true);
      const b = v.getFloat64(kOff - 8, true);
      let r: unknown;
      if (op === Op.Cas) {
        // The value section starts with the CAS unique (8 bytes).
        const vOff = kOff + klen;
        if (vlen < 8) throw new Error('shmcached pool: a cas request without its CAS unique');
        r = runOne(c, op, bits, key, bytes.subarray(vOff + 8, p), a, b, v.getBigUint64(vOff, true));
        out.cas(r as CasResult);
        continue;
      }
      r = runOne(c, op, bits, key, bytes.subarray(kOff + klen, p), a, b);
      if (r === undefined) out.status(Res.Undefined);
      else if (typeof r === 'boolean') out.bool(r);
      else if (typeof r === 'bigint') out.bigint(r);
      else if (typeof r === 'number') out.number(r);
      else if (op === Op.Gets || op === Op.Gats) out.info(r as ItemInfo);
      else out.value(r as Buffer);
    } catch (e) {
      out.error(e);
    }
  }
  out.finish(done);
}
