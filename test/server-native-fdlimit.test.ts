// The native engine out of descriptors: a server started (in a child process) with a small
// RLIMIT_NOFILE is opened connections to until accept4 fails with EMFILE. It must then stop
// accepting (memcached's listen_disabled_num counts it) instead of retrying on every epoll wake,
// so its CPU time stays far below the wall time while the next connection waits in the backlog,
// and a closed connection lets that one in.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Cache, createServer } from '../src/index.js';
import { at, tmpRegion } from './helpers.js';
import { RawClient } from './support/raw.js';

const CHILD = 'SHMCACHED_FDLIMIT_CHILD';

if (process.env[CHILD] === '1') {
  // The child: serve until stdin closes.
  const cache = Cache.open({ path: tmpRegion('nfdlimit'), size: '64mb' });
  const server = createServer({ cache, engine: 'native', threads: 2 });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    process.stdout.write(`${JSON.stringify({ port: a !== null && typeof a === 'object' ? a.port : 0 })}\n`);
  });
  process.stdin.resume();
  process.stdin.on('end', () => server.close(() => cache.close()));
} else {
  const t = suite('server: native engine out of descriptors');

  /** utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15). */
  const cpuTicks = (pid: number): number => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  };
  const stat = async (c: RawClient, key: string): Promise<number> => {
    const s = (await c.exchange('stats\r\n')).bytes.toString();
    return Number(new RegExp(`STAT ${key} (\\d+)\\r\\n`).exec(s)?.[1] ?? NaN);
  };
  /** A plain connection and what it has received so far. */
  interface Peer {
    socket: Socket;
    got: string;
  }
  const peer = (port: number): Promise<Peer> =>
    new Promise((resolve, reject) => {
      const p: Peer = { socket: createConnection({ port, host: '127.0.0.1' }), got: '' };
      p.socket.on('data', (d: Buffer) => {
        p.got += d.toString();
      });
      p.socket.once('connect', () => resolve(p));
      p.socket.once('error', reject);
    });
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  t('EMFILE pauses accepting (listen_disabled_num), costs no CPU while paused, and a close lets the next one in', async () => {
    // 26 descriptors is what the child holds listening: 40 leaves room for about 14 connections.
    const child = spawn('prlimit', ['--nofile=40', process.execPath, fileURLToPath(import.meta.url)], {
      env: { ...process.env, [CHILD]: '1' },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const exited = new Promise((r) => child.on('exit', r));
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve((JSON.parse(out) as { port: number }).port);
        });
        child.on('exit', (code) => reject(new Error(`child exited ${String(code)} before listening`)));
      });
      const first = await RawClient.connect(port);
      await first.exchange('version\r\n');
      const open: Peer[] = [];
      let queued: Peer | undefined;
      // Until one connection stays queued for a whole second (a descriptor the child's Node freed
      // meanwhile lets the retry timer admit it: then it is one more open connection).
      for (let round = 0; round < 8 && queued === undefined; ++round) {
        for (let i = 0; i < 64 && queued === undefined; ++i) {
          const base = await stat(first, 'listen_disabled_num');
          const c = await peer(port); // the kernel completes it into the backlog either way
          c.socket.write('version\r\n');
          for (const deadline = Date.now() + 20_000; ; ) {
            assert.ok(Date.now() < deadline, 'neither answered nor queued (a hang guard)');
            if (c.got.includes('VERSION ')) {
              open.push(c);
              break;
            }
            if ((await stat(first, 'listen_disabled_num')) > base) {
              queued = c;
              break;
            }
            await sleep(10);
          }
        }
        assert.ok(queued !== undefined, 'accept never ran out of descriptors');
        // Paused: the server's threads sleep. A loop retrying accept4 on every wake burns a whole core.
        const before = cpuTicks(child.pid ?? 0);
        await sleep(1000);
        const used = cpuTicks(child.pid ?? 0) - before;
        assert.ok(used < 25, `${used} ticks of CPU in 1 s (100 ticks) while accepting was paused`);
        if (queued.got !== '') {
          open.push(queued);
          queued = undefined;
        }
      }
      assert.ok(queued !== undefined && open.length >= 1, String(open.length));
      // A connection closes: the queued one is accepted and answered.
      at(open, 0).socket.destroy();
      const q = queued;
      for (const deadline = Date.now() + 20_000; !q.got.includes('VERSION '); await sleep(10))
        assert.ok(Date.now() < deadline, 'the queued connection was never accepted (a hang guard)');
      assert.ok((await stat(first, 'listen_disabled_num')) >= 1);
      first.close();
      for (const c of [...open, queued]) c.socket.destroy();
    } finally {
      child.stdin.end();
      await exited;
    }
  });

  t.run();
}
