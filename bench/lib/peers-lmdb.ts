/**
 * lmdb-js as a latency peer: `getBinaryFast` (a view of lmdb's reused read buffer, no copy: the
 * fastest read lmdb-js offers) and `putSync` / `removeSync` with `noSync` (no fsync per write).
 * incr is a read, parse, add and `putSync` (lmdb has no increment; not atomic across threads).
 * Its timed loops are written out like the other peers' in peers.ts, which they resemble on
 * purpose: one call site per store class keeps each monomorphic in V8 (see peers.ts's header).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { Peer } from './peers.js';
import { keyAt as key } from './rng.js';

type Db = Database<Buffer, string>;

function lmdbGet(db: Db, keys: readonly string[], order: Uint32Array, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = db.getBinaryFast(key(keys, order, i));
    if (v !== undefined) sum += v.length;
  }
  return sum;
}

function lmdbSet(db: Db, keys: readonly string[], order: Uint32Array, n: number, value: Buffer): number {
  for (let i = 0; i < n; i++) db.putSync(key(keys, order, i), value);
  return n;
}

function lmdbDel(db: Db, keys: readonly string[], perm: Uint32Array, from: number, to: number): number {
  let hits = 0;
  for (let i = from; i < to; i++) if (db.removeSync(key(keys, perm, i))) hits++;
  return hits;
}

function lmdbIncr(db: Db, keys: readonly string[], order: Uint32Array, n: number): number {
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const k = key(keys, order, i);
    const v = db.getBinaryFast(k);
    if (v !== undefined) {
      const next = (BigInt(v.toString('latin1')) + 1n) & ((1n << 64n) - 1n);
      db.putSync(k, Buffer.from(next.toString(), 'latin1'));
      hits++;
    }
  }
  return hits;
}

/** lmdb-js in a fresh directory under /dev/shm (or SHMCACHED_BENCH_DIR), removed on close. */
export class LmdbPeer implements Peer {
  readonly name = 'lmdb-js';
  private root: RootDatabase<Buffer, string> | undefined;
  private dir = '';

  open(tag: string, n: number, valueSize: number): void {
    const base = process.env.SHMCACHED_BENCH_DIR || '/dev/shm';
    this.dir = mkdtempSync(join(base, `shmcached-bench-lmdb-${tag}-`));
    const mapSize = Math.max(64 * 2 ** 20, Math.ceil((n * (valueSize + 128) * 2.5) / 2 ** 20) * 2 ** 20);
    this.root = open<Buffer, string>({ path: join(this.dir, 'db'), noSync: true, encoding: 'binary', mapSize });
  }
  private get db(): Db {
    if (!this.root) throw new Error('lmdb peer is not open');
    return this.root;
  }
  populate(keys: readonly string[], value: Buffer): void {
    const db = this.db;
    db.transactionSync(() => {
      for (const k of keys) db.put(k, value);
    });
  }
  populateCounters(keys: readonly string[]): void {
    const db = this.db;
    const zero = Buffer.from('0');
    db.transactionSync(() => {
      for (const k of keys) db.put(k, zero);
    });
  }
  get(keys: readonly string[], order: Uint32Array, n: number): number {
    return lmdbGet(this.db, keys, order, n);
  }
  getMany(): number {
    throw new Error('getMany is not measured for lmdb-js');
  }
  set(keys: readonly string[], order: Uint32Array, n: number, value: Buffer): number {
    return lmdbSet(this.db, keys, order, n, value);
  }
  del(keys: readonly string[], perm: Uint32Array, from: number, to: number): number {
    return lmdbDel(this.db, keys, perm, from, to);
  }
  refill(keys: readonly string[], perm: Uint32Array, from: number, to: number, value: Buffer): void {
    const db = this.db;
    db.transactionSync(() => {
      for (let i = from; i < to; i++) db.put(key(keys, perm, i), value);
    });
  }
  incr(keys: readonly string[], order: Uint32Array, n: number): number {
    return lmdbIncr(this.db, keys, order, n);
  }
  info(): Record<string, unknown> | undefined {
    return undefined;
  }
  close(): void {
    const root = this.root;
    this.root = undefined;
    // close() is async in lmdb-js; the directory can go at once (the mapping stays valid).
    void root?.close();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = '';
  }
}
