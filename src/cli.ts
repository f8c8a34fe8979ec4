#!/usr/bin/env node
/**
 * The `shmcached` command line.
 *
 *   shmcached serve [-p PORT] [-l ADDR] [-m MB] [-I SIZE] [-M] [-c CONNS] [-t N] [-v] [--file PATH] [--reset]
 *   shmcached stats [--file PATH] [general|slabs|items|settings]
 *   shmcached check ...            (the store checker, src/check.ts)
 *
 * `serve` takes memcached's own flags so it drops in where memcached runs; `-t N` runs N server
 * processes (node:cluster) that all attach the same store file and share the port.
 */
import cluster from 'node:cluster';
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { Cache, DEFAULT_PATH } from './cache.js';
import { CacheError } from './errors.js';
import { createServer } from './server.js';
import type { StatsGroup } from './types.js';

/** Options of `shmcached serve`, as parsed from memcached-style flags. */
export interface ServeOptions {
  port: number;
  listen: string;
  /** -m in MiB; undefined = the store file's own (64 when creating). */
  memoryMb?: number;
  /** -I as given ('1m', '512k', bytes); undefined = the file's own (1m when creating). */
  itemSizeMax?: string;
  /** -M: answer out of memory instead of evicting. */
  noEvict: boolean;
  maxConnections: number;
  threads: number;
  verbose: number;
  file: string;
  reset: boolean;
  /** Start cold (with a warning) when the file is a shmcached store this build cannot read. */
  resetIfUnreadable: boolean;
  idleTimeout: number;
  /** --file-owner UID: another user's store file may be opened (region-safety; docs/security.md). */
  fileOwner?: number;
  /** --file-mode MODE (octal): a new store file's mode, and the most an existing one may allow. */
  fileMode?: number;
}

const USAGE = `usage:
  shmcached serve [options]     memcached's protocols (text, meta, binary) over TCP on a store file
    -p, --port=NUM              TCP port (default 11211)
    -l, --listen=ADDR           interface to listen on (default 127.0.0.1)
    -m, --memory-limit=MB       item memory in megabytes (default: the file's, 64 for a new file)
    -I, --max-item-size=SIZE    largest item, e.g. 1m, 512k (default: the file's, 1m for a new file)
    -M, --disable-evictions     answer out of memory instead of evicting
    -c, --conn-limit=NUM        simultaneous connections per process (default 1024)
    -t, --threads=NUM           server processes sharing the store and the port (default 1)
    -v, --verbose               log connections (-vv, -vvv accepted)
        --file=PATH             the store file (default ${DEFAULT_PATH})
        --reset                 re-create the store file (everything in it is lost)
        --reset-if-unreadable   if the file is a shmcached store this build cannot read (another
                                layout version, or damaged past recovery), start it cold with a
                                warning instead of exiting (npm start uses this); other files
                                are never touched
        --idle-timeout=SECS     close connections idle this long (default 0: never)
        --file-owner=UID        accept a store file owned by this uid (deliberate sharing)
        --file-mode=MODE        a new store file's mode, e.g. 0660 to share with a group (default
                                0600); an existing file writable beyond it is refused
  shmcached stats [--file PATH] [--file-owner UID] [general|slabs|items|settings]
                                print a store's stats from its file, without a server
  shmcached check ...           check a store file (see shmcached check --help)`;

class UsageError extends Error {}

function intArg(flag: string, v: string | undefined, min: number, max: number): number {
  if (v === undefined || !/^\d+$/.test(v)) throw new UsageError(`${flag} needs a number, got ${v === undefined ? 'nothing' : JSON.stringify(v)}`);
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`${flag} must be from ${min} to ${max}, got ${n}`);
  return n;
}

/** Parses `serve`'s flags (memcached's short flags, their long names, `-p11211` and `--port=11211` forms). */
export function parseServeArgs(args: readonly string[]): ServeOptions {
  const o: ServeOptions = {
    port: 11211,
    listen: '127.0.0.1',
    noEvict: false,
    maxConnections: 1024,
    threads: 1,
    verbose: 0,
    file: process.env.SHMCACHED_FILE ?? DEFAULT_PATH,
    reset: false,
    resetIfUnreadable: false,
    idleTimeout: 0,
  };
  const long: Record<string, string> = {
    '--port': '-p', '--listen': '-l', '--memory-limit': '-m', '--max-item-size': '-I', '--disable-evictions': '-M',
    '--conn-limit': '-c', '--threads': '-t', '--verbose': '-v', '--udp-port': '-U', '--user': '-u',
  };
  const withValue = new Set(['-p', '-l', '-m', '-I', '-c', '-t', '-U', '-u', '--file', '--idle-timeout', '--file-owner', '--file-mode']);
  for (let i = 0; i < args.length; i++) {
    let a = args[i]!;
    let v: string | undefined;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    if (eq > 0) {
      v = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    a = long[a] ?? a;
    if (/^-v+$/.test(a)) {
      o.verbose += a.length - 1;
      continue;
    }
    if (/^-[plmIctUu].+/.test(a)) {
      v = a.slice(2);
      a = a.slice(0, 2);
    }
    if (withValue.has(a) && v === undefined) v = args[++i];
    switch (a) {
      case '-p': o.port = intArg('-p', v, 0, 65535); break;
      case '-l':
        if (!v) throw new UsageError('-l needs an address');
        o.listen = v;
        break;
      case '-m': o.memoryMb = intArg('-m', v, 1, 1 << 20); break;
      case '-I':
        if (!v || !/^\d+[kmg]?b?$/i.test(v)) throw new UsageError(`-I needs a size such as 1m or 512k, got ${JSON.stringify(v)}`);
        o.itemSizeMax = v;
        break;
      case '-M': o.noEvict = true; break;
      case '-c': o.maxConnections = intArg('-c', v, 1, 1 << 20); break;
      case '-t': o.threads = intArg('-t', v, 1, 1024); break;
      case '-U':
        if (v !== '0') throw new UsageError('-U: UDP is not supported (only -U 0)');
        break;
      case '-u': break; // memcached's run-as user: shmcached runs as whoever starts it
      case '--file':
        if (!v) throw new UsageError('--file needs a path');
        o.file = v;
        break;
      case '--reset': o.reset = true; break;
      case '--reset-if-unreadable': o.resetIfUnreadable = true; break;
      case '--idle-timeout': o.idleTimeout = intArg('--idle-timeout', v, 0, 1 << 30); break;
      // region-safety (docs/security.md): passed through to Cache.open's allowOwner / mode.
      case '--file-owner': o.fileOwner = intArg('--file-owner', v, 0, 0xfffffffe); break;
      case '--file-mode':
        if (v === undefined || !/^0?[0-7]{3,4}$/.test(v)) throw new UsageError(`--file-mode needs an octal mode such as 0660, got ${v === undefined ? 'nothing' : JSON.stringify(v)}`);
        o.fileMode = parseInt(v, 8);
        break;
      default: throw new UsageError(`unknown option ${JSON.stringify(args[i])}`);
    }
  }
  return o;
}

/** Whether the file begins with a shmcached region's magic ("!SHMHCR1"): ours, of whatever layout. */
function isStoreFile(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const b = Buffer.alloc(8);
    return readSync(fd, b, 0, 8, 0) === 8 && b.toString('latin1') === '!SHMHCR1';
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function openStore(o: ServeOptions, reset: boolean): Cache {
  const exists = existsSync(o.file);
  try {
    return Cache.open({
      path: o.file,
      size: o.memoryMb !== undefined ? o.memoryMb * 1024 * 1024 : exists && !reset ? undefined : 64 * 1024 * 1024,
      itemSizeMax: o.itemSizeMax ?? (exists && !reset ? undefined : '1m'),
      evict: o.noEvict ? false : exists && !reset ? undefined : true,
      reset,
      ...(o.fileOwner !== undefined ? { allowOwner: o.fileOwner } : {}),
      ...(o.fileMode !== undefined ? { mode: o.fileMode } : {}),
    });
  } catch (e) {
    if (e instanceof CacheError && e.code === 'ERR_BAD_REGION' && !reset && o.resetIfUnreadable && isStoreFile(o.file)) {
      process.stderr.write(`shmcached: ${o.file}: ${e.message}; starting it cold (--reset-if-unreadable)\n`);
      return openStore(o, true);
    }
    if (e instanceof CacheError && (e.code === 'ERR_BAD_REGION' || e.code === 'ERR_REGION_MISMATCH')) {
      throw new UsageError(`${e.message}\n(--reset re-creates the store with the options given; everything in it is lost)`);
    }
    // A file the region file rules refuse (docs/security.md): a clear error, never a stack trace.
    if (e instanceof CacheError && e.code.startsWith('ERR_REGION_')) throw new UsageError(`${e.message} [${e.code}]`);
    throw e;
  }
}

/** Runs one server process until SIGTERM/SIGINT; resolves when it has closed cleanly. */
async function serveOne(o: ServeOptions, reset: boolean): Promise<number> {
  const cache = openStore(o, reset);
  const server = createServer({ cache, maxConnections: o.maxConnections, idleTimeout: o.idleTimeout, verbose: o.verbose });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.listen, () => {
      server.off('error', reject);
      resolve();
    });
  });
  if (o.verbose > 0) {
    const a = server.address();
    const where = typeof a === 'object' && a !== null ? `${a.address}:${a.port}` : String(a);
    process.stderr.write(`shmcached ${process.pid}: listening on ${where}, store ${o.file} (protection ${cache.protection})\n`);
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      // Stop accepting, end every connection once its replies are out, then close the store
      // (a clean close: a warm restart finds every item).
      const force = setTimeout(() => {
        cache.close();
        resolve(0);
      }, 3000);
      force.unref();
      server.close(() => {
        clearTimeout(force);
        cache.close();
        resolve(0);
      });
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    // A worker told to leave by its primary.
    if (cluster.isWorker) process.on('message', (m) => m === 'shmcached:stop' && stop());
  });
}

/** `-t N`: the primary creates (or checks) the store, then runs N workers that serve it. */
async function servePrimary(o: ServeOptions): Promise<number> {
  openStore(o, o.reset).close();
  let stopping = false;
  const spawn = (): void => {
    const w = cluster.fork({ SHMCACHED_WORKER: '1' });
    w.on('exit', (code, signal) => {
      if (!stopping) {
        process.stderr.write(`shmcached: worker ${w.process.pid} exited (${signal ?? code}); starting another\n`);
        setTimeout(spawn, 100);
      }
    });
  };
  for (let i = 0; i < o.threads; i++) spawn();
  return new Promise<number>((resolve) => {
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
      let left = workers.length;
      if (left === 0) resolve(0);
      for (const w of workers) {
        w!.once('exit', () => --left === 0 && resolve(0));
        try {
          w!.send('shmcached:stop');
        } catch {
          w!.process.kill('SIGTERM');
        }
      }
      setTimeout(() => resolve(0), 5000).unref();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

/** `shmcached serve ...` */
export async function serveMain(args: readonly string[]): Promise<number> {
  const o = parseServeArgs(args);
  if (o.threads > 1 && cluster.isPrimary) return servePrimary(o);
  return serveOne(o, o.reset && !cluster.isWorker);
}

/** `shmcached stats [--file PATH] [group]` */
export function statsMain(args: readonly string[]): number {
  let file = process.env.SHMCACHED_FILE ?? DEFAULT_PATH;
  let group: StatsGroup = 'general';
  let fileOwner: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--file') file = args[++i] ?? '';
    else if (a.startsWith('--file=')) file = a.slice(7);
    else if (a === '--file-owner' || a.startsWith('--file-owner=')) fileOwner = intArg('--file-owner', a.includes('=') ? a.slice(13) : args[++i], 0, 0xfffffffe);
    else if (a === 'general' || a === 'slabs' || a === 'items' || a === 'settings') group = a;
    else throw new UsageError(`stats: unknown argument ${JSON.stringify(a)}`);
  }
  if (!file || !existsSync(file)) throw new UsageError(`stats: no store file at ${JSON.stringify(file)}`);
  let cache: Cache;
  try {
    cache = Cache.open({ path: file, ...(fileOwner !== undefined ? { allowOwner: fileOwner } : {}) });
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new UsageError(`stats: ${(e as Error).message}${code?.startsWith('ERR_REGION_') ? ` [${code}]` : ''}`);
  }
  try {
    for (const [k, v] of Object.entries(cache.stats(group))) process.stdout.write(`STAT ${k} ${v}\n`);
    process.stdout.write('END\n');
  } finally {
    cache.close();
  }
  return 0;
}

/** Dispatches `shmcached <command> ...`; resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'serve':
        return await serveMain(rest);
      case 'stats':
        return statsMain(rest);
      case 'check': {
        let m: { checkMain(args: readonly string[]): Promise<number> | number };
        try {
          m = await import(new URL('./check.js', import.meta.url).href);
        } catch (e) {
          if ((e as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw e;
          process.stderr.write('shmcached check: not available in this build (dist/src/check.js is missing)\n');
          return 2;
        }
        return await m.checkMain(rest);
      }
      case undefined:
      case 'help':
      case '-h':
      case '--help':
        process.stdout.write(USAGE + '\n');
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`shmcached: ${e.message}\n${cmd === 'serve' || cmd === 'stats' ? '' : USAGE + '\n'}`);
      return 2;
    }
    throw e;
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === (await import('node:fs')).realpathSync(process.argv[1])) {
  process.exitCode = await main(process.argv.slice(2));
  // A cluster worker's IPC channel would keep it alive after a clean stop.
  if (cluster.isWorker) process.exit(process.exitCode);
}
