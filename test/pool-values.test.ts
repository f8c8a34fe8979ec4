/**
 * CachePool parity with Cache (issue 19): codecs (encode and decode on the calling thread, bytes
 * on the wire, the codec's tag in the flags), ttlMs / expiresAt and the 1970 RangeError, and the
 * everyday calls — has, clear, size, keys, entries, gets/cas, gats, setMany, flushAll, getInto,
 * fetch under a codec — on both of the pool's paths: the calling thread (`inline: 'always'`),
 * the workers over each transport (`inline: 'never'`), and mode 'auto' with `splitAt: 1` (a
 * tick's first operation at the call, the rest split between the workers and the caller).
 * Every loop is bounded; no test depends on timing.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';

import { Cache, CacheError } from '../src/index.js';
import { runWorker, tmpRegion } from './helpers.js';
import { openPoolPair, type Inline, type PoolPair, type Transport, withPoolPair } from './support/pool-pair.js';

/** A resizable ArrayBuffer (ES2024, in Node 20; typed here by hand, as the project's lib predates it). */
interface Resizable extends ArrayBuffer {
  resize(byteLength: number): void;
}
function resizable(byteLength: number): Resizable {
  const RAB = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Resizable;
  return new RAB(byteLength, { maxByteLength: byteLength });
}

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected the promise to reject');
}

function thrown(f: () => unknown): Error & { code?: string } {
  try {
    f();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

function define(transport: Transport, inline: Inline): void {
  const test = suite(`CachePool values (${transport}, inline ${inline})`);

  function open<T = Buffer>(name: string, codec?: 'json' | 'v8' | 'string' | object): PoolPair<T> {
    return openPoolPair<T>(`pv-${transport}-${inline}-${name}`, { transport, inline, splitAt: 1, codec });
  }

  test('a string key with a lone surrogate is refused (it would be stored as U+FFFD, another key)', () =>
    withPoolPair(open('surrogate'), async ({ pool, cache }) => {
      await pool.set('\uFFFD', 'replacement');
      for (const k of ['\uD800', 'k\uDC00k']) {
        const all = [
          pool.set(k, 'x'),
          pool.get(k),
          pool.delete(k),
          pool.getMany(['\uFFFD', k]),
          pool.setMany([
            ['fine', 'x'],
            [k, 'x'],
          ]),
        ];
        // Settled together: on a build that takes the key, no rejection is left unhandled.
        for (const r of await Promise.allSettled(all)) {
          assert.is(r.status, 'rejected', JSON.stringify(k));
          const e = (r as PromiseRejectedResult).reason as Error & { code?: string };
          assert.ok(e instanceof TypeError, `${JSON.stringify(k)}: ${e}`);
          assert.is(e.code, 'ERR_INVALID_ARG_VALUE');
        }
      }
      assert.is(cache.get('\uFFFD')?.toString(), 'replacement');
      assert.is(cache.get('fine'), undefined);
    }));

  test('has, gets/cas, gat/gats, touch, getInto, delete', () =>
    withPoolPair(open('ops'), async ({ pool, cache }) => {
      await pool.set('a', 'one', { flags: 5 });
      assert.is(await pool.has('a'), true);
      assert.is(await pool.has('nope'), false);
      const hits = cache.stats().get_hits;
      await pool.has('a');
      assert.is(cache.stats().get_hits, hits, 'has counts no get');
      const info = await pool.gets('a');
      assert.ok(info);
      assert.is(info.value.toString(), 'one');
      assert.is(info.flags, 5);
      assert.is(info.cas, cache.gets('a')!.cas);
      assert.is(await pool.cas('a', 'two', info.cas), 'stored');
      assert.is(await pool.cas('a', 'three', info.cas), 'exists');
      assert.is(await pool.cas('gone', 'x', 1n), 'not_found');
      assert.is(cache.get('a')?.toString(), 'two');
      assert.is((await rejection(pool.cas('a', 'x', -1n))).code, 'ERR_OUT_OF_RANGE');
      assert.is((await rejection(pool.cas('a', 'x', 'x' as never))).code, 'ERR_INVALID_ARG_TYPE');
      assert.is((await pool.gat('a', { ttlMs: 60_000 }))?.toString(), 'two');
      assert.is((await pool.gats('a', 100))?.value.toString(), 'two');
      assert.is(await pool.touch('a', { expiresAt: new Date(Date.now() + 3_600_000) }), true);
      assert.is(await pool.touch('nope', 5), false);
      const target = new Uint8Array(8);
      assert.is(await pool.getInto('a', target, 2), 3);
      assert.is(Buffer.from(target.subarray(2, 5)).toString(), 'two');
      const small = new Uint8Array(2);
      assert.is(await pool.getInto('a', small), 3, 'too small: the length, nothing copied');
      assert.equal([...small], [0, 0]);
      assert.is(await pool.getInto('nope', target), undefined);
      assert.is((await rejection(pool.getInto('a', target, 9))).code, 'ERR_OUT_OF_RANGE');
      assert.is((await rejection(pool.has('bad key'))).code, 'ERR_INVALID_ARG_VALUE');
      assert.is(await pool.delete('a'), true);
      assert.is(await pool.has('a'), false);
      const st = pool.stats();
      if (inline === 'never') assert.is(st.inlineOps, 0, 'every call went to the workers');
      if (inline === 'always') assert.is(st.tasks, 0, 'no call went to the workers');
    }));

  test('getInto: a target detached or shrunk before the answer is a coded error, nothing written out of bounds', () =>
    withPoolPair(open('into-late'), async ({ pool }) => {
      await pool.set('a', 'hello');
      const detach = (u: Uint8Array): ArrayBuffer => structuredClone(u.buffer as ArrayBuffer, { transfer: [u.buffer as ArrayBuffer] });
      const isDetachedError = (e: Error & { code?: string }, what: string) => {
        assert.instance(e, TypeError, what);
        assert.is(e.code, 'ERR_INVALID_ARG_VALUE', `${what}: ${e.message}`);
        assert.match(e.message, /detached/, what);
      };
      // Detached before the call: refused at once, as Cache.getInto refuses it.
      const gone = new Uint8Array(8);
      detach(gone);
      isDetachedError(await rejection(pool.getInto('a', gone)), 'detached before the call');
      // Detached after the call: the answer comes later (from a worker, or this thread's flush).
      // Either it was copied before the detach (it is then in the moved bytes), or the call
      // rejects with the same coded error; never an uncoded TypeError.
      const late = new Uint8Array(8);
      const p1 = pool.getInto('a', late, 1);
      const moved = new Uint8Array(detach(late));
      const r1 = await p1.then(
        (n) => ({ n }),
        (e: Error & { code?: string }) => ({ e }),
      );
      if ('e' in r1) isDetachedError(r1.e, 'detached after the call');
      else {
        assert.is(inline === 'never' ? -1 : r1.n, 5, 'a worker answers after the detach');
        assert.is(Buffer.from(moved.subarray(1, 6)).toString(), 'hello');
      }
      // A resizable buffer shrunk after the call: an offset now past the end is RangeError
      // ERR_OUT_OF_RANGE; a value that no longer fits is its length, nothing copied.
      const ab = resizable(16);
      const tracking = new Uint8Array(ab);
      const p2 = pool.getInto('a', tracking, 10);
      ab.resize(4);
      const r2 = await p2.then(
        (n) => ({ n }),
        (e: Error & { code?: string }) => ({ e }),
      );
      if ('e' in r2) {
        assert.instance(r2.e, RangeError);
        assert.is(r2.e.code, 'ERR_OUT_OF_RANGE', r2.e.message);
      } else assert.is(inline === 'never' ? -1 : r2.n, 5, 'a worker answers after the shrink');
      ab.resize(16);
      // A fixed-length view pushed out of bounds (it reads as length 0), and a value that no
      // longer fits: its length, nothing copied, no error.
      const fixed = new Uint8Array(ab, 8, 8);
      const p3 = pool.getInto('a', fixed, 0);
      ab.resize(6);
      assert.is(await p3, 5, 'an out-of-bounds view: the length');
      ab.resize(16);
      const p4 = pool.getInto('a', tracking, 0);
      ab.resize(3);
      assert.is(await p4, 5, 'too small now: the length');
      if (inline === 'never') assert.equal([...tracking], [0, 0, 0], 'nothing copied');
      // The pool still works.
      const t = new Uint8Array(8);
      assert.is(await pool.getInto('a', t), 5);
      assert.is(Buffer.from(t.subarray(0, 5)).toString(), 'hello');
    }));

  test('ttlMs, expiresAt and the 1970 RangeError on every write', () =>
    withPoolPair(open('ttl'), async ({ pool, cache }) => {
      await pool.set('ms', 'v', { ttlMs: 1500 });
      await pool.set('at', 'v', { expiresAt: Date.now() + 1500 });
      await pool.add('add', 'v', { ttlMs: 1500 });
      await pool.setMany([['m1', 'v']], { ttlMs: 1500 });
      await pool.set('forever', 'v');
      const hour = await rejection(pool.set('x', 'v', { ttl: 3_600_000 }));
      const sync = thrown(() => cache.set('x', 'v', { ttl: 3_600_000 }));
      assert.instance(hour, RangeError);
      assert.is(hour.code, 'ERR_TTL_IN_PAST');
      assert.is(hour.message, sync.message);
      assert.match(hour.message, /ttl is in seconds; 3600000 is an absolute Unix time in 1970/);
      assert.is((await rejection(pool.set('x', 'v', { expiresAt: Date.now() - 1 }))).code, 'ERR_TTL_IN_PAST');
      assert.is((await rejection(pool.set('x', 'v', { ttl: 1, ttlMs: 1 }))).code, 'ERR_INVALID_ARG_VALUE');
      assert.is((await rejection(pool.set('x', 'v', { ttlMs: -1 }))).code, 'ERR_OUT_OF_RANGE');
      assert.is((await rejection(pool.touch('forever', 3_600_000))).code, 'ERR_TTL_IN_PAST');
      assert.is((await rejection(pool.setMany([['x', 'v']], { ttl: 3_600_000 }))).code, 'ERR_TTL_IN_PAST');
      assert.is(await pool.has('x'), false, 'a refused write stored nothing');
      cache.advanceClock(3);
      for (const k of ['ms', 'at', 'add', 'm1']) assert.is(await pool.get(k), undefined, k);
      assert.is((await pool.get('forever'))?.toString(), 'v');
    }));

  test('setMany, getMany, size, flushAll and clear (in call order with the tick)', () =>
    withPoolPair(open('many'), async ({ pool, cache }) => {
      const entries: [string, string][] = [];
      for (let i = 0; i < 300; i++) entries.push([`k${i}`, `v${i}`]);
      await pool.setMany(entries, { flags: 3 });
      assert.is(await pool.size(), 300);
      assert.is(cache.size, 300);
      const got = await pool.getMany(entries.map(([k]) => k));
      assert.equal(
        got.map((b) => b?.toString()),
        entries.map(([, v]) => v),
      );
      assert.is(cache.gets('k7')?.flags, 3);
      // A bad entry anywhere stores nothing.
      const bad = await rejection(
        pool.setMany([
          ['n1', 'v'],
          ['bad key', 'v'],
        ]),
      );
      assert.is(bad.code, 'ERR_INVALID_ARG_VALUE');
      assert.is(await pool.has('n1'), false);
      assert.is(
        (
          await rejection(
            pool.setMany([
              ['n2', 'v'],
              ['n3', 5 as never],
            ]),
          )
        ).code,
        'ERR_INVALID_ARG_TYPE',
      );
      assert.is(await pool.has('n2'), false);
      // flushAll in the middle of a tick: what came before is gone, what came after stays.
      const ps: Promise<unknown>[] = [];
      for (let i = 0; i < 50; i++) ps.push(pool.set(`before${i}`, 'x'));
      ps.push(pool.flushAll());
      for (let i = 0; i < 50; i++) ps.push(pool.set(`after${i}`, 'x'));
      const size = pool.size();
      await Promise.all(ps);
      // curr_items counts flushed items until they are reclaimed (as memcached's does): 350 or less.
      assert.ok((await size) >= 50);
      const live: string[] = [];
      for await (const k of pool.keys()) live.push(k);
      assert.is(live.length, 50);
      for (let i = 0; i < 50; i++) {
        assert.is(cache.has(`before${i}`), false);
        assert.is(cache.has(`after${i}`), true);
      }
      await pool.clear();
      assert.is(await pool.has('after0'), false);
      for await (const k of pool.keys()) assert.unreachable(`a key after clear: ${k}`);
      assert.is((await rejection(pool.flushAll('x' as never))).code, 'ERR_INVALID_ARG_TYPE');
      assert.is((await rejection(pool.flushAll(1.5))).code, 'ERR_OUT_OF_RANGE');
    }));

  test('keys and entries (async iterators) see every live key once', () =>
    withPoolPair(open('keys'), async ({ pool, cache }) => {
      const want = new Map<string, string>();
      for (let i = 0; i < 500; i++) want.set(`key:${i}`, `val:${i}`);
      cache.setMany(want);
      const seen = new Set<string>();
      for await (const k of pool.keys()) seen.add(k);
      assert.equal([...seen].sort(), [...want.keys()].sort());
      const got = new Map<string, string>();
      for await (const [k, v] of pool) got.set(k, v.toString());
      assert.equal(got, want);
    }));

  test('keys under concurrent writers (other threads): each stable key at least once, none torn', () =>
    withPoolPair(open('keys-conc'), async ({ path, pool, cache }) => {
      for (let i = 0; i < 400; i++) cache.set(`stable:${i}`, 's');
      const writer = (seed: number) =>
        runWorker(
          path,
          `for (let r = 0; r < 40; r++) for (let i = 0; i < 100; i++) {
             const k = 'churn:' + data + ':' + i;
             if ((r + i) % 2) cache.set(k, 'x'.repeat(i)); else cache.delete(k);
           }
           return true;`,
          seed,
        );
      const writers = [writer(1), writer(2)];
      const seen = new Set<string>();
      for (let round = 0; round < 3; round++) for await (const k of pool.keys()) seen.add(k);
      await Promise.all(writers);
      for (let i = 0; i < 400; i++) assert.ok(seen.has(`stable:${i}`), `stable:${i}`);
      for (const k of seen) assert.match(k, /^(stable:\d+|churn:[12]:\d+)$/);
    }));

  test('codec json and v8: round trips through the pool, a Cache and another thread', async () => {
    const j = open<{ id: number; tags: string[] }>('json', 'json');
    const v = open<Map<string, unknown>>('v8', 'v8');
    try {
      assert.is(j.pool.codec, 'json');
      await j.pool.set('user:1', { id: 1, tags: ['a'] }, { ttlMs: 60_000, flags: 9 });
      assert.equal(await j.pool.get('user:1'), { id: 1, tags: ['a'] });
      const info = await j.pool.gets('user:1');
      assert.is(info?.flags, 9);
      assert.is(await j.pool.cas('user:1', { id: 2, tags: [] }, info!.cas), 'stored');
      assert.equal(await j.pool.gat('user:1', 60), { id: 2, tags: [] });
      const jc = Cache.open<{ id: number }>({ path: j.path, codec: 'json' });
      assert.equal(jc.get('user:1'), { id: 2, tags: [] });
      jc.set('user:2', { id: 22 });
      assert.equal(await j.pool.get('user:2'), { id: 22 });
      jc.close();
      await j.pool.setMany([
        ['m:1', { id: 31, tags: [] }],
        ['m:2', { id: 32, tags: [] }],
      ]);
      assert.equal(
        (await j.pool.getMany(['m:1', 'm:2', 'm:3'])).map((x) => x?.id),
        [31, 32, undefined],
      );
      const entries = new Map<string, unknown>();
      for await (const [k, val] of j.pool.entries()) entries.set(k, val);
      assert.equal(entries.get('m:2'), { id: 32, tags: [] });
      assert.is(entries.size, 4);

      const value = new Map<string, unknown>([
        ['when', new Date(1_700_000_000_000)],
        ['big', 2n ** 70n],
        ['set', new Set([1, 2])],
        ['bytes', new Uint8Array([1, 2, 3])],
      ]);
      await v.pool.set('m', value);
      assert.equal(await v.pool.get('m'), value);
      // Another thread, with a Cache of the same codec, reads it and writes one back.
      const back = await runWorker(
        v.path,
        `const { Cache } = await import(${JSON.stringify(new URL('../src/index.js', import.meta.url).href)});
         const c = Cache.open({ path: workerData.path, codec: 'v8' });
         const m = c.get('m');
         c.set('from-thread', new Map([['n', m.get('big') + 1n]]));
         c.close();
         return m.get('when').getTime();`,
      );
      assert.is(back, 1_700_000_000_000);
      assert.equal(await v.pool.get('from-thread'), new Map([['n', 2n ** 70n + 1n]]));
    } finally {
      await j.pool.close();
      await v.pool.close();
      j.cache.close();
      v.cache.close();
    }
  });

  test('wrong codec: the same CacheError as on Cache; bytes read raw', async () => {
    const { path, pool, cache } = open<unknown>('wrong', 'json');
    try {
      const v8c = Cache.open({ path, codec: 'v8' });
      v8c.set('v8-item', { a: 1 });
      const e = await rejection(pool.get('v8-item'));
      const jc = Cache.open({ path, codec: 'json' });
      const sync = thrown(() => jc.get('v8-item'));
      assert.instance(e, CacheError);
      assert.is(e.code, 'ERR_CODEC_MISMATCH');
      assert.is(e.message, sync.message);
      assert.is((await rejection(pool.gets('v8-item'))).code, 'ERR_CODEC_MISMATCH');
      assert.is((await rejection(pool.getMany(['v8-item']))).code, 'ERR_CODEC_MISMATCH');
      cache.set('raw', 'not json');
      assert.is((await rejection(pool.get('raw'))).code, 'ERR_CODEC_MISMATCH');
      await pool.set('j', [1, 2]);
      assert.is(cache.get('j')?.toString(), '[1,2]', 'a bytes reader gets the encoded bytes');
      assert.is(cache.gets('j')!.flags >>> 28, 2, "the 'json' tag in the flags' top 4 bits");
      assert.is((await rejection(pool.set('j', 1, { flags: 2 ** 28 }))).code, 'ERR_OUT_OF_RANGE');
      v8c.close();
      jc.close();
    } finally {
      await pool.close();
      cache.close();
    }
  });

  test('bad encoders store nothing and reject as Cache throws', async () => {
    const throwing = {
      encode: () => {
        throw new Error('no');
      },
      decode: (b: Buffer) => b,
      tag: 9,
    };
    const notBytes = { encode: () => 'text' as unknown as Uint8Array, decode: (b: Buffer) => b, tag: 10 };
    for (const [name, codec] of [
      ['throwing', throwing],
      ['not-bytes', notBytes],
    ] as const) {
      const { path, pool, cache } = open<unknown>(name, codec);
      const sc = Cache.open<unknown>({ path, codec });
      try {
        const sync = thrown(() => sc.set('k', 1));
        for (const p of [pool.set('k', 1), pool.add('k', 1), pool.replace('k', 1), pool.cas('k', 1, 1n), pool.setMany([['k', 1]])]) {
          const e = await rejection(p);
          assert.is(e.constructor, sync.constructor, name);
          assert.is(e.code, sync.code, name);
          assert.is(e.message, sync.message, name);
        }
        assert.is(cache.has('k'), false, `${name}: nothing stored`);
        assert.is(cache.size, 0);
      } finally {
        sc.close();
        await pool.close();
        cache.close();
      }
    }
  });

  test('fetch under a codec, single flight with a Cache of the same codec', async () => {
    const { path, pool, cache } = open<{ n: number }>('fetch', 'json');
    try {
      let loads = 0;
      const loader = async () => {
        loads++;
        await new Promise((r) => setTimeout(r, 20));
        return { n: 42 };
      };
      const sc = Cache.open<{ n: number }>({ path, codec: 'json' });
      const all = await Promise.all([pool.fetch('f', loader, { ttl: 60 }), sc.fetch('f', loader, { ttl: 60 }), pool.fetch('f', loader)]);
      assert.equal(all, [{ n: 42 }, { n: 42 }, { n: 42 }]);
      assert.is(loads, 1);
      assert.equal(await pool.get('f'), { n: 42 });
      assert.equal(sc.get('f'), { n: 42 });
      assert.is(await pool.invalidate('f'), true);
      assert.equal(await pool.fetch('f', async () => ({ n: 43 })), { n: 42 }, 'stale served while refreshing');
      const bad = await rejection(pool.fetch('g', () => 1n as never));
      assert.is(bad.code, thrown(() => sc.set('g', 1n as never)).code);
      assert.is(await pool.has('g'), false, 'a value the codec refuses is never stored');
      cache.set('raw', 'bytes');
      assert.is((await rejection(pool.fetch('raw', loader))).code, 'ERR_CODEC_MISMATCH');
      sc.close();
    } finally {
      await pool.close();
      cache.close();
    }
  });

  test('values are Buffers of their own on every path: not thenables, exact bytes, writable apart', () =>
    withPoolPair(open('views'), async ({ pool }) => {
      await pool.setMany([
        ['v1', 'first'],
        ['v2', 'second'],
        ['empty', ''],
      ]);
      const [a, b, empty, missing] = await Promise.all([pool.get('v1'), pool.get('v2'), pool.get('empty'), pool.get('none')]);
      const info = await pool.gets('v2');
      assert.is(missing, undefined);
      for (const [v, want] of [
        [a, 'first'],
        [b, 'second'],
        [empty, ''],
        [info?.value, 'second'],
      ] as const) {
        if (v === undefined) throw new Error(`${want}: missing`);
        assert.ok(Buffer.isBuffer(v) && v instanceof Buffer);
        assert.is(v.constructor, Buffer);
        assert.is(v.length, want.length, 'exactly the value, not the rest of the response');
        assert.is(v.toString(), want);
        assert.is((v as { then?: unknown }).then, undefined);
        assert.is(await Promise.resolve(v), v, 'a promise settles with the value itself');
      }
      // Each value is the caller's own: writing one changes neither another value nor the store.
      (a as Buffer).write('F');
      assert.is(b?.toString(), 'second');
      assert.is((await pool.get('v1'))?.toString(), 'first');
    }));

  test('close() drains every queued and in-flight operation, then refuses', async () => {
    const { pool, cache } = open('close');
    const ps: Promise<unknown>[] = [];
    for (let i = 0; i < 400; i++) ps.push(pool.set(`c${i}`, `v${i}`));
    ps.push(pool.has('c0'), pool.size(), pool.flushAll(100), pool.setMany([['last', 'x']]));
    const closing = pool.close();
    const results = await Promise.allSettled(ps);
    await closing;
    assert.ok(
      results.every((r) => r.status === 'fulfilled'),
      'every call made before close settled',
    );
    for (let i = 0; i < 400; i += 37) assert.is(cache.get(`c${i}`)?.toString(), `v${i}`);
    assert.is(cache.get('last')?.toString(), 'x');
    for (const p of [pool.get('c0'), pool.has('c0'), pool.size(), pool.clear(), pool.gets('c0'), pool.keys().next()]) {
      assert.is((await rejection(p)).code, 'ERR_CACHE_CLOSED');
    }
    cache.close();
  });

  test.run();
}

for (const transport of ['atomics', 'piscina'] as const)
  for (const inline of ['never', 'always', 'auto'] as const) define(transport, inline);

const flags = suite('CachePool workers under the parent process flags');
flags('workers start under node --input-type=module -e and under --expose-gc; close() returns at top level', () => {
  const index = new URL('../src/index.js', import.meta.url).href;
  for (const args of [['--input-type=module'], ['--expose-gc', '--input-type=module']]) {
    const path = tmpRegion(`flags-${args.length}`);
    const src = `import { CachePool } from ${JSON.stringify(index)};
      for (const transport of ['atomics', 'piscina']) {
        const pool = new CachePool({ path: ${JSON.stringify(path)}, size: '8mb', threads: 1, inline: 'never', transport });
        await pool.set('k', transport);
        console.log(String(await pool.get("k")) + " " + String(pool.stats().tasks > 0));
        await pool.close();
      }`;
    const out = execFileSync(process.execPath, [...args, '-e', src], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal(out.trim().split('\n'), ['atomics true', 'piscina true'], args.join(' '));
  }
});
flags.run();
