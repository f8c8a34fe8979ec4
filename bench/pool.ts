/**
 * `npm run bench -- pool`: what one operation costs through {@link CachePool}, beside the
 * synchronous `Cache.get` measured in the same run, idle and with every core busy.
 *
 * Rows: the synchronous get and getMany; a lone `await pool.get()`; batches of 1, 10, 100 and 1000 gets
 * (`Promise.all` of `pool.get`, and one `pool.getMany`) for each way a pool runs them — `inline:
 * 'auto'` (the default: on the calling thread unless a split across idle workers measurably pays),
 * `inline: 'never'` over the Atomics channel with sleeping workers (`spinMicros: 0`, the default)
 * and with polling workers (`spinMicros: 50`), and over piscina — beside raw piscina running an
 * empty task. Each cell shows wall ns per operation and, beside it, CPU ns per operation
 * (`process.cpuUsage()`, every thread of the process: a polling worker's spin shows here).
 *
 * The loaded rows run the same lone and batch-1000 cells while N child processes (N =
 * `os.availableParallelism()`) each spin a busy loop.
 *
 * Floor rows, measured in the same run: what the promise machinery costs without the pool — a
 * lone `await cache.get()` and `await Promise.resolve(cache.get())`; `Promise.all` of a batch of
 * `Promise.resolve(cache.get())`, of already-resolved promises and of promises resolved from a
 * queue (no store read). The verdicts say how much of a cell is that floor.
 *
 * Isolation: the lone-await cells run again in a phase of their own, last, once the other pools
 * are closed, so the auto pool is the only pool in the process (no other pool's workers, no
 * piscina threads), beside the sync get and the await floors; the verdict for the lone await
 * uses that phase. The main table's cells run
 * with every pool open: the other pools' workers then sleep (only the spin pool's workers poll,
 * for 50 µs after each of their own answers), which the CPU column (all threads) shows.
 *
 * Method: one region, 10k keys of 128 B values; every cell runs rounds of its batch until a time
 * budget is spent, `reps` times, alternating the order of cells between reps so that drift hits
 * all alike, each after a full GC (with --expose-gc); the table shows medians. Issue 18's targets: a lone awaited get ≤ 2x the sync get
 * idle and ≤ 3x loaded; ≤ 200 ns per operation at batch 1000 (Promise.all of gets, and getMany).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
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
import { summarize } from './lib/stats.js';

export const description =
  'CachePool beside the sync Cache.get: lone await, batches 1–1000 (inline/auto, Atomics, piscina), wall and CPU ns/op, idle and loaded';

const KEYS = 10_000;
const VALUE = 128;
const BATCHES = [1, 10, 100, 1000];
const EMPTY_TASK = fileURLToPath(new URL('./pool-empty-task.cjs', import.meta.url));

interface Config {
  threads: number;
  reps: number;
  budgetMs: number;
  write: boolean;
  loaded: boolean;
}

/** One measurement: wall and CPU (all threads) ns per operation. */
interface Sample {
  wall: number;
  cpu: number;
}

/** Runs `round(batch)` repeatedly for about `budgetMs` (a round that returns undefined is not awaited). */
async function timeCell(round: (batch: number) => Promise<unknown> | undefined, batch: number, budgetMs: number): Promise<Sample> {
  let rounds = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < budgetMs) {
    const p = round(batch);
    if (p !== undefined) await p;
    rounds++;
    t = performance.now();
  }
  const c = process.cpuUsage(c0);
  const ops = rounds * batch;
  return { wall: ((t - t0) * 1e6) / ops, cpu: ((c.user + c.system) * 1e3) / ops };
}

const seed = { i: 1 };
function keysFor(batch: number): string[] {
  const ks = new Array<string>(batch);
  for (let j = 0; j < batch; j++) {
    seed.i = (seed.i * 1103515245 + 12345) >>> 0;
    ks[j] = `key:${seed.i % KEYS}`;
  }
  return ks;
}

interface Cell {
  name: string;
  /** Batch sizes this cell runs (default all). */
  batches?: number[];
  /** Whether it runs in the loaded phase too. */
  loaded?: boolean;
  round: (batch: number) => Promise<unknown> | undefined;
}

/** `global.gc` when the process runs with --expose-gc (as `npm run bench` does). */
const collect = (globalThis as { gc?: () => void }).gc;

/** Starts `n` child processes that each spin until killed. */
function startBusy(n: number): ChildProcess[] {
  return Array.from({ length: n }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
}

async function measure(cells: Cell[], cfg: Config, phase: string, progress: Progress, samples: Map<string, Sample[]>): Promise<void> {
  // Warm-up: every cell once, briefly.
  for (const c of cells) for (const b of c.batches ?? BATCHES) await timeCell(c.round, b, Math.min(40, cfg.budgetMs));
  for (let r = 0; r < cfg.reps; r++) {
    const order = r % 2 === 0 ? cells : [...cells].reverse();
    for (const c of order) {
      for (const b of c.batches ?? BATCHES) {
        // A clean heap for each cell, so that the garbage of the one before (a batch of 1000
        // promises and views) is not collected on this cell's clock. `npm run bench` exposes gc.
        collect?.();
        const s = await timeCell(c.round, b, cfg.budgetMs);
        const k = `${phase}|${c.name}|${b}`;
        if (!samples.has(k)) samples.set(k, []);
        samples.get(k)!.push(s);
        progress.tick(`${phase}: ${c.name}, batch ${b}`);
      }
    }
  }
}

/** Runs the part. */
export async function run(args: string[]): Promise<PartOutput | void> {
  const { values } = parseArgs({
    args,
    options: {
      threads: { type: 'string', default: '2' },
      reps: { type: 'string', default: '3' },
      budget: { type: 'string', default: '200' },
      quick: { type: 'boolean', default: false },
      'no-loaded': { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log('usage: npm run bench -- pool [--threads N] [--reps N] [--budget MS per cell] [--quick] [--no-loaded] [--no-write]');
    return;
  }
  const cfg: Config = {
    threads: Number(values.threads),
    reps: values.quick ? 2 : Number(values.reps),
    budgetMs: values.quick ? 60 : Number(values.budget),
    write: !values['no-write'],
    loaded: !values['no-loaded'],
  };

  const path = benchRegionPath('pool');
  const cache = Cache.open({ path, size: '64mb', reset: true });
  const value = Buffer.alloc(VALUE, 0x61);
  for (let i = 0; i < KEYS; i++) cache.set(`key:${i}`, value);
  const auto = new CachePool({ path, threads: cfg.threads });
  const ONE = Buffer.alloc(8);
  const syncCell: Cell = {
    name: 'Cache.get (sync)',
    loaded: true,
    round: (batch) => {
      for (const k of keysFor(batch)) cache.get(k);
      return undefined;
    },
  };
  const LONE = [100];
  // A pool is passed as a getter: the cells of the other pools are made before those pools open.
  const lone = (pool: () => CachePool) => async (batch: number) => {
    const p = pool();
    for (const k of keysFor(batch)) await p.get(k);
  };
  // Phase 'alone': the auto pool is the only pool in the process.
  const aloneCells: Cell[] = [
    { ...syncCell, batches: LONE },
    {
      name: 'floor: lone await cache.get()',
      batches: LONE,
      round: async (batch) => {
        for (const k of keysFor(batch)) await cache.get(k);
      },
    },
    {
      name: 'floor: lone await Promise.resolve(cache.get())',
      batches: LONE,
      round: async (batch) => {
        for (const k of keysFor(batch)) await Promise.resolve(cache.get(k));
      },
    },
    { name: 'lone await pool.get (auto)', batches: LONE, round: lone(() => auto) },
  ];
  // The other pools open just before the idle phase (the cells below read these when they run).
  let never!: CachePool;
  let spin!: CachePool;
  let pisc!: CachePool;
  let empty!: Piscina;

  const gets = (pool: () => CachePool) => (batch: number) => {
    const p = pool();
    return Promise.all(keysFor(batch).map((k) => p.get(k)));
  };
  const cells: Cell[] = [
    syncCell,
    {
      name: 'Cache.getMany (sync)',
      loaded: true,
      round: (batch) => {
        cache.getMany(keysFor(batch));
        return undefined;
      },
    },
    { name: 'lone await pool.get (auto)', batches: LONE, loaded: true, round: lone(() => auto) },
    { name: 'lone await pool.get (never, Atomics)', batches: LONE, loaded: true, round: lone(() => never) },
    { name: 'lone await pool.get (never, Atomics, spin 50 µs)', batches: LONE, round: lone(() => spin) },
    { name: 'lone await pool.get (never, piscina)', batches: LONE, round: lone(() => pisc) },
    { name: 'pool.get ×batch (auto)', loaded: true, round: gets(() => auto) },
    { name: 'pool.getMany (auto)', loaded: true, round: (batch) => auto.getMany(keysFor(batch)) },
    { name: 'pool.get ×batch (never, Atomics)', loaded: true, round: gets(() => never) },
    { name: 'pool.getMany (never, Atomics)', loaded: true, round: (batch) => never.getMany(keysFor(batch)) },
    { name: 'pool.get ×batch (never, Atomics, spin 50 µs)', round: gets(() => spin) },
    { name: 'pool.get ×batch (never, piscina)', round: gets(() => pisc) },
    {
      name: 'floor: Promise.all of Promise.resolve(cache.get())',
      round: (batch) => Promise.all(keysFor(batch).map((k) => Promise.resolve(cache.get(k)))),
    },
    {
      name: 'floor: Promise.all of resolved promises (no get)',
      round: (batch) => Promise.all(keysFor(batch).map(() => Promise.resolve(ONE))),
    },
    {
      name: 'floor: Promise.all of promises resolved from a queue (no get)',
      round: (batch) => {
        const settle: ((v: Buffer) => void)[] = [];
        const all = Promise.all(keysFor(batch).map(() => new Promise<Buffer>((resolve) => settle.push(resolve))));
        for (const r of settle) r(ONE);
        return all;
      },
    },
    {
      name: 'piscina empty task (per task)',
      round: (batch) => {
        const ps = new Array<Promise<unknown>>(batch);
        for (let j = 0; j < batch; j++) ps[j] = empty.run(null);
        return Promise.all(ps);
      },
    },
  ];
  const loadedCells = cells
    .filter((c) => c.loaded)
    .map((c) => ({ ...c, batches: c.name.startsWith('lone') ? LONE : c.name === 'Cache.get (sync)' ? [100] : [1000] }));

  const samples = new Map<string, Sample[]>();
  const steps =
    cfg.reps *
    (aloneCells.length +
      cells.reduce((a, c) => a + (c.batches ?? BATCHES).length, 0) +
      (cfg.loaded ? loadedCells.reduce((a, c) => a + c.batches.length, 0) : 0));
  const progress = new Progress(steps);
  const loadIdle = loadavg()
    .map((x) => x.toFixed(2))
    .join(' / ');
  never = new CachePool({ path, threads: cfg.threads, inline: 'never' });
  spin = new CachePool({ path, threads: cfg.threads, inline: 'never', spinMicros: 50 });
  pisc = new CachePool({ path, threads: cfg.threads, inline: 'never', transport: 'piscina' });
  empty = new Piscina({ filename: EMPTY_TASK, minThreads: cfg.threads, maxThreads: cfg.threads, idleTimeout: Infinity });
  await measure(cells, cfg, 'idle', progress, samples);
  let loadBusy = '';
  const busyN = availableParallelism();
  if (cfg.loaded) {
    const busy = startBusy(busyN);
    try {
      await new Promise((r) => setTimeout(r, 500)); // let them start
      await measure(loadedCells, cfg, 'loaded', progress, samples);
      loadBusy = loadavg()
        .map((x) => x.toFixed(2))
        .join(' / ');
    } finally {
      for (const b of busy) b.kill('SIGKILL');
    }
  }
  await never.close();
  await spin.close();
  await pisc.close();
  await empty.destroy();
  // Phase 'alone' last, warm, with the other pools closed and no busy-loop process left.
  await measure(aloneCells, cfg, 'alone', progress, samples);
  const autoStats = auto.stats();
  await auto.close();
  cache.close();
  removeRegion(path);

  const med = (phase: string, name: string, b: number): Sample => {
    const ss = samples.get(`${phase}|${name}|${b}`);
    if (!ss) return { wall: Number.NaN, cpu: Number.NaN };
    return { wall: summarize(ss.map((s) => s.wall)).median, cpu: summarize(ss.map((s) => s.cpu)).median };
  };
  const fmt = (s: Sample): string => (Number.isFinite(s.wall) ? `${fmtNs(s.wall)} (${fmtNs(s.cpu)})` : '');
  const rows: string[][] = [];
  for (const c of cells) {
    // A lone-await row shows under batch 1 (it awaits each get before the next).
    if (c.batches === LONE) rows.push([c.name, fmt(med('idle', c.name, 100)), '', '', '']);
    else rows.push([c.name, ...BATCHES.map((b) => fmt(med('idle', c.name, b)))]);
  }
  const loadedRows: string[][] = [];
  for (const c of loadedCells) {
    const [batch] = c.batches;
    if (batch === undefined) throw new Error(`${c.name}: no batch size under load`);
    loadedRows.push([
      c.name,
      c.batches.includes(1000) ? '1000' : c.name.startsWith('lone') ? '1 (awaited one at a time)' : '—',
      fmt(med('loaded', c.name, batch)),
    ]);
  }

  const aloneRows = aloneCells.map((c) => [c.name, fmt(med('alone', c.name, 100))]);
  // The lone-await verdict: the phase where the auto pool is the only pool in the process.
  const sync = med('alone', 'Cache.get (sync)', 100);
  const lone1 = med('alone', 'lone await pool.get (auto)', 100);
  const awaitFloor = med('alone', 'floor: lone await cache.get()', 100);
  const resolveFloor = med('alone', 'floor: lone await Promise.resolve(cache.get())', 100);
  const loneAll = med('idle', 'lone await pool.get (auto)', 100);
  const syncAll = med('idle', 'Cache.get (sync)', 100);
  const allGet1000 = med('idle', 'floor: Promise.all of Promise.resolve(cache.get())', 1000);
  const allResolved1000 = med('idle', 'floor: Promise.all of resolved promises (no get)', 1000);
  const allQueue1000 = med('idle', 'floor: Promise.all of promises resolved from a queue (no get)', 1000);
  const syncL = med('loaded', 'Cache.get (sync)', 100);
  const loneL = med('loaded', 'lone await pool.get (auto)', 100);
  const b1000 = med('idle', 'pool.get ×batch (auto)', 1000);
  const sync1000 = med('idle', 'Cache.get (sync)', 1000);
  const m1000 = med('idle', 'pool.getMany (auto)', 1000);
  const many1000 = med('idle', 'Cache.getMany (sync)', 1000);
  const b1000L = med('loaded', 'pool.get ×batch (auto)', 1000);
  const m1000L = med('loaded', 'pool.getMany (auto)', 1000);
  const cpuNote = (x: Sample): string =>
    `CPU ${fmtNs(x.cpu)} ns/op (${x.cpu <= 200 ? '≤' : '>'} 200; ${fmtRatio(x.cpu / sync1000.cpu)} the sync get's ${fmtNs(sync1000.cpu)}, ${fmtRatio(x.cpu / many1000.cpu)} Cache.getMany's ${fmtNs(many1000.cpu)})`;
  const loadedNote = (x: Sample): string =>
    cfg.loaded ? `; every core busy: ${fmtNs(x.wall)} ns/op (CPU ${fmtNs(x.cpu)}, ${fmtRatio(x.cpu / syncL.cpu)} the sync get's)` : '';
  const spinLone = med('idle', 'lone await pool.get (never, Atomics, spin 50 µs)', 100);
  const sleepLone = med('idle', 'lone await pool.get (never, Atomics)', 100);
  const verdict = (ok: boolean): string => (ok ? '**met**' : '**missed**');
  // The least any Promise.all of gets can cost here: its promises alone (already resolved, no read) plus the cheapest read (one getMany's share).
  const anyFloor = allResolved1000.wall + many1000.wall;
  /** A difference in ns with its sign; a negative one is within the run's noise (the pool runs the floor's work and more). */
  const signed = (d: number, unit: string): string => `${d >= 0 ? '+' : '−'}${fmtNs(Math.abs(d))} ${unit}${d < 0 ? ' (within noise)' : ''}`;
  const targets = [
    `- lone \`await pool.get()\` ≤ 2x the sync get, idle: ${verdict(lone1.wall <= 2 * sync.wall)} — ${fmtNs(lone1.wall)} vs ${fmtNs(sync.wall)} ns (${fmtRatio(lone1.wall / sync.wall)}; CPU ${fmtRatio(lone1.cpu / sync.cpu)}), the auto pool alone in the process. Floor: \`await cache.get()\` ${fmtNs(awaitFloor.wall)} ns (${fmtRatio(awaitFloor.wall / sync.wall)} the sync get), \`await Promise.resolve(cache.get())\` ${fmtNs(resolveFloor.wall)} (${fmtRatio(resolveFloor.wall / sync.wall)}): the pool's cost beyond the promise it must return: ${signed(lone1.wall - resolveFloor.wall, 'ns')}. With every pool open: ${fmtNs(loneAll.wall)} vs ${fmtNs(syncAll.wall)} ns (${fmtRatio(loneAll.wall / syncAll.wall)})`,
    cfg.loaded
      ? `- lone \`await pool.get()\` ≤ 3x the sync get, every core busy: ${verdict(loneL.wall <= 3 * syncL.wall)} — ${fmtNs(loneL.wall)} vs ${fmtNs(syncL.wall)} ns (${fmtRatio(loneL.wall / syncL.wall)}; CPU ${fmtRatio(loneL.cpu / syncL.cpu)})`
      : '- loaded rows skipped (--no-loaded)',
    `- batch of 1000, \`Promise.all\` of \`pool.get\`, ≤ 200 ns/op: ${verdict(b1000.wall <= 200)} — ${fmtNs(b1000.wall)} ns/op (${fmtRatio(b1000.wall / 200)} of target; ${fmtRatio(b1000.wall / sync1000.wall)} the sync get's ${fmtNs(sync1000.wall)} in the same run); ${cpuNote(b1000)}${loadedNote(b1000L)}. Floor on this host, same run: \`Promise.all\` of 1000 already-resolved promises (no store read) ${fmtNs(allResolved1000.wall)} ns/op (CPU ${fmtNs(allResolved1000.cpu)}), of 1000 promises resolved from a queue ${fmtNs(allQueue1000.wall)}; with the cheapest read (Cache.getMany's ${fmtNs(many1000.wall)}) no \`Promise.all\` of gets costs less than ${fmtNs(anyFloor)} ns/op here (${anyFloor > 200 ? 'above 200: no pool can meet the target on this host' : 'within 200'}). What the pool runs at the call, \`Promise.all\` of 1000 \`Promise.resolve(cache.get())\`: ${fmtNs(allGet1000.wall)} ns/op (CPU ${fmtNs(allGet1000.cpu)}); the pool's cost beyond it: ${signed(b1000.wall - allGet1000.wall, 'ns/op')}`,
    `- batch of 1000, \`pool.getMany\`, ≤ 200 ns/op: ${verdict(m1000.wall <= 200)} — ${fmtNs(m1000.wall)} ns/op (${fmtRatio(m1000.wall / 200)} of target; ${fmtRatio(m1000.wall / sync1000.wall)} the sync get's, ${fmtRatio(m1000.wall / many1000.wall)} Cache.getMany's ${fmtNs(many1000.wall)}); ${cpuNote(m1000)}${loadedNote(m1000L)}`,
  ];
  const m = machineInfo();
  const git = gitInfo();
  const md = [
    '# CachePool: per-operation cost beside the synchronous get',
    '',
    `Machine: ${describeMachine(m)}${git ? `; commit ${git.commit}${git.dirty ? ' (dirty)' : ''}` : ''}.`,
    `Load average when the idle rows started: ${loadIdle}${cfg.loaded ? `; at the end of the loaded rows (${busyN} busy-loop processes): ${loadBusy}` : ''}.`,
    `${cfg.threads} worker threads per pool; gets of 128 B values over ${KEYS} keys; median of ${cfg.reps} reps of ${cfg.budgetMs} ms.`,
    `Each cell: wall ns per operation (CPU ns per operation, all threads of the process). The auto pool's cost model at the end: ${fmtNs(autoStats.opNs)} ns/op inline, hop ${fmtNs(autoStats.hopNs)} ns; ${autoStats.inlineOps} of ${autoStats.ops} operations ran inline, in ${autoStats.tasks} worker tasks otherwise.`,
    '',
    '## Lone await, the auto pool alone in the process',
    '',
    markdownTable(['row', 'ns/op (CPU ns/op)'], aloneRows, ['l', 'r']),
    '',
    '## Idle, every pool open',
    '',
    markdownTable(['row', ...BATCHES.map((b) => `batch ${b}`)], rows, ['l', ...BATCHES.map((): Align => 'r')]),
    '',
    `Polling's price: a lone get costs ${fmtNs(spinLone.cpu)} CPU ns with \`spinMicros: 50\` against ${fmtNs(sleepLone.cpu)} with sleeping workers (wall ${fmtNs(spinLone.wall)} vs ${fmtNs(sleepLone.wall)}).`,
    '',
    ...(cfg.loaded
      ? [
          `## Every core busy (${busyN} busy-loop processes)`,
          '',
          markdownTable(['row', 'batch', 'ns/op (CPU ns/op)'], loadedRows, ['l', 'r', 'r']),
          '',
        ]
      : []),
    '## Issue 18 targets',
    '',
    ...targets,
    '',
  ].join('\n');
  console.log(md);
  const metrics: Metric[] = [];
  for (const [k, ss] of samples)
    metrics.push({ id: `pool/${k}`, value: summarize(ss.map((s) => s.wall)).median, unit: 'ns/op', better: 'lower' });
  const json: Record<string, Sample> = {};
  for (const [k] of samples) {
    const [phase, name, b] = k.split('|');
    json[k] = med(phase!, name!, Number(b));
  }
  const out = { machine: m, git, config: cfg, loadIdle, loadBusy, autoStats, results: json, metrics };
  if (cfg.write) {
    const paths = writeResults('pool', md, out);
    process.stderr.write(`wrote ${paths.md} and ${paths.json}\n`);
  }
  return { part: 'pool', markdown: md, json: out };
}
