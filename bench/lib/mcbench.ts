/**
 * The C client of bench/native/mcbench.c: compiled with `cc` on first use into
 * build/bench/ (ignored by git), and rebuilt when the source is newer than the binary.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './machine.js';

/** Path of the compiled client; builds it if missing or stale. Throws with the compiler's output. */
export function mcbenchBinary(): string {
  const root = repoRoot();
  const src = join(root, 'bench', 'native', 'mcbench.c');
  const dir = join(root, 'build', 'bench');
  const bin = join(dir, 'mcbench');
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(src).mtimeMs) return bin;
  mkdirSync(dir, { recursive: true });
  const cc = process.env.CC || 'cc';
  try {
    execFileSync(cc, ['-O2', '-Wall', '-Wextra', '-std=gnu11', '-pthread', '-o', bin, src], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`cannot build ${src} with ${cc}: ${err.stderr?.toString().trim() || err.message}`);
  }
  return bin;
}

function run(args: string[], timeoutMs: number): Promise<string> {
  const bin = mcbenchBinary();
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`mcbench ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

/** What `mcbench lat` measured: ns per op of each timed round, and how many ops succeeded. */
export interface LatResult {
  rounds: number[];
  hits: number;
  expected: number;
  /** Single round trips over all timed rounds, ns: min, p50, p90, p99. */
  perOp: { min: number; p50: number; p90: number; p99: number } | undefined;
}

/** Options of {@link mcbenchLat}. */
export interface LatOptions {
  port: number;
  op: 'get' | 'set' | 'delete' | 'incr';
  size: number;
  keys: number;
  ops: number;
  rounds: number;
  seed: number;
  /** Busy-poll the socket instead of sleeping in recv. */
  spin?: boolean;
}

/** One blocking round trip at a time: `rounds` timed rounds after one warm-up round. */
export async function mcbenchLat(o: LatOptions): Promise<LatResult> {
  const args = ['lat', '127.0.0.1', String(o.port), o.op, String(o.size), String(o.keys), String(o.ops), String(o.rounds), String(o.seed)];
  if (o.spin) args.push('spin');
  const out = await run(args, 600_000);
  const rounds: number[] = [];
  let hits = 0;
  let expected = 0;
  let perOp: LatResult['perOp'];
  for (const line of out.split('\n')) {
    const p = /^pct (\d+) (\d+) (\d+) (\d+)$/.exec(line);
    if (p) perOp = { min: Number(p[1]), p50: Number(p[2]), p90: Number(p[3]), p99: Number(p[4]) };
    const r = /^round ([\d.]+)$/.exec(line);
    if (r) rounds.push(Number(r[1]));
    const h = /^hits (\d+) (\d+)$/.exec(line);
    if (h) {
      hits = Number(h[1]);
      expected = Number(h[2]);
    }
  }
  if (rounds.length !== o.rounds)
    throw new Error(`mcbench lat printed ${rounds.length} rounds, expected ${o.rounds}: ${out.slice(0, 200)}`);
  return { rounds, hits, expected, perOp };
}

/** Options of {@link mcbenchLoad}. */
export interface LoadOptions {
  port: number;
  op: 'get' | 'set';
  size: number;
  keys: number;
  conns: number;
  depth: number;
  warmupMs: number;
  measureMs: number;
  threads: number;
  seed: number;
  /** The keys were stored already ({@link mcbenchFill}): skip storing them first. */
  noFill?: boolean;
}

/** What `mcbench load` measured over its window. */
export interface LoadResult {
  ops: number;
  seconds: number;
  opsPerSec: number;
  p50Us: number;
  p99Us: number;
  hits: number;
  errors: number;
}

/** A pipelined load run: `conns` connections, `depth` requests in flight on each. */
export async function mcbenchLoad(o: LoadOptions): Promise<LoadResult> {
  const args = [
    'load',
    '127.0.0.1',
    String(o.port),
    o.op,
    String(o.size),
    String(o.keys),
    String(o.conns),
    String(o.depth),
    String(o.warmupMs),
    String(o.measureMs),
    String(o.threads),
    String(o.seed),
  ];
  if (o.noFill) args.push('nofill');
  const out = await run(args, o.warmupMs + o.measureMs + 120_000);
  const line = out.split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error(`mcbench load printed no result: ${out.slice(0, 200)}`);
  return JSON.parse(line) as LoadResult;
}

/** Stores `keys` keys of `size` bytes (`key:<i>`) once, for later {@link mcbenchLoad} runs with `noFill`. */
export async function mcbenchFill(o: { port: number; size: number; keys: number; seed: number }): Promise<void> {
  const out = await run(['fill', '127.0.0.1', String(o.port), String(o.size), String(o.keys), String(o.seed)], 120_000);
  if (!out.startsWith('filled ')) throw new Error(`mcbench fill printed: ${out.slice(0, 200)}`);
}
