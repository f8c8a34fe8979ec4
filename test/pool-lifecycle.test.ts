/**
 * CachePool lifecycle under unlucky timing and hostile use, on both transports and every inline
 * mode: close() with thousands of operations in flight, close() twice / from a `.then` / from a
 * fetch loader, and worker threads that die under the pool. The rules checked: every promise
 * settles, with its result or a CacheError `ERR_CACHE_CLOSED` (never an uncoded Error), close()
 * resolves, and the pool's worker threads are gone after it. No timing thresholds: a generous
 * deadline only turns a hang into a failure.
 *
 * Worker threads are reached by wrapping `worker_threads.Worker` (syncBuiltinESMExports updates
 * the live ESM binding the pool constructs from) while a pool is created, so a test can
 * terminate them: no hook in production code.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import wt from 'node:worker_threads';

import { CachePool } from '../src/index.js';
import { tmpRegion } from './helpers.js';
import { type Inline, openPoolPair, type Transport } from './support/pool-pair.js';

const MODES: Array<{ transport: Transport; inline: Inline }> = [];
for (const transport of ['atomics', 'piscina'] as const)
  for (const inline of ['never', 'always', 'auto'] as const) MODES.push({ transport, inline });

/** Rejects with 'HANG' if `p` has not settled in `ms` (only a hang trips it). */
function deadline<T>(p: Promise<T>, ms = 30_000): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timer = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error('HANG')), ms);
  });
  return Promise.race([p, timer]).finally(() => clearTimeout(t));
}

/** 'ok', or the rejection's code ('NOCODE: message' when it has none). */
function codes(rs: PromiseSettledResult<unknown>[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const r of rs) {
    const reason = r.status === 'rejected' ? (r.reason as { code?: unknown; message?: unknown }) : undefined;
    const c = r.status === 'fulfilled' ? 'ok' : typeof reason?.code === 'string' ? reason.code : `NOCODE: ${String(reason?.message)}`;
    t[c] = (t[c] ?? 0) + 1;
  }
  return t;
}

function onlyOkOrClosed(t: Record<string, number>, what: string): void {
  for (const k of Object.keys(t))
    assert.ok(k === 'ok' || k === 'ERR_CACHE_CLOSED', `${what}: unexpected outcome ${k} (${JSON.stringify(t)})`);
}

/** Runs `make` with every worker_threads.Worker it constructs recorded. */
function capturingWorkers<T>(make: () => T): { value: T; workers: wt.Worker[] } {
  const workers: wt.Worker[] = [];
  const Original = wt.Worker;
  const Capturing = class extends Original {
    constructor(...args: ConstructorParameters<typeof Original>) {
      super(...args);
      workers.push(this);
    }
  };
  (wt as { Worker: typeof Original }).Worker = Capturing;
  syncBuiltinESMExports();
  try {
    return { value: make(), workers };
  } finally {
    (wt as { Worker: typeof Original }).Worker = Original;
    syncBuiltinESMExports();
  }
}

/** Resolves when every worker in `ws` has emitted 'exit' (at once for one that already has: threadId -1). */
function allExited(ws: wt.Worker[]): Promise<void> {
  return Promise.all(ws.map((w) => (w.threadId === -1 ? undefined : new Promise((r) => w.once('exit', r))))).then(() => undefined);
}

for (const { transport, inline } of MODES) {
  const test = suite(`CachePool lifecycle (${transport}, inline ${inline})`);
  const open = (name: string) =>
    capturingWorkers(() => openPoolPair(`life-${transport}-${inline}-${name}`, { transport, inline, splitAt: 64 }));

  test('close() with 10,000 operations in flight: each settles with its result or ERR_CACHE_CLOSED; close() resolves; the workers exit', async () => {
    const { value: pair, workers } = open('inflight');
    const { pool, cache } = pair;
    const exited = allExited(workers);
    cache.set('ctr', '0');
    const ps: Promise<unknown>[] = [];
    const incrs: Promise<unknown>[] = [];
    for (let i = 0; i < 10_000; i++) {
      const k = `k${i % 500}`;
      switch (i % 6) {
        case 0:
          ps.push(pool.get(k));
          break;
        case 1:
          ps.push(pool.set(k, `v${i}`));
          break;
        case 2:
          ps.push(pool.getMany([k, `x${i}`]));
          break;
        case 3:
          ps.push(pool.setMany([[`${k}m`, 'y']]));
          break;
        case 4:
          incrs.push(pool.incr('ctr', 1));
          ps.push(incrs[incrs.length - 1] as Promise<unknown>);
          break;
        default:
          ps.push(pool.fetch(`f${i % 50}`, () => new Promise<string>((r) => setTimeout(() => r('L'), 20))));
      }
    }
    const all = Promise.allSettled(ps);
    const closing = pool.close();
    const after = Promise.allSettled([pool.get('a'), pool.set('a', '1'), pool.getMany(['a']), pool.setMany([['a', '1']])]);
    const t = codes(await deadline(all));
    onlyOkOrClosed(t, 'in flight');
    assert.is(t.ok !== undefined && t.ok >= 10_000 - 10_000 / 6, true, `every non-fetch operation resolved (${JSON.stringify(t)})`);
    assert.equal(codes(await deadline(after)), { ERR_CACHE_CLOSED: 4 }, 'calls after close() in the same tick reject ERR_CACHE_CLOSED');
    await deadline(closing);
    await deadline(exited);
    const applied = (await Promise.allSettled(incrs)).filter((r) => r.status === 'fulfilled').length;
    assert.is(cache.get('ctr')?.toString(), String(applied), 'the store holds exactly the increments that resolved');
    cache.close();
  });

  test('close() twice, from a .then of an operation, and from inside a fetch loader: all settle', async () => {
    let { value: pair } = open('twice');
    const a = pair.pool.close();
    assert.is(pair.pool.close(), a, 'a second close() returns the same promise');
    await deadline(a);
    pair.cache.close();

    ({ value: pair } = open('then'));
    let inner: Promise<void> | undefined;
    const p = pair.pool.set('a', '1').then(() => {
      inner = pair.pool.close();
      return pair.pool.get('a');
    });
    assert.equal(codes(await deadline(Promise.allSettled([p]))), { ERR_CACHE_CLOSED: 1 });
    await deadline(inner!);
    pair.cache.close();

    ({ value: pair } = open('loader'));
    const pool: CachePool = pair.pool;
    const f = pool.fetch('z', async () => {
      await pool.close();
      return 'v';
    });
    assert.equal(
      codes(await deadline(Promise.allSettled([f]))),
      { ERR_CACHE_CLOSED: 1 },
      'the loader closed the pool: the fetch cannot store',
    );
    pair.cache.close();
  });

  test('a worker thread that dies: operations in flight settle with ERR_CACHE_CLOSED, later ones settle, close() resolves', async () => {
    const { value: pair, workers } = open('death');
    const { pool } = pair;
    await pool.set('warm', '1');
    const ps: Promise<unknown>[] = [];
    for (let i = 0; i < 500; i++) ps.push(pool.set(`d${i}`, 'x'));
    const all = Promise.allSettled(ps);
    await Promise.all(workers.map((w) => w.terminate()));
    onlyOkOrClosed(codes(await deadline(all)), 'in flight when the workers died');
    const later: Promise<unknown>[] = [];
    for (let i = 0; i < 500; i++) later.push(pool.get(`d${i}`));
    onlyOkOrClosed(codes(await deadline(Promise.allSettled(later))), 'after the workers died');
    await deadline(pool.close());
    pair.cache.close();
  });

  test('20 pools on one file, opened and closed 3 times: no thread and no mapping of the file left', async () => {
    const path = tmpRegion(`life-many-${transport}-${inline}`);
    const threads = (): number => readdirSync('/proc/self/task').length;
    const mappings = (): number =>
      readFileSync('/proc/self/maps', 'utf8')
        .split('\n')
        .filter((l) => l.endsWith(path)).length;
    const before = threads();
    for (let round = 0; round < 3; round++) {
      const pools = Array.from(
        { length: 20 },
        () => new CachePool({ path, size: '8mb', threads: 2, transport, inline, splitAt: inline === 'auto' ? 64 : undefined }),
      );
      await deadline(Promise.all(pools.map((p, i) => p.set(`k${i}`, String(round)))));
      assert.ok(mappings() >= 1, 'the open pools map the file');
      await deadline(Promise.all(pools.map((p) => p.close())));
    }
    assert.is(mappings(), 0, 'no mapping of the file is left');
    // A worker's thread may linger a moment after its 'exit' event: wait (without a threshold) for the count to come back.
    for (let i = 0; i < 200 && threads() > before; i++) await new Promise((r) => setTimeout(r, 25));
    assert.is(threads(), before, 'no thread is left');
  });

  test('an open, idle pool does not keep the process alive', async () => {
    const url = new URL('../src/index.js', import.meta.url).href;
    const path = tmpRegion(`life-idle-${transport}-${inline}`);
    const code = `const { CachePool } = await import(${JSON.stringify(url)});
const pool = new CachePool({ path: ${JSON.stringify(path)}, size: '8mb', reset: true, threads: 2, transport: '${transport}', inline: '${inline}' });
await pool.set('a', '1');
console.log(String(await pool.get('a')));`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    const rc = await deadline(new Promise<number | null>((r) => child.once('exit', r))).catch((e: Error) => {
      child.kill('SIGKILL');
      throw e;
    });
    assert.is(rc, 0);
    assert.is(out.trim(), '1');
  });

  test.run();
}

const shrink = suite('CachePool channel buffers (atomics)');

shrink('a large batch grows the shared buffers and the next small requests give the memory back', async () => {
  const path = tmpRegion('plc-shrink');
  const pool = new CachePool({ path, size: '16mb', threads: 1, inline: 'never', transport: 'atomics' });
  try {
    const rest = pool.stats().channelBytes;
    assert.is(rest, 128 * 1024, 'two 64 KiB buffers at rest');
    const value = Buffer.alloc(1000, 7);
    const keys = Array.from({ length: 2000 }, (_, i) => `k${i}`);
    await pool.setMany(keys.map((k) => [k, value] as const)); // a 2 MB request
    const got = await pool.getMany(keys); // a 2 MB response (its small request shrinks the request buffer)
    assert.is(got.filter((v) => v?.length === 1000).length, 2000);
    assert.ok(pool.stats().channelBytes > 2 * 1024 * 1024, `grown: ${pool.stats().channelBytes}`);
    // The worker replaces its response buffer once the last response was small: two small calls.
    assert.is((await pool.get('k1'))?.length, 1000);
    assert.is((await pool.get('k2'))?.length, 1000);
    assert.is(pool.stats().channelBytes, rest, 'back to the start size');
    // And it still carries a large batch afterwards (grows again).
    assert.is((await pool.getMany(keys)).filter((v) => v?.length === 1000).length, 2000);
  } finally {
    await pool.close();
  }
});

shrink.run();
