/**
 * `npm run bench -- cluster`: the hybrid {@link Cluster} client over 3 loopback nodes.
 *
 * Setup: three memcached-protocol nodes (`shmcached serve` when this build has the CLI, else
 * Debian's memcached: `--nodes memcached|shmcached`), this process being the first node: its
 * keys go to a local {@link Cache} by direct call. 10k keys of 128 B, set through the client.
 * Measured, each `--reps` times with the cells alternating:
 *
 * - latency: one operation at a time (`await cluster.get(k)` in a loop) over local keys and over
 *   remote keys, beside a bare synchronous `cache.get` for scale; ns per operation;
 * - throughput: a uniform key mix (gets, and 90% get / 10% set) with `--window` operations in
 *   flight (issued in one tick, awaited together), through the hybrid client, through the same
 *   client with no local node (every key over a socket), and through nutcracker (one pipelined
 *   client to the proxy); ops/s;
 * - the share of local keys (ketama gives each of 3 equal nodes about a third).
 *
 * Client, proxy and servers share the machine's CPUs: on 2 vCPUs this measures the whole system.
 */
import { existsSync } from 'node:fs';

import { Cache, Cluster } from '../src/index.js';
import {
  CLI,
  findNutcracker,
  startNode,
  startNutcracker,
  stopAll,
  type NodeKind,
  type Proxy,
  type TestNode,
} from '../test/support/cluster-nodes.js';
import { partArgs, positiveInt, positiveNumber } from './lib/args.js';
import { fmtNs, fmtRatio, fmtSpread, markdownTable, type Align } from './lib/format.js';
import { gitInfo, machineInfo } from './lib/machine.js';
import type { Metric, PartOutput } from './lib/part.js';
import { Progress } from './lib/progress.js';
import { machineSentence, writePartFiles } from './lib/report.js';
import { benchRegionPath, removeRegion } from './lib/shm.js';
import { summarize, type Summary } from './lib/stats.js';
import { alternate, timeBudget } from './lib/timing.js';

export const description =
  'hybrid Cluster client over 3 loopback nodes: local vs remote latency, ops/s of a uniform mix (hybrid, all-remote, via nutcracker)';

const KEYS = 10_000;
const VALUE = 128;

/** The part's settings, from its command line. */
function parseConfig(args: string[]) {
  const { values, quick, write } = partArgs(
    args,
    `npm run bench -- cluster [options]
  --nodes K      memcached | shmcached (default: shmcached when dist/src/cli/cli.js exists)
  --reps N       repetitions per cell (default 5)
  --ms M         time budget per cell and repetition, ms (default 500)
  --window N     operations in flight in the throughput cells (default 64)
  --quick        2 reps of 150 ms
  --no-write     do not write bench/results files`,
  );
  const kind = (values.nodes ?? (existsSync(CLI) ? 'shmcached' : 'memcached')) as NodeKind;
  if (kind !== 'memcached' && kind !== 'shmcached') throw new Error(`--nodes must be memcached or shmcached, got ${String(kind)}`);
  return {
    kind,
    reps: positiveInt(values.reps, quick ? 2 : 5, 'reps'),
    budgetMs: positiveNumber(values.ms, quick ? 150 : 500, 'ms'),
    window: positiveInt(values.window, 64, 'window'),
    write,
  };
}

let seed = 0x9e3779b9;
function rand(n: number): number {
  // xorshift32: cheap, and the same sequence every run.
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
}

/** A random element of `xs` (one draw of rand); throws on an empty list. */
function pick<T>(xs: readonly T[]): T {
  const x = xs[rand(xs.length)];
  if (x === undefined) throw new RangeError('pick from an empty list');
  return x;
}

/** Runs the part. */
export async function run(args: string[]): Promise<PartOutput | void> {
  const cfg = parseConfig(args);
  const progress = new Progress(2 + cfg.reps * 12);
  let nodes: TestNode[] = [];
  let proxy: Proxy | undefined;
  const path = benchRegionPath('cluster-self');
  const clients: Cluster[] = [];
  let cache: Cache | undefined;
  try {
    nodes = await Promise.all(['a', 'b', 'c'].map((n) => startNode(cfg.kind, `bench-${n}`, 128)));
    const ids = nodes.map((n) => n.id);
    if (findNutcracker() !== undefined) proxy = await startNutcracker(ids);
    const [first] = nodes;
    if (first === undefined) throw new Error('no node started');
    cache = cfg.kind === 'shmcached' ? Cache.open({ path: first.file }) : Cache.open({ path, size: '64mb', reset: true });
    const hybrid = new Cluster({ self: first.id, nodes: ids, cache });
    const remote = new Cluster({ nodes: ids });
    const viaProxy = proxy ? new Cluster({ nodes: [`127.0.0.1:${proxy.port}`] }) : undefined;
    clients.push(hybrid, remote, ...(viaProxy ? [viaProxy] : []));
    progress.tick('nodes up');

    const keys = Array.from({ length: KEYS }, (_, i) => `bench:key:${i}`);
    const value = Buffer.alloc(VALUE, 0x61);
    for (let i = 0; i < KEYS; i += 500) await Promise.all(keys.slice(i, i + 500).map((k) => hybrid.set(k, value)));
    const local = keys.filter((k) => hybrid.isLocal(k));
    const far = keys.filter((k) => !hybrid.isLocal(k));
    const share = local.length / KEYS;
    progress.tick('populated');

    const seq = (c: Cluster, ks: string[]) => async (): Promise<number> => {
      for (let i = 0; i < 200; i++) await c.get(pick(ks));
      return 200;
    };
    const bare = async (): Promise<number> => {
      for (let i = 0; i < 2000; i++) cache!.get(pick(local));
      return 2000;
    };
    const mix =
      (c: Cluster, setShare: number, window = cfg.window) =>
      async (): Promise<number> => {
        if (window === 1) {
          for (let i = 0; i < 100; i++) {
            const k = pick(keys);
            await (rand(100) < setShare ? c.set(k, value) : c.get(k));
          }
          return 100;
        }
        const ps = new Array<Promise<unknown>>(window);
        for (let i = 0; i < window; i++) {
          const k = pick(keys);
          ps[i] = rand(100) < setShare ? c.set(k, value) : c.get(k);
        }
        await Promise.all(ps);
        return window;
      };
    const cells: Array<{ id: string; round: () => Promise<number> }> = [
      { id: 'latency/Cache.get (sync, local key)', round: bare },
      { id: 'latency/get, local key', round: seq(hybrid, local) },
      { id: 'latency/get, remote key', round: seq(hybrid, far) },
      { id: 'throughput/get 1 in flight, hybrid', round: mix(hybrid, 0, 1) },
      { id: 'throughput/get 1 in flight, all remote', round: mix(remote, 0, 1) },
      { id: 'throughput/get, hybrid', round: mix(hybrid, 0) },
      { id: 'throughput/get, all remote', round: mix(remote, 0) },
      { id: 'throughput/90-10, hybrid', round: mix(hybrid, 10) },
      { id: 'throughput/90-10, all remote', round: mix(remote, 10) },
    ];
    if (viaProxy) {
      cells.push({ id: 'throughput/get 1 in flight, via nutcracker', round: mix(viaProxy, 0, 1) });
      cells.push({ id: 'throughput/get, via nutcracker', round: mix(viaProxy, 0) });
      cells.push({ id: 'throughput/90-10, via nutcracker', round: mix(viaProxy, 10) });
    }
    for (const c of cells) await timeBudget(c.round, Math.min(100, cfg.budgetMs)); // warm-up
    const samples = new Map<string, number[]>(cells.map((c) => [c.id, []]));
    for (let r = 0; r < cfg.reps; r++) {
      for (const c of alternate(cells, r)) {
        samples.get(c.id)!.push(await timeBudget(c.round, cfg.budgetMs));
        progress.tick(c.id);
      }
    }
    const s = (id: string): Summary | undefined => (samples.has(id) ? summarize(samples.get(id)!) : undefined);
    const ns = (id: string): string => {
      const x = s(id);
      return x ? fmtSpread(x, fmtNs) : '—';
    };
    const opsPerSec = (id: string): string => {
      const x = s(id);
      // ops/s from ns/op: the slowest round gives the smallest rate.
      return x
        ? fmtSpread({ median: 1e9 / x.median, min: 1e9 / x.max, max: 1e9 / x.min }, (v) => Math.round(v).toLocaleString('en-US'))
        : '—';
    };
    const med = (id: string): number => s(id)?.median ?? Number.NaN;
    const st = hybrid.stats();
    const m = machineInfo();
    const git = gitInfo();
    const md = [
      '# Cluster: the hybrid client over 3 loopback nodes',
      '',
      machineSentence(m, git),
      `Nodes: 3 × ${cfg.kind === 'shmcached' ? '`shmcached serve`' : 'memcached 1.6'} on loopback, this process is node 1 (its keys: a direct call into the local store); ${proxy ? 'nutcracker (ketama, md5) in front of the same 3 nodes; ' : 'nutcracker not installed; '}${KEYS / 1000}k keys of ${VALUE} B; medians (min–max) of ${cfg.reps} reps of ${cfg.budgetMs} ms.`,
      '',
      `Share of local keys: **${(share * 100).toFixed(1)}%** (${local.length} of ${KEYS}; ketama's ideal for 3 equal nodes is 33.3%).`,
      '',
      '## Latency, one operation at a time (ns per operation)',
      '',
      markdownTable(
        ['operation', 'ns/op', 'vs local'],
        [
          ['`cache.get` (synchronous, local key, no routing)', ns('latency/Cache.get (sync, local key)'), ''],
          ['`await cluster.get` — local key (no socket)', ns('latency/get, local key'), '1×'],
          [
            '`await cluster.get` — remote key (one request over loopback)',
            ns('latency/get, remote key'),
            fmtRatio(med('latency/get, remote key') / med('latency/get, local key')),
          ],
        ],
        ['l', 'r', 'r'],
      ),
      '',
      '## Throughput, uniform key mix (ops/s)',
      '',
      markdownTable(
        ['client', 'get, 1 in flight', `get, ${cfg.window} in flight`, `90% get / 10% set, ${cfg.window} in flight`],
        [
          [
            'hybrid (local keys by direct call)',
            opsPerSec('throughput/get 1 in flight, hybrid'),
            opsPerSec('throughput/get, hybrid'),
            opsPerSec('throughput/90-10, hybrid'),
          ],
          [
            'same client, no local node (every key over a socket)',
            opsPerSec('throughput/get 1 in flight, all remote'),
            opsPerSec('throughput/get, all remote'),
            opsPerSec('throughput/90-10, all remote'),
          ],
          [
            'one pipelined client through nutcracker',
            opsPerSec('throughput/get 1 in flight, via nutcracker'),
            opsPerSec('throughput/get, via nutcracker'),
            opsPerSec('throughput/90-10, via nutcracker'),
          ],
        ],
        ['l', 'r', 'r', 'r'] as Align[],
      ),
      '',
      `Hybrid ÷ all-remote, get: ${fmtRatio(med('throughput/get 1 in flight, all remote') / med('throughput/get 1 in flight, hybrid'))} one at a time, ${fmtRatio(med('throughput/get, all remote') / med('throughput/get, hybrid'))} with ${cfg.window} in flight; hybrid ÷ via nutcracker: ${fmtRatio(med('throughput/get 1 in flight, via nutcracker') / med('throughput/get 1 in flight, hybrid'))} and ${fmtRatio(med('throughput/get, via nutcracker') / med('throughput/get, hybrid'))}.`,
      `Hybrid client counters after the run: ${st.localOps.toLocaleString('en-US')} local operations, ${st.remoteOps.toLocaleString('en-US')} remote, ${st.ejections} ejections.`,
      '',
    ].join('\n');
    console.log(md);
    const metrics: Metric[] = [];
    for (const c of cells) {
      const x = s(c.id)!;
      if (c.id.startsWith('latency/')) metrics.push({ id: `cluster/${c.id}`, value: x.median, unit: 'ns/op', better: 'lower' });
      else metrics.push({ id: `cluster/${c.id}`, value: 1e9 / x.median, unit: 'ops/s', better: 'higher' });
    }
    metrics.push({ id: 'cluster/local key share', value: share, unit: 'fraction', better: 'higher' });
    const out = {
      machine: m,
      git,
      config: cfg,
      localShare: share,
      results: Object.fromEntries(cells.map((c) => [c.id, s(c.id)])),
      metrics,
    };
    if (cfg.write) writePartFiles('cluster', new Date(), { md, json: out });
    return { part: 'cluster', markdown: md, json: out };
  } finally {
    for (const c of clients) await c.close();
    cache?.close();
    await proxy?.stop();
    await stopAll();
    removeRegion(path);
  }
}
