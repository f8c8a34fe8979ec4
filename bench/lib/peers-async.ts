/**
 * The asynchronous latency peers: memjs against a real memcached, and shmcached's CachePool one
 * operation at a time (batch 1: `await pool.get(k)`) or 100 at a time (`await pool.batch(ops)`,
 * reported per operation). Each call is awaited before the next (batch 1), as a request handler
 * would.
 */
import { createRequire } from 'node:module';
import type { AsyncPeer } from './cells.js';
import type { ShmCache, ShmCacheClass, ShmPool, ShmPoolClass, ShmPoolOp } from './shm.js';
import { benchRegionPath, removeRegion } from './shm.js';
import { ShmPeer } from './peers.js';
import { keyAt as key } from './rng.js';

/** The part of memjs's Client the benchmark uses (memjs ships no types). */
interface MemjsClient {
  get(key: string): Promise<{ value: Buffer | null; flags: Buffer | null }>;
  set(key: string, value: Buffer | string, options?: { expires?: number }): Promise<boolean>;
  delete(key: string): Promise<boolean>;
  increment(
    key: string,
    amount: number,
    options?: { initial?: number; expires?: number },
  ): Promise<{ success: boolean; value: number | null }>;
  close(): void;
}

const require = createRequire(import.meta.url);

/** Runs fn over [from, to) with at most `width` calls in flight (untimed bulk loads). */
async function bulk(from: number, to: number, width: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = from; i < to; i += width) {
    const ps: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(to, i + width); j++) ps.push(fn(j));
    await Promise.all(ps);
  }
}

/** Runs fn over each of `items` with at most `width` calls in flight (untimed bulk loads). */
async function bulkEach<T>(items: readonly T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map((item) => fn(item)));
}

/** memjs (binary protocol, one connection) against the memcached on `port`. */
export class MemjsPeer implements AsyncPeer {
  readonly name = 'memjs';
  private c: MemjsClient | undefined;

  constructor(private readonly port: number) {}

  async open(): Promise<void> {
    const memjs = require('memjs') as { Client: { create(servers: string, opts: Record<string, unknown>): MemjsClient } };
    this.c = memjs.Client.create(`127.0.0.1:${this.port}`, { retries: 0, timeout: 10, logger: { log: () => undefined } });
  }
  private get client(): MemjsClient {
    if (!this.c) throw new Error('memjs peer is not open');
    return this.c;
  }
  async populate(keys: readonly string[], value: Buffer): Promise<void> {
    const c = this.client;
    await bulkEach(keys, 100, (k) => c.set(k, value));
  }
  async populateCounters(keys: readonly string[]): Promise<void> {
    const c = this.client;
    await bulkEach(keys, 100, (k) => c.set(k, '0'));
  }
  async get(keys: readonly string[], order: Uint32Array, n: number): Promise<number> {
    const c = this.client;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const r = await c.get(key(keys, order, i));
      if (r.value) sum += r.value.length;
    }
    return sum;
  }
  async set(keys: readonly string[], order: Uint32Array, n: number, value: Buffer): Promise<number> {
    const c = this.client;
    let ok = 0;
    for (let i = 0; i < n; i++) if (await c.set(key(keys, order, i), value)) ok++;
    return ok;
  }
  async del(keys: readonly string[], perm: Uint32Array, from: number, to: number): Promise<number> {
    const c = this.client;
    let hits = 0;
    for (let i = from; i < to; i++) if (await c.delete(key(keys, perm, i))) hits++;
    return hits;
  }
  async refill(keys: readonly string[], perm: Uint32Array, from: number, to: number, value: Buffer): Promise<void> {
    const c = this.client;
    await bulk(from, to, 100, (i) => c.set(key(keys, perm, i), value));
  }
  async incr(keys: readonly string[], order: Uint32Array, n: number): Promise<number> {
    const c = this.client;
    let hits = 0;
    for (let i = 0; i < n; i++) if ((await c.increment(key(keys, order, i), 1)).success) hits++;
    return hits;
  }
  async close(): Promise<void> {
    this.c?.close();
    this.c = undefined;
  }
}

/** CachePool over a fresh region (created and populated through a Cache on this thread). */
export class PoolPeer implements AsyncPeer {
  readonly name: string;
  private cache: ShmCache | undefined;
  private pool: ShmPool | undefined;
  private path = '';

  constructor(
    private readonly Cache: ShmCacheClass,
    private readonly Pool: ShmPoolClass,
    /** Operations per pool call: 1 (`await pool.get(k)`) or more (`await pool.batch(ops)`). */
    readonly batch: number,
    private readonly threads: number,
  ) {
    this.name = `CachePool b${batch}`;
  }

  async open(tag: string, n: number, valueSize: number): Promise<void> {
    this.path = benchRegionPath(`pool-${tag}`);
    removeRegion(this.path);
    this.path = benchRegionPath(`pool-${tag}`);
    const mb = ShmPeer.regionBytes(n, valueSize) / 2 ** 20;
    this.cache = this.Cache.open({ path: this.path, size: `${mb}mb`, reset: true });
    this.pool = new this.Pool({ path: this.path, threads: this.threads });
  }
  private get c(): ShmCache {
    if (!this.cache) throw new Error('pool peer is not open');
    return this.cache;
  }
  private get p(): ShmPool {
    if (!this.pool) throw new Error('pool peer is not open');
    return this.pool;
  }
  async populate(keys: readonly string[], value: Buffer): Promise<void> {
    const c = this.c;
    for (const k of keys) c.set(k, value);
  }
  async populateCounters(keys: readonly string[]): Promise<void> {
    const c = this.c;
    for (const k of keys) c.set(k, '0');
  }
  /** Runs `n` ops made by `mk`, `batch` per pool call; returns the sum of `score` over results. */
  private async batched(n: number, mk: (i: number) => ShmPoolOp, score: (v: unknown) => number): Promise<number> {
    const p = this.p;
    let sum = 0;
    const b = this.batch;
    for (let i = 0; i < n; i += b) {
      const m = Math.min(b, n - i);
      const ops: ShmPoolOp[] = new Array(m);
      for (let j = 0; j < m; j++) ops[j] = mk(i + j);
      const rs = await p.batch(ops);
      for (const r of rs) if (r.ok) sum += score(r.value);
    }
    return sum;
  }
  async get(keys: readonly string[], order: Uint32Array, n: number): Promise<number> {
    if (this.batch === 1) {
      const p = this.p;
      let sum = 0;
      for (let i = 0; i < n; i++) {
        const v = await p.get(key(keys, order, i));
        if (v !== undefined) sum += v.length;
      }
      return sum;
    }
    return this.batched(
      n,
      (i) => ({ op: 'get', key: key(keys, order, i) }),
      (v) => (v instanceof Uint8Array ? v.length : 0),
    );
  }
  async set(keys: readonly string[], order: Uint32Array, n: number, value: Buffer): Promise<number> {
    if (this.batch === 1) {
      const p = this.p;
      for (let i = 0; i < n; i++) await p.set(key(keys, order, i), value);
      return n;
    }
    return this.batched(
      n,
      (i) => ({ op: 'set', key: key(keys, order, i), value }),
      () => 1,
    );
  }
  async del(keys: readonly string[], perm: Uint32Array, from: number, to: number): Promise<number> {
    if (this.batch === 1) {
      const p = this.p;
      let hits = 0;
      for (let i = from; i < to; i++) if (await p.delete(key(keys, perm, i))) hits++;
      return hits;
    }
    return this.batched(
      to - from,
      (i) => ({ op: 'delete', key: key(keys, perm, from + i) }),
      (v) => (v === true ? 1 : 0),
    );
  }
  async refill(keys: readonly string[], perm: Uint32Array, from: number, to: number, value: Buffer): Promise<void> {
    const c = this.c;
    for (let i = from; i < to; i++) c.set(key(keys, perm, i), value);
  }
  async incr(keys: readonly string[], order: Uint32Array, n: number): Promise<number> {
    if (this.batch === 1) {
      const p = this.p;
      let hits = 0;
      for (let i = 0; i < n; i++) if ((await p.incr(key(keys, order, i), 1)) !== undefined) hits++;
      return hits;
    }
    return this.batched(
      n,
      (i) => ({ op: 'incr', key: key(keys, order, i), delta: 1 }),
      (v) => (typeof v === 'bigint' ? 1 : 0),
    );
  }
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    try {
      await pool?.close();
    } finally {
      this.cache?.close();
      this.cache = undefined;
      if (this.path) removeRegion(this.path);
    }
  }
}
