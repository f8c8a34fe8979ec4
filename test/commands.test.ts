// Commands and replies of memcached 1.6.4x that shmcached answers byte for byte: the request
// parser's format errors, cas without its CAS value, ms s / md x / the meta E flag / ma's t with T
// and N, version, verbosity, shutdown (-A), slabs reassign/automove, lru_crawler; listeners (-s, -a,
// -B, -R). Pinned here without a peer; with SHMCACHED_MEMCACHED_NEW=/path/to/memcached (1.6.45)
// the same scripts are also compared with that memcached (the interop lane's rules: skipped, with
// one printed line, when it is not set).
import { spawn } from 'node:child_process';
import { lstatSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { Cache, createServer } from '../src/index.js';
import { at, tmpRegion } from './helpers.js';
import { startMemcached, type Memcached } from './support/memcached.js';
import { RawClient } from './support/raw.js';

const NEW = process.env.SHMCACHED_MEMCACHED_NEW;

type Opts = Parameters<typeof createServer>[0];

async function start(
  name: string,
  opts: Partial<Opts> = {},
): Promise<{ port: number; close(): Promise<void>; cache: Cache; server: ReturnType<typeof createServer> }> {
  const cache = Cache.open({ path: tmpRegion(`cmds-${name}`), size: '64mb' });
  const server = createServer({ cache, ...opts });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    cache,
    server,
    close: () =>
      new Promise<void>((r) =>
        server.close(() => {
          cache.close();
          r();
        }),
      ),
  };
}

async function exchange(port: number, bytes: string): Promise<string> {
  const c = await RawClient.connect(port);
  try {
    return (await c.exchange(bytes)).bytes.toString('latin1');
  } finally {
    c.close();
  }
}

// [request, memcached 1.6.45's exact reply]; each on a fresh connection, in order, on one server.
const PINNED: [string, string][] = [
  // memcached 1.6.4x's request parser
  ['\r\n', 'CLIENT_ERROR bad command line format\r\n'],
  ['\n', 'CLIENT_ERROR bad command line format\r\n'],
  ['x\r\n', 'CLIENT_ERROR bad command line format\r\n'],
  [' get a\r\n', 'ERROR\r\n'],
  ['get\r\n', 'CLIENT_ERROR bad command line format\r\n'],
  ['gat 1\r\n', 'CLIENT_ERROR bad command line format\r\n'],
  ['set k0 0 0\r\n', 'CLIENT_ERROR bad command line format\r\n'],
  ['incr k0\r\n', 'CLIENT_ERROR bad command line format\r\n'],
  ['mg\r\n', 'CLIENT_ERROR bad command line format\r\n'],
  ['set k0 0 0 1 2 3\r\nx\r\n', 'STORED\r\n'],
  ['set k0 x 0 1\r\nx\r\n', 'CLIENT_ERROR bad command line format\r\n'],
  ['set k0 x 0 1 noreply\r\nx\r\n', ''],
  ['incr nx 1 2 3\r\n', 'NOT_FOUND\r\n'],
  ['delete nx x y z\r\n', 'NOT_FOUND\r\n'],
  ['flush_all 0 2 3\r\n', 'OK\r\n'],
  // cas without its CAS value: one error, the data block swallowed
  ['cas k 0 0 6\r\nabcdef\r\n', 'CLIENT_ERROR bad command line format\r\n'],
  ['cas k 0 0 1 noreply\r\nx\r\n', ''],
  [`get a ${'L'.repeat(251)}\r\n`, 'CLIENT_ERROR bad command line format\r\n\r\n'],
  // meta
  ['ms k 1 s\r\nx\r\n', 'HD s1\r\n'],
  ['ms k 2 s MA\r\nyz\r\nmg k v\r\n', 'HD s3\r\nVA 3\r\nxyz\r\n'],
  ['ms ap 2 s MP N50\r\nab\r\nmg ap v t\r\n', 'HD s2\r\nVA 2 t50\r\nab\r\n'],
  ['ms ek 1 E12345\r\nx\r\nmg ek c\r\n', 'HD\r\nHD c12345\r\n'],
  ['ms ek 1 Ex\r\nx\r\n', 'CLIENT_ERROR bad token in command line format\r\n'],
  ['ma cnt3 N100 E777 c\r\nma cnt3 E999 c\r\n', 'HD c777\r\nHD c999\r\n'],
  ['md ek I E4242\r\nmg ek c\r\n', 'HD\r\nHD c4242 X W\r\n'],
  ['ms mx 3 T100 F5\r\nabc\r\nmd mx x F7 T50\r\nmg mx v f t\r\n', 'HD\r\nHD\r\nVA 0 f7 t50\r\n\r\n'],
  ['ma mt t N100\r\nma mt t N100\r\n', 'HD t-1\r\nHD t100\r\n'],
  ['ma mt2 T50 N100 t v\r\n', 'VA 1 t100\r\n0\r\n'],
  ['ma mt3 N100 T50 t\r\n', 'HD t50\r\n'],
  ['ma mq q N0 v\r\nma mq q v\r\nma mq v\r\n', 'VA 1\r\n2\r\n'],
  ['md k zz\r\n', 'CLIENT_ERROR invalid flag\r\n'],
  ['ma k zz\r\n', 'CLIENT_ERROR invalid or duplicate flag\r\n'],
  // admin commands
  ['verbosity\r\n', 'CLIENT_ERROR bad command line format\r\n'],
  ['verbosity 1 2 3\r\n', 'OK\r\n'],
  ['verbosity 5 noreply\r\n', ''],
  ['shutdown\r\n', 'SERVER_ERROR: shutdown not enabled\r\n'],
  ['slabs\r\n', 'ERROR\r\n'],
  ['slabs reassign 1 1\r\n', 'SAME src and dst class are identical\r\n'],
  ['slabs reassign 99 2\r\n', 'BADCLASS invalid src or dst class id\r\n'],
  ['slabs reassign 1 2\r\n', 'NOSPARE source class has no spare pages\r\n'],
  ['slabs reassign x 2\r\n', 'CLIENT_ERROR bad command line format\r\n'],
  ['slabs automove 1\r\n', 'OK\r\n'],
  ['slabs automove 3\r\n', 'ERROR\r\n'],
  ['slabs automove window 1\r\n', 'CLIENT_ERROR automove window too low or too high\r\n'],
  ['slabs automove x\r\n', 'CLIENT_ERROR bad command line format\r\n'],
  ['lru_crawler\r\n', 'ERROR\r\n'],
  ['lru_crawler crawl all\r\n', 'OK\r\n'],
  ['lru_crawler crawl 99\r\n', 'BADCLASS invalid class id\r\n'],
  ['lru_crawler tocrawl x\r\n', 'CLIENT_ERROR bad command line format\r\n'],
  ['lru_crawler sleep 2000000\r\n', 'CLIENT_ERROR sleep must be one second or less\r\n'],
  ['lru_crawler enable\r\n', 'ERROR failed to start lru crawler thread\r\n'],
  ['lru_crawler metadump 99\r\n', 'BADCLASS invalid class id\r\n'],
  // Stored after a flush_all, in its second, with a CAS the client chose below the store's counter
  // (meta E, a vivifying ma, an in-place incr): alive, as memcached (its flush is by time, not CAS);
  // the next flush_all kills them.
  [
    'ms fa 1\r\nx\r\nflush_all\r\nms flo 1 E1\r\ny\r\nma fn N0 J13 E2 v\r\nmg flo v c\r\nmg fa v\r\nma fn E3 v\r\nmg fn v c\r\n' +
      'flush_all\r\nmg flo v\r\nmg fn v\r\n',
    'HD\r\nOK\r\nHD\r\nVA 2\r\n13\r\nVA 1 c1\r\ny\r\nEN\r\nVA 2\r\n14\r\nVA 2 c3\r\n14\r\nOK\r\nEN\r\nEN\r\n',
  ],
];

const pinned = suite('commands: memcached 1.6.45 replies, pinned');

pinned('every pinned request gets exactly memcached 1.6.45 reply', async () => {
  const s = await start('pinned', { lruCrawler: true });
  try {
    for (const [req, want] of PINNED) assert.is(await exchange(s.port, req), want, JSON.stringify(req));
  } finally {
    await s.close();
  }
});

pinned(
  'lru_crawler disable: crawl and metadump answer disabled until enable (ours; memcached stops its thread asynchronously)',
  async () => {
    const s = await start('disable', { lruCrawler: true });
    try {
      assert.is(
        await exchange(
          s.port,
          'lru_crawler disable\r\nlru_crawler crawl all\r\nlru_crawler metadump all\r\nlru_crawler enable\r\nlru_crawler crawl 1,2\r\n',
        ),
        'OK\r\nCLIENT_ERROR lru crawler disabled\r\nCLIENT_ERROR lru crawler disabled\r\nOK\r\nOK\r\n',
      );
    } finally {
      await s.close();
    }
  },
);

pinned('version says memcached 1.6.45 and ours', async () => {
  const s = await start('version');
  try {
    assert.match(await exchange(s.port, 'version\r\n'), /^VERSION 1\.6\.45-shmcached-\d+\.\d+\.\d+\r\n$/);
  } finally {
    await s.close();
  }
});

pinned('lru_crawler metadump / mgdump: one line per live item, then END / EN', async () => {
  const s = await start('dump', { lruCrawler: true });
  try {
    s.cache.set('a%b', 'xyz', { ttl: 100, flags: 7 });
    s.cache.set('c', '1');
    s.cache.set('gone', '1', { ttl: -1 });
    const dump = await exchange(s.port, 'lru_crawler metadump all\r\n');
    const lines = dump.split('\n');
    assert.is(lines.at(-1), '', 'ends with a newline');
    assert.is(lines.at(-2), 'END\r');
    const items = lines.slice(0, -2).sort();
    assert.is(items.length, 2, dump);
    const now = Math.floor(Date.now() / 1000);
    const re = /^key=(\S+) exp=(-?\d+) la=(\d+) cas=(\d+) fetch=(yes|no) cls=(\d+) size=(\d+) flags=(\d+) $/;
    const a = re.exec(at(items, 0));
    const c = re.exec(at(items, 1));
    assert.ok(a && c, dump);
    assert.is(a![1], 'a%25b'); // uriencoded, as memcached
    assert.ok(Math.abs(Number(a![2]) - (now + 100)) <= 2, `absolute exptime: ${a![2]}`);
    assert.ok(Math.abs(Number(a![3]) - now) <= 2);
    assert.is(a![5], 'no');
    assert.is(a![8], '7');
    assert.is(c![1], 'c');
    assert.is(c![2], '-1');
    const byClass = (await exchange(s.port, `lru_crawler metadump ${a![6]}\r\n`)).split('\n');
    assert.is(byClass.at(-2), 'END\r');
    assert.ok(byClass.includes(at(items, 0)), 'the class dump has the item of that class');
    assert.is(await exchange(s.port, 'lru_crawler metadump 62\r\n'), 'END\r\n', 'an unused class: nothing');
    const mg = (await exchange(s.port, 'lru_crawler mgdump hash\r\n')).split('\r\n');
    assert.equal(mg.slice(0, -2).sort(), ['mg a%b', 'mg c']);
    assert.is(mg.at(-2), 'EN');
  } finally {
    await s.close();
  }
});

pinned('slabs reassign moves a page between classes (memcached: OK)', async () => {
  const cache = Cache.open({ path: tmpRegion('cmds-reassign'), size: '4mb' });
  const server = createServer({ cache });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    // Two pages in the class of 60,000-byte items, none in the one of 100-byte items.
    for (let i = 0; i < 30; i++) cache.set(`big${i}`, 'x'.repeat(60_000));
    cache.set('small', 'y'.repeat(100));
    const slabs = cache.stats('slabs') as Record<string, string>;
    const big = Object.keys(slabs).find(
      (k) => /^\d+:chunk_size$/.test(k) && Number(slabs[k]) >= 60_000 && Number(slabs[k.replace('chunk_size', 'total_pages')]) >= 2,
    );
    const small = Object.keys(slabs).find((k) => /^\d+:chunk_size$/.test(k) && Number(slabs[k]) < 1000);
    assert.ok(big && small, JSON.stringify(slabs));
    const src = at(big.split(':'), 0);
    const dst = at(small.split(':'), 0);
    const before = Number(slabs[`${src}:total_pages`]);
    assert.is(await exchange(port, `slabs reassign ${src} ${dst}\r\n`), 'OK\r\n');
    const after = cache.stats('slabs') as Record<string, string>;
    assert.is(Number(after[`${src}:total_pages`]), before - 1);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
    cache.close();
  }
});

pinned('shutdown with enableShutdown: the server says so, emits shutdown and closes', async () => {
  const s = await start('shutdown', { enableShutdown: true });
  const seen = new Promise<string>((r) => s.server.once('shutdown', r));
  const closed = new Promise<void>((r) => s.server.once('close', () => r()));
  assert.is(await exchange(s.port, 'shutdown foo\r\n'), 'CLIENT_ERROR invalid shutdown mode\r\n');
  const c = await RawClient.connect(s.port);
  const r = await c.exchange('shutdown graceful\r\n');
  assert.is(r.closed, true);
  assert.is(await seen, 'graceful');
  await closed;
  s.cache.close();
});

pinned('-R (reqsPerEvent): a long pipeline still gets every reply, in order', async () => {
  const s = await start('reqs', { reqsPerEvent: 2 });
  try {
    const req = Array.from({ length: 50 }, (_, i) => `set k${i} 0 0 1\r\n${i % 10}\r\nget k${i}\r\n`).join('');
    const want = Array.from({ length: 50 }, (_, i) => `STORED\r\nVALUE k${i} 0 1\r\n${i % 10}\r\nEND\r\n`).join('');
    assert.is(await exchange(s.port, req), want);
  } finally {
    await s.close();
  }
});

pinned('-B ascii reads a binary request as text; -B binary closes on text', async () => {
  const a = await start('ascii', { protocol: 'ascii' });
  const b = await start('binary', { protocol: 'binary' });
  try {
    const noop = Buffer.alloc(24);
    noop[0] = 0x80;
    noop[1] = 0x0a;
    const c = await RawClient.connect(a.port);
    const got = await c.exchange(Buffer.concat([noop, Buffer.from('\r\n')]));
    c.close();
    assert.ok(!got.bytes.includes(0x81), 'no binary response header');
    assert.match(got.bytes.toString('latin1'), /ERROR\r\n$/);
    const d = await RawClient.connect(b.port);
    const r = await d.exchange(`version\r\n${'x'.repeat(24)}`); // a binary header's 24 bytes, bad magic
    d.close();
    assert.is(r.closed, true);
  } finally {
    await a.close();
    await b.close();
  }
});

pinned('flush_all kills items with a client-chosen CAS (meta E) stored in an earlier second, as memcached', async () => {
  const s = await start('flushe');
  try {
    // Above the store's CAS counter, and below it: neither survives a flush a second later.
    const set = 'ms hi 1 E99999999999\r\nx\r\nms lo 1 E1\r\ny\r\nms plain 1\r\nz\r\n';
    assert.is(await exchange(s.port, set), 'HD\r\nHD\r\nHD\r\n');
    s.cache.advanceClock(2);
    assert.is(await exchange(s.port, 'flush_all\r\nmg hi v\r\nmg lo v\r\nmg plain v\r\n'), 'OK\r\nEN\r\nEN\r\nEN\r\n');
    // Stored after the flush, a second later: alive whatever its CAS.
    s.cache.advanceClock(2);
    assert.is(
      await exchange(s.port, 'ms hi 1 E99999999999\r\nx\r\nms lo 1 E1\r\ny\r\nmg hi v c\r\nmg lo v c\r\n'),
      'HD\r\nHD\r\nVA 1 c99999999999\r\nx\r\nVA 1 c1\r\ny\r\n',
    );
  } finally {
    await s.close();
  }
});

pinned.run();

// ---------------------------------------------------------------------------------------------

const cli = suite('commands: shmcached serve -s PATH -a MASK (unix socket)');
const CLI = new URL('../src/cli/cli.js', import.meta.url).pathname;

function serveUnix(
  sock: string,
  extra: string[] = [],
): Promise<{ stop(): Promise<number | null>; kill(): Promise<void>; err: () => string }> {
  const file = tmpRegion('cmds-unix');
  const child = spawn(process.execPath, [CLI, 'serve', '-s', sock, '--file', file, '--reset', '-m', '8', ...extra], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return new Promise((resolve) => {
    const tick = setInterval(() => {
      if (err.includes('listening on') || child.exitCode !== null) {
        clearInterval(tick);
        resolve({
          stop: async () => {
            if (child.exitCode === null) child.kill('SIGTERM');
            const code = await exited;
            rmSync(file, { force: true });
            return code;
          },
          kill: async () => {
            child.kill('SIGKILL');
            await exited;
            rmSync(file, { force: true });
          },
          err: () => err,
        });
      }
    }, 20);
  });
}

function unixExchange(path: string, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    let out = '';
    s.on('data', (d) => {
      out += d.toString('latin1');
      if (out.endsWith('MN\r\n')) {
        s.end();
        resolve(out.slice(0, -4));
      }
    });
    s.on('error', reject);
    s.write(`${bytes}mn\r\n`);
  });
}

cli('serves on a unix socket with the mask as its mode, replaces its own stale socket, refuses a symlink', async () => {
  const sock = join(tmpdir(), `shmcached-cmds20-${process.pid}.sock`);
  rmSync(sock, { force: true });
  let s = await serveUnix(sock, ['-a', '0660']);
  try {
    assert.ok(lstatSync(sock).isSocket(), s.err());
    assert.is(statSync(sock).mode & 0o777, 0o660);
    assert.is(await unixExchange(sock, 'set a 0 0 1\r\nx\r\nget a\r\n'), 'STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n');
  } finally {
    assert.is(await s.stop(), 0);
  }
  // A socket of ours left behind (a crash: SIGKILL leaves the file) is replaced.
  s = await serveUnix(sock);
  await s.kill();
  assert.ok(lstatSync(sock).isSocket(), 'the killed server left its socket');
  s = await serveUnix(sock);
  try {
    assert.is(await unixExchange(sock, 'mn\r\n'), 'MN\r\n');
    assert.is(statSync(sock).mode & 0o777, 0o700, 'default mask 0700');
  } finally {
    assert.is(await s.stop(), 0);
  }
  // A symbolic link (or any non-socket) at the path is refused, and left alone.
  const target = join(tmpdir(), `shmcached-cmds20-${process.pid}.target`);
  writeFileSync(target, 'keep');
  rmSync(sock, { force: true });
  symlinkSync(target, sock);
  s = await serveUnix(sock);
  const code = await s.stop();
  assert.is(code, 1, s.err());
  assert.match(s.err(), /is not a socket/);
  assert.ok(lstatSync(sock).isSymbolicLink());
  rmSync(sock, { force: true });
  rmSync(target, { force: true });
});

cli.run();

// ---------------------------------------------------------------------------------------------

const peer = suite('commands: the pinned replies against memcached 1.6.45 (SHMCACHED_MEMCACHED_NEW)');
let mc: Memcached | undefined;
peer.before(async () => {
  if (!NEW) {
    console.log('skipped: SHMCACHED_MEMCACHED_NEW not set (commands.test.js, memcached 1.6.45 comparison)');
    return;
  }
  mc = await startMemcached(['-m', '64'], { bin: NEW });
});
peer.after(async () => {
  await mc?.stop();
});
(NEW ? peer : peer.skip)('memcached 1.6.45 gives every pinned reply', async () => {
  for (const [req, want] of PINNED) {
    const got = await exchange(mc!.port, req);
    // CAS values are the server's own where E did not set them
    assert.is(got.replace(/ c\d+ X W/, ' c4242 X W'), want, JSON.stringify(req));
  }
});
peer.run();
