// The native connection loop (createServer({ engine: 'native' }), native/server/): what only it
// does or does differently from the JS engine, which server.test.ts / stats.test.ts / ... cover
// for both when SHMCACHED_ENGINE=native. Backpressure with a client that reads nothing, unix
// sockets, several loop threads, `shutdown`, close() with connections open, TLS refused.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cache, createServer } from '../src/index.js';
import type { NativeServer } from '../src/server.js';
import { at, tmpRegion } from './helpers.js';
import { RawClient } from './support/raw.js';

const t = suite('server: native engine');

async function start(
  name: string,
  opts: { threads?: number; enableShutdown?: boolean; maxConnections?: number } = {},
): Promise<{ server: NativeServer; port: number; cache: Cache }> {
  const cache = Cache.open({ path: tmpRegion(name), size: '64mb' });
  const server = createServer({ cache, engine: 'native', ...opts });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  assert.ok(a !== null && typeof a === 'object');
  return { server, port: a.port, cache };
}

const stop = (s: NativeServer): Promise<void> => new Promise((r) => s.close(() => r()));

t('a client that reads nothing for a while still gets every reply, intact and in order', async () => {
  const { server, port, cache } = await start('nbackpressure');
  const value = Buffer.alloc(128 * 1024, 0x62);
  cache.set('big', value);
  const client = await RawClient.connect(port);
  client.socket.pause();
  const n = 400; // 50 MiB of replies: far past the engine's mark and the socket buffers
  client.socket.write('get big\r\n'.repeat(n));
  await new Promise((r) => setTimeout(r, 300));
  // The server is still answering others meanwhile.
  const other = await RawClient.connect(port);
  assert.is((await other.exchange('version\r\n')).bytes.toString().startsWith('VERSION '), true);
  other.close();
  await client.expectValueReplies('big', value, n, 37);
  client.close();
  await stop(server);
  cache.close();
});

t('a unix socket: served, and named in stats conns', async () => {
  const cache = Cache.open({ path: tmpRegion('nunix'), size: '64mb' });
  const path = join(tmpdir(), `shmcached-nloop18-${process.pid}.sock`);
  const server = createServer({ cache, engine: 'native' });
  await new Promise<void>((r) => server.listen({ path }, r));
  assert.is(server.address(), path);
  const s = createConnection({ path });
  let buf = '';
  s.on('data', (d) => {
    buf += d.toString();
  });
  s.end('set u 0 0 2\r\nhi\r\nget u\r\nstats conns\r\n');
  await new Promise((r) => s.on('close', r));
  assert.ok(buf.startsWith('STORED\r\nVALUE u 0 2\r\nhi\r\nEND\r\n'), buf);
  assert.ok(buf.includes(`addr unix:${path}`), buf);
  await stop(server);
  cache.close();
});

t('several loop threads: parallel connections all served, connection counts right', async () => {
  const { server, port, cache } = await start('nthreads', { threads: 4 });
  const clients = await Promise.all(Array.from({ length: 16 }, () => RawClient.connect(port)));
  await Promise.all(
    clients.map(async (c, i) => {
      const r = await c.exchange(`set k${i} 0 0 ${String(i).length}\r\n${i}\r\nget k${i}\r\n`);
      assert.is(r.bytes.toString(), `STORED\r\nVALUE k${i} 0 ${String(i).length}\r\n${i}\r\nEND\r\n`);
    }),
  );
  const stats = (await at(clients, 0).exchange('stats\r\n')).bytes.toString();
  assert.ok(/STAT curr_connections 16\r\n/.test(stats), stats);
  assert.ok(/STAT threads 4\r\n/.test(stats), stats);
  for (const c of clients) c.close();
  await stop(server);
  cache.close();
});

t('shutdown (enableShutdown): the event, then the close', async () => {
  const { server, port, cache } = await start('nshutdown', { enableShutdown: true });
  const mode = new Promise<string>((r) => server.once('shutdown', r));
  const closed = new Promise<void>((r) => server.once('close', r));
  const c = await RawClient.connect(port);
  c.socket.write('shutdown graceful\r\n');
  assert.is(await mode, 'graceful');
  await closed;
  assert.is(server.address(), null);
  cache.close();
});

t('close() ends open connections and calls back; the port is free again', async () => {
  const { server, port, cache } = await start('nclose');
  const a = await RawClient.connect(port);
  const b = await RawClient.connect(port);
  await a.exchange('version\r\n');
  await stop(server);
  await a.until(() => false, 5000);
  await b.until(() => false, 5000);
  assert.ok(a.closed && b.closed);
  const again = createServer({ cache, engine: 'native' });
  await new Promise<void>((r) => again.listen(port, '127.0.0.1', r));
  await stop(again);
  cache.close();
});

t('new connections are spread over the loop threads: 16 on 2 threads land 8/8', async () => {
  const { server, port, cache } = await start('nbalance', { threads: 2 });
  const clients = await Promise.all(Array.from({ length: 16 }, () => RawClient.connect(port)));
  for (const c of clients) assert.ok((await c.exchange('version\r\n')).bytes.toString().startsWith('VERSION '));
  assert.equal(server.threadConnections(), [8, 8]);
  for (const c of clients.slice(0, 4)) c.close();
  while (server.threadConnections().reduce((a, b) => a + b, 0) > 12) await new Promise((r) => setTimeout(r, 20));
  // The next 4 go to the thread with fewer, whichever lost them: the split is even again.
  const more = await Promise.all(Array.from({ length: 4 }, () => RawClient.connect(port)));
  for (const c of more) await c.exchange('version\r\n');
  assert.equal(server.threadConnections(), [8, 8]);
  for (const c of [...clients, ...more]) c.close();
  await stop(server);
  cache.close();
});

t('stats conns shows a connection of another loop thread as it stood after its last read', async () => {
  const { server, port, cache } = await start('nconnsx', { threads: 2 });
  const a = await RawClient.connect(port);
  const b = await RawClient.connect(port); // the other thread (8/8 above)
  await a.exchange('version\r\n');
  a.socket.write('set k 0 0 10\r\nabc'); // a value half sent: conn_nread
  let conns = '';
  for (let i = 0; i < 200 && !conns.includes('conn_nread'); ++i) {
    conns = (await b.exchange('stats conns\r\n')).bytes.toString();
    if (!conns.includes('conn_nread')) await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(/STAT \d+:state conn_nread\r\n/.test(conns), conns);
  assert.ok(/STAT \d+:state conn_parse_cmd\r\n/.test(conns), conns);
  assert.ok(/STAT \d+:state conn_listening\r\n/.test(conns), conns);
  a.socket.write('defghij\r\n');
  assert.is((await a.exchange('')).bytes.toString(), 'STORED\r\n');
  conns = (await b.exchange('stats conns\r\n')).bytes.toString();
  assert.ok(/STAT \d+:state conn_waiting\r\n/.test(conns), conns);
  a.close();
  b.close();
  await stop(server);
  cache.close();
});

t("a failed listen emits 'error' only, as net.Server does (no 'close')", async () => {
  const { server, port, cache } = await start('nlistenerr');
  const events: string[] = [];
  for (const second of [createServer({ cache, engine: 'native' }), createServer({ cache, engine: 'js' })]) {
    const seen: string[] = [];
    second.on('close', () => seen.push('close'));
    await new Promise<void>((r) => {
      second.once('error', () => {
        seen.push('error');
        r();
      });
      second.listen(port, '127.0.0.1');
    });
    // The native loop's stopped event comes from a thread-safe function: give it time to arrive.
    await new Promise((r) => setTimeout(r, 200));
    events.push(seen.join(','));
  }
  assert.equal(events, ['error', 'error']);
  await stop(server);
  cache.close();
});

t(
  "a port in use is an error event with net.Server's code (EADDRINUSE); TLS with the native engine is a TypeError with a code",
  async () => {
    const { server, port, cache } = await start('nerrors');
    const second = createServer({ cache, engine: 'native' });
    const err = await new Promise<NodeJS.ErrnoException>((r) => {
      second.once('error', r);
      second.listen(port, '127.0.0.1');
    });
    assert.is(err.code, 'EADDRINUSE', err.message);
    assert.is(err.syscall, 'listen');
    assert.throws(
      () => createServer({ cache, engine: 'native', tls: {} }),
      (e: NodeJS.ErrnoException) => e instanceof TypeError && e.code === 'ERR_NATIVE_TLS',
    );
    await stop(server);
    cache.close();
  },
);

t.run();
