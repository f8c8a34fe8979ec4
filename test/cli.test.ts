// `shmcached serve` and `shmcached stats` as a user runs them: memcached's flags, `-t 2` (two
// processes, one store, one port), SIGTERM closing the store cleanly (a restart finds every item),
// and the stats of a store read from its file without a server.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { parseServeArgs } from '../src/cli.js';
import { tmpRegion } from './helpers.js';
import { RawClient } from './support/raw.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));

interface Running {
  child: ChildProcess;
  port: number;
  exit: Promise<number | null>;
}

/** Starts `shmcached serve -p 0 -v ...args` and waits for its "listening on" line(s). */
async function serve(args: string[], listeners = 1): Promise<Running> {
  const child = spawn(process.execPath, [CLI, 'serve', '-p', '0', '-v', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let err = '';
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`serve did not come up: ${err}`)), 20_000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const ports = [...err.matchAll(/listening on [^:\s]+:(\d+)/g)].map((m) => Number(m[1]));
      if (ports.length >= listeners) {
        clearTimeout(t);
        resolve(ports[0]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return { child, port, exit };
}

const cli = suite('cli: shmcached serve / stats');

cli('flags: memcached short forms, attached values and long names', () => {
  const o = parseServeArgs(['-p11311', '-l', '0.0.0.0', '-m', '128', '-I', '2m', '-M', '-c', '50', '-t', '2', '-vv', '--file=/tmp/x', '-U', '0']);
  assert.equal(
    [o.port, o.listen, o.memoryMb, o.itemSizeMax, o.noEvict, o.maxConnections, o.threads, o.verbose, o.file],
    [11311, '0.0.0.0', 128, '2m', true, 50, 2, 2, '/tmp/x'],
  );
  assert.is(parseServeArgs(['--port', '7', '--threads=3']).threads, 3);
  assert.throws(() => parseServeArgs(['-p', 'x']), /-p needs a number/);
  assert.throws(() => parseServeArgs(['-U', '11211']), /UDP/);
  assert.throws(() => parseServeArgs(['--nope']), /unknown option/);
  const r = spawnSync(process.execPath, [CLI, 'serve', '-q'], { encoding: 'utf8' });
  assert.is(r.status, 2);
  assert.match(r.stderr, /unknown option "-q"/);
});

cli('-t 2: two processes serve one store; SIGTERM closes it cleanly and a restart finds every item', async () => {
  const file = tmpRegion('cli');
  const s = await serve(['-t', '2', '-m', '16', '--file', file, '--reset'], 2);
  const pids = new Set<string>();
  const clients: RawClient[] = [];
  for (let i = 0; i < 8; i++) {
    const c = await RawClient.connect(s.port);
    clients.push(c);
    await c.exchange(`set k${i} ${i} 0 2\r\nv${i}\r\n`);
    const stats = (await c.exchange('stats\r\n')).bytes.toString();
    pids.add(/STAT pid (\d+)/.exec(stats)![1]!);
  }
  assert.is(pids.size, 2, 'connections were spread over both processes');
  // Every process sees what every other one stored.
  for (const c of clients) {
    const got = (await c.exchange('get k0 k7\r\n')).bytes.toString();
    assert.is(got, 'VALUE k0 0 2\r\nv0\r\nVALUE k7 7 2\r\nv7\r\nEND\r\n');
  }
  s.child.kill('SIGTERM');
  assert.is(await s.exit, 0);
  for (const c of clients) {
    await c.until(() => false, 5000);
    assert.ok(c.closed, 'connections were ended');
  }
  // No server: the file's own stats.
  const st = spawnSync(process.execPath, [CLI, 'stats', '--file', file], { encoding: 'utf8' });
  assert.is(st.status, 0, st.stderr);
  assert.match(st.stdout, /^STAT curr_items 8$/m);
  assert.match(st.stdout, /^STAT limit_maxbytes 16777216$/m);
  // Warm restart, without -m (the file's own size is taken).
  const s2 = await serve(['--file', file]);
  const c = await RawClient.connect(s2.port);
  assert.is((await c.exchange('get k3\r\n')).bytes.toString(), 'VALUE k3 3 2\r\nv3\r\nEND\r\n');
  s2.child.kill('SIGINT');
  assert.is(await s2.exit, 0);
  // A different -m on an existing store is refused with a hint, not silently changed.
  const bad = spawnSync(process.execPath, [CLI, 'serve', '-p', '0', '-m', '32', '--file', file], { encoding: 'utf8' });
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /--reset/);
  const none = spawnSync(process.execPath, [CLI, 'stats', '--file', file + '-missing'], { encoding: 'utf8' });
  assert.is(none.status, 2);
  assert.match(none.stderr, /no store file/);
});

cli('--reset-if-unreadable (npm start): a store of another layout starts cold with a warning; any other file is left alone', async () => {
  const file = tmpRegion('cli-stale');
  // A store this build cannot read: our magic, another layout version.
  const { Cache } = await import('../src/index.js');
  Cache.open({ path: file, size: '8mb', reset: true }).close();
  const fd = openSync(file, 'r+');
  const v = Buffer.alloc(4);
  v.writeUInt32LE(2);
  writeSync(fd, v, 0, 4, 8);
  closeSync(fd);
  const plain = spawnSync(process.execPath, [CLI, 'serve', '-p', '0', '--file', file], { encoding: 'utf8' });
  assert.is(plain.status, 2, 'without the flag: a clear error');
  assert.match(plain.stderr, /layout version 2/);
  const s = await serve(['--file', file, '--reset-if-unreadable']);
  try {
    const c = await RawClient.connect(s.port);
    assert.is((await c.exchange('set a 0 0 1\r\nb\r\n')).bytes.toString(), 'STORED\r\n');
    c.close();
  } finally {
    s.child.kill('SIGTERM');
    await s.exit;
  }
  const foreign = tmpRegion('cli-foreign');
  writeFileSync(foreign, 'precious data, not a store\n');
  const r = spawnSync(process.execPath, [CLI, 'serve', '-p', '0', '--file', foreign, '--reset-if-unreadable'], { encoding: 'utf8' });
  assert.is(r.status, 2);
  assert.is(readFileSync(foreign, 'utf8'), 'precious data, not a store\n', 'never overwritten');
});

cli.run();
