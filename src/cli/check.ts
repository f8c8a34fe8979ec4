/**
 * `shmcached check --file PATH`: verifies a region file without changing it. The file is mapped
 * read-only in a mapping of its own (no gate, no attach, no lock taken), every structure is walked
 * (hash chains, LRU lists, free lists, class counters, page ownership) and the findings printed.
 * While other processes are writing, a walk can see a change half made: the report says how many
 * processes are attached, and a clean result is only authoritative with none.
 *
 * `src/cli/cli.ts` dispatches `shmcached check` here by dynamic import.
 */
import { native, type CheckResult } from '../native.js';

export type { CheckResult } from '../native.js';

/**
 * Verifies the region file at `path` read-only and returns what was found. Throws a
 * {@link CacheError}-shaped error (`code: 'ERR_BAD_REGION'`) for a file that is not a region of
 * this layout (bad magic, another version, truncated, damaged header), or with an `ERR_REGION_*`
 * code for a file the region file rules refuse (docs/security.md); `allowOwner` and `mode` are
 * those rules' deliberate exceptions, as in `Cache.open`.
 */
export function checkRegion(path: string, options: { allowOwner?: number; mode?: number } = {}): CheckResult {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('checkRegion: path must be a non-empty string');
  return native.check(path, options.allowOwner ?? -1, options.mode ?? 0o600);
}

const USAGE = 'usage: shmcached check --file PATH [--file-owner UID] [--file-mode MODE] [--json]';

/**
 * Entry point of `shmcached check`. `argv` holds the arguments after `check`. Prints the findings
 * (or JSON with `--json`) and returns the exit code: 0 the region verifies, 1 problems found,
 * 2 not a region / unreadable, 64 bad usage.
 */
export async function checkMain(argv: string[]): Promise<number> {
  let file: string | undefined;
  let json = false;
  const rules: { allowOwner?: number; mode?: number } = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === undefined) break;
    if (a === '--file' || a === '-f') {
      file = argv[++i];
    } else if (a.startsWith('--file=')) {
      file = a.slice('--file='.length);
    } else if (a === '--file-owner' || a === '--file-mode') {
      // region-safety (docs/security.md): the file rules' deliberate exceptions.
      const v = argv[++i] ?? '';
      const n = a === '--file-owner' ? (/^\d+$/.test(v) ? Number(v) : NaN) : /^0?[0-7]{3,4}$/.test(v) ? parseInt(v, 8) : NaN;
      if (Number.isNaN(n) || n > 0xfffffffe) {
        process.stderr.write(`shmcached check: ${a} needs ${a === '--file-owner' ? 'a uid' : 'an octal mode such as 0660'}\n${USAGE}\n`);
        return 64;
      }
      if (a === '--file-owner') rules.allowOwner = n;
      else rules.mode = n;
    } else if (a === '--json') {
      json = true;
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
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
    r = checkRegion(file, rules);
  } catch (e) {
    const err = e as Error & { code?: string };
    if (json) process.stdout.write(`${JSON.stringify({ ok: false, error: err.message, code: err.code ?? null })}\n`);
    else process.stderr.write(`shmcached check: ${err.message}\n`);
    return 2;
  }
  if (json) {
    process.stdout.write(`${JSON.stringify({ file, ...r })}\n`);
    return r.ok ? 0 : 1;
  }
  const out: string[] = [];
  out.push(`region ${file}`);
  out.push(
    `  state: ${r.clean ? 'closed cleanly (next open starts warm)' : r.liveProcesses > 0 ? 'open' : 'not closed cleanly (next open recovers)'}${r.dirty ? ', a process died attached (recovery due)' : ''}`,
  );
  out.push(`  attached processes: ${r.liveProcesses}${r.liveProcesses > 0 ? ' (the walk may see changes in flight)' : ''}`);
  out.push(`  items: ${r.items}, free chunks: ${r.freeChunks}, pages: ${r.pagesUsed} of ${r.pagesTotal} in use`);
  if (r.leakedChunks > 0)
    out.push(
      `  chunks held outside the lists: ${r.leakedChunks} (${r.liveProcesses > 0 ? 'in use by an attached process, or ' : ''}left by a process that died; the next recovery reclaims them)`,
    );
  out.push(`  hash table: 2^${r.hashPower} buckets${r.expanding ? ', growing' : ''}`);
  out.push(`  recoveries so far: ${r.recoveries}, locks taken over from dead owners: ${r.lockTakeovers}`);
  if (r.ok) {
    out.push('  structures: ok');
  } else {
    out.push(`  structures: ${r.problems.length} problem(s)`);
    for (const p of r.problems) out.push(`    - ${p}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return r.ok ? 0 : 1;
}
