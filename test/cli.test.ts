// `shmcached serve` and `shmcached stats` as a user runs them: memcached's flags, `-t 2` (two
// processes, one store, one port), SIGTERM closing the store cleanly (a restart finds every item),
// and the stats of a store read from its file without a server. Then the CLI as a Unix tool:
// --version and --help everywhere, one-line errors naming the cause and the fix for what a user
// can get wrong (busy port, permissions, bad sizes), and -t supervision (back-off, giving up).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnSyncOptions } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

import { parseServeArgs } from '../src/cli/cli.js';
import { at, must, tmpRegion } from './helpers.js';
import { RawClient } from './support/raw.js';

const CLI = fileURLToPath(new URL('../src/cli/cli.js', import.meta.url));

interface Running {
  child: ChildProcess;
  port: number;
  exit: Promise<number | null>;
}

/**
 * Spawns `shmcached serve -p 0 ...args` and waits (up to `ms`) until `ready` finds what it wants in
 * the stderr so far; rejects if serve exits first or never gets there.
 */
async function spawnServe<T>(
  args: string[],
  ms: number,
  ready: (stderr: string) => T | undefined,
  detached = false,
): Promise<{ child: ChildProcess; found: T; exit: Promise<number | null>; err: () => string }> {
  const child = spawn(process.execPath, [CLI, 'serve', '-p', '0', ...args], { stdio: ['ignore', 'ignore', 'pipe'], detached });
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let err = '';
  const found = await new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`serve did not come up: ${err}`)), ms);
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const v = ready(err);
      if (v !== undefined) {
        clearTimeout(t);
        resolve(v);
      }
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return { child, found, exit, err: () => err };
}

/** Starts `shmcached serve -p 0 -v ...args` and waits for its "listening on" line(s). */
async function serve(args: string[], listeners = 1): Promise<Running> {
  const {
    child,
    found: port,
    exit,
  } = await spawnServe(['-v', ...args], 20_000, (err) => {
    const ports = [...err.matchAll(/listening on [^:\s]+:(\d+)/g)].map((m) => Number(m[1]));
    return ports.length >= listeners ? at(ports, 0) : undefined;
  });
  return { child, port, exit };
}

const cli = suite('cli: shmcached serve / stats');

cli('flags: memcached short forms, attached values and long names', () => {
  const o = parseServeArgs([
    '-p11311',
    '-l',
    '0.0.0.0',
    '-m',
    '128',
    '-I',
    '2m',
    '-M',
    '-c',
    '50',
    '-t',
    '2',
    '-vv',
    '--file=/tmp/x',
    '-U',
    '0',
  ]);
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

cli("-o takes memcached 1.6.45's no-op settings (modern, inline_ascii_resp) and refuses the ones it does not implement by name", () => {
  // memcached.c: `case MODERN: /* currently no new defaults */ break;`, and the two
  // inline_ascii_resp cases are empty too: the same options as without them.
  const plain = parseServeArgs([]);
  for (const o of ['modern', 'inline_ascii_resp', 'no_inline_ascii_resp', 'modern,inline_ascii_resp']) {
    assert.equal(parseServeArgs(['-o', o]), plain, `-o ${o}: nothing changes`);
    assert.equal(parseServeArgs([`--extended=${o}`]), plain, `--extended=${o}`);
  }
  const mixed = parseServeArgs(['-o', 'modern,no_lru_crawler,idle_timeout=5']);
  assert.equal([mixed.lruCrawler, mixed.idleTimeout], [false, 5], 'beside the others');
  // slab_reassign and slab_automove (bare or =1) are what the store already does (stats settings
  // says so): old command lines that name them start; =0 and =2 ask for modes it does not have.
  for (const o of ['slab_reassign', 'slab_automove', 'slab_automove=1', 'modern,slab_reassign,slab_automove'])
    assert.equal(parseServeArgs(['-o', o]), plain, `-o ${o}: nothing changes`);
  for (const o of [
    'no_modern',
    'slab_reassign=1',
    'slab_automove=0',
    'slab_automove=2',
    'hashpower=20',
    'lru_maintainer',
    'drop_privileges',
  ]) {
    const name = o.split('=')[0]!;
    assert.throws(
      () => parseServeArgs(['-o', o]),
      (e: Error) => new RegExp(`^-o ${name}: a memcached setting shmcached does not implement`).test(e.message),
      `-o ${o}`,
    );
  }
  assert.throws(() => parseServeArgs(['-o', 'bogus']), /-o: unknown option "bogus"/);
  oneLine(
    run(['serve', '-o', 'no_modern']),
    2,
    /^shmcached serve: -o no_modern: a memcached setting shmcached does not implement/,
    'serve -o no_modern',
  );
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
    pids.add(at(must(/STAT pid (\d+)/.exec(stats), 'a STAT pid line'), 1));
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
  const none = spawnSync(process.execPath, [CLI, 'stats', '--file', `${file}-missing`], { encoding: 'utf8' });
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
  const s = await serveQuiet(['--file', file, '--reset-if-unreadable']);
  try {
    const warning = /^shmcached: .*starting it cold.*$/m.exec(s.err())?.[0] ?? '';
    assert.match(warning, /layout version 2/);
    assert.is(warning.split(file).length - 1, 1, `the warning names the file once: ${warning}`);
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

// ---------------------------------------------------------------------------------------------
// The CLI as a Unix tool.

const unix = suite('cli: a Unix tool (--version, --help, one-line errors, -t supervision)');

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion. */
function run(args: string[], opts: SpawnSyncOptions = {}): Ran {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000, ...opts });
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Asserts the one-line error contract: exactly one line on stderr, no stack trace, nothing on stdout. */
function oneLine(r: Ran, status: number, pattern: RegExp, what: string): void {
  assert.is(r.status, status, `${what}: exit status (stderr: ${r.stderr})`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.is(lines.length, 1, `${what}: one line on stderr, got ${JSON.stringify(r.stderr)}`);
  assert.not.match(r.stderr, /^\s+at /m, `${what}: no stack trace`);
  assert.match(at(lines, 0), pattern, what);
  assert.is(r.stdout, '', `${what}: nothing on stdout`);
}

const pkgVersion = (JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string })
  .version;

unix('--version and -V print the package version to stdout, exit 0', () => {
  for (const flag of ['--version', '-V']) {
    const r = run([flag]);
    assert.is(r.status, 0, flag);
    assert.is(r.stdout, `shmcached ${pkgVersion}\n`, flag);
    assert.is(r.stderr, '', flag);
  }
});

unix('--help and -h, at the top level and for every command, print usage to stdout, exit 0', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--help'], /^usage: shmcached <command>[\s\S]*serve[\s\S]*stats[\s\S]*check/],
    [['-h'], /^usage: shmcached <command>/],
    [['help'], /^usage: shmcached <command>/],
    [['serve', '--help'], /^usage: shmcached serve[\s\S]*--port[\s\S]*--threads[\s\S]*--file/],
    [['serve', '-h'], /^usage: shmcached serve/],
    [['serve', '-p', '1', '--help'], /^usage: shmcached serve/],
    [['help', 'serve'], /^usage: shmcached serve/],
    [['stats', '--help'], /^usage: shmcached stats/],
    [['stats', '-h'], /^usage: shmcached stats/],
    [['help', 'stats'], /^usage: shmcached stats/],
    [['check', '--help'], /^usage: shmcached check/],
    [['check', '-h'], /^usage: shmcached check/],
  ];
  for (const [args, pattern] of cases) {
    const r = run(args);
    assert.is(r.status, 0, args.join(' '));
    assert.match(r.stdout, pattern, args.join(' '));
    assert.is(r.stderr, '', args.join(' '));
  }
});

unix('unknown flags and commands: one line on stderr, exit 2; no command: usage on stderr, exit 2', () => {
  oneLine(run(['serve', '-q']), 2, /^shmcached serve: unknown option "-q" \(see shmcached serve --help\)$/, 'serve -q');
  oneLine(run(['serve', '--frobnicate=1']), 2, /unknown option "--frobnicate=1"/, 'serve --frobnicate');
  oneLine(run(['stats', '--bogus']), 2, /^shmcached stats: unknown argument "--bogus"/, 'stats --bogus');
  oneLine(run(['--bogus']), 2, /^shmcached: unknown option "--bogus" \(see shmcached --help\)$/, '--bogus');
  oneLine(run(['frobnicate']), 2, /^shmcached: unknown command "frobnicate" \(commands: serve, stats, check/, 'frobnicate');
  oneLine(run(['help', 'frobnicate']), 2, /no command "frobnicate"/, 'help frobnicate');
  const none = run([]);
  assert.is(none.status, 2);
  assert.is(none.stdout, '');
  assert.match(none.stderr, /^usage: shmcached <command>/);
});

unix('bad sizes: one line naming the flag and what it takes, exit 2', () => {
  const file = tmpRegion('cli-size');
  oneLine(run(['serve', '-p', '0', '-m', 'lots', '--file', file]), 2, /-m needs a number, got "lots"/, '-m lots');
  oneLine(run(['serve', '-p', '0', '-m', '0', '--file', file]), 2, /-m must be from 1 to/, '-m 0');
  oneLine(run(['serve', '-p', '0', '-I', '3q', '--file', file]), 2, /-I needs a size such as 1m or 512k, got "3q"/, '-I 3q');
  oneLine(run(['serve', '-p', '0', '-t', '0', '--file', file]), 2, /-t must be from 1 to/, '-t 0');
  oneLine(run(['serve', '-p', '70000', '--file', file]), 2, /-p must be from 0 to 65535/, '-p 70000');
  oneLine(
    run(['serve', '-p', '0', '-m', '1', '-I', '4m', '--file', file]),
    2,
    /itemSizeMax cannot be more than half of size.*: choose -m and -I that fit together/,
    '-m 1 -I 4m',
  );
  assert.not.ok(existsSync(file), 'nothing was created');
});

/** A TCP port something else holds while `fn` runs. */
async function withBusyPort(fn: (port: number) => Promise<void> | void): Promise<void> {
  const holder = createNetServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  try {
    await fn((holder.address() as AddressInfo).port);
  } finally {
    await new Promise<void>((r) => holder.close(() => r()));
  }
}

/** spawnSync, but without blocking this process's event loop (the port holder must keep running). */
function runAsync(args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

unix('a busy port: one line naming the port and the fix, exit 1; with -t 2 no restart loop', async () => {
  const file = tmpRegion('cli-busy');
  await withBusyPort(async (port) => {
    const r = await runAsync(['serve', '-p', String(port), '--file', file]);
    oneLine(r, 1, new RegExp(`^shmcached serve: 127\\.0\\.0\\.1:${port} is already in use .*choose another port with -p$`), 'busy port');
    // -t N: the workers' reason, once; not one line per worker, nor another from the parent.
    for (const n of ['2', '4']) {
      const t = await runAsync(['serve', '-t', n, '-p', String(port), '--file', file]);
      oneLine(
        t,
        1,
        new RegExp(`^shmcached serve: 127\\.0\\.0\\.1:${port} is already in use .*choose another port with -p$`),
        `-t ${n} busy port`,
      );
    }
  });
});

unix('-t N with an address or socket path it cannot listen on: one line, exit 1, no restart', async () => {
  const file = tmpRegion('cli-t-listen');
  // 192.0.2.1 (TEST-NET-1) is an address of no machine: bind fails in each worker.
  const l = await runAsync(['serve', '-t', '2', '-p', '0', '-l', '192.0.2.1', '--file', file]);
  oneLine(l, 1, /^shmcached serve: .*192\.0\.2\.1/, '-t 2 -l 192.0.2.1');
  const dir = tmpRegion('cli-t-sock');
  mkdirSync(dir);
  try {
    const missing = await runAsync(['serve', '-t', '2', '-s', `${dir}/no/such/dir/sock`, '--file', file]);
    oneLine(missing, 1, /does not exist; create it, or choose another path with -s$/, '-t 2 -s in a missing directory');
    writeFileSync(`${dir}/plain`, 'x');
    const notSock = await runAsync(['serve', '-t', '2', '-s', `${dir}/plain`, '--file', file]);
    oneLine(notSock, 1, /exists and is not a socket/, '-t 2 -s a plain file');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

unix('store files: no space, missing directory, a directory, no permission: one line with the fix, exit 1', () => {
  const big = tmpRegion('cli-big');
  oneLine(
    run(['serve', '-p', '0', '-m', '1048576', '--file', big]),
    1,
    /not enough space for a 1048576 MiB store in \/dev\/shm \(\d+ MiB free\): choose a smaller -m/,
    '-m 1 TiB',
  );
  assert.not.ok(existsSync(big), 'nothing was created');
  oneLine(
    run(['serve', '-p', '0', '--file', '/nonexistent-shmcached-dir/store']),
    1,
    /directory \/nonexistent-shmcached-dir does not exist; create it, or choose another file with --file/,
    'missing dir',
  );
  const dir = tmpRegion('cli-dir');
  mkdirSync(dir);
  try {
    oneLine(run(['serve', '-p', '0', '--file', dir]), 1, /is a directory: give --file the path of a file/, 'a directory');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // A store this user may not write: root ignores file modes, so as root the CLI runs as nobody.
  const file = tmpRegion('cli-perm');
  writeFileSync(file, 'x');
  chmodSync(file, 0o600);
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!asRoot) chmodSync(file, 0o000);
  const wrap = (args: string[]): Ran => {
    if (!asRoot) return run(args);
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, ...args], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
  };
  oneLine(
    wrap(['serve', '-p', '0', '--file', file]),
    1,
    /permission denied opening store file .*run as its owner, fix its mode \(chmod\/chown\), or choose another file with --file/,
    'serve, no permission',
  );
  oneLine(wrap(['stats', '--file', file]), 1, /^shmcached stats: permission denied opening store file/, 'stats, no permission');
  assert.is(readFileSync(file, 'utf8'), 'x', 'untouched');
});

/** Starts serve (without -v), returns the child, its stderr so far, and the parsed announcement. */
async function serveQuiet(
  args: string[],
  detached = false,
): Promise<{ child: ChildProcess; line: string; port: number; exit: Promise<number | null>; err: () => string }> {
  const s = await spawnServe(args, 30_000, (err) => /^shmcached: listening on .*$/m.exec(err)?.[0], detached);
  const port = Number(/listening on [^\s]+:(\d+)/.exec(s.found)?.[1]);
  return { child: s.child, line: s.found, port, exit: s.exit, err: s.err };
}

/** `shmcached check --json` of a file: its clean flag (closed cleanly: the next open is warm). */
function checkClean(file: string): { clean: boolean; dirty: boolean } {
  const r = run(['check', '--file', file, '--json']);
  assert.ok(r.status === 0 || r.status === 1, r.stderr);
  return JSON.parse(r.stdout) as { clean: boolean; dirty: boolean };
}

unix('serve says where it listens and which file it serves; SIGINT closes the store cleanly and the next start is warm', async () => {
  const file = tmpRegion('cli-announce');
  const s = await serveQuiet(['-m', '8', '--file', file]);
  assert.match(
    s.line,
    new RegExp(`^shmcached: listening on 127\\.0\\.0\\.1:\\d+, serving ${file} \\(8 MiB, new, protection \\w+\\), pid ${s.child.pid}$`),
  );
  const c = await RawClient.connect(s.port);
  assert.is((await c.exchange('set a 0 0 1\r\nb\r\n')).bytes.toString(), 'STORED\r\n');
  c.close();
  s.child.kill('SIGINT');
  assert.is(await s.exit, 0, s.err());
  assert.equal(checkClean(file), { ...checkClean(file), clean: true, dirty: false });
  const again = await serveQuiet(['--file', file]);
  assert.match(again.line, /\(8 MiB, warm start,/, 'a clean close: the reopen is warm, not a recovery');
  again.child.kill('SIGTERM');
  assert.is(await again.exit, 0, again.err());
});

unix('-t 2: one announcement; SIGTERM to the parent and SIGINT to the process group (Ctrl-C) both close every child cleanly', async () => {
  const file = tmpRegion('cli-t2');
  const s = await serveQuiet(['-t', '2', '-m', '8', '--file', file]);
  assert.match(
    s.line,
    new RegExp(
      `^shmcached: listening on 127\\.0\\.0\\.1:${s.port} with 2 processes, serving ${file} \\(8 MiB, new\\), pid ${s.child.pid}$`,
    ),
  );
  const c = await RawClient.connect(s.port);
  assert.is((await c.exchange('set a 0 0 1\r\nb\r\n')).bytes.toString(), 'STORED\r\n');
  c.close();
  s.child.kill('SIGTERM');
  assert.is(await s.exit, 0, s.err());
  assert.is(checkClean(file).clean, true, `every worker closed the store: ${s.err()}`);
  assert.is(checkClean(file).dirty, false);
  // Ctrl-C in a terminal: SIGINT to the parent and every child at once.
  const g = await serveQuiet(['-t', '2', '--file', file], true);
  assert.match(g.line, /with 2 processes, serving .* \(8 MiB, warm start\)/);
  process.kill(-g.child.pid!, 'SIGINT');
  assert.is(await g.exit, 0, g.err());
  assert.not.match(g.err(), /restarting/, 'nothing restarted while stopping');
  assert.is(checkClean(file).clean, true);
  assert.is(checkClean(file).dirty, false);
});

unix(
  '-t 2 supervision: a crashed child restarts after 100 ms, doubling; 5 immediate crashes in a row: the parent gives up, exit 1',
  async () => {
    const file = tmpRegion('cli-crash');
    // -v: every worker announces itself with its pid once it listens; each is SIGKILLed at once.
    const child = spawn(process.execPath, [CLI, 'serve', '-p', '0', '-v', '-t', '2', '-m', '8', '--file', file], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    let err = '';
    const killed = new Set<number>();
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      for (const m of err.matchAll(/^shmcached (\d+): listening on/gm)) {
        const pid = Number(m[1]);
        if (killed.has(pid) || killed.size >= 20) continue;
        killed.add(pid);
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone already */
        }
      }
    });
    assert.is(await exit, 1, err);
    assert.match(err, /crashed 5 times in a row within 5 s of starting \(last: signal SIGKILL\); giving up/);
    const delays = [...err.matchAll(/exited \(signal SIGKILL\) after [^;]+; restarting it in (\d+) ms/g)].map((m) => Number(m[1]));
    // Two slots, each 100, 200, 400, 800 ms (interleaved); the fifth crash of one slot ends it.
    for (const d of [100, 200, 400, 800]) assert.ok(delays.includes(d), `a restart after ${d} ms: ${delays.join(', ')}`);
    for (const d of delays) assert.ok([100, 200, 400, 800].includes(d), `only doubling delays: ${delays.join(', ')}`);
    assert.not.match(err, /^\s+at /m, 'no stack trace');
    // The parent stopped the child it had left before it exited.
    for (const pid of [...err.matchAll(/^shmcached (\d+): listening on/gm)].map((m) => Number(m[1]))) {
      assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} is gone`);
    }
  },
);

// ---------------------------------------------------------------------------------------------
// The command line audited with hostile values (docs/cli.md, "Hostile input"): each case once
// ended in a hang, an "unexpected error", a misleading fix or a silently ignored value.

/** Runs the CLI with a hard stop: a child that ignores SIGTERM (a hang) ends with status null. */
function runKilled(args: string[], ms = 20_000): Ran {
  return run(args, { timeout: ms, killSignal: 'SIGKILL' });
}

unix(
  'TLS files: a FIFO, a device, a directory, an empty file, garbage, a key of another certificate: one line naming the file, exit 1, no hang',
  () => {
    const dir = mkdtempSync('/dev/shm/shmcached-cli-tls-');
    try {
      const f = (n: string): string => join(dir, n);
      const ssl = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2'];
      execFileSync('openssl', [...ssl, '-keyout', f('a.key'), '-out', f('a.pem'), '-subj', '/CN=a'], { stdio: 'ignore' });
      execFileSync('openssl', [...ssl, '-keyout', f('b.key'), '-out', f('b.pem'), '-subj', '/CN=b'], { stdio: 'ignore' });
      execFileSync('mkfifo', [f('fifo')]);
      writeFileSync(f('empty'), '');
      writeFileSync(f('garbage'), 'not a certificate\n');
      mkdirSync(f('dir'));
      const store = join(dir, 'store');
      const serveTls = (o: string): Ran => runKilled(['serve', '-p', '0', '--file', store, '-Z', '-o', o]);
      const cases: Array<[string, RegExp]> = [
        // A FIFO blocked the start in open(2), where not even SIGTERM could stop it.
        [
          `ssl_chain_cert=${f('fifo')},ssl_key=${f('a.key')}`,
          /ssl_chain_cert .*fifo: not a regular file \(a FIFO, socket or device\) \[ERR_TLS_CONFIG\]$/,
        ],
        [`ssl_chain_cert=${f('a.pem')},ssl_key=/dev/null`, /ssl_key \/dev\/null: not a regular file .*\[ERR_TLS_CONFIG\]$/],
        [
          `ssl_chain_cert=${f('dir')},ssl_key=${f('a.key')}`,
          /ssl_chain_cert .*dir: not a regular file \(a directory\) \[ERR_TLS_CONFIG\]$/,
        ],
        [`ssl_chain_cert=${f('empty')},ssl_key=${f('a.key')}`, /ssl_chain_cert .*empty: empty file \[ERR_TLS_CONFIG\]$/],
        // Garbage was "an unexpected error" (OpenSSL's text, pointing at SHMCACHED_DEBUG).
        [`ssl_chain_cert=${f('garbage')},ssl_key=${f('a.key')}`, /ssl_chain_cert .*garbage: not a PEM certificate .*\[ERR_TLS_CONFIG\]$/],
        [`ssl_chain_cert=${f('a.pem')},ssl_key=${f('a.pem')}`, /ssl_key .*a\.pem: not a usable PEM private key .*\[ERR_TLS_CONFIG\]$/],
        [
          `ssl_chain_cert=${f('a.pem')},ssl_key=${f('b.key')}`,
          /ssl_key .*b\.key does not go with ssl_chain_cert .*a\.pem .*\[ERR_TLS_CONFIG\]$/,
        ],
        [`ssl_chain_cert=${f('a.pem')},ssl_key=${f('a.key')},ssl_ca_cert=${f('garbage')}`, /ssl_ca_cert .*garbage: not a PEM certificate/],
      ];
      for (const [o, pattern] of cases) {
        const r = serveTls(o);
        oneLine(r, 1, pattern, o);
        assert.not.match(r.stderr, /unexpected error/, o);
      }
      assert.not.ok(existsSync(store), 'no store was created for a server that could not start');
      // -t 2: checked once by the parent, before any store or worker: still one line.
      oneLine(
        runKilled(['serve', '-p', '0', '-t', '2', '--file', store, '-Z', '-o', `ssl_chain_cert=${f('garbage')},ssl_key=${f('a.key')}`]),
        1,
        /ssl_chain_cert .*garbage: not a PEM certificate .*\[ERR_TLS_CONFIG\]$/,
        '-t 2 with a bad certificate',
      );
      writeFileSync(f('users'), 'u:p\n');
      chmodSync(f('users'), 0o644);
      oneLine(runKilled(['serve', '-p', '0', '-t', '2', '--file', store, '-Y', f('users')]), 1, /\[ERR_AUTH_FILE_MODE\]$/, '-t 2 -Y 0644');
      assert.not.ok(existsSync(store), 'no store was created by -t 2 either');
      // An auth file past 2 GiB (sparse: it costs nothing) was "an unexpected error" from readFileSync.
      const big = f('big-users');
      writeFileSync(big, '');
      chmodSync(big, 0o600);
      execFileSync('truncate', ['-s', '3G', big]);
      oneLine(
        runKilled(['serve', '-p', '0', '--file', store, '-Y', big]),
        1,
        /auth file .*big-users: 3221225472 bytes is too large for user:password lines \(at most 16777216\) \[ERR_AUTH_FILE_FORMAT\]$/,
        '-Y 3 GiB',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

unix("-Z with --idle-timeout past 24.8 days (a timer's limit): TLS clients are served, no TimeoutOverflowWarning on stderr", async () => {
  const dir = mkdtempSync('/dev/shm/shmcached-cli-tlsidle-');
  try {
    const f = (n: string): string => join(dir, n);
    const ssl = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2'];
    execFileSync('openssl', [...ssl, '-keyout', f('a.key'), '-out', f('a.pem'), '-subj', '/CN=a'], { stdio: 'ignore' });
    const s = await serveQuiet([
      '--file',
      f('store'),
      '--idle-timeout',
      '3000000',
      '-Z',
      '-o',
      `ssl_chain_cert=${f('a.pem')},ssl_key=${f('a.key')}`,
    ]);
    try {
      const got = await new Promise<string>((resolve, reject) => {
        const c = tlsConnect({ port: s.port, host: '127.0.0.1', rejectUnauthorized: false }, () => c.write('version\r\n'));
        c.once('data', (d: Buffer) => {
          c.destroy();
          resolve(d.toString());
        });
        c.once('error', reject);
      });
      assert.match(got, /^VERSION /);
    } finally {
      s.child.kill('SIGTERM');
      assert.is(await s.exit, 0, s.err());
    }
    assert.not.match(s.err(), /TimeoutOverflowWarning/, s.err());
    assert.is(
      s
        .err()
        .split('\n')
        .filter((l) => l !== '').length,
      1,
      `only the listening line: ${s.err()}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

unix('a switch given a value (--reset=no, --verbose=3, --enable-ssl=no) is refused, exit 2; the store is not reset', async () => {
  const file = tmpRegion('cli-switch');
  const { Cache } = await import('../src/index.js');
  const c = Cache.open({ path: file, size: '4mb', itemSizeMax: '1kb' });
  c.set('kept', 'yes');
  c.close();
  for (const flag of ['--reset=no', '--reset=', '--reset-if-unreadable=false', '--verbose=3', '--enable-ssl=no', '--disable-evictions=0']) {
    const r = runKilled(['serve', '-p', '0', '--file', file, flag]);
    oneLine(r, 2, new RegExp(`^shmcached serve: ${flag.split('=')[0]} takes no value, got "${flag}"`), flag);
  }
  const st = run(['stats', '--file', file, 'items']);
  assert.is(st.status, 0, st.stderr);
  assert.match(run(['stats', '--file', file]).stdout, /^STAT curr_items 1$/m, '--reset=no did not reset the store');
});

unix('-s: a missing directory (both engines) and a path longer than a socket address holds: one line naming the fix', () => {
  const file = tmpRegion('cli-sock');
  const missing = `/dev/shm/shmcached-no-such-dir-${process.pid}/sock`;
  for (const engine of ['native', 'js']) {
    oneLine(
      runKilled(['serve', '--engine', engine, '-s', missing, '--file', file]),
      1,
      /^shmcached serve: cannot listen on unix socket .*: directory .* does not exist; create it, or choose another path with -s$/,
      `-s in a missing directory (${engine})`,
    );
  }
  oneLine(
    runKilled(['serve', '-s', `/dev/shm/${'x'.repeat(120)}`, '--file', file]),
    2,
    /^shmcached serve: -s: a unix socket path is at most 107 bytes, got 129 /,
    '-s too long',
  );
  assert.not.ok(existsSync(file), 'nothing was created for a bad -s');
  // A directory this user cannot write (root writes anywhere: as root the CLI runs as nobody).
  const ro = mkdtempSync('/dev/shm/shmcached-cli-rosock-');
  try {
    chmodSync(ro, 0o555);
    const args = [CLI, 'serve', '-s', join(ro, 'sock'), '--file', file];
    const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    const r = asRoot
      ? spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...args], {
          encoding: 'utf8',
          timeout: 20_000,
          killSignal: 'SIGKILL',
        })
      : spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
    oneLine(
      { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) },
      1,
      /^shmcached serve: permission denied creating unix socket .*: choose a path in a directory this user can write with -s$/,
      '-s in a read-only directory',
    );
    assert.not.ok(existsSync(file), 'the store is not created before a socket that cannot be made');
  } finally {
    rmSync(ro, { recursive: true, force: true });
  }
});

unix('-I 0 and a -I past 2^53: one line naming -I (not the library option), exit 2', () => {
  const file = tmpRegion('cli-isize');
  for (const v of ['0', '0k', '99999999999999999999m', '9007199254740993']) {
    const r = run(['serve', '-p', '0', '-I', v, '--file', file]);
    oneLine(r, 2, new RegExp(`^shmcached serve: -I must be from 1k to 64m, got "${v}" \\(see shmcached serve --help\\)$`), `-I ${v}`);
  }
  assert.not.ok(existsSync(file));
});

unix('a file that is not a store: the error does not suggest --reset (which refuses it too); stats and check name it once', () => {
  const file = tmpRegion('cli-notstore');
  writeFileSync(file, 'precious\n');
  chmodSync(file, 0o600);
  const r = run(['serve', '-p', '0', '--file', file]);
  oneLine(
    r,
    2,
    /is not a shmcached store file \(not a shmcached region \(file too short\)\); it is never written: choose another file with --file/,
    'serve',
  );
  assert.not.match(r.stderr, /--reset|open with reset/, 'no advice that cannot work');
  const st = run(['stats', '--file', file]);
  oneLine(st, 2, /^shmcached stats: [^ ]+: not a shmcached region/, 'stats');
  assert.not.match(st.stderr, /stats: stats:/, 'the command is named once');
  assert.is(readFileSync(file, 'utf8'), 'precious\n');
});

unix('an empty $SHMCACHED_FILE is unset (the default store), not an empty path reported as a library option', async () => {
  const { DEFAULT_PATH } = await import('../src/cache.js');
  const saved = process.env.SHMCACHED_FILE;
  try {
    process.env.SHMCACHED_FILE = '';
    assert.is(parseServeArgs([]).file, DEFAULT_PATH);
    process.env.SHMCACHED_FILE = '/dev/shm/from-env';
    assert.is(parseServeArgs([]).file, '/dev/shm/from-env');
    assert.is(parseServeArgs(['--file', '/dev/shm/flag']).file, '/dev/shm/flag');
  } finally {
    if (saved === undefined) delete process.env.SHMCACHED_FILE;
    else process.env.SHMCACHED_FILE = saved;
  }
  // stats: an empty $SHMCACHED_FILE with --file given is no error either way; without, the
  // default path is named (not "").
  const r = run(['stats', '--file', `${tmpRegion('cli-env')}-none`], { env: { ...process.env, SHMCACHED_FILE: '' } });
  oneLine(r, 2, /no store file at/, 'stats --file missing');
  const d = run(['stats'], { env: { ...process.env, SHMCACHED_FILE: '' } });
  assert.not.match(d.stderr, /no store file at ""/, d.stderr);
});

unix('a path with a newline in it still makes one line on stderr (shown escaped)', () => {
  oneLine(
    run(['serve', '-p', '0', '--file', '/nonexistent-shmcached\ndir/store']),
    1,
    /^shmcached serve: cannot create store file \/nonexistent-shmcached\\ndir\/store: directory/,
    '--file with a newline',
  );
  oneLine(run(['stats', '--file', '/nonexistent\r\nx']), 2, /no store file at "\/nonexistent\\r\\nx"/, 'stats --file with CRLF');
});

unix(
  '--reset of a store a running server has open: exit 1, stop it first (not "choose -m and -I"); a size mismatch gives one hint',
  async () => {
    const file = tmpRegion('cli-reset-busy');
    const s = await serveQuiet(['-m', '8', '--file', file]);
    try {
      const c = await RawClient.connect(s.port);
      assert.is((await c.exchange('set kept 0 0 3\r\nyes\r\n')).bytes.toString(), 'STORED\r\n');
      const r = await runAsync(['serve', '-p', '0', '--file', file, '--reset']);
      oneLine(
        r,
        1,
        /^shmcached serve: cannot reset .*: 1 process\(es\) have it open: stop them first .*choose another file with --file$/,
        '--reset busy',
      );
      assert.not.match(r.stderr, /-m and -I/);
      const m = await runAsync(['serve', '-p', '0', '--file', file, '-m', '16']);
      oneLine(m, 2, /region has size 8388608 bytes, opened with size 16777216 \(--reset re-creates/, '-m mismatch');
      assert.not.match(m.stderr, /use reset to re-create it/, "one hint, the CLI's");
      assert.is((await c.exchange('get kept\r\n')).bytes.toString(), 'VALUE kept 0 3\r\nyes\r\nEND\r\n', 'the store was not touched');
      c.close();
    } finally {
      s.child.kill('SIGTERM');
      await s.exit;
    }
  },
);

unix('help --help and help -h print the usage, exit 0', () => {
  for (const args of [
    ['help', '--help'],
    ['help', '-h'],
    ['--help', '--help'],
  ]) {
    const r = run(args);
    assert.is(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /^usage: shmcached <command>/);
  }
});

unix.run();
