/**
 * The Keyv store (src/keyv.ts, `shmcached/keyv`): Keyv's own compliance suite
 * (@keyv/test-suite: api, values, namespaces, iterator), cache-manager 7 on top of it,
 * namespaces whose clear is O(1), and two processes sharing one store. keyv, @keyv/test-suite
 * and cache-manager are devDependencies; without them this file says so and fails.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';

import { Cache, CachePool } from '../src/index.js';
import { KeyvShmcached } from '../src/keyv.js';
import { tmpRegion } from './helpers.js';
import { vitestShim } from './support/keyv-adapter.js';

// biome-ignore lint/suspicious/noExplicitAny: these modules are imported by name at run time and have no types here
type Any = any;
const load = (name: string): Promise<Any> => import(name);
const missing: string[] = [];
const mod = async (name: string): Promise<Any> => {
  try {
    return await load(name);
  } catch {
    missing.push(name);
    return undefined;
  }
};
const keyvMod = await mod('keyv');
const suiteMod = await mod('@keyv/test-suite');
const cmMod = await mod('cache-manager');

const path = tmpRegion('keyv');
const shared = Cache.open({ path, size: '32mb', reset: true });
const keyvUrl = new URL('../src/keyv.js', import.meta.url).href;

const setup = suite('keyv: dependencies');
setup('keyv, @keyv/test-suite and cache-manager are installed (devDependencies)', () => {
  assert.equal(missing, [], `npm install --save-dev keyv @keyv/test-suite cache-manager@7 (missing: ${missing.join(', ')})`);
});
setup.run();

if (missing.length === 0) {
  const Keyv = keyvMod.default ?? keyvMod.Keyv;
  const store = () => new KeyvShmcached({ cache: shared });
  // Keyv 5 wires a store's iterator only for a fixed list of dialects (sqlite, redis, ...): this
  // subclass wires ours the way Keyv does, through its own generateIterator.
  class KeyvIter extends Keyv {
    constructor(opts: Any) {
      super(opts);
      this.iterator = this.generateIterator(this.opts.store.iterator.bind(this.opts.store));
    }
  }
  const parts = [
    ['api', suiteMod.keyvApiTests, Keyv],
    ['values', suiteMod.keyvValueTests, Keyv],
    ['namespace', suiteMod.keyvNamespaceTest, Keyv],
    ['iterator', suiteMod.keyvIteratorTests, KeyvIter],
  ] as const;
  // The same suite on a Cache-backed store, then on a CachePool-backed one: every call of the
  // second goes to the pool's workers.
  const pool = new CachePool({ path, threads: 1, inline: 'never' });
  const poolStore = () => new KeyvShmcached({ cache: pool });
  for (const [title, makeStore] of [
    ['@keyv/test-suite', store],
    ['@keyv/test-suite on a CachePool', poolStore],
  ] as const) {
    for (const [name, run, K] of parts) {
      const s = suite(`${title}: ${name}`);
      run(vitestShim(s), K, makeStore);
      s.run();
    }
  }
  const pooled = suite('keyv: CachePool-backed store');
  pooled('a pool-backed and a Cache-backed store share entries; a codec pool gets a bytes handle of its own', async () => {
    const viaPool = new Keyv({ store: poolStore(), namespace: 'mixed' });
    const viaCache = new Keyv({ store: store(), namespace: 'mixed' });
    await viaPool.set('a', { from: 'pool' }, 60_000);
    assert.equal(await viaCache.get('a'), { from: 'pool' });
    await viaCache.set('b', 'from cache');
    assert.is(await viaPool.get('b'), 'from cache');
    await viaPool.clear();
    assert.is(await viaCache.get('b'), undefined);
    const jsonPool = new CachePool({ path, threads: 1, codec: 'json' });
    const s = new KeyvShmcached({ cache: jsonPool });
    assert.instance(s.cache, Cache);
    await s.disconnect();
    assert.is(jsonPool.closed, false);
    await jsonPool.close();
    await viaPool.disconnect();
    assert.is(pool.closed, false, 'a bytes pool passed in stays open');
    await pool.close();
  });
  pooled.run();

  const more = suite('keyv: store');

  more('namespaces do not collide; clear is O(1) and only clears its own namespace', async () => {
    const a = new Keyv({ store: new KeyvShmcached({ cache: shared }), namespace: 'a' });
    const b = new Keyv({ store: new KeyvShmcached({ cache: shared }), namespace: 'b' });
    const plain = new Keyv({ store: new KeyvShmcached({ cache: shared }) });
    for (let i = 0; i < 100; i++) {
      await a.set(`k${i}`, { ns: 'a', i });
      await b.set(`k${i}`, { ns: 'b', i });
    }
    await plain.set('k1', 'plain');
    const before = shared.stats();
    await a.clear();
    const after = shared.stats();
    assert.is(after.delete_hits, before.delete_hits, 'clear deleted nothing one by one');
    assert.ok(Number(after.cmd_get) - Number(before.cmd_get) <= 2, 'clear read at most the generation');
    assert.is(await a.get('k1'), undefined);
    assert.equal(await b.get('k1'), { ns: 'b', i: 1 });
    assert.is(await plain.get('k1'), 'plain');
    await a.set('k1', 'again');
    assert.is(await a.get('k1'), 'again');
    assert.equal(await b.getMany(['k1', 'nope', 'k2']), [{ ns: 'b', i: 1 }, undefined, { ns: 'b', i: 2 }]);
    assert.is(await b.deleteMany(['k1', 'k2']), true);
    assert.is(await b.has('k1'), false);
    assert.is(await b.has('k3'), true);
    const seen = [];
    for await (const [k] of (new KeyvIter({ store: new KeyvShmcached({ cache: shared }), namespace: 'b' }) as Any).iterator()) seen.push(k);
    assert.is(seen.length, 98);
    assert.ok(seen.every((k: string) => /^k\d+$/.test(k)));
    // Keys memcached forbids (spaces, controls) are encoded, not refused.
    await a.set('with space\nand newline', 1);
    assert.is(await a.get('with space\nand newline'), 1);
    await b.clear();
    await plain.clear();
  });

  more('ttl in ms; bytes, strings and structured values; disconnect leaves a shared Cache open', async () => {
    const s = new KeyvShmcached({ cache: shared });
    const k = new Keyv({ store: s, namespace: 'ttl' });
    await k.set('short', 'x', 50);
    await k.set('long', 'y', 60_000);
    await new Promise((r) => setTimeout(r, 80));
    assert.is(await k.get('short'), undefined, 'Keyv checks its own ms expiry');
    assert.is(await k.get('long'), 'y');
    shared.advanceClock(62);
    assert.is(await s.get('ttl:long'), undefined, 'the store expired it too');
    await s.set('raw-bytes', new Uint8Array([1, 2]));
    assert.equal(await s.get('raw-bytes'), Buffer.from([1, 2]));
    await s.set('raw-map', new Map([[1, 2]]));
    assert.equal(await s.get('raw-map'), new Map([[1, 2]]));
    await k.disconnect();
    assert.is(shared.closed, false);
    const own = new KeyvShmcached({ path });
    await own.disconnect();
    assert.is(own.cache.closed, true);
  });

  more('cache-manager 7: set / get / wrap / del / ttl through Keyv', async () => {
    const cache = cmMod.createCache({ stores: [new Keyv({ store: new KeyvShmcached({ cache: shared }), namespace: 'cm' })] });
    await cache.set('user:1', { name: 'Ada' }, 60_000);
    assert.equal(await cache.get('user:1'), { name: 'Ada' });
    const ttl = await cache.ttl('user:1');
    assert.ok(typeof ttl === 'number' && ttl > Date.now() && ttl <= Date.now() + 60_000, `ttl ${ttl}`);
    let loads = 0;
    const load = async () => {
      loads++;
      return { loaded: true };
    };
    assert.equal(await cache.wrap('w', load, 60_000), { loaded: true });
    assert.equal(await cache.wrap('w', load, 60_000), { loaded: true });
    assert.is(loads, 1);
    assert.is(await cache.del('user:1'), true);
    assert.is(await cache.get('user:1'), undefined);
    await cache.clear();
    assert.is(await cache.get('w'), undefined);
  });

  more('two processes share one store: each reads what the other wrote', async () => {
    const k = new Keyv({ store: new KeyvShmcached({ cache: shared }), namespace: 'proc' });
    await k.set('from-parent', { pid: process.pid });
    const script = `
      const { default: Keyv } = await import('keyv');
      const { KeyvShmcached } = await import(${JSON.stringify(keyvUrl)});
      const k = new Keyv({ store: new KeyvShmcached({ path: ${JSON.stringify(path)} }), namespace: 'proc' });
      const seen = await k.get('from-parent');
      await k.set('from-child', { pid: process.pid, seen }, 60000);
      await k.disconnect();
      process.stdout.write(String(process.pid));`;
    const childPid = Number(
      execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: process.cwd() }),
    );
    assert.equal(await k.get('from-child'), { pid: childPid, seen: { pid: process.pid } });
  });

  more('setMany / deleteMany with one bad entry change nothing; an unserialisable value is a coded error', async () => {
    const s = new KeyvShmcached({ cache: shared, prefix: 'bad' });
    const failure = async (p: Promise<unknown>): Promise<string> => {
      try {
        await p;
      } catch (e) {
        return `${(e as Error).name}:${(e as { code?: string }).code}`;
      }
      return 'resolved';
    };
    const long = 'x'.repeat(300);
    const cases: [string, unknown[], string][] = [
      [
        'a key that is not a string',
        [
          { key: 'm1', value: 1 },
          { key: 5, value: 2 },
        ],
        'TypeError:ERR_INVALID_ARG_TYPE',
      ],
      [
        'a key too long once namespaced',
        [
          { key: 'm1', value: 1 },
          { key: long, value: 2 },
        ],
        'RangeError:ERR_OUT_OF_RANGE',
      ],
      [
        'a value v8 cannot serialise',
        [
          { key: 'm1', value: 1 },
          { key: 'm2', value: () => 1 },
        ],
        'CacheError:ERR_CODEC_ENCODE',
      ],
      ['an entry that is not an object', [{ key: 'm1', value: 1 }, null], 'TypeError:ERR_INVALID_ARG_TYPE'],
    ];
    for (const [what, entries, code] of cases) {
      assert.is(await failure(s.setMany(entries as Parameters<typeof s.setMany>[0])), code, what);
      assert.is(await s.get('m1'), undefined, `${what}: nothing stored`);
    }
    assert.is(await failure(s.set('m3', Symbol('x'))), 'CacheError:ERR_CODEC_ENCODE', 'set of an unserialisable value');
    await s.set('d1', 'one');
    assert.is(await failure(s.deleteMany(['d1', 5 as unknown as string])), 'TypeError:ERR_INVALID_ARG_TYPE');
    assert.is(await s.get('d1'), 'one', 'deleteMany with a bad key deleted nothing');
  });

  more(
    'setMany with one value over the item size stores nothing, on a Cache and on a CachePool, as the single set refuses it',
    async () => {
      const small = tmpRegion('keyv-toolarge');
      const c = Cache.open({ path: small, size: '8mb', itemSizeMax: '64kb', reset: true });
      const p = new CachePool({ path: small, threads: 1, inline: 'never' });
      const err = async (q: Promise<unknown>): Promise<string> => {
        try {
          await q;
        } catch (e) {
          return `${(e as Error).name}:${(e as { code?: string }).code}`;
        }
        return 'resolved';
      };
      try {
        const big = 'y'.repeat(64 * 1024);
        for (const [name, handle] of [
          ['Cache', c],
          ['CachePool', p],
        ] as const) {
          const s = new KeyvShmcached({ cache: handle, prefix: `big${name}` });
          const detached = new Uint8Array(new ArrayBuffer(8));
          structuredClone(detached.buffer, { transfer: [detached.buffer] });
          for (const [what, value, code] of [
            ['a string', big, 'RangeError:ERR_VALUE_TOO_LARGE'],
            ['bytes', Buffer.alloc(64 * 1024), 'RangeError:ERR_VALUE_TOO_LARGE'],
            ['a v8-serialised object', { big }, 'RangeError:ERR_VALUE_TOO_LARGE'],
            ['a view of a detached ArrayBuffer', detached, 'TypeError:ERR_INVALID_ARG_VALUE'],
          ] as const) {
            const single = await err(s.set('one', value));
            assert.is(single, code, `${name}, ${what}: the single set`);
            const entries = [
              { key: 'first', value: 'fits' },
              { key: 'second', value: 'fits too', ttl: 60_000 },
              { key: 'third', value },
            ];
            assert.is(await err(s.setMany(entries)), single, `${name}, ${what}: the same error as the single set`);
            assert.is(await s.get('first'), undefined, `${name}, ${what}: nothing stored`);
            assert.is(await s.get('second'), undefined, `${name}, ${what}: nothing stored`);
          }
          // The largest value that fits still goes in whole.
          const base = `big${name}//0/`;
          const fits = handle.maxValueSize(Buffer.byteLength(`${base}edge`));
          assert.equal(await s.setMany([{ key: 'edge', value: Buffer.alloc(fits, 1) }]), [true]);
          assert.is(((await s.get('edge')) as Buffer).length, fits);
        }
      } finally {
        await p.close();
        c.close();
      }
    },
  );

  more.run();
}
