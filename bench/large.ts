/**
 * `npm run bench -- large`: reading large values into a Buffer the caller owns. shmcached's
 * `get` (the value copied out of the region into a Buffer of the caller's) against lru-cache with
 * a copy out (`Buffer.from(lru.get(k))`, the fair in-process peer: a cache that hands out its own
 * Buffer lets the caller's writes change what is stored), in the same process, at 5 KB and 1 MiB
 * values. `getInto` (a copy into one reused buffer: no allocation) is the floor beside them.
 *
 * Method: one store of each holding the same keys (1000 keys of 5 KB, 32 of 1 MiB: both fit in
 * the CPU's last-level cache or not, alike); rounds of each way in turn (interleaved, so a busy
 * machine slows every row alike), each round cycling through the keys; per operation, the median
 * round's wall time and the process CPU time (user + system, which a run queue does not inflate).
 * Target (issue 18): shmcached `get` ≤ 1.0× lru-cache + copy at 5 KB.
 */
import { LRUCache } from 'lru-cache';
import { loadavg } from 'node:os';
import { partArgs } from './lib/args.js';
import { fmtBytes, fmtNs, fmtRatio, markdownTable } from './lib/format.js';
import { gitInfo, machineInfo } from './lib/machine.js';
import type { Metric, PartOutput } from './lib/part.js';
import { printReport, reportHead, treeAt, writePartFiles } from './lib/report.js';
import { pick } from './lib/rng.js';
import { benchRegionPath, loadShmcached, removeRegion } from './lib/shm.js';

/** One line for `npm run bench -- list`. */
export const description = 'large values (5 KB, 1 MiB): shmcached get vs lru-cache + copy into a Buffer the caller owns';

const TARGET = { size: 5120, max: 1.0 };

interface Way {
  name: string;
  /** Reads key `k` and returns the value's length. */
  read: (k: string) => number;
}

interface Timing {
  wallNs: number;
  cpuNs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

/** Rounds of every way in turn; the median round's per-operation wall and CPU time of each. */
function measure(ways: readonly Way[], keys: readonly string[], opsPerRound: number, rounds: number): Map<string, Timing> {
  const wall = new Map<string, number[]>();
  const cpu = new Map<string, number[]>();
  let sink = 0;
  const seq = pick(
    keys,
    Uint32Array.from({ length: opsPerRound }, (_, i) => i % keys.length),
  );
  for (let r = -1; r < rounds; r++) {
    for (const w of ways) {
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      for (const k of seq) sink += w.read(k);
      const ns = Number(process.hrtime.bigint() - t0);
      const c = process.cpuUsage(c0);
      if (r < 0) continue; // the first round warms up
      (wall.get(w.name) ?? wall.set(w.name, []).get(w.name)!).push(ns / opsPerRound);
      (cpu.get(w.name) ?? cpu.set(w.name, []).get(w.name)!).push(((c.user + c.system) * 1000) / opsPerRound);
    }
  }
  if (sink < 0) throw new Error('unreachable');
  const out = new Map<string, Timing>();
  for (const w of ways) out.set(w.name, { wallNs: median(wall.get(w.name)!), cpuNs: median(cpu.get(w.name)!) });
  return out;
}

/** Runs the part; prints the table, writes the results (unless --no-write) and returns them. */
export async function run(args: string[]): Promise<PartOutput | undefined> {
  const { quick, write } = partArgs(
    args,
    `npm run bench -- large [options]
  --quick        fewer rounds
  --no-write     print only; do not write bench/results/`,
  );
  const started = new Date();
  const machine = machineInfo();
  const git = gitInfo();
  const shm = await loadShmcached();
  if (!shm.ok) {
    process.stdout.write(`shmcached is not available: ${shm.reason}\n`);
    return undefined;
  }
  const rounds = quick ? 5 : 11;
  const plans = [
    { size: 5120, keys: 1000, ops: quick ? 20_000 : 50_000 },
    { size: 1 << 20, keys: 32, ops: quick ? 100 : 300 },
  ];
  const rows: string[][] = [];
  const metrics: Metric[] = [];
  const results: { size: number; timings: Record<string, Timing> }[] = [];
  let targetRatio = Number.NaN;
  let targetCpu = Number.NaN;
  for (const plan of plans) {
    const path = benchRegionPath(`large-${plan.size}`);
    const c = shm.Cache.open({ path, size: plan.size > 65536 ? '128mb' : '64mb', reset: true, itemSizeMax: '2mb' });
    const lru = new LRUCache<string, Buffer>({ max: plan.keys * 2 });
    const value = Buffer.alloc(plan.size, 'v');
    const keys: string[] = [];
    for (let i = 0; i < plan.keys; i++) {
      const k = `large:${i}`;
      keys.push(k);
      c.set(k, value);
      lru.set(k, Buffer.from(value));
    }
    const target = Buffer.allocUnsafe(plan.size);
    const ways: Way[] = [
      { name: 'shmcached get', read: (k) => c.get(k)!.length },
      { name: 'lru-cache + copy', read: (k) => Buffer.from(lru.get(k)!).length },
      ...(c.getInto ? [{ name: 'shmcached getInto (reused buffer)', read: (k: string) => c.getInto!(k, target)! }] : []),
    ];
    const t = measure(ways, keys, plan.ops, rounds);
    c.close();
    removeRegion(path);
    const get = t.get('shmcached get')!;
    const lruT = t.get('lru-cache + copy')!;
    const into = t.get('shmcached getInto (reused buffer)');
    const ratio = get.wallNs / lruT.wallNs;
    if (plan.size === TARGET.size) {
      targetRatio = ratio;
      targetCpu = get.cpuNs / lruT.cpuNs;
    }
    rows.push([
      fmtBytes(plan.size),
      fmtNs(get.wallNs),
      fmtNs(lruT.wallNs),
      fmtRatio(ratio),
      fmtNs(get.cpuNs),
      fmtNs(lruT.cpuNs),
      fmtRatio(get.cpuNs / lruT.cpuNs),
      into ? fmtNs(into.wallNs) : '—',
    ]);
    results.push({ size: plan.size, timings: Object.fromEntries(t) });
    for (const [name, v] of t)
      metrics.push({ id: `large/${fmtBytes(plan.size)}/${name}`, value: +v.wallNs.toFixed(1), unit: 'ns', better: 'lower' });
  }
  const endLoad = loadavg();
  const met = Number.isFinite(targetRatio) && targetRatio <= TARGET.max;
  const md = reportHead('shmcached large values', started, machine);
  md.push(
    `- shmcached: \`Cache.open({ size: '64mb' / '128mb', itemSizeMax: '2mb' })\`, protection \`${shm.protection}\`${git ? `, ${treeAt(git)}` : ''}; lru-cache: \`new LRUCache({ max })\`, read as \`Buffer.from(lru.get(k))\`. Load average at the end ${endLoad.map((x) => x.toFixed(2)).join(' / ')}.`,
    `- Method: ${rounds} rounds of each way in turn (interleaved), per operation the median round; wall time, then process CPU time (user + system).`,
    '',
    '## Reading a value into a Buffer the caller owns',
    '',
    markdownTable(
      [
        'value',
        'shmcached get (ns/op)',
        'lru-cache + copy (ns/op)',
        'shm ÷ lru',
        'shm CPU (ns/op)',
        'lru CPU (ns/op)',
        'CPU ratio',
        'getInto, reused buffer (ns/op)',
      ],
      rows,
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    '## Target (issue 18)',
    '',
    `- get ${fmtBytes(TARGET.size)} ≤ ${TARGET.max.toFixed(1)}× lru-cache + copy (wall time): ${Number.isFinite(targetRatio) ? (met ? '**met**' : '**missed**') : 'not measured'} (${fmtRatio(targetRatio)}; CPU time ${fmtRatio(targetCpu)})`,
  );
  const markdown = printReport(md, []);
  const json = {
    part: 'large',
    version: 1,
    date: started.toISOString(),
    machine,
    git: git ?? null,
    loadEnd: endLoad,
    rounds,
    results,
    target: {
      ...TARGET,
      ratio: Number.isFinite(targetRatio) ? +targetRatio.toFixed(3) : null,
      cpuRatio: Number.isFinite(targetCpu) ? +targetCpu.toFixed(3) : null,
      met,
    },
    metrics,
  };
  if (write) writePartFiles('large', started, { md: markdown, json });
  return { part: 'large', markdown, json };
}
