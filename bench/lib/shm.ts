/**
 * Loads shmcached for the benchmarks without a compile-time dependency on src/: the bench builds
 * and runs (peers only) before the core or the native addon exists, and says why shmcached is
 * missing from the table.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './machine.js';

/** The part of the Cache API the benchmarks drive (structural, so src/ may evolve freely). */
export interface ShmCache {
  set(key: string, value: string | Uint8Array, opts?: { ttl?: number; flags?: number }): void;
  get(key: string): Buffer | undefined;
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

export type ShmLoad =
  | { ok: true; Cache: ShmCacheClass; protection: string }
  | { ok: false; reason: string };

/** A region path under /dev/shm that belongs to this process. */
export function benchRegionPath(tag: string): string {
  const dir = existsSync('/dev/shm') ? '/dev/shm' : '/tmp';
  return join(dir, `shmcached-bench-${process.pid}-${tag}`);
}

export function removeRegion(path: string): void {
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
  if (!Cache || typeof Cache.open !== 'function') return { ok: false, reason: 'src/index.js exports no Cache.open' };
  const path = benchRegionPath('probe');
  try {
    const c = Cache.open({ path, size: '8mb', reset: true });
    c.set('probe', 'x');
    const v = c.get('probe');
    const protection = String(c.protection ?? 'unknown');
    c.close();
    if (!v || v.length !== 1) return { ok: false, reason: 'probe set/get did not read back' };
    return { ok: true, Cache, protection };
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
