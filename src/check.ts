/**
 * `shmcached check --file PATH`: verifies a region file without changing it. The file is mapped
 * read-only in a mapping of its own (no gate, no attach, no lock taken), every structure is walked
 * (hash chains, LRU lists, free lists, class counters, page ownership) and the findings printed.
 * While other processes are writing, a walk can see a change half made: the report says how many
 * processes are attached, and a clean result is only authoritative with none.
 *
 * `src/cli.ts` dispatches `shmcached check` here by dynamic import.
 */
import { native, type CheckResult } from './native.js';

export type { CheckResult } from './native.js';

/**
 * Verifies the region file at `path` read-only and returns what was found. Throws a
 * {@link CacheError}-shaped error (`code: 'ERR_BAD_REGION'`) for a file that is not a region of
 * this layout (bad magic, another version, truncated, damaged header).
 */
export function checkRegion(path: string): CheckResult {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('checkRegion: path must be a non-empty string');
  return native.check(path);
}

const USAGE = 'usage: shmcached check --file PATH [--json]';

/**
 * Entry point of `shmcached check`. `argv` holds the arguments after `check`. Prints the findings
 * (or JSON with `--json`) and returns the exit code: 0 the region verifies, 1 problems found,
 * 2 not a region / unreadable, 64 bad usage.
 */
export async function checkMain(argv: string[]): Promise<number> {
  let file: string | undefined;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--file' || a === '-f') {
      file = argv[++i];
    } else if (a.startsWith('--file=')) {
      file = a.slice('--file='.length);
    } else if (a === '--json') {
      json = true;
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE + '\n');
      return 0;
    } else {
      process.stderr.write(`shmcached check: unknown argument '${a}'\n${USAGE}\n`);
      return 64;
    }
  }
  if (!file) {
    process.stderr.write(`shmcached check: --file PATH is required\n${USAGE}\n`);
    return 64;
  }
  let r: CheckResult;
  try {
    r = checkRegion(file);
  } catch (e) {
    const err = e as Error & { code?: string };
    if (json) process.stdout.write(JSON.stringify({ ok: false, error: err.message, code: err.code ?? null }) + '\n');
    else process.stderr.write(`shmcached check: ${err.message}\n`);
    return 2;
  }
  if (json) {
    process.stdout.write(JSON.stringify({ file, ...r }) + '\n');
    return r.ok ? 0 : 1;
  }
  const out: string[] = [];
  out.push(`region ${file}`);
  out.push(`  state: ${r.clean ? 'closed cleanly (next open starts warm)' : r.liveProcesses > 0 ? 'open' : 'not closed cleanly (next open recovers)'}${r.dirty ? ', a process died attached (recovery due)' : ''}`);
  out.push(`  attached processes: ${r.liveProcesses}${r.liveProcesses > 0 ? ' (the walk may see changes in flight)' : ''}`);
  out.push(`  items: ${r.items}, free chunks: ${r.freeChunks}, pages: ${r.pagesUsed} of ${r.pagesTotal} in use`);
  out.push(`  hash table: 2^${r.hashPower} buckets${r.expanding ? ', growing' : ''}`);
  out.push(`  recoveries so far: ${r.recoveries}, locks taken over from dead owners: ${r.lockTakeovers}`);
  if (r.ok) {
    out.push('  structures: ok');
  } else {
    out.push(`  structures: ${r.problems.length} problem(s)`);
    for (const p of r.problems) out.push(`    - ${p}`);
  }
  process.stdout.write(out.join('\n') + '\n');
  return r.ok ? 0 : 1;
}
