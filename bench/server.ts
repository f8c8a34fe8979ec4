/**
 * `npm run bench -- server`: memcached-protocol throughput and latency of a server, ours against a
 * real one, measured by the same C load generator (bench/native/mcbench.c `load`).
 *
 * Servers: `memcached -t 2`, and `node dist/src/cli/cli.js serve -t 2` once per connection engine:
 * `--engine js` (Node's net sockets) and `--engine native` (the epoll loop), when `serve --help`
 * lists `--engine`; a build without it has one engine (Node's), run as `shmcached js`.
 * Cells: get and set of 128 B values over 10k keys (populated first), 1 and 16 connections, each
 * with 1 request in flight (sequential round trips: the next request is written when the reply
 * has been read) or 8 (a pipeline kept 8 deep). Per cell: a warm-up, then a measured window.
 * Repetitions run outermost, and inside each one every cell visits the servers in a rotated
 * order, so drift in the machine's load hits every server alike. Reported: ops/s (median,
 * min–max) and the p50 / p99 latency of the median repetition, from the moment a request was
 * written to its reply; under the table, the issue's targets with a verdict for the best engine
 * and for each. The client and the servers share the machine's CPUs: on 2 vCPUs this measures
 * the whole system.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { summarize } from './lib/stats.js';
import { partArgs, positiveInt, positiveIntList, positiveNumber } from './lib/args.js';
import { fmtRatio, fmtSpread, markdownTable, type Align } from './lib/format.js';
import { busyNote, gitInfo, machineInfo, repoRoot } from './lib/machine.js';
import { freePort, spawnListener, type Listener } from './lib/listener.js';
import { startMemcached, type MemcachedServer } from './lib/memcached.js';
import { mcbenchBinary, mcbenchFill, mcbenchLoad, type LoadResult } from './lib/mcbench.js';
import { benchRegionPath, removeRegion } from './lib/shm.js';
import { Progress } from './lib/progress.js';
import { errorLine, printReport, reportHead, writePartFiles } from './lib/report.js';
import type { Metric, PartOutput } from './lib/part.js';

/** One line for `npm run bench -- list`. */
export const description =
  'memcached-protocol throughput and p50/p99: get/set 128 B, sequential and 8-deep, 1 and 16 connections, memcached -t 2 vs shmcached serve -t 2 (js and native engines)';

/** The issue's targets: shmcached ÷ memcached ops/s at least this, per connection count. */
const TARGET_RATIO: Record<number, number> = { 1: 1.0, 16: 1.5 };

/** The part's settings, from its command line. */
function parseConfig(args: string[]) {
  const { values, quick, write } = partArgs(
    args,
    `npm run bench -- server [options]
  --reps N       repetitions per cell (default 5)
  --seconds S    measured seconds per repetition (default 0.4; warm-up 0.1 s)
  --depths A,B   requests in flight per connection (default 1,8; 1 = sequential round trips)
  --conns A,B    connection counts (default 1,16)
  --quick        1 repetition of 0.3 s
  --no-write     print only; do not write bench/results/`,
  );
  return {
    reps: positiveInt(values.reps, quick ? 1 : 5, 'reps'),
    warmupMs: 100,
    measureMs: Math.round(positiveNumber(values.seconds, quick ? 0.3 : 0.4, 'seconds') * 1000),
    depths: positiveIntList(values.depths, [1, 8], 'depths'),
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
  /** For the report: which release runs (the memcached peer's version and binary). */
  about?: string;
  port: number;
  stop(): Promise<void>;
}

/** Spawns a node server process and waits for its port; the Target stops it and removes its region. */
async function spawnServer(name: string, cli: string, extra: readonly string[]): Promise<Target | string> {
  const port = await freePort();
  const file = benchRegionPath(`server-${name.replace(/\W+/g, '-')}`);
  removeRegion(file);
  const argv = ['serve', '-p', String(port), '-t', '2', '-m', '1024', ...extra, '--file', file];
  let server: Listener;
  try {
    server = await spawnListener(name, process.execPath, [cli, ...argv], port, 10_000);
  } catch (e) {
    removeRegion(file);
    return `failed to start: ${errorLine(e)}`;
  }
  return {
    name,
    command: `node dist/src/cli/cli.js ${argv.join(' ')}`,
    port,
    stop: async () => {
      await server.stop();
      removeRegion(file);
    },
  };
}

/** The CLI, and whether its `serve` takes `--engine` (the native connection loop is built in). */
function ourCli(): { cli: string; engines: boolean } | string {
  const cli = join(repoRoot(), 'dist', 'src', 'cli', 'cli.js');
  if (!existsSync(cli)) return `not available: ${cli} does not exist (run npm run build)`;
  let help = '';
  try {
    help = execFileSync(process.execPath, [cli, 'serve', '--help'], { encoding: 'utf8', timeout: 20_000 });
  } catch (e) {
    const err = e as { stdout?: string };
    help = err.stdout ?? '';
  }
  return { cli, engines: /--engine\b/.test(help) };
}

async function startReal(): Promise<Target | string> {
  let s: MemcachedServer;
  try {
    s = await startMemcached(['-t', '2', '-m', '1024', '-c', '1024']);
  } catch (e) {
    return `not available: ${e instanceof Error ? e.message : String(e)}`;
  }
  return {
    name: 'memcached',
    command: `memcached ${s.args.join(' ')}`,
    about: `memcached ${s.version}, ${s.bin}`,
    port: s.port,
    stop: () => s.stop(),
  };
}

/** `list` rotated left by `i`: each server leads a cell in turn. */
function rotate<T>(list: readonly T[], i: number): T[] {
  const k = list.length ? i % list.length : 0;
  return [...list.slice(k), ...list.slice(0, k)];
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
  const real = clientError ? `not available: ${clientError}` : await startReal();
  if (typeof real === 'string') missing.memcached = real;
  else targets.push(real);
  const ours = ourCli();
  /** Our engines: [row name, extra serve flags]. */
  const engines: [string, string[]][] = [];
  if (typeof ours === 'string') missing['shmcached serve'] = ours;
  else if (ours.engines) engines.push(['shmcached js', ['--engine', 'js']], ['shmcached native', ['--engine', 'native']]);
  else {
    engines.push(['shmcached js', []]);
    console.log('native engine not available in this build');
    notes.push('native engine not available in this build (`shmcached serve --help` lists no `--engine`): the js row is `serve` as built');
  }
  if (typeof ours !== 'string' && !clientError) {
    for (const [name, extra] of engines) {
      const t = await spawnServer(name, ours.cli, extra);
      if (typeof t === 'string') missing[name] = t;
      else targets.push(t);
    }
  }
  const ourNames = engines.map(([n]) => n);
  const ops = ['get', 'set'] as const;
  type Cell = { op: (typeof ops)[number]; conns: number; depth: number };
  const cells: Cell[] = [];
  for (const conns of cfg.conns) for (const depth of cfg.depths) for (const op of ops) cells.push({ op, conns, depth });
  const keyOf = (name: string, c: Cell): string => `${name}|${c.op}|${c.conns}|${c.depth}`;
  const results = new Map<string, { runs: LoadResult[]; error?: string }>();
  const progress = new Progress(cells.length * cfg.reps * targets.length);
  const load0 = machine.loadavg[0] ?? 0;
  const t0 = Date.now();
  try {
    // every server's keys are stored once, before the first cell (the loads then skip it)
    for (const t of [...targets]) {
      try {
        await mcbenchFill({ port: t.port, size: cfg.size, keys: cfg.keys, seed: 42 });
      } catch (e) {
        missing[t.name] = `could not store the keys: ${errorLine(e)}`;
        targets.splice(targets.indexOf(t), 1);
        await t.stop();
      }
    }
    let turn = 0;
    for (let rep = 0; rep < cfg.reps; rep++) {
      for (const cell of cells) {
        for (const t of rotate(targets, turn++)) {
          progress.tick(`rep ${rep + 1}: ${cell.op} ×${cell.conns} conns, depth ${cell.depth}  ${t.name}`);
          const key = keyOf(t.name, cell);
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
                depth: cell.depth,
                warmupMs: cfg.warmupMs,
                measureMs: cfg.measureMs,
                threads: 1,
                seed: 42 + rep,
                noFill: true,
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
  const load1 = loadavg()[0] ?? 0;

  /** The median repetition (by ops/s) and the ops/s summary. */
  const stat = (name: string, c: Cell): { med: LoadResult; s: ReturnType<typeof summarize> } | undefined => {
    const r = results.get(keyOf(name, c));
    if (!r || r.runs.length === 0) return undefined;
    const sorted = [...r.runs].sort((a, b) => a.opsPerSec - b.opsPerSec);
    const med = sorted[Math.floor((sorted.length - 1) / 2)];
    if (med === undefined) return undefined;
    return { med, s: summarize(r.runs.map((x) => x.opsPerSec)) };
  };
  const ratio = (name: string, c: Cell): number => {
    const a = stat('memcached', c);
    const b = stat(name, c);
    return a && b ? b.s.median / a.s.median : Number.NaN;
  };
  const k = (x: number): string => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(0)}k`);
  const depthText = (d: number): string => (d === 1 ? 'seq' : `${d}-deep`);
  const rows: string[][] = [];
  for (const c of cells) {
    for (const t of targets) {
      const st = stat(t.name, c);
      const err = results.get(keyOf(t.name, c))?.error;
      rows.push([
        `${c.op} 128 B`,
        String(c.conns),
        depthText(c.depth),
        t.name,
        st ? (cfg.reps > 1 ? fmtSpread(st.s, k) : k(st.s.median)) : err ? 'error' : 'n/a',
        st ? st.med.p50Us.toFixed(1) : '—',
        st ? st.med.p99Us.toFixed(1) : '—',
        t.name === 'memcached' ? '' : fmtRatio(ratio(t.name, c)),
      ]);
    }
  }

  /** Verdicts: throughput ratio against the target for the cell's connection count, and p99. */
  const verdict = (ok: boolean | undefined): string => (ok === undefined ? 'not measured' : ok ? '**met**' : '**missed**');
  const judge = (name: string, c: Cell): { ops?: boolean; p99?: boolean; r: number; p99Us?: number } => {
    const a = stat('memcached', c);
    const b = stat(name, c);
    const want = TARGET_RATIO[c.conns];
    const r = ratio(name, c);
    if (!a || !b || want === undefined) return { r };
    return { ops: r >= want, p99: b.med.p99Us <= a.med.p99Us, r, p99Us: b.med.p99Us };
  };
  const judged = cells.filter((c) => TARGET_RATIO[c.conns] !== undefined);
  const vRows: string[][] = [];
  const tally = new Map<string, { met: number; of: number }>();
  const count = (who: string, ok: boolean | undefined): void => {
    const t = tally.get(who) ?? { met: 0, of: 0 };
    t.of++;
    if (ok) t.met++;
    tally.set(who, t);
  };
  for (const c of judged) {
    const mc = stat('memcached', c);
    const per = ourNames.map((n) => ({ n, j: judge(n, c) }));
    const best = per.filter((x) => Number.isFinite(x.j.r)).sort((x, y) => y.j.r - x.j.r)[0];
    const cellsText = (j: ReturnType<typeof judge>): string[] => [
      `${verdict(j.ops)} ${fmtRatio(j.r)}`,
      j.p99Us === undefined ? verdict(undefined) : `${verdict(j.p99)} ${j.p99Us.toFixed(0)} µs`,
    ];
    count('best engine', best?.j.ops);
    count('best engine', best?.j.p99);
    for (const { n, j } of per) {
      count(n, j.ops);
      count(n, j.p99);
    }
    vRows.push([
      `${c.op}, ${c.conns} conn${c.conns > 1 ? 's' : ''}, ${depthText(c.depth)}`,
      `≥ ${TARGET_RATIO[c.conns]?.toFixed(1)}×, p99 ≤ ${mc ? `${mc.med.p99Us.toFixed(0)} µs` : '—'}`,
      best ? best.n.replace('shmcached ', '') : '—',
      ...(best ? cellsText(best.j) : ['not measured', 'not measured']),
      ...per.flatMap(({ j }) => cellsText(j)),
    ]);
  }

  for (const [name, why] of Object.entries(missing)) notes.push(`${name}: ${why}`);
  const busy = busyNote(machine);
  if (busy) notes.push(busy);
  for (const [key, r] of results) {
    const where = key.replace(/\|/g, ', ');
    if (r.error) notes.push(`${where}: **failed**: ${r.error}`);
    const errs = r.runs.reduce((n, x) => n + x.errors, 0);
    if (errs) notes.push(`${where}: ${errs} error replies`);
    const misses = r.runs.reduce((n, x) => n + (x.ops - x.hits), 0);
    if (misses && key.includes('|get|')) notes.push(`${where}: ${misses} gets missed`);
  }

  const md = reportHead('shmcached server throughput', started, machine);
  for (const t of targets) md.push(`- ${t.name}: \`${t.command}\`${t.about ? ` (${t.about})` : ''}`);
  for (const [name, why] of Object.entries(missing)) md.push(`- ${name}: **${why}**`);
  md.push(
    `- Load: bench/native/mcbench.c \`load\`, one client thread, text protocol, ${cfg.keys.toLocaleString('en-US')} keys of ${cfg.size} B stored once per server first, uniform random keys; ` +
      `depth = requests in flight per connection (seq = 1: each request is written after the previous reply was read, a real round trip). ` +
      `${cfg.warmupMs} ms warm-up, ${cfg.measureMs} ms measured, ${cfg.reps} repetition${cfg.reps > 1 ? 's' : ''}, each visiting every cell with the servers in rotated order; ` +
      `latency from write to reply (p50/p99 of the median repetition). Client and servers share the ${machine.cpus} CPUs; 1-minute load average ${load0.toFixed(2)} at the start, ${load1.toFixed(2)} at the end. Run took ${elapsedS.toFixed(0)} s.`,
  );
  md.push('');
  md.push('## ops/s (median, min–max), latency in µs; ÷ mc = shmcached ÷ memcached ops/s');
  md.push('');
  const align: Align[] = ['l', 'r', 'r', 'l', 'r', 'r', 'r', 'r'];
  md.push(markdownTable(['op', 'conns', 'depth', 'server', 'ops/s', 'p50', 'p99', '÷ mc'], rows, align));
  if (vRows.length && ourNames.length) {
    md.push('');
    md.push('## Targets: ops/s ≥ 1.0× memcached on 1 connection (sequential and 8-deep), ≥ 1.5× on 16; p99 no worse than memcached');
    md.push('');
    const short = ourNames.map((n) => n.replace('shmcached ', ''));
    md.push(
      markdownTable(['cell', 'target', 'best', 'best ops', 'best p99', ...short.flatMap((n) => [`${n} ops`, `${n} p99`])], vRows, [
        'l',
        'l',
        'l',
        ...(vRows[0] ?? []).slice(3).map((): Align => 'r'),
      ]),
    );
    md.push('');
    for (const [who, t] of tally) md.push(`- ${who}: ${t.met} of ${t.of} targets met`);
  }
  const markdown = printReport(md, notes);

  const metrics: Metric[] = [];
  for (const c of cells) {
    for (const t of targets) {
      const st = stat(t.name, c);
      if (!st) continue;
      const id = `server/${t.name}/${c.op} ×${c.conns} d${c.depth}`;
      metrics.push({ id: `${id}/ops per s`, value: Math.round(st.s.median), unit: 'ops/s', better: 'higher' });
      metrics.push({ id: `${id}/p99`, value: st.med.p99Us, unit: 'µs', better: 'lower' });
    }
  }
  const json = {
    part: 'server',
    version: 2,
    date: started.toISOString(),
    machine,
    git: git ?? null,
    config: cfg,
    elapsedS,
    loadavg: { start: load0, end: load1 },
    servers: Object.fromEntries([
      ...targets.map((t) => [t.name, { command: t.command }]),
      ...Object.entries(missing).map(([n, why]) => [n, { unavailable: why }]),
    ]),
    cells: cells.map((c) => ({
      op: c.op,
      conns: c.conns,
      depth: c.depth,
      runs: Object.fromEntries(targets.map((t) => [t.name, results.get(keyOf(t.name, c)) ?? null])),
    })),
    targets: judged.map((c) => ({
      op: c.op,
      conns: c.conns,
      depth: c.depth,
      want: TARGET_RATIO[c.conns],
      engines: Object.fromEntries(ourNames.map((n) => [n, judge(n, c)])),
    })),
    metrics,
    notes,
  };
  if (cfg.write) writePartFiles('server', started, { md: markdown, json });
  return { part: 'server', markdown, json };
}
