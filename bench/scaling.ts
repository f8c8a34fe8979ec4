/**
 * `npm run bench -- scaling`: aggregate ops/s of shmcached with 1, 2, 4 … N worker_threads on one
 * shared region, for 100% get, 90/10 get/set and 50/50 get/set, with uniform and Zipfian keys.
 *
 * Method:
 * - the main thread creates one region (256 MiB, reset once) and fills it with 100k keys
 *   ('key:' + i) of 128 B values; every worker opens the same path itself with `Cache.open`;
 * - access streams are generated up front (seeded) and shared read-only with every worker through
 *   SharedArrayBuffers: a key-index stream per distribution (uniform; Zipf s = 0.99 by inverse-CDF
 *   over a precomputed table, ranks scattered over the keys by a permutation) and an op stream per
 *   mix (get or set per slot); each worker starts at its own random offset and wraps around;
 * - a cell runs on a pool of T workers: each prepares, says ready and blocks on a start barrier
 *   (Atomics.wait on a SharedArrayBuffer); the main thread releases them all at once
 *   (Atomics.notify), lets them warm up, then flips a shared phase word to "measure" and later to
 *   "stop"; each worker checks the word every 256 ops and times its own measured window, and the
 *   cell's ops/s is the sum of the workers' rates;
 * - every cell runs `reps` times (default 3); the thread counts of a mix and distribution run back
 *   to back on pools started up front, in alternating order, so machine drift hits all alike;
 *   the table shows the median; speed-up is against the 1-thread median of the same mix and key
 *   distribution, efficiency = speed-up ÷ threads.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Progress } from './lib/progress.js';
import { summarize, type Summary } from './lib/stats.js';
import { keyAt, mulberry32, permutation, uniformOrder } from './lib/rng.js';
import { partArgs, positiveInt, positiveIntList, positiveNumber } from './lib/args.js';
import { fmtCount, fmtRatio, fmtSpread, markdownTable, type Align } from './lib/format.js';
import { gitInfo, isoDay, machineInfo, repoRoot, resultFileName } from './lib/machine.js';
import { errorLine, printReport, reportHead, treeAt, writePartFiles } from './lib/report.js';
import { benchRegionPath, loadShmcached, removeRegion, staleBuildWarnings } from './lib/shm.js';
import { lineChart, type Series } from './lib/svg.js';
import type { Metric, PartOutput } from './lib/part.js';

export const description = 'aggregate ops/s with 1..N worker_threads on one region (get, 90/10, 50/50; uniform, Zipf)';

const WORKER_TAG = 'shmcached-bench-scaling';
const STREAM_BITS = 20; // 1M slots per stream (4 MiB of key indexes, 1 MiB of ops)
const STREAM_LEN = 1 << STREAM_BITS;
const CHUNK = 256; // ops between two looks at the phase word
const REGION_SIZE = '256mb';

// Control words (Int32Array over a SharedArrayBuffer).
const C_GEN = 0; // start barrier generation: workers wait while it equals the value they read
const C_PHASE = 1; // 1 warm-up, 2 measure, 3 stop
const PH_WARM = 1;
const PH_MEASURE = 2;
const PH_STOP = 3;

interface Mix {
  name: string;
  setPct: number;
}
const MIXES: readonly Mix[] = [
  { name: '100% get', setPct: 0 },
  { name: '90/10 get/set', setPct: 10 },
  { name: '50/50 get/set', setPct: 50 },
];
type Dist = 'uniform' | 'zipf';
const DISTS: readonly Dist[] = ['uniform', 'zipf'];

/** Issue 4's target: on a 2-core machine, 2 threads ≥ 1.85× the ops/s of 1 thread, 90/10 uniform. */
const TARGET = { mix: '90/10 get/set', dist: 'uniform' as Dist, threads: 2, minSpeedup: 1.85 };

interface WorkerInit {
  tag: typeof WORKER_TAG;
  entry: string;
  path: string;
  keys: number;
  valueSize: number;
  ctrl: SharedArrayBuffer;
  idx: Record<Dist, SharedArrayBuffer>;
  ops: SharedArrayBuffer[];
}

interface RunMsg {
  type: 'run';
  mix: number;
  dist: Dist;
  offset: number;
}

interface DoneMsg {
  type: 'done';
  ops: number;
  ms: number;
  misses: number;
}

// -------------------------------------------------------------------------------------------------
// Worker side: this same module, loaded by `new Worker(import.meta.url)`.

interface WorkerCache {
  get(key: string): Buffer | undefined;
  set(key: string, value: Uint8Array): void;
  close(): void;
}

async function workerMain(init: WorkerInit): Promise<void> {
  const port = parentPort!;
  const mod = (await import(new URL(`file://${init.entry}`).href)) as { Cache: { open(o: { path: string }): WorkerCache } };
  const cache = mod.Cache.open({ path: init.path });
  const keys = Array.from({ length: init.keys }, (_, i) => `key:${i}`);
  const value = Buffer.alloc(init.valueSize, 'w');
  const ctrl = new Int32Array(init.ctrl);
  const idxOf: Record<Dist, Uint32Array> = { uniform: new Uint32Array(init.idx.uniform), zipf: new Uint32Array(init.idx.zipf) };
  const opsOf = init.ops.map((b) => new Uint8Array(b));
  const mask = STREAM_LEN - 1;

  /** CHUNK ops from stream slot pos on; returns the gets that missed. */
  const burst = (idx: Uint32Array, ops: Uint8Array, pos: number): number => {
    let misses = 0;
    for (let k = 0; k < CHUNK; k++) {
      const i = (pos + k) & mask;
      const key = keyAt(keys, idx, i);
      if (ops[i] === 1) cache.set(key, value);
      else if (cache.get(key) === undefined) misses++;
    }
    return misses;
  };

  /** Runs until the phase word says stop; returns the ops and ms of the measured window. */
  const loop = (idx: Uint32Array, ops: Uint8Array, start: number, gen: number): DoneMsg => {
    port.postMessage({ type: 'ready' });
    Atomics.wait(ctrl, C_GEN, gen); // the start barrier ('not-equal' if already released)
    let pos = start & mask;
    let n = 0;
    let n0 = 0;
    let t0 = 0;
    let misses = 0;
    let phase = PH_WARM;
    for (;;) {
      misses += burst(idx, ops, pos);
      pos = (pos + CHUNK) & mask;
      n += CHUNK;
      const p = Atomics.load(ctrl, C_PHASE);
      if (p !== phase) {
        if (p === PH_MEASURE) {
          n0 = n;
          t0 = performance.now();
          misses = 0;
          phase = p;
        } else if (p === PH_STOP) {
          if (phase !== PH_MEASURE) return { type: 'done', ops: 0, ms: 0, misses };
          return { type: 'done', ops: n - n0, ms: performance.now() - t0, misses };
        }
      }
    }
  };

  port.on('message', (m: RunMsg | { type: 'exit' }) => {
    if (m.type === 'exit') {
      cache.close();
      port.close();
      return;
    }
    const ops = opsOf[m.mix];
    if (ops === undefined) throw new RangeError(`no op stream for mix ${m.mix}`);
    const gen = Atomics.load(ctrl, C_GEN);
    port.postMessage(loop(idxOf[m.dist], ops, m.offset, gen));
  });
  // Pre-warm (JIT) on every stream before the first timed run, so the first cell of a fresh pool
  // is not slower than the rest.
  for (let r = 0; r < 300; r++) for (const o of opsOf) for (const d of DISTS) burst(idxOf[d], o, (r * 7919 * CHUNK) & mask);
  port.postMessage({ type: 'init' });
}

if (!isMainThread && (workerData as WorkerInit | undefined)?.tag === WORKER_TAG) {
  workerMain(workerData as WorkerInit).catch((e: unknown) => {
    throw e instanceof Error ? e : new Error(String(e));
  });
}

// -------------------------------------------------------------------------------------------------
// Main side.

/** The part's settings, from its command line. */
function parseConfig(args: string[]) {
  const maxT = availableParallelism() * 2;
  const defaultThreads: number[] = [];
  for (let t = 1; t < maxT; t *= 2) defaultThreads.push(t);
  defaultThreads.push(maxT);
  const { values, quick, write } = partArgs(
    args,
    `npm run bench -- scaling [options]
  --threads A,B   worker thread counts (default ${defaultThreads.join(',')}: powers of 2 up to 2 × available CPUs)
  --seconds S     measured seconds per run (default 1.5)
  --warmup S      warm-up seconds per run, after the start barrier (default 0.3)
  --reps N        repetitions per cell; the table shows the median (default 3)
  --seed N        random seed for the access streams (default 42)
  --quick         1 repetition of 0.4 s (a smoke run; numbers are rougher)
  --no-write      print only; do not write bench/results/`,
  );
  return {
    threads: [...new Set(positiveIntList(values.threads, defaultThreads, 'threads'))].sort((a, b) => a - b),
    seconds: positiveNumber(values.seconds, quick ? 0.4 : 1.5, 'seconds'),
    warmup: positiveNumber(values.warmup, quick ? 0.1 : 0.3, 'warmup'),
    reps: positiveInt(values.reps, quick ? 1 : 3, 'reps'),
    keys: 100_000,
    valueSize: 128,
    zipfS: 0.99,
    seed: positiveInt(values.seed, 42, 'seed'),
    write,
    quick,
  };
}

/** Zipf(s) ranks over [0, n) by inverse CDF on a precomputed cumulative table, scattered by perm. */
function zipfOrder(count: number, n: number, s: number, rand: () => number): Uint32Array {
  const cdf = new Float64Array(n);
  let acc = 0;
  for (let r = 0; r < n; r++) cdf[r] = acc += 1 / (r + 1) ** s;
  const perm = permutation(n, rand);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const u = rand() * acc;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cdf[mid] ?? Number.POSITIVE_INFINITY) < u) lo = mid + 1;
      else hi = mid;
    }
    const r = perm[lo];
    if (r === undefined) throw new RangeError(`zipf rank ${lo} out of range`);
    out[i] = r;
  }
  return out;
}

function shared<T extends Uint32Array | Uint8Array>(src: T): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(src.byteLength);
  new Uint8Array(sab).set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
  return sab;
}

/** T workers on the region, each initialised (module loaded, region open, keys built). */
class Pool {
  readonly workers: Worker[] = [];
  private failure: Error | undefined;

  private constructor() {}

  static async start(n: number, init: WorkerInit): Promise<Pool> {
    const pool = new Pool();
    const url = new URL(import.meta.url);
    await Promise.all(
      Array.from({ length: n }, () => {
        const w = new Worker(url, { workerData: init });
        pool.workers.push(w);
        w.on('error', (e) => {
          pool.failure ??= e;
        });
        return pool.next(w, 'init');
      }),
    );
    return pool;
  }

  /** The next message of `type` from w (rejects if the worker fails or exits first). */
  next<T>(w: Worker, type: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onMsg = (m: { type: string }): void => {
        if (m.type !== type) return;
        cleanup();
        resolve(m as T);
      };
      const onErr = (e: Error): void => {
        cleanup();
        reject(e);
      };
      const onExit = (code: number): void => {
        cleanup();
        reject(this.failure ?? new Error(`worker exited (code ${code}) before '${type}'`));
      };
      const cleanup = (): void => {
        w.off('message', onMsg);
        w.off('error', onErr);
        w.off('exit', onExit);
      };
      w.on('message', onMsg);
      w.on('error', onErr);
      w.on('exit', onExit);
    });
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            w.once('exit', () => resolve());
            w.postMessage({ type: 'exit' });
            setTimeout(() => void w.terminate(), 2000).unref();
          }),
      ),
    );
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Cell {
  mix: string;
  dist: Dist;
  threads: number;
  /** Aggregate ops/s of each repetition. */
  samples: number[];
  /** Per-worker ops/s of each repetition. */
  perWorker: number[][];
  misses: number;
  error?: string;
}

/** Runs the scaling part; prints the table, writes the results (unless --no-write) and returns them. */
export async function run(args: string[]): Promise<PartOutput | void> {
  const cfg = parseConfig(args);
  const started = new Date();
  const machine = machineInfo();
  const git = gitInfo();
  const shm = await loadShmcached();
  if (!shm.ok) {
    const msg = `# shmcached scaling — ${isoDay(started)}, ${machine.hostname}\n\nshmcached is **not available** (${shm.reason}); nothing to measure.\n`;
    process.stdout.write(msg);
    return;
  }
  const warnings: string[] = [...staleBuildWarnings()];
  const entry = process.env.SHMCACHED_BENCH_MODULE || join(repoRoot(), 'dist', 'src', 'index.js');
  const t0 = Date.now();

  // Access streams, shared with every worker.
  const rand = mulberry32(cfg.seed);
  const idx: Record<Dist, SharedArrayBuffer> = {
    uniform: shared(uniformOrder(STREAM_LEN, cfg.keys, rand)),
    zipf: shared(zipfOrder(STREAM_LEN, cfg.keys, cfg.zipfS, rand)),
  };
  const ops = MIXES.map((m) => {
    const a = new Uint8Array(STREAM_LEN);
    for (let i = 0; i < STREAM_LEN; i++) a[i] = rand() * 100 < m.setPct ? 1 : 0;
    return shared(a);
  });
  const ctrlBuf = new SharedArrayBuffer(16);
  const ctrl = new Int32Array(ctrlBuf);

  // The region: created once, filled with every key.
  const path = benchRegionPath('scaling');
  const main = shm.Cache.open({ path, size: REGION_SIZE, reset: true });
  const fill = Buffer.alloc(cfg.valueSize, 'v');
  for (let i = 0; i < cfg.keys; i++) main.set(`key:${i}`, fill);
  const init: WorkerInit = { tag: WORKER_TAG, entry, path, keys: cfg.keys, valueSize: cfg.valueSize, ctrl: ctrlBuf, idx, ops };

  const cells: Cell[] = [];
  for (const mix of MIXES)
    for (const dist of DISTS)
      for (const threads of cfg.threads) cells.push({ mix: mix.name, dist, threads, samples: [], perWorker: [], misses: 0 });
  const cellOf = (mix: string, dist: Dist, threads: number): Cell =>
    cells.find((c) => c.mix === mix && c.dist === dist && c.threads === threads)!;

  const progress = new Progress(cells.length * cfg.reps);
  const offRand = mulberry32(cfg.seed ^ 0x5ca1ab1e);
  // One pool per thread count, all started up front (idle workers sleep in their event loops), so
  // the thread counts of a cell run back to back, in alternating order: machine drift (a shared
  // VM's neighbours, clock changes) then hits the 1-thread baseline and the others alike.
  const pools = new Map<number, Pool>();
  const poolErrors = new Map<number, string>();
  try {
    for (const threads of cfg.threads) {
      try {
        pools.set(threads, await Pool.start(threads, init));
      } catch (e) {
        poolErrors.set(threads, `workers failed to start: ${errorLine(e)}`);
      }
    }
    let flip = false;
    for (let rep = 0; rep < cfg.reps; rep++) {
      for (const [mi, mix] of MIXES.entries()) {
        for (const dist of DISTS) {
          const order = flip ? [...cfg.threads].reverse() : cfg.threads;
          flip = !flip;
          for (const threads of order) {
            const cell = cellOf(mix.name, dist, threads);
            progress.tick(`rep ${rep + 1}/${cfg.reps}  ${cell.mix} ${dist}  ${threads} thread${threads > 1 ? 's' : ''}`);
            const pool = pools.get(threads);
            if (!pool) cell.error ??= poolErrors.get(threads);
            if (!pool || cell.error) continue;
            try {
              Atomics.store(ctrl, C_PHASE, PH_WARM);
              const ready = pool.workers.map((w) => pool.next(w, 'ready'));
              const done = pool.workers.map((w) => pool.next<DoneMsg>(w, 'done'));
              for (const w of pool.workers)
                w.postMessage({ type: 'run', mix: mi, dist, offset: Math.floor(offRand() * STREAM_LEN) } satisfies RunMsg);
              await Promise.all(ready);
              Atomics.add(ctrl, C_GEN, 1); // release them together
              Atomics.notify(ctrl, C_GEN);
              await sleep(cfg.warmup * 1000);
              Atomics.store(ctrl, C_PHASE, PH_MEASURE);
              await sleep(cfg.seconds * 1000);
              Atomics.store(ctrl, C_PHASE, PH_STOP);
              const res = await Promise.all(done);
              const rates = res.map((r) => (r.ms > 0 ? (r.ops / r.ms) * 1000 : 0));
              if (rates.some((r) => r === 0))
                warnings.push(
                  `${cell.mix} ${dist} ${threads} threads rep ${rep + 1}: a worker measured nothing (starved through the whole window?)`,
                );
              cell.samples.push(rates.reduce((x, y) => x + y, 0));
              cell.perWorker.push(rates.map((r) => Math.round(r)));
              cell.misses += res.reduce((x, r) => x + r.misses, 0);
            } catch (e) {
              cell.error = errorLine(e);
            }
          }
        }
      }
    }
  } finally {
    progress.end();
    await Promise.all([...pools.values()].map((p) => p.stop()));
    try {
      main.close();
    } catch {
      /* ignore */
    }
    removeRegion(path);
  }
  const elapsedS = (Date.now() - t0) / 1000;

  // -----------------------------------------------------------------------------------------------
  // Report

  const med = (c: Cell | undefined): number => (c?.samples.length ? summarize(c.samples).median : Number.NaN);
  const mops = (x: number): string => (Number.isFinite(x) ? (x / 1e6).toFixed(2) : '—');
  const distLabel = (d: Dist): string => (d === 'uniform' ? `uniform ${fmtCount(cfg.keys)}` : `Zipf s=${cfg.zipfS} ${fmtCount(cfg.keys)}`);

  const rows = cells.map((c) => {
    const base = med(cellOf(c.mix, c.dist, 1));
    const m = med(c);
    const s: Summary | undefined = c.samples.length ? summarize(c.samples) : undefined;
    const speedup = cfg.threads.includes(1) ? m / base : Number.NaN;
    return { cell: c, summary: s, speedup, efficiency: speedup / c.threads };
  });
  const tableRows = rows.map(({ cell: c, summary: s, speedup, efficiency }) => [
    c.mix,
    distLabel(c.dist),
    String(c.threads),
    s ? (cfg.reps > 1 ? fmtSpread(s, mops) : mops(s.median)) : c.error ? 'error' : '—',
    fmtRatio(speedup),
    Number.isFinite(efficiency) ? `${(efficiency * 100).toFixed(0)}%` : '—',
  ]);
  const align: Align[] = ['l', 'l', 'r', 'r', 'r', 'r'];

  const t1 = med(cells.find((c) => c.mix === TARGET.mix && c.dist === TARGET.dist && c.threads === 1));
  const t2 = med(cells.find((c) => c.mix === TARGET.mix && c.dist === TARGET.dist && c.threads === TARGET.threads));
  const tRatio = t2 / t1;
  let verdict: string;
  if (!Number.isFinite(tRatio)) verdict = 'not measured (run needs 1 and 2 threads)';
  else if (tRatio >= TARGET.minSpeedup) verdict = `**met** (${fmtRatio(tRatio)})`;
  else verdict = `**missed** (${fmtRatio(tRatio)}, ${((100 * tRatio) / TARGET.minSpeedup).toFixed(0)}% of the target)`;
  const targetNote = machine.cpus !== 2 ? ` — the target is set for a 2-core machine; this one has ${machine.cpus} CPUs` : '';

  const notes: string[] = [];
  for (const c of cells) {
    if (c.error) notes.push(`${c.mix} ${c.dist} ${c.threads} threads: **failed**: ${c.error}`);
    if (c.misses > 0) notes.push(`${c.mix} ${c.dist} ${c.threads} threads: ${c.misses} gets missed (every key was stored: evictions?)`);
  }
  notes.push(...warnings);
  const oversub = cfg.threads.filter((t) => t > machine.cpus);
  if (oversub.length)
    notes.push(
      `${oversub.join(', ')} threads exceed the ${machine.cpus} CPUs: those rows show the cost of oversubscription, not more parallelism`,
    );
  const loadEnd = machineInfo().loadavg;
  if ((machine.loadavg[0] ?? 0) > machine.cpus * 0.5) {
    notes.push(
      `the machine was busy at the start (1-minute load average ${machine.loadavg[0]} on ${machine.cpus} CPUs): other work shared the CPUs, so treat these numbers as rough`,
    );
  }

  const md = reportHead('shmcached scaling', started, machine);
  md.push(
    `- shmcached: one ${REGION_SIZE.replace('mb', ' MiB')} region (reset once, ${fmtCount(cfg.keys)} keys of ${cfg.valueSize} B filled by the main thread), opened by every worker_thread with \`Cache.open({ path })\`, protection \`${shm.protection}\`` +
      (git ? `; ${treeAt(git)}` : ''),
  );
  md.push(
    `- Method: per run, T workers released together by a SharedArrayBuffer barrier, ${cfg.warmup} s warm-up, then ${cfg.seconds} s measured; ` +
      `\`get(key)\` (a Buffer copy out) / \`set(key, 128 B)\` from pre-generated shared streams (seeded; Zipf by a precomputed inverse-CDF table, ranks scattered over the keys); ` +
      `ops/s = sum of the workers' own rates; median of ${cfg.reps} repetition${cfg.reps > 1 ? 's (min–max in brackets)' : ''}; the main thread sleeps while workers run. ` +
      `Run took ${elapsedS.toFixed(0)} s.`,
  );
  md.push('');
  md.push(`## Aggregate Mops/s by worker threads; speed-up vs 1 thread of the same mix and keys; efficiency = speed-up ÷ threads`);
  md.push('');
  md.push(markdownTable(['mix', 'keys', 'threads', 'Mops/s', 'speed-up', 'efficiency'], tableRows, align));
  md.push('');
  md.push(`## Issue 4 target`);
  md.push('');
  md.push(`- 2 threads ≥ ${TARGET.minSpeedup}× 1 thread for 90/10 uniform: ${verdict} — ${mops(t1)} → ${mops(t2)} Mops/s${targetNote}`);
  md.push('');
  md.push(`![Mops/s vs threads](${resultFileName('scaling', 'svg', started)})`);
  const markdown = printReport(md, notes);

  const colors = ['#1f77b4', '#d62728', '#2ca02c'];
  const series: Series[] = [];
  MIXES.forEach((mix, mi) => {
    for (const dist of DISTS) {
      series.push({
        name: `${mix.name}, ${dist === 'uniform' ? 'uniform' : 'Zipf'}`,
        color: colors[mi % colors.length] ?? '#000',
        dashed: dist === 'zipf',
        points: cfg.threads.map((t) => [t, med(cellOf(mix.name, dist, t)) / 1e6] as const),
      });
    }
  });
  const base1 = med(cellOf(TARGET.mix, TARGET.dist, 1)) / 1e6;
  const svg = lineChart(series, {
    title: `shmcached scaling — ${machine.hostname}, ${machine.cpus} CPUs, ${isoDay(started)}`,
    xLabel: 'worker threads',
    yLabel: 'Mops/s (aggregate)',
    xTicks: cfg.threads,
    logX: cfg.threads.length > 1 && (cfg.threads[cfg.threads.length - 1] ?? 1) / (cfg.threads[0] ?? 1) > 4,
    ideal: Number.isFinite(base1) ? { base: base1, label: 'ideal (90/10 uniform)' } : undefined,
  });

  const json = {
    part: 'scaling',
    version: 1,
    date: started.toISOString(),
    machine,
    git: git ?? null,
    loadavgEnd: loadEnd,
    config: { ...cfg, regionSize: REGION_SIZE, streamLength: STREAM_LEN },
    elapsedS,
    shmcached: { available: true, protection: shm.protection },
    unit: 'ops/s (aggregate over workers)',
    rows: rows.map(({ cell: c, summary: s, speedup, efficiency }) => ({
      mix: c.mix,
      keys: c.dist,
      threads: c.threads,
      opsPerSec: s ? { ...s, reps: c.samples.map(Math.round) } : null,
      perWorker: c.perWorker,
      speedup: Number.isFinite(speedup) ? +speedup.toFixed(3) : null,
      efficiency: Number.isFinite(efficiency) ? +efficiency.toFixed(3) : null,
      misses: c.misses,
      error: c.error ?? null,
    })),
    target: {
      ...TARGET,
      oneThread: Number.isFinite(t1) ? t1 : null,
      twoThreads: Number.isFinite(t2) ? t2 : null,
      speedup: Number.isFinite(tRatio) ? +tRatio.toFixed(3) : null,
      met: Number.isFinite(tRatio) ? tRatio >= TARGET.minSpeedup : null,
    },
    notes,
    metrics: rows.flatMap(({ cell: c, summary: s }): Metric[] =>
      s ? [{ id: `scaling/${c.mix}/${c.dist}/${c.threads} threads`, value: Math.round(s.median), unit: 'ops/s', better: 'higher' }] : [],
    ),
  };
  if (cfg.write) writePartFiles('scaling', started, { md: markdown, json, svg });
  return { part: 'scaling', markdown, json };
}
