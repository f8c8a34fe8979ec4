/**
 * One row of `npm run bench -- instr`, run under callgrind by bench/instr.ts:
 * `node --single-threaded dist/bench/instr-child.js <row> <rounds> <region path>`.
 *
 * Fills a region with 10,000 keys of 128 B values, runs the row's round {@link WARM} times (so the
 * JIT has settled), then `rounds` more times, and exits. The parent runs it with 0 and with N
 * rounds and divides the difference of the two instruction counts by N × {@link PER_ROUND}: what
 * is left is the instructions of one operation, start-up, loading and warm-up cancelled out.
 */
import { rmSync } from 'node:fs';

import { Cache, CachePool } from '../src/index.js';

/** Rounds run before the measured ones, in both runs of a row. */
export const WARM = 30;
/** Operations per round. */
export const PER_ROUND = 1000;
const KEYS = 10_000;

/** The rows, by name: each returns one round of PER_ROUND operations (awaited when a promise). */
export const ROWS = [
  'sync get',
  'sync getMany',
  'floor: await cache.get()',
  'floor: await Promise.resolve(cache.get())',
  'await pool.get()',
  'floor: Promise.all of Promise.resolve(cache.get())',
  'floor: Promise.all of resolved promises (no get)',
  'Promise.all of pool.get',
  'pool.getMany',
] as const;

/** A row's name. */
export type Row = (typeof ROWS)[number];

async function main(): Promise<void> {
  const [row, roundsArg, path] = process.argv.slice(2) as [Row, string, string];
  if (!ROWS.includes(row) || !path) throw new Error(`usage: instr-child <row> <rounds> <path>; rows: ${ROWS.join(', ')}`);
  const rounds = Number(roundsArg);
  const cache = Cache.open({ path, size: '64mb', reset: true });
  // A fixed split threshold: the cost model's timings mean nothing under callgrind, and no flush
  // of these rows may go to a worker (its instructions would count).
  const pool = new CachePool({ path, threads: 1, splitAt: 1e9 });
  const keys: string[] = [];
  const value = Buffer.alloc(128, 'v');
  for (let i = 0; i < KEYS; i++) {
    keys.push(`instr:key:${i}`);
    cache.set(`instr:key:${i}`, value);
  }
  let at = 0;
  const next = (): string => keys[at++ % KEYS] as string;
  // The batch rows' key arrays, made before the count starts (KEYS / PER_ROUND of them, in turn).
  const batches: string[][] = Array.from({ length: KEYS / PER_ROUND }, (_, b) => keys.slice(b * PER_ROUND, (b + 1) * PER_ROUND));
  let nextBatch = 0;
  const batch = (): string[] => batches[nextBatch++ % batches.length] as string[];
  const round: Record<Row, () => unknown> = {
    'sync get': () => {
      for (let i = 0; i < PER_ROUND; i++) cache.get(next());
    },
    'sync getMany': () => cache.getMany(batch()),
    'floor: await cache.get()': async () => {
      for (let i = 0; i < PER_ROUND; i++) await cache.get(next());
    },
    'floor: await Promise.resolve(cache.get())': async () => {
      for (let i = 0; i < PER_ROUND; i++) await Promise.resolve(cache.get(next()));
    },
    'await pool.get()': async () => {
      for (let i = 0; i < PER_ROUND; i++) await pool.get(next());
    },
    'floor: Promise.all of Promise.resolve(cache.get())': () => Promise.all(batch().map((k) => Promise.resolve(cache.get(k)))),
    'floor: Promise.all of resolved promises (no get)': () => Promise.all(batch().map((k) => Promise.resolve(k))),
    'Promise.all of pool.get': () => Promise.all(batch().map((k) => pool.get(k))),
    'pool.getMany': () => pool.getMany(batch()),
  };
  const run = round[row];
  // A full collection after the warm-up and after the measured rounds, in both runs of a row: the
  // garbage the rounds made is collected (and counted) inside the count, not whenever the heap
  // happens to grow, which made two runs of the same row differ by up to 30%.
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('instr-child: run node with --expose-gc');
  for (let i = 0; i < WARM; i++) await run();
  gc();
  for (let i = 0; i < rounds; i++) await run();
  gc();
  await pool.close();
  cache.close();
  rmSync(path, { force: true });
}

// Only as a script (bench/instr.ts imports the row names).
if (process.argv[1]?.endsWith('instr-child.js')) await main();
