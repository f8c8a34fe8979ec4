/**
 * `npm run bench -- instr`: instructions per operation, counted by valgrind's callgrind, for the
 * pool's lone await and batch rows beside the synchronous get and the promise floors.
 *
 * Why: wall and CPU time on a shared 2-CPU VM move by ±30% from one run to the next (another
 * tenant's load shows as steal), which hides a 10% change. An instruction count does not move
 * with the load: two full runs of this part on the same tree agreed within 4% per row. It is a proxy, not the targets'
 * measure (it ignores cache misses, which `getMany`'s prefetch hides and a count cannot show;
 * compare the pool part's wall times for that), so the verdict below is labelled as such.
 *
 * Method: each row runs in its own `node --single-threaded` (no V8 helper threads: garbage
 * collection is counted on the one thread) under `valgrind --tool=callgrind`, twice: with 0 and
 * with N measured rounds of 1,000 operations after {@link WARM} warm-up rounds, a full collection after
 * each phase (so the rounds' garbage is collected inside the count, not whenever the heap grows);
 * instructions per operation = the difference of the two totals / (N × 1,000). The batch rows'
 * key arrays are made before the count. The pool is `splitAt: 1e9` (its inline path:
 * the cost model's timings mean nothing under valgrind). Needs valgrind (`apt install valgrind`);
 * 35–70 s of CPU per run (more with more rounds), two runs per row, as many at once as there
 * are CPUs: a full run took about 11 minutes on 2 CPUs.
 */
import { spawn, spawnSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

import { partArgs } from './lib/args.js';
import { fmtRatio, markdownTable } from './lib/format.js';
import { gitInfo, machineInfo } from './lib/machine.js';
import type { Metric, PartOutput } from './lib/part.js';
import { printReport, reportHead, treeAt, writePartFiles } from './lib/report.js';
import { benchRegionPath } from './lib/shm.js';
import { PER_ROUND, ROWS, type Row, WARM } from './instr-child.js';

/** One line for `npm run bench -- list`. */
export const description =
  'instructions per operation (valgrind callgrind): pool lone await and batches beside the sync get and the promise floors';

/** An instruction count, rounded, with thousands separators. */
function fmtCount(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—';
}

const CHILD = fileURLToPath(new URL('./instr-child.js', import.meta.url));

/** Runs one row with `rounds` measured rounds under callgrind; resolves to its instruction total. */
function count(row: Row, rounds: number, tag: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const args = [
      '--tool=callgrind',
      '--smc-check=all-non-file',
      '--callgrind-out-file=/dev/null',
      process.execPath,
      '--single-threaded',
      '--expose-gc',
      CHILD,
      row,
      String(rounds),
      benchRegionPath(`instr-${tag}`),
    ];
    const child = spawn('valgrind', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const m = /Collected : (\d+)/.exec(err);
      if (code !== 0 || !m?.[1]) reject(new Error(`${row} (${rounds} rounds): exit ${code}\n${err.slice(-2000)}`));
      else resolve(Number(m[1]));
    });
  });
}

/** Runs `jobs` with at most `width` at once, keeping their order in the result. */
async function limited<T>(jobs: readonly (() => Promise<T>)[], width: number): Promise<T[]> {
  const out = new Array<T>(jobs.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      const job = jobs[i];
      if (job) out[i] = await job();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(width, jobs.length)) }, lane));
  return out;
}

export async function run(args: string[]): Promise<PartOutput | undefined> {
  const { quick, write, values } = partArgs(
    args,
    `npm run bench -- instr [options]
  --rounds N     measured rounds of 1,000 operations per row (default 100; --quick 20)
  --quick        fewer rounds
  --no-write     print only; do not write bench/results/`,
  );
  if (spawnSync('valgrind', ['--version']).status !== 0) {
    process.stdout.write('instr: valgrind is not installed (apt install valgrind); nothing measured\n');
    return undefined;
  }
  const rounds = Number(values.rounds ?? (quick ? 20 : 100));
  if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError(`--rounds must be a positive integer, got ${values.rounds}`);
  const started = new Date();
  const machine = machineInfo();
  const git = gitInfo();
  const jobs = ROWS.flatMap((row, i) => [() => count(row, 0, `${i}-0`), () => count(row, rounds, `${i}-n`)]);
  process.stderr.write(`instr: ${jobs.length} callgrind runs, ${availableParallelism()} at once (35–70 s each)\n`);
  const totals = await limited(jobs, availableParallelism());
  const per = new Map<Row, number>();
  ROWS.forEach((row, i) => {
    const base = totals[2 * i] ?? Number.NaN;
    const more = totals[2 * i + 1] ?? Number.NaN;
    per.set(row, (more - base) / (rounds * PER_ROUND));
  });
  const at = (row: Row): number => per.get(row) ?? Number.NaN;
  const sync = at('sync get');
  const rows = ROWS.map((row) => [row, fmtCount(at(row)), fmtRatio(at(row) / sync)]);
  const lone = at('await pool.get()');
  const floor = at('floor: await Promise.resolve(cache.get())');
  const all = at('Promise.all of pool.get');
  const allFloor = at('floor: Promise.all of Promise.resolve(cache.get())');
  const md = reportHead('shmcached pool: instructions per operation (callgrind)', started, machine);
  md.push(
    `- ${git ? `${treeAt(git)}; ` : ''}${rounds} measured rounds of ${fmtCount(PER_ROUND)} operations per row after ${WARM} warm-up rounds (a full GC after each phase; the batches' key arrays made beforehand), each row in its own \`node --single-threaded\` under \`valgrind --tool=callgrind\`, run with 0 and with ${rounds} rounds, the difference divided; 10,000 keys of 128 B values; the pool \`splitAt: 1e9\` (inline). Load average at the end ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' / ')} (it does not change a count).`,
    '',
    '## Instructions per operation',
    '',
    markdownTable(['row', 'instructions/op', '× sync get'], rows, ['l', 'r', 'r']),
    '',
    '## Issue 18, in instructions (a proxy: the targets are wall time, see the pool part)',
    '',
    `- lone \`await pool.get()\` ≤ 2x the sync get: ${lone / sync <= 2 ? '**met**' : '**missed**'} in instructions — ${fmtCount(lone)} vs ${fmtCount(sync)} (${fmtRatio(lone / sync)}); the promise it must return, \`await Promise.resolve(cache.get())\`, is ${fmtRatio(floor / sync)}; the pool's own cost beyond it: ${fmtCount(lone - floor)} instructions.`,
    `- \`Promise.all\` of 1000 \`pool.get\`: ${fmtCount(all)} instructions per get, ${fmtRatio(all / sync)} the sync get; \`Promise.all\` of \`Promise.resolve(cache.get())\` ${fmtCount(allFloor)}; \`pool.getMany\` ${fmtCount(at('pool.getMany'))} (${fmtRatio(at('pool.getMany') / sync)}).`,
  );
  const markdown = printReport(md, []);
  const metrics: Metric[] = ROWS.map((row) => ({ id: `instr/${row}`, value: Math.round(at(row)), unit: 'instructions', better: 'lower' }));
  const json = {
    part: 'instr',
    version: 1,
    machine,
    git,
    rounds,
    perRound: PER_ROUND,
    instructionsPerOp: Object.fromEntries(per),
    metrics,
  };
  if (write) writePartFiles('instr', started, { md: markdown, json });
  return { part: 'instr', markdown, json };
}
