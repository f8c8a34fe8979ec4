/**
 * One pipelined connection to a memcached-protocol node (text protocol), for {@link Cluster}.
 *
 * Requests are written as soon as they are made (the writes of one tick leave in one `writev`:
 * the socket is corked until the next tick) and replies are matched to requests in order, as
 * memcached answers them. Each request has a deadline; when the oldest unanswered request passes
 * it the connection is declared dead: the socket is destroyed and every request still waiting on
 * it fails, since later replies could no longer be matched to their requests. The owner (a
 * node's pool) hears of every reply and of the death, and keeps the node's health.
 */
import { createConnection, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

import { rangeError } from '../errors.js';
import type { NodeSecurity } from './args.js';
import { ClusterError } from './error.js';

/** What a request's reply looks like. */
export const enum Expect {
  /** One line: STORED, DELETED, a number, TOUCHED, an error line... */
  Line = 0,
  /** `VALUE <key> <flags> <bytes>` blocks, then END (or an error line). */
  Values = 1,
  /** A meta reply: `VA <bytes> <flags>*` and its data block, or one line (HD, EN, NF, EX, an error). */
  Meta = 2,
  /**
   * Lines up to END (`stats`, `lru_crawler metadump`): each line before it is an item whose `key`
   * is the whole line; an error line or `BUSY ...` ends the reply instead. Lines may end in a
   * bare LF (memcached's metadump lines do).
   */
  Lines = 3,
}

/** One `VALUE` block of a retrieval reply. */
export interface RemoteItem {
  /** The key's bytes as a latin1 string (exactly the bytes sent on the wire). */
  key: string;
  flags: number;
  value: Buffer;
}

/**
 * Called once per request: `err` for a dead connection; otherwise the reply's final line
 * (without CRLF; `END` after values) and, for {@link Expect.Values}, the blocks before it.
 */
export type ReplyCallback = (err: Error | undefined, line: string, items: RemoteItem[] | undefined) => void;

/** What a connection tells the pool that owns it. */
export interface ConnOwner {
  /** A complete reply arrived (the node is alive). */
  onReply(): void;
  /** The connection died; `hadWork` says whether requests were waiting (a failure of the node). */
  onDead(conn: NodeConnection, err: ClusterError, hadWork: boolean): void;
}

interface Pending {
  expect: Expect;
  deadline: number;
  items: RemoteItem[] | undefined;
  /** The most VALUE blocks (Values) or lines (Lines) the reply may hold: past it the node is out of step. */
  maxItems: number;
  /** For {@link Expect.Lines}: takes each line as it arrives, instead of the reply's items. */
  onLine: ((line: string) => void) | undefined;
  /** A data block past the connection's `maxValue` was skipped: the reply fails with this error. */
  tooLarge: Error | undefined;
  cb: ReplyCallback;
}

const EMPTY = Buffer.alloc(0);
const LF = 0x0a;
const CRLF = '\r\n';
/**
 * The longest reply line taken from a node: memcached's longest (a VALUE or VA header with a
 * 250-byte key, a metadump line with its key URL-encoded) are under 1 KiB; a node that sends more
 * without a newline is not speaking the protocol, and is not buffered without end.
 */
const MAX_LINE = 64 * 1024;
/**
 * The largest data block a node may announce: memcached's item size limit (`-I`) stops at 1 GiB.
 * A larger length is not the protocol; a smaller one past the connection's `maxValue` is read
 * and dropped, never buffered (see {@link NodeConnection}).
 */
export const MAX_BLOCK = 1024 * 1024 * 1024;
/** Blocks at least this large, read into a buffer of their own, are not copied out of it again. */
const BLOCK_VIEW_MIN = 256 * 1024;
/** ...when that buffer holds at most this much besides the block (its header, the rest of a read). */
const BLOCK_VIEW_SLACK = 128 * 1024;
/** A data length, flags or a CAS unique: plain decimal digits (no sign, no `0x`, no exponent). */
const DIGITS = /^\d{1,20}$/;
const U32_MAX = 0xffffffff;
const U64_MAX = (1n << 64n) - 1n;

/** `s` as an unsigned integer no larger than `max` (max at most 2^53), else -1. */
function uint(s: string | undefined, max: number): number {
  if (s === undefined || !DIGITS.test(s)) return -1;
  const n = Number(s);
  return n <= max ? n : -1;
}

/** True when `s` is a decimal unsigned 64-bit integer (a CAS unique). */
export function isU64(s: string | undefined): s is string {
  return s !== undefined && DIGITS.test(s) && BigInt(s) <= U64_MAX;
}
/** Lines that end an {@link Expect.Lines} reply besides END. */
const LINES_END = /^(ERROR|CLIENT_ERROR|SERVER_ERROR|BUSY)( |$)/;

/** A pipelined text-protocol connection; see the module comment. */
export class NodeConnection {
  readonly #socket: Socket;
  readonly #owner: ConnOwner;
  readonly #node: string;
  readonly #timeoutMs: number;
  #queue: Pending[] = [];
  #head = 0;
  /**
   * Bytes received and not yet parsed, in arrival order, and their total. A reply that cannot be
   * parsed yet waits here as a list: it is joined once, when it can be ({@link #need}), not once
   * per arriving chunk, so a large value costs one copy, not one per chunk.
   */
  #chunks: Buffer[] = [];
  #have = 0;
  /** Bytes that must be buffered before parsing can go on; 0: until a newline arrives. */
  #need = 0;
  /** Bytes of a too-large data block (and its CRLF) still to be dropped as they arrive. */
  #skip = 0;
  /** The largest data block kept; a larger one (up to MAX_BLOCK) is dropped and its reply fails. */
  readonly #maxValue: number;
  #dead = false;
  #corked = false;
  #timer: NodeJS.Timeout | undefined;
  #connected = false;

  /**
   * Opens a connection to `host:port` (over TLS with `security.tls`); requests may be sent at
   * once (they wait for the connect). With `security.auth` the first request is memcached's
   * text-protocol authentication (a `set` whose data is `username password`): a node that
   * refuses it fails every request of the connection with ERR_NODE_AUTH. A data block longer
   * than `maxValue` bytes is dropped as it arrives, never buffered, and its request fails with
   * RangeError ERR_VALUE_TOO_LARGE (the connection stays in step).
   */
  constructor(host: string, port: number, timeoutMs: number, owner: ConnOwner, security: NodeSecurity = {}, maxValue: number = MAX_BLOCK) {
    this.#owner = owner;
    this.#maxValue = maxValue;
    this.#node = `${host}:${port}`;
    this.#timeoutMs = timeoutMs;
    const s = security.tls ? tlsConnect({ host, port, ...security.tls }) : createConnection({ host, port });
    this.#socket = s;
    s.setNoDelay(true);
    s.unref();
    s.on(security.tls ? 'secureConnect' : 'connect', () => (this.#connected = true));
    if (security.auth) {
      const token = Buffer.from(`${security.auth.username} ${security.auth.password}`, 'utf8');
      this.request(`set auth 0 0 ${token.length}\r\n`, token, Expect.Line, (err, line) => {
        if (err === undefined && line !== 'STORED')
          this.#die(new ClusterError('ERR_NODE_AUTH', `${this.#node}: authentication refused (${line})`, this.#node, line));
      });
    }
    s.on('data', (chunk: Buffer) => this.#onData(chunk));
    s.on('error', (err: Error) => this.#die(this.#unreachable(err.message)));
    s.on('close', () => this.#die(this.#unreachable('connection closed by the node')));
  }

  /** Requests waiting for their reply. */
  get pending(): number {
    return this.#queue.length - this.#head;
  }

  /** False once the connection has failed or been closed. */
  get alive(): boolean {
    return !this.#dead;
  }

  /**
   * Sends `line` (a latin1 command line that ends in CRLF) and, for storage commands, `data`
   * followed by CRLF; `cb` gets the reply (or the connection's death). `maxItems` bounds the
   * VALUE blocks ({@link Expect.Values}: the keys asked) or lines ({@link Expect.Lines}) of the
   * reply: a node that sends more is out of step and the connection dies. With `onLine`, the
   * lines of a {@link Expect.Lines} reply go to it as they arrive (nothing is kept for `cb`).
   */
  request(
    line: string,
    data: Buffer | undefined,
    expect: Expect,
    cb: ReplyCallback,
    maxItems = Number.POSITIVE_INFINITY,
    onLine?: (line: string) => void,
  ): void {
    if (this.#dead) {
      cb(this.#unreachable('connection closed'), '', undefined);
      return;
    }
    const s = this.#socket;
    if (!this.#corked) {
      this.#corked = true;
      s.cork();
      process.nextTick(() => {
        this.#corked = false;
        if (!this.#dead) s.uncork();
      });
    }
    s.write(line, 'latin1');
    if (data !== undefined) {
      s.write(data);
      s.write(CRLF, 'latin1');
    }
    if (this.pending === 0) s.ref();
    this.#queue.push({
      expect,
      deadline: Date.now() + this.#timeoutMs,
      items: expect === Expect.Values || expect === Expect.Lines ? [] : undefined,
      maxItems,
      onLine,
      tooLarge: undefined,
      cb,
    });
    if (this.#timer === undefined) this.#arm(this.#timeoutMs);
  }

  /** Closes the connection; requests still waiting fail with ERR_NODE_UNREACHABLE. */
  close(): void {
    this.#die(this.#unreachable('connection closed by the client'));
  }

  #unreachable(why: string): ClusterError {
    return new ClusterError('ERR_NODE_UNREACHABLE', `${this.#node}: ${this.#connected ? '' : 'cannot connect: '}${why}`, this.#node);
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => this.#check(), Math.max(1, ms));
    this.#timer.unref();
  }

  /** The deadline timer: fails the connection if its oldest request is overdue, else re-arms. */
  #check(): void {
    this.#timer = undefined;
    if (this.#dead || this.pending === 0) return;
    const oldest = this.#queue[this.#head];
    if (oldest === undefined) return;
    const left = oldest.deadline - Date.now();
    if (left <= 0) {
      this.#die(new ClusterError('ERR_NODE_TIMEOUT', `${this.#node}: no reply within ${this.#timeoutMs} ms`, this.#node));
    } else {
      this.#arm(left);
    }
  }

  #die(err: ClusterError): void {
    if (this.#dead) return;
    this.#dead = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#socket.destroy();
    const waiting = this.#queue.slice(this.#head);
    this.#queue = [];
    this.#head = 0;
    this.#chunks = [];
    this.#have = 0;
    this.#skip = 0;
    this.#owner.onDead(this, err, waiting.length > 0);
    for (const p of waiting) p.cb(err, '', undefined);
  }

  #onData(data: Buffer): void {
    let chunk = data;
    if (this.#skip > 0) {
      // The rest of a too-large block: dropped as it comes (nothing else is buffered meanwhile).
      if (chunk.length <= this.#skip) {
        this.#skip -= chunk.length;
        if (this.#skip === 0 && chunk.length > 0) this.#afterSkip();
        return;
      }
      chunk = chunk.subarray(this.#skip);
      this.#skip = 0;
      if (!this.#afterSkip()) return;
    }
    let buf = chunk;
    /** True when `buf` was joined here: a large block in it is handed out as a view, not copied again. */
    let joined = false;
    if (this.#have > 0) {
      const total = this.#have + chunk.length;
      if (this.#need > 0 ? total < this.#need : chunk.indexOf(LF) < 0) {
        this.#chunks.push(chunk);
        this.#have = total;
        if (this.#need === 0 && total > MAX_LINE) this.#protocolError(this.#chunks[0] ?? chunk, 0, 'a reply line past 64 KiB');
        return;
      }
      this.#chunks.push(chunk);
      buf = Buffer.concat(this.#chunks, total);
      joined = true;
      this.#chunks = [];
      this.#have = 0;
    }
    this.#need = 0;
    let pos = 0;
    let replies = 0;
    const q = this.#queue;
    while (this.#head < q.length) {
      const p = q[this.#head];
      if (p === undefined) break; // the loop's condition: never
      const eol = buf.indexOf(LF, pos);
      if (eol < 0) {
        if (buf.length - pos > MAX_LINE) {
          this.#protocolError(buf, pos, 'a reply line past 64 KiB');
          return;
        }
        break; // #need 0: until a newline arrives
      }
      // memcached ends metadump lines with a bare LF: Lines replies take either ending.
      const cr = buf[eol - 1] === 0x0d ? 1 : 0;
      if (eol === pos || (cr === 0 && p.expect !== Expect.Lines)) {
        this.#protocolError(buf, pos);
        return;
      }
      const line = buf.toString('latin1', pos, eol - cr);
      if (p.expect === Expect.Values && line.startsWith('VALUE ')) {
        // VALUE <key> <flags> <bytes> [<cas>]: decimal fields, flags 32-bit, cas 64-bit.
        const f = line.split(' ');
        const key = f[1];
        const flags = uint(f[2], U32_MAX);
        const n = uint(f[3], MAX_BLOCK);
        if (!key || flags < 0 || n < 0 || f.length > 5 || (f.length === 5 && !isU64(f[4]))) {
          this.#protocolError(buf, pos);
          return;
        }
        if (p.items!.length >= p.maxItems) {
          this.#protocolError(buf, pos, 'more VALUE blocks than keys asked');
          return;
        }
        const start = eol + 1;
        if (n > this.#maxValue) {
          p.tooLarge ??= this.#tooLarge(n);
          pos = this.#skipBlock(buf, start, n);
          if (this.#skip > 0) break;
          continue;
        }
        if (buf.length < start + n + 2) {
          this.#need = start + n + 2 - pos; // the data block is still on its way
          break;
        }
        if (buf[start + n] !== 0x0d || buf[start + n + 1] !== LF) {
          this.#protocolError(buf, pos);
          return;
        }
        p.items!.push({ key, flags, value: this.#block(buf, start, n, joined) });
        pos = start + n + 2;
        continue;
      }
      if (p.expect === Expect.Meta && line.startsWith('VA ')) {
        // VA <bytes> <flags>*: the data block follows; the reply is the header line and one item.
        const n = uint(line.split(' ', 2)[1], MAX_BLOCK);
        if (n < 0) {
          this.#protocolError(buf, pos);
          return;
        }
        const start = eol + 1;
        if (n > this.#maxValue) {
          p.tooLarge ??= this.#tooLarge(n);
          pos = this.#skipBlock(buf, start, n);
          if (this.#skip > 0) break; // #afterSkip answers it
          this.#head++;
          replies++;
          p.cb(p.tooLarge, line, undefined);
          if (this.#dead) return;
          continue;
        }
        if (buf.length < start + n + 2) {
          this.#need = start + n + 2 - pos;
          break;
        }
        if (buf[start + n] !== 0x0d || buf[start + n + 1] !== LF) {
          this.#protocolError(buf, pos);
          return;
        }
        pos = start + n + 2;
        this.#head++;
        replies++;
        p.cb(undefined, line, [{ key: '', flags: 0, value: this.#block(buf, start, n, joined) }]);
        if (this.#dead) return;
        continue;
      }
      if (p.expect === Expect.Lines && line !== 'END' && !LINES_END.test(line)) {
        if (p.onLine !== undefined) {
          pos = eol + 1;
          p.onLine(line);
          if (this.#dead) return; // it closed us
          continue;
        }
        if (p.items!.length >= p.maxItems) {
          this.#protocolError(buf, pos, `a reply of more than ${p.maxItems} lines`);
          return;
        }
        p.items!.push({ key: line, flags: 0, value: EMPTY });
        pos = eol + 1;
        continue;
      }
      pos = eol + 1;
      this.#head++;
      replies++;
      p.cb(p.tooLarge, line, p.items);
      if (this.#dead) return; // a callback closed us
    }
    if (this.#head === q.length) {
      this.#queue = [];
      this.#head = 0;
      if (pos < buf.length) {
        this.#protocolError(buf, pos);
        return;
      }
      this.#socket.unref();
    } else if (this.#head > 1024 && this.#head * 2 > q.length) {
      this.#queue = q.slice(this.#head);
      this.#head = 0;
    }
    if (pos < buf.length) {
      this.#chunks.push(buf.subarray(pos));
      this.#have = buf.length - pos;
    }
    if (replies > 0) this.#owner.onReply();
  }

  /**
   * The data block at `start` in `buf`, as a Buffer of its own: a copy, except a large block of a
   * buffer joined for it (#need), which is most of that buffer and is handed out as a view (one
   * copy of a big value, not two; what it keeps besides is its header and less than a read).
   */
  #block(buf: Buffer, start: number, n: number, joined: boolean): Buffer {
    if (joined && n >= BLOCK_VIEW_MIN && buf.length - n <= BLOCK_VIEW_SLACK) return buf.subarray(start, start + n);
    return Buffer.from(buf.subarray(start, start + n));
  }

  /** The error of a request whose reply held a data block of `n` bytes, past `maxValue`. */
  #tooLarge(n: number): Error {
    return rangeError(
      'ERR_VALUE_TOO_LARGE',
      `${this.#node} sent a value of ${n} bytes, past this client's maxValueSize (${this.#maxValue}); it was dropped unread`,
    );
  }

  /**
   * Drops the data block of `n` bytes (and its CRLF) that starts at `start` in `buf`: what is there
   * now, and the rest as it arrives (#skip). Returns where parsing goes on (buf.length while
   * bytes are still to come).
   */
  #skipBlock(buf: Buffer, start: number, n: number): number {
    const end = start + n + 2;
    if (end <= buf.length) return end;
    this.#skip = end - buf.length;
    return buf.length;
  }

  /**
   * A skipped block has all come: a meta reply (the block was its whole reply) is answered now.
   * Returns false when the connection died meanwhile.
   */
  #afterSkip(): boolean {
    const p = this.#queue[this.#head];
    if (p !== undefined && p.expect === Expect.Meta) {
      this.#head++;
      p.cb(p.tooLarge, '', undefined);
      if (this.#dead) return false;
      if (this.#head === this.#queue.length) {
        this.#queue = [];
        this.#head = 0;
        this.#socket.unref();
      }
      this.#owner.onReply();
    }
    return !this.#dead;
  }

  #protocolError(buf: Buffer, pos: number, what = 'unexpected bytes from the node'): void {
    const text = JSON.stringify(buf.toString('latin1', pos, Math.min(buf.length, pos + 80)));
    this.#die(new ClusterError('ERR_NODE_UNREACHABLE', `${this.#node}: ${what}: ${text}`, this.#node));
  }
}
