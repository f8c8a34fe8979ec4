/**
 * A real memcached for the benchmarks: started on a free loopback port, stopped at the end (and
 * killed if this process exits first), with a tiny text-protocol client for `stats` and
 * `flush_all`.
 */
import { connect, type Socket } from 'node:net';
import { findPeer } from '../../test/support/peers.js';
import { freePort, spawnListener, type Listener } from './listener.js';

/** A memcached process this benchmark started. */
export interface MemcachedServer {
  readonly port: number;
  /** The memcached process id (for /proc readings such as its resident memory). */
  readonly pid: number;
  /** The command line it runs with. */
  readonly args: readonly string[];
  /** The binary that runs (MEMCACHED_BIN, PATH, ...) and the version its `stats` reports: peers differ by release (1.6.18 answers pipelined gets with one write each, 1.6.45 batches them). */
  readonly bin: string;
  readonly version: string;
  /** `stats [group]` over a fresh connection, as name → value strings. */
  stats(group?: string): Promise<Record<string, string>>;
  /** Sends one text-protocol command and returns the reply up to its final line. */
  command(line: string): Promise<string>;
  stop(): Promise<void>;
}

/** The memcached binary (MEMCACHED_BIN, then PATH, then the usual places), or undefined: the tests' lookup (test/support/peers.ts). */
export function findMemcached(): string | undefined {
  return findPeer('memcached');
}

/** Sends `line` and collects the reply until a line matching `done`. */
export function textCommand(
  port: number,
  line: string,
  done: RegExp = /^(END|OK|ERROR|STORED|DELETED|NOT_FOUND|CLIENT_ERROR.*|SERVER_ERROR.*)\r\n$/m,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect(port, '127.0.0.1');
    let buf = '';
    s.setEncoding('latin1');
    s.once('connect', () => s.write(line.endsWith('\r\n') ? line : `${line}\r\n`));
    s.on('data', (d: string) => {
      buf += d;
      if (done.test(buf)) {
        s.end();
        resolve(buf);
      }
    });
    s.once('error', reject);
    s.setTimeout(10_000, () => {
      s.destroy();
      reject(new Error(`no reply to '${line.trim()}' from port ${port}`));
    });
  });
}

/** Parses `STAT name value` lines. */
export function parseStats(reply: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of reply.split('\r\n')) {
    const m = /^STAT (\S+) (.*)$/.exec(l);
    if (m?.[1] !== undefined) out[m[1]] = m[2] ?? '';
  }
  return out;
}

/** Starts `memcached -U 0 -l 127.0.0.1 -p <free port> ...args` and waits until it accepts connections. */
export async function startMemcached(args: readonly string[]): Promise<MemcachedServer> {
  const bin = findMemcached();
  if (!bin) throw new Error('memcached is not installed (apt-get install memcached, or set MEMCACHED_BIN)');
  let lastErr: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = await freePort();
    const full = ['-U', '0', '-l', '127.0.0.1', '-p', String(port)];
    if (typeof process.getuid === 'function' && process.getuid() === 0) full.push('-u', 'root');
    full.push(...args);
    let server: Listener;
    try {
      server = await spawnListener('memcached', bin, full, port, 5000);
    } catch (e) {
      lastErr = e; // most likely the port was taken meanwhile: try another
      continue;
    }
    const stats = async (group?: string) => parseStats(await textCommand(port, group ? `stats ${group}` : 'stats'));
    let version = 'unknown';
    try {
      version = (await stats()).version ?? version;
    } catch {
      // the version is for the report only
    }
    return {
      port,
      pid: server.pid,
      args: full,
      bin,
      version,
      stats,
      command: (line: string) => textCommand(port, line),
      stop: () => server.stop(),
    };
  }
  throw lastErr instanceof Error ? lastErr : new Error(String(lastErr));
}

/**
 * One text-protocol connection for bulk work: send a batch of pipelined commands, wait for as many
 * replies. Only single-line replies are counted (set/add/delete/incr/touch), plus `stats`.
 */
export class TextConnection {
  private buf = '';
  private waiter: (() => void) | undefined;
  private failure: Error | undefined;

  private constructor(private readonly sock: Socket) {
    sock.setEncoding('latin1');
    sock.setNoDelay(true);
    sock.on('data', (d: string) => {
      this.buf += d;
      this.waiter?.();
    });
    sock.on('error', (e) => {
      this.failure = e;
      this.waiter?.();
    });
    sock.on('close', () => {
      this.failure ??= new Error('memcached closed the connection');
      this.waiter?.();
    });
  }

  /** Connects to 127.0.0.1:port. */
  static connect(port: number): Promise<TextConnection> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => resolve(new TextConnection(s)));
      s.once('error', reject);
    });
  }

  private async until(done: () => boolean): Promise<void> {
    while (!done()) {
      if (this.failure) throw this.failure;
      await new Promise<void>((r) => (this.waiter = r));
      this.waiter = undefined;
    }
  }

  /** Writes `payload` (count commands) and returns their `count` reply lines. */
  async batch(payload: string | Buffer, count: number): Promise<string[]> {
    this.sock.write(payload);
    const lines: string[] = [];
    await this.until(() => {
      let i: number;
      while (lines.length < count && (i = this.buf.indexOf('\r\n')) >= 0) {
        lines.push(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 2);
      }
      return lines.length >= count;
    });
    return lines;
  }

  /** `stats [group]` as name → value. */
  async stats(group?: string): Promise<Record<string, string>> {
    this.sock.write(group ? `stats ${group}\r\n` : 'stats\r\n');
    let end = -1;
    await this.until(() => (end = this.buf.indexOf('END\r\n')) >= 0);
    const reply = this.buf.slice(0, end);
    this.buf = this.buf.slice(end + 5);
    return parseStats(reply);
  }

  close(): void {
    this.sock.destroy();
  }
}
