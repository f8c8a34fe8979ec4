/**
 * `npm run bench -- server`: memcached-protocol throughput of a server, ours against a real one,
 * measured by the same pipelined C load generator (bench/native/mcbench.c `load`).
 *
 * Servers: `memcached -t 2` and `node dist/src/cli/cli.js serve -p PORT -t 2 --file F` (shmcached's
 * wire protocol); until that CLI is built, the library's `createServer({ cache })` in one node
 * process (lib/server-host.ts, a row of its own name); before that lands too, "not available". Cells: get and set of
 * 128 B values over 10k keys (populated first), 1 and 16 connections, each keeping `--depth`
 * requests in flight. Per cell: a warm-up, then a measured window; `--reps` repetitions with the
 * servers alternating, so drift hits both. Reported: ops/s (median, min–max) and the p50 / p99
 * latency of the median repetition, from the moment a request was written to its reply. The
 * client and the servers share the machine's CPUs: on 2 vCPUs this measures the whole system.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { summarize } from './lib/stats.js';
import { partArgs, positiveInt, positiveIntList, positiveNumber } from './lib/args.js';
import { fmtRatio, fmtSpread, markdownTable, type Align } from './lib/format.js';
import { busyNote, gitInfo, machineInfo, repoRoot } from './lib/machine.js';
import { freePort, spawnListener, type Listener } from './lib/listener.js';
import { startMemcached, type MemcachedServer } from './lib/memcached.js';
import { mcbenchBinary, mcbenchLoad, type LoadResult } from './lib/mcbench.js';
import { benchRegionPath, removeRegion } from './lib/shm.js';
import { Progress } from './lib/progress.js';
import { errorLine, printReport, reportHead, writePartFiles } from './lib/report.js';
import { alternate } from './lib/timing.js';
import type { Metric, PartOutput } from './lib/part.js';

/** One line for `npm run bench -- list`. */
export const description =
  'memcached-protocol throughput: pipelined get/set 128 B over 1 and 16 connections, memcached -t 2 vs shmcached serve -t 2';

/** The part's settings, from its command line. */
function parseConfig(args: string[]) {
  const { values, quick, write } = partArgs(
    args,
    `npm run bench -- server [options]
  --reps N       repetitions per cell (default 3)
  --seconds S    measured seconds per repetition (default 1.5; warm-up 0.3 s)
  --depth N      requests in flight per connection (default 8)
  --conns A,B    connection counts (default 1,16)
  --quick        1 repetition of 0.5 s
  --no-write     print only; do not write bench/results/`,
  );
  return {
    reps: positiveInt(values.reps, quick ? 1 : 3, 'reps'),
    warmupMs: 300,
    measureMs: Math.round(positiveNumber(values.seconds, quick ? 0.5 : 1.5, 'seconds') * 1000),
    depth: positiveInt(values.depth, 8, 'depth'),
    keys: 10_000,
    size: 128,
    conns: positiveIntList(values.conns, [1, 16], 'conns'),
    write,
  };
}

/** A server under test: where it listens and how to stop it. */
interface Target {
  name: string;
  command: string;
  port: number;
  stop(): Promise<void>;
}

/** Spawns a server process and waits for its port; the Target stops it and removes its region. */
async function spawnServer(
  name: string,
  describe: (port: number, file: string) => string,
  argv: (port: number, file: string) => string[],
): Promise<Target | string> {
  const port = await freePort();
  const file = benchRegionPath('server');
  removeRegion(file);
  benchRegionPath('server'); // still removed at exit if the server leaves it behind
  let server: Listener;
  try {
    server = await spawnListener(name, process.execPath, argv(port, file), port, 10_000);
  } catch (e) {
    removeRegion(file);
    return `failed to start: ${errorLine(e)}`;
  }
  return {
    name,
    command: describe(port, file),
    port,
    stop: async () => {
      await server.stop();
      removeRegion(file);
    },
  };
}

/**
 * Our server: `shmcached serve -t 2` from dist/src/cli/cli.js; before that CLI exists, `createServer`
 * from the library in one node process (a different row, named so); before either, a reason.
 */
async function startOurs(): Promise<Target | string> {
  const root = repoRoot();
  const cli = join(root, 'dist', 'src', 'cli', 'cli.js');
  if (existsSync(cli)) {
    return spawnServer(
      'shmcached serve',
      (port, file) => `node dist/src/cli/cli.js serve -p ${port} -t 2 -m 1024 --file ${file}`,
      (port, file) => [cli, 'serve', '-p', String(port), '-t', '2', '-m', '1024', '--file', file],
    );
  }
  const entry = process.env.SHMCACHED_BENCH_MODULE || join(root, 'dist', 'src', 'index.js');
  const exportsCreateServer = (f: string): boolean =>
    existsSync(f) && /export\s*\{[^}]*\bcreateServer\b|export\s+(async\s+)?(function|const)\s+createServer\b/.test(readFileSync(f, 'utf8'));
  const serverEntry = [entry, join(root, 'dist', 'src', 'server.js')].find(exportsCreateServer);
  if (!existsSync(entry) || !serverEntry) {
    return `not available: ${cli} does not exist yet and the library has no createServer (the wire protocol has not landed in this tree)`;
  }
  const host = fileURLToPath(new URL('./lib/server-host.js', import.meta.url));
  return spawnServer(
    'shmcached createServer',
    () => `createServer({ cache }) in one node process (dist/src/cli/cli.js is not built yet, so no -t 2)`,
    (port, file) => [host, entry, serverEntry, String(port), file, '1024mb'],
  );
}

async function startReal(): Promise<Target | string> {
  let s: MemcachedServer;
  try {
    s = await startMemcached(['-t', '2', '-m', '1024', '-c', '1024']);
  } catch (e) {
    return `not available: ${e instanceof Error ? e.message : String(e)}`;
  }
  return { name: 'memcached', command: `memcached ${s.args.join(' ')}`, port: s.port, stop: () => s.stop() };
}

/** Runs the part; prints the table, writes the results (unless --no-write) and returns them. */
export async function run(args: string[]): Promise<PartOutput> {
  const cfg = parseConfig(args);
  const started = new Date();
  const machine = machineInfo();
  const git = gitInfo();
  const notes: string[] = [];
  let clientError: string | undefined;
  try {
    mcbenchBinary();
  } catch (e) {
    clientError = e instanceof Error ? e.message : String(e);
  }
  const targets: Target[] = [];
  const missing: Record<string, string> = {};
  for (const [name, start] of [
    ['memcached', startReal],
    ['shmcached serve', startOurs],
  ] as const) {
    const t = clientError ? `not available: ${clientError}` : await start();
    if (typeof t === 'string') missing[name] = t;
    else targets.push(t);
  }
  /** Our row's name: 'shmcached serve', or 'shmcached createServer' before the CLI exists. */
  const ours = targets.find((t) => t.name !== 'memcached')?.name ?? 'shmcached serve';
  const ops = ['get', 'set'] as const;
  const cells: { op: (typeof ops)[number]; conns: number }[] = [];
  for (const op of ops) for (const conns of cfg.conns) cells.push({ op, conns });
  const results = new Map<string, { runs: LoadResult[]; error?: string }>();
  const progress = new Progress(cells.length * cfg.reps * targets.length);
  const t0 = Date.now();
  try {
    for (const cell of cells) {
      for (let rep = 0; rep < cfg.reps; rep++) {
        for (const t of alternate(targets, rep)) {
          progress.tick(`${cell.op} ×${cell.conns} conns  ${t.name}`);
          const key = `${t.name}|${cell.op}|${cell.conns}`;
          const r = results.get(key) ?? { runs: [] };
          results.set(key, r);
          if (r.error) continue;
          try {
            r.runs.push(
              await mcbenchLoad({
                port: t.port,
                op: cell.op,
                size: cfg.size,
                keys: cfg.keys,
                conns: cell.conns,
                depth: cfg.depth,
                warmupMs: cfg.warmupMs,
                measureMs: cfg.measureMs,
                threads: 1,
                seed: 42 + rep,
              }),
            );
          } catch (e) {
            r.error = errorLine(e);
          }
        }
      }
    }
  } finally {
    progress.end();
    for (const t of targets) await t.stop();
  }
  const elapsedS = (Date.now() - t0) / 1000;

  /** The median repetition (by ops/s) and the ops/s summary. */
  const stat = (name: string, op: string, conns: number): { med: LoadResult; s: ReturnType<typeof summarize> } | undefined => {
    const r = results.get(`${name}|${op}|${conns}`);
    if (!r || r.runs.length === 0) return undefined;
    const sorted = [...r.runs].sort((a, b) => a.opsPerSec - b.opsPerSec);
    const med = sorted[Math.floor((sorted.length - 1) / 2)];
    if (med === undefined) return undefined;
    return { med, s: summarize(r.runs.map((x) => x.opsPerSec)) };
  };
  const k = (x: number): string => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(0)}k`);
  const cellText = (name: string, op: string, conns: number): string[] => {
    const st = stat(name, op, conns);
    if (!st) {
      const err = results.get(`${name}|${op}|${conns}`)?.error;
      return [err ? 'error' : 'n/a', '—', '—'];
    }
    return [cfg.reps > 1 ? fmtSpread(st.s, k) : k(st.s.median), st.med.p50Us.toFixed(1), st.med.p99Us.toFixed(1)];
  };
  const rows = cells.map((c) => {
    const a = stat('memcached', c.op, c.conns);
    const b = stat(ours, c.op, c.conns);
    return [
      `${c.op} 128 B`,
      String(c.conns),
      ...cellText('memcached', c.op, c.conns),
      ...cellText(ours, c.op, c.conns),
      a && b ? fmtRatio(b.s.median / a.s.median) : '—',
    ];
  });
  for (const [name, why] of Object.entries(missing)) notes.push(`${name}: ${why}`);
  const busy = busyNote(machine);
  if (busy) notes.push(busy);
  for (const [key, r] of results) {
    if (r.error) notes.push(`${key.replace(/\|/g, ', ')}: **failed**: ${r.error}`);
    const errs = r.runs.reduce((n, x) => n + x.errors, 0);
    if (errs) notes.push(`${key.replace(/\|/g, ', ')}: ${errs} error replies`);
    const misses = r.runs.reduce((n, x) => n + (x.ops - x.hits), 0);
    if (misses && key.includes('|get|')) notes.push(`${key.replace(/\|/g, ', ')}: ${misses} gets missed`);
  }

  const md = reportHead('shmcached server throughput', started, machine);
  for (const t of targets) md.push(`- ${t.name}: \`${t.command}\``);
  for (const [name, why] of Object.entries(missing)) md.push(`- ${name}: **${why}**`);
  md.push(
    `- Load: bench/native/mcbench.c \`load\`, one client thread, text protocol, ${cfg.keys.toLocaleString('en-US')} keys of ${cfg.size} B populated first, uniform random keys, ${cfg.depth} requests in flight per connection; ` +
      `${cfg.warmupMs} ms warm-up, ${cfg.measureMs} ms measured, ${cfg.reps} repetition${cfg.reps > 1 ? 's' : ''} with the servers alternating; latency from write to reply (p50/p99 of the median repetition). Client and server share the ${machine.cpus} CPUs. Run took ${elapsedS.toFixed(0)} s.`,
  );
  md.push('');
  md.push('## ops/s (median, min–max), latency in µs; ratio = shmcached ÷ memcached ops/s');
  md.push('');
  const align: Align[] = ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'];
  md.push(markdownTable(['op', 'conns', 'memcached ops/s', 'p50', 'p99', `${ours} ops/s`, 'p50', 'p99', 'shm ÷ mc'], rows, align));
  const markdown = printReport(md, notes);

  const metrics: Metric[] = [];
  for (const c of cells) {
    for (const name of ['memcached', ours]) {
      const st = stat(name, c.op, c.conns);
      if (!st) continue;
      metrics.push({ id: `server/${name}/${c.op} ×${c.conns}/ops per s`, value: Math.round(st.s.median), unit: 'ops/s', better: 'higher' });
      metrics.push({ id: `server/${name}/${c.op} ×${c.conns}/p99`, value: st.med.p99Us, unit: 'µs', better: 'lower' });
    }
  }
  const json = {
    part: 'server',
    version: 1,
    date: started.toISOString(),
    machine,
    git: git ?? null,
    config: cfg,
    elapsedS,
    servers: Object.fromEntries([
      ...targets.map((t) => [t.name, { command: t.command }]),
      ...Object.entries(missing).map(([n, why]) => [n, { unavailable: why }]),
    ]),
    cells: cells.map((c) => ({
      op: c.op,
      conns: c.conns,
      runs: Object.fromEntries(['memcached', ours].map((n) => [n, results.get(`${n}|${c.op}|${c.conns}`) ?? null])),
    })),
    metrics,
    notes,
  };
  if (cfg.write) writePartFiles('server', started, { md: markdown, json });
  return { part: 'server', markdown, json };
}
