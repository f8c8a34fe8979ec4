// Real memcached clients from npm against shmcached's server, each driven through set, get,
// delete, incr and cas (where the client has it): memjs (binary protocol), memcached (the
// ketama text client) and memcache-client (text). What they read back is also checked in the
// store directly, through the Cache API on the same file.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createRequire } from 'node:module';
import type { AddressInfo, Server } from 'node:net';
import { promisify } from 'node:util';

import Memcached from 'memcached';
import { MemcacheClient } from 'memcache-client';

import { Cache } from '../src/index.js';
import { createServer } from '../src/server.js';
import { tmpRegion } from './helpers.js';

// memjs ships no types: the part of its callback API used here.
interface MemjsClient {
  set(key: string, value: string | Buffer, opts: { expires?: number }, cb: (err: Error | null, ok: boolean) => void): void;
  get(key: string, cb: (err: Error | null, value: Buffer | null, flags: Buffer | null) => void): void;
  add(key: string, value: string, opts: { expires?: number }, cb: (err: Error | null, ok: boolean) => void): void;
  delete(key: string, cb: (err: Error | null, ok: boolean) => void): void;
  increment(
    key: string,
    amount: number,
    opts: { initial?: number; expires?: number },
    cb: (err: Error | null, ok: boolean, value: number | null) => void,
  ): void;
  append(key: string, value: string, cb: (err: Error | null, ok: boolean) => void): void;
  touch(key: string, expires: number, cb: (err: Error | null, ok: boolean) => void): void;
  flush(cb: (err: Error | null, results: Record<string, boolean>) => void): void;
  stats(cb: (err: Error | null, server: string, stats: Record<string, string>) => void): void;
  close(): void;
}
const memjs = createRequire(import.meta.url)('memjs') as { Client: { create(servers: string, opts?: object): MemjsClient } };

let cache: Cache;
let server: Server;
let port: number;

const clients = suite('clients: memjs, memcached, memcache-client against shmcached serve');

clients.before(async () => {
  cache = Cache.open({ path: tmpRegion('clients'), size: '32mb' });
  server = createServer({ cache });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
clients.after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  cache.close();
});

function call<T extends unknown[]>(fn: (cb: (err: Error | null, ...rest: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, ...rest) => (err ? reject(err) : resolve(rest))));
}

clients('memjs (binary protocol): set, get, add, append, incr with initial, touch, delete, stats, flush', async () => {
  const c = memjs.Client.create(`127.0.0.1:${port}`, { retries: 0, logger: { log: () => undefined } });
  try {
    assert.equal(await call<[boolean]>((cb) => c.set('mj:a', 'hello', {}, cb)), [true]);
    const [v] = await call<[Buffer | null, Buffer | null]>((cb) => c.get('mj:a', cb));
    assert.is(v?.toString(), 'hello');
    assert.is(cache.get('mj:a')?.toString(), 'hello');
    const [added] = await call<[boolean]>((cb) => c.add('mj:a', 'x', {}, cb)).catch(() => [false] as [boolean]);
    assert.is(added, false);
    assert.equal(await call<[boolean]>((cb) => c.append('mj:a', ' world', cb)), [true]);
    assert.is(cache.get('mj:a')?.toString(), 'hello world');
    const [, n1] = await call<[boolean, number | null]>((cb) => c.increment('mj:n', 5, { initial: 10 }, cb));
    assert.is(n1, 10, 'created with the initial value');
    const [, n2] = await call<[boolean, number | null]>((cb) => c.increment('mj:n', 5, {}, cb));
    assert.is(n2, 15);
    assert.is(cache.get('mj:n')?.toString(), '15');
    assert.equal(await call<[boolean]>((cb) => c.touch('mj:a', 100, cb)), [true]);
    const big = Buffer.alloc(300_000, 7);
    await call((cb) => c.set('mj:big', big, {}, cb));
    const [bv] = await call<[Buffer | null, Buffer | null]>((cb) => c.get('mj:big', cb));
    assert.ok(bv?.equals(big));
    assert.equal(await call<[boolean]>((cb) => c.delete('mj:a', cb)), [true]);
    const [gone] = await call<[Buffer | null, Buffer | null]>((cb) => c.get('mj:a', cb));
    assert.is(gone, null);
    const [, stats] = await call<[string, Record<string, string>]>((cb) => c.stats(cb));
    assert.ok(Number(stats.curr_items) >= 2, JSON.stringify(stats.curr_items));
    await call((cb) => c.flush(cb));
    assert.is(cache.get('mj:n'), undefined);
  } finally {
    c.close();
  }
});

clients('memcached (text, ketama client): set, get, gets + cas, incr, del, multi-get', async () => {
  const c = new Memcached(`127.0.0.1:${port}`, { retries: 0, timeout: 5000 });
  try {
    const set = promisify(c.set.bind(c)) as (k: string, v: unknown, t: number) => Promise<boolean>;
    const get = promisify(c.get.bind(c)) as (k: string) => Promise<unknown>;
    const gets = promisify(c.gets.bind(c)) as (k: string) => Promise<{ cas: string } & Record<string, unknown>>;
    const cas = promisify(c.cas.bind(c)) as (k: string, v: unknown, cas: string, t: number) => Promise<boolean>;
    const incr = promisify(c.incr.bind(c)) as (k: string, n: number) => Promise<number | boolean>;
    const del = promisify(c.del.bind(c)) as (k: string) => Promise<boolean>;
    const getMulti = promisify(c.getMulti.bind(c)) as (ks: string[]) => Promise<Record<string, unknown>>;
    assert.is(await set('mc:a', 'alpha', 0), true);
    assert.is(await get('mc:a'), 'alpha');
    assert.equal(await set('mc:o', { n: 1 }, 0), true);
    assert.equal(await get('mc:o'), { n: 1 }, 'JSON round trip via flags');
    const g = await gets('mc:a');
    assert.is(await cas('mc:a', 'beta', g.cas, 0), true);
    assert.is(await cas('mc:a', 'gamma', g.cas, 0), false, 'stale cas refused');
    assert.is(cache.get('mc:a')?.toString(), 'beta');
    assert.is(await set('mc:n', '41', 0), true);
    assert.is(await incr('mc:n', 1), 42);
    assert.is(await incr('mc:missing', 1), false);
    assert.equal(await getMulti(['mc:a', 'mc:n', 'mc:none']), { 'mc:a': 'beta', 'mc:n': '42' });
    assert.is(await del('mc:a'), true);
    assert.is(await get('mc:a'), undefined);
  } finally {
    c.end();
  }
});

clients('memcache-client (text): set, get, gets + cas, incr, decr, delete, version', async () => {
  const c = new MemcacheClient({ server: `127.0.0.1:${port}`, cmdTimeout: 5000 });
  try {
    await c.set('mcc:a', 'one');
    assert.is((await c.get<string>('mcc:a')).value, 'one');
    const g = await c.gets<string>('mcc:a');
    await c.cas('mcc:a', 'two', { casUniq: g.casUniq });
    assert.is((await c.get<string>('mcc:a')).value, 'two');
    let stale = '';
    try {
      await c.cas('mcc:a', 'three', { casUniq: g.casUniq });
    } catch (e) {
      stale = String((e as Error).message);
    }
    assert.match(stale, /EXISTS/);
    await c.set('mcc:n', '10');
    assert.is(String(await c.incr('mcc:n', 5)), '15');
    assert.is(String(await c.decr('mcc:n', 20)), '0');
    await c.delete('mcc:a');
    assert.is(await c.get('mcc:a'), undefined);
    assert.is(cache.get('mcc:n')?.toString().trim(), '0');
    const v = await c.version();
    assert.match(String(v), /1\.6\.45-shmcached/);
  } finally {
    c.shutdown();
  }
});

clients.run();
