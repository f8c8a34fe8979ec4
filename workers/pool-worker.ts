/**
 * The piscina task of {@link CachePool} (transport `'piscina'`): runs one request buffer (the wire
 * format in src/pool/pool.ts) with this thread's {@link Cache} (opened once, on the first task) and
 * answers in one transferred response buffer.
 */
import { move, workerData } from 'piscina';

import { Cache } from '../src/cache.js';
import { Out, runOps } from './ops.js';

let cache: Cache | undefined;

function open(): Cache {
  if (cache === undefined || cache.closed) cache = Cache.open({ path: (workerData as { path: string }).path });
  return cache;
}

const alloc = (n: number): ArrayBuffer => new ArrayBuffer(n);

/** Runs one request buffer; returns the response buffer, transferred back to the pool. */
export default function run(req: ArrayBuffer): unknown {
  const bytes = new Uint8Array(req);
  const count = new DataView(req).getUint32(0, true);
  const out = new Out(new Uint8Array(alloc(Math.max(4096, count * 16))), alloc);
  runOps(bytes, open(), out);
  // The whole buffer is transferred (not cloned); the pool reads only what the header covers.
  return move(out.buf.buffer as ArrayBuffer);
}
