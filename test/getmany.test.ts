/**
 * Cache.getMany's contract, pinned against the single-key get: values in key order (misses as
 * undefined, duplicates as separate copies), Buffers the caller owns that later reads never
 * overwrite, the same errors for bad keys at any position (and what each error leaves counted),
 * the same stats as one get per key, and the same LRU bump. The keys cross into the addon in
 * two ways (ASCII strings in one joined write, anything else key by key): both are covered.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { Cache, CacheError } from '../src/index.js';
import { at, tmpRegion } from './helpers.js';

const test = suite('getMany');

function open(name: string, extra: Parameters<typeof Cache.open>[0] = {}): Cache {
  return Cache.open({ path: tmpRegion(`getmany-${name}`), size: '16mb', reset: true, ...extra });
}

function str(b: Buffer | undefined): string | undefined {
  return b === undefined ? undefined : b.toString('latin1');
}

/** The get counters of `c` as numbers. */
function counts(c: Cache): { cmd: number; hits: number; misses: number; expired: number } {
  const s = c.stats();
  return { cmd: Number(s.cmd_get), hits: Number(s.get_hits), misses: Number(s.get_misses), expired: Number(s.get_expired) };
}

/** Asserts that calling fn throws an `cls` with this code whose message names `name`. */
function throwsNaming(fn: () => unknown, cls: new (...a: never[]) => Error, code: string, name: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof cls, `${cls.name} expected, got ${String(caught)}`);
  assert.is((caught as { code?: string }).code, code);
  assert.ok((caught as Error).message.includes(name), `"${(caught as Error).message}" names ${name}`);
}

test('hits, misses and duplicates come back in key order, each duplicate its own copy', () => {
  const c = open('order');
  c.set('a', 'alpha');
  c.set('b', Buffer.from([0, 1, 2, 255]));
  c.set('empty', '');
  const got = c.getMany(['a', 'nope', 'a', 'b', 'empty', 'nope', 'b']);
  assert.equal(got.map(str), ['alpha', undefined, 'alpha', '\x00\x01\x02\xff', '', undefined, '\x00\x01\x02\xff']);
  for (const v of got) if (v !== undefined) assert.ok(Buffer.isBuffer(v));
  // Each value is the caller's: writing one copy changes neither the other copy nor the store.
  at(got, 0).fill(0x7a);
  assert.is(str(got[2]), 'alpha');
  assert.is(str(c.get('a')), 'alpha');
  assert.equal(c.getMany([]), []);
  c.close();
});

test('returned values stay valid across later reads, overwrites and arena changes', () => {
  const c = open('valid');
  const keys = Array.from({ length: 2500 }, (_, i) => `v:${i}`);
  for (let i = 0; i < keys.length; i++) c.set(at(keys, i), Buffer.alloc(1 + (i % 5) * 1500, i & 0xff));
  const first = c.getMany(keys); // 2500 keys: three native batches and several arenas
  for (let i = 0; i < keys.length; i++) c.set(at(keys, i), 'overwritten');
  for (let r = 0; r < 3; r++) c.getMany(keys);
  c.set('huge', Buffer.alloc(600 * 1024, 9)); // larger than an arena
  assert.is(c.getMany(['huge'])[0]?.length, 600 * 1024);
  for (let i = 0; i < keys.length; i++) {
    const v = at(first, i);
    assert.is(v.length, 1 + (i % 5) * 1500, `length of ${i}`);
    assert.ok(
      v.every((b) => b === (i & 0xff)),
      `bytes of ${i}`,
    );
  }
  c.close();
});

test('string keys of every kind: ASCII, non-ASCII, 250 bytes, Buffers and Uint8Arrays mixed in', () => {
  const c = open('kinds');
  const k250 = 'k'.repeat(250);
  const utf = 'ключ-é-😀'; // more bytes than characters
  c.set(k250, 'long');
  c.set(utf, 'utf');
  c.set('plain', 'p');
  const raw = Buffer.from([0x62, 0x79, 0x74, 0x65, 0x73, 0x80, 0xff]); // a key with bytes above 0x7f
  c.set(raw, 'raw');
  assert.equal(c.getMany([k250, utf, 'plain']).map(str), ['long', 'utf', 'p']);
  assert.equal(c.getMany(['plain', raw, new Uint8Array(Buffer.from('plain')), utf]).map(str), ['p', 'raw', 'p', 'utf']);
  // 'bytes\x80\xff' as a JS string is UTF-8 encoded (other bytes than `raw`): a different key.
  assert.equal(c.getMany(['bytes\x80\xff', raw]).map(str), [undefined, 'raw']);
  // One non-ASCII key anywhere in a long batch: every key still reads right.
  const keys = Array.from({ length: 1500 }, (_, i) => (i === 1200 ? utf : `n${i}`));
  for (let i = 0; i < 1500; i += 7) if (i !== 1200) c.set(`n${i}`, `${i}`);
  const got = c.getMany(keys);
  for (let i = 0; i < 1500; i++) assert.is(str(got[i]), i === 1200 ? 'utf' : i % 7 === 0 ? `${i}` : undefined, `key ${i}`);
  c.close();
});

test('bad keys mid-list throw what they always threw, naming the index; type and length errors look nothing up', () => {
  const c = open('bad');
  c.set('a', '1');
  c.set('b', '2');
  const before = counts(c);
  throwsNaming(() => c.getMany(['a', 5 as unknown as string, 'b']), TypeError, 'ERR_INVALID_ARG_TYPE', 'keys[1]');
  throwsNaming(() => c.getMany(['a', 'b', null as unknown as string]), TypeError, 'ERR_INVALID_ARG_TYPE', 'keys[2]');
  // biome-ignore lint/suspicious/noSparseArray: a hole in the key list is refused like undefined
  throwsNaming(() => c.getMany(['a', , 'b'] as string[]), TypeError, 'ERR_INVALID_ARG_TYPE', 'keys[1]');
  throwsNaming(() => c.getMany(['a', '', 'b']), RangeError, 'ERR_OUT_OF_RANGE', 'keys[1]');
  throwsNaming(() => c.getMany(['a', 'x'.repeat(251)]), RangeError, 'ERR_OUT_OF_RANGE', 'keys[1]');
  throwsNaming(() => c.getMany(['a', 'é'.repeat(200)]), RangeError, 'ERR_OUT_OF_RANGE', 'got 400');
  throwsNaming(() => c.getMany(['a', new Uint8Array(0)]), RangeError, 'ERR_OUT_OF_RANGE', 'keys[1]');
  throwsNaming(() => c.getMany('a' as unknown as string[]), TypeError, 'ERR_INVALID_ARG_TYPE', 'keys');
  assert.equal(counts(c), before, 'a key refused in JS stops the batch before any lookup');
  // A key with a space or control character is refused by the addon: the batch's other keys
  // were looked up (and counted) when the error is thrown, as before.
  throwsNaming(() => c.getMany(['a', 'bad key', 'b']), TypeError, 'ERR_INVALID_ARG_VALUE', 'keys[1]');
  const after = counts(c);
  assert.is(after.cmd - before.cmd, 2);
  assert.is(after.hits - before.hits, 2);
  assert.is(after.misses - before.misses, 0);
  // Past the first batch of 1024: the error still names the key's own index.
  const long = Array.from({ length: 1500 }, (_, i) => (i === 1300 ? 'tab\there' : `k${i}`));
  throwsNaming(() => c.getMany(long), TypeError, 'ERR_INVALID_ARG_VALUE', 'keys[1300]');
  assert.is(str(c.get('a')), '1', 'nothing stored changed');
  c.close();
});

test('every byte a key may not hold is refused at every position of keys 1..24 bytes long; the rest are fine', () => {
  const c = open('bytes');
  for (let len = 1; len <= 24; len++) {
    for (let pos = 0; pos < len; pos++) {
      for (const bad of [0x00, 0x09, 0x0a, 0x1f, 0x20, 0x7f]) {
        const k = Buffer.alloc(len, 0x61);
        k[pos] = bad;
        // As a Buffer and as a string (a string goes through the joined write).
        throwsNaming(() => c.getMany(['ok', k]), TypeError, 'ERR_INVALID_ARG_VALUE', 'keys[1]');
        throwsNaming(() => c.getMany(['ok', k.toString('latin1')]), TypeError, 'ERR_INVALID_ARG_VALUE', 'keys[1]');
      }
      for (const good of [0x21, 0x7e, 0x80, 0xff]) {
        const k = Buffer.alloc(len, 0x61);
        k[pos] = good;
        c.set(k, `${len}:${pos}:${good}`);
        assert.is(str(c.getMany(['ok', k])[1]), `${len}:${pos}:${good}`);
      }
    }
  }
  c.close();
});

test('stats count exactly as one get per key: hits, misses, expired', () => {
  const c = open('stats');
  for (let i = 0; i < 300; i++) if (i % 3 !== 0) c.set(`s${i}`, `${i}`);
  c.set('dies', 'soon', { ttl: 5 });
  const keys = [...Array.from({ length: 300 }, (_, i) => `s${i}`), 's1', 's1', 'dies'];
  c.advanceClock(10);
  const a = counts(c);
  const many = c.getMany(keys);
  const b = counts(c);
  c.set('dies', 'soon', { ttl: 5 });
  c.advanceClock(10);
  const b2 = counts(c);
  const single = keys.map((k) => c.get(k));
  const d = counts(c);
  assert.equal(many.map(str), single.map(str));
  assert.equal(
    { cmd: b.cmd - a.cmd, hits: b.hits - a.hits, misses: b.misses - a.misses, expired: b.expired - a.expired },
    {
      cmd: d.cmd - b2.cmd,
      hits: d.hits - b2.hits,
      misses: d.misses - b2.misses,
      expired: d.expired - b2.expired,
    },
  );
  assert.is(b.cmd - a.cmd, keys.length);
  assert.is(b.hits - a.hits, 202);
  assert.is(b.expired - a.expired, 1);
  const before = counts(c);
  c.getMany([]);
  assert.equal(counts(c), before, 'an empty list counts nothing');
  c.close();
});

test('read items survive eviction (the LRU bump, as get does it)', () => {
  const c = Cache.open({ path: tmpRegion('getmany-lru'), size: '2mb', reset: true });
  const value = Buffer.alloc(1000, 1);
  for (let i = 0; i < 100; i++) c.set(`old${i}`, value);
  const slabs = c.stats('slabs');
  const cls = Object.keys(slabs)
    .find((k) => k.endsWith(':used_chunks') && Number(slabs[k]) > 0)
    ?.split(':')[0];
  assert.ok(cls);
  const capacity = 2 * Number(slabs[`${cls}:chunks_per_page`]); // a 2 MiB region has two pages
  c.advanceClock(61); // past memcached's ITEM_UPDATE_INTERVAL
  const even = Array.from({ length: 50 }, (_, i) => `old${2 * i}`);
  assert.is(c.getMany(even).filter(Boolean).length, 50);
  for (let i = 0; i < capacity - 100 + 50; i++) c.set(`new${i}`, value);
  const alive = c.getMany(Array.from({ length: 100 }, (_, i) => `old${i}`));
  assert.is(alive.filter((v, i) => v && i % 2 === 0).length, 50, 'every read item survived');
  assert.is(alive.filter((v, i) => v && i % 2 === 1).length, 0, 'every unread item was evicted first');
  c.close();
});

test('a small scratch buffer (itemSizeMax 1 KiB) splits the keys into more batches, same answers and counts', () => {
  const c = open('small', { itemSizeMax: '1kb' });
  const keys = Array.from({ length: 3000 }, (_, i) => `small-key-${i}`);
  for (let i = 1; i < keys.length; i += 2) c.set(at(keys, i), `v${i}`);
  const before = counts(c);
  const got = c.getMany(keys);
  for (let i = 0; i < keys.length; i++) assert.is(str(got[i]), i % 2 ? `v${i}` : undefined, `key ${i}`);
  const after = counts(c);
  assert.is(after.cmd - before.cmd, 3000);
  assert.is(after.hits - before.hits, 1500);
  c.close();
});

test('a key getter that calls the cache again runs before the batch is packed: right values (ASCII keys, one joined write)', () => {
  const c = open('reenter-joined');
  for (const k of ['a', 'b', 'k', 'ab', 'ck', 'zz', 'z']) c.set(k, k.toUpperCase());
  const keys = ['a', 'b', 'c', 'k'];
  let calls = 0;
  // An accessor element: reading keys[2] runs a getMany of other keys on the same cache, which
  // uses the same meta lengths and scratch as the outer call.
  Object.defineProperty(keys, 2, {
    get() {
      calls++;
      assert.equal(c.getMany(['zz', 'zz', 'zz', 'zz']).map(str), ['ZZ', 'ZZ', 'ZZ', 'ZZ']);
      return 'c';
    },
  });
  assert.equal(c.getMany(keys).map(str), ['A', 'B', undefined, 'K']);
  assert.is(calls, 1, 'each key is read once');
  c.close();
});

test('a Proxy of the keys that stores into the cache while it is read: right values (key by key)', () => {
  const c = open('reenter-proxy');
  for (const k of ['a', 'b', 'c', 'z']) c.set(k, k.toUpperCase());
  // Buffer keys take the key-by-key path, which writes each key's bytes into scratch as it goes.
  const target = [Buffer.from('a'), Buffer.from('b'), 'c'];
  const keys = new Proxy(target, {
    get(t, p, r) {
      if (p === '1') c.set('zzzz', 'other');
      if (p === '2') assert.is(str(c.get('z')), 'Z');
      return Reflect.get(t, p, r);
    },
  });
  assert.equal(c.getMany(keys).map(str), ['A', 'B', 'C']);
  assert.is(str(c.get('zzzz')), 'other');
  c.close();
});

test('a re-entering key getter in the second batch (past ManyMax keys) changes nothing either', () => {
  const c = open('reenter-batch');
  const keys = Array.from({ length: 1500 }, (_, i) => `rb-${i}`);
  for (const [i, k] of keys.entries()) c.set(k, `v${i}`);
  Object.defineProperty(keys, 1300, {
    get() {
      c.getMany(['rb-0', 'rb-1', 'rb-2']);
      c.set('rb-other', 'x');
      return 'rb-1300';
    },
  });
  const got = c.getMany(keys);
  for (let i = 0; i < keys.length; i++) assert.is(str(got[i]), `v${i}`, `key ${i}`);
  c.close();
});

test('a key getter that throws stores nothing of the batch and throws its own error', () => {
  const c = open('reenter-throw');
  c.set('a', 'A');
  const keys = ['a', 'b'];
  Object.defineProperty(keys, 1, {
    get() {
      throw new Error('boom');
    },
  });
  const before = counts(c);
  assert.throws(() => c.getMany(keys), /boom/);
  assert.equal(counts(c), before, 'nothing was looked up');
  c.close();
});

test('a closed cache refuses getMany with ERR_CACHE_CLOSED', () => {
  const c = open('closed');
  c.close();
  assert.throws(
    () => c.getMany(['a']),
    (e: Error) => e instanceof CacheError && e.code === 'ERR_CACHE_CLOSED',
  );
});

test.run();
