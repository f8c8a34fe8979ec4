/**
 * The task of {@link CachePool}'s piscina workers: decodes one request buffer (the wire format in
 * src/pool.ts), runs each operation with the synchronous {@link Cache} of this thread (opened once,
 * on the first task), and answers all of them in one transferred response buffer. Each operation
 * is caught on its own: a bad one is answered with its error and its neighbours still run.
 */
import { move, workerData } from 'piscina';

import { Cache } from '../src/cache.js';
import { CacheError } from '../src/errors.js';
import { Bit, ErrKind, Op, OP_HEADER, REQ_HEADER, Res } from '../src/pool.js';
import type { SetOptions } from '../src/types.js';

let cache: Cache | undefined;

const enc = new TextEncoder();

/** A growable response buffer. */
class Out {
  buf: Uint8Array;
  view: DataView;
  pos = 4;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }
  ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let n = this.buf.length * 2;
    while (n < need) n *= 2;
    const b = new Uint8Array(n);
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
    this.view = new DataView(b.buffer);
  }
  status(st: Res): void {
    this.ensure(1);
    this.buf[this.pos++] = st;
  }
  value(v: Buffer | undefined): void {
    if (v === undefined) return this.status(Res.Undefined);
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
      if (n === undefined) return this.status(Res.Undefined);
      if (n <= room) {
        this.buf[this.pos] = Res.Value;
        this.view.setUint32(this.pos + 1, n, true);
        this.pos += 5 + n;
        return;
      }
      this.ensure(5 + n);
    }
  }
  bool(b: boolean): void {
    this.status(b ? Res.True : Res.False);
  }
  bigint(v: bigint | undefined): void {
    if (v === undefined) return this.status(Res.Undefined);
    this.ensure(9);
    this.buf[this.pos] = Res.BigInt;
    this.view.setBigUint64(this.pos + 1, v, true);
    this.pos += 9;
  }
  error(e: unknown): void {
    const err = e as { code?: unknown; message?: unknown };
    const kind = e instanceof CacheError ? ErrKind.CacheError : e instanceof TypeError ? ErrKind.TypeError : e instanceof RangeError ? ErrKind.RangeError : ErrKind.Error;
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
}

function open(): Cache {
  if (cache === undefined || cache.closed) cache = Cache.open({ path: (workerData as { path: string }).path });
  return cache;
}

/** Runs one request buffer; returns the response buffer, transferred back to the pool. */
export default function run(req: ArrayBuffer): unknown {
  const v = new DataView(req);
  const bytes = new Uint8Array(req);
  const count = v.getUint32(0, true);
  const used = v.getUint32(4, true);
  const out = new Out(Math.max(4096, count * 16));
  const c = open();
  let p = REQ_HEADER;
  for (let i = 0; i < count && p < used; i++) {
    const op = v.getUint8(p);
    const bits = v.getUint8(p + 1);
    const klen = v.getUint16(p + 2, true);
    const vlen = v.getUint32(p + 4, true);
    const a = v.getFloat64(p + 8, true);
    const b = v.getFloat64(p + 16, true);
    const kOff = p + OP_HEADER;
    const key = bytes.subarray(kOff, kOff + klen);
    const value = bytes.subarray(kOff + klen, kOff + klen + vlen);
    p = kOff + klen + vlen;
    let opts: SetOptions | undefined;
    if (bits & (Bit.Ttl | Bit.Flags)) {
      opts = {};
      if (bits & Bit.Ttl) opts.ttl = a;
      if (bits & Bit.Flags) opts.flags = b;
    }
    try {
      switch (op as Op) {
        case Op.Get: out.getInto(c, key); break;
        case Op.Gat: out.value(c.gat(key, a)); break;
        case Op.Set: c.set(key, value, opts); out.status(Res.Undefined); break;
        case Op.Add: out.bool(c.add(key, value, opts)); break;
        case Op.Replace: out.bool(c.replace(key, value, opts)); break;
        case Op.Append: out.bool(c.append(key, value)); break;
        case Op.Prepend: out.bool(c.prepend(key, value)); break;
        case Op.Delete: out.bool(c.delete(key)); break;
        case Op.Incr:
        case Op.Decr: {
          const delta = bits & Bit.BigDelta ? v.getBigUint64(kOff - 16, true) : a;
          out.bigint(op === Op.Incr ? c.incr(key, delta) : c.decr(key, delta));
          break;
        }
        case Op.Touch: out.bool(c.touch(key, a)); break;
        default: throw new Error(`shmcached pool worker: unknown operation ${op}`);
      }
    } catch (e) {
      out.error(e);
    }
  }
  out.view.setUint32(0, count, true);
  // The whole buffer is transferred (not cloned); the pool reads only what the count covers.
  return move(out.buf.buffer as ArrayBuffer);
}
