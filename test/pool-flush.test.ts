/**
 * CachePool, mode 'auto': the gets of a tick that queue (past the first `splitAt` operations run
 * at the call) and are flushed inline, where each run of consecutive gets is read with one
 * Cache.getMany on the calling thread. These tests pin what that must not change: values and call
 * order (around writes of the same tick), per-operation errors (a key getMany refuses falls back
 * to one get per key), close() draining a queued tick, and a loop of lone awaited gets. Every
 * flush here holds fewer than `splitAt` operations, so none is split to a worker whatever the
 * load; no test depends on timing.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { type CacheError, CachePool } from '../src/index.js';
import { openPoolPair, type PoolPair, type Transport, withPoolPair } from './support/pool-pair.js';

/** The pools' fixed threshold: a tick's first AT_CALL operations run at the call, the rest queue. */
const AT_CALL = 64;

async function outcome(p: Promise<unknown>): Promise<{ ok: true; value: unknown } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}

function define(transport: Transport): void {
  const test = suite(`CachePool (${transport}, inline auto): queued gets flushed inline`);
  const withPool = (name: string, body: (o: PoolPair) => Promise<void>): Promise<void> =>
    withPoolPair(openPoolPair(`flush-${transport}-${name}`, { transport, inline: 'auto', splitAt: AT_CALL }), body);

  test('a tick past AT_CALL: the first run at the call, the rest in one inline flush, values in order', () =>
    withPool('values', async ({ pool, cache }) => {
      for (let i = 0; i < 300; i++) if (i % 3 !== 0) cache.set(`k${i}`, `v${i}`);
      const n = 2 * AT_CALL - 1;
      const before = pool.stats();
      const ps = Array.from({ length: n }, (_, i) => pool.get(`k${i % 300}`));
      const queued = pool.stats();
      assert.is(queued.ops - before.ops, n);
      assert.is(queued.inlineOps - before.inlineOps, AT_CALL, 'the first AT_CALL ran at the call');
      const values = await Promise.all(ps);
      values.forEach((v, i) => {
        assert.is(v?.toString(), (i % 300) % 3 === 0 ? undefined : `v${i % 300}`, `get ${i}`);
      });
      const after = pool.stats();
      assert.equal([after.flushes - before.flushes, after.tasks - before.tasks, after.inlineOps - before.inlineOps], [1, 0, n]);
    }));

  test('a queued burst keeps call order around writes of the same tick', () =>
    withPool('order', async ({ pool, cache }) => {
      cache.set('k', 'old');
      const early = Array.from({ length: AT_CALL + 20 }, () => pool.get('k'));
      const queued = pool.getMany(['k', 'k', 'k']);
      const wrote = pool.set('k', 'new');
      const late = [pool.get('k'), pool.get('k')];
      const gone = pool.delete('k');
      const last = pool.get('k');
      const many = pool.getMany(['k', 'k']);
      assert.ok((await Promise.all(early)).every((v) => v?.toString() === 'old'));
      assert.equal((await queued).map(String), ['old', 'old', 'old']);
      await wrote;
      assert.equal((await Promise.all(late)).map(String), ['new', 'new']);
      assert.is(await gone, true);
      assert.is(await last, undefined);
      assert.equal(await many, [undefined, undefined]);
    }));

  test("a bad key among queued gets rejects alone, with the sync get's error; its neighbours resolve", () =>
    withPool('errors', async ({ pool, cache }) => {
      cache.set('good', 'g');
      let syncError: unknown;
      try {
        cache.get('bad key');
      } catch (e) {
        syncError = e;
      }
      assert.instance(syncError, TypeError);
      const ps: Promise<unknown>[] = [];
      for (let i = 0; i < AT_CALL + 40; i++) ps.push(pool.get(i === AT_CALL + 10 ? 'bad key' : 'good'));
      ps.push(pool.get(42 as unknown as string));
      const got = await Promise.all(ps.map(outcome));
      got.forEach((r, i) => {
        if (i === AT_CALL + 10) {
          assert.ok(!r.ok && r.error instanceof TypeError, 'the bad key rejects');
          if (!r.ok)
            assert.equal(
              [(r.error as CacheError).code, (r.error as Error).message],
              [(syncError as CacheError).code, (syncError as Error).message],
            );
        } else if (i === ps.length - 1) {
          assert.ok(!r.ok && r.error instanceof TypeError && (r.error as { code?: string }).code === 'ERR_INVALID_ARG_TYPE');
        } else {
          assert.ok(r.ok && String(r.value) === 'g', `get ${i} resolves`);
        }
      });
    }));

  test('close() right after a queued tick settles every get; later gets reject with ERR_CACHE_CLOSED', async () => {
    const pair = openPoolPair(`flush-${transport}-close`, { transport, inline: 'auto', splitAt: AT_CALL });
    try {
      pair.cache.set('c', 'x');
      const ps = Array.from({ length: 2 * AT_CALL - 1 }, () => pair.pool.get('c'));
      const closing = pair.pool.close();
      const late = await outcome(pair.pool.get('c'));
      assert.ok(!late.ok && (late.error as CacheError).code === 'ERR_CACHE_CLOSED');
      assert.ok((await Promise.all(ps)).every((v) => v?.toString() === 'x'));
      await closing;
    } finally {
      await pair.pool.close();
      pair.cache.close();
    }
  });

  test('gets on the fast path (a budget granted by the last full-path get) keep order, errors, counts and close()', async () => {
    const pair = openPoolPair(`flush-${transport}-fast`, { transport, inline: 'auto', splitAt: AT_CALL });
    const { pool, cache } = pair;
    try {
      cache.set('k', 'old');
      // A fresh pool: the first get takes the full path and grants the next AT_CALL - 1 the fast one.
      const before = pool.stats();
      const g = [pool.get('k'), pool.get('k')];
      // A bad key on the fast path rejects its own promise with the sync get's error (no throw).
      const bad = outcome(pool.get('bad key'));
      // Writes of the same tick: the first takes back the budget; the run at the call ends at
      // AT_CALL operations (the three gets count), so the last three writes queue, and a get after
      // them must wait for them.
      const writes = Array.from({ length: AT_CALL }, (_, i) => pool.set('k', `w${i}`));
      const after = pool.get('k');
      assert.is(cache.get('k')?.toString(), `w${AT_CALL - 4}`, 'the writes past the run at the call are queued');
      assert.equal((await Promise.all(g)).map(String), ['old', 'old']);
      const r = await bad;
      assert.ok(!r.ok && r.error instanceof TypeError && (r.error as { code?: string }).code === 'ERR_INVALID_ARG_VALUE');
      await Promise.all(writes);
      assert.is((await after)?.toString(), `w${AT_CALL - 1}`, 'the get after the queued writes sees the last one');
      const st = pool.stats();
      assert.equal([st.ops - before.ops, st.inlineOps - before.inlineOps, st.flushes - before.flushes], [AT_CALL + 4, AT_CALL + 4, 1]);
      // A budget left at close(): later gets reject with ERR_CACHE_CLOSED, not the cache's own error.
      assert.is((await pool.get('k'))?.toString(), `w${AT_CALL - 1}`);
      const closing = pool.close();
      const late = await outcome(pool.get('k'));
      assert.ok(!late.ok && (late.error as CacheError).code === 'ERR_CACHE_CLOSED' && /get/.test((late.error as Error).message));
      await closing;
    } finally {
      await pool.close();
      cache.close();
    }
  });

  test('lone awaited gets: every (AT_CALL + 1)th queues and is flushed alone, in order', () =>
    withPool('lone', async ({ pool, cache }) => {
      cache.set('a', '1');
      const before = pool.stats();
      const n = 3 * (AT_CALL + 1) + 5;
      for (let i = 0; i < n; i++) assert.is((await pool.get(i % 2 === 0 ? 'a' : 'missing'))?.toString(), i % 2 === 0 ? '1' : undefined);
      const after = pool.stats();
      assert.equal([after.flushes - before.flushes, after.tasks - before.tasks, after.inlineOps - before.inlineOps], [3, 0, n]);
    }));

  test.run();
}

define('atomics');
define('piscina');

const model = suite('CachePool (inline auto, measured model): a tick of gets');
model('reads every value of a 2000-get tick, whichever way the model splits it', async () => {
  const pair = openPoolPair('flush-model', { transport: 'atomics', inline: 'auto', splitAt: AT_CALL });
  await pair.pool.close();
  const pool = new CachePool({ path: pair.path, threads: 2 });
  try {
    for (let i = 0; i < 500; i++) pair.cache.set(`m${i}`, `w${i}`);
    const values = await Promise.all(Array.from({ length: 2000 }, (_, i) => pool.get(`m${i % 500}`)));
    values.forEach((v, i) => {
      assert.is(v?.toString(), `w${i % 500}`);
    });
  } finally {
    await pool.close();
    pair.cache.close();
  }
});
model.run();
