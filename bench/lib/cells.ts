/**
 * One cell of the paper's latency table: an operation timed on one store, one warm-up round then
 * `rounds` timed rounds of `ops` operations each, a full GC (untimed) before every round. The same
 * code runs synchronous stores (on the main thread or in a worker thread) and asynchronous ones
 * (memjs, CachePool), so every row is measured the same way.
 */
import { hrtime } from 'node:process';
import type { Peer } from './peers.js';

/** The operations of the paper's table. */
export type PaperOp = 'get' | 'set' | 'delete' | 'incr';

/** What a cell does: keys are 'key:' + i; order holds uniform random key indexes, perm a permutation. */
export interface CellPlan {
  op: PaperOp;
  ops: number;
  rounds: number;
  /** Value size in bytes (the expected length of every get). */
  size: number;
}

/** The inputs every cell of a phase shares. */
export interface PhaseData {
  keys: readonly string[];
  order: Uint32Array;
  perm: Uint32Array;
  value: Buffer;
}

/** ns per op of each timed round, and how many ops hit (found their key, stored, counted). */
export interface CellResult {
  samples: number[];
  hits: number;
  expected: number;
  /** Single operations' times (ns), where the store's runner measures them (the C client). */
  perOp?: { min: number; p50: number; p90: number; p99: number };
}

/** An asynchronous store: the {@link Peer} operations as Promises. */
export interface AsyncPeer {
  readonly name: string;
  open(tag: string, n: number, valueSize: number): Promise<void>;
  populate(keys: readonly string[], value: Buffer): Promise<void>;
  populateCounters(keys: readonly string[]): Promise<void>;
  /** Sum of the lengths of the `n` values read. */
  get(keys: readonly string[], order: Uint32Array, n: number): Promise<number>;
  set(keys: readonly string[], order: Uint32Array, n: number, value: Buffer): Promise<number>;
  /** Deletes keys[perm[from..to)]; returns how many existed. */
  del(keys: readonly string[], perm: Uint32Array, from: number, to: number): Promise<number>;
  refill(keys: readonly string[], perm: Uint32Array, from: number, to: number, value: Buffer): Promise<void>;
  /** How many of the `n` increments found their key. */
  incr(keys: readonly string[], order: Uint32Array, n: number): Promise<number>;
  close(): Promise<void>;
}

const gc: () => void = typeof globalThis.gc === 'function' ? (globalThis.gc as () => void) : () => {};

/** What one round's loop result must be when every op hits. */
function expectedResult(plan: CellPlan): number {
  return plan.op === 'get' ? plan.ops * plan.size : plan.ops;
}

/**
 * Delete chunks: a quarter of the keys at a time (timed), then put back (untimed), so every
 * delete finds its key and the store stays at least 3/4 full.
 */
function deleteChunks(n: number, ops: number, start: number): { from: number; to: number; next: number }[] {
  const chunk = Math.max(1, Math.floor(n / 4));
  const out: { from: number; to: number; next: number }[] = [];
  let pos = start;
  for (let done = 0; done < ops; ) {
    const m = Math.min(chunk, ops - done);
    if (pos + m > n) pos = 0;
    out.push({ from: pos, to: pos + m, next: pos + m });
    pos += m;
    done += m;
  }
  return out;
}

/** Times a cell on a synchronous store that is open and populated. */
export function runSyncCell(p: Peer, plan: CellPlan, d: PhaseData): CellResult {
  const { keys, order, perm, value } = d;
  const samples: number[] = [];
  let hits = 0;
  let expected = 0;
  let pos = 0;
  for (let r = -1; r < plan.rounds; r++) {
    gc();
    let ns = 0;
    let res = 0;
    if (plan.op === 'delete') {
      for (const c of deleteChunks(keys.length, plan.ops, pos)) {
        const t0 = hrtime.bigint();
        res += p.del(keys, perm, c.from, c.to);
        ns += Number(hrtime.bigint() - t0);
        p.refill(keys, perm, c.from, c.to, value);
        pos = c.next;
      }
    } else {
      const t0 = hrtime.bigint();
      if (plan.op === 'get') res = p.get(keys, order, plan.ops);
      else if (plan.op === 'set') res = p.set(keys, order, plan.ops, value);
      else res = p.incr(keys, order, plan.ops);
      ns = Number(hrtime.bigint() - t0);
    }
    if (r >= 0) {
      samples.push(ns / plan.ops);
      hits += plan.op === 'get' ? res / Math.max(1, plan.size) : res;
      expected += expectedResult(plan) / (plan.op === 'get' ? Math.max(1, plan.size) : 1);
    }
  }
  return { samples, hits: Math.round(hits), expected: Math.round(expected) };
}

/** Times a cell on an asynchronous store, awaiting every call before the next. */
export async function runAsyncCell(p: AsyncPeer, plan: CellPlan, d: PhaseData): Promise<CellResult> {
  const { keys, order, perm, value } = d;
  const samples: number[] = [];
  let hits = 0;
  let expected = 0;
  let pos = 0;
  for (let r = -1; r < plan.rounds; r++) {
    gc();
    let ns = 0;
    let res = 0;
    if (plan.op === 'delete') {
      for (const c of deleteChunks(keys.length, plan.ops, pos)) {
        const t0 = hrtime.bigint();
        res += await p.del(keys, perm, c.from, c.to);
        ns += Number(hrtime.bigint() - t0);
        await p.refill(keys, perm, c.from, c.to, value);
        pos = c.next;
      }
    } else {
      const t0 = hrtime.bigint();
      if (plan.op === 'get') res = await p.get(keys, order, plan.ops);
      else if (plan.op === 'set') res = await p.set(keys, order, plan.ops, value);
      else res = await p.incr(keys, order, plan.ops);
      ns = Number(hrtime.bigint() - t0);
    }
    if (r >= 0) {
      samples.push(ns / plan.ops);
      hits += plan.op === 'get' ? res / Math.max(1, plan.size) : res;
      expected += expectedResult(plan) / (plan.op === 'get' ? Math.max(1, plan.size) : 1);
    }
  }
  return { samples, hits: Math.round(hits), expected: Math.round(expected) };
}
