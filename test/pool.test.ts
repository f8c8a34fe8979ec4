/**
 * CachePool: the async, auto-batched face of the store, over both transports (the Atomics
 * channel and piscina tasks) and each way of running a flush (`inline: 'never'`: workers only;
 * `'always'`: the calling thread only; `'auto'` with a fixed `splitAt`: a tick's first operations
 * at the call, larger flushes split between the workers and the caller). Pools use 2 threads (the
 * CI machine has 2 cores) and every loop is bounded; no test depends on timing.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { Cache, CacheError, CachePool, type PoolOp, type PoolResult } from '../src/index.js';
import { at, runWorker, tmpRegion } from './helpers.js';
import { openPoolPair, type Inline, type PoolPair, type Transport, withPoolPair } from './support/pool-pair.js';
import { fnv, type StressTally, THREAD_STRESS } from './support/thread-stress.js';

function hasCode(cls: abstract new (...args: never[]) => unknown, code: string) {
  return (e: unknown) => e instanceof cls && (e as { code?: unknown }).code === code;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected the promise to reject');
}

// Mode 'auto' runs with a fixed threshold here, so that both of its paths run whatever the load.
const SPLIT_AT = 100;

function define(transport: Transport, inline: Inline): void {
  const test = suite(`CachePool (${transport}, inline ${inline})`);

  function open(name: string): PoolPair {
    const o = openPoolPair(`${transport}-${inline}-${name}`, { transport, inline, splitAt: SPLIT_AT });
    assert.is(o.pool.transport, transport);
    assert.is(o.pool.inline, inline);
    return o;
  }

  /** Runs `body` on a fresh pool and a sync Cache on the same store; both closed after it, whatever it threw. */
  const withPool = (name: string, body: (o: PoolPair) => Promise<void>): Promise<void> => withPoolPair(open(name), body);

  test('getMany reads each key once: a key getter that answers otherwise the second time breaks nothing, nor a neighbour in the flush', () =>
    withPool('getmany-once', async ({ pool, cache, path }) => {
      cache.set('a', 'A');
      cache.set('b', 'B');
      const fickle = (second: unknown) => {
        const keys = ['a', 'b'];
        let reads = 0;
        Object.defineProperty(keys, 1, {
          get() {
            reads++;
            return reads === 1 ? 'b' : second;
          },
        });
        return { keys, reads: () => reads };
      };
      for (const second of [{}, 'x'.repeat(400), 'a']) {
        const f = fickle(second);
        const neighbour = pool.get('a'); // the same tick: the same flush
        const many = pool.getMany(f.keys);
        assert.equal(
          (await many).map((b) => b?.toString()),
          ['A', 'B'],
        );
        assert.is((await neighbour)?.toString(), 'A', 'the neighbour in the flush');
        assert.is(f.reads(), 1, 'each key read once');
      }
      const strings = new CachePool<string>({ path, threads: 1, transport, inline, codec: 'string' });
      try {
        cache.set('s', 'S', { flags: 1 << 28 });
        const f = fickle(5);
        f.keys[0] = 's';
        assert.equal(await strings.getMany(f.keys), ['S', 'B']);
        assert.is(f.reads(), 1, 'each key read once (codec)');
      } finally {
        await strings.close();
      }
    }));

  test('a Proxy of a Uint8Array key or value rejects with a coded TypeError in every mode, before any trap runs', () =>
    withPool('proxy-bytes', async ({ pool, cache }) => {
      let traps = 0;
      const spy = (b: Buffer): Buffer =>
        new Proxy(b, {
          get(t, p) {
            traps++;
            void pool.set('zz', 'overwritten');
            return Reflect.get(t, p);
          },
        });
      const pv = spy(Buffer.from('hello'));
      const pk = spy(Buffer.from('k1'));
      for (const [what, p] of [
        ['set, value', () => pool.set('k1', pv)],
        ['append, value', () => pool.append('k1', pv)],
        ['set, key', () => pool.set(pk, 'v')],
        ['get, key', () => pool.get(pk)],
        ['getMany, key', () => pool.getMany(['a', pk])],
        ['setMany, value', () => pool.setMany([['k1', pv]])],
        ['getInto, target', () => pool.getInto('k1', pv)],
      ] as const) {
        const e = (await rejection(p())) as Error & { code?: string };
        assert.ok(e instanceof TypeError && e.code === 'ERR_INVALID_ARG_TYPE', `${what}: ${String(e)}`);
      }
      await pool.get('flush'); // anything queued has run
      assert.is(traps, 0, 'no trap ran');
      assert.is(cache.get('k1'), undefined);
      assert.is(cache.get('zz'), undefined);
    }));

  test('values set through the pool are seen by a sync Cache, and the other way round', () =>
    withPool('visible', async ({ pool, cache }) => {
      await pool.set('from-pool', 'hello', { flags: 7, ttl: 0 });
      assert.is(cache.get('from-pool')?.toString(), 'hello');
      assert.is(cache.gets('from-pool')?.flags, 7);
      cache.set('from-sync', 'world');
      assert.is((await pool.get('from-sync'))?.toString(), 'world');
      assert.is(await pool.get('missing'), undefined);
      const u8 = new Uint8Array([0, 1, 2, 255]);
      await pool.set(new Uint8Array([107, 49]), u8); // key "k1"
      assert.equal([...(await pool.get('k1'))!], [0, 1, 2, 255]);
      assert.is(await pool.add('from-pool', 'x'), false);
      assert.is(await pool.add('fresh', 'x'), true);
      assert.is(await pool.replace('nope', 'x'), false);
      assert.is(await pool.append('fresh', 'y'), true);
      assert.is(await pool.prepend('fresh', 'w'), true);
      assert.is(cache.get('fresh')?.toString(), 'wxy');
      assert.is(await pool.touch('fresh', 100), true);
      assert.is((await pool.gat('fresh', 200))?.toString(), 'wxy');
      assert.is(await pool.delete('fresh'), true);
      assert.is(await pool.delete('fresh'), false);
      assert.is(cache.get('fresh'), undefined);
      const ü = 'schlüssel-ü';
      await pool.set(ü, 'ünïcode');
      assert.is(cache.get(ü)?.toString(), 'ünïcode');
      // Values larger than the worker's first response buffer, in one flush with small ones.
      const big = Buffer.alloc(300 * 1024, 0x61);
      big[0] = 0x62;
      cache.set('big', big);
      const [gb, small, gb2] = await Promise.all([pool.get('big'), pool.get('from-sync'), pool.get('big')]);
      assert.ok(gb!.equals(big) && gb2!.equals(big));
      assert.is(small?.toString(), 'world');
      const many = await pool.getMany(['from-pool', 'missing', 'from-sync', ü]);
      assert.equal(
        many.map((b) => b?.toString()),
        ['hello', undefined, 'world', 'ünïcode'],
      );
    }));

  test('incr/decr through the pool: 1000 concurrent incr give an exact total', () =>
    withPool('incr', async ({ pool, cache }) => {
      cache.set('ctr', '0');
      const all = await Promise.all(Array.from({ length: 1000 }, () => pool.incr('ctr')));
      assert.is(cache.get('ctr')?.toString(), '1000');
      // Every intermediate value was handed out exactly once.
      const seen = new Set(all.map((v) => v!));
      assert.is(seen.size, 1000);
      assert.ok(seen.has(1n) && seen.has(1000n));
      assert.is(await pool.incr('ctr', 10n), 1010n);
      assert.is(await pool.decr('ctr', 1010), 0n);
      assert.is(await pool.incr('absent'), undefined);
    }));

  test('many keys from concurrent bursts across both workers stay exact', () =>
    withPool('spread', async ({ pool, cache }) => {
      for (let k = 0; k < 8; k++) cache.set(`c${k}`, '0');
      // 1200 calls in one tick: split across the workers by key, each key's calls in one task.
      const ps: Promise<unknown>[] = [];
      for (let i = 0; i < 1200; i++) ps.push(pool.incr(`c${i % 8}`));
      await Promise.all(ps);
      for (let k = 0; k < 8; k++) assert.is(cache.get(`c${k}`)?.toString(), '150');
      const st = pool.stats();
      if (inline === 'never') assert.ok(st.tasks >= 2, 'a large flush is split across the workers');
      if (inline === 'always') assert.equal([st.tasks, st.inlineOps], [0, 1200], 'all on the calling thread');
      if (inline === 'auto')
        assert.ok(
          st.tasks >= 1 && st.inlineOps >= SPLIT_AT && st.inlineOps < 1200,
          `split between the workers and the caller: ${JSON.stringify(st)}`,
        );
    }));

  test('calls made in the same tick are batched into few tasks', () =>
    withPool('batching', async ({ pool, cache }) => {
      const before = pool.stats();
      const ps: Promise<unknown>[] = [];
      for (let i = 0; i < 500; i++) ps.push(i % 2 ? pool.set(`k${i}`, `v${i}`) : pool.get(`k${i}`));
      await Promise.all(ps);
      const after = pool.stats();
      const ops = after.ops - before.ops;
      const tasks = after.tasks - before.tasks;
      assert.is(ops, 500);
      if (inline === 'never') {
        assert.ok(tasks >= 1 && tasks < ops, `tasks ${tasks} < ops ${ops}`);
        assert.is(after.flushes - before.flushes, 1);
      } else if (inline === 'always') {
        assert.equal([tasks, after.flushes - before.flushes, after.inlineOps - before.inlineOps], [0, 0, 500], 'run at the call');
      } else {
        // The first SPLIT_AT at the call, the rest in one flush.
        assert.is(after.flushes - before.flushes, 1);
        assert.ok(after.inlineOps - before.inlineOps >= SPLIT_AT);
      }
      assert.is(after.inFlight, 0);
      assert.is(cache.get('k499')?.toString(), 'v499');
    }));

  test('a bad operation rejects alone, with the sync error class and code; its neighbours resolve', () =>
    withPool('errors', async ({ pool, cache }) => {
      cache.set('word', 'abc');
      cache.set('n', '5');
      const [a, bad, b, spaced, c] = await Promise.allSettled([
        pool.set('left', 'L'),
        pool.incr('word'),
        pool.incr('n', 2),
        pool.get('has space'),
        pool.set('right', 'R'),
      ]);
      assert.is(a.status, 'fulfilled');
      assert.is(b.status, 'fulfilled');
      assert.is((b as PromiseFulfilledResult<unknown>).value, 7n);
      assert.is(c.status, 'fulfilled');
      assert.is(bad.status, 'rejected');
      assert.ok(hasCode(CacheError, 'ERR_NON_NUMERIC')((bad as PromiseRejectedResult).reason));
      assert.is(spaced.status, 'rejected');
      // The same error the sync Cache throws for that key.
      assert.throws(() => cache.get('has space'), hasCode(TypeError, 'ERR_INVALID_ARG_VALUE'));
      assert.ok(hasCode(TypeError, 'ERR_INVALID_ARG_VALUE')((spaced as PromiseRejectedResult).reason));
      assert.is(cache.get('left')?.toString(), 'L');
      assert.is(cache.get('right')?.toString(), 'R');
      // Found on the calling thread: a bad key type or length, a bad ttl type; never a sync throw.
      assert.ok(hasCode(TypeError, 'ERR_INVALID_ARG_TYPE')(await rejection(pool.get(42 as unknown as string))));
      assert.ok(hasCode(RangeError, 'ERR_OUT_OF_RANGE')(await rejection(pool.get(''))));
      assert.ok(hasCode(RangeError, 'ERR_OUT_OF_RANGE')(await rejection(pool.get('k'.repeat(251)))));
      assert.ok(hasCode(TypeError, 'ERR_INVALID_ARG_TYPE')(await rejection(pool.set('k', 'v', { ttl: '1' as unknown as number }))));
      assert.ok(hasCode(TypeError, 'ERR_INVALID_ARG_TYPE')(await rejection(pool.set('k', 5 as unknown as string))));
      // Found by the worker's Cache: range checks of numbers, the same as a sync call.
      assert.ok(hasCode(RangeError, 'ERR_OUT_OF_RANGE')(await rejection(pool.set('k', 'v', { flags: -1 }))));
      assert.throws(() => cache.set('k', 'v', { flags: -1 }), hasCode(RangeError, 'ERR_OUT_OF_RANGE'));
      assert.ok(hasCode(RangeError, 'ERR_OUT_OF_RANGE')(await rejection(pool.incr('n', 1.5))));
      assert.ok(hasCode(RangeError, 'ERR_VALUE_TOO_LARGE')(await rejection(pool.set('big', Buffer.alloc(2 * 1024 * 1024)))));
    }));

  test('batch() returns one result per operation, errors included', () =>
    withPool('batch', async ({ pool, cache }) => {
      cache.set('text', 'abc');
      const ops: PoolOp[] = [
        { op: 'set', key: 'a', value: '1', flags: 2 },
        { op: 'get', key: 'a' },
        { op: 'incr', key: 'a', delta: 4 },
        { op: 'incr', key: 'text' },
        { op: 'add', key: 'a', value: 'x' },
        { op: 'delete', key: 'a' },
        { op: 'get', key: 'a' },
        { op: 'get', key: 'bad key' },
        { op: 'nope' } as unknown as PoolOp,
        { op: 'touch', key: 'text', ttl: 10 },
      ];
      const r = await pool.batch(ops);
      assert.is(r.length, ops.length);
      assert.equal(r[0], { ok: true, value: undefined });
      const r1 = at(r, 1);
      assert.ok(r1.ok && Buffer.isBuffer(r1.value) && r1.value.toString() === '1');
      assert.equal(r[2], { ok: true, value: 5n });
      assert.equal(r[3], {
        ok: false,
        error: { name: 'CacheError', code: 'ERR_NON_NUMERIC', message: (r[3] as { error: { message: string } }).error.message },
      });
      assert.equal(r[4], { ok: true, value: false });
      assert.equal(r[5], { ok: true, value: true });
      assert.equal(r[6], { ok: true, value: undefined });
      const r7 = at(r, 7);
      const r8 = at(r, 8);
      assert.ok(!r7.ok && r7.error.name === 'TypeError' && r7.error.code === 'ERR_INVALID_ARG_VALUE');
      assert.ok(!r8.ok && r8.error.code === 'ERR_INVALID_ARG_VALUE');
      assert.equal(r[9], { ok: true, value: true });
      assert.ok(hasCode(TypeError, 'ERR_INVALID_ARG_TYPE')(await rejection(pool.batch('x' as unknown as PoolOp[]))));
    }));

  test("batch(): an operation whose field getter throws is that operation's result, the others run", () =>
    withPool('batch-throw', async ({ pool }) => {
      const boom = {
        op: 'set',
        get key(): string {
          throw new Error('boom');
        },
        value: '2',
      } as PoolOp;
      const ops: PoolOp[] = [{ op: 'set', key: 'bt', value: '1' }, boom, { op: 'get', key: 'bt' }];
      let r: PoolResult[] | undefined;
      try {
        r = await pool.batch(ops);
      } catch (e) {
        assert.unreachable(`batch threw: ${String(e)}`);
      }
      assert.equal(at(r ?? [], 0), { ok: true, value: undefined });
      assert.equal(at(r ?? [], 1), { ok: false, error: { name: 'Error', code: undefined, message: 'boom' } });
      const r2 = at(r ?? [], 2);
      assert.ok(r2.ok && Buffer.isBuffer(r2.value) && r2.value.toString() === '1');
    }));

  test('close() drains queued and in-flight work; later calls reject with ERR_CACHE_CLOSED', async () => {
    const { path, pool, cache } = open('close');
    cache.close();
    const ps: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) ps.push(pool.set(`d${i}`, `v${i}`));
    const closing = pool.close();
    assert.ok(pool.closed);
    assert.is(pool.close(), closing, 'close() twice returns the same promise');
    const late = rejection(pool.get('d0')); // handled at once: no unhandled rejection
    await closing;
    const settled = await Promise.allSettled(ps);
    assert.ok(settled.every((s) => s.status === 'fulfilled'));
    assert.ok(hasCode(CacheError, 'ERR_CACHE_CLOSED')(await late));
    assert.ok(hasCode(CacheError, 'ERR_CACHE_CLOSED')(await rejection(pool.set('x', 'y'))));
    assert.ok(hasCode(CacheError, 'ERR_CACHE_CLOSED')(await rejection(pool.incr('x'))));
    const after = await pool.batch([{ op: 'get', key: 'd0' }]);
    const after0 = at(after, 0);
    assert.ok(!after0.ok && after0.error.code === 'ERR_CACHE_CLOSED');
    const c2 = Cache.open({ path });
    try {
      for (let i = 0; i < 200; i++) assert.is(c2.get(`d${i}`)?.toString(), `v${i}`);
    } finally {
      c2.close();
    }
  });

  test('getMany: values aligned with the keys, in one promise; a bad key rejects the call with its error', () =>
    withPool('many', async ({ pool, cache }) => {
      for (let i = 0; i < 300; i += 2) cache.set(`m${i}`, `v${i}`);
      const keys = Array.from({ length: 300 }, (_, i) => `m${i}`);
      // Two calls and a lone get in one tick share a flush; each gets its own answers.
      const [a, b, lone] = await Promise.all([pool.getMany(keys), pool.getMany(['m4', 'nope', 'm2']), pool.get('m6')]);
      assert.is(a.length, 300);
      for (let i = 0; i < 300; i++) assert.is(a[i]?.toString(), i % 2 === 0 ? `v${i}` : undefined, `m${i}`);
      assert.equal(
        b.map((x) => x?.toString()),
        ['v4', undefined, 'v2'],
      );
      assert.is(lone?.toString(), 'v6');
      assert.equal(await pool.getMany([]), []);
      // Checked here: nothing is sent.
      assert.ok(hasCode(RangeError, 'ERR_OUT_OF_RANGE')(await rejection(pool.getMany(['m0', '']))));
      assert.ok(hasCode(TypeError, 'ERR_INVALID_ARG_TYPE')(await rejection(pool.getMany(['m0', 7 as unknown as string]))));
      assert.ok(hasCode(TypeError, 'ERR_INVALID_ARG_TYPE')(await rejection(pool.getMany('m0' as unknown as string[]))));
      // Checked by the worker (memcached's key rule), as the sync call would.
      assert.ok(hasCode(TypeError, 'ERR_INVALID_ARG_VALUE')(await rejection(pool.getMany(['m0', 'bad key', 'm2']))));
    }));

  test('requests and answers larger than the first buffers (64 KiB) travel whole, and small ones after them', () =>
    withPool('big', async ({ pool, cache }) => {
      const keys: string[] = [];
      const ps: Promise<void>[] = [];
      for (let i = 0; i < 40; i++) {
        keys.push(`big${i}`);
        ps.push(pool.set(`big${i}`, Buffer.alloc(100_000, i + 1)));
      }
      await Promise.all(ps);
      for (let i = 0; i < 40; i++) assert.ok(cache.get(`big${i}`)?.equals(Buffer.alloc(100_000, i + 1)), `big${i} stored whole`);
      const vs = await pool.getMany(keys);
      for (let i = 0; i < 40; i++) assert.ok(vs[i]?.equals(Buffer.alloc(100_000, i + 1)), `big${i} read whole`);
      await pool.set('small', 'after');
      assert.is((await pool.get('small'))?.toString(), 'after');
      assert.is(await pool.get('absent'), undefined);
    }));

  test('getMany of 1000 keys equals sync gets one by one: misses, UTF-8 and byte keys, a value larger than the read arena', () =>
    withPool('many1000', async ({ pool, cache }) => {
      const keys: (string | Uint8Array)[] = Array.from({ length: 1000 }, (_, i) => `k${i}`);
      keys[10] = 'ключ-10';
      keys[20] = Buffer.from('bytes-20');
      for (let i = 0; i < 1000; i += 3) cache.set(at(keys, i), `value ${i} `.repeat(1 + (i % 7)));
      // Larger than the caller's 256 KiB read arena: the batch gets a fresh one for it.
      const big = Buffer.alloc(300_000, 0x5a);
      cache.set('k500', big);
      const many = await pool.getMany(keys);
      const first = many.map((v) => (v === undefined ? undefined : Buffer.from(v)));
      const one = keys.map((k) => cache.get(k));
      assert.is(many.length, 1000);
      for (let i = 0; i < 1000; i++) assert.equal(many[i], one[i], `key ${i}`);
      assert.ok(many[500]?.equals(big));
      // The values handed out are the caller's: later reads never write over them.
      await pool.getMany(keys);
      await Promise.all(keys.map((k) => pool.get(k)));
      for (let i = 0; i < 1000; i++) assert.equal(many[i], first[i], `key ${i} after more reads`);
      // A bad key in the middle rejects that call only; the calls beside it in the tick answer.
      const [bad, ok, lone] = await Promise.allSettled([
        pool.getMany(['k0', 'bad key', 'k3']),
        pool.getMany(['k3', 'nope']),
        pool.get('k6'),
      ]);
      assert.ok(bad.status === 'rejected' && hasCode(TypeError, 'ERR_INVALID_ARG_VALUE')(bad.reason));
      assert.ok(ok.status === 'fulfilled' && ok.value[0]?.equals(cache.get('k3') ?? Buffer.alloc(0)) && ok.value[1] === undefined);
      assert.ok(lone.status === 'fulfilled' && lone.value?.equals(cache.get('k6') ?? Buffer.alloc(0)));
    }));

  test('calls in one tick keep their order around getMany; close() settles a getMany called before it', async () => {
    const o = open('many-order');
    try {
      const { pool, cache } = o;
      const set1 = pool.set('o1', 'first');
      const read = pool.getMany(['o1', 'o2']);
      const set2 = pool.set('o2', 'second');
      const del = pool.delete('o1');
      const after = pool.getMany(['o1', 'o2']);
      await Promise.all([set1, set2, del]);
      assert.equal(
        (await read).map((v) => v?.toString()),
        ['first', undefined],
      );
      assert.equal(
        (await after).map((v) => v?.toString()),
        [undefined, 'second'],
      );
      cache.set('o3', 'third');
      const last = pool.getMany(['o3', 'o2']);
      const closing = pool.close();
      assert.ok(hasCode(CacheError, 'ERR_CACHE_CLOSED')(await rejection(pool.getMany(['o3']))));
      assert.equal(
        (await last).map((v) => v?.toString()),
        ['third', 'second'],
      );
      await closing;
    } finally {
      await o.pool.close();
      o.cache.close();
    }
  });

  test('constructor argument errors are synchronous', () => {
    assert.throws(
      () => new CachePool({ path: tmpRegion('bad2'), transport: 'tcp' as Transport }),
      hasCode(RangeError, 'ERR_INVALID_ARG_VALUE'),
    );
    assert.throws(() => new CachePool({ path: tmpRegion('bad3'), transport, spinMicros: -1 }), hasCode(RangeError, 'ERR_OUT_OF_RANGE'));
    assert.throws(
      () => new CachePool({ path: tmpRegion('bad4'), transport, spinMicros: Number.NaN }),
      hasCode(RangeError, 'ERR_OUT_OF_RANGE'),
    );
    assert.throws(() => new CachePool({ path: tmpRegion('bad'), threads: 0 }), hasCode(RangeError, 'ERR_OUT_OF_RANGE'));
    assert.throws(() => new CachePool(null as never), hasCode(TypeError, 'ERR_INVALID_ARG_TYPE'));
    assert.throws(
      () => new CachePool({ path: tmpRegion('bad5'), transport, inline: 'sometimes' as Inline }),
      hasCode(RangeError, 'ERR_INVALID_ARG_VALUE'),
    );
    assert.throws(() => new CachePool({ path: tmpRegion('bad6'), transport, splitAt: 0 }), hasCode(RangeError, 'ERR_OUT_OF_RANGE'));
  });

  test("one key's operations run in call order, within a tick and across the inline/worker boundary", () =>
    withPool('order', async ({ pool, cache }) => {
      // 3 x 150 operations in one tick: in mode 'auto' the first SPLIT_AT run at the call, the rest are flushed (and split).
      const ps: Promise<unknown>[] = [];
      for (let r = 0; r < 150; r++) {
        ps.push(pool.set('o', `v${r}`));
        ps.push(pool.append('o', '!'));
        ps.push(pool.get('o'));
      }
      const got = await Promise.all(ps);
      for (let r = 0; r < 150; r++) assert.is((got[3 * r + 2] as Buffer).toString(), `v${r}!`, `round ${r}`);
      assert.is(cache.get('o')?.toString(), 'v149!');
      // Counters on many keys, each key's incr results strictly increasing in call order.
      for (let k = 0; k < 16; k++) cache.set(`oc${k}`, '0');
      const incrs: Promise<bigint | undefined>[] = [];
      for (let i = 0; i < 800; i++) incrs.push(pool.incr(`oc${i % 16}`));
      const vals = await Promise.all(incrs);
      for (let i = 0; i < 800; i++) assert.is(vals[i], BigInt(Math.floor(i / 16) + 1), `incr ${i}`);
    }));

  test('errors stay per operation on every path, among many good ones', () =>
    withPool('errmix', async ({ pool, cache }) => {
      cache.set('word', 'abc');
      const ps: Promise<unknown>[] = [];
      for (let i = 0; i < 400; i++) {
        if (i % 100 === 7) ps.push(pool.incr('word'));
        else if (i % 100 === 8) ps.push(pool.set('too-big', Buffer.alloc(2 * 1024 * 1024)));
        else if (i % 100 === 9) ps.push(pool.get('bad key'));
        else ps.push(pool.set(`e${i}`, `v${i}`));
      }
      const r = await Promise.allSettled(ps);
      for (let i = 0; i < 400; i++) {
        const s = at(r, i);
        if (i % 100 === 7) assert.ok(s.status === 'rejected' && hasCode(CacheError, 'ERR_NON_NUMERIC')(s.reason), `incr ${i}`);
        else if (i % 100 === 8)
          assert.ok(s.status === 'rejected' && hasCode(RangeError, 'ERR_VALUE_TOO_LARGE')(s.reason), `too large ${i}`);
        else if (i % 100 === 9) assert.ok(s.status === 'rejected' && hasCode(TypeError, 'ERR_INVALID_ARG_VALUE')(s.reason), `bad key ${i}`);
        else assert.is(s.status, 'fulfilled');
      }
      assert.is(cache.get('word')?.toString(), 'abc', 'a failed incr changes nothing');
      assert.is(cache.get('too-big'), undefined);
      assert.is(cache.get('e399')?.toString(), 'v399');
    }));

  test('close() right after a large tick drains it on every path', async () => {
    const { path, pool, cache } = open('drain');
    cache.close();
    const ps: Promise<void>[] = [];
    for (let i = 0; i < 1000; i++) ps.push(pool.set(`q${i}`, `v${i}`));
    await pool.close();
    assert.ok((await Promise.allSettled(ps)).every((s) => s.status === 'fulfilled'));
    const c2 = Cache.open({ path });
    try {
      for (let i = 0; i < 1000; i += 37) assert.is(c2.get(`q${i}`)?.toString(), `v${i}`);
    } finally {
      c2.close();
    }
  });

  test.run();
}

for (const inline of ['never', 'always', 'auto'] as const) {
  define('atomics', inline);
  define('piscina', inline);
}

// Stress with threads and pools mixed: two worker threads run the sync stress of threads.test.ts
// (incr, checksummed values, a CAS-guarded counter) while this thread drives pools in every mode.
const mixed = suite('CachePool mixed with threads');
mixed('exact incr totals, the CAS counter and checksummed values hold with threads and pools (every mode) at once', async () => {
  const path = tmpRegion('pool-mixed');
  const c = Cache.open({ path, size: '32mb', reset: true });
  for (let i = 0; i < 4; i++) c.set(`ctr:${i}`, '0');
  c.set('casctr', '0');
  const pools = [
    new CachePool({ path, threads: 2, inline: 'never' }),
    new CachePool({ path, threads: 2, inline: 'always' }),
    new CachePool({ path, threads: 2, inline: 'auto', splitAt: 50 }),
    new CachePool({ path, threads: 2, inline: 'auto' }),
  ];
  const bad: string[] = [];
  let poolIncrs = 0;
  const drive = async (pool: CachePool, id: number): Promise<void> => {
    for (let round = 0; round < 30; round++) {
      const ps: Promise<unknown>[] = [];
      for (let i = 0; i < 120; i++) {
        const key = `cv:${(i * 7 + round) % 32}`;
        if (i % 3 === 0) {
          ps.push(pool.incr(`ctr:${i % 4}`));
          poolIncrs++;
        } else if (i % 3 === 1) {
          const body = `${key}|p${id}|${round}|${'y'.repeat((i * 13) % 200)}|`;
          ps.push(pool.set(key, body + fnv(body)));
        } else {
          ps.push(
            pool.get(key).then((v) => {
              if (v === undefined) return;
              const s = v.toString('latin1');
              if (!s.startsWith(`${key}|`) || fnv(s.slice(0, -8)) !== s.slice(-8)) bad.push(s.slice(0, 60));
            }),
          );
        }
      }
      await Promise.all(ps);
    }
  };
  try {
    const [tallies] = await Promise.all([
      Promise.all([1, 2].map((id) => runWorker(path, THREAD_STRESS, { id, rounds: 4000, keys: 32 }))) as Promise<StressTally[]>,
      ...pools.map((p, i) => drive(p, i)),
    ]);
    assert.equal([...bad, ...tallies.flatMap((t) => t.bad)].slice(0, 3), [], 'no torn or mixed value was ever read');
    let total = 0n;
    for (let i = 0; i < 4; i++) total += BigInt(c.get(`ctr:${i}`)!.toString().trim());
    assert.is(total, BigInt(tallies.reduce((a, t) => a + t.incr, 0) + poolIncrs), 'incr totals are exact');
    assert.is(c.get('casctr')!.toString(), String(tallies.reduce((a, t) => a + t.casWins, 0)), 'the CAS-guarded counter lost no update');
    assert.ok(at(pools, 0).stats().tasks > 0 && at(pools, 1).stats().inlineOps > 0 && at(pools, 2).stats().tasks > 0, 'both paths ran');
  } finally {
    for (const p of pools) await p.close();
    c.close();
  }
});
mixed.run();

// A Uint8Array key or value that the caller detaches (transfers away) after the call and before
// the tick's flush is encoded for a worker: that operation alone rejects, the process goes on.
const detached = suite('CachePool: bytes detached between the call and the flush');
for (const transport of ['atomics', 'piscina'] as const) {
  detached(`${transport}: the operation rejects with a coded TypeError, its neighbours are served, nothing else is stored`, async () => {
    const path = tmpRegion(`pool-detached-${transport}`);
    const pool = new CachePool({ path, size: '8mb', reset: true, threads: 1, inline: 'never', transport });
    const detach = (u: Uint8Array): void => {
      structuredClone(u.buffer, { transfer: [u.buffer as ArrayBuffer] });
      assert.is(u.byteLength, 0, 'detached');
    };
    try {
      await pool.set('k', 'before');
      const value = new Uint8Array(8).fill(65);
      // Views of their own ArrayBuffers (a pooled Buffer's is not transferable).
      const key = new TextEncoder().encode('dkey');
      const many = new TextEncoder().encode('mkey');
      const calls = [pool.set('n1', 'one'), pool.set('k', value), pool.set(key, 'v'), pool.getMany(['n1', many]), pool.set('n2', 'two')];
      detach(value);
      detach(key);
      detach(many);
      const settled = await Promise.allSettled(calls);
      const status = settled.map((r) =>
        r.status === 'fulfilled' ? 'ok' : `${(r.reason as Error).name}:${(r.reason as { code?: string }).code}`,
      );
      const bad = 'TypeError:ERR_INVALID_ARG_VALUE';
      assert.equal(status, ['ok', bad, bad, bad, 'ok']);
      assert.is((await pool.get('k'))?.toString(), 'before', 'the detached value stored nothing');
      assert.is((await pool.get('n2'))?.toString(), 'two');
      assert.is(await pool.get('dkey'), undefined);
    } finally {
      await pool.close();
    }
  });
}
detached.run();
