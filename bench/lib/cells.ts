/**
 * One cell of the paper's latency table: an operation timed on one store, one warm-up round then
 * `rounds` timed rounds of `ops` operations each, a full GC (untimed) before every round. One
 * function runs synchronous stores (on the main thread or in a worker thread) and asynchronous ones
 * (memjs, CachePool), so every row is measured the same way.
 */
import { hrtime } from 'node:process';
import type { Peer } from './peers.js';
import { deleteChunks, gc } from './timing.js';

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

/**
 * The bookkeeping both cell runners share: ns per op of every timed round (round -1 is the
 * warm-up, not kept) and how many operations hit against how many should have.
 */
class Tally {
  private readonly samples: number[] = [];
  private hits = 0;
  private expected = 0;

  constructor(private readonly plan: CellPlan) {}

  /** Records round `r` (ignored when it is the warm-up): `ns` for the round, `res` its loop result. */
  add(r: number, ns: number, res: number): void {
    if (r < 0) return;
    const { op, ops, size } = this.plan;
    // A get round returns the bytes read: counted in values of `size` bytes.
    const unit = op === 'get' ? Math.max(1, size) : 1;
    this.samples.push(ns / ops);
    this.hits += res / unit;
    this.expected += (op === 'get' ? ops * size : ops) / unit;
  }

  result(): CellResult {
    return { samples: this.samples, hits: Math.round(this.hits), expected: Math.round(this.expected) };
  }
}

/** What a cell drives: the operations of a {@link Peer} (synchronous) or an {@link AsyncPeer}. */
export type CellStore = Pick<Peer, 'get' | 'set' | 'del' | 'refill' | 'incr'> | Pick<AsyncPeer, 'get' | 'set' | 'del' | 'refill' | 'incr'>;

/**
 * Times a cell on a store that is open and populated. Each timed call runs a whole loop of
 * operations (peers.ts), so awaiting a synchronous store's plain number costs one microtask a
 * round, not one an operation: the same code times both kinds of store.
 */
export async function runCell(p: CellStore, plan: CellPlan, d: PhaseData): Promise<CellResult> {
  const { keys, order, perm, value } = d;
  const tally = new Tally(plan);
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
        pos = c.to;
      }
    } else {
      const t0 = hrtime.bigint();
      if (plan.op === 'get') res = await p.get(keys, order, plan.ops);
      else if (plan.op === 'set') res = await p.set(keys, order, plan.ops, value);
      else res = await p.incr(keys, order, plan.ops);
      ns = Number(hrtime.bigint() - t0);
    }
    tally.add(r, ns, res);
  }
  return tally.result();
}
