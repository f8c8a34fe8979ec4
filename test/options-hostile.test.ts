/**
 * The option objects of Cache.open and createServer under hostile input: getters that throw or
 * answer differently on each read (each option is read once), Proxies, odd numbers and size
 * spellings, callbacks and codecs that throw, return the wrong type or call the cache back.
 * Each: a coded error (or the caller's own throw, before anything is opened), and nothing
 * stored changes. Table: docs/api.md, "Option objects under hostile input".
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { Cache, CacheError, createServer } from '../src/index.js';
import { thrown, tmpRegion } from './helpers.js';

const shared = Cache.open({ path: tmpRegion('options-hostile'), size: '16mb', reset: true });

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
  // Below the minimum (twice itemSizeMax), past the file system's free space: ERR_BAD_REGION, nothing opened.
  for (const size of [1, '1mb', 2 ** 52]) assert.is(thrown(() => Cache.open({ path: p, size, reset: true })).code, 'ERR_BAD_REGION');
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

opts('createServer: every bad option is a coded error, and nothing is served', () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ cache: 5 }, 'ERR_INVALID_ARG_TYPE'],
    [{ cache: {} }, 'ERR_INVALID_ARG_TYPE'],
    [{ maxConnections: 0 }, 'ERR_OUT_OF_RANGE'],
    [{ maxConnections: -1 }, 'ERR_OUT_OF_RANGE'],
    [{ maxConnections: Number.NaN }, 'ERR_OUT_OF_RANGE'],
    [{ maxConnections: 1e10 }, 'ERR_OUT_OF_RANGE'],
    [{ maxConnections: '10' }, 'ERR_INVALID_ARG_TYPE'],
    [{ idleTimeout: Number.NaN }, 'ERR_OUT_OF_RANGE'],
    [{ idleTimeout: '5' }, 'ERR_INVALID_ARG_TYPE'],
    [{ idleTimeout: 1e12 }, 'ERR_OUT_OF_RANGE'],
    [{ verbose: 'yes' }, 'ERR_INVALID_ARG_TYPE'],
    [{ verbose: 1.5 }, 'ERR_OUT_OF_RANGE'],
    [{ tls: 5 }, 'ERR_INVALID_ARG_TYPE'],
    [{ tls: null }, 'ERR_INVALID_ARG_TYPE'],
    [{ auth: 'x' }, 'ERR_INVALID_ARG_TYPE'],
    [{ auth: {} }, 'ERR_INVALID_ARG_VALUE'],
    [{ auth: { users: 'ab' } }, 'ERR_INVALID_ARG_TYPE'],
    [{ auth: { users: ['a:b'] } }, 'ERR_INVALID_ARG_TYPE'],
    [{ auth: { users: { 'a:b': 'c' } } }, 'ERR_INVALID_ARG_VALUE'],
    [{ auth: { file: '' } }, 'ERR_INVALID_ARG_TYPE'],
    [{ auth: { file: '/nonexistent/auth' } }, 'ERR_AUTH_FILE_OPEN'],
    [{ settings: 5 }, 'ERR_INVALID_ARG_TYPE'],
    [{ settings: { flushEnabled: 'x' } }, 'ERR_INVALID_ARG_TYPE'],
    [{ settings: { numThreads: 'x' } }, 'ERR_INVALID_ARG_TYPE'],
    [{ settings: { tcpBacklog: -1 } }, 'ERR_OUT_OF_RANGE'],
    [{ settings: { tcpBacklog: { toString: () => '5' } } }, 'ERR_INVALID_ARG_TYPE'],
    [{ settings: { inter: 5 } }, 'ERR_INVALID_ARG_TYPE'],
    [{ settings: { bindingProtocol: 'udp' } }, 'ERR_INVALID_ARG_VALUE'],
    [{ enableShutdown: 'yes' }, 'ERR_INVALID_ARG_TYPE'],
    [{ lruCrawler: 'yes' }, 'ERR_INVALID_ARG_TYPE'],
    [{ lruCrawler: { intervalMs: 5 } }, 'ERR_OUT_OF_RANGE'],
    [{ reqsPerEvent: -1 }, 'ERR_OUT_OF_RANGE'],
    [{ protocol: 'http' }, 'ERR_INVALID_ARG_VALUE'],
    [{ engine: 'rust' }, 'ERR_INVALID_ARG_VALUE'],
    [{ threads: 0 }, 'ERR_OUT_OF_RANGE'],
    [{ engine: 'native', tls: {} }, 'ERR_NATIVE_TLS'],
  ];
  for (const [o, code] of cases) {
    const e = thrown(() => createServer({ cache: shared, ...o } as never));
    assert.is(e.code, code, `${JSON.stringify(o)}: ${e.message}`);
  }
  for (const o of [undefined, null, 5]) assert.is(thrown(() => createServer(o as never)).code, 'ERR_INVALID_ARG_TYPE');
  const closed = Cache.open({ path: tmpRegion('adapters-hostile-srv-closed'), size: '8mb', reset: true });
  closed.close();
  assert.is(thrown(() => createServer({ cache: closed })).code, 'ERR_CACHE_CLOSED');
  // Each option read once: a getter that is valid when checked cannot be invalid when used.
  let reads = 0;
  const server = createServer({
    cache: shared,
    get maxConnections() {
      reads++;
      return reads === 1 ? 4 : -1;
    },
  } as never);
  assert.is(reads, 1);
  server.close();
});

opts.run();

// ---------------------------------------------------------------------------------------------
