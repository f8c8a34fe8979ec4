/** Where a benchmark ran, and where its results go. */
import { cpus, freemem, hostname, loadavg, totalmem, platform, arch, release } from 'node:os';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';

export interface MachineInfo {
  hostname: string;
  cpuModel: string;
  cpus: number;
  memTotalGiB: number;
  memFreeGiB: number;
  platform: string;
  arch: string;
  kernel: string;
  node: string;
  v8: string;
  /** 1/5/15-minute load averages when the run started: a busy machine explains noisy numbers. */
  loadavg: number[];
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  return {
    hostname: hostname(),
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    cpus: c.length,
    memTotalGiB: +(totalmem() / 2 ** 30).toFixed(1),
    memFreeGiB: +(freemem() / 2 ** 30).toFixed(1),
    platform: platform(),
    arch: arch(),
    kernel: release(),
    node: process.version,
    v8: process.versions.v8,
    loadavg: loadavg().map((x) => +x.toFixed(2)),
  };
}

export function describeMachine(m: MachineInfo): string {
  return (
    `${m.cpuModel}, ${m.cpus} CPUs, ${m.memTotalGiB} GiB RAM, ${m.platform}/${m.arch} ${m.kernel}, ` +
    `Node ${m.node} (V8 ${m.v8}), host \`${m.hostname}\`, load average at start ${m.loadavg.join(' / ')}`
  );
}

/** The package root: the nearest directory above this file holding package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'shmcached') return dir;
      } catch {
        /* keep looking */
      }
    }
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

/** Local date as YYYY-MM-DD. */
export function isoDay(d: Date = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/**
 * Writes `bench/results/<YYYY-MM-DD>-<host>-<part>.md` and `.json` (a later run the same day
 * replaces them). Returns the two paths, relative to the package root.
 */
export function writeResults(part: string, markdown: string, json: unknown, when: Date = new Date()): { md: string; json: string } {
  return { md: writeResultFile(part, 'md', markdown, when), json: writeResultFile(part, 'json', JSON.stringify(json, null, 2), when) };
}

/**
 * A note for a report when other work shared the CPUs: the 1-minute load average above half the
 * CPUs at the start, or above the CPU count at the end (the run itself adds about 1). Undefined
 * on a quiet machine.
 */
export function busyNote(start: MachineInfo, endLoad: readonly number[] = loadavg()): string | undefined {
  const a = start.loadavg[0] ?? 0;
  const b = endLoad[0] ?? 0;
  if (a <= start.cpus * 0.5 && b <= start.cpus) return undefined;
  return `the machine was busy (1-minute load average ${a} at the start, ${+b.toFixed(2)} at the end, on ${start.cpus} CPUs): other work shared the CPUs, so absolute times are inflated and noisy; compare within this run`;
}

/** `<YYYY-MM-DD>-<host>[-<part>].<ext>`: the name of a results file (a report links its SVG by it). */
export function resultFileName(part: string | undefined, ext: string, when: Date = new Date()): string {
  const host = hostname().replace(/[^A-Za-z0-9._-]+/g, '_') || 'host';
  return `${isoDay(when)}-${host}${part ? `-${part}` : ''}.${ext}`;
}

/** `bench/results/<YYYY-MM-DD>-<host>[-<part>].<ext>`, absolute (the folder is created). */
export function resultPath(part: string | undefined, ext: string, when: Date = new Date()): string {
  const dir = join(repoRoot(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  return join(dir, resultFileName(part, ext, when));
}

/** Writes a file under bench/results (see {@link resultPath}); returns its path relative to the package root. */
export function writeResultFile(part: string | undefined, ext: string, content: string, when: Date = new Date()): string {
  const p = resultPath(part, ext, when);
  writeFileSync(p, content.endsWith('\n') ? content : `${content}\n`);
  return relative(repoRoot(), p);
}

/** The commit the run measured, and whether src/ or native/ had uncommitted changes. */
export function gitInfo(): { commit: string; dirty: boolean } | undefined {
  try {
    const cwd = repoRoot();
    const opts = { cwd, encoding: 'utf8' as const, stdio: ['ignore', 'pipe', 'ignore'] as ['ignore', 'pipe', 'ignore'] };
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], opts).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'native', 'binding.gyp'], opts).trim() !== '';
    return { commit, dirty };
  } catch {
    return undefined;
  }
}
