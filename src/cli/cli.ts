#!/usr/bin/env node
/**
 * The `shmcached` command line.
 *
 *   shmcached serve [-p PORT] [-l ADDR] [-m MB] [-I SIZE] [-M] [-c CONNS] [-t N] [-v] [--file PATH] [--reset]
 *   shmcached stats [--file PATH | --server HOST:PORT] [general|settings|items|slabs|sizes|conns|detail|cachedump CLASS LIMIT]
 *   shmcached check ...            (the store checker, src/cli/check.ts)
 *   shmcached --version | --help | help <command>;  <command> --help
 *
 * Exit status: 0 success; 1 the machine stopped it (port in use, permission denied, a -t worker
 * crashing repeatedly), always one line on stderr naming the cause and the fix; 2 bad usage
 * (one line on stderr). docs/cli.md describes every command.
 *
 * `serve` takes memcached's own flags so it drops in where memcached runs; `-t N` runs N server
 * processes (node:cluster) that all attach the same store file and share the port.
 */
import cluster from 'node:cluster';
import {
  accessSync,
  chmodSync,
  closeSync,
  constants as fsConstants,
  existsSync,
  lstatSync,
  openSync,
  readFileSync,
  readSync,
  realpathSync,
  statfsSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import type { Server } from 'node:net';
import { connect as netConnect } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Cache, DEFAULT_PATH } from '../cache.js';
import { CacheError } from '../errors.js';
import { createServer } from '../server.js';
import { parseSize } from '../size.js';
import type { StatsGroup } from '../types.js';
import {
  WIRE_LONG,
  WIRE_WITH_VALUE,
  WireUsageError,
  type WireOptions,
  checkWire,
  listenersOf,
  newWireOptions,
  rejectUnverifiedPeers,
  serverSecurity,
  takeWireFlag,
} from './wire.js';

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
  /**
   * --engine: who serves connections. 'native': one process whose -t threads run native epoll
   * loops (memcached's -t); 'js': -t node:cluster processes with node:net servers. Undefined =
   * the default: 'native' with -t 1, 'js' with -t N > 1 (TLS always uses 'js').
   */
  engine?: 'native' | 'js';
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
  /** -Y, -S, -Z, -o ssl_*: authentication and TLS (src/cli/wire.ts). */
  wire: WireOptions;
  /** -A: allow the `shutdown` command. */
  enableShutdown: boolean;
  /** -o lru_crawler / no_lru_crawler: the background expired-item crawler (default on, as memcached). */
  lruCrawler: boolean;
  /** -R: commands per connection per turn (0 = no limit). */
  reqsPerEvent: number;
  /** -B: protocols accepted. */
  protocol: 'auto' | 'ascii' | 'binary';
  /** -s: listen on this unix domain socket instead of TCP. */
  socketPath?: string;
  /** -a: the unix socket's permissions (octal, default 0700). */
  socketMask: number;
}

/** The package's version (package.json next to dist/), for `--version`. */
function version(): string {
  try {
    return (
      (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown'
    );
  } catch {
    return 'unknown';
  }
}

const SERVE_USAGE = `usage: shmcached serve [options]
  memcached's protocols (text, meta, binary) over TCP on a shared-memory store file; takes
  memcached's own flags so it drops in where memcached runs.
    -p, --port=NUM              TCP port (default 11211; 0 picks a free one)
    -l, --listen=ADDR           interface to listen on (default 127.0.0.1)
    -m, --memory-limit=MB       item memory in megabytes (default: the file's, 64 for a new file)
    -I, --max-item-size=SIZE    largest item, e.g. 1m, 512k (default: the file's, 1m for a new file)
    -M, --disable-evictions     answer out of memory instead of evicting
    -c, --conn-limit=NUM        simultaneous connections per process (default 1024)
    -t, --threads=NUM           with --engine native: loop threads in one process (memcached's
                                meaning); with --engine js: server processes sharing the store
                                and the port (default 1); a crashed one is restarted after
                                100 ms, doubling to 30 s while it keeps crashing; 5 crashes in a
                                row within 5 s of starting stop the server (exit 1)
        --engine=native|js      who serves connections: native epoll threads, or the JS event
                                loop (default: native with -t 1, js with -t N > 1;
                                -Z/TLS always uses js)
    -v, --verbose               log connections (-vv, -vvv accepted)
    -s, --unix-socket=PATH      listen on this unix domain socket instead of TCP (an existing
                                socket of this user there is replaced; anything else is refused)
    -a, --unix-mask=MASK        the unix socket's permissions, octal (default 0700)
    -A, --enable-shutdown       allow the shutdown command (it stops the server)
    -R, --max-reqs-per-event=N  commands a connection runs per turn before the others get theirs
                                (default 0: no limit)
    -B, --protocol=NAME         ascii, binary or auto (default: auto, by the first byte)
    -o, --extended=OPTS         lru_crawler (default) or no_lru_crawler: the background crawler
                                that frees expired items; idle_timeout=SECS; modern,
                                slab_reassign, slab_automove[=1] (accepted:
                                they change nothing here)
        --file=PATH             the store file (default ${DEFAULT_PATH}, or $SHMCACHED_FILE)
        --reset                 re-create the store file (everything in it is lost)
        --reset-if-unreadable   if the file is a shmcached store this build cannot read (another
                                layout version, or damaged past recovery), start it cold with a
                                warning instead of exiting (npm start uses this); other files
                                are never touched
        --idle-timeout=SECS     close connections idle this long (default 0: never)
        --file-owner=UID        accept a store file owned by this uid (deliberate sharing)
        --file-mode=MODE        a new store file's mode, e.g. 0660 to share with a group (default
                                0600); an existing file writable beyond it is refused
    -Y, --auth-file=FILE        clients must authenticate (memcached's user:password lines; the
                                file must be 0600 or 0400 and yours): text/meta with a set whose
                                data is "user password", binary with SASL PLAIN when -S is given
    -S, --enable-sasl           binary-protocol SASL PLAIN with the -Y credentials
    -Z, --enable-ssl            TLS on every -l address not prefixed notls:, with
    -o ssl_chain_cert=FILE,ssl_key=FILE[,ssl_ca_cert=FILE][,ssl_verify_mode=0..3]
                                (1 request, 2 require a client certificate signed by the CA)
                                -l takes memcached's list: -l notls:127.0.0.1:11211,127.0.0.1:11212
    -U 0, -u USER               accepted for memcached compatibility (no UDP; runs as the caller)
    -h, --help                  this help
  Prints where it listens and which file it serves (stderr); SIGTERM or SIGINT closes every
  process's store cleanly, so the next start is warm. Exit status: 0 stopped by a signal,
  1 could not run (port in use, permission denied, repeated crashes), 2 bad usage or a store
  file refused by the file rules (docs/security.md).`;

const STATS_USAGE = `usage: shmcached stats [--file PATH | --server HOST:PORT] [--file-owner UID] [SECTION]
  prints memcached's stats sections (STAT lines, then END): from a store's file without a server,
  or from a running server over its protocol
  SECTION: general (default), settings, items, slabs, sizes; with --server also conns,
           detail (the per-prefix dump) and cachedump CLASS LIMIT
        --file=PATH             the store file (default ${DEFAULT_PATH}, or $SHMCACHED_FILE)
        --server=HOST:PORT      ask a running server (shmcached or memcached) instead
        --file-owner=UID        accept a store file owned by this uid (deliberate sharing)
    -h, --help                  this help`;

/** Sections `shmcached stats` reads from a store file, and those only a running server has. */
const FILE_SECTIONS = new Set(['general', 'settings', 'items', 'slabs', 'sizes']);
const SERVER_SECTIONS = new Set(['conns', 'detail', 'cachedump']);

/** Sends one `stats` command line to HOST:PORT and resolves with its reply (through END or one other line). */
function askServer(target: string, line: string): Promise<string> {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(target);
  if (!m) throw new UsageError(`--server needs HOST:PORT, got ${JSON.stringify(target)}`);
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new UsageError(`--server port must be 1-65535, got ${m[3]}`);
  return new Promise((resolve, reject) => {
    const sock = netConnect({ host, port });
    let got = '';
    const done = (r: string): void => {
      sock.destroy();
      resolve(r);
    };
    sock.setTimeout(10_000, () => {
      sock.destroy();
      reject(new RunError(`${target} did not answer "${line}" within 10 s`));
    });
    sock.on('error', (e: NodeJS.ErrnoException) =>
      reject(new RunError(`cannot reach ${target} (${e.code ?? e.message}): is a server listening there?`)),
    );
    sock.on('connect', () => sock.write(`${line}\r\n`));
    sock.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      // memcached's largest stats reply (`stats detail dump`, `stats slabs` at 64 classes) is far
      // below this: past it the peer is not a memcached, and is not buffered without end.
      if (got.length > 16 * 1024 * 1024) {
        sock.destroy();
        reject(new RunError(`${target} sent more than 16 MiB for "${line}" without ending it: is it a memcached server?`));
        return;
      }
      // A stats reply ends with END; anything else is one line (RESET, an error).
      if (got.endsWith('END\r\n') || (!/^(STAT|ITEM|PREFIX) /.test(got) && got.endsWith('\r\n'))) done(got);
    });
    sock.on('close', () => done(got));
  });
}

const USAGE = `usage: shmcached <command> [options]
  serve     memcached's protocols over TCP on a store file (shmcached serve --help)
  stats     print a store's stats from its file, without a server (shmcached stats --help)
  check     verify a store file read-only (shmcached check --help)
  -V, --version                 print the version
  -h, --help                    this help; \`shmcached help <command>\` for a command's`;

/** Bad usage: a flag, value or combination the command does not take (exit 2). */
class UsageError extends Error {}

/** Something on the machine stops the command (port in use, permission denied, ...): one line naming the cause and the fix, exit 1. */
class RunError extends Error {}

function intArg(flag: string, v: string | undefined, min: number, max: number): number {
  if (v === undefined || !/^\d+$/.test(v)) throw new UsageError(`${flag} needs a number, got ${shown(v)}`);
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`${flag} must be from ${min} to ${max}, got ${n}`);
  return n;
}

/** Whether `args` asks for help (`-h` / `--help` anywhere). */
function wantsHelp(args: readonly string[]): boolean {
  return args.some((a) => a === '-h' || a === '--help');
}

/** The ServeOptions fields of type V (exactly: a string field, not a union of literals). */
type Field<V> = {
  [K in keyof ServeOptions]-?: ServeOptions[K] extends V ? (V extends ServeOptions[K] ? K : never) : never;
}[keyof ServeOptions];

/** serve's flags that take a number in a range: the field each sets, and the range. */
const INT_FLAGS = new Map<string, readonly [Field<number> | 'memoryMb' | 'fileOwner', number, number]>([
  ['-p', ['port', 0, 65535]],
  ['-m', ['memoryMb', 1, 1 << 20]],
  ['-c', ['maxConnections', 1, 1 << 20]],
  ['-t', ['threads', 1, 1024]],
  ['-R', ['reqsPerEvent', 0, 0x7fffffff]],
  ['--idle-timeout', ['idleTimeout', 0, 1 << 30]],
  // region-safety (docs/security.md): passed through to Cache.open's allowOwner.
  ['--file-owner', ['fileOwner', 0, 0xfffffffe]],
]);
/** serve's flags without a value: the boolean field each turns on. */
const SWITCH_FLAGS = new Map<string, Field<boolean>>([
  ['-M', 'noEvict'],
  ['-A', 'enableShutdown'],
  ['--reset', 'reset'],
  ['--reset-if-unreadable', 'resetIfUnreadable'],
]);
/** serve's flags that take a non-empty string: the field each sets, and what the value is. */
const TEXT_FLAGS = new Map<string, readonly [Field<string> | 'socketPath', string]>([
  ['-l', ['listen', 'an address']],
  ['-s', ['socketPath', 'a socket path']],
  ['--file', ['file', 'a path']],
]);

/** Applies a flag of the three tables above to `o`; false when `a` is in none of them. */
function takeTableFlag(o: ServeOptions, a: string, v: string | undefined): boolean {
  const int = INT_FLAGS.get(a);
  const on = SWITCH_FLAGS.get(a);
  const text = TEXT_FLAGS.get(a);
  if (int) o[int[0]] = intArg(a, v, int[1], int[2]);
  else if (on) o[on] = true;
  else if (text) {
    if (!v) throw new UsageError(`${a} needs ${text[1]}`);
    o[text[0]] = v;
  } else return false;
  return true;
}

/** A flag's value as a message shows it. */
const shown = (v: string | undefined): string => (v === undefined ? 'nothing' : JSON.stringify(v));

/** An octal permission value matching `re` (`example` in the message when it does not). */
function octalArg(flag: string, v: string | undefined, re: RegExp, example: string): number {
  if (v === undefined || !re.test(v)) throw new UsageError(`${flag} needs an octal ${example}, got ${shown(v)}`);
  return parseInt(v, 8);
}

/**
 * The store file when no --file is given: $SHMCACHED_FILE, or the default when it is unset or
 * empty (the shell's `${SHMCACHED_FILE:-...}`; an empty path names no file).
 */
function storeFromEnv(): string {
  return process.env.SHMCACHED_FILE || DEFAULT_PATH;
}

/**
 * memcached 1.6.45's `-o` settings that change nothing there either: `modern` ("currently no new
 * defaults": 1.6's defaults already are the modern ones), `inline_ascii_resp` and
 * `no_inline_ascii_resp` (kept for old command lines). Taken, and ignored, for compatibility.
 */
const MEMCACHED_NO_OPS: readonly string[] = ['modern', 'inline_ascii_resp', 'no_inline_ascii_resp'];

/**
 * memcached 1.6.45's other `-o` settings (memcached.c's subopts_tokens, without TLS, proxy or
 * extstore): each changes memcached's slab, LRU, hashing, logging or privilege behaviour, which
 * shmcached does not have, so each is refused with its own one line rather than ignored.
 */
const MEMCACHED_NOT_IMPLEMENTED: readonly string[] = [
  'maxconns_fast',
  'no_maxconns_fast',
  'hashpower',
  'no_hashexpand',
  'slab_reassign', // with a value; bare, it is already on (taken above)
  'no_slab_reassign',
  'slab_automove', // =0 or =2; bare or =1 is already on (taken above)
  'no_slab_automove',
  'slab_automove_ratio',
  'slab_automove_window',
  'tail_repair_time',
  'hash_algorithm',
  'lru_crawler_sleep',
  'lru_crawler_tocrawl',
  'lru_maintainer',
  'no_lru_maintainer',
  'hot_lru_pct',
  'warm_lru_pct',
  'hot_max_factor',
  'warm_max_factor',
  'temporary_ttl',
  'watcher_logbuf_size',
  'worker_logbuf_size',
  'slab_sizes',
  'slab_chunk_max',
  'track_sizes',
  'no_modern',
  'no_chunked_items',
  'drop_privileges',
  'no_drop_privileges',
  'resp_obj_mem_limit',
  'read_buf_mem_limit',
];

/** Parses `serve`'s flags (memcached's short flags, their long names, `-p11211` and `--port=11211` forms). */
export function parseServeArgs(args: readonly string[]): ServeOptions {
  const o: ServeOptions = {
    port: 11211,
    listen: '127.0.0.1',
    noEvict: false,
    maxConnections: 1024,
    threads: 1,
    verbose: 0,
    file: storeFromEnv(),
    reset: false,
    resetIfUnreadable: false,
    idleTimeout: 0,
    wire: newWireOptions(),
    enableShutdown: false,
    lruCrawler: true,
    reqsPerEvent: 0,
    protocol: 'auto',
    socketMask: 0o700,
  };
  const long: Record<string, string> = {
    '--port': '-p',
    '--listen': '-l',
    '--memory-limit': '-m',
    '--max-item-size': '-I',
    '--disable-evictions': '-M',
    '--conn-limit': '-c',
    '--threads': '-t',
    '--verbose': '-v',
    '--udp-port': '-U',
    '--user': '-u',
    ...WIRE_LONG,
    '--unix-socket': '-s',
    '--unix-mask': '-a',
    '--enable-shutdown': '-A',
    '--max-reqs-per-event': '-R',
    '--protocol': '-B',
    '--extended': '-o',
  };
  const withValue = new Set([
    '-p',
    '-l',
    '-m',
    '-I',
    '-c',
    '-t',
    '-U',
    '-u',
    '-s',
    '-a',
    '-R',
    '-B',
    '-o',
    '--file',
    '--idle-timeout',
    '--engine',
    '--file-owner',
    '--file-mode',
    ...WIRE_WITH_VALUE,
  ]);
  for (let i = 0; i < args.length; i++) {
    let a = args[i];
    if (a === undefined) break;
    let v: string | undefined;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    if (eq > 0) {
      v = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const given = a;
    a = long[a] ?? a;
    // A switch given a value (`--reset=no`, `--verbose=3`) is refused: ignoring the value would
    // do the opposite of what `--reset=no` says.
    if (eq > 0 && !withValue.has(a) && (SWITCH_FLAGS.has(a) || /^-[vMASZ]$/.test(a)))
      throw new UsageError(`${given} takes no value, got ${JSON.stringify(args[i])}`);
    if (/^-v+$/.test(a)) {
      o.verbose += a.length - 1;
      continue;
    }
    if (/^-[plmIctUusaRBYo].+/.test(a)) {
      v = a.slice(2);
      a = a.slice(0, 2);
    }
    if (withValue.has(a) && v === undefined) v = args[++i];
    if (takeTableFlag(o, a, v)) continue;
    switch (a) {
      case '-I':
        if (!v || !/^\d+[kmg]?b?$/i.test(v)) throw new UsageError(`-I needs a size such as 1m or 512k, got ${shown(v)}`);
        // 0, or more bytes than a number holds exactly: named here, not as the library's option.
        try {
          parseSize(v, '-I');
        } catch {
          throw new UsageError(`-I must be from 1k to 64m, got ${shown(v)}`);
        }
        o.itemSizeMax = v;
        break;
      case '-U':
        if (v !== '0') throw new UsageError('-U: UDP is not supported (only -U 0)');
        break;
      case '-u':
        break; // memcached's run-as user: shmcached runs as whoever starts it
      case '-a':
        o.socketMask = octalArg('-a', v, /^0?[0-7]{1,4}$/, 'mask such as 0700') & 0o777;
        break;
      case '-B':
        if (v !== 'ascii' && v !== 'binary' && v !== 'auto') throw new UsageError(`-B takes ascii, binary or auto, got ${shown(v)}`);
        o.protocol = v;
        break;
      case '-o':
        for (const opt of (v ?? '').split(',')) {
          const [name, val] = opt.split('=', 2) as [string, string | undefined];
          if (name === 'lru_crawler') o.lruCrawler = true;
          else if (name === 'no_lru_crawler') o.lruCrawler = false;
          else if (name === 'idle_timeout') o.idleTimeout = intArg('-o idle_timeout', val, 0, 1 << 30);
          else if (MEMCACHED_NO_OPS.includes(name)) {
            // memcached 1.6.45 takes these and changes nothing (see MEMCACHED_NO_OPS); so does shmcached.
          } else if (name === 'slab_reassign' && val === undefined) {
            // Already on: a starving class takes a page from another (core/rebalance.h), and
            // `stats settings` says slab_reassign yes. Old command lines name it; it changes nothing.
          } else if (name === 'slab_automove' && (val === undefined || val === '1')) {
            // Already shmcached's one mode (`stats settings`: slab_automove 1), as bare
            // slab_automove is memcached's; 0 (off) and 2 (aggressive) are not implemented.
          } else if (name.startsWith('ssl_')) {
            try {
              takeWireFlag('-o', opt, o.wire);
            } catch (e) {
              throw e instanceof WireUsageError ? new UsageError(e.message) : e;
            }
          } else if (MEMCACHED_NOT_IMPLEMENTED.includes(name))
            throw new UsageError(
              `-o ${name}: a memcached setting shmcached does not implement (takes lru_crawler, no_lru_crawler, idle_timeout=SECS, modern, ssl_chain_cert, ssl_key, ssl_ca_cert, ssl_verify_mode)`,
            );
          else
            throw new UsageError(
              `-o: unknown option ${JSON.stringify(opt)} (takes lru_crawler, no_lru_crawler, idle_timeout=SECS, modern, ssl_chain_cert, ssl_key, ssl_ca_cert, ssl_verify_mode)`,
            );
        }
        break;
      case '--engine':
        if (v !== 'native' && v !== 'js')
          throw new UsageError(`--engine needs native or js, got ${v === undefined ? 'nothing' : JSON.stringify(v)}`);
        o.engine = v;
        break;
      // region-safety (docs/security.md): passed through to Cache.open's mode.
      case '--file-mode':
        o.fileMode = octalArg('--file-mode', v, /^0?[0-7]{3,4}$/, 'mode such as 0660');
        break;
      default:
        try {
          if (takeWireFlag(a, v, o.wire)) break;
        } catch (e) {
          throw e instanceof WireUsageError ? new UsageError(e.message) : e;
        }
        throw new UsageError(`unknown option ${JSON.stringify(args[i])}`);
    }
  }
  // sockaddr_un holds 107 bytes and a NUL: a longer path can never be listened on.
  if (o.socketPath !== undefined && Buffer.byteLength(o.socketPath) > 107)
    throw new UsageError(`-s: a unix socket path is at most 107 bytes, got ${Buffer.byteLength(o.socketPath)}`);
  try {
    checkWire(o.wire);
    listenersOf(o.listen, o.port, o.wire);
  } catch (e) {
    throw e instanceof WireUsageError ? new UsageError(e.message) : e;
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

/**
 * Checks, before opening it, that the store file can be opened (or created) by this user, so a
 * permission or path problem is one line naming the fix instead of a native error.
 */
function checkStorePath(file: string): void {
  const fix = 'choose another file with --file';
  let st: import('node:fs').Stats | undefined;
  try {
    st = statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES') throw new RunError(`permission denied reaching store file ${file}: fix the directories' permissions, or ${fix}`);
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new RunError(`cannot use store file ${file}: ${(e as Error).message}; ${fix}`);
  }
  if (st !== undefined) {
    if (st.isDirectory()) throw new RunError(`store file ${file} is a directory: give --file the path of a file`);
    try {
      accessSync(file, fsConstants.R_OK | fsConstants.W_OK);
    } catch {
      throw new RunError(
        `permission denied opening store file ${file} (it needs read and write access): run as its owner, fix its mode (chmod/chown), or ${fix}`,
      );
    }
    return;
  }
  const dir = dirname(file);
  let d: import('node:fs').Stats;
  try {
    d = statSync(dir);
  } catch {
    throw new RunError(`cannot create store file ${file}: directory ${dir} does not exist; create it, or ${fix}`);
  }
  if (!d.isDirectory()) throw new RunError(`cannot create store file ${file}: ${dir} is not a directory; ${fix}`);
  try {
    accessSync(dir, fsConstants.W_OK | fsConstants.X_OK);
  } catch {
    throw new RunError(
      `permission denied creating store file ${file} (directory ${dir} is not writable for this user): ${fix}, or fix the directory's permissions`,
    );
  }
}

/**
 * A new store of `mb` MiB must fit in its file system's free space: a store file on tmpfs is
 * sparse, and a write past the free space would kill the server (SIGBUS) instead of failing.
 */
function checkSpace(file: string, mb: number): void {
  let free: number;
  try {
    const st = statfsSync(dirname(file));
    free = st.bavail * st.bsize;
  } catch {
    return; // no statfs here: the open itself reports what goes wrong
  }
  if (mb * 1024 * 1024 > free) {
    throw new RunError(
      `not enough space for a ${mb} MiB store in ${dirname(file)} (${Math.floor(free / (1024 * 1024))} MiB free): choose a smaller -m, free space, or choose another file with --file`,
    );
  }
}

function openStore(o: ServeOptions, reset: boolean): Cache {
  checkStorePath(o.file);
  const exists = existsSync(o.file);
  if (!exists || reset) checkSpace(o.file, o.memoryMb ?? 64);
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
    // A refused create leaves nothing behind (the native open may have made an empty file).
    if (!exists) {
      try {
        if (statSync(o.file).size === 0) unlinkSync(o.file);
      } catch {
        /* not there */
      }
    }
    if (e instanceof CacheError && e.code === 'ERR_BAD_REGION' && /^cannot (open|size|map) /.test(e.message)) {
      // The file system refused: a full /dev/shm needs space; anything else (a read-only mount, a
      // /proc or /sys file that cannot be mapped) needs another file.
      throw new RunError(
        /No space|Cannot allocate memory|File too large|Disk quota/i.test(e.message)
          ? `${e.message}: free space or choose another file with --file (a smaller -m needs less)`
          : `${e.message}: choose another file with --file`,
      );
    }
    if (e instanceof CacheError && e.code === 'ERR_BAD_REGION' && !reset && o.resetIfUnreadable && isStoreFile(o.file)) {
      // The region's messages usually name the file already: say it once.
      const what = e.message.startsWith(`${o.file}: `) ? e.message : `${o.file}: ${e.message}`;
      process.stderr.write(`shmcached: ${what}; starting it cold (--reset-if-unreadable)\n`);
      return openStore(o, true);
    }
    if (e instanceof CacheError && e.code === 'ERR_BAD_REGION' && /^cannot reset .*process\(es\) have it open/.test(e.message)) {
      // Not a flag problem: a running server (or another program) has the store open.
      throw new RunError(
        `${e.message}: stop them first (a reset would leave them on a store nobody else sees), or choose another file with --file`,
      );
    }
    if (e instanceof CacheError && e.code === 'ERR_BAD_REGION' && exists && !reset && !isStoreFile(o.file)) {
      // Not a store at all: --reset refuses it too (ERR_REGION_FOREIGN), so do not suggest it.
      throw new UsageError(
        `${o.file} is not a shmcached store file (${e.message.replace(`${o.file}: `, '').replace(/ \(open with reset.*\)$/, '')}); it is never written: choose another file with --file`,
      );
    }
    if (e instanceof CacheError && (e.code === 'ERR_BAD_REGION' || e.code === 'ERR_REGION_MISMATCH')) {
      // An existing store that differs from the flags, or flags no store can have (-I > -m / 2).
      throw new UsageError(
        exists && !reset
          ? `${e.message.replace(/ \(use reset to re-create it\)$/, '')} (--reset re-creates the store with the options given; everything in it is lost)`
          : `${e.message}: choose -m and -I that fit together`,
      );
    }
    if (e instanceof RangeError || e instanceof TypeError) {
      // A size the store cannot have (-I larger than -m allows, ...).
      throw new UsageError(`${e.message} (-m and -I)`);
    }
    // A file the region file rules refuse (docs/security.md): a clear error, never a stack trace.
    if (e instanceof CacheError && e.code.startsWith('ERR_REGION_')) throw new UsageError(`${e.message} [${e.code}]`);
    throw e;
  }
}

/** `host:port`, with IPv6 addresses in brackets. */
function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** One line for a listen error a user can cause (busy port, privileged port, foreign address). */
function listenError(e: NodeJS.ErrnoException, o: ServeOptions): Error {
  if (o.socketPath !== undefined) return socketListenError(e, o.socketPath);
  const where = hostPort(o.listen, o.port);
  switch (e.code) {
    case 'EADDRINUSE':
      return new RunError(`${where} is already in use (another memcached or shmcached?): stop it, or choose another port with -p`);
    case 'EACCES':
    case 'EPERM':
      return new RunError(
        `permission denied listening on ${where} (ports below 1024 need root or CAP_NET_BIND_SERVICE): choose a port above 1023 with -p`,
      );
    case 'EADDRNOTAVAIL':
      return new RunError(
        `cannot listen on ${o.listen}: not an address of this machine; give -l one of its addresses (127.0.0.1, 0.0.0.0, ::1)`,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
      return new RunError(`cannot listen on ${JSON.stringify(o.listen)}: no such host; give -l an IP address (127.0.0.1, 0.0.0.0, ::1)`);
    default:
      return e;
  }
}

/**
 * One line for a failed listen on a -s unix socket path: the native engine's error carries the
 * errno text (no code), node:net's a code (EACCES for a missing directory as well).
 */
function socketListenError(e: NodeJS.ErrnoException, path: string): Error {
  const text = `${e.code ?? ''} ${e.message}`;
  const dir = dirname(path);
  if (/ENOENT|ENOTDIR|No such file|Not a directory/.test(text) || !existsSync(dir))
    return new RunError(`cannot listen on unix socket ${path}: directory ${dir} does not exist; create it, or choose another path with -s`);
  if (/EACCES|EPERM|Permission denied|not permitted/.test(text))
    return new RunError(`permission denied creating unix socket ${path}: choose a path in a directory this user can write with -s`);
  if (/EADDRINUSE|Address already in use/.test(text))
    return new RunError(`${path} is already in use: stop the server there, or choose another path with -s`);
  return new RunError(`cannot listen on unix socket ${path}: ${e.message}; choose another path with -s`);
}

/** What the store open did, in words. */
function openedAs(cache: Cache): string {
  const kind = cache.lastRecovery.kind;
  return kind === 'created'
    ? 'new'
    : kind === 'warm'
      ? 'warm start'
      : kind === 'recovered'
        ? 'recovered after a crash'
        : kind === 'reset'
          ? 'reset, cold start'
          : 'attached';
}

/** The message a `-t N` worker sends its primary once it listens. */
interface ReadyMessage {
  type: 'shmcached:ready';
  address: string;
  port: number;
}

/** The message a `-t N` worker sends its primary when it cannot start: its one error line, for the primary to print. */
interface CannotStartMessage {
  type: 'shmcached:cannot-start';
  line: string;
}

/** A `-t N` worker's exit status when it cannot start (port in use, ...): the primary does not restart it. */
const EXIT_CANNOT_START = 78;

/**
 * Before listening on a unix socket path (docs/security.md's rules for paths we create): nothing
 * there, or a socket of this user left by an earlier run, which is removed. A symbolic link, a
 * file of any other kind, or another user's socket is refused (never followed, never removed).
 */
function prepareSocketPath(path: string): void {
  let st: import('node:fs').Stats;
  try {
    st = lstatSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && isDirectory(dirname(path))) {
      try {
        accessSync(dirname(path), fsConstants.W_OK | fsConstants.X_OK);
      } catch {
        throw new RunError(`permission denied creating unix socket ${path}: choose a path in a directory this user can write with -s`);
      }
      return;
    }
    // Said now, before the store is opened (or created) for a server that cannot listen.
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new RunError(
        `cannot listen on unix socket ${path}: directory ${dirname(path)} does not exist; create it, or choose another path with -s`,
      );
    throw new RunError(`cannot use unix socket path ${path}: ${(e as Error).message}`);
  }
  const uid = typeof process.getuid === 'function' ? process.getuid() : -1;
  if (!st.isSocket()) throw new RunError(`${path} exists and is not a socket: remove it, or choose another path with -s`);
  if (st.uid !== uid) throw new RunError(`${path} is another user's socket (uid ${st.uid}): choose another path with -s`);
  unlinkSync(path);
}

/** Whether `path` is a directory (following links, as bind(2) does). */
function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** -t N: the primary created the socket; its mode is set once it is there (only if it is a socket). */
function fixSocketMode(path: string, mask: number): void {
  try {
    if (lstatSync(path).isSocket()) chmodSync(path, mask);
  } catch {
    // another worker's chmod or a removal meanwhile: nothing to fix
  }
}

/** Reads the -Y auth file and the TLS files; a refusal (docs/security.md, "The wire") is one line, exit 1. */
function readSecurity(o: ServeOptions): ReturnType<typeof serverSecurity> {
  try {
    return serverSecurity(o.wire);
  } catch (e) {
    if (e instanceof CacheError) throw new RunError(`${e.message} [${e.code}]`);
    throw e;
  }
}

/**
 * SIGHUP does not stop the server, as memcached's (its handler only takes note). Node's default
 * would end the process at once, the store left open (the next start a crash recovery, not warm),
 * on a terminal's hangup or a `kill -HUP` meant to reopen logs; `nohup` (SIGHUP ignored) keeps
 * working either way.
 */
function keepOnHangup(): void {
  process.on('SIGHUP', () => undefined);
}

/** Runs one server process until SIGTERM/SIGINT; resolves when it has closed cleanly. */
async function serveOne(o: ServeOptions, reset: boolean): Promise<number> {
  // Signals are taken from the start: one that arrives while the store opens or the port is
  // bound still closes the store cleanly once it is open.
  let stopRequested = false;
  let onStop: (() => void) | undefined;
  const requestStop = (): void => {
    stopRequested = true;
    onStop?.();
  };
  process.on('SIGTERM', requestStop);
  process.on('SIGINT', requestStop);
  keepOnHangup();
  // A worker told to leave by its primary.
  if (cluster.isWorker) process.on('message', (m) => m === 'shmcached:stop' && requestStop());
  const security = readSecurity(o);
  if (o.socketPath !== undefined && !cluster.isWorker) prepareSocketPath(o.socketPath);
  const cache = openStore(o, reset);
  const servers: Server[] = [];
  // -s: one unix socket instead of TCP (memcached's rule); else every -l address (TLS or not).
  const listeners = o.socketPath !== undefined ? [undefined] : listenersOf(o.listen, o.port, o.wire);
  const native = nativeEngine(o);
  for (const l of listeners) {
    const one: Server = createServer({
      ...(native ? { engine: 'native' as const, threads: o.threads } : { engine: 'js' as const }),
      cache,
      maxConnections: o.maxConnections,
      idleTimeout: o.idleTimeout,
      verbose: o.verbose,
      settings: { numThreads: o.threads },
      enableShutdown: o.enableShutdown,
      lruCrawler: o.lruCrawler,
      reqsPerEvent: o.reqsPerEvent,
      protocol: o.protocol,
      ...(security.auth ? { auth: security.auth } : {}),
      ...(l?.tls && security.tls ? { tls: security.tls } : {}),
    });
    one.on('shutdown', () => requestStop());
    if (l?.tls && security.requestOnly) rejectUnverifiedPeers(one);
    servers.push(one);
    try {
      await new Promise<void>((resolve, reject) => {
        one.once('error', reject);
        const done = (): void => {
          one.off('error', reject);
          resolve();
        };
        if (l === undefined) {
          // memcached's -a: the socket is created with the mask's permissions (umask around the bind).
          const old = process.umask(~o.socketMask & 0o777);
          try {
            one.listen(o.socketPath, done);
          } finally {
            process.umask(old);
          }
        } else {
          one.listen(l.port, l.host, done);
        }
      });
    } catch (e) {
      for (const s of servers) s.close();
      cache.close();
      throw listenError(e as NodeJS.ErrnoException, l === undefined ? o : { ...o, listen: l.host, port: l.port });
    }
  }
  const server = servers[0];
  if (server === undefined) throw new Error('serve: no listener was opened (internal error)');
  if (servers.length > 1) {
    // close() on the first closes them all: the stop below waits for every one.
    const closeFirst = server.close.bind(server);
    server.close = (cb?: (err?: Error) => void) => {
      let left = servers.length;
      const one = (): void => {
        if (--left === 0) cb?.();
      };
      closeFirst(one);
      for (const s of servers.slice(1)) s.close(one);
      return server;
    };
  }
  const a = server.address();
  const where = servers
    .map((one, i) => {
      const ai = one.address();
      const tls = o.wire.ssl && listenersOf(o.listen, o.port, o.wire)[i]?.tls ? ' (TLS)' : '';
      return (typeof ai === 'object' && ai !== null ? hostPort(ai.address, ai.port) : String(ai)) + tls;
    })
    .join(', ');
  if (o.socketPath !== undefined && cluster.isWorker) fixSocketMode(o.socketPath, o.socketMask);
  if (cluster.isWorker) {
    if (o.verbose > 0)
      process.stderr.write(`shmcached ${process.pid}: listening on ${where}, store ${o.file} (protection ${cache.protection})\n`);
    if (typeof a === 'object' && a !== null)
      process.send?.({ type: 'shmcached:ready', address: a.address, port: a.port } satisfies ReadyMessage);
  } else {
    const mb = Math.round(Number(cache.stats().limit_maxbytes) / (1024 * 1024));
    process.stderr.write(
      `shmcached: listening on ${where}, serving ${o.file} (${mb} MiB, ${openedAs(cache)}, protection ${cache.protection}), pid ${process.pid}\n`,
    );
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    onStop = (): void => {
      if (stopping) return;
      stopping = true;
      // Stop accepting, end every connection once its replies are out, then close the store
      // (a clean close: a warm restart finds every item).
      const finish = (): void => {
        cache.close();
        resolve(0);
      };
      const force = setTimeout(finish, 3000);
      force.unref();
      server.close(() => {
        clearTimeout(force);
        finish();
      });
    };
    if (stopRequested) onStop();
  });
}

/** Supervision of `-t N` workers (see {@link servePrimary}). */
const RESTART_FIRST_MS = 100;
const RESTART_MAX_MS = 30_000;
/** A worker that ran this long before it died had a working start: its back-off starts over. */
const STABLE_MS = 30_000;
/** A worker that died this soon after it was started crashed "immediately". */
const IMMEDIATE_MS = 5_000;
/** This many immediate crashes in a row of one worker slot: the primary gives up. */
const GIVE_UP_AFTER = 5;

/** Milliseconds as a short human duration. */
function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * `-t N`: the primary creates (or checks) the store, then runs N workers that serve it. A worker
 * that dies is started again after a back-off (100 ms, doubling to 30 s while it keeps dying,
 * back to 100 ms once a worker ran 30 s); after 5 crashes in a row of one slot, each within 5 s
 * of its start, or a worker that cannot start at all (port in use), the primary stops the others
 * and exits 1. SIGTERM/SIGINT stop every worker cleanly (each closes the store) and exit 0.
 */
async function servePrimary(o: ServeOptions): Promise<number> {
  // The files every worker will read are checked once here: a refusal is one line, before the
  // store is created, not one line per worker after it.
  readSecurity(o);
  if (o.socketPath !== undefined) prepareSocketPath(o.socketPath);
  // Signals are taken from the start (see serveOne); until the workers run there is nothing to stop.
  let stopAll: ((code: number) => void) | undefined;
  let signalled = false;
  const onSignal = (): void => {
    signalled = true;
    stopAll?.(0);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  keepOnHangup();
  const first = openStore(o, o.reset);
  const mb = Math.round(Number(first.stats().limit_maxbytes) / (1024 * 1024));
  const opened = openedAs(first);
  first.close();
  let stopping = false;
  let announced = false;
  const ready = new Set<number>();
  /** Each worker's line, if it could not start; only the first worker's is printed. */
  const reasons = new Map<number, string>();
  let said = false;
  const timers = new Set<NodeJS.Timeout>();
  let finish: (code: number) => void = () => undefined;
  const done = new Promise<number>((r) => (finish = r));

  /** Stops every worker (each closes the store cleanly), then resolves `done` with `code`. */
  stopAll = (code: number): void => {
    if (stopping) return;
    stopping = true;
    for (const t of timers) clearTimeout(t);
    timers.clear();
    const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined && !w.isDead());
    let left = workers.length;
    if (left === 0) finish(code);
    for (const w of workers) {
      w!.once('exit', () => --left === 0 && finish(code));
      // A worker that is not listening yet may not have its message listener either (a message
      // then is lost, and it would serve on with the primary waiting for it for ever): it gets
      // SIGTERM, which stops it cleanly once its handler is in (serveOne takes signals before it
      // opens the store) and, before that, ends it with nothing open. So does a worker whose
      // channel is gone (it is exiting).
      if (ready.has(w!.id) && w!.isConnected()) w!.send('shmcached:stop', (err: Error | null) => err && w!.process.kill('SIGTERM'));
      else w!.process.kill('SIGTERM');
    }
    // A worker that has not exited 5 s after its stop (hung in a call, or ignoring SIGTERM) is
    // killed: the primary's exit must not wait on it, and a stop always ends the processes.
    setTimeout(() => {
      for (const w of workers) if (!w!.isDead()) w!.process.kill('SIGKILL');
      finish(code);
    }, 5000).unref();
  };

  interface Slot {
    delay: number;
    immediate: number;
  }
  const spawn = (slot: Slot): void => {
    const started = Date.now();
    const w = cluster.fork({ SHMCACHED_WORKER: '1' });
    w.on('error', () => undefined); // a message to a worker that just died: its 'exit' tells the rest
    w.on('message', (m: ReadyMessage | CannotStartMessage) => {
      if (m?.type === 'shmcached:cannot-start') {
        if (typeof m.line === 'string') reasons.set(w.id, m.line);
        return;
      }
      if (m?.type !== 'shmcached:ready') return;
      ready.add(w.id);
      if (!announced && ready.size >= o.threads) {
        announced = true;
        process.stderr.write(
          `shmcached: listening on ${hostPort(m.address, m.port)} with ${o.threads} processes, serving ${o.file} (${mb} MiB, ${opened}), pid ${process.pid}\n`,
        );
      }
    });
    w.on('exit', (code, signal) => {
      ready.delete(w.id);
      if (stopping) return;
      const how = signal ? `signal ${signal}` : `exit code ${code}`;
      if (code === EXIT_CANNOT_START) {
        // One line in all: the first worker's own reason (it sent it before exiting; every message
        // is in once its channel is closed), and the others are stopped without a word.
        stopAll(1);
        const say = (): void => {
          if (said) return;
          said = true;
          process.stderr.write(reasons.get(w.id) ?? 'shmcached serve: a server process could not start; stopping\n');
        };
        if (w.isConnected()) w.once('disconnect', say);
        else say();
        return;
      }
      const up = Date.now() - started;
      if (up >= STABLE_MS) slot.delay = RESTART_FIRST_MS;
      slot.immediate = up < IMMEDIATE_MS ? slot.immediate + 1 : 0;
      if (slot.immediate >= GIVE_UP_AFTER) {
        process.stderr.write(
          `shmcached: a server process crashed ${GIVE_UP_AFTER} times in a row within ${IMMEDIATE_MS / 1000} s of starting (last: ${how}); giving up: fix the cause (see above) and start again\n`,
        );
        stopAll(1);
        return;
      }
      const delay = slot.delay;
      slot.delay = Math.min(slot.delay * 2, RESTART_MAX_MS);
      process.stderr.write(
        `shmcached: server process ${w.process.pid} exited (${how}) after ${duration(up)}; restarting it in ${duration(delay)}\n`,
      );
      const t = setTimeout(() => {
        timers.delete(t);
        if (!stopping) spawn(slot);
      }, delay);
      timers.add(t);
    });
  };
  if (signalled) return 0;
  for (let i = 0; i < o.threads; i++) spawn({ delay: RESTART_FIRST_MS, immediate: 0 });
  return done;
}

/** `shmcached serve ...` */
export async function serveMain(args: readonly string[]): Promise<number> {
  if (wantsHelp(args)) {
    process.stdout.write(`${SERVE_USAGE}\n`);
    return 0;
  }
  const o = parseServeArgs(args);
  if (o.threads > 1 && cluster.isPrimary && !nativeEngine(o)) return servePrimary(o);
  return serveOne(o, o.reset && !cluster.isWorker);
}

/**
 * Whether serve runs the native loop: never with TLS (-Z needs the JS engine); else as --engine
 * says; by default yes for one process (-t 1), and no for -t N > 1, which keeps its meaning of N
 * supervised processes unless --engine native asks for N loop threads.
 */
function nativeEngine(o: ServeOptions): boolean {
  if (o.wire.ssl) return false;
  return (o.engine ?? (o.threads > 1 ? 'js' : 'native')) === 'native';
}

/** `shmcached stats --server HOST:PORT SECTION`: the server's own reply, with plain newlines. */
async function statsFromServer(server: string, section: string, extra: string[]): Promise<number> {
  const line = section === 'general' ? 'stats' : section === 'detail' ? 'stats detail dump' : ['stats', section, ...extra].join(' ');
  const reply = await askServer(server, line);
  if (!reply.endsWith('END\r\n')) throw new RunError(`${server} answered "${line}" with ${JSON.stringify(reply.trim())}`);
  process.stdout.write(reply.replaceAll('\r\n', '\n'));
  return 0;
}

/** `shmcached stats [--file PATH | --server HOST:PORT] [section]` */
export function statsMain(args: readonly string[]): number | Promise<number> {
  if (wantsHelp(args)) {
    process.stdout.write(`${STATS_USAGE}\n`);
    return 0;
  }
  let file = storeFromEnv();
  let section = 'general';
  let sectionArgs: string[] = [];
  let server: string | undefined;
  let fileOwner: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === undefined) break;
    if (a === '--file') file = args[++i] ?? '';
    else if (a.startsWith('--file=')) file = a.slice(7);
    else if (a === '--server') server = args[++i] ?? '';
    else if (a.startsWith('--server=')) server = a.slice(9);
    else if (a === '--file-owner' || a.startsWith('--file-owner='))
      fileOwner = intArg('--file-owner', a.includes('=') ? a.slice(13) : args[++i], 0, 0xfffffffe);
    else if (FILE_SECTIONS.has(a) || SERVER_SECTIONS.has(a)) {
      section = a;
      if (a === 'cachedump') {
        const cls = intArg('cachedump CLASS', args[++i], 1, 63);
        const limit = intArg('cachedump LIMIT', args[++i], 0, 0xffffffff);
        sectionArgs = [String(cls), String(limit)];
      }
    } else throw new UsageError(`unknown argument ${JSON.stringify(a)}`);
  }
  if (server !== undefined) return statsFromServer(server, section, sectionArgs);
  if (SERVER_SECTIONS.has(section))
    throw new UsageError(`stats ${section} needs a running server: add --server HOST:PORT (a store file has no connections)`);
  if (section === 'sizes') {
    // memcached tracks item sizes only with -o track_sizes; shmcached never does.
    process.stdout.write('STAT sizes_status disabled\nEND\n');
    return 0;
  }
  const group = section as StatsGroup;
  if (!file || !existsSync(file)) throw new UsageError(`no store file at ${JSON.stringify(file)}: give --file the path a server serves`);
  try {
    accessSync(file, fsConstants.R_OK | fsConstants.W_OK);
  } catch {
    throw new RunError(
      `permission denied opening store file ${file} (reading stats attaches to it: read and write access): run as its owner, or fix its mode`,
    );
  }
  let cache: Cache;
  try {
    cache = Cache.open({ path: file, ...(fileOwner !== undefined ? { allowOwner: fileOwner } : {}) });
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new UsageError(`${(e as Error).message}${code?.startsWith('ERR_REGION_') ? ` [${code}]` : ''}`);
  }
  try {
    for (const [k, v] of Object.entries(cache.stats(group))) process.stdout.write(`STAT ${k} ${v}\n`);
    process.stdout.write('END\n');
  } finally {
    cache.close();
  }
  return 0;
}

const COMMANDS = ['serve', 'stats', 'check'];

/** An error message as one line: a newline or CR inside it (a path given with one) is shown escaped. */
function oneLineOf(message: string): string {
  return message.replace(/\r/g, '\\r').replace(/\n/g, '\\n');
}

/** Dispatches `shmcached <command> ...`; resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const who = cmd !== undefined && COMMANDS.includes(cmd) ? `shmcached ${cmd}` : 'shmcached';
  try {
    switch (cmd) {
      case 'serve':
        return await serveMain(rest);
      case 'stats':
        return await statsMain(rest);
      case 'check': {
        let m: { checkMain(args: readonly string[]): Promise<number> | number };
        try {
          m = await import(new URL('./check.js', import.meta.url).href);
        } catch (e) {
          if ((e as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw e;
          process.stderr.write('shmcached check: not available in this build (dist/src/cli/check.js is missing)\n');
          return 2;
        }
        return await m.checkMain(rest);
      }
      case '-V':
      case '--version':
        process.stdout.write(`shmcached ${version()}\n`);
        return 0;
      case 'help':
      case '-h':
      case '--help': {
        // `help --help` is help too.
        const topic = rest[0] === '-h' || rest[0] === '--help' ? undefined : rest[0];
        if (topic !== undefined && COMMANDS.includes(topic)) return await main([topic, '--help']);
        if (topic !== undefined) throw new UsageError(`no command ${JSON.stringify(topic)} (commands: ${COMMANDS.join(', ')})`);
        process.stdout.write(`${USAGE}\n`);
        return 0;
      }
      case undefined:
        process.stderr.write(`${USAGE}\n`);
        return 2;
      default:
        throw new UsageError(
          cmd.startsWith('-')
            ? `unknown option ${JSON.stringify(cmd)}`
            : `unknown command ${JSON.stringify(cmd)} (commands: ${COMMANDS.join(', ')})`,
        );
    }
  } catch (e) {
    const help = who === 'shmcached' ? 'shmcached --help' : `${who} --help`;
    let code: number;
    let line: string;
    if (e instanceof UsageError) {
      line = `${who}: ${oneLineOf(e.message)} (see ${help})\n`;
      code = 2;
    } else if (e instanceof RunError) {
      line = `${who}: ${oneLineOf(e.message)}\n`;
      code = 1;
    } else if (process.env.SHMCACHED_DEBUG === '1') {
      throw e;
    } else {
      // Not a mistake of the user's: still one line, with the way to the stack trace.
      line = `${who}: ${oneLineOf(e instanceof Error ? e.message : String(e))} (an unexpected error: SHMCACHED_DEBUG=1 shows its stack trace)\n`;
      code = 1;
    }
    if (!cluster.isWorker) {
      process.stderr.write(line);
      return code;
    }
    // A -t worker that cannot start hands its line to the primary, which prints the first one
    // alone (N workers failing alike are one line, not N + 1); it is not restarted.
    await tellPrimary({ type: 'shmcached:cannot-start', line } satisfies CannotStartMessage, line);
    return EXIT_CANNOT_START;
  }
}

/** Sends `m` to the primary and waits until it is written; if the channel is gone, `fallback` goes to stderr instead. */
function tellPrimary(m: CannotStartMessage, fallback: string): Promise<void> {
  return new Promise((resolve) => {
    const fail = (): void => {
      process.stderr.write(fallback);
      resolve();
    };
    if (process.send === undefined || !process.connected) return fail();
    try {
      process.send(m, undefined, {}, (err: Error | null) => (err ? fail() : resolve()));
    } catch {
      fail();
    }
  });
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  process.exitCode = await main(process.argv.slice(2));
  // A cluster worker's IPC channel would keep it alive after a clean stop.
  if (cluster.isWorker) process.exit(process.exitCode);
}
