/**
 * `npm run bench -- latency`: the paper's table. Per-operation latency of get 128 B, get 5 KB,
 * set 128 B, set 5 KB, delete and incr through every way a Node.js program could reach a cache:
 *
 * - shmcached, direct calls from the main thread and from a worker thread;
 * - shmcached's CachePool, one awaited operation at a time (batch 1) and 100 per call (batch 100);
 * - a real memcached on loopback (started here), driven by a blocking C client that does one
 *   round trip at a time (bench/native/mcbench.c: the paper's "memcached over sockets"), by the
 *   same client busy-polling its socket (no client wake-up, but it holds a CPU the server may
 *   need: a cross-check), and by memjs;
 * - lmdb-js (getBinaryFast / putSync with noSync), lru-cache with copy-out, a JS Map with copies.
 *
 * Method: keys 'key:' + i, uniform random order (seeded, generated up front); per store and
 * phase a fresh store is populated (128 B values: get, set, delete; 5 KB values: get, set;
 * counters: incr); per cell one warm-up round, then timed rounds, a full GC before each. The rounds
 * are split into two blocks run in opposite store orders, so machine drift hits every store alike.
 * Delete removes existing keys a quarter of the key space at a time (timed) and puts them back
 * (untimed). Fast stores run `--ops` operations a round; stores whose operation crosses a socket,
 * a thread hop or an fsync-free disk write run `--slow-ops`. The table shows the median of the
 * rounds and their min–max.
 */
import { Worker } from 'node:worker_threads';
import { summarize, type Summary } from './lib/stats.js';
import { mulberry32, permutation, randomLetters, uniformOrder } from './lib/rng.js';
import { partArgs, positiveInt } from './lib/args.js';
import { fmtCount, fmtRatio, fmtSpread, markdownTable, type Align } from './lib/format.js';
import { busyNote, gitInfo, isoDay, machineInfo, resultFileName } from './lib/machine.js';
import { errorLine, printReport, reportHead, treeAt, writePartFiles } from './lib/report.js';
import { alternate, noGcNote, splitBlocks } from './lib/timing.js';
import { loadShmcached, staleBuildWarnings, type ShmLoad } from './lib/shm.js';
import { MemjsPeer, PoolPeer } from './lib/peers-async.js';
import { runCell, type AsyncPeer, type CellPlan, type CellResult, type PaperOp, type PhaseData } from './lib/cells.js';
import { mcbenchBinary, mcbenchLat } from './lib/mcbench.js';
import { startMemcached, type MemcachedServer } from './lib/memcached.js';
import { Progress } from './lib/progress.js';
import { barChart } from './lib/svg.js';
import type { Metric, PartOutput } from './lib/part.js';
import { HOST_TAG, type HostPeer, type HostPhase, type HostReply } from './lib/latency-host.js';
import { fork } from 'node:child_process';
import { valueRows } from './lib/latency-values.js';
import { fileURLToPath } from 'node:url';

/** One line for `npm run bench -- list`. */
export const description =
  "the paper's table: get/set/delete/incr via shmcached (main, worker, CachePool), memcached (C client, memjs), lmdb-js, lru-cache, Map";

/** The rows of the paper's table, in its order. */
interface RowDef {
  label: string;
  op: PaperOp;
  /** Value bytes; 0 for incr's decimal counters. */
  size: number;
  /** The paper's numbers (µs): memcached, the protected library with Hodor, speed-up. */
  paper: [number, number, number];
}
const ROWS: readonly RowDef[] = [
  { label: 'Get 128 B', op: 'get', size: 128, paper: [13, 0.67, 19] },
  { label: 'Get 5 KB', op: 'get', size: 5120, paper: [13, 0.67, 20] },
  { label: 'Set 128 B', op: 'set', size: 128, paper: [13, 1.2, 11] },
  { label: 'Set 5 KB', op: 'set', size: 5120, paper: [17, 1.5, 11] },
  { label: 'Delete', op: 'delete', size: 128, paper: [10, 0.21, 56] },
  { label: 'Increment', op: 'incr', size: 0, paper: [54, 1.6, 36] },
];

/** The columns: every way of reaching a cache that is measured. */
const PEERS = [
  'memcached C',
  'memcached C spin',
  'memjs',
  'shmcached',
  'shmcached getInto',
  'shmcached worker',
  'CachePool b1',
  'CachePool b100',
  'lmdb-js',
  'lru-cache',
  'Map',
] as const;
type PeerId = (typeof PEERS)[number];
const PEER_TITLE: Record<PeerId, string> = {
  'memcached C': 'memcached, C client',
  'memcached C spin': 'memcached, C spin',
  memjs: 'memcached, memjs',
  shmcached: 'shmcached main',
  'shmcached getInto': 'shmcached getInto',
  'shmcached worker': 'shmcached worker',
  'CachePool b1': 'CachePool b1',
  'CachePool b100': 'CachePool b100',
  'lmdb-js': 'lmdb-js',
  'lru-cache': 'lru-cache + copy',
  Map: 'Map + copy',
};
const PEER_COLOR: Record<PeerId, string> = {
  'memcached C': '#b2182b',
  'memcached C spin': '#ef8a62',
  memjs: '#fddbc7',
  shmcached: '#1a9850',
  'shmcached getInto': '#00441b',
  'shmcached worker': '#66bd63',
  'CachePool b1': '#a6d96a',
  'CachePool b100': '#d9ef8b',
  'lmdb-js': '#4575b4',
  'lru-cache': '#91bfdb',
  Map: '#999999',
};

/** The issue's targets for this table. */
const TARGETS = [
  { what: 'get 128 B speed-up over memcached (C client)', row: 'Get 128 B', min: 100 },
  { what: 'set 128 B speed-up', row: 'Set 128 B', min: 70 },
  { what: 'delete speed-up', row: 'Delete', min: 100 },
] as const;

/** Keys in every store unless --keys says otherwise. */
const DEFAULT_KEYS = 100_000;

/** The part's settings, from its command line. */
type Config = ReturnType<typeof parseConfig>;

function parseConfig(args: string[]) {
  const { values, quick, write } = partArgs(
    args,
    `npm run bench -- latency [options]
  --rounds N        timed rounds per cell (default 6, in two blocks)
  --ops N           operations per round, in-process stores (default 50000)
  --slow-ops N      operations per round over sockets, thread hops, lmdb writes (default 3000)
  --keys N          keys in every store (default 100000; another count writes latency-<N>-keys files)
  --pool-threads N  CachePool worker threads (default 2)
  --peers A,B       only these columns (${PEERS.join(', ')})
  --seed N          random seed (default 42)
  --quick           2 rounds, 10000 / 1000 ops, 20000 keys (a smoke run; rough numbers)
  --no-write        print only; do not write bench/results/`,
  );
  const peers = new Set<PeerId>();
  for (const p of (values.peers ?? PEERS.join(',')).split(',').map((x) => x.trim())) {
    const id = PEERS.find((q) => q.toLowerCase() === p.toLowerCase());
    if (!id) throw new RangeError(`--peers: unknown column '${p}' (${PEERS.join(', ')})`);
    peers.add(id);
  }
  return {
    rounds: positiveInt(values.rounds, quick ? 2 : 6, 'rounds'),
    ops: positiveInt(values.ops, quick ? 10_000 : 50_000, 'ops'),
    slowOps: positiveInt(values['slow-ops'], quick ? 1000 : 3000, 'slow-ops'),
    keys: positiveInt(values.keys, quick ? 20_000 : DEFAULT_KEYS, 'keys'),
    poolThreads: positiveInt(values['pool-threads'], 2, 'pool-threads'),
    seed: positiveInt(values.seed, 42, 'seed'),
    peers,
    write,
  };
}

/** µs with three significant digits: 0.197, 1.23, 50.5, 123. */
export function fmtUs(ns: number): string {
  if (!Number.isFinite(ns)) return '—';
  const us = ns / 1000;
  if (us >= 100) return us.toFixed(0);
  if (us >= 10) return us.toFixed(1);
  if (us >= 1) return us.toFixed(2);
  return us.toFixed(3);
}

/** Whether a column measures an operation ('shmcached getInto' differs from 'shmcached' only in get). */
function peerRuns(peer: PeerId, op: PaperOp): boolean {
  return peer !== 'shmcached getInto' || op === 'get';
}

/** Operations per round for a store and an operation: fewer where each costs microseconds. */
function opsFor(cfg: Config, peer: PeerId, op: PaperOp): number {
  switch (peer) {
    case 'memcached C':
    case 'memcached C spin':
    case 'memjs':
    case 'CachePool b1':
      return cfg.slowOps;
    case 'lmdb-js':
      return op === 'get' ? cfg.ops : cfg.slowOps;
    case 'CachePool b100':
      return Math.max(100, Math.floor(cfg.ops / 500) * 100);
    default:
      return cfg.ops;
  }
}

/** A store in the table: how to run one phase (a fresh store, several cells) on it. */
type Runner = (tag: string, n: number, size: number, d: PhaseData, plans: CellPlan[]) => Promise<CellResult[]>;

const hostModule = fileURLToPath(new URL('./lib/latency-host.js', import.meta.url));

function phaseMessage(peer: HostPeer, tag: string, n: number, size: number, d: PhaseData, plans: CellPlan[]): HostPhase {
  return { peer, tag, n, size, value: new Uint8Array(d.value), order: d.order, perm: d.perm, plans };
}

/** A synchronous store timed on the main thread of a fresh node process (one per phase). */
function processRunner(peer: HostPeer): Runner {
  return (tag, n, size, d, plans) =>
    new Promise((resolve, reject) => {
      const child = fork(hostModule, [HOST_TAG], {
        execArgv: ['--expose-gc'],
        serialization: 'advanced',
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      let reply: HostReply | undefined;
      child.once('message', (r: HostReply) => (reply = r));
      child.once('error', reject);
      child.once('exit', (code, sig) => {
        if (!reply) reject(new Error(`${peer} host process exited with ${code ?? sig} before answering`));
        else if (reply.ok) resolve(reply.results);
        else reject(new Error(reply.error));
      });
      child.send(phaseMessage(peer, tag, n, size, d, plans));
    });
}

function asyncRunner(make: () => AsyncPeer): Runner {
  return async (tag, n, size, d, plans) => {
    const p = make();
    try {
      await p.open(tag, n, Math.max(size, 8));
      if (size > 0) await p.populate(d.keys, d.value);
      else await p.populateCounters(d.keys);
      const out: CellResult[] = [];
      for (const plan of plans) out.push(await runCell(p, plan, d));
      return out;
    } finally {
      await p.close();
    }
  };
}

function workerRunner(worker: Worker): Runner {
  return (tag, n, size, d, plans) =>
    new Promise((resolve, reject) => {
      const msg = phaseMessage('shmcached', `w-${tag}`, n, size, d, plans);
      const onError = (e: Error): void => reject(e);
      worker.once('error', onError);
      worker.once('message', (r: HostReply) => {
        worker.off('error', onError);
        if (r.ok) resolve(r.results);
        else reject(new Error(r.error));
      });
      worker.postMessage(msg);
    });
}

/** The C client runs its own populate and rounds against the shared memcached. */
function mcRunner(server: MemcachedServer, spin: boolean, seed: number): Runner {
  return async (_tag, n, size, _d, plans) => {
    const out: CellResult[] = [];
    for (const plan of plans) {
      const r = await mcbenchLat({
        port: server.port,
        op: plan.op,
        size: Math.max(size, 1),
        keys: n,
        ops: plan.ops,
        rounds: plan.rounds,
        seed,
        spin,
      });
      out.push({ samples: r.rounds, hits: r.hits, expected: r.expected, perOp: r.perOp });
    }
    return out;
  };
}

interface CellOut {
  samples: number[];
  hits: number;
  expected: number;
  error?: string;
  /** Per block, where measured: single operations' percentiles (ns). */
  perOp?: NonNullable<CellResult['perOp']>[];
}

/** Runs the table; prints it, writes the results (unless --no-write) and returns them. */
export async function run(args: string[]): Promise<PartOutput> {
  const cfg = parseConfig(args);
  const started = new Date();
  const machine = machineInfo();
  const git = gitInfo();
  const shm: ShmLoad = await loadShmcached();
  const notes: string[] = [];
  if (shm.ok) notes.push(...staleBuildWarnings());
  else notes.push(`shmcached is not available (${shm.reason}): its columns are empty`);
  const noGc = noGcNote();
  if (noGc) notes.push(noGc);

  // The stores of this run, each with its runner (skipped ones say why).
  const runners = new Map<PeerId, Runner>();
  const unavailable = new Map<PeerId, string>();
  const want = (p: PeerId): boolean => cfg.peers.has(p);
  let server: MemcachedServer | undefined;
  let worker: Worker | undefined;
  const needsMemcached = want('memcached C') || want('memcached C spin') || want('memjs');
  if (needsMemcached) {
    try {
      server = await startMemcached(['-m', '2048', '-c', '1024']);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      for (const p of ['memcached C', 'memcached C spin', 'memjs'] as const) unavailable.set(p, why);
    }
  }
  if (server) {
    let cOk = true;
    try {
      mcbenchBinary();
    } catch (e) {
      cOk = false;
      const why = e instanceof Error ? e.message : String(e);
      unavailable.set('memcached C', why);
      unavailable.set('memcached C spin', why);
    }
    if (cOk && want('memcached C')) runners.set('memcached C', mcRunner(server, false, cfg.seed));
    if (cOk && want('memcached C spin')) runners.set('memcached C spin', mcRunner(server, true, cfg.seed));
    if (want('memjs'))
      runners.set(
        'memjs',
        asyncRunner(() => new MemjsPeer(server!.port)),
      );
  }
  if (shm.ok) {
    if (want('shmcached')) runners.set('shmcached', processRunner('shmcached'));
    if (want('shmcached getInto')) runners.set('shmcached getInto', processRunner('shmcached getInto'));
    if (want('shmcached worker')) {
      worker = new Worker(hostModule, { workerData: { tag: HOST_TAG } });
      runners.set('shmcached worker', workerRunner(worker));
    }
    const Pool = shm.CachePool;
    for (const [id, batch] of [
      ['CachePool b1', 1],
      ['CachePool b100', 100],
    ] as const) {
      if (!want(id)) continue;
      if (Pool)
        runners.set(
          id,
          asyncRunner(() => new PoolPeer(shm.Cache, Pool, batch, cfg.poolThreads)),
        );
      else unavailable.set(id, 'this build exports no CachePool');
    }
  } else {
    for (const p of ['shmcached', 'shmcached worker', 'CachePool b1', 'CachePool b100'] as const) unavailable.set(p, shm.reason);
  }
  for (const p of ['lmdb-js', 'lru-cache', 'Map'] as const) if (want(p)) runners.set(p, processRunner(p));
  const active = PEERS.filter((p) => runners.has(p));

  // Phases: one fresh store per value size.
  const phases = [128, 5120, 0].map((size) => ({ size, rows: ROWS.filter((r) => r.size === size) }));
  const blocks = splitBlocks(cfg.rounds);
  const cells = new Map<string, CellOut>(); // `${row}|${peer}`
  const progress = new Progress(phases.length * blocks.length * active.length);
  const t0 = Date.now();
  const n = cfg.keys;
  const rand = mulberry32(cfg.seed);
  const keys = Array.from({ length: n }, (_, i) => `key:${i}`);
  const order = uniformOrder(Math.max(cfg.ops, cfg.slowOps), n, rand);
  const perm = permutation(n, rand);

  try {
    for (const phase of phases) {
      const value = randomLetters(phase.size, rand);
      const d: PhaseData = { keys, order, perm, value };
      for (const [b, rounds] of blocks.entries()) {
        for (const peer of alternate(active, b)) {
          progress.tick(`${phase.rows.map((r) => r.label).join(', ')}  ${PEER_TITLE[peer]}`);
          const rows = phase.rows.filter((r) => peerRuns(peer, r.op));
          if (rows.length === 0) continue;
          const plans: CellPlan[] = rows.map((r) => ({ op: r.op, ops: opsFor(cfg, peer, r.op), rounds, size: phase.size }));
          const already = rows.some((r) => cells.get(`${r.label}|${peer}`)?.error);
          if (already) continue;
          try {
            const results = await runners.get(peer)!(`${phase.size || 'ctr'}-${b}`, n, phase.size, d, plans);
            rows.forEach((r, i) => {
              const res = results[i];
              if (res === undefined) throw new Error(`${PEER_TITLE[peer]} returned ${results.length} results for ${rows.length} rows`);
              const key = `${r.label}|${peer}`;
              const c = cells.get(key) ?? { samples: [], hits: 0, expected: 0 };
              c.samples.push(...res.samples);
              c.hits += res.hits;
              c.expected += res.expected;
              const po = res.perOp;
              if (po) (c.perOp ??= []).push(po);
              cells.set(key, c);
            });
          } catch (e) {
            const msg = errorLine(e);
            for (const r of rows) cells.set(`${r.label}|${peer}`, { samples: [], hits: 0, expected: 0, error: msg });
          }
        }
      }
    }
  } finally {
    progress.end();
    if (worker) {
      worker.postMessage('exit');
      await worker.terminate();
    }
    await server?.stop();
  }
  const elapsedS = (Date.now() - t0) / 1000;

  // ---------------------------------------------------------------------------------------------
  // Report

  const sum = (row: string, peer: PeerId): Summary | undefined => {
    const c = cells.get(`${row}|${peer}`);
    return c?.samples.length ? summarize(c.samples) : undefined;
  };
  const cellText = (row: string, peer: PeerId): string => {
    const s = sum(row, peer);
    if (s) return fmtSpread(s, fmtUs);
    const c = cells.get(`${row}|${peer}`);
    if (c?.error) return 'error';
    return unavailable.has(peer) || !cfg.peers.has(peer) ? 'n/a' : '—';
  };
  const ratio = (row: string, num: PeerId, den: PeerId): number => {
    const a = sum(row, num);
    const b = sum(row, den);
    return a && b ? a.median / b.median : Number.NaN;
  };
  for (const row of ROWS) {
    for (const peer of active.filter((p) => peerRuns(p, row.op))) {
      const c = cells.get(`${row.label}|${peer}`);
      if (c?.error) notes.push(`${row.label}, ${PEER_TITLE[peer]}: **failed**: ${c.error}`);
      else if (c && c.hits !== c.expected) notes.push(`${row.label}, ${PEER_TITLE[peer]}: ${c.hits} of ${c.expected} operations hit`);
    }
  }
  for (const [peer, why] of unavailable) if (cfg.peers.has(peer)) notes.push(`${PEER_TITLE[peer]}: not measured (${why})`);
  const busy = busyNote(machine);
  if (busy) notes.push(busy);
  for (const peer of ['memcached C', 'memcached C spin'] as const) {
    const parts = ROWS.flatMap((r) => {
      const po = cells.get(`${r.label}|${peer}`)?.perOp;
      if (!po?.length) return [];
      const list = (k: 'p50' | 'p99'): string => po.map((x) => fmtUs(x[k])).join(' / ');
      return [`${r.label} p50 ${list('p50')}, p99 ${list('p99')}`];
    });
    if (parts.length) notes.push(`${PEER_TITLE[peer]}, single round trips in µs (one value per block of rounds): ${parts.join('; ')}`);
  }

  const paperHeaders = [
    'Operation',
    'memcached, C client (µs)',
    'shmcached, main thread (µs)',
    'speed-up',
    'shmcached, worker (µs)',
    'speed-up',
    'vs. C spin client',
    'paper: memcached',
    'paper: Plib w/ Hodor',
    'paper: speed-up',
  ];
  const paperAlign: Align[] = ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'];
  const paperRows = ROWS.map((r) => [
    r.label,
    cellText(r.label, 'memcached C'),
    cellText(r.label, 'shmcached'),
    fmtRatio(ratio(r.label, 'memcached C', 'shmcached')),
    cellText(r.label, 'shmcached worker'),
    fmtRatio(ratio(r.label, 'memcached C', 'shmcached worker')),
    fmtRatio(ratio(r.label, 'memcached C spin', 'shmcached')),
    `${r.paper[0]} µs`,
    `${r.paper[1]} µs`,
    `${r.paper[2]}×`,
  ]);
  const allHeaders = ['Operation', ...active.map((p) => PEER_TITLE[p])];
  const allRows = ROWS.map((r) => [r.label, ...active.map((p) => cellText(r.label, p))]);
  const ratioRows = ROWS.map((r) => [r.label, ...active.map((p) => fmtRatio(ratio(r.label, 'memcached C', p)))]);

  const verdict = (ok: boolean | undefined): string => (ok === undefined ? 'not measured' : ok ? '**met**' : '**missed**');
  const targetRows: { what: string; value: string; target: string; met: boolean | undefined }[] = [];
  for (const t of TARGETS) {
    const r = ratio(t.row, 'memcached C', 'shmcached');
    targetRows.push({ what: t.what, value: fmtRatio(r), target: `≥ ${t.min}×`, met: Number.isFinite(r) ? r >= t.min : undefined });
  }
  const vs = [
    ['lmdb-js', 'lmdb-js getBinaryFast', 'shmcached'],
    ['lmdb-js', 'lmdb-js getBinaryFast', 'shmcached getInto'],
    ['lru-cache', 'lru-cache with copy-out', 'shmcached'],
  ] as const;
  for (const [peer, title, ours] of vs) {
    for (const row of ['Get 128 B', 'Get 5 KB']) {
      const r = ratio(row, peer, ours);
      const how = ours === 'shmcached' ? 'get' : 'getInto';
      targetRows.push({
        what: `${row.replace('Get', 'get')}: shmcached ${how} vs ${title} (${title} ÷ shmcached)`,
        value: fmtRatio(r),
        target: '> 1× (faster)',
        met: Number.isFinite(r) ? r > 1 : undefined,
      });
    }
  }

  const md = reportHead("shmcached latency: the paper's table", started, machine);
  md.push(
    shm.ok
      ? `- shmcached: protection \`${shm.protection}\`${git ? `, ${treeAt(git)}` : ''}`
      : `- shmcached: **not available** (${shm.reason})`,
  );
  md.push(
    `- memcached: ${server ? `\`memcached ${server.args.join(' ')}\` on loopback (memcached ${server.version}, ${server.bin})` : 'not started'}; C client = bench/native/mcbench.c, one blocking round trip at a time over one TCP_NODELAY connection (text protocol); "C spin" = the same client busy-polling its socket; memjs ${'1.3'} (binary protocol, one connection, each call awaited).`,
  );
  md.push(`- shmcached main = \`cache.get(k)\` (a Buffer the caller owns, a view of a 256 KiB arena the addon fills), getInto = \`cache.getInto(k, buf)\` into one reused buffer (no allocation, like lmdb-js's getBinaryFast); each main-thread column runs in a fresh node process per value size, the worker column in a worker_thread of the bench process.
- CachePool: ${cfg.poolThreads} worker threads; b1 = \`await pool.get(k)\` one at a time, b100 = \`await pool.batch(ops)\` with 100 operations, per operation. lmdb-js: \`getBinaryFast\` (no copy), \`putSync\`/\`removeSync\` with \`noSync\`, incr = read + \`putSync\`. lru-cache and Map: get copies out (\`Buffer.from\`), set stores a copy; incr on a bigint.`);
  md.push(
    `- Method: ${fmtCount(cfg.keys)} keys ('key:' + i), uniform random order; a fresh store per value size; 1 warm-up + ${cfg.rounds} timed rounds per cell in ${blocks.length} blocks of opposite store order, a full GC before each round; ` +
      `${cfg.ops.toLocaleString('en-US')} ops a round in-process, ${cfg.slowOps.toLocaleString('en-US')} over sockets / CachePool b1 / lmdb writes. Run took ${elapsedS.toFixed(0)} s.`,
  );
  md.push('');
  md.push(`## The paper's table — µs per operation, median (min–max); speed-up = memcached ÷ shmcached`);
  md.push('');
  md.push(markdownTable(paperHeaders, paperRows, paperAlign));
  md.push('');
  md.push('## Every store — µs per operation, median (min–max)');
  md.push('');
  md.push(markdownTable(allHeaders, allRows, ['l', ...active.map((): Align => 'r')]));
  md.push('');
  md.push('## memcached (C client) ÷ each store');
  md.push('');
  md.push(markdownTable(['Operation', ...active.map((p) => PEER_TITLE[p])], ratioRows, ['l', ...active.map((): Align => 'r')]));
  md.push('');
  md.push('## Targets (issue 7)');
  md.push('');
  md.push(
    markdownTable(
      ['measure', 'this run', 'target', 'result'],
      targetRows.map((t) => [t.what, t.value, t.target, verdict(t.met)]),
      ['l', 'r', 'r', 'l'],
    ),
  );
  md.push('');
  // A run at another key count is another experiment: its files get their own name.
  const fileTag = cfg.keys === DEFAULT_KEYS ? 'latency' : `latency-${fmtCount(cfg.keys)}-keys`;
  md.push(`![latency, log scale](${resultFileName(fileTag, 'svg', started)})`);
  md.push('');
  // Values and codecs (issue 19): its own section, measured after the main table (bench/lib/latency-values.ts).
  const values = await valueRows(
    { rounds: cfg.rounds, ops: Math.min(cfg.ops, 100_000), keys: Math.min(cfg.keys, 10_000), seed: cfg.seed },
    shm,
  );
  md.push(...values.markdown);
  const markdown = printReport(md, notes);

  const metrics: Metric[] = [];
  for (const r of ROWS) {
    for (const p of active) {
      const s = sum(r.label, p);
      if (s) metrics.push({ id: `latency/${r.label}/${p}`, value: +s.median.toFixed(2), unit: 'ns/op', better: 'lower' });
    }
    const sp = ratio(r.label, 'memcached C', 'shmcached');
    if (Number.isFinite(sp))
      metrics.push({ id: `latency/${r.label}/speed-up over memcached`, value: +sp.toFixed(2), unit: '×', better: 'higher' });
  }
  metrics.push(...values.metrics);
  const json = {
    part: 'latency',
    version: 2,
    date: started.toISOString(),
    machine,
    git: git ?? null,
    loadavgEnd: machineInfo().loadavg,
    config: { ...cfg, peers: [...cfg.peers] },
    elapsedS,
    shmcached: shm.ok ? { available: true, protection: shm.protection } : { available: false, reason: shm.reason },
    memcached: server ? { args: server.args } : null,
    unit: 'ns/op',
    rows: ROWS.map((r) => ({
      label: r.label,
      op: r.op,
      valueSize: r.size || null,
      paperUs: { memcached: r.paper[0], plib: r.paper[1], speedup: r.paper[2] },
      peers: Object.fromEntries(
        active.map((p) => {
          const c = cells.get(`${r.label}|${p}`);
          const s = sum(r.label, p);
          return [
            p,
            s
              ? { ...s, rounds: c!.samples.map((x) => +x.toFixed(1)), hits: c!.hits, expected: c!.expected, perOpNs: c!.perOp }
              : { error: c?.error ?? 'no samples' },
          ];
        }),
      ),
    })),
    targets: targetRows,
    values: values.json,
    metrics,
    notes,
  };
  const svg = barChart(
    ROWS.map((r) => ({ label: r.label, values: active.map((p) => sum(r.label, p)?.median ?? Number.NaN) })),
    {
      title: `Latency per operation, ${machine.cpus} vCPU ${machine.hostname} (${isoDay(started)}), log scale`,
      valueLabel: 'µs per operation (median), log scale',
      series: active.map((p) => ({ name: PEER_TITLE[p], color: PEER_COLOR[p] })),
      format: (ns) => `${fmtUs(ns)} µs`,
    },
  );
  if (cfg.write) writePartFiles(fileTag, started, { md: markdown, json, svg });
  return { part: 'latency', markdown, json };
}
