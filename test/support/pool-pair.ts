/**
 * The pool suites' store: a fresh 8 MiB region with a 2-thread CachePool of one transport and
 * inline mode on it, and a synchronous Cache on the same file, so a test can check what one face
 * wrote through the other. Shared by test/pool.test.ts and test/pool-values.test.ts.
 */
import { Cache, CachePool } from '../../src/index.js';
import { tmpRegion } from '../helpers.js';

/** The pool's worker channels under test. */
export type Transport = 'atomics' | 'piscina';
/** The pool's inline modes under test. */
export type Inline = 'never' | 'always' | 'auto';

/** A pool and a sync Cache on one region file. */
export interface PoolPair<T = Buffer> {
  path: string;
  pool: CachePool<T>;
  cache: Cache;
}

/** Opens a {@link PoolPair}; in mode 'auto' the pool splits at `splitAt` so both of its paths run whatever the load. */
export function openPoolPair<T = Buffer>(
  name: string,
  mode: { transport: Transport; inline: Inline; splitAt: number; codec?: 'json' | 'v8' | 'string' | object },
): PoolPair<T> {
  const path = tmpRegion(name);
  const pool = new CachePool<T>({
    path,
    size: '8mb',
    reset: true,
    threads: 2,
    transport: mode.transport,
    inline: mode.inline,
    splitAt: mode.inline === 'auto' ? mode.splitAt : undefined,
    ...(mode.codec !== undefined ? { codec: mode.codec as 'json' } : {}),
  });
  return { path, pool, cache: Cache.open({ path }) };
}

/** Runs `body` on `pair`, then closes its pool and cache whatever the body threw. */
export async function withPoolPair<T>(pair: PoolPair<T>, body: (o: PoolPair<T>) => Promise<void>): Promise<void> {
  try {
    await body(pair);
  } finally {
    await pair.pool.close();
    pair.cache.close();
  }
}
