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
/** The largest data block taken from a node: memcached's item size limit (`-I`) stops at 1 GiB. */
const MAX_BLOCK = 1024 * 1024 * 1024;
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
  #dead = false;
  #corked = false;
  #timer: NodeJS.Timeout | undefined;
  #connected = false;

  /**
   * Opens a connection to `host:port` (over TLS with `security.tls`); requests may be sent at
   * once (they wait for the connect). With `security.auth` the first request is memcached's
   * text-protocol authentication (a `set` whose data is `username password`): a node that
   * refuses it fails every request of the connection with ERR_NODE_AUTH.
   */
  constructor(host: string, port: number, timeoutMs: number, owner: ConnOwner, security: NodeSecurity = {}) {
    this.#owner = owner;
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
   * followed by CRLF; `cb` gets the reply (or the connection's death).
   */
  request(line: string, data: Buffer | undefined, expect: Expect, cb: ReplyCallback): void {
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
    this.#owner.onDead(this, err, waiting.length > 0);
    for (const p of waiting) p.cb(err, '', undefined);
  }

  #onData(chunk: Buffer): void {
    let buf = chunk;
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
        // VALUE <key> <flags> <bytes> [<cas>]
        const [, key, flags, bytes] = line.split(' ');
        const n = Number(bytes);
        if (key === undefined || flags === undefined || bytes === undefined || !Number.isInteger(n) || n < 0 || n > MAX_BLOCK) {
          this.#protocolError(buf, pos);
          return;
        }
        const start = eol + 1;
        if (buf.length < start + n + 2) {
          this.#need = start + n + 2 - pos; // the data block is still on its way
          break;
        }
        if (buf[start + n] !== 0x0d || buf[start + n + 1] !== LF) {
          this.#protocolError(buf, pos);
          return;
        }
        p.items!.push({ key, flags: Number(flags), value: Buffer.from(buf.subarray(start, start + n)) });
        pos = start + n + 2;
        continue;
      }
      if (p.expect === Expect.Meta && line.startsWith('VA ')) {
        // VA <bytes> <flags>*: the data block follows; the reply is the header line and one item.
        const n = Number(line.split(' ', 2)[1]);
        if (!Number.isInteger(n) || n < 0 || n > MAX_BLOCK) {
          this.#protocolError(buf, pos);
          return;
        }
        const start = eol + 1;
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
        p.cb(undefined, line, [{ key: '', flags: 0, value: Buffer.from(buf.subarray(start, start + n)) }]);
        if (this.#dead) return;
        continue;
      }
      if (p.expect === Expect.Lines && line !== 'END' && !LINES_END.test(line)) {
        p.items!.push({ key: line, flags: 0, value: EMPTY });
        pos = eol + 1;
        continue;
      }
      pos = eol + 1;
      this.#head++;
      replies++;
      p.cb(undefined, line, p.items);
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

  #protocolError(buf: Buffer, pos: number, what = 'unexpected bytes from the node'): void {
    const text = JSON.stringify(buf.toString('latin1', pos, Math.min(buf.length, pos + 80)));
    this.#die(new ClusterError('ERR_NODE_UNREACHABLE', `${this.#node}: ${what}: ${text}`, this.#node));
  }
}
