/**
 * The timing scaffolding the parts share: a full GC between rounds, the split of rounds into two
 * blocks run in opposite orders (so machine drift hits every store alike), a cell timed against a
 * time budget, and the chunks a delete round works through.
 */
import { performance } from 'node:perf_hooks';

/** A full GC when node runs with --expose-gc (the bench script passes it), else nothing. */
export const gc: () => void = typeof globalThis.gc === 'function' ? (globalThis.gc as () => void) : () => {};

/** A note for the report when no GC can run between rounds (undefined when one can). */
export function noGcNote(): string | undefined {
  return typeof globalThis.gc === 'function' ? undefined : 'run without --expose-gc: no GC between rounds, expect more spread';
}

/** `rounds` split into two blocks (the first the larger), or one block when there is one round. */
export function splitBlocks(rounds: number): number[] {
  return rounds >= 2 ? [Math.ceil(rounds / 2), Math.floor(rounds / 2)] : [rounds];
}

/** The order of block or repetition `i`: `list` as is when i is even, reversed when odd. */
export function alternate<T>(list: readonly T[], i: number): readonly T[] {
  return i % 2 === 0 ? list : [...list].reverse();
}

/**
 * Runs `round` (which does some operations and returns how many) until `budgetMs` is spent;
 * returns the wall time in ns per operation.
 */
export async function timeBudget(round: () => Promise<number>, budgetMs: number): Promise<number> {
  let ops = 0;
  const t0 = performance.now();
  const end = t0 + budgetMs;
  while (performance.now() < end) ops += await round();
  return ((performance.now() - t0) * 1e6) / ops;
}

/** One timed piece of a delete round: keys perm[from..to) go, then come back untimed. */
export interface DeleteChunk {
  from: number;
  to: number;
}

/**
 * A delete round of `ops` deletes over `n` keys, starting at permutation position `start`: a
 * quarter of the keys at a time (timed), each put back (untimed) before the next, so every
 * delete finds its key and the store stays at least 3/4 full. Wraps to 0 at the end.
 */
export function deleteChunks(n: number, ops: number, start: number): DeleteChunk[] {
  const chunk = Math.max(1, Math.floor(n / 4));
  const out: DeleteChunk[] = [];
  let pos = start;
  for (let done = 0; done < ops; ) {
    const m = Math.min(chunk, ops - done);
    if (pos + m > n) pos = 0;
    out.push({ from: pos, to: pos + m });
    pos += m;
    done += m;
  }
  return out;
}
