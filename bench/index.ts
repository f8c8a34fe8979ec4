/**
 * `npm run bench [-- <part> [options]]`: the benchmark suite.
 *
 *   npm run bench                       every part, one after another; besides each part's own
 *                                       files, writes bench/results/<date>-<host>.md and .json,
 *                                       then rewrites docs/performance.md's marked section
 *   npm run bench -- latency            one part (options after the name go to it)
 *   npm run bench -- latency --help     that part's options
 *   npm run bench -- --quick            every part, each in its quick mode (nothing written)
 *   npm run bench -- compare A.json B.json   two runs side by side
 *   npm run bench -- doc                docs/performance.md's numbers from the newest full run
 *   npm run bench -- list               the parts
 *
 * The script runs `node --expose-gc dist/bench/index.js`, so build first (`npx tsc -p tsconfig.json`).
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { describeMachine, machineInfo, repoRoot, writeResultFile } from './lib/machine.js';
import { updatePerfDoc } from './lib/perf-doc.js';
import type { Part, PartOutput } from './lib/part.js';
import { targetLines } from './lib/report.js';

/** Every part by name: the module that runs it. */
const parts: Record<string, () => Promise<Part>> = {
  latency: () => import('./latency.js'),
  scaling: () => import('./scaling.js'),
  pool: () => import('./pool.js'),
  memory: () => import('./memory.js'),
  server: () => import('./server.js'),
  cluster: () => import('./cluster.js'),
  inproc: () => import('./inproc.js'),
  large: () => import('./large.js'),
  compare: () => import('./compare.js'),
  abuse: () => import('./abuse.js'),
  instr: () => import('./instr.js'),
  doc: () => import('./doc.js'),
};

/** The parts a full run takes, in its order; the others are a longer look at one side, or a tool. */
const fullRun = new Set(['latency', 'scaling', 'pool', 'memory', 'server', 'cluster', 'large']);

function listParts(): string {
  return ['parts:', ...Object.keys(parts).map((name) => `  ${name}`), '', 'usage: npm run bench [-- <part> [options]]'].join('\n');
}

/** Runs every part and writes the combined report. */
async function runAll(args: string[]): Promise<number> {
  const started = new Date();
  // The machine line is written after the parts ran; its load average must be the one at the start.
  const startLoad = loadavg().map((x) => +x.toFixed(2));
  const outputs: PartOutput[] = [];
  let failed = 0;
  for (const [partName, load] of Object.entries(parts)) {
    if (!fullRun.has(partName)) continue;
    process.stderr.write(`== ${partName}\n`);
    try {
      const out = await (await load()).run(args);
      if (out) outputs.push(out);
    } catch (e) {
      failed++;
      console.error(`part ${partName} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    }
  }
  if (!args.includes('--no-write') && outputs.length > 0) {
    const machine = { ...machineInfo(), loadavg: startLoad };
    const loadEnd = loadavg().map((x) => +x.toFixed(2));
    const verdicts = targetLines(outputs);
    const md = [
      `# shmcached benchmarks — full run, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      '',
      `- Machine: ${describeMachine(machine)}`,
      `- Load: 1-minute load average ${startLoad[0] ?? '?'} when the run started, ${loadEnd[0] ?? '?'} when it ended, on ${machine.cpus} CPUs`,
      `- Parts: ${outputs.map((o) => o.part).join(', ')}${failed ? ` (${failed} failed: see the log)` : ''}`,
      '',
      ...(verdicts.length ? ["## Targets at a glance (each part's own verdicts, gathered)", '', ...verdicts, ''] : []),
      // Each part's own report, its headings moved one level down.
      ...outputs.map((o) => o.markdown.replace(/^(#+) /gm, '#$1 ')),
    ].join('\n');
    const json = {
      kind: 'full run',
      version: 1,
      date: started.toISOString(),
      machine,
      loadavgEnd: loadEnd,
      parts: Object.fromEntries(outputs.map((o) => [o.part, o.json])),
    };
    const a = writeResultFile(undefined, 'md', md, started);
    const b = writeResultFile(undefined, 'json', JSON.stringify(json, null, 2), started);
    process.stderr.write(`wrote ${a} and ${b}\n`);
    try {
      const r = updatePerfDoc(repoRoot(), { results: join(repoRoot(), a) });
      process.stderr.write(`${r.changed ? 'rewrote' : 'left as it was'} ${r.doc} from ${r.results}\n`);
    } catch (e) {
      process.stderr.write(`docs/performance.md not updated: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }
  return failed ? 1 : 0;
}

/**
 * A quick run is a smoke test: its rough numbers must not replace the day's results files, so
 * `--quick` implies `--no-write` for every part.
 */
function quickNeverWrites(args: string[]): string[] {
  if (!args.includes('--quick') || args.includes('--no-write')) return args;
  process.stderr.write('--quick: a smoke run, so nothing is written to bench/results/\n');
  return [...args, '--no-write'];
}

async function main(argvIn: string[]): Promise<number> {
  const argv = argvIn[0] === 'compare' ? argvIn : quickNeverWrites(argvIn);
  const [name, ...rest] = argv;
  if (name === undefined || name.startsWith('-')) return runAll(argv);
  if (name === 'list' || name === 'help') {
    const lines = ['parts:'];
    for (const [partName, load] of Object.entries(parts))
      lines.push(`  ${partName.padEnd(10)} ${(await load()).description}${fullRun.has(partName) ? '' : ' (not in a full run)'}`);
    console.log(lines.join('\n'));
    return 0;
  }
  const load = parts[name];
  if (!load) {
    console.error(`unknown benchmark part '${name}'\n${listParts()}`);
    return 2;
  }
  await (await load()).run(rest);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (!process.exitCode) process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exitCode = 1;
  },
);
