// The server's lifecycle under hostile or unlucky timing, on the engine SHMCACHED_ENGINE picks
// (run it with both): close() resolves, and every descriptor the server opened is released,
// whatever its connections are doing (1000 idle ones, a set cut mid-value, a client owed 30 MB it
// never reads, a metadump, an lru_crawler crawl); close() twice at once; listen() after close();
// an accept storm; the store closed under a running server (in a child process: a crash there
// must not take the suite down). Deadlines here only catch hangs; no timing is asserted.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { type AddressInfo, createConnection, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

import { Cache, createServer } from '../src/index.js';
import { tmpRegion } from './helpers.js';

const native = process.env.SHMCACHED_ENGINE === 'native';
const CHILD = 'SHMCACHED_LIFECYCLE_CHILD';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A server as createServer returns it, either engine (the calls both have). */
interface AnyServer {
  listen(port: number, host: string, cb: () => void): unknown;
  close(cb?: (err?: Error) => void): unknown;
  address(): AddressInfo | string | null;
  readonly listening: boolean;
}

if (process.env[CHILD] === 'cache-close') {
  // The store closed while the server serves it, with requests in flight on every connection.
  const path = tmpRegion('lc-child');
  const cache = Cache.open({ path, size: '32mb' });
  const server = createServer({ cache, threads: 2, lruCrawler: { intervalMs: 10 } }) as unknown as AnyServer;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  let after = '';
  let closedStore = false;
  const socks: Socket[] = [];
  for (let k = 0; k < 4; k++) {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      if (closedStore) after = (after + d.toString('latin1')).slice(-200);
    });
    const req = `set k${k} 0 0 100\r\n${'x'.repeat(100)}\r\nget k${k}\r\nlru_crawler metadump all\r\n`;
    s.on('connect', () => {
      const pump = (): void => {
        while (s.write(req));
      };
      s.on('drain', pump);
      pump();
    });
    socks.push(s);
  }
  await sleep(300);
  cache.close();
  closedStore = true;
  await sleep(500);
  await new Promise<void>((r) => server.close(() => r()));
  for (const s of socks) s.destroy();
  process.stdout.write(`${JSON.stringify({ answered: after.length > 0, tail: after.slice(-60) })}\n`);
  process.exit(0);
}

const t = suite(`server lifecycle (engine ${native ? 'native' : 'js'})`);

/** The descriptors this process holds. */
const fds = (): number => readdirSync('/proc/self/fd').length;

/** Polls until this process holds at most `n` descriptors (closes land asynchronously); the count. */
async function fdsDownTo(n: number): Promise<number> {
  let now = fds();
  for (const deadline = Date.now() + 20_000; now > n && Date.now() < deadline; await sleep(20)) now = fds();
  return now;
}

async function start(name: string, opts: { idleTimeout?: number; lruCrawler?: boolean } = {}) {
  const cache = Cache.open({ path: tmpRegion(name), size: '128mb', itemSizeMax: '2m' });
  const server = createServer({ cache, maxConnections: 5000, ...opts }) as unknown as AnyServer;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { cache, server, port: (server.address() as AddressInfo).port };
}

function connect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.on('error', () => undefined);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** server.close() as a promise of its callback's error code ('ok' when none); fails after 30 s (a hang guard). */
async function close(server: AnyServer): Promise<string> {
  const done = new Promise<string>((r) => server.close((e) => r((e as NodeJS.ErrnoException | undefined)?.code ?? 'ok')));
  const r = await Promise.race([done, sleep(30_000).then(() => 'hang')]);
  assert.is.not(r, 'hang', 'close() did not call back within 30 s');
  return r;
}

/** Resolves once s has been closed by the far end (its 'close'); fails after 30 s. */
async function closedByServer(s: Socket): Promise<void> {
  s.resume();
  const ok = await Promise.race([new Promise<boolean>((r) => s.once('close', () => r(true))), sleep(30_000).then(() => false)]);
  assert.ok(ok, 'the server never closed the connection');
}

t('close() with 1000 idle connections: it resolves, every client is closed, every descriptor released', async () => {
  const base = fds();
  const { cache, server, port } = await start('lc-idle');
  const socks: Socket[] = [];
  for (let i = 0; i < 1000; i++) socks.push(await connect(port));
  const open = fds();
  assert.ok(open >= base + 2000, `${open - base} descriptors for 1000 connections, both ends`);
  const closes = socks.map((s) => closedByServer(s));
  assert.is(await close(server), 'ok');
  await Promise.all(closes);
  cache.close();
  assert.is(await fdsDownTo(base), base, 'descriptors after close');
});

t('close() while a client is half-way through a 1 MB set and another never reads the 30 MB it asked for', async () => {
  const base = fds();
  const { cache, server, port } = await start('lc-midway');
  cache.set('v', Buffer.alloc(1_000_000, 0x62));
  const half = await connect(port);
  half.write('set big 0 0 1048576\r\n');
  half.write(Buffer.alloc(500_000, 0x61));
  const stalled = await connect(port);
  stalled.pause();
  stalled.write('get v\r\n'.repeat(30));
  await sleep(200);
  const ends = [closedByServer(half)];
  assert.is(await close(server), 'ok');
  await Promise.all(ends);
  stalled.destroy();
  half.destroy();
  assert.is(cache.get('big'), undefined, 'a value cut mid-way is not stored');
  cache.close();
  assert.is(await fdsDownTo(base), base, 'descriptors after close');
});

t('close() while a metadump streams to a client that does not read, and while a crawl runs', async () => {
  const base = fds();
  const { cache, server, port } = await start('lc-crawl', { lruCrawler: true });
  for (let i = 0; i < 100_000; i++) cache.set(`key${i}`, 'x', { ttl: i % 2 ? 3600 : 1 });
  const dump = await connect(port);
  dump.pause();
  dump.write('lru_crawler metadump all\r\n');
  const crawl = await connect(port);
  crawl.write('lru_crawler crawl all\r\n');
  await sleep(100);
  assert.is(await close(server), 'ok');
  dump.destroy();
  crawl.destroy();
  // The store is whole: a fresh read of every key that does not expire.
  let found = 0;
  for (let i = 1; i < 100_000; i += 2) if (cache.get(`key${i}`) !== undefined) found++;
  assert.is(found, 50_000);
  cache.close();
  assert.is(await fdsDownTo(base), base, 'descriptors after close');
});

t('close() twice at once: both callbacks run once it has finished, without an error; a third says not running', async () => {
  const { cache, server, port } = await start('lc-twice');
  const s = await connect(port);
  const gone = closedByServer(s);
  const [a, b] = await Promise.all([close(server), close(server)]);
  await gone;
  assert.equal([a, b], ['ok', 'ok']);
  assert.is(server.listening, false);
  assert.is(await close(server), 'ERR_SERVER_NOT_RUNNING');
  cache.close();
});

t('listen() after close(): the JS engine serves again, idle timeout included; the native engine refuses', async () => {
  const base = fds();
  const { cache, server } = await start('lc-relisten', { idleTimeout: 1 });
  await close(server);
  if (native) {
    let code: string | undefined;
    try {
      server.listen(0, '127.0.0.1', () => undefined);
    } catch (e) {
      code = (e as NodeJS.ErrnoException).code;
    }
    assert.is(code, 'ERR_SERVER_ALREADY_LISTEN');
  } else {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const s = await connect((server.address() as AddressInfo).port);
    // Idle past the timeout: the sweep runs again, so the server closes it.
    await closedByServer(s);
    assert.is(await close(server), 'ok');
  }
  cache.close();
  assert.is(await fdsDownTo(base), base, 'descriptors after close');
});

t('an accept storm (3000 connect + close, 100 at a time): the server keeps serving and holds nothing after', async () => {
  const base = fds();
  const { cache, server, port } = await start('lc-storm');
  const one = (): Promise<void> =>
    new Promise((r) => {
      const s = createConnection({ port, host: '127.0.0.1' });
      s.on('error', () => r());
      s.on('connect', () => {
        s.destroy();
        r();
      });
    });
  for (let b = 0; b < 30; b++) await Promise.all(Array.from({ length: 100 }, one));
  const s = await connect(port);
  s.write('version\r\n');
  const v = await new Promise<string>((r) => s.once('data', (d: Buffer) => r(d.toString())));
  assert.match(v, /^VERSION /);
  s.destroy();
  assert.is(await close(server), 'ok');
  cache.close();
  assert.is(await fdsDownTo(base), base, 'descriptors after close');
});

t('cache.close() under a running server with requests in flight: no crash, close() completes (child process)', () => {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], {
    env: { ...process.env, [CHILD]: 'cache-close' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.is(r.signal, null, `child killed by ${r.signal}: ${r.stderr}`);
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { answered: boolean; tail: string };
  assert.ok(out.answered, 'requests after cache.close() were answered');
  // The native engine's threads hold the mapping and go on serving it; the JS engine's
  // connections see the closed handle.
  if (!native) assert.match(out.tail, /SERVER_ERROR store closed\r\n$/);
});

t.run();
