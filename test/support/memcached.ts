/**
 * A real memcached for differential tests: starts Debian's `memcached` on a free loopback port
 * and talks to it through a raw socket in the text protocol, reading each reply by memcached's
 * own framing rules (VALUE blocks by their byte counts, so values are binary-safe).
 *
 * Usage:
 *   const mc = await startMemcached(['-m', '64', '-I', '1m']);
 *   await mc.set('k', 'v', { flags: 7 });     // 'STORED'
 *   await mc.get('k');                          // { value: <Buffer 76>, flags: 7 }
 *   await mc.request('incr k 1');               // raw reply bytes: <Buffer "CLIENT_ERROR ...\r\n">
 *   await mc.stop();
 *
 * The memcached binary is `$MEMCACHED_BIN`, else the first `memcached` on PATH, else
 * `/usr/bin/memcached` (see ./peers.ts). When it is missing, {@link memcachedTest} wrappers skip
 * their tests with one printed line per file (the interop lane), unless `SHMCACHED_REQUIRE_PEERS=1`
 * (CI) makes that a failure; {@link startMemcached} itself always throws a loud error.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { freePort, sleep } from './net.js';
import { findPeer, interop, peerReady } from './peers.js';

/** What {@link Memcached.get} and friends return for a hit. */
export interface McItem {
  key: Buffer;
  value: Buffer;
  flags: number;
  /** Present for gets/gats (the item's CAS unique). */
  cas?: bigint;
}

/** One `VALUE` block of a retrieval reply. */
export type McValue = McItem;

export interface McStoreOptions {
  /** exptime (memcached semantics: 0 never, <= 30 days relative, above absolute, negative expired). */
  ttl?: number;
  flags?: number;
}

/** Answer of a storage command. */
export type McStoreReply = 'STORED' | 'NOT_STORED' | 'EXISTS' | 'NOT_FOUND';

/** memcached answered ERROR, CLIENT_ERROR ... or SERVER_ERROR ...; `line` is that line without CRLF. */
export class MemcachedError extends Error {
  readonly line: string;
  constructor(line: string, command: string) {
    super(`memcached answered ${JSON.stringify(line)} to ${JSON.stringify(command)}`);
    this.name = 'MemcachedError';
    this.line = line;
  }
  /** 'ERROR' | 'CLIENT_ERROR' | 'SERVER_ERROR' */
  get kind(): string {
    return this.line.split(' ', 1)[0] ?? ''; // split always yields a first element
  }
}

/** How a reply is framed (which lines end it). */
export type ReplyKind =
  | 'line' // one line: STORED, DELETED, a number, OK, an error...
  | 'values' // VALUE <key> <flags> <bytes> [<cas>]\r\n<data>\r\n ... END
  | 'stats' // STAT/ITEM/PREFIX lines ... END (or one other line: RESET, OK, an error)
  | 'meta' // meta commands: one line, or `VA <bytes> ...\r\n<data>\r\n`
  | 'sync'; // everything up to and including the `MN` answer of an appended `mn` (see requestSync)

const CRLF = Buffer.from('\r\n');
const ERROR_LINE = /^(ERROR|CLIENT_ERROR|SERVER_ERROR)( |$)/;

/** The framing memcached uses for the reply to a command line. */
export function replyKindOf(line: Buffer | string): ReplyKind {
  const text = typeof line === 'string' ? line : line.subarray(0, 64).toString('latin1');
  const cmd = (text.trimStart().split(/[ \r\n]/, 1)[0] ?? '').toLowerCase();
  switch (cmd) {
    case 'get':
    case 'gets':
    case 'gat':
    case 'gats':
      return 'values';
    case 'stats':
      return 'stats';
    case 'mg':
    case 'ms':
    case 'md':
    case 'ma':
    case 'mn':
    case 'me':
      return 'meta';
    default:
      return 'line';
  }
}

interface Pending {
  kind: ReplyKind;
  command: string;
  resolve: (reply: Buffer) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Finds the end of one complete reply of `kind` at the start of `buf`: the byte length of the
 * reply, or -1 while incomplete. Throws on bytes that cannot be a reply of that kind.
 */
export function frameReply(buf: Buffer, kind: ReplyKind): number {
  let pos = 0;
  for (let guard = 0; guard <= buf.length; guard++) {
    const eol = buf.indexOf(CRLF, pos);
    if (eol < 0) return -1;
    const line = buf.toString('latin1', pos, eol);
    const next = eol + 2;
    if (kind === 'line') return next;
    if (kind === 'sync') {
      if (line === 'MN') return next;
      if (line.startsWith('VALUE ') || line.startsWith('VA ')) {
        const n = dataLength(line, line.startsWith('VA ') ? 1 : 3);
        if (buf.length < next + n + 2) return -1;
        pos = next + n + 2;
      } else {
        pos = next;
      }
      continue;
    }
    if (kind === 'meta') {
      if (!line.startsWith('VA ')) return next;
      const n = dataLength(line, 1);
      if (buf.length < next + n + 2) return -1;
      checkDataEnd(buf, next + n, line);
      return next + n + 2;
    }
    if (kind === 'values') {
      if (line.startsWith('VALUE ')) {
        const n = dataLength(line, 3);
        if (buf.length < next + n + 2) return -1;
        checkDataEnd(buf, next + n, line);
        pos = next + n + 2;
        continue;
      }
      // END, or an error line (memcached may send one after some VALUE blocks).
      if (line === 'END' || ERROR_LINE.test(line)) return next;
      throw new Error(`unexpected line in a retrieval reply: ${JSON.stringify(line)}`);
    }
    // stats
    if (line.startsWith('STAT ') || line.startsWith('ITEM ') || line.startsWith('PREFIX ')) {
      pos = next;
      continue;
    }
    return next; // END, RESET, OK, or an error line
  }
  throw new Error('frameReply: no progress');
}

function dataLength(line: string, index: number): number {
  const tok = line.split(' ')[index];
  if (tok === undefined || !/^\d+$/.test(tok)) throw new Error(`bad data length in ${JSON.stringify(line)}`);
  return Number(tok);
}

function checkDataEnd(buf: Buffer, at: number, line: string): void {
  if (buf[at] !== 0x0d || buf[at + 1] !== 0x0a) {
    throw new Error(`data block of ${JSON.stringify(line)} is not followed by CRLF`);
  }
}

/** Parses a `values` reply into its VALUE blocks; throws MemcachedError if it ends in an error line. */
export function parseValues(reply: Buffer, command = 'get'): McValue[] {
  const out: McValue[] = [];
  let pos = 0;
  for (;;) {
    const eol = reply.indexOf(CRLF, pos);
    if (eol < 0) throw new Error(`truncated retrieval reply: ${JSON.stringify(reply.toString('latin1'))}`);
    const line = reply.toString('latin1', pos, eol);
    if (line === 'END') return out;
    if (!line.startsWith('VALUE ')) throw new MemcachedError(line, command);
    // VALUE <key> <flags> <bytes> [<cas>]; a key never contains a space.
    const [, key = '', flags, bytes, cas] = line.split(' ');
    const n = Number(bytes);
    const start = eol + 2;
    // Keep the exact key bytes (latin1 round-trips bytes).
    const item: McValue = {
      key: Buffer.from(key, 'latin1'),
      flags: Number(flags),
      value: Buffer.from(reply.subarray(start, start + n)),
    };
    if (cas !== undefined) item.cas = BigInt(cas);
    out.push(item);
    pos = start + n + 2;
  }
}

/** Parses a `stats` reply: `STAT name value` lines into a record (values stay strings). */
export function parseStats(reply: Buffer, command = 'stats'): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = reply.toString('latin1').split('\r\n');
  for (const line of lines) {
    if (line === '' || line === 'END') continue;
    if (!line.startsWith('STAT ')) throw new MemcachedError(line, command);
    const rest = line.slice(5);
    const sp = rest.indexOf(' ');
    if (sp < 0) out[rest] = '';
    else out[rest.slice(0, sp)] = rest.slice(sp + 1);
  }
  return out;
}

/** True when the command line's last token is `noreply`. */
export function isNoReply(line: Buffer | string): boolean {
  const text = (typeof line === 'string' ? line : line.toString('latin1')).replace(/\r\n$/, '').trimEnd();
  return /(^| )noreply$/.test(text);
}

function toBuf(v: string | Uint8Array): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

function lineText(reply: Buffer): string {
  const s = reply.toString('latin1');
  return s.endsWith('\r\n') ? s.slice(0, -2) : s;
}

/** A text-protocol connection to a memcached. Requests may be pipelined: replies come back in order. */
export class McConnection {
  private buf: Buffer = Buffer.alloc(0);
  private readonly queue: Pending[] = [];
  private closed = false;
  private closeError: Error | undefined;

  /** Per-request limit in milliseconds before a missing reply fails the request (a hang guard only). */
  replyTimeoutMs = 30_000;

  constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.unref();
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(this.closeError ?? new Error('memcached connection closed')));
  }

  static connect(port: number, host = '127.0.0.1'): Promise<McConnection> {
    return new Promise((resolve, reject) => {
      const s = createConnection({ port, host });
      const onErr = (err: Error) => reject(err);
      s.once('error', onErr);
      s.once('connect', () => {
        s.off('error', onErr);
        resolve(new McConnection(s));
      });
    });
  }

  /** Number of requests still waiting for their reply. */
  get pending(): number {
    return this.queue.length;
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (let head = this.queue[0]; head !== undefined; head = this.queue[0]) {
      let n: number;
      try {
        n = frameReply(this.buf, head.kind);
      } catch (err) {
        this.fail(err as Error);
        return;
      }
      if (n < 0) break;
      const reply = Buffer.from(this.buf.subarray(0, n));
      this.buf = this.buf.subarray(n);
      this.queue.shift();
      clearTimeout(head.timer);
      head.resolve(reply);
    }
    if (this.queue.length === 0) {
      this.socket.unref();
      if (this.buf.length > 0) {
        this.fail(new Error(`unsolicited bytes from memcached: ${JSON.stringify(this.buf.toString('latin1', 0, 200))}`));
      }
    }
  }

  private fail(err: Error): void {
    if (!this.closed) this.closeError = err;
    this.closed = true;
    const q = this.queue.splice(0);
    for (const p of q) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.socket.destroy();
  }

  /**
   * Sends `line` (CRLF appended unless it already ends with one) and, for storage commands,
   * `data` followed by CRLF; resolves with the raw bytes of the one reply, framed by `kind`
   * (default: from the command name). Calls may be pipelined. A command ending in `noreply` is
   * fenced with `mn` (see {@link requestSync}) and resolves with whatever memcached sent (usually
   * nothing).
   */
  request(line: string | Buffer, data?: Buffer | string, kind?: ReplyKind): Promise<Buffer> {
    const lineBuf = typeof line === 'string' ? Buffer.from(line, 'latin1') : line;
    const parts: Buffer[] = [lineBuf];
    if (!(lineBuf.length >= 2 && lineBuf[lineBuf.length - 2] === 0x0d && lineBuf[lineBuf.length - 1] === 0x0a)) {
      parts.push(CRLF);
    }
    if (data !== undefined) parts.push(toBuf(data), CRLF);
    if (kind === undefined && isNoReply(lineBuf)) {
      // memcached sends nothing back (except, sometimes, an error): fence with a meta no-op.
      return this.requestSync(Buffer.concat(parts));
    }
    return this.send(Buffer.concat(parts), kind ?? replyKindOf(lineBuf), lineBuf.toString('latin1', 0, 80));
  }

  /** `request`, with the reply as a latin1 string without its final CRLF. */
  async requestText(line: string | Buffer, data?: Buffer | string, kind?: ReplyKind): Promise<string> {
    return lineText(await this.request(line, data, kind));
  }

  /**
   * Sends arbitrary bytes followed by `mn\r\n` (meta no-op) and resolves with every reply line
   * memcached sent before `MN` (VALUE/VA blocks stay whole). For commands whose reply count is not
   * known in advance: `noreply`, malformed input, a data block of the wrong length.
   */
  async requestSync(bytes: Buffer | string): Promise<Buffer> {
    const b = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
    const reply = await this.send(Buffer.concat([b, Buffer.from('mn\r\n')]), 'sync', b.toString('latin1', 0, 80));
    return reply.subarray(0, reply.length - 4);
  }

  /** Writes raw bytes and waits for one reply framed as `kind`. */
  send(bytes: Buffer, kind: ReplyKind, command = '?'): Promise<Buffer> {
    if (this.closed) return Promise.reject(this.closeError ?? new Error('memcached connection closed'));
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(
          new Error(
            `no complete reply to ${JSON.stringify(command)} within ${this.replyTimeoutMs} ms; ` +
              `buffered: ${JSON.stringify(this.buf.toString('latin1', 0, 200))}`,
          ),
        );
      }, this.replyTimeoutMs);
      this.queue.push({ kind, command, resolve, reject, timer });
      this.socket.ref();
      this.socket.write(bytes);
    });
  }

  close(): void {
    if (!this.closed) {
      this.closeError = new Error('memcached connection closed by the client');
      this.fail(this.closeError);
    }
  }

  // ----- typed helpers -----

  private keyLine(parts: Array<string | Uint8Array>): Buffer {
    const bufs: Buffer[] = [];
    parts.forEach((p, i) => {
      if (i > 0) bufs.push(Buffer.from(' '));
      bufs.push(typeof p === 'string' ? Buffer.from(p, 'utf8') : toBuf(p));
    });
    return Buffer.concat(bufs);
  }

  private async lineOf(line: Buffer, data?: Buffer | string): Promise<string> {
    const text = lineText(await this.request(line, data));
    if (ERROR_LINE.test(text)) throw new MemcachedError(text, line.toString('latin1', 0, 80));
    return text;
  }

  private async retrieve(cmd: 'get' | 'gets' | 'gat' | 'gats', keys: Array<string | Uint8Array>, ttl?: number): Promise<McValue[]> {
    const line = this.keyLine(ttl === undefined ? [cmd, ...keys] : [cmd, String(ttl), ...keys]);
    return parseValues(await this.request(line), line.toString('latin1', 0, 80));
  }

  async get(key: string | Uint8Array): Promise<McItem | undefined> {
    return (await this.retrieve('get', [key]))[0];
  }

  async gets(key: string | Uint8Array): Promise<(McItem & { cas: bigint }) | undefined> {
    return (await this.retrieve('gets', [key]))[0] as (McItem & { cas: bigint }) | undefined;
  }

  async gat(ttl: number, key: string | Uint8Array): Promise<McItem | undefined> {
    return (await this.retrieve('gat', [key], ttl))[0];
  }

  async gats(ttl: number, key: string | Uint8Array): Promise<(McItem & { cas: bigint }) | undefined> {
    return (await this.retrieve('gats', [key], ttl))[0] as (McItem & { cas: bigint }) | undefined;
  }

  /** Multi-get; the result is aligned with `keys` (memcached answers hits in request order). */
  async getMulti(keys: Array<string | Uint8Array>, cmd: 'get' | 'gets' = 'get'): Promise<Array<McItem | undefined>> {
    const values = await this.retrieve(cmd, keys);
    const out: Array<McItem | undefined> = [];
    let vi = 0;
    for (const k of keys) {
      const kb = toBuf(k);
      const v = values[vi];
      if (v?.key.equals(kb)) {
        out.push(v);
        vi++;
      } else {
        out.push(undefined);
      }
    }
    if (vi !== values.length) throw new Error(`multi-get: ${values.length - vi} VALUE blocks did not match the requested keys in order`);
    return out;
  }

  private async store(
    cmd: 'set' | 'add' | 'replace' | 'append' | 'prepend',
    key: string | Uint8Array,
    value: string | Uint8Array,
    opts: McStoreOptions = {},
  ): Promise<McStoreReply> {
    const v = toBuf(value);
    const line = this.keyLine([cmd, key, String(opts.flags ?? 0), String(opts.ttl ?? 0), String(v.length)]);
    return (await this.lineOf(line, v)) as McStoreReply;
  }

  set(key: string | Uint8Array, value: string | Uint8Array, opts?: McStoreOptions): Promise<McStoreReply> {
    return this.store('set', key, value, opts);
  }
  add(key: string | Uint8Array, value: string | Uint8Array, opts?: McStoreOptions): Promise<McStoreReply> {
    return this.store('add', key, value, opts);
  }
  replace(key: string | Uint8Array, value: string | Uint8Array, opts?: McStoreOptions): Promise<McStoreReply> {
    return this.store('replace', key, value, opts);
  }
  append(key: string | Uint8Array, value: string | Uint8Array): Promise<McStoreReply> {
    return this.store('append', key, value);
  }
  prepend(key: string | Uint8Array, value: string | Uint8Array): Promise<McStoreReply> {
    return this.store('prepend', key, value);
  }

  async cas(key: string | Uint8Array, value: string | Uint8Array, cas: bigint, opts: McStoreOptions = {}): Promise<McStoreReply> {
    const v = toBuf(value);
    const line = this.keyLine(['cas', key, String(opts.flags ?? 0), String(opts.ttl ?? 0), String(v.length), cas.toString()]);
    return (await this.lineOf(line, v)) as McStoreReply;
  }

  /** true = DELETED, false = NOT_FOUND. */
  async delete(key: string | Uint8Array): Promise<boolean> {
    const r = await this.lineOf(this.keyLine(['delete', key]));
    if (r === 'DELETED') return true;
    if (r === 'NOT_FOUND') return false;
    throw new Error(`unexpected reply to delete: ${r}`);
  }

  private async arith(cmd: 'incr' | 'decr', key: string | Uint8Array, delta: number | bigint | string): Promise<bigint | undefined> {
    const r = await this.lineOf(this.keyLine([cmd, key, String(delta)]));
    if (r === 'NOT_FOUND') return undefined;
    if (!/^\d+$/.test(r)) throw new Error(`unexpected reply to ${cmd}: ${r}`);
    return BigInt(r);
  }

  /** The new value, or undefined for NOT_FOUND; throws MemcachedError (CLIENT_ERROR ...) for a non-numeric value. */
  incr(key: string | Uint8Array, delta: number | bigint | string = 1): Promise<bigint | undefined> {
    return this.arith('incr', key, delta);
  }
  decr(key: string | Uint8Array, delta: number | bigint | string = 1): Promise<bigint | undefined> {
    return this.arith('decr', key, delta);
  }

  /** true = TOUCHED, false = NOT_FOUND. */
  async touch(key: string | Uint8Array, ttl: number): Promise<boolean> {
    const r = await this.lineOf(this.keyLine(['touch', key, String(ttl)]));
    if (r === 'TOUCHED') return true;
    if (r === 'NOT_FOUND') return false;
    throw new Error(`unexpected reply to touch: ${r}`);
  }

  async flushAll(delay?: number): Promise<void> {
    const r = await this.lineOf(Buffer.from(delay === undefined ? 'flush_all' : `flush_all ${delay}`));
    if (r !== 'OK') throw new Error(`unexpected reply to flush_all: ${r}`);
  }

  /** `stats` or `stats <group>` (slabs, items, settings, ...), as name -> value strings. */
  async stats(group?: string): Promise<Record<string, string>> {
    const line = group === undefined ? 'stats' : `stats ${group}`;
    return parseStats(await this.request(line), line);
  }

  async version(): Promise<string> {
    const r = await this.lineOf(Buffer.from('version'));
    return r.replace(/^VERSION /, '');
  }
}

/** A running memcached: its port and process, a default connection (the helpers), and stop(). */
export interface Memcached extends McConnection {
  readonly port: number;
  readonly pid: number;
  readonly args: readonly string[];
  /** Opens another connection to the same server. */
  connect(): Promise<McConnection>;
  /** Closes every connection and terminates the server; idempotent. */
  stop(): Promise<void>;
}

/** memcached pids started here and not yet stopped (killed on process exit as a last resort). */
const running = new Set<number>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of running) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

/**
 * memcached runs under a small watchdog shell, so that it dies with the test process even when
 * that is killed outright (a timeout, SIGKILL): the shell prints memcached's pid, waits for it and
 * exits with its status; a background reader kills it once our end of the shell's stdin closes
 * (stop(), or the death of this process).
 */
const WATCHDOG =
  'exec 3<&0 </dev/null; "$0" "$@" >/dev/null 3<&- & pid=$!; echo "$pid"; ' + '(read -r _ <&3; kill "$pid" 2>/dev/null) & wait "$pid"';

/** The memcached binary to run, or undefined when none is installed. */
export function findMemcached(): string | undefined {
  return findPeer('memcached');
}

/**
 * True when memcached-backed tests are skipped: memcached is absent and `SHMCACHED_REQUIRE_PEERS`
 * is not `1`. A suite's `before` hook checks this so it does not try to start what is not there.
 */
export function skipMemcachedTests(): boolean {
  return !peerReady('memcached');
}

/**
 * The `test` to register memcached-backed tests with (see ./peers.ts {@link interop}): `test`
 * itself when memcached is installed; `test.skip` with one printed `skipped: memcached not
 * installed (<file>)` line when it is not; failing stand-ins when `SHMCACHED_REQUIRE_PEERS=1`.
 */
export function memcachedTest<T extends { skip: unknown }>(test: T, fileUrl: string): T {
  return interop(test, 'memcached', fileUrl);
}

/**
 * Spawns `memcached -U 0 -l 127.0.0.1 -p <free port>` plus `args` (e.g. ['-m','64','-I','1m','-M']),
 * waits until it answers `version`, and returns it. Throws a clear error if the binary is missing
 * or the server does not come up.
 */
export async function startMemcached(args: string[] = [], options: { bin?: string } = {}): Promise<Memcached> {
  let bin = findMemcached();
  if (options.bin !== undefined) {
    try {
      accessSync(options.bin, fsConstants.X_OK);
      bin = options.bin;
    } catch {
      bin = undefined;
    }
  }
  if (bin === undefined) {
    throw new Error('memcached is not installed: apt-get install -y memcached, or set MEMCACHED_BIN=/path/to/memcached');
  }
  installExitHook();
  let lastErr = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const full = ['-U', '0', '-l', '127.0.0.1', '-p', String(port)];
    if (typeof process.getuid === 'function' && process.getuid() === 0) full.push('-u', 'root');
    full.push(...args);
    const child = spawn('/bin/sh', ['-c', WATCHDOG, bin, ...full], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.unref();
    for (const st of [child.stdin, child.stdout, child.stderr]) (st as unknown as { unref?: () => void } | null)?.unref?.();
    let stderr = '';
    let stdout = '';
    let exited: string | undefined;
    let mcPid = -1;
    child.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 4096) stderr += d.toString();
    });
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = /^(\d+)\n/.exec(stdout);
      if (m && mcPid < 0) {
        mcPid = Number(m[1]);
        running.add(mcPid);
      }
    });
    child.stdin!.on('error', () => undefined); // EPIPE once the shell is gone
    child.on('exit', (code, signal) => {
      exited = `exited with ${code ?? signal}`;
      running.delete(mcPid);
    });
    child.on('error', (err) => {
      exited = `failed to start: ${err.message}`;
    });
    // Wait until it accepts connections: bounded, ~10 s at most.
    let conn: McConnection | undefined;
    for (let i = 0; i < 200 && exited === undefined; i++) {
      try {
        conn = await McConnection.connect(port);
        break;
      } catch {
        await sleep(50);
      }
    }
    if (conn === undefined) {
      child.stdin!.end(); // the watchdog kills memcached (if it still runs) and exits
      if (exited === undefined && mcPid > 0) {
        try {
          process.kill(mcPid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      lastErr = `memcached ${full.join(' ')} did not come up (${exited ?? 'no connection after 10 s'}): ${stderr.trim()}`;
      if (/bind|listen|address already in use/i.test(stderr)) continue; // port race: try another
      throw new Error(lastErr);
    }
    await conn.version(); // it speaks the protocol
    for (let i = 0; i < 100 && mcPid < 0; i++) await sleep(10); // the pid line comes first; bounded anyway
    return makeMemcached(conn, child, mcPid, port, full);
  }
  throw new Error(lastErr);
}

function makeMemcached(conn: McConnection, child: ChildProcess, pid: number, port: number, args: string[]): Memcached {
  const extra: McConnection[] = [];
  let stopped = false;
  const mc = conn as Memcached;
  Object.defineProperties(mc, {
    port: { value: port, enumerable: true },
    pid: { value: pid, enumerable: true },
    args: { value: Object.freeze([...args]), enumerable: true },
    connect: {
      value: async () => {
        const c = await McConnection.connect(port);
        extra.push(c);
        return c;
      },
    },
    stop: {
      value: async () => {
        if (stopped) return;
        stopped = true;
        conn.close();
        for (const c of extra) c.close();
        if (child.exitCode === null && child.signalCode === null) {
          const done = new Promise<void>((r) => child.once('exit', () => r()));
          child.stdin!.end(); // the watchdog sends memcached SIGTERM and waits for it
          const t = setTimeout(() => {
            for (const p of [pid, child.pid ?? -1]) {
              try {
                if (p > 0) process.kill(p, 'SIGKILL');
              } catch {
                /* gone */
              }
            }
          }, 5000);
          await done;
          clearTimeout(t);
        }
        running.delete(pid);
      },
    },
  });
  return mc;
}
