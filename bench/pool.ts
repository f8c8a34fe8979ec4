/**
 * `npm run bench -- pool`: what one operation costs through {@link CachePool}, at batch sizes 1,
 * 10, 100 and 1000 (that many gets issued in one tick, then awaited together), over both
 * transports — the Atomics channel (default) and piscina tasks — beside raw piscina running an
 * empty task (the same number of tasks in flight at once) and a synchronous `Cache.get` for scale.
 *
 * Method: one region, 10k keys of 128 B values; every cell runs rounds of its batch until a time
 * budget is spent, `reps` times, alternating cells between reps so that drift hits all alike; the
 * table shows the median ns per operation (per task for the empty-task column) with min–max.
 * Issue 4's targets: ≤ 200 ns per operation at batch 1000, and a lone `await pool.get()` (batch 1)
 * faster than a piscina task's round trip.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

import { Piscina } from 'piscina';

import { Cache, CachePool } from '../src/index.js';
import { fmtNs, fmtRatio, markdownTable, type Align } from './lib/format.js';
import { describeMachine, gitInfo, machineInfo, writeResults } from './lib/machine.js';
import { Progress } from './lib/progress.js';
import type { Metric, PartOutput } from './lib/part.js';
import { benchRegionPath, removeRegion } from './lib/shm.js';
import { summarize, type Summary } from './lib/stats.js';

export const description = 'CachePool ns/op at batch 1, 10, 100, 1000 (Atomics channel, piscina) beside an empty piscina task';

const KEYS = 10_000;
const VALUE = 128;
const BATCHES = [1, 10, 100, 1000];
const EMPTY_TASK = fileURLToPath(new URL('./pool-empty-task.cjs', import.meta.url));

interface Config {
  threads: number;
  reps: number;
  budgetMs: number;
  write: boolean;
}

/** Runs `round(batch)` repeatedly for about `budgetMs`; returns ns per operation. */
async function timeCell(round: (batch: number) => Promise<unknown>, batch: number, budgetMs: number): Promise<number> {
  let rounds = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < budgetMs) {
    await round(batch);
    rounds++;
    t = performance.now();
  }
  return ((t - t0) * 1e6) / (rounds * batch);
}

function keysFor(batch: number, seed: { i: number }): string[] {
  const ks = new Array<string>(batch);
  for (let j = 0; j < batch; j++) {
    seed.i = (seed.i * 1103515245 + 12345) >>> 0;
    ks[j] = `key:${seed.i % KEYS}`;
  }
  return ks;
}

/** Runs the part. */
export async function run(args: string[]): Promise<PartOutput | void> {
  const { values } = parseArgs({
    args,
    options: {
      threads: { type: 'string', default: '2' },
      reps: { type: 'string', default: '5' },
      budget: { type: 'string', default: '300' },
      quick: { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log('usage: npm run bench -- pool [--threads N] [--reps N] [--budget MS per cell] [--quick] [--no-write]');
    return;
  }
  const cfg: Config = {
    threads: Number(values.threads),
    reps: values.quick ? 2 : Number(values.reps),
    budgetMs: values.quick ? 80 : Number(values.budget),
    write: !values['no-write'],
  };

  const path = benchRegionPath('pool');
  const cache = Cache.open({ path, size: '64mb', reset: true });
  const value = Buffer.alloc(VALUE, 0x61);
  for (let i = 0; i < KEYS; i++) cache.set(`key:${i}`, value);
  const atomics = new CachePool({ path, threads: cfg.threads, transport: 'atomics' });
  const atomicsNoPoll = new CachePool({ path, threads: cfg.threads, transport: 'atomics', spinMicros: 0 });
  const piscinaPool = new CachePool({ path, threads: cfg.threads, transport: 'piscina' });
  const empty = new Piscina({ filename: EMPTY_TASK, minThreads: cfg.threads, maxThreads: cfg.threads, idleTimeout: Infinity });

  const seed = { i: 1 };
  const poolRound = (pool: CachePool) => (batch: number) => {
    const ks = keysFor(batch, seed);
    const ps = new Array<Promise<Buffer | undefined>>(batch);
    for (let j = 0; j < batch; j++) ps[j] = pool.get(ks[j]!);
    return Promise.all(ps);
  };
  const cells: { name: string; round: (batch: number) => Promise<unknown> }[] = [
    { name: 'CachePool (atomics)', round: poolRound(atomics) },
    { name: 'CachePool.getMany (atomics)', round: (batch) => atomics.getMany(keysFor(batch, seed)) },
    { name: 'CachePool (atomics, no polling)', round: poolRound(atomicsNoPoll) },
    { name: 'CachePool (piscina)', round: poolRound(piscinaPool) },
    {
      name: 'piscina empty task',
      round: (batch) => {
        const ps = new Array<Promise<unknown>>(batch);
        for (let j = 0; j < batch; j++) ps[j] = empty.run(null);
        return Promise.all(ps);
      },
    },
    {
      name: 'Cache.get (sync)',
      round: (batch) => {
        const ks = keysFor(batch, seed);
        for (let j = 0; j < batch; j++) cache.get(ks[j]!);
        return Promise.resolve();
      },
    },
  ];

  const samples = new Map<string, number[]>();
  const progress = new Progress(1 + cfg.reps * BATCHES.length * cells.length);
  // Warm-up: every cell once, briefly.
  for (const b of BATCHES) for (const c of cells) await timeCell(c.round, b, Math.min(50, cfg.budgetMs));
  progress.tick('warm-up');
  for (let r = 0; r < cfg.reps; r++) {
    const order = r % 2 === 0 ? cells : [...cells].reverse();
    for (const b of BATCHES) {
      for (const c of order) {
        const ns = await timeCell(c.round, b, cfg.budgetMs);
        const k = `${c.name}|${b}`;
        if (!samples.has(k)) samples.set(k, []);
        samples.get(k)!.push(ns);
        progress.tick(`${c.name}, batch ${b}`);
      }
    }
  }
  await atomics.close();
  await atomicsNoPoll.close();
  await piscinaPool.close();
  await empty.destroy();
  cache.close();
  removeRegion(path);

  const sum = (name: string, b: number): Summary => summarize(samples.get(`${name}|${b}`)!);
  const cell = (s: Summary): string => `${fmtNs(s.median)} (${fmtNs(s.min)}–${fmtNs(s.max)})`;
  const rows: string[][] = [];
  const json: Record<string, Record<number, Summary>> = {};
  for (const c of cells) {
    json[c.name] = {};
    for (const b of BATCHES) json[c.name]![b] = sum(c.name, b);
  }
  const names = cells.map((c) => c.name);
  for (const b of BATCHES) {
    const e = sum('piscina empty task', b).median;
    const best = Math.min(sum('CachePool (atomics)', b).median, sum('CachePool.getMany (atomics)', b).median);
    rows.push([String(b), ...names.map((n) => cell(sum(n, b))), fmtRatio(sum('CachePool (piscina)', b).median / sum('CachePool (atomics)', b).median), fmtRatio(e / best)]);
  }
  const align: Align[] = ['r', ...names.map((): Align => 'r'), 'r', 'r'];
  const a1 = sum('CachePool (atomics)', 1).median;
  const a1000 = Math.min(sum('CachePool (atomics)', 1000).median, sum('CachePool.getMany (atomics)', 1000).median);
  const e1 = sum('piscina empty task', 1).median;
  const m = machineInfo();
  const git = gitInfo();
  const md = [
    '# CachePool: per-operation cost by batch size',
    '',
    `Machine: ${describeMachine(m)}${git ? `; commit ${git.commit}${git.dirty ? ' (dirty)' : ''}` : ''}.`,
    `${cfg.threads} worker threads per pool; get of 128 B values over ${KEYS} keys; ns per operation, median (min–max) of ${cfg.reps} reps.`,
    '',
    'Columns: `batch` gets called in one tick then awaited together (`pool.get` each), or one `pool.getMany` of that many keys; "no polling" is `spinMicros: 0`; the empty-task column is per task with that many tasks in flight.',
    '',
    markdownTable(['batch', ...names, 'piscina ÷ atomics (get)', 'empty task ÷ best atomics'], rows, align),
    '',
    '## Issue 4 targets',
    '',
    `- ≤ 200 ns per operation at batch 1000 (atomics, best of get and getMany): ${a1000 <= 200 ? '**met**' : '**missed**'} — ${fmtNs(a1000)}`,
    `- a lone \`await pool.get()\` faster than a piscina task round trip: ${a1 < e1 ? '**met**' : '**missed**'} — ${fmtNs(a1)} vs ${fmtNs(e1)} (${fmtRatio(e1 / a1)})`,
    '',
  ].join('\n');
  console.log(md);
  const metrics: Metric[] = [];
  for (const c of cells) for (const b of BATCHES) metrics.push({ id: `pool/${c.name}/batch ${b}`, value: sum(c.name, b).median, unit: 'ns/op', better: 'lower' });
  const out = { machine: m, git, config: cfg, results: json, metrics };
  if (cfg.write) {
    const paths = writeResults('pool', md, out);
    process.stderr.write(`wrote ${paths.md} and ${paths.json}\n`);
  }
  return { part: 'pool', markdown: md, json: out };
}
