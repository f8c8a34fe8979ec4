/**
 * The option objects of Cache.open and createServer under hostile input: getters that throw or
 * answer differently on each read (each option is read once), Proxies, odd numbers and size
 * spellings, callbacks and codecs that throw, return the wrong type or call the cache back.
 * Each: a coded error (or the caller's own throw, before anything is opened), and nothing
 * stored changes. Table: docs/api.md, "Option objects under hostile input".
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { Cache, CacheError } from '../src/index.js';
import { thrown, tmpRegion } from './helpers.js';

const opts = suite('option objects: getters, Proxies, odd values');

opts('Cache.open reads each option once: a reset getter that says false when checked cannot reset when used', () => {
  const p = tmpRegion('adapters-hostile-once');
  const first = Cache.open({ path: p, size: '8mb', reset: true });
  first.set('keep', 'me');
  first.close();
  let reads = 0;
  const sneaky = {
    path: p,
    get reset() {
      reads++;
      return reads > 1;
    },
  };
  const c = Cache.open(sneaky);
  assert.is(reads, 1, 'reset read once');
  assert.is(c.get('keep')?.toString(), 'me', 'the region was not reset');
  c.close();
  // A Proxy: each option looked up once, none twice.
  const seen = new Map<PropertyKey, number>();
  const proxy = new Proxy(
    { path: p, size: '8mb', evict: true, mode: 0o600, allowOwner: process.getuid?.() ?? 0, recover: false, eventSample: 1 },
    {
      get(t, k, r) {
        seen.set(k, (seen.get(k) ?? 0) + 1);
        return Reflect.get(t, k, r);
      },
    },
  );
  Cache.open(proxy).close();
  for (const [k, n] of seen) assert.is(n, 1, `${String(k)} read ${n} times`);
  // A getter that throws: its error, nothing opened.
  const boom = new Error('getter');
  const e = thrown(() =>
    Cache.open({
      path: p,
      get size(): number {
        throw boom;
      },
    }),
  );
  assert.is(e, boom);
});

opts('sizes: odd spellings are coded errors', () => {
  const p = tmpRegion('adapters-hostile-size');
  for (const size of [1e21, -0, Number.NaN, 0, '1e3mb', '0x10mb', '64 parsecs', '9007199254740993', '', '-1mb', {}, true]) {
    const e = thrown(() => Cache.open({ path: p, size: size as number, reset: true }));
    assert.ok(e instanceof RangeError || e instanceof TypeError || e instanceof CacheError, String(size));
    assert.ok(typeof e.code === 'string', `size ${String(size)}: ${e.message}`);
  }
  for (const size of [' 8mb', '8 MB', '8mib', '8388608']) {
    const c = Cache.open({ path: p, size, reset: true });
    assert.is(c.stats().limit_maxbytes, 8 * 1024 * 1024, size);
    c.close();
  }
  for (const onCorrupt of ['ignore', 1, 'RESET']) {
    assert.is(thrown(() => Cache.open({ path: p, onCorrupt: onCorrupt as 'throw' })).code, 'ERR_INVALID_ARG_VALUE');
  }
});

opts('a logRecovery callback that throws fails the open and leaves no handle attached', () => {
  const p = tmpRegion('adapters-hostile-log');
  Cache.open({ path: p, size: '8mb', reset: true }).close();
  const boom = new Error('logger');
  const e = thrown(() =>
    Cache.open({
      path: p,
      logRecovery: () => {
        throw boom;
      },
    }),
  );
  assert.is(e, boom);
  const c = Cache.open({ path: p });
  assert.is(c.lastRecovery.kind, 'warm', 'no leaked handle of the failed open is still attached');
  c.close();
});

opts('codecs: the encode/decode checked are the ones called; a re-entrant encode stores both entries right', () => {
  const p = tmpRegion('adapters-hostile-codec');
  let reads = 0;
  const fn = (v: unknown) => Buffer.from(String(v));
  const codec = {
    get encode() {
      reads++;
      return reads === 1 ? fn : 'not a function';
    },
    decode: (b: Buffer) => b.toString(),
  };
  const c = Cache.open({ path: p, size: '8mb', reset: true, codec: codec as never });
  c.set('k', 'v');
  assert.is(c.get('k'), 'v');
  c.close();
  let depth = 0;
  const re: Cache<unknown> = Cache.open<unknown>({
    path: p,
    codec: {
      encode(v: unknown) {
        if (depth++ === 0) re.set('inner', 'nested');
        return Buffer.from(JSON.stringify(v));
      },
      decode: (b: Buffer) => JSON.parse(b.toString()),
    },
  });
  re.set('outer', { a: 1 });
  assert.equal(re.get('outer'), { a: 1 });
  assert.is(re.get('inner'), 'nested');
  const bad = Cache.open({ path: p, codec: { encode: () => 'str' as never, decode: () => 1 } });
  assert.is(thrown(() => bad.set('x', 1)).code, 'ERR_INVALID_RETURN_VALUE');
  assert.is(bad.get('x'), undefined);
  re.close();
  bad.close();
});

opts.run();

// ---------------------------------------------------------------------------------------------
