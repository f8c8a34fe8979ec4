/**
 * cache.fetch(): single flight across worker threads and processes, loader errors, a winner that
 * dies, stale-while-revalidate, invalidation, the meta protocol sharing the same flights, events.
 * Every wait is bounded by the store's own lockTtl (advanced with advanceClock where a test needs
 * a win to expire); no assertion depends on timing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { Cache, CacheError, CachePool, createServer, type FetchEvent } from '../src/index.js';
import { fetchThrough, type FetchStore } from '../src/fetch.js';
import { at, runWorker, tmpRegion } from './helpers.js';

const indexUrl = new URL('../src/index.js', import.meta.url).href;

// A participant: waits for the 'go' key, then fetches `keys` in its own order; the loader counts
// its runs in the store (incr loads:<key>) and sleeps a while so the others really overlap it.
const PARTICIPANT = `
  const { keys, seed, sleepMs } = data;
  cache.incr('ready');
  for (let i = 0; i < 2000 && cache.get('go') === undefined; i++) await new Promise((r) => setTimeout(r, 5));
  let s = seed;
  const order = keys.slice();
  for (let i = order.length - 1; i > 0; i--) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; const j = s % (i + 1); [order[i], order[j]] = [order[j], order[i]]; }
  const got = {};
  await Promise.all(order.map(async (k) => {
    const v = await cache.fetch(k, async (key) => {
      cache.incr('loads:' + key);
      await new Promise((r) => setTimeout(r, sleepMs));
      return 'value of ' + key;
    }, { ttl: 300, lockTtl: 30 });
    got[k] = v.toString();
  }));
  return got;
`;

function childParticipant(path: string, extra: unknown): { child: ChildProcess; done: Promise<unknown> } {
  const script = `
    const { Cache } = await import(${JSON.stringify(indexUrl)});
    const cache = Cache.open({ path: process.env.SHM_PATH });
    const data = JSON.parse(process.env.SHM_DATA);
    const result = await (async () => { ${PARTICIPANT} })();
    cache.close();
    process.stdout.write(JSON.stringify(result));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, SHM_PATH: path, SHM_DATA: JSON.stringify(extra) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const done = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child exited ${code}`))));
  });
  return { child, done };
}

/** 8 worker threads and 2 child processes fetch `keys` at once; returns what each got. */
async function stampede(c: Cache, path: string, keys: string[], sleepMs: number): Promise<Record<string, string>[]> {
  c.set('ready', '0');
  for (const k of keys) c.set(`loads:${k}`, '0');
  const runs: Promise<unknown>[] = [];
  for (let i = 0; i < 8; i++) runs.push(runWorker(path, PARTICIPANT, { keys, seed: i + 1, sleepMs }));
  for (let i = 0; i < 2; i++) runs.push(childParticipant(path, { keys, seed: 100 + i, sleepMs }).done);
  // Release them together once all ten are attached and waiting.
  for (let i = 0; i < 4000 && Number(c.get('ready')!.toString().trim()) < 10; i++) await new Promise((r) => setTimeout(r, 5));
  assert.is(Number(c.get('ready')!.toString().trim()), 10, 'all ten participants attached');
  c.set('go', '1');
  return (await Promise.all(runs)) as Record<string, string>[];
}

test('8 threads and 2 processes fetching one cold key: the loader runs exactly once', async () => {
  const path = tmpRegion('fetch-one');
  const c = Cache.open({ path, size: '16mb', reset: true });
  const results = await stampede(c, path, ['cold'], 300);
  assert.is(c.get('loads:cold')?.toString().trim(), '1', 'one load in the whole machine');
  for (const r of results) assert.is(r.cold, 'value of cold');
  assert.is(c.get('cold')?.toString(), 'value of cold');
  c.close();
});

test('the same for 100 keys at once: each key loaded exactly once', async () => {
  const path = tmpRegion('fetch-100');
  const c = Cache.open({ path, size: '16mb', reset: true });
  const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
  const results = await stampede(c, path, keys, 100);
  for (const k of keys) {
    assert.is(c.get(`loads:${k}`)?.toString().trim(), '1', `${k} loaded once`);
    for (const r of results) assert.is(r[k], `value of ${k}`);
  }
  c.close();
});

test('a loader that throws gives the win back: its caller gets the error, nothing is stored, the next caller loads', async () => {
  const path = tmpRegion('fetch-throw');
  const c = Cache.open({ path, size: '8mb', reset: true });
  let calls = 0;
  const boom = new Error('database down');
  const err = await c
    .fetch('k', () => {
      calls++;
      throw boom;
    })
    .catch((e: unknown) => e);
  assert.is(err, boom);
  assert.is(c.get('k'), undefined, 'neither the error nor the placeholder stays');
  const v = await c.fetch('k', async () => {
    calls++;
    return 'loaded';
  });
  assert.is(v.toString(), 'loaded');
  assert.is(calls, 2);
  // Waiters of a failing winner do not get its error: they retry, and one of them loads.
  let n = 0;
  const fail = async (): Promise<string> => {
    n++;
    await new Promise((r) => setTimeout(r, 50));
    throw new Error('first load fails');
  };
  const first = c.fetch('w', fail).catch((e: Error) => e.message);
  const second = c.fetch('w', async () => {
    n++;
    return 'second';
  });
  assert.is(await first, 'first load fails');
  assert.is((await second).toString(), 'second');
  assert.is(n, 2);
  // A value the store refuses gives the win back too: the next caller need not wait for lockTtl.
  const tooBig = await c.fetch('big', () => Buffer.alloc(4 * 1024 * 1024), { lockTtl: 30 }).catch((e: unknown) => e);
  assert.ok(tooBig instanceof RangeError && (tooBig as { code?: string }).code === 'ERR_VALUE_TOO_LARGE');
  assert.is((await c.fetch('big', async () => 'fits', { lockTtl: 30 })).toString(), 'fits');
  // A loader that outlives lockTtl loses its win: ERR_FETCH_TIMEOUT, and the next caller loads.
  const hung = await c.fetch('hung', () => new Promise<string>(() => {}), { lockTtl: 1 }).catch((e: unknown) => e);
  assert.ok(hung instanceof CacheError && hung.code === 'ERR_FETCH_TIMEOUT');
  assert.is(c.get('hung'), undefined);
  assert.is((await c.fetch('hung', async () => 'in time', { lockTtl: 1 })).toString(), 'in time');
  // A loader that returns something that is not a value is an error too.
  const bad = await c.fetch('b', () => 42 as unknown as string).catch((e: unknown) => e);
  assert.ok(bad instanceof TypeError && (bad as { code?: string }).code === 'ERR_INVALID_RETURN_VALUE');
  assert.is(c.get('b'), undefined);
  // A Proxy of bytes is not bytes either (its traps would run while the value is copied).
  const proxied = await c.fetch('b', () => new Proxy(Buffer.from('p'), {})).catch((e: unknown) => e);
  assert.ok(proxied instanceof TypeError && (proxied as { code?: string }).code === 'ERR_INVALID_RETURN_VALUE', String(proxied));
  assert.is(c.get('b'), undefined);
  c.close();
});

test('a winner SIGKILLed mid-load is replaced once its lockTtl has passed', async () => {
  const path = tmpRegion('fetch-kill');
  const c = Cache.open({ path, size: '8mb', reset: true });
  const script = `
    const { Cache } = await import(${JSON.stringify(indexUrl)});
    const cache = Cache.open({ path: process.env.SHM_PATH });
    await cache.fetch('slow', async () => {
      cache.set('child-loading', '1');
      await new Promise(() => {}); // never finishes
    }, { lockTtl: 5 });
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, SHM_PATH: path },
    stdio: 'ignore',
  });
  const exited = new Promise((r) => child.on('exit', r));
  for (let i = 0; i < 4000 && c.get('child-loading') === undefined; i++) await new Promise((r) => setTimeout(r, 5));
  assert.is(c.get('child-loading')?.toString(), '1', 'the child won and is loading');
  child.kill('SIGKILL');
  await exited;
  let ran = 0;
  const p = c.fetch(
    'slow',
    async () => {
      ran++;
      return 'replacement';
    },
    { lockTtl: 5 },
  );
  // While the dead winner's placeholder lives, we wait; once lockTtl passes, we win.
  await new Promise((r) => setTimeout(r, 30));
  assert.is(ran, 0, 'waits while the win is still held');
  c.advanceClock(6);
  assert.is((await p).toString(), 'replacement');
  assert.is(ran, 1);
  c.close();
});

test('stale-while-revalidate: past ttl the old value is served at once while exactly one refresh runs', async () => {
  const path = tmpRegion('fetch-swr');
  const c = Cache.open({ path, size: '8mb', reset: true });
  const opts = { ttl: 10, staleTtl: 100 };
  assert.is((await c.fetch('s', async () => 'v1', opts)).toString(), 'v1');
  assert.is((await c.fetch('s', async () => 'never', opts)).toString(), 'v1', 'fresh: a hit');
  c.advanceClock(11); // past ttl, within staleTtl
  let refreshes = 0;
  let finish!: () => void;
  const gate = new Promise<void>((r) => (finish = r));
  const loader = async (): Promise<string> => {
    refreshes++;
    await gate;
    return 'v2';
  };
  const served = await Promise.all(Array.from({ length: 20 }, () => c.fetch('s', loader, opts)));
  for (const v of served) assert.is(v.toString(), 'v1', 'the stale value, at once');
  const fromThreads = await Promise.all(
    [1, 2].map(() => runWorker(path, `return (await cache.fetch('s', async () => 'other', { ttl: 10, staleTtl: 100 })).toString();`)),
  );
  assert.equal(fromThreads, ['v1', 'v1']);
  assert.is(refreshes, 1, 'one refresh');
  finish();
  for (let i = 0; i < 1000 && c.get('s')?.toString() !== 'v2'; i++) await new Promise((r) => setTimeout(r, 2));
  assert.is(c.get('s')?.toString(), 'v2');
  assert.is((await c.fetch('s', loader, opts)).toString(), 'v2', 'fresh again');
  assert.is(refreshes, 1);
  c.close();
});

test('invalidate() keeps serving the value while one caller refreshes it', async () => {
  const path = tmpRegion('fetch-inval');
  const c = Cache.open({ path, size: '8mb', reset: true });
  await c.fetch('i', async () => 'old');
  assert.is(c.invalidate('i'), true);
  assert.is(c.invalidate('absent'), false);
  assert.is(c.get('i')?.toString(), 'old', 'still there');
  let loads = 0;
  const [a, b] = await Promise.all(
    [1, 2].map(() =>
      c.fetch('i', async () => {
        loads++;
        return 'new';
      }),
    ),
  );
  assert.is(a!.toString(), 'old');
  assert.is(b!.toString(), 'old');
  for (let i = 0; i < 1000 && c.get('i')?.toString() !== 'new'; i++) await new Promise((r) => setTimeout(r, 2));
  assert.is(c.get('i')?.toString(), 'new');
  assert.is(loads, 1);
  c.close();
});

/** A line-oriented client for the meta protocol. */
async function metaClient(port: number): Promise<{ ask(line: string): Promise<string>; sock: Socket }> {
  const sock = connect(port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  let buf = '';
  const waiters: ((s: string) => void)[] = [];
  sock.on('data', (d) => {
    buf += d.toString('latin1');
    for (let i = buf.indexOf('\r\n'); i >= 0 && waiters.length > 0; i = buf.indexOf('\r\n')) {
      // A value reply (VA <n> ...) is two lines: header and data.
      const head = buf.slice(0, i);
      let end = i + 2;
      const m = /^VA (\d+)/.exec(head);
      if (m) {
        const need = end + Number(m[1]) + 2;
        if (buf.length < need) break;
        end = need;
      }
      const msg = buf.slice(0, end);
      buf = buf.slice(end);
      waiters.shift()!(msg);
    }
  });
  return {
    sock,
    ask(line: string) {
      return new Promise((resolve) => {
        waiters.push(resolve);
        sock.write(line);
      });
    },
  };
}

test('a meta-protocol client and an in-process caller share one flight, both ways', async () => {
  const path = tmpRegion('fetch-meta');
  const c = Cache.open({ path, size: '8mb', reset: true });
  const server = createServer({ cache: c });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { ask, sock } = await metaClient((server.address() as AddressInfo).port);
  try {
    // In-process first: it wins; the wire client sees the placeholder with Z (no win for it).
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const inproc = c.fetch('a', async () => {
      await gate;
      return 'from-loader';
    });
    await new Promise((r) => setImmediate(r));
    const seen = await ask('mg a v N30\r\n');
    assert.ok(/^VA 0 .*Z/.test(seen) && !/ W/.test(seen), `wire sees a flight in progress: ${JSON.stringify(seen)}`);
    release();
    assert.is((await inproc).toString(), 'from-loader');
    assert.is(await ask('mg a v\r\n'), 'VA 11\r\nfrom-loader\r\n');

    // The wire client first: it wins with mg N; in-process callers wait for its ms, never load.
    const won = await ask('mg b v N30\r\n');
    assert.ok(/^VA 0 .*W/.test(won), `wire wins: ${JSON.stringify(won)}`);
    let loaded = 0;
    const waiting = c.fetch('b', async () => {
      loaded++;
      return 'in-process';
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.is(await ask('ms b 9 T0\r\nfrom-wire\r\n'), 'HD\r\n');
    assert.is((await waiting).toString(), 'from-wire');
    assert.is(loaded, 0);
  } finally {
    sock.destroy();
    await new Promise((r) => server.close(r));
    c.close();
  }
});

test('shmcached:fetch events: hit, won, waited and stale; argument errors reject', async () => {
  const path = tmpRegion('fetch-events');
  const c = Cache.open({ path, size: '8mb', reset: true });
  const events: FetchEvent[] = [];
  const onEvent = (m: unknown) => events.push(m as FetchEvent);
  subscribe('shmcached:fetch', onEvent);
  try {
    const slow = async () => {
      await new Promise((r) => setTimeout(r, 20));
      return 'x';
    };
    await Promise.all([c.fetch('e', slow), c.fetch('e', slow)]);
    await c.fetch('e', slow);
    c.invalidate('e');
    await c.fetch('e', slow);
    for (let i = 0; i < 500 && !events.some((e) => e.background); i++) await new Promise((r) => setTimeout(r, 2));
    const outcomes = events.map((e) => e.outcome + (e.background ? '(bg)' : ''));
    assert.equal(outcomes, ['won', 'waited', 'hit', 'stale', 'stale(bg)']);
    assert.ok(at(events, 0).loaded && typeof at(events, 0).loaderMs === 'number');
    assert.ok(!at(events, 1).loaded && typeof at(events, 1).waitedMs === 'number');
    assert.ok(at(events, 3).refreshing);
  } finally {
    unsubscribe('shmcached:fetch', onEvent);
  }
  const code = async (p: Promise<unknown>) => ((await p.catch((e: unknown) => e)) as { code?: string }).code;
  assert.is(await code(c.fetch('k', 'nope' as unknown as () => string)), 'ERR_INVALID_ARG_TYPE');
  assert.is(await code(c.fetch('k', () => 'v', { ttl: -1 })), 'ERR_OUT_OF_RANGE');
  assert.is(await code(c.fetch('k', () => 'v', { lockTtl: 0 })), 'ERR_OUT_OF_RANGE');
  assert.is(await code(c.fetch('k', () => 'v', { ttl: 1.5 })), 'ERR_OUT_OF_RANGE');
  assert.is(await code(c.fetch('', () => 'v')), 'ERR_OUT_OF_RANGE');
  assert.is(c.get('k'), undefined, 'bad calls store nothing');
  c.close();
});

test('CachePool.fetch joins the same flights', async () => {
  const path = tmpRegion('fetch-pool');
  const pool = new CachePool({ path, size: '8mb', reset: true, threads: 1 });
  const c = Cache.open({ path });
  let loads = 0;
  const loader = async () => {
    loads++;
    await new Promise((r) => setTimeout(r, 20));
    return 'pooled';
  };
  const [a, b] = await Promise.all([pool.fetch('p', loader), c.fetch('p', loader)]);
  assert.is(a.toString(), 'pooled');
  assert.is(b.toString(), 'pooled');
  assert.is(loads, 1);
  assert.is(await pool.get('p').then((v) => v?.toString()), 'pooled');
  await pool.close();
  c.close();
});

test("fetch returns exactly the bytes it stored, whatever the loader's code does to its buffer while the store writes", async () => {
  // A store whose set() takes the bytes at the call (as Cache.set does) or only later (as a
  // CachePool does at its flush), then waits on the test: the loader's buffer is changed at that
  // point, between the store's set and its answer.
  for (const readAt of ['call', 'later'] as const) {
    const stored = new Map<string, Buffer>();
    let inSet!: () => void;
    const setCalled = new Promise<void>((r) => (inSet = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const store: FetchStore = {
      metaGet: (key) =>
        stored.has(String(key))
          ? { value: stored.get(String(key))!, flags: 0, cas: 2n, won: false, stale: false, tokenSent: false, created: false }
          : { value: Buffer.alloc(0), flags: 0, cas: 1n, won: true, stale: false, tokenSent: false, created: true },
      set: async (key, value) => {
        const now = readAt === 'call' ? Buffer.from(value) : undefined;
        inSet();
        await gate;
        stored.set(String(key), now ?? Buffer.from(value));
      },
      metaDelete: () => true,
      usable: true,
    };
    const loaded = Buffer.from('original');
    const p = fetchThrough(store, 'k', async () => loaded, { ttl: 60 });
    await setCalled;
    loaded.fill(0x58); // the loader's code changes its buffer while the store works
    release();
    const got = await p;
    assert.is(stored.get('k')?.toString(), 'original', `${readAt}: the bytes the loader returned are stored`);
    assert.is(got.toString(), 'original', `${readAt}: the caller gets the bytes that were stored`);
  }
});

test.run();
