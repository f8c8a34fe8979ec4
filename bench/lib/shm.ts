/**
 * Loads shmcached for the benchmarks without a compile-time dependency on src/: the bench builds
 * and runs (peers only) before the core or the native addon exists, and says why shmcached is
 * missing from the table.
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './machine.js';

/** The part of the Cache API the benchmarks drive (structural, so src/ may evolve freely). */
export interface ShmCache {
  set(key: string, value: string | Uint8Array, opts?: { ttl?: number; flags?: number }): void;
  get(key: string): Buffer | undefined;
  /** Copies the value into target (allocates nothing); its length, or undefined when absent. */
  getInto?(key: string, target: Uint8Array, offset?: number): number | undefined;
  delete(key: string): boolean;
  incr(key: string, delta?: number): bigint | undefined;
  getMany(keys: readonly string[]): (Buffer | undefined)[];
  close(): void;
  readonly protection?: string;
  stats?(group?: string): unknown;
}

export interface ShmOpenOptions {
  path: string;
  size: number | string;
  reset?: boolean;
  evict?: boolean;
  itemSizeMax?: number | string;
}

export interface ShmCacheClass {
  open(opts: ShmOpenOptions): ShmCache;
}

/** The part of the CachePool API the benchmarks drive. */
export interface ShmPool {
  get(key: string): Promise<Buffer | undefined>;
  set(key: string, value: string | Uint8Array): Promise<void>;
  delete(key: string): Promise<boolean>;
  incr(key: string, delta?: number): Promise<bigint | undefined>;
  batch(ops: readonly ShmPoolOp[]): Promise<({ ok: true; value: unknown } | { ok: false; error: { message: string } })[]>;
  close(): Promise<void>;
}

/** One operation of {@link ShmPool.batch}. */
export type ShmPoolOp =
  | { op: 'get'; key: string }
  | { op: 'set'; key: string; value: string | Uint8Array }
  | { op: 'delete'; key: string }
  | { op: 'incr'; key: string; delta?: number };

/** `new CachePool({ path, threads })`. */
export type ShmPoolClass = new (opts: { path: string; threads?: number }) => ShmPool;

export type ShmLoad =
  | { ok: true; Cache: ShmCacheClass; CachePool?: ShmPoolClass; protection: string; entry: string }
  | { ok: false; reason: string };

// Region files this process may have left (they can be hundreds of MiB of RAM in /dev/shm):
// removed on Ctrl-C / SIGTERM / exit as well as on close.
const liveRegions = new Set<string>();
let cleanupInstalled = false;

function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  const sweep = (): void => {
    for (const p of liveRegions) {
      try {
        rmSync(p, { force: true });
      } catch {
        /* best effort */
      }
    }
    liveRegions.clear();
  };
  process.on('exit', sweep);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      sweep();
      process.stderr.write('\n');
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

/** A region path under /dev/shm that belongs to this process (removed at exit at the latest). */
export function benchRegionPath(tag: string): string {
  // SHMCACHED_BENCH_DIR: where region files go (default /dev/shm, a tmpfs, as in production).
  const dir = process.env.SHMCACHED_BENCH_DIR || (existsSync('/dev/shm') ? '/dev/shm' : '/tmp');
  const path = join(dir, `shmcached-bench-${process.pid}-${tag}`);
  installCleanup();
  liveRegions.add(path);
  return path;
}

export function removeRegion(path: string): void {
  liveRegions.delete(path);
  try {
    rmSync(path, { force: true });
  } catch {
    /* best effort */
  }
}

/** Imports dist/src/index.js and opens (then removes) a tiny region to prove the addon loads. */
export async function loadShmcached(): Promise<ShmLoad> {
  // SHMCACHED_BENCH_MODULE: another build of the module to bench (e.g. a stand-in, or an old tree).
  const entry = process.env.SHMCACHED_BENCH_MODULE || join(repoRoot(), 'dist', 'src', 'index.js');
  if (!existsSync(entry)) return { ok: false, reason: `${entry} not built (src/index.ts missing?)` };
  let mod: Record<string, unknown>;
  try {
    // A computed specifier: tsc must not resolve src/ at compile time.
    const spec: string = new URL(`file://${entry}`).href;
    mod = (await import(spec)) as Record<string, unknown>;
  } catch (e) {
    return { ok: false, reason: `import failed: ${firstLine(e)}` };
  }
  const Cache = mod.Cache as ShmCacheClass | undefined;
  const CachePool = typeof mod.CachePool === 'function' ? (mod.CachePool as ShmPoolClass) : undefined;
  if (!Cache || typeof Cache.open !== 'function') return { ok: false, reason: 'src/index.js exports no Cache.open' };
  const path = benchRegionPath('probe');
  try {
    const c = Cache.open({ path, size: '8mb', reset: true });
    c.set('probe', 'x');
    const v = c.get('probe');
    const protection = String(c.protection ?? 'unknown');
    c.close();
    if (v?.length !== 1) return { ok: false, reason: 'probe set/get did not read back' };
    return { ok: true, Cache, CachePool, protection, entry };
  } catch (e) {
    return { ok: false, reason: `Cache.open failed: ${firstLine(e)}` };
  } finally {
    removeRegion(path);
  }
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0] ?? msg;
}

function newestMtime(dir: string, ext: RegExp): number {
  let newest = 0;
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) newest = Math.max(newest, newestMtime(p, ext));
      else if (ext.test(e.name)) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  } catch {
    /* missing: nothing newer */
  }
  return newest;
}

/**
 * Warnings when what runs is older than its sources: the addon older than native/, or
 * dist/src older than src/ (the bench script runs the build outputs as they are).
 */
export function staleBuildWarnings(): string[] {
  const root = repoRoot();
  const out: string[] = [];
  try {
    const addon = join(root, 'build', 'Release', 'shmcached.node');
    if (existsSync(addon)) {
      const src = Math.max(
        newestMtime(join(root, 'native'), /\.(cc|h|hpp|cpp)$/),
        existsSync(join(root, 'binding.gyp')) ? statSync(join(root, 'binding.gyp')).mtimeMs : 0,
      );
      if (src > statSync(addon).mtimeMs)
        out.push('build/Release/shmcached.node is older than native/ sources: run `npm run build:native` to bench the current code');
    }
    const ts = newestMtime(join(root, 'src'), /\.ts$/);
    const js = newestMtime(join(root, 'dist', 'src'), /\.js$/);
    if (js > 0 && ts > js) out.push('dist/src is older than src/: run `npx tsc -p tsconfig.json` to bench the current code');
  } catch {
    /* best effort */
  }
  return out;
}
