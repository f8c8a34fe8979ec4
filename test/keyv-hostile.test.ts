/**
 * Hostile input to the Keyv store (src/keyv.ts, `shmcached/keyv`) used directly, as Keyv and
 * cache-manager call it: keys, namespaces, ttls and values that could collide, crash or store
 * the wrong thing, damaged entries another process left, and calls in every order (clear while
 * iterating, calls after disconnect). Each: a coded error or the documented answer, nothing
 * stored changes, the process lives. Table: docs/values.md, "The Keyv store under hostile input".
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { Cache, CacheError } from '../src/index.js';
import { KeyvShmcached } from '../src/keyv.js';
import { rejects, tmpRegion } from './helpers.js';

const shared = Cache.open({ path: tmpRegion('keyv-hostile'), size: '16mb', reset: true });

const keyv = suite('keyv store: hostile input');

keyv('a damaged v8 value (tag 3) written by another process is CacheError ERR_CODEC_DECODE, never a crash', async () => {
  const s = new KeyvShmcached({ cache: shared });
  s.namespace = 'dmg';
  await s.set('ok', { a: 1 });
  // What another writer could leave at the entry's key: v8's header, then garbage.
  shared.set('keyv/dmg/0/bad', Buffer.from([0xff, 0x0f, 0x6f, 0x22, 0xff, 0xff]), { flags: 3 * 2 ** 28 });
  const e = await rejects(s.get('bad'));
  assert.instance(e, CacheError);
  assert.is(e.code, 'ERR_CODEC_DECODE');
  assert.is((await rejects(s.getMany(['ok', 'bad']))).code, 'ERR_CODEC_DECODE');
  assert.equal(await s.get('ok'), { a: 1 }, 'the good entry reads as before');
  assert.is(await s.has('bad'), true, 'nothing was deleted');
});

keyv(
  'a damaged entry through Keyv and cache-manager 7: a miss (Keyv swallows store errors), the coded error with throwOnErrors',
  async () => {
    const keyvMod = await import('keyv');
    const cm = await import('cache-manager');
    const Keyv = keyvMod.Keyv;
    const kv = new Keyv({ store: new KeyvShmcached({ cache: shared }), namespace: 'cm' });
    const manager = cm.createCache({ stores: [kv] });
    await manager.set('good', { a: 1 }, 60_000);
    shared.set('keyv/cm/0/cm:bad', Buffer.from([0xff, 0x0f, 0x6f, 0x22, 0xff]), { flags: 3 * 2 ** 28 });
    assert.is(await manager.get('bad'), undefined);
    assert.is(await manager.wrap('bad', async () => 'reloaded', 60_000), 'reloaded', 'wrap loads over it');
    assert.is(await manager.get('bad'), 'reloaded');
    shared.set('keyv/cm/0/cm:bad', Buffer.from([0xff, 0x0f, 0x6f, 0x22, 0xff]), { flags: 3 * 2 ** 28 });
    const strict = new Keyv({ store: new KeyvShmcached({ cache: shared }), namespace: 'cm', throwOnErrors: true });
    assert.is((await rejects(strict.get('bad'))).code, 'ERR_CODEC_DECODE');
    assert.equal(await strict.get('good'), { a: 1 });
    // Infinity through cache-manager: stored, no expiry (was refused, so set returned false).
    await manager.set('forever', 1, Number.POSITIVE_INFINITY);
    assert.is(await manager.get('forever'), 1);
  },
);

keyv('an entry with a tag this store never writes is ERR_CODEC_MISMATCH, not its raw bytes as the value', async () => {
  const s = new KeyvShmcached({ cache: shared });
  s.namespace = 'tag';
  shared.set('keyv/tag/0/json', '{"a":1}', { flags: 2 * 2 ** 28 });
  const e = await rejects(s.get('json'));
  assert.is(e.code, 'ERR_CODEC_MISMATCH');
});

keyv('lone surrogates: "\\uD800" and "\\uFFFD" are two keys (UTF-8 alone would make them one), and round-trip', async () => {
  const s = new KeyvShmcached({ cache: shared });
  s.namespace = 'sur\uDC00';
  await s.set('\uD800', 'lone');
  await s.set('\uFFFD', 'replacement');
  await s.set('x\uDBFF\uDFFFy', 'pair');
  assert.is(await s.get('\uD800'), 'lone');
  assert.is(await s.get('\uFFFD'), 'replacement');
  assert.is(await s.get('x\uDBFF\uDFFFy'), 'pair');
  const seen = new Map<string, unknown>();
  for await (const [k, v] of s.iterator()) seen.set(k, v);
  assert.equal(
    seen,
    new Map([
      ['\uD800', 'lone'],
      ['\uFFFD', 'replacement'],
      ['x\uDBFF\uDFFFy', 'pair'],
    ]),
  );
  const other = new KeyvShmcached({ cache: shared });
  other.namespace = 'sur\uFFFD';
  assert.is(await other.get('\uFFFD'), undefined, 'namespaces "sur\\uDC00" and "sur\\uFFFD" do not collide');
});

keyv('namespace and key spellings that could collide in <prefix>/<ns>/<gen>/<key> do not', async () => {
  const a = new KeyvShmcached({ cache: shared });
  a.namespace = 'a';
  const a1 = new KeyvShmcached({ cache: shared });
  a1.namespace = 'a/1';
  const pct = new KeyvShmcached({ cache: shared });
  pct.namespace = 'a%2f1';
  await a.set('1/x', 'from a');
  await a1.set('x', 'from a/1');
  await pct.set('x', 'from a%2f1');
  assert.is(await a.get('1/x'), 'from a');
  assert.is(await a1.get('x'), 'from a/1');
  assert.is(await pct.get('x'), 'from a%2f1');
  await a1.clear();
  assert.is(await a.get('1/x'), 'from a', "clearing 'a/1' leaves 'a'");
  assert.is(await a1.get('x'), undefined);
  // Empty namespace, empty key, unicode: all plain keys.
  const e = new KeyvShmcached({ cache: shared });
  e.namespace = '';
  await e.set('', 'empty');
  assert.is(await e.get(''), 'empty');
  e.namespace = 'ünï/%';
  await e.set('ключ', 1);
  assert.is(await e.get('ключ'), 1);
});

keyv('bad keys, namespaces and key lists are coded errors that store nothing', async () => {
  const s = new KeyvShmcached({ cache: shared });
  s.namespace = 'bad';
  const before = shared.stats().curr_items;
  assert.is((await rejects(s.set(5 as unknown as string, 1))).code, 'ERR_INVALID_ARG_TYPE');
  assert.is((await rejects(s.set('%'.repeat(84), 1))).code, 'ERR_OUT_OF_RANGE', '84 % encode to 252 bytes');
  assert.is((await rejects(s.getMany('abc' as unknown as string[]))).code, 'ERR_INVALID_ARG_TYPE');
  assert.is((await rejects(s.deleteMany('abc' as unknown as string[]))).code, 'ERR_INVALID_ARG_TYPE');
  assert.is((await rejects(s.setMany({} as unknown as []))).code, 'ERR_INVALID_ARG_TYPE');
  (s as { namespace: unknown }).namespace = 5;
  assert.is((await rejects(s.get('k'))).code, 'ERR_INVALID_ARG_TYPE');
  assert.is((await rejects(s.clear())).code, 'ERR_INVALID_ARG_TYPE');
  s.namespace = 'n'.repeat(300);
  assert.ok((await rejects(s.set('k', 1))).code !== undefined, 'a 300-byte namespace is a coded error');
  assert.ok((await rejects(s.clear())).code !== undefined);
  assert.is(shared.stats().curr_items, before);
});

keyv('ttl: none for 0 / negative / NaN / undefined; past the 32-bit clock (Infinity, 2^53) is none too; 31 days is 31 days', async () => {
  const c = Cache.open({ path: tmpRegion('adapters-hostile-ttl'), size: '8mb', reset: true });
  const s = new KeyvShmcached({ cache: c });
  for (const [k, ttl] of [
    ['zero', 0],
    ['neg', -5],
    ['nan', Number.NaN],
    ['undef', undefined],
    ['inf', Number.POSITIVE_INFINITY],
    ['huge', 2 ** 53],
  ] as const) {
    assert.is(await s.set(k, k, ttl), true, k);
    assert.is(c.gets(`keyv//0/${k}`)?.value.toString(), k, k);
  }
  await s.set('month', 'm', 31 * 86_400_000);
  c.advanceClock(30 * 86_400);
  assert.is(await s.get('month'), 'm', 'a 31-day ttl is not read as a time in 1970');
  c.advanceClock(2 * 86_400);
  assert.is(await s.get('month'), undefined, 'and it does expire after 31 days');
  assert.is(await s.get('inf'), 'inf');
  assert.is(await s.get('neg'), 'neg');
  await s.disconnect();
  c.close();
});

keyv('values: unserialisable ones are ERR_CODEC_ENCODE and store nothing; structured ones round-trip', async () => {
  const s = new KeyvShmcached({ cache: shared });
  s.namespace = 'vals';
  for (const bad of [Symbol('s'), () => 1, { f() {} }, new WeakMap()]) {
    const e = await rejects(s.set('bad', bad));
    assert.is(e.code, 'ERR_CODEC_ENCODE', String(typeof bad));
  }
  assert.is(await s.has('bad'), false);
  // A getter that throws while v8 serialises, and one that calls the store back mid-set.
  const throwing = {
    get x() {
      throw new Error('getter');
    },
  };
  assert.is((await rejects(s.set('bad', throwing))).code, 'ERR_CODEC_ENCODE');
  let inner: Promise<unknown> | undefined;
  const reentrant = {
    get x() {
      inner = s.set('inner', 'written from a getter');
      return 1;
    },
  };
  await s.set('outer', reentrant);
  await inner;
  assert.equal(await s.get('outer'), { x: 1 });
  assert.is(await s.get('inner'), 'written from a getter');
  const circ: Record<string, unknown> = { n: 1 };
  circ.self = circ;
  await s.set('circ', circ);
  const got = (await s.get('circ')) as Record<string, unknown>;
  assert.is(got.self, got);
  for (const v of [null, 10n ** 30n, new Date(0), new Map([[1, { a: 2 }]]), new Set([1]), [1, undefined, 3], -0, Number.NaN, /re/g]) {
    await s.set('v', v);
    assert.equal(await s.get('v'), v);
  }
  // Detached: refused, the old value stays.
  const buf = new Uint8Array(8);
  structuredClone(buf.buffer, { transfer: [buf.buffer] });
  assert.is((await rejects(s.set('v', buf))).code, 'ERR_INVALID_ARG_VALUE');
  assert.equal(await s.get('v'), /re/g);
  // Past the item size (1 MiB items here): RangeError, nothing stored.
  assert.is((await rejects(s.set('big', 'x'.repeat(2 * 1024 * 1024)))).code, 'ERR_VALUE_TOO_LARGE');
  assert.is(await s.has('big'), false);
});

keyv('clear() while iterating: the walk yields nothing of the cleared generation', async () => {
  const s = new KeyvShmcached({ cache: shared });
  s.namespace = 'walk';
  for (let i = 0; i < 20; i++) await s.set(`k${i}`, i);
  const seen: string[] = [];
  for await (const [k] of s.iterator()) {
    seen.push(k);
    if (seen.length === 3) await s.clear();
  }
  assert.is(seen.length, 3, `no entry after the clear (got ${seen.length})`);
  assert.is(await s.get('k0'), undefined);
  // The generation moved on: a fresh walk sees only what is written after.
  await s.set('after', 1);
  const again: string[] = [];
  for await (const [k] of s.iterator()) again.push(k);
  assert.equal(again, ['after']);
});

keyv('after disconnect every call is CacheError ERR_CACHE_CLOSED; a second disconnect is fine', async () => {
  const s = new KeyvShmcached({ path: tmpRegion('adapters-hostile-disc'), size: '8mb', reset: true });
  await s.set('k', 1);
  await s.disconnect();
  await s.disconnect();
  for (const p of [s.get('k'), s.set('k', 2), s.has('k'), s.delete('k'), s.clear(), s.getMany(['k']), s.deleteMany(['k'])]) {
    const e = await rejects(p);
    assert.is(e.code, 'ERR_CACHE_CLOSED');
  }
  const e = await rejects(
    (async () => {
      for await (const _ of s.iterator()) {
      }
    })(),
  );
  assert.is(e.code, 'ERR_CACHE_CLOSED');
  // disconnect() while a get is in flight, and in the middle of a walk: coded, no crash.
  const t = new KeyvShmcached({ path: tmpRegion('adapters-hostile-disc2'), size: '8mb', reset: true });
  for (let i = 0; i < 10; i++) await t.set(`k${i}`, i);
  const inflight = t.get('k1');
  const done = t.disconnect();
  assert.is((await rejects(inflight)).code, 'ERR_CACHE_CLOSED');
  await done;
  const w = new KeyvShmcached({ path: tmpRegion('adapters-hostile-disc3'), size: '8mb', reset: true });
  for (let i = 0; i < 10; i++) await w.set(`k${i}`, i);
  let n = 0;
  const mid = await rejects(
    (async () => {
      for await (const _ of w.iterator()) if (++n === 3) await w.disconnect();
    })(),
  );
  assert.is(mid.code, 'ERR_CACHE_CLOSED');
  assert.is(n, 3);
});

keyv.run();
