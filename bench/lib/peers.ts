/**
 * The stores the latency benchmark compares, each with its own hand-written timed loops.
 *
 * Every loop is a separate top-level function on purpose: one generic loop calling
 * `store.get(k)` for three kinds of store would make that call site polymorphic in V8 and charge
 * the peers for it unevenly. Here each call site only ever sees one class.
 *
 * Fairness rules (the same for every peer):
 * - get returns the value as a Buffer the caller owns: shmcached copies out of shared memory, so
 *   lru-cache and Map pay `Buffer.from(v)` (a copy) too.
 * - set stores a copy of the caller's bytes (`Buffer.from(value)` for the JS peers).
 * - incr follows memcached: add, wrap at 2^64, return the new value as a bigint. The JS peers keep
 *   the counter as a bigint (what a JS user would store), not as decimal text.
 * - Every loop returns a number derived from every result (sum of lengths, hit counts) so that
 *   nothing can be optimised away, and so the caller can check that every op hit.
 */
import { LRUCache } from 'lru-cache';
import type { ShmCache, ShmCacheClass } from './shm.js';
import { benchRegionPath, removeRegion } from './shm.js';
import { keyAt as key } from './rng.js';

export interface Peer {
  readonly name: string;
  /** A fresh, empty store big enough for `n` items of `valueSize` bytes. */
  open(tag: string, n: number, valueSize: number): void;
  /** set every key to (a copy of) value. */
  populate(keys: readonly string[], value: Buffer): void;
  /** set every key to the counter 0. */
  populateCounters(keys: readonly string[]): void;
  /** Sum of the lengths of the `n` values read. */
  get(keys: readonly string[], order: Uint32Array, n: number): number;
  /** Sum of the lengths of every value read, over all batches. */
  getMany(batches: readonly (readonly string[])[]): number;
  set(keys: readonly string[], order: Uint32Array, n: number, value: Buffer): number;
  /** Deletes keys[perm[from..to)]; returns how many existed. */
  del(keys: readonly string[], perm: Uint32Array, from: number, to: number): number;
  /** Untimed: puts keys[perm[from..to)] back. */
  refill(keys: readonly string[], perm: Uint32Array, from: number, to: number, value: Buffer): void;
  /** How many of the `n` increments found their key. */
  incr(keys: readonly string[], order: Uint32Array, n: number): number;
  close(): void;
  /** Anything worth recording about the store after a phase (e.g. shmcached's stats). */
  info(): Record<string, unknown> | undefined;
}

const MASK64 = (1n << 64n) - 1n;

// ---------------------------------------------------------------------------------------------
// The loop with nothing in it: fetching the key and summing, which every cell also pays.

export function loopOnly(keys: readonly string[], order: Uint32Array, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += key(keys, order, i).length;
  return sum;
}

// ---------------------------------------------------------------------------------------------
// shmcached

function shmGet(c: ShmCache, keys: readonly string[], order: Uint32Array, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = c.get(key(keys, order, i));
    if (v !== undefined) sum += v.length;
  }
  return sum;
}

function shmGetMany(c: ShmCache, batches: readonly (readonly string[])[]): number {
  let sum = 0;
  for (const batch of batches) {
    const vs = c.getMany(batch);
    for (let j = 0; j < vs.length; j++) {
      const v = vs[j];
      if (v !== undefined) sum += v.length;
    }
  }
  return sum;
}

function shmSet(c: ShmCache, keys: readonly string[], order: Uint32Array, n: number, value: Buffer): number {
  for (let i = 0; i < n; i++) c.set(key(keys, order, i), value);
  return n;
}

function shmDel(c: ShmCache, keys: readonly string[], perm: Uint32Array, from: number, to: number): number {
  let hits = 0;
  for (let i = from; i < to; i++) if (c.delete(key(keys, perm, i))) hits++;
  return hits;
}

function shmIncr(c: ShmCache, keys: readonly string[], order: Uint32Array, n: number): number {
  let hits = 0;
  for (let i = 0; i < n; i++) if (c.incr(key(keys, order, i), 1) !== undefined) hits++;
  return hits;
}

function shmGetInto(c: ShmCache, keys: readonly string[], order: Uint32Array, n: number, into: Buffer): number {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const len = c.getInto!(key(keys, order, i), into);
    if (len !== undefined) sum += len;
  }
  return sum;
}

export class ShmPeer implements Peer {
  readonly name = 'shmcached';
  private c: ShmCache | undefined;
  private path = '';

  constructor(private readonly Cache: ShmCacheClass) {}

  /** Region size: room for every item in its slab class (up to 1.25x its size) plus headroom. */
  static regionBytes(n: number, valueSize: number): number {
    const perItem = (valueSize + 64) * 1.35 + 64;
    const bytes = Math.ceil((n * perItem) / 2 ** 20) * 2 ** 20 + 64 * 2 ** 20;
    return Math.max(bytes, 64 * 2 ** 20);
  }

  open(tag: string, n: number, valueSize: number): void {
    this.path = benchRegionPath(tag);
    removeRegion(this.path);
    const mb = ShmPeer.regionBytes(n, valueSize) / 2 ** 20;
    this.c = this.Cache.open({ path: this.path, size: `${mb}mb`, reset: true });
  }
  private get cache(): ShmCache {
    if (!this.c) throw new Error('shmcached peer is not open');
    return this.c;
  }
  /** The open Cache (for subclasses). */
  protected cacheHandle(): ShmCache {
    return this.cache;
  }
  populate(keys: readonly string[], value: Buffer): void {
    const c = this.cache;
    for (const k of keys) c.set(k, value);
  }
  populateCounters(keys: readonly string[]): void {
    const c = this.cache;
    for (const k of keys) c.set(k, '0');
  }
  get(keys: readonly string[], order: Uint32Array, n: number): number {
    return shmGet(this.cache, keys, order, n);
  }
  getMany(batches: readonly (readonly string[])[]): number {
    return shmGetMany(this.cache, batches);
  }
  set(keys: readonly string[], order: Uint32Array, n: number, value: Buffer): number {
    return shmSet(this.cache, keys, order, n, value);
  }
  del(keys: readonly string[], perm: Uint32Array, from: number, to: number): number {
    return shmDel(this.cache, keys, perm, from, to);
  }
  refill(keys: readonly string[], perm: Uint32Array, from: number, to: number, value: Buffer): void {
    const c = this.cache;
    for (let i = from; i < to; i++) c.set(key(keys, perm, i), value);
  }
  incr(keys: readonly string[], order: Uint32Array, n: number): number {
    return shmIncr(this.cache, keys, order, n);
  }
  info(): Record<string, unknown> | undefined {
    const c = this.c;
    if (!c || typeof c.stats !== 'function') return undefined;
    try {
      const s = c.stats() as Record<string, unknown>;
      const pick: Record<string, unknown> = {};
      for (const k of ['curr_items', 'total_items', 'bytes', 'limit_maxbytes', 'evictions', 'get_hits', 'get_misses']) {
        const v = s[k];
        if (v !== undefined) pick[k] = typeof v === 'bigint' ? Number(v) : v;
      }
      return pick;
    } catch {
      return undefined;
    }
  }
  close(): void {
    try {
      this.c?.close();
    } finally {
      this.c = undefined;
      if (this.path) removeRegion(this.path);
    }
  }
}

/**
 * shmcached read with `getInto` into one reused buffer: no allocation per get, the like-for-like
 * peer of lmdb-js's `getBinaryFast` (which returns a view of a reused buffer). Other ops as ShmPeer.
 */
export class ShmGetIntoPeer extends ShmPeer {
  private readonly into = Buffer.allocUnsafeSlow(1 << 20);
  override get(keys: readonly string[], order: Uint32Array, n: number): number {
    return shmGetInto(this.cacheHandle(), keys, order, n, this.into);
  }
}

// ---------------------------------------------------------------------------------------------
// The JS stores (lru-cache, Map): copies in and out, counters as bigints in a second store

/** What lru-cache and Map both offer. */
interface JsStore<V> {
  get(key: string): V | undefined;
  set(key: string, value: V): unknown;
  delete(key: string): boolean;
  clear(): void;
  readonly size: number;
}

/** One JS store's timed loops: each a top-level function of its own (see the top of this file). */
interface CopyLoops<S, C> {
  get(s: S, keys: readonly string[], order: Uint32Array, n: number): number;
  getMany(s: S, batches: readonly (readonly string[])[]): number;
  set(s: S, keys: readonly string[], order: Uint32Array, n: number, value: Buffer): number;
  del(s: S, keys: readonly string[], perm: Uint32Array, from: number, to: number): number;
  incr(c: C, keys: readonly string[], order: Uint32Array, n: number): number;
}

/**
 * A JS store as a peer: values in one store (copied in on set, out on get), counters in another.
 * Only the untimed work (populate, refill, open, close) is shared code; every timed loop is the
 * store's own function, so each of their call sites sees one class.
 */
class CopyingPeer<S extends JsStore<Buffer>, C extends JsStore<bigint>> implements Peer {
  private s: S | undefined;
  private counters: C | undefined;

  constructor(
    readonly name: string,
    private readonly make: (n: number) => [S, C],
    private readonly loops: CopyLoops<S, C>,
  ) {}

  open(_tag: string, n: number): void {
    [this.s, this.counters] = this.make(n);
  }
  private get store(): S {
    if (!this.s) throw new Error(`${this.name} peer is not open`);
    return this.s;
  }
  populate(keys: readonly string[], value: Buffer): void {
    const s = this.store;
    for (const k of keys) s.set(k, Buffer.from(value));
  }
  populateCounters(keys: readonly string[]): void {
    const c = this.counters!;
    for (const k of keys) c.set(k, 0n);
  }
  get(keys: readonly string[], order: Uint32Array, n: number): number {
    return this.loops.get(this.store, keys, order, n);
  }
  getMany(batches: readonly (readonly string[])[]): number {
    return this.loops.getMany(this.store, batches);
  }
  set(keys: readonly string[], order: Uint32Array, n: number, value: Buffer): number {
    return this.loops.set(this.store, keys, order, n, value);
  }
  del(keys: readonly string[], perm: Uint32Array, from: number, to: number): number {
    return this.loops.del(this.store, keys, perm, from, to);
  }
  refill(keys: readonly string[], perm: Uint32Array, from: number, to: number, value: Buffer): void {
    const s = this.store;
    for (let i = from; i < to; i++) s.set(key(keys, perm, i), Buffer.from(value));
  }
  incr(keys: readonly string[], order: Uint32Array, n: number): number {
    return this.loops.incr(this.counters!, keys, order, n);
  }
  info(): Record<string, unknown> | undefined {
    return { size: this.s?.size ?? 0, counters: this.counters?.size ?? 0 };
  }
  close(): void {
    this.s?.clear();
    this.counters?.clear();
    this.s = undefined;
    this.counters = undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// lru-cache 11, copying values in and out

type Lru = LRUCache<string, Buffer>;
type LruCounters = LRUCache<string, bigint>;

function lruGet(c: Lru, keys: readonly string[], order: Uint32Array, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = c.get(key(keys, order, i));
    if (v !== undefined) sum += Buffer.from(v).length;
  }
  return sum;
}

function lruGetMany(c: Lru, batches: readonly (readonly string[])[]): number {
  let sum = 0;
  for (const batch of batches) {
    const vs: (Buffer | undefined)[] = new Array(batch.length);
    let j = 0;
    for (const k of batch) {
      const v = c.get(k);
      vs[j++] = v === undefined ? undefined : Buffer.from(v);
    }
    for (let j = 0; j < vs.length; j++) {
      const v = vs[j];
      if (v !== undefined) sum += v.length;
    }
  }
  return sum;
}

function lruSet(c: Lru, keys: readonly string[], order: Uint32Array, n: number, value: Buffer): number {
  for (let i = 0; i < n; i++) c.set(key(keys, order, i), Buffer.from(value));
  return n;
}

function lruDel(c: Lru, keys: readonly string[], perm: Uint32Array, from: number, to: number): number {
  let hits = 0;
  for (let i = from; i < to; i++) if (c.delete(key(keys, perm, i))) hits++;
  return hits;
}

function lruIncr(c: LruCounters, keys: readonly string[], order: Uint32Array, n: number): number {
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const k = key(keys, order, i);
    const v = c.get(k);
    if (v !== undefined) {
      c.set(k, (v + 1n) & MASK64);
      hits++;
    }
  }
  return hits;
}

export class LruPeer extends CopyingPeer<Lru, LruCounters> {
  constructor() {
    // max above the key count: nothing is ever evicted, as in the shmcached region.
    super('lru-cache', (n) => [new LRUCache<string, Buffer>({ max: n + 1024 }), new LRUCache<string, bigint>({ max: n + 1024 })], {
      get: lruGet,
      getMany: lruGetMany,
      set: lruSet,
      del: lruDel,
      incr: lruIncr,
    });
  }
}

// ---------------------------------------------------------------------------------------------
// A plain JS Map, copying values in and out

function mapGet(m: Map<string, Buffer>, keys: readonly string[], order: Uint32Array, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = m.get(key(keys, order, i));
    if (v !== undefined) sum += Buffer.from(v).length;
  }
  return sum;
}

function mapGetMany(m: Map<string, Buffer>, batches: readonly (readonly string[])[]): number {
  let sum = 0;
  for (const batch of batches) {
    const vs: (Buffer | undefined)[] = new Array(batch.length);
    let j = 0;
    for (const k of batch) {
      const v = m.get(k);
      vs[j++] = v === undefined ? undefined : Buffer.from(v);
    }
    for (let j = 0; j < vs.length; j++) {
      const v = vs[j];
      if (v !== undefined) sum += v.length;
    }
  }
  return sum;
}

function mapSet(m: Map<string, Buffer>, keys: readonly string[], order: Uint32Array, n: number, value: Buffer): number {
  for (let i = 0; i < n; i++) m.set(key(keys, order, i), Buffer.from(value));
  return n;
}

function mapDel(m: Map<string, Buffer>, keys: readonly string[], perm: Uint32Array, from: number, to: number): number {
  let hits = 0;
  for (let i = from; i < to; i++) if (m.delete(key(keys, perm, i))) hits++;
  return hits;
}

function mapIncr(m: Map<string, bigint>, keys: readonly string[], order: Uint32Array, n: number): number {
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const k = key(keys, order, i);
    const v = m.get(k);
    if (v !== undefined) {
      m.set(k, (v + 1n) & MASK64);
      hits++;
    }
  }
  return hits;
}

export class MapPeer extends CopyingPeer<Map<string, Buffer>, Map<string, bigint>> {
  constructor() {
    super('Map', () => [new Map(), new Map()], { get: mapGet, getMany: mapGetMany, set: mapSet, del: mapDel, incr: mapIncr });
  }
}
