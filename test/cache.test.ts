/**
 * Semantics of the synchronous Cache API that a real memcached cannot be asked about (its clock
 * can't be moved, its memory can't be inspected) and the API's own rules: argument errors,
 * region files, expiry, flush_all, eviction, table growth.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync, readFileSync, rmSync, statSync } from 'node:fs';

import { Cache, CacheError } from '../src/index.js';
import { native } from '../src/native.js';
import { at, tmpRegion } from './helpers.js';

function open(name: string, extra: Parameters<typeof Cache.open>[0] = {}): Cache {
  return Cache.open({ path: tmpRegion(name), size: '16mb', reset: true, ...extra });
}

/** A uvu `throws` predicate: the error is an instance of cls (uvu calls a bare class as a function). */
function is(cls: new (...a: never[]) => Error): (e: Error) => boolean {
  return (e: Error) => e instanceof cls;
}

function str(b: Buffer | undefined): string | undefined {
  return b === undefined ? undefined : b.toString('latin1');
}

// ---------------------------------------------------------------------------------------------
const args = suite('arguments');

args('wrong key types and lengths throw TypeError/RangeError naming the argument, storing nothing', () => {
  const c = open('args');
  const bad: unknown[] = [undefined, null, 42, {}, [], Symbol('x')];
  for (const k of bad) {
    assert.throws(
      () => c.set(k as string, 'v'),
      (e: Error) => e instanceof TypeError && /key/.test(e.message),
    );
    assert.throws(
      () => c.get(k as string),
      (e: Error) => e instanceof TypeError,
    );
  }
  assert.throws(
    () => c.set('', 'v'),
    (e: Error) => e instanceof RangeError && /key must be 1 to 250 bytes/.test(e.message),
  );
  assert.throws(
    () => c.set('k'.repeat(251), 'v'),
    (e: Error) => e instanceof RangeError,
  );
  assert.throws(
    () => c.set('é'.repeat(126), 'v'),
    (e: Error) => e instanceof RangeError && /252/.test(e.message),
  );
  c.set('k'.repeat(250), 'max');
  assert.is(str(c.get('k'.repeat(250))), 'max');
  for (const k of ['a b', 'a\nb', 'a\tb', 'a\x00b', 'a\x7fb', 'a\rb']) {
    assert.throws(
      () => c.set(k, 'v'),
      (e: Error & { code?: string }) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_VALUE',
    );
    assert.throws(() => c.get(k), is(TypeError));
    assert.throws(() => c.delete(k), is(TypeError));
    assert.throws(() => c.incr(k), is(TypeError));
  }
  assert.is(c.stats().curr_items, 1);
  c.close();
});

args('wrong values, options, deltas and cas throw and change nothing', () => {
  const c = open('args2');
  c.set('k', 'orig');
  assert.throws(() => c.set('k', 5 as unknown as string), is(TypeError));
  assert.throws(() => c.set('k', null as unknown as string), is(TypeError));
  assert.throws(() => c.set('k', 'v', { ttl: 1.5 }), is(RangeError));
  assert.throws(() => c.set('k', 'v', { ttl: '10' as unknown as number }), is(TypeError));
  assert.throws(() => c.set('k', 'v', { flags: -1 }), is(RangeError));
  assert.throws(() => c.set('k', 'v', { flags: 2 ** 32 }), is(RangeError));
  assert.throws(() => c.set('k', 'v', null as unknown as object), is(TypeError));
  assert.throws(() => c.incr('k', -1), is(RangeError));
  assert.throws(() => c.incr('k', 1.5), is(RangeError));
  assert.throws(() => c.incr('k', 2n ** 64n), is(RangeError));
  assert.throws(() => c.incr('k', '1' as unknown as number), is(TypeError));
  assert.throws(() => c.cas('k', 'v', -1n), is(RangeError));
  assert.throws(() => c.cas('k', 'v', 'x' as unknown as bigint), is(TypeError));
  assert.throws(() => c.touch('k', NaN), is(RangeError));
  assert.throws(() => c.flushAll(0.5), is(RangeError));
  assert.throws(() => c.getMany('k' as unknown as string[]), is(TypeError));
  assert.throws(() => c.getMany(['k', 5 as unknown as string]), is(TypeError));
  assert.throws(() => c.stats('bogus' as 'slabs'), is(TypeError));
  assert.is(str(c.get('k')), 'orig');
  c.close();
});

args('a value over the item maximum is a RangeError and leaves the old value', () => {
  const c = open('big', { itemSizeMax: '64kb' });
  const max = c.maxValueSize(3);
  c.set('big', Buffer.alloc(max, 1));
  assert.is(c.get('big')!.length, max);
  c.set('big', 'small');
  assert.throws(
    () => c.set('big', Buffer.alloc(max + 1)),
    (e: Error & { code?: string }) => e instanceof RangeError && e.code === 'ERR_VALUE_TOO_LARGE',
  );
  assert.throws(() => c.set('big', 'x'.repeat(max + 1)), is(RangeError));
  assert.throws(() => c.set('big', 'é'.repeat(Math.ceil((max + 1) / 2))), is(RangeError));
  assert.is(str(c.get('big')), 'small');
  // append past the maximum: NOT_STORED (memcached), old value intact
  c.set('big', Buffer.alloc(max - 10, 2));
  assert.is(c.append('big', Buffer.alloc(20, 3)), false);
  assert.is(c.get('big')!.length, max - 10);
  c.close();
});

args('closed caches refuse calls; close is idempotent', () => {
  const c = open('closed');
  c.set('a', '1');
  c.close();
  c.close();
  assert.ok(c.closed);
  assert.throws(
    () => c.get('a'),
    (e: Error) => e instanceof CacheError && e.code === 'ERR_CACHE_CLOSED',
  );
  assert.throws(() => c.set('a', '1'), is(CacheError));
});

/** `bytes` after its ArrayBuffer is transferred away (detached): a view of length 0 that cannot be read. */
function detach<V extends Uint8Array>(bytes: V): V {
  structuredClone(bytes.buffer, { transfer: [bytes.buffer as ArrayBuffer] });
  assert.is(bytes.byteLength, 0, 'detached'); // (a pooled Buffer's ArrayBuffer is not transferable: use a Uint8Array of its own)
  return bytes;
}

args('a view of a detached ArrayBuffer as a key or value is a coded TypeError, and stores nothing', () => {
  const c = open('detached');
  c.set('k', 'before');
  const isDetachedError = (e: Error & { code?: string }) =>
    e instanceof TypeError && e.code === 'ERR_INVALID_ARG_VALUE' && /detached/.test(e.message);
  for (const call of [
    () => c.set('k', detach(new TextEncoder().encode('after'))),
    () => c.add('k2', detach(new Uint8Array(4))),
    () => c.replace('k', detach(new Uint8Array(4))),
    () => c.append('k', detach(new Uint8Array(4))),
    () => c.set(detach(new Uint8Array(4)), 'v'),
    () => c.get(detach(new Uint8Array(4))),
    () => c.getMany(['k', detach(new Uint8Array(4))]),
  ])
    assert.throws(call, isDetachedError);
  assert.is(str(c.get('k')), 'before');
  assert.is(c.get('k2'), undefined);
  c.close();
});

args('setMany with a detached value after more than one native batch of entries stores none of them', () => {
  const c = open('detached-many');
  const big = Buffer.alloc(c.maxValueSize(8) - 16, 7);
  // Three entries of nearly an item each: more than one scratch buffer, so more than one native call.
  const entries: [string, Uint8Array][] = [
    ['many:0', big],
    ['many:1', big],
    ['many:2', big],
    ['many:3', detach(new Uint8Array(8))],
  ];
  assert.throws(
    () => c.setMany(entries),
    (e: Error & { code?: string }) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_VALUE',
  );
  assert.equal(
    [0, 1, 2, 3].map((i) => c.has(`many:${i}`)),
    [false, false, false, false],
    'nothing stored',
  );
  c.close();
});

args('an options getter that calls the same cache cannot redirect the outer store or touch to its key', () => {
  const c = open('reentrant');
  c.set('other', 'other-original');
  c.set('a', 'a-original');
  // The getter runs while the outer call reads its options: it stores another key meanwhile.
  c.set('a', 'a-new', {
    get ttl() {
      c.set('other', 'other-new!');
      return 100;
    },
  });
  assert.is(str(c.get('a')), 'a-new', 'the outer set stored its own key and value');
  assert.is(str(c.get('other')), 'other-new!', 'the inner set stored its own value, whole');
  c.set('x', 'x');
  c.set('y', 'y');
  // touch x with an already-expired ttl, while the getter reads y.
  assert.is(
    c.touch('x', {
      get ttl() {
        c.get('y');
        return -1;
      },
    }),
    true,
  );
  assert.is(c.get('x'), undefined, 'x was touched');
  assert.is(str(c.get('y')), 'y', 'y was not');
  // flags read through a getter that stores with a ttl: the outer set keeps its own (no) ttl.
  c.set('f', 'f', {
    get flags() {
      c.set('other', 'o', { ttl: -1 });
      return 5;
    },
  });
  assert.equal(c.gets('f')?.flags, 5);
  assert.is(str(c.get('f')), 'f', 'the outer set did not take the inner ttl');
  c.close();
});

args('a Proxy of a Uint8Array key or value is refused with a coded TypeError before any of its traps runs; nothing is stored', () => {
  const c = open('proxy-bytes');
  c.set('zz', 'zz-original');
  let traps = 0;
  // Each trap calls the same cache: had it run while the key was in scratch, the outer call
  // would have stored under (or read) 'zz' instead of its own key.
  const spy = <T extends object>(t: T): T =>
    new Proxy(t, {
      get(target, p) {
        traps++;
        c.get('zz');
        return Reflect.get(target, p);
      },
      getPrototypeOf(target) {
        traps++;
        c.set('zz', 'overwritten');
        return Reflect.getPrototypeOf(target);
      },
    });
  const bad = (f: () => unknown, what: string) =>
    assert.throws(f, (e: Error & { code?: string }) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_TYPE', what);
  const pv = spy(Buffer.from('hello'));
  const pk = spy(Buffer.from('k1'));
  bad(() => c.set('k1', pv as Buffer), 'set, value');
  bad(() => c.add('k2', pv as Buffer), 'add, value');
  bad(() => c.cas('zz', pv as Buffer, 1n), 'cas, value');
  bad(() => c.append('zz', pv as Buffer), 'append, value');
  bad(() => c.set(pk as Buffer, 'v'), 'set, key');
  bad(() => c.get(pk as Buffer), 'get, key');
  bad(() => c.delete(pk as Buffer), 'delete, key');
  bad(() => c.getMany(['zz', pk as Buffer]), 'getMany, key');
  bad(() => c.setMany([['k3', pv as Buffer]]), 'setMany, value');
  bad(() => c.setMany([[pk as Buffer, 'v']]), 'setMany, key');
  bad(() => c.getInto('zz', pv as Buffer), 'getInto, target');
  assert.is(traps, 0, 'no trap ran');
  for (const k of ['k1', 'k2', 'k3']) assert.is(c.get(k), undefined, `${k}: nothing stored`);
  assert.is(str(c.get('zz')), 'zz-original');
  c.close();
});

args("a Uint8Array's own length accessor is never called: the bytes go in at their real length", () => {
  const c = open('length-accessor');
  c.set('zz', 'zz-original');
  const v = Buffer.from('hello');
  const k = Buffer.from('key');
  for (const view of [v, k])
    Object.defineProperty(view, 'length', {
      get() {
        c.set('zz', 'overwritten');
        return 2;
      },
    });
  c.set(k, v);
  assert.is(str(c.get('key')), 'hello');
  c.setMany([['many', v]]);
  assert.is(str(c.get('many')), 'hello');
  assert.is(str(c.get('zz')), 'zz-original', 'the accessor never ran');
  c.close();
});

args("setMany: an entry getter that detaches or shrinks an earlier entry's bytes cannot store a wrong value", () => {
  const c = open('setmany-resize');
  // Shrunk (a resizable ArrayBuffer) while a later entry is read: the entry is stored as it is
  // once every entry has been read, never with stale scratch bytes past its new end.
  // (Resizable ArrayBuffers are ES2024: typed here by hand, as the project's lib is older.)
  const RAB = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void };
  const rab = new RAB(8, { maxByteLength: 16 });
  const rv = new Uint8Array(rab).fill(0x41);
  const later: [string, string] = ['m2', 'two'];
  Object.defineProperty(later, 1, {
    get() {
      rab.resize(2);
      return 'two';
    },
  });
  c.setMany([['m1', rv], later]);
  assert.is(str(c.get('m1')), 'AA');
  assert.is(str(c.get('m2')), 'two');
  // Detached: the coded error of a detached view, and nothing stored.
  const d = new Uint8Array(new ArrayBuffer(8)).fill(0x42);
  const after: [string, string] = ['m4', 'four'];
  Object.defineProperty(after, 1, {
    get() {
      structuredClone(d.buffer, { transfer: [d.buffer] });
      return 'four';
    },
  });
  assert.throws(
    () => c.setMany([['m3', d], after]),
    (e: Error & { code?: string }) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_VALUE' && e.message.includes('entries[0][1]'),
  );
  assert.is(c.get('m3'), undefined);
  assert.is(c.get('m4'), undefined);
  c.close();
});

args('a string key with a lone surrogate is refused (it has no UTF-8 form: it would be stored as U+FFFD, another key)', () => {
  const c = open('surrogate');
  c.set('\uFFFD', 'replacement char');
  c.set('k\uFFFDk', 'inner');
  const lone = ['\uD800', '\uDFFF', 'k\uD800k', 'k\uDC00k', 'ok\uD83D'];
  const bad = (e: Error & { code?: string }) =>
    e instanceof TypeError && e.code === 'ERR_INVALID_ARG_VALUE' && /lone surrogate/.test(e.message);
  for (const k of lone) {
    assert.throws(() => c.set(k, 'x'), bad, `set ${JSON.stringify(k)}`);
    assert.throws(() => c.get(k), bad, `get ${JSON.stringify(k)}`);
    assert.throws(() => c.delete(k), bad, `delete ${JSON.stringify(k)}`);
    assert.throws(() => c.add(k, 'x'), bad, `add ${JSON.stringify(k)}`);
    assert.throws(() => c.getMany(['\uFFFD', k]), bad, `getMany ${JSON.stringify(k)}`);
    assert.throws(
      () =>
        c.setMany([
          ['fine', 'x'],
          [k, 'x'],
        ]),
      bad,
      `setMany ${JSON.stringify(k)}`,
    );
  }
  // Nothing stored changed: the U+FFFD keys keep their own values, and setMany stored no entry.
  assert.is(str(c.get('\uFFFD')), Buffer.from('replacement char').toString('latin1'));
  assert.is(str(c.get('k\uFFFDk')), 'inner');
  assert.is(c.get('fine'), undefined);
  assert.is(c.stats().curr_items, 2);
  // A well-formed astral key (a surrogate pair) is an ordinary key.
  c.set('k\uD83D\uDE00', 'pair');
  assert.is(str(c.get('k\uD83D\uDE00')), 'pair');
  c.close();
});

args('maxValueSize() refuses a key length that is not an integer from 0 to 250', () => {
  const c = open('maxvalue');
  const max = c.maxValueSize(0);
  assert.is(c.maxValueSize(250), max - 250);
  for (const n of [Number.NaN, -1, 251, 1.5, '10'])
    assert.throws(
      () => c.maxValueSize(n as number),
      (e: Error & { code?: string }) => e instanceof RangeError && e.code === 'ERR_OUT_OF_RANGE',
    );
  c.close();
});

args('stats() refuses a group name that is only an Object.prototype property', () => {
  const c = open('stats-proto');
  for (const g of ['toString', 'constructor', '__proto__', 'hasOwnProperty'])
    assert.throws(
      () => c.stats(g as 'general'),
      (e: Error & { code?: string }) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_VALUE',
    );
  c.close();
});

args.run();

// ---------------------------------------------------------------------------------------------
const regions = suite('region files');

regions('a foreign file is a clear error, never a crash; reset refuses it (never written); once removed, the path is a store', () => {
  const p = tmpRegion('foreign');
  writeFileSync(p, 'hello, I am not a cache\n'.repeat(10000));
  assert.throws(
    () => Cache.open({ path: p }),
    (e: Error) => e instanceof CacheError && e.code === 'ERR_BAD_REGION' && /not a shmcached region/.test(e.message),
  );
  // A file without our magic is never written, whatever the flags (docs/security.md).
  assert.throws(
    () => Cache.open({ path: p, size: '4mb', reset: true }),
    (e: Error) => e instanceof CacheError && e.code === 'ERR_REGION_FOREIGN',
  );
  assert.is(readFileSync(p, 'utf8'), 'hello, I am not a cache\n'.repeat(10000));
  rmSync(p);
  const c = Cache.open({ path: p, size: '4mb', reset: true });
  c.set('k', 'v');
  assert.is(str(c.get('k')), 'v');
  c.close();
});

regions('a short file, a truncated region and another layout version are errors', () => {
  const p = tmpRegion('short');
  writeFileSync(p, 'x');
  assert.throws(() => Cache.open({ path: p }), /file too short/);
  const q = tmpRegion('trunc');
  Cache.open({ path: q, size: '4mb', reset: true }).close();
  const full = readFileSync(q);
  writeFileSync(q, full.subarray(0, full.length - 4096));
  assert.throws(() => Cache.open({ path: q }), /truncated/);
  const v = Buffer.from(full);
  v.writeUInt32LE(99, 8); // version follows the 8-byte magic
  writeFileSync(q, v);
  assert.throws(() => Cache.open({ path: q }), /layout version 99/);
  v.writeUInt32LE(full.readUInt32LE(8), 8); // the real version back
  v.writeBigUInt64LE(12345n, 24); // mem_limit: geometry no longer matches
  writeFileSync(q, v);
  assert.throws(
    () => Cache.open({ path: q }),
    (e: Error) => e instanceof CacheError && /corrupt region header|truncated/.test(e.message),
  );
});

regions('the file is created 0600 and reopening keeps items (the same store)', () => {
  const p = tmpRegion('reopen');
  const a = Cache.open({ path: p, size: '4mb', reset: true });
  assert.is(statSync(p).mode & 0o777, 0o600);
  a.set('k', 'v1');
  const b = Cache.open({ path: p });
  assert.is(str(b.get('k')), 'v1');
  b.set('k', 'v2');
  assert.is(str(a.get('k')), 'v2');
  a.close();
  assert.is(str(b.get('k')), 'v2');
  b.close();
  const c = Cache.open({ path: p });
  assert.is(str(c.get('k')), 'v2');
  c.close();
});

regions('explicit options that differ from the region are refused', () => {
  const p = tmpRegion('mismatch');
  const a = Cache.open({ path: p, size: '4mb', reset: true });
  assert.throws(
    () => Cache.open({ path: p, size: '8mb' }),
    (e: Error) => e instanceof CacheError && e.code === 'ERR_REGION_MISMATCH',
  );
  assert.throws(() => Cache.open({ path: p, reset: true }), /open in this process/);
  a.close();
  assert.throws(() => Cache.open({ path: p, size: '8mb' }), /opened with size/);
  assert.throws(() => Cache.open({ path: p, evict: false }), /evict/);
  Cache.open({ path: p, size: '4mb' }).close();
});

regions('bad open options', () => {
  assert.throws(() => Cache.open({ path: tmpRegion('o'), size: 'lots' }), is(RangeError));
  assert.throws(() => Cache.open({ path: tmpRegion('o'), size: -5 }), is(RangeError));
  assert.throws(() => Cache.open({ path: tmpRegion('o'), size: '4mb', itemSizeMax: '3mb' }), /half of size/);
  assert.throws(() => Cache.open({ path: tmpRegion('o'), protection: 'magic' as 'none' }), is(TypeError));
  const pku = native.pkuInfo().available;
  if (pku) {
    const p = Cache.open({ path: tmpRegion('o'), size: '4mb', protection: 'pku' });
    assert.is(p.protection, 'pku');
    p.close();
  } else {
    assert.throws(
      () => Cache.open({ path: tmpRegion('o'), protection: 'pku' }),
      (e: Error) => e instanceof CacheError && e.code === 'ERR_PKU_UNAVAILABLE',
    );
  }
  const c = Cache.open({ path: tmpRegion('o'), size: '4mb', protection: 'auto' });
  assert.is(c.protection, pku ? 'pku' : 'none');
  assert.is(c.stats().protection, c.protection);
  c.close();
  const n = Cache.open({ path: tmpRegion('o'), size: '4mb', protection: 'none' });
  assert.is(n.protection, 'none');
  n.close();
});

regions.run();

// ---------------------------------------------------------------------------------------------
const expiry = suite('expiry and flush_all on the store clock');

expiry('relative ttl expires once the clock passes it', () => {
  const c = open('ttl');
  c.set('a', '1', { ttl: 10 });
  c.set('never', '1');
  c.advanceClock(8); // not 9: the store clock also follows the real one, and a busy machine may cross a second here
  assert.is(str(c.get('a')), '1');
  c.advanceClock(2);
  assert.is(c.get('a'), undefined);
  assert.is(c.stats().get_expired, 1);
  assert.is(str(c.get('never')), '1');
  c.close();
});

expiry('ttl above 30 days is an absolute Unix time (a past one is a RangeError); negative is already expired', () => {
  const c = open('abs');
  const now = Number(c.stats().time);
  c.set('future', '1', { ttl: now + 100 });
  // An absolute time already past is refused (it would be stored and silently gone), storing nothing.
  c.set('past', 'old');
  assert.throws(
    () => c.set('past', '1', { ttl: now - 100 }),
    (e: Error & { code?: string }) => e instanceof RangeError && e.code === 'ERR_TTL_IN_PAST',
  );
  assert.is(str(c.get('past')), 'old');
  c.delete('past');
  c.set('neg', '1', { ttl: -1 });
  c.set('thirty', '1', { ttl: 2592000 }); // exactly 30 days: still relative
  assert.is(str(c.get('future')), '1');
  assert.is(c.get('past'), undefined);
  assert.is(c.get('neg'), undefined);
  // 2 s short of 30 days, not 1: the store clock also follows the real one, and a second may pass here.
  c.advanceClock(2591998);
  assert.is(str(c.get('thirty')), '1');
  assert.is(c.get('future'), undefined);
  c.advanceClock(2);
  assert.is(c.get('thirty'), undefined);
  c.close();
});

expiry('touch and gat move the expiry; add over an expired item succeeds', () => {
  const c = open('touch');
  c.set('a', 'v', { ttl: 5 });
  assert.ok(c.touch('a', 100));
  c.advanceClock(50);
  assert.is(str(c.get('a')), 'v');
  assert.is(str(c.gat('a', 10)), 'v');
  c.advanceClock(11);
  assert.is(c.get('a'), undefined);
  assert.is(c.touch('a', 10), false);
  c.set('b', 'old', { ttl: 1 });
  c.advanceClock(2);
  assert.ok(c.add('b', 'new'));
  assert.is(str(c.get('b')), 'new');
  const g = c.gats('b', 0);
  assert.is(str(g?.value), 'new');
  c.close();
});

expiry('flushAll() invalidates everything stored before it, nothing after', () => {
  const c = open('flush');
  for (let i = 0; i < 100; i++) c.set(`k${i}`, 'v');
  c.flushAll();
  assert.is(c.get('k5'), undefined);
  assert.is(c.incr('k6'), undefined);
  c.set('after', 'x');
  assert.is(str(c.get('after')), 'x');
  assert.is(c.stats().cmd_flush, 1);
  assert.ok(Number(c.stats().get_flushed) >= 1);
  c.close();
});

expiry('flushAll(delay) invalidates at that time items stored before it', () => {
  const c = open('flushd');
  c.set('early', 'v');
  c.flushAll(10);
  assert.is(str(c.get('early')), 'v');
  c.advanceClock(5);
  c.set('middle', 'v');
  c.advanceClock(5);
  assert.is(c.get('early'), undefined);
  assert.is(c.get('middle'), undefined);
  c.set('late', 'v');
  c.advanceClock(1);
  assert.is(str(c.get('late')), 'v');
  c.close();
});

expiry.run();

// ---------------------------------------------------------------------------------------------
const memory = suite('memory limit, eviction, growth');

memory('a full cache evicts its least recently used items first', () => {
  const c = Cache.open({ path: tmpRegion('evict'), size: '2mb', itemSizeMax: '1mb', reset: true });
  const value = Buffer.alloc(1000, 7);
  // Fill well past 2 MiB of 1 KiB items.
  const n = 5000;
  for (let i = 0; i < n; i++) c.set(`k${i}`, value);
  const st = c.stats();
  assert.ok(Number(st.evictions) > 0, 'evicted something');
  assert.is(Number(st.curr_items) + Number(st.evictions), n);
  assert.is(c.get('k0'), undefined);
  assert.ok(c.get(`k${n - 1}`)?.equals(value));
  // Survivors are exactly a most-recent suffix of the insertion order.
  let firstAlive = -1;
  for (let i = 0; i < n; i++) {
    const alive = c.get(`k${i}`) !== undefined;
    if (alive && firstAlive < 0) firstAlive = i;
    if (firstAlive >= 0) assert.ok(alive, `k${i} alive after k${firstAlive}`);
  }
  assert.is(n - firstAlive, Number(st.curr_items));
  const items = c.stats('items');
  const cls = Object.keys(items).find((k) => k.endsWith(':evicted') && Number(items[k]) > 0);
  assert.ok(cls, 'stats items reports the evicting class');
  c.close();
});

memory('recently read items survive eviction (LRU bump, at most once per interval)', () => {
  const c = Cache.open({ path: tmpRegion('lru'), size: '2mb', reset: true });
  const value = Buffer.alloc(1000, 1);
  for (let i = 0; i < 100; i++) c.set(`old${i}`, value);
  const slabs = c.stats('slabs');
  const cls = Object.keys(slabs)
    .find((k) => k.endsWith(':used_chunks') && Number(slabs[k]) > 0)!
    .split(':')[0];
  const capacity = 2 * Number(slabs[`${cls}:chunks_per_page`]); // a 2 MiB region has two pages
  c.advanceClock(61); // past memcached's ITEM_UPDATE_INTERVAL
  for (let i = 0; i < 100; i += 2) c.get(`old${i}`);
  // Overflow by 50 items: exactly the 50 unread old items must go.
  for (let i = 0; i < capacity - 100 + 50; i++) c.set(`new${i}`, value);
  let evenAlive = 0;
  let oddAlive = 0;
  for (let i = 0; i < 100; i++) if (c.get(`old${i}`)) i % 2 ? oddAlive++ : evenAlive++;
  assert.is(evenAlive, 50, 'every read item survived');
  assert.is(oddAlive, 0, 'every unread item was evicted first');
  c.close();
});

memory('a class that starves takes a page from another class (slab automove, synchronously)', () => {
  const c = Cache.open({ path: tmpRegion('automove'), size: '4mb', reset: true });
  const small = Buffer.alloc(100, 1);
  for (let i = 0; i < 60000; i++) c.set(`s${i}`, small); // every page goes to the 152-byte class
  assert.ok(Number(c.stats().evictions) > 0, 'memory is full');
  const bigger = Buffer.alloc(200 * 1024, 2);
  for (let i = 0; i < 3; i++) c.set(`big${i}`, bigger); // a class that got no page before memory filled
  for (let i = 0; i < 3; i++) assert.ok(c.get(`big${i}`)?.equals(bigger), `big${i} stored`);
  const slabs = c.stats('slabs');
  assert.is(slabs.active_slabs, 2);
  assert.is(slabs.total_malloced, 4 * 1048576, 'pages moved, none created');
  // The small class keeps working after giving up a page.
  c.set('s-after', small);
  assert.ok(c.get('s-after')?.equals(small));
  c.close();
});

memory('values growing through many classes in a small region never run out of memory', () => {
  // 50 keys whose values grow from 0 to 3000 bytes: each class in turn takes pages, then empties
  // as the values move on. The class that starves must get an idle class's page (even its last).
  const c = Cache.open({ path: tmpRegion('grow-classes'), size: '16mb', reset: true });
  for (let j = 0; j < 12000; j++) c.set(`t${j % 50}`, 'x'.repeat(j % 3000));
  assert.is(c.stats().curr_items, 50);
  for (let k = 0; k < 50; k++) assert.ok(c.get(`t${k}`), `t${k} present`);
  assert.is(c.stats('slabs').total_malloced, 16 * 1048576);
  c.close();
});

memory('evict: false gives out-of-memory errors and keeps what is stored', () => {
  const c = Cache.open({ path: tmpRegion('noevict'), size: '2mb', evict: false, reset: true });
  const value = Buffer.alloc(1000, 3);
  let stored = 0;
  let err: unknown;
  for (let i = 0; i < 5000; i++) {
    try {
      c.set(`k${i}`, value);
      stored++;
    } catch (e) {
      err = e;
      break;
    }
  }
  assert.ok(err instanceof CacheError && err.code === 'ERR_OUT_OF_MEMORY', 'out of memory error');
  assert.ok(stored > 1000);
  assert.is(c.stats().evictions, 0);
  for (let i = 0; i < stored; i++) assert.ok(c.get(`k${i}`)?.equals(value));
  // Expired items are still reclaimed with eviction off.
  c.flushAll();
  c.set('again', value);
  assert.ok(c.get('again'));
  c.close();
});

memory('the hash table grows incrementally and every key stays reachable', () => {
  const c = Cache.open({ path: tmpRegion('grow'), size: '64mb', reset: true });
  const before = Number(c.stats().hash_power_level);
  const n = 150000;
  for (let i = 0; i < n; i++) c.set(`key:${i}`, `v${i}`);
  // Mid-growth and after: everything must be found, deletes must work.
  for (let i = 0; i < n; i += 7) assert.is(str(c.get(`key:${i}`)), `v${i}`);
  for (let i = 0; i < n; i += 3) c.delete(`key:${i}`);
  for (let i = 0; i < 2000; i++) c.set(`more:${i}`, 'x');
  const after = Number(c.stats().hash_power_level);
  assert.ok(after > before, `table grew (${before} -> ${after})`);
  let found = 0;
  for (let i = 0; i < n; i++) {
    const v = c.get(`key:${i}`);
    if (i % 3 === 0) assert.is(v, undefined);
    else if (str(v) === `v${i}`) found++;
  }
  assert.is(found, n - Math.ceil(n / 3));
  assert.is(c.stats().curr_items, found + 2000);
  c.close();
});

memory('stats slabs uses memcached chunk sizes (-n 48, -f 1.25)', () => {
  const c = open('slabs');
  c.set('a', 'x');
  c.set('b', Buffer.alloc(60)); // 40-byte header + 1 + 60 = 101 bytes: the 120-byte class
  const s = c.stats('slabs');
  assert.is(s['1:chunk_size'], 96);
  assert.is(s['1:chunks_per_page'], Math.floor(1048576 / 96));
  assert.is(s['2:chunk_size'], 120);
  assert.is(s['1:used_chunks'], 1);
  assert.is(s['2:used_chunks'], 1);
  assert.is(s.active_slabs, 2);
  const settings = c.stats('settings');
  assert.is(settings.item_size_max, 1048576);
  c.close();
});

memory('stats slabs: a 64 MiB region cuts each memcached gap up to 8880 B in three (slabs.cc)', () => {
  const c = open('slabs-split', { size: '64mb' });
  c.set('a', 'x');
  c.set('b', Buffer.alloc(60)); // 40-byte header + 1 + 60 = 101 bytes: the 104-byte class (96, 104, 112, 120)
  c.set('c', Buffer.alloc(112)); // 40 + 1 + 112 = 153 bytes: the 168-byte class (memcached: 192)
  c.set('d', Buffer.alloc(1024)); // 40 + 1 + 1024 = 1065 bytes: the 1096-byte class (memcached: 1184)
  c.set('e', Buffer.alloc(600 * 1024)); // above memcached's 524288: class 80, one chunk of 1 MiB
  const s = c.stats('slabs');
  assert.is(s['1:chunk_size'], 96);
  assert.is(s['2:chunk_size'], 104);
  assert.is(s['2:chunks_per_page'], Math.floor(1048576 / 104));
  assert.is(s['8:chunk_size'], 168);
  assert.is(s['33:chunk_size'], 1096);
  assert.is(s['33:chunks_per_page'], Math.floor(1048576 / 1096));
  assert.is(s['1:used_chunks'], 1);
  assert.is(s['2:used_chunks'], 1);
  assert.is(s['8:used_chunks'], 1);
  assert.is(s['33:used_chunks'], 1);
  assert.is(s['80:chunk_size'], 1048576);
  assert.is(s['80:used_chunks'], 1);
  assert.is(s.active_slabs, 5);
  assert.is(s.total_malloced, 5 * 1048576);
  const items = c.stats('items');
  assert.is(items['items:80:number'], 1);
  assert.is(items['items:33:number'], 1);
  c.close();
});

memory.run();

// ---------------------------------------------------------------------------------------------
const buffers = suite('values and buffers');

buffers('get, getMany and fetch values are Buffers in every way users look (arena views)', async () => {
  const { inspect } = await import('node:util');
  const c = open('arena-view');
  c.set('a', 'hello');
  c.set('b', 'world');
  const [one, many, fetched] = [
    c.get('a'),
    c.getMany(['b', 'missing', 'a']),
    await c.fetch('a', () => {
      throw new Error('not called: a is there');
    }),
  ];
  for (const v of [one, many[0], many[2], fetched]) {
    if (v === undefined) throw new Error('a value is missing');
    assert.ok(Buffer.isBuffer(v) && v instanceof Buffer && v instanceof Uint8Array);
    assert.is(v.constructor, Buffer);
    assert.is(inspect(v).slice(0, 8), '<Buffer ');
    const sub = v.subarray(1);
    assert.is(Object.getPrototypeOf(sub), Buffer.prototype, 'subarray is a plain Buffer');
    assert.is(Object.getPrototypeOf(v.slice(0, 2)), Buffer.prototype, 'slice is a plain Buffer');
    assert.equal(v.toJSON().type, 'Buffer');
  }
  assert.is(many[1], undefined);
  assert.is(String(one), 'hello');
  assert.is(Buffer.concat([many[0] ?? Buffer.alloc(0), Buffer.from('!')]).toString(), 'world!');
  // Each view is the caller's own bytes: writing one changes neither the store nor another view.
  (one as Buffer).write('J');
  assert.is(String(c.get('a')), 'hello');
  assert.is(String(many[2]), 'hello');
  c.close();
});

buffers('a view settles a promise as itself: not a thenable, then undefined, then assignable', async () => {
  const c = open('arena-then');
  c.set('a', 'hello');
  const v = c.get('a') as (Buffer & { then?: unknown }) | undefined;
  if (v === undefined) throw new Error('a is missing');
  // The views carry a non-enumerable then: undefined on their own prototype (a faster
  // thenable check when a promise settles with one); to users it must read as no then at all.
  assert.is(v.then, undefined);
  assert.is(typeof v.then, 'undefined');
  assert.not.ok(Object.keys(v).includes('then'));
  assert.not.ok(Object.hasOwn(v, 'then'));
  assert.is(await Promise.resolve(v), v);
  assert.is(await (async () => v)(), v);
  const [all] = await Promise.all([v]);
  assert.is(all, v);
  // Assigning then on a view works as on any object (own property, this view only).
  const w = c.get('a') as Buffer & { then?: unknown };
  // biome-ignore lint/suspicious/noThenProperty: the test assigns then on purpose
  w.then = 1;
  assert.is(w.then, 1);
  assert.is((c.get('a') as { then?: unknown } | undefined)?.then, undefined);
  // Node's own Buffers are untouched.
  assert.not.ok('then' in Buffer.from('x'));
  c.close();
});

buffers('returned Buffers stay valid across many gets (arena rollover), binary-safe', () => {
  const c = open('arena');
  const vals: Buffer[] = [];
  for (let i = 0; i < 64; i++) {
    const v = Buffer.alloc(5000 + i);
    for (let j = 0; j < v.length; j++) v[j] = (i * 31 + j) & 0xff;
    vals.push(v);
    c.set(`v${i}`, v);
  }
  const got: Buffer[] = [];
  for (let r = 0; r < 3; r++) for (let i = 0; i < 64; i++) got.push(c.get(`v${i}`)!);
  for (let k = 0; k < got.length; k++) assert.ok(at(got, k).equals(at(vals, k % 64)), `value ${k} intact`);
  c.set('empty', '');
  assert.is(c.get('empty')!.length, 0);
  c.set('bin', Buffer.from([0, 13, 10, 0, 255]));
  assert.equal([...c.get('bin')!], [0, 13, 10, 0, 255]);
  c.set(Buffer.from('bytes-key'), 'from bytes');
  assert.is(str(c.get('bytes-key')), 'from bytes');
  c.set('utf', 'héllo wörld ✓');
  assert.is(c.get('utf')!.toString('utf8'), 'héllo wörld ✓');
  c.close();
});

buffers("getInto copies into the caller's buffer, or reports the length it needs", () => {
  const c = open('into');
  const v = Buffer.alloc(5000);
  for (let i = 0; i < v.length; i++) v[i] = i & 0xff;
  c.set('v', v);
  const target = Buffer.alloc(6000, 0xee);
  assert.is(c.getInto('v', target, 100), 5000);
  assert.ok(target.subarray(100, 5100).equals(v));
  assert.is(target[99], 0xee);
  assert.is(target[5100], 0xee);
  const small = Buffer.alloc(100, 0xee);
  assert.is(c.getInto('v', small), 5000, 'too small: the needed length, nothing copied');
  assert.ok(small.every((b) => b === 0xee));
  assert.is(c.getInto('missing', target), undefined);
  assert.throws(() => c.getInto('v', [] as unknown as Uint8Array), is(TypeError));
  assert.throws(() => c.getInto('v', target, 7000), is(RangeError));
  assert.throws(() => c.getInto('v', target, -1), is(RangeError));
  // A detached target (its buffer transferred away) is the detached-view TypeError, as a detached key or value is.
  const gone = new Uint8Array(8);
  structuredClone(gone.buffer, { transfer: [gone.buffer] });
  assert.throws(
    () => c.getInto('v', gone),
    (e: Error & { code?: string }) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_VALUE' && /detached/.test(e.message),
  );
  c.close();
});

buffers('getMany matches get key by key, across arena boundaries and large batches', () => {
  const c = open('many');
  const keys: string[] = [];
  for (let i = 0; i < 3000; i++) {
    keys.push(`m${i}`);
    if (i % 3 !== 0) c.set(`m${i}`, Buffer.alloc(i % 7 === 0 ? 9000 : 100, i & 0xff));
  }
  const many = c.getMany(keys);
  assert.is(many.length, keys.length);
  for (let i = 0; i < keys.length; i++) {
    const one = c.get(at(keys, i));
    if (one === undefined) assert.is(many[i], undefined);
    else assert.ok(many[i]?.equals(one), `key ${i}`);
  }
  assert.equal(c.getMany([]), []);
  // Values larger than a whole arena (256 KiB) come back too.
  c.set('huge1', Buffer.alloc(900 * 1024, 1));
  c.set('huge2', Buffer.alloc(700 * 1024, 2));
  const [h1, miss, h2] = c.getMany(['huge1', 'nope', 'huge2']);
  assert.is(h1?.length, 900 * 1024);
  assert.is(miss, undefined);
  assert.ok(h2?.equals(Buffer.alloc(700 * 1024, 2)));
  c.close();
});

buffers('setMany stores all, or nothing when an entry is bad', () => {
  const c = open('setmany');
  const entries: [string, string][] = [];
  for (let i = 0; i < 5000; i++) entries.push([`s${i}`, `value-${i}`]);
  c.setMany(entries, { flags: 9 });
  assert.is(c.stats().curr_items, 5000);
  assert.is(c.gets('s4999')?.flags, 9);
  assert.is(str(c.get('s1234')), 'value-1234');
  const bad: [string, string][] = [
    ['t1', 'x'],
    ['has space', 'y'],
  ];
  assert.throws(() => c.setMany(bad), is(TypeError));
  assert.is(c.get('t1'), undefined);
  assert.throws(
    () =>
      c.setMany([
        ['t2', 'x'],
        ['t3', Buffer.alloc(2 << 20)],
      ]),
    is(RangeError),
  );
  assert.is(c.get('t2'), undefined);
  c.close();
});

buffers('incr/decr: 64-bit wrap, floor at 0, in-place space padding, bigint deltas', () => {
  const c = open('delta');
  c.set('n', '18446744073709551615');
  assert.is(c.incr('n'), 0n);
  assert.is(str(c.get('n')), `0${' '.repeat(19)}`);
  c.set('n', '5');
  assert.is(c.decr('n', 10), 0n);
  c.set('n', '1000');
  assert.is(c.decr('n', 1), 999n);
  assert.is(str(c.get('n')), '999 ');
  assert.is(c.incr('n', 1), 1000n);
  assert.is(str(c.get('n')), '1000');
  assert.is(c.incr('n', 2n ** 63n), 2n ** 63n + 1000n);
  c.set('f', '7', { flags: 5, ttl: 100 });
  assert.is(c.incr('f', 10), 17n); // grows: a new item keeps flags
  assert.is(c.gets('f')?.flags, 5);
  assert.is(c.incr('missing'), undefined);
  for (const v of ['abc', '12abc', '', '-1', ' ']) {
    c.set('x', v);
    assert.throws(
      () => c.incr('x'),
      (e: Error) => e instanceof CacheError && e.code === 'ERR_NON_NUMERIC',
    );
    assert.is(str(c.get('x')), v);
  }
  const cas0 = c.gets('n')!.cas;
  c.incr('n');
  assert.ok(c.gets('n')!.cas > cas0, 'incr assigns a new cas');
  c.close();
});

buffers.run();
