/**
 * Hostile clients against a shmcached server started in a child process (./abuse-server.ts), for
 * test/abuse.test.ts (which asserts what each one observes) and bench/abuse.ts (which prints the
 * server's RSS before, during and after each). Every scenario ends by checking that a fresh
 * client is still served, and reports what it saw; none of them asserts a duration.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

/** A server process under test. */
export interface AbuseServer {
  /** Its TCP port (0 when it listens on a unix socket: then `unix` is its path). */
  port: number;
  unix?: string;
  pid: number;
  child: ChildProcess;
  /** Its resident set size now, in KiB (VmRSS of /proc/PID/status). */
  rss(): number;
  /** Its peak resident set size so far, in KiB (VmHWM). */
  peak(): number;
  /** Ends it (SIGTERM) and waits for the exit. */
  stop(): Promise<void>;
}

/** Options of {@link startAbuseServer}. */
export interface AbuseServerOptions {
  path: string;
  size?: string;
  maxConnections?: number;
  idleTimeout?: number;
  /**
   * Run the server with --expose-gc and collect every 100 ms: what is measured is then memory
   * held, not replies written and waiting for the next collection (the JS engine hands each
   * large reply to the socket in a fresh buffer, garbage once written).
   */
  gc?: boolean;
  /** The server's engine; omitted, SHMCACHED_ENGINE decides (createServer's default). */
  engine?: 'js' | 'native';
  /**
   * Listen on this unix socket path, not a TCP port: the kernel's buffers per connection are then
   * small and fixed (net.core.wmem_default), where TCP's autotuning takes a few MiB or not, run
   * to run, so what the server itself holds is what a scenario measures.
   */
  unix?: string;
}

/** VmRSS of a process, in KiB. */
export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/**
 * RssAnon of a process, in KiB: its private memory (heaps, buffers), without the store's shared
 * pages (RssShmem/RssFile), which a scenario that writes values touches on its own.
 */
export function rssAnonKiB(pid: number): number {
  const m = /RssAnon:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** VmHWM of a process (its peak RSS so far), in KiB. */
export function peakRssKiB(pid: number): number {
  const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** Starts ./abuse-server.js in a child process and waits until it listens. */
export function startAbuseServer(opts: AbuseServerOptions): Promise<AbuseServer> {
  const script = fileURLToPath(new URL('./abuse-server.js', import.meta.url));
  const flags = opts.gc ? ['--expose-gc'] : [];
  // The sanitizer lane (libasan preloaded): ASan holds freed memory back (its quarantine, 256 MB)
  // to catch a use after free, and the RSS bounds would count it as held. The server keeps every
  // other check; only reuse is no longer delayed.
  const env = { ...process.env };
  if (/asan/.test(env.LD_PRELOAD ?? '')) env.ASAN_OPTIONS = [env.ASAN_OPTIONS, 'quarantine_size_mb=0'].filter(Boolean).join(':');
  const child = spawn(process.execPath, [...flags, script, JSON.stringify(opts)], { stdio: ['ignore', 'pipe', 'inherit'], env });
  return new Promise((resolve, reject) => {
    let text = '';
    child.once('exit', (code) => reject(new Error(`abuse server exited (${code}) before listening`)));
    child.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
      const nl = text.indexOf('\n');
      if (nl < 0) return;
      const { port, pid } = JSON.parse(text.slice(0, nl)) as { port: number; pid: number };
      child.removeAllListeners('exit');
      resolve({
        port,
        unix: opts.unix,
        pid,
        child,
        rss: () => rssKiB(pid),
        peak: () => peakRssKiB(pid),
        stop: () =>
          new Promise<void>((r) => {
            if (child.exitCode !== null) return r();
            child.once('exit', () => r());
            child.kill('SIGTERM');
          }),
      });
    });
  });
}

/** Runs `body` against a server started as {@link startAbuseServer} does; stops it however the body ends. */
export async function withAbuseServer<T>(opts: AbuseServerOptions, body: (s: AbuseServer) => Promise<T>): Promise<T> {
  const s = await startAbuseServer(opts);
  try {
    return await body(s);
  } finally {
    await s.stop();
  }
}

/** A client connection that records what it receives and whether the server closed it. */
export class Peer {
  received = Buffer.alloc(0);
  closed = false;
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.received = Buffer.concat([this.received, d]);
      this.wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Connects to 127.0.0.1:port. */
  static connect(port: number): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const s = createConnection({ port, host: '127.0.0.1' });
      s.setNoDelay(true);
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new Peer(s));
      });
    });
  }

  /** Waits until pred holds, the connection closes, or guardMs passes (a hang guard, not a measure). */
  async until(pred: (text: string) => boolean, guardMs = 20_000): Promise<string> {
    const deadline = Date.now() + guardMs;
    while (!pred(this.received.toString('latin1')) && !this.closed && Date.now() < deadline) {
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
    return this.received.toString('latin1');
  }

  /** Waits for the server to close the connection (up to guardMs). */
  async untilClosed(guardMs = 20_000): Promise<boolean> {
    await this.until(() => false, guardMs);
    return this.closed;
  }

  /** Sends bytes and waits for a reply ending in `end`. */
  async ask(bytes: string, end = '\r\n'): Promise<string> {
    const from = this.received.length;
    this.socket.write(bytes);
    await this.until((t) => t.length > from && t.endsWith(end));
    return this.received.subarray(from).toString('latin1');
  }

  close(): void {
    this.socket.destroy();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw connection to the server, TCP or unix (its `unix` path), once connected. */
async function dial(s: AbuseServer): Promise<Socket> {
  const sock = s.unix ? createConnection({ path: s.unix }) : createConnection({ port: s.port, host: '127.0.0.1' });
  await new Promise<void>((r, j) => {
    sock.once('connect', r);
    sock.once('error', j);
  });
  sock.on('error', () => undefined);
  return sock;
}

/** Sends bytes on a raw connection and waits until what came back ends with `end`. */
async function rawAsk(sock: Socket, bytes: string, end: string): Promise<string> {
  let got = '';
  const done = new Promise<void>((r) => {
    const on = (d: Buffer) => {
      got += d.toString('latin1');
      if (got.endsWith(end)) {
        sock.off('data', on);
        r();
      }
    };
    sock.on('data', on);
  });
  sock.write(bytes);
  await done;
  return got;
}

/** True when a new connection to port answers `version` (the server is alive and serving others). */
export async function servedFresh(port: number): Promise<boolean> {
  const p = await Peer.connect(port);
  const r = await p.ask('version\r\n');
  p.close();
  return r.startsWith('VERSION ');
}

/** What {@link idleConnections} saw. */
export interface IdleResult {
  opened: number;
  /** The replies of the connections past the limit (each should be memcached's refusal). */
  refused: string[];
  refusedClosed: number;
  /** An early connection still answers after the flood. */
  oldServed: boolean;
  /** After one connection closed, a new one is served. */
  slotReused: boolean;
  rssDuring: number;
}

/**
 * Opens `n` connections (the server's limit) that each prove they are served once (`mn`) and
 * then stay idle, then `excess` more, which must be refused; then checks that an early one still
 * answers and that a freed slot serves a new client.
 */
export async function idleConnections(s: AbuseServer, n: number, excess: number): Promise<IdleResult> {
  const peers: Peer[] = [];
  const batch = 500;
  for (let i = 0; i < n; i += batch) {
    const group = await Promise.all(Array.from({ length: Math.min(batch, n - i) }, () => Peer.connect(s.port)));
    await Promise.all(group.map((p) => p.ask('mn\r\n')));
    peers.push(...group);
  }
  const rssDuring = s.rss();
  const over = await Promise.all(Array.from({ length: excess }, () => Peer.connect(s.port)));
  await Promise.all(over.map((p) => p.untilClosed()));
  const refused = over.map((p) => p.received.toString('latin1'));
  const refusedClosed = over.filter((p) => p.closed).length;
  const [first] = peers;
  const last = peers.pop();
  if (first === undefined || last === undefined) throw new RangeError(`idleConnections needs at least one connection, got ${n}`);
  const oldServed = (await first.ask('version\r\n')).startsWith('VERSION ');
  last.close();
  let slotReused = false;
  for (let i = 0; i < 100 && !slotReused; i++) {
    const p = await Peer.connect(s.port);
    const r = await p.ask('version\r\n');
    slotReused = r.startsWith('VERSION ');
    if (!slotReused) await sleep(20);
    p.close();
  }
  for (const p of peers) p.close();
  return { opened: n, refused, refusedClosed, oldServed, slotReused, rssDuring };
}

/** What {@link slowloris} saw. */
export interface SlowResult {
  /** The client trickling a line that never ends was closed. */
  lineClosed: boolean;
  /** The client trickling a data block that never completes was closed. */
  blockClosed: boolean;
  /** A client sending a whole command every tick, meanwhile: all answered, never closed. */
  activeAnswers: number;
  activeTicks: number;
  activeClosed: boolean;
  rssDuring: number;
}

/**
 * Against a server with an idle timeout: one client sends `get k...` a byte per tick and never a
 * newline, one sends `set k 0 0 100` and then its data a byte per tick, one sends `mn` every tick.
 * Runs until both slow clients are closed (or guardMs).
 */
export async function slowloris(s: AbuseServer, tickMs: number, guardMs: number): Promise<SlowResult> {
  const line = await Peer.connect(s.port);
  const block = await Peer.connect(s.port);
  const active = await Peer.connect(s.port);
  block.socket.write('set k 0 0 100\r\n');
  let ticks = 0;
  let rssDuring = 0;
  const deadline = Date.now() + guardMs;
  while ((!line.closed || !block.closed) && Date.now() < deadline) {
    if (!line.closed) line.socket.write(ticks === 0 ? 'g' : ticks === 1 ? 'e' : ticks === 2 ? 't ' : 'k');
    if (!block.closed) block.socket.write('x');
    await active.ask('mn\r\n', 'MN\r\n');
    ticks++;
    if (ticks === 2) rssDuring = s.rss();
    await sleep(tickMs);
  }
  const answers = active.received.toString('latin1').split('MN\r\n').length - 1;
  const r = {
    lineClosed: line.closed,
    blockClosed: block.closed,
    activeAnswers: answers,
    activeTicks: ticks,
    activeClosed: active.closed,
    rssDuring,
  };
  line.close();
  block.close();
  active.close();
  return r;
}

/** What {@link longLines} saw. */
export interface LongLineResult {
  /** `set ` + 5000 bytes with no newline: closed, with this reply (memcached: none). */
  setLineClosed: boolean;
  setLineReply: string;
  /** A `get` line streamed without a newline: closed after this many bytes were accepted. */
  getLineClosed: boolean;
  getLineSent: number;
  rssDuring: number;
}

/** A non-get line past memcached's 2048 bytes, and a multi-get line streamed up to `getBytes`. */
export async function longLines(s: AbuseServer, getBytes: number): Promise<LongLineResult> {
  const a = await Peer.connect(s.port);
  a.socket.write(`set ${'k'.repeat(5000)}`);
  const setLineClosed = await a.untilClosed();
  const b = await Peer.connect(s.port);
  const chunk = ' key'.repeat(16384);
  let sent = 0;
  b.socket.write('get');
  let rssDuring = 0;
  let wake: (() => void) | undefined;
  const resume = () => wake?.();
  b.socket.on('drain', resume);
  b.socket.on('close', resume);
  while (!b.closed && sent < getBytes) {
    if (!b.socket.write(chunk)) await new Promise<void>((r) => (wake = r));
    sent += chunk.length;
    if (rssDuring === 0 && sent > 8 * 2 ** 20) rssDuring = s.rss();
  }
  const getLineClosed = await b.untilClosed(10_000);
  const r = {
    setLineClosed,
    setLineReply: a.received.toString('latin1'),
    getLineClosed,
    getLineSent: sent,
    rssDuring,
  };
  a.close();
  b.close();
  return r;
}

/** What {@link hugeLengths} saw. */
export interface HugeResult {
  /** `set k 0 0 4294967295` then `version`: the replies (memcached: CLIENT_ERROR, then VERSION). */
  fourGiB: string;
  /** `set k 0 0 2147483645`: the reply before any data was sent. */
  twoGiB: string;
  /** After 64 MiB of data (with command lines inside) for it: nothing answered, still open. */
  swallowedQuiet: boolean;
  /** A 2 MB value, data and a `get k` after it: the replies. */
  tooLarge: string;
  /** A binary set declaring a 4 GiB body: the response status (0x0003 too large). */
  binaryStatus: number;
  rssDuring: number;
}

/** Declared lengths far past the item size: answered at once, data swallowed, nothing that large allocated. */
export async function hugeLengths(s: AbuseServer): Promise<HugeResult> {
  const a = await Peer.connect(s.port);
  const fourGiB = await a.ask('set k 0 0 4294967295\r\nversion\r\n', '\r\n');
  const fourAll = await a.until((t) => /VERSION [^\r]*\r\n$/.test(t));
  const b = await Peer.connect(s.port);
  const twoGiB = await b.ask('set k 0 0 2147483645\r\n');
  const junk = Buffer.alloc(2 ** 20, 'x');
  junk.write('version\r\nget k\r\n', 1000);
  for (let i = 0; i < 64; i++) {
    if (!b.socket.write(junk)) await new Promise((r) => b.socket.once('drain', r));
  }
  const rssDuring = s.rss();
  await sleep(100);
  const swallowedQuiet = b.received.length === twoGiB.length && !b.closed;
  const c = await Peer.connect(s.port);
  const tooLarge = await c.ask(`set k 0 0 2000000\r\n${'v'.repeat(2_000_000)}\r\nget k\r\n`, 'END\r\n');
  const d = await Peer.connect(s.port);
  const hdr = Buffer.alloc(24 + 8 + 1);
  hdr[0] = 0x80;
  hdr[1] = 0x01; // set
  hdr.writeUInt16BE(1, 2); // key length
  hdr[4] = 8; // extras
  hdr.writeUInt32BE(0xffffffff, 8); // body length
  hdr.write('k', 32);
  d.socket.write(hdr);
  await d.until((t) => t.length >= 24);
  const binaryStatus = d.received.length >= 24 ? d.received.readUInt16BE(6) : -1;
  for (const p of [a, b, c, d]) p.close();
  return { fourGiB: fourAll || fourGiB, twoGiB, swallowedQuiet, tooLarge, binaryStatus, rssDuring };
}

/** What {@link nonReader} saw. */
export interface NonReaderResult {
  /** Bytes of `get big` commands the server took in before it stopped reading. */
  acceptedBytes: number;
  /** Bytes of them left queued in the client (the server stopped reading: backpressure). */
  queuedAtClient: number;
  /** Closed by the server (with an idle timeout: no command ran while its replies sat unread). */
  closed: boolean;
  /** Another client was served while it sat there. */
  othersServed: boolean;
  rssDuring: number;
}

/**
 * A client stores a 500 KB value, then pipelines `get big` without ever reading: the server must
 * stop reading it (its replies bounded by the engine's high-water mark and the socket buffers),
 * serve others, and with an idle timeout close it.
 */
export async function nonReader(s: AbuseServer, writeMs: number, waitCloseMs: number): Promise<NonReaderResult> {
  const setup = await Peer.connect(s.port);
  await setup.ask(`set big 0 0 500000\r\n${'b'.repeat(500_000)}\r\n`);
  setup.close();
  const p = await Peer.connect(s.port);
  p.socket.pause(); // never reads
  const gets = 'get big\r\n'.repeat(1000);
  const end = Date.now() + writeMs;
  let written = 0;
  while (Date.now() < end && !p.closed) {
    // Keep about 1 MiB queued on this side: whatever the kernel's buffers hold, the server must
    // take in only what its engine can answer into a bounded output.
    while (p.socket.writableLength < 2 ** 20) {
      p.socket.write(gets);
      written += gets.length;
    }
    await sleep(20);
  }
  const queuedAtClient = p.socket.writableLength;
  const rssDuring = s.rss();
  const othersServed = await servedFresh(s.port);
  const closed = p.closed || (await p.untilClosed(waitCloseMs));
  p.close();
  return { acceptedBytes: written - queuedAtClient, queuedAtClient, closed, othersServed, rssDuring };
}

/** What {@link amplifiedGet} saw. */
export interface AmplifyResult {
  reply: string;
  rssDuring: number;
}

/** One `get` naming a 500 KB value 2,000 times (a 1 GB reply): memcached's out-of-memory answer instead. */
export async function amplifiedGet(s: AbuseServer): Promise<AmplifyResult> {
  const p = await Peer.connect(s.port);
  await p.ask(`set big 0 0 500000\r\n${'b'.repeat(500_000)}\r\n`);
  const from = p.received.length;
  p.socket.write(`get${' big'.repeat(2000)}\r\n`);
  await p.until((t) => t.length > from && t.endsWith('\r\n'));
  const rssDuring = s.rss();
  const reply = p.received.subarray(from).toString('latin1');
  p.close();
  return { reply: reply.length > 200 ? `${reply.slice(0, 200)}...` : reply, rssDuring };
}

/** What {@link dumpNonReaders} saw. */
export interface DumpResult {
  /** Bytes of one whole `lru_crawler metadump all` reply, as a client that reads got it. */
  dumpBytes: number;
  /** Whether that reply ended with END. */
  dumpEnded: boolean;
  /** How much the server's RSS grew (KiB) once `readers` clients asked for the dump and read nothing. */
  grewKiB: number;
  readers: number;
  rssDuring: number;
}

/**
 * `items` keys in the store, then `readers` clients that each ask for `lru_crawler metadump all`
 * and never read: the server must write such a dump a batch at a time as it is taken (memcached
 * streams it through a bounded buffer), not build a copy of every key per connection.
 */
export async function dumpNonReaders(s: AbuseServer, items: number, readers: number): Promise<DumpResult> {
  const fill = await Peer.connect(s.port);
  const key = 'k'.repeat(40);
  let req = '';
  for (let i = 0; i < items; i++) {
    req += `set ${key}${i} 0 0 1 noreply\r\nx\r\n`;
    if (req.length > 60_000) {
      if (!fill.socket.write(req)) await new Promise((r) => fill.socket.once('drain', r));
      req = '';
    }
  }
  await fill.ask(`${req}lru_crawler enable\r\nversion\r\n`);
  fill.close();
  const before = s.rss();
  const idle: Peer[] = [];
  for (let i = 0; i < readers; i++) {
    const p = await Peer.connect(s.port);
    p.socket.pause(); // never reads
    p.socket.write('lru_crawler metadump all\r\n');
    idle.push(p);
  }
  // Let the server take the requests: a settling wait, then a fresh client answered after them.
  await sleep(500);
  await servedFresh(s.port);
  const rssDuring = s.rss();
  for (const p of idle) p.close();
  // The whole dump, counted as it comes (tens of MiB: not joined into one buffer).
  const reader = createConnection({ port: s.port, host: '127.0.0.1' });
  let dumpBytes = 0;
  let tail = '';
  await new Promise<void>((resolve, reject) => {
    const guard = setTimeout(resolve, 60_000); // a hang guard
    reader.on('error', reject);
    reader.on('close', resolve);
    reader.on('data', (d: Buffer) => {
      dumpBytes += d.length;
      tail = (tail + d.toString('latin1')).slice(-16);
      if (tail.endsWith('END\r\n')) {
        clearTimeout(guard);
        resolve();
      }
    });
    reader.write('lru_crawler metadump all\r\n');
  });
  reader.destroy();
  return { dumpBytes, dumpEnded: tail.endsWith('END\r\n'), grewKiB: rssDuring - before, readers, rssDuring };
}

/** What {@link idleAfterLarge} saw. */
export interface IdleAfterLargeResult {
  conns: number;
  /** Connections whose large exchange was answered whole (STORED and three values). */
  answered: number;
  /** How much the server's private memory (RssAnon, KiB) grew with `conns` idle connections that each once did one large exchange. */
  grewKiB: number;
  anonDuring: number;
  /** VmRSS (KiB) at the same moment (the store's shared pages included). */
  rssDuring: number;
}

/**
 * `conns` connections that each once send a `valueBytes` data block and read three copies of
 * it back in one multi-get (their input buffer, the value's staging copy, the output buffer and
 * the unsent rest all grow), then stay open doing nothing: the server must give those buffers
 * back once they are empty (memcached's conn_shrink), not hold them for as long as the
 * connections live.
 */
export async function idleAfterLarge(s: AbuseServer, conns: number, valueBytes: number): Promise<IdleAfterLargeResult> {
  const value = 'v'.repeat(valueBytes);
  const seed = await Peer.connect(s.port);
  await seed.ask(`set big 0 0 ${valueBytes}\r\n${value}\r\n`);
  seed.close();
  await sleep(300);
  const before = rssAnonKiB(s.pid);
  const peers: Peer[] = [];
  const one = `VALUE big 0 ${valueBytes}\r\n${value}\r\n`;
  const whole = `STORED\r\n${one}${one}${one}END\r\n`;
  let answered = 0;
  for (let i = 0; i < conns; i++) {
    const p = await Peer.connect(s.port);
    const r = await p.ask(`set big 0 0 ${valueBytes}\r\n${value}\r\nget big big big\r\n`, 'END\r\n');
    if (r === whole) answered++;
    p.received = Buffer.alloc(0);
    peers.push(p);
  }
  await sleep(500);
  await servedFresh(s.port);
  const anonDuring = rssAnonKiB(s.pid);
  const rssDuring = s.rss();
  for (const p of peers) p.close();
  return { conns, answered, grewKiB: anonDuring - before, anonDuring, rssDuring };
}

/** What {@link bigGetSlowReaders} saw. */
export interface BigGetsResult {
  conns: number;
  /** How much the server's private memory (RssAnon, KiB) grew, once the clients' last pieces were taken in. */
  grewKiB: number;
  /** The most it grew, sampled every 20 ms while the clients ran (a reply being built counts twice while its buffer grows). */
  peakKiB: number;
  /** Bytes of replies the clients read in all. */
  read: number;
  anonDuring: number;
  /** A fresh client was answered afterwards. */
  served: boolean;
}

/**
 * `conns` clients that each pipeline `get big` (a `valueBytes` value) in pieces of `pieceGets`
 * gets, a piece every 50 ms for `rounds` rounds, and read their replies slowly: `readPerRound`
 * bytes a round (0: never). A piece of 8 gets of 500 KB is 4.0 MB of replies, just under the
 * engine's 4 MiB output mark, so it runs whole without the engine yielding; a slow reader lets
 * the unsent replies fall back under the mark while later pieces wait in the socket, and the
 * server then reads them all at once. What a connection can make the server hold is measured
 * here (its unsent replies, its input, one command's reply, and what the allocator keeps of
 * them; the kernel's socket buffers are outside RssAnon).
 */
export async function bigGetSlowReaders(
  s: AbuseServer,
  conns: number,
  valueBytes: number,
  readPerRound: number,
  rounds = 20,
  pieceGets = 8,
  pieceEvery = 1,
  gapMs = 50,
): Promise<BigGetsResult> {
  const seed = await dial(s);
  await rawAsk(seed, `set big 0 0 ${valueBytes}\r\n${'b'.repeat(valueBytes)}\r\n`, '\r\n');
  seed.destroy();
  await sleep(300);
  const before = rssAnonKiB(s.pid);
  let anonPeak = before;
  const sample = setInterval(() => {
    anonPeak = Math.max(anonPeak, rssAnonKiB(s.pid));
  }, 20);
  let read = 0;
  const clients: { sock: Socket; allow: number; got: number }[] = [];
  for (let i = 0; i < conns; i++) {
    const sock = await dial(s);
    sock.pause();
    const c = { sock, allow: 0, got: 0 };
    sock.on('data', (d: Buffer) => {
      c.got += d.length;
      read += d.length;
      if (c.got >= c.allow) sock.pause();
    });
    clients.push(c);
  }
  const piece = 'get big\r\n'.repeat(pieceGets);
  for (let round = 0; round < rounds; round++) {
    for (const c of clients) {
      if (round % pieceEvery === 0) c.sock.write(piece);
      if (readPerRound > 0) {
        c.allow += readPerRound;
        c.sock.resume();
      }
    }
    await sleep(gapMs);
  }
  // Let the server take what it will, then a fresh client answered after them.
  await sleep(300);
  const fresh = await dial(s);
  const served = (await rawAsk(fresh, 'version\r\n', '\r\n')).startsWith('VERSION ');
  fresh.destroy();
  clearInterval(sample);
  const anonDuring = rssAnonKiB(s.pid);
  anonPeak = Math.max(anonPeak, anonDuring);
  for (const c of clients) c.sock.destroy();
  return { conns, grewKiB: anonDuring - before, peakKiB: anonPeak - before, read, anonDuring, served };
}

/** What {@link bigGetsReadLate} saw. */
export interface ReadLateResult {
  /** Replies that arrived whole, byte for byte as expected, in the order asked. */
  matched: number;
  /** Bytes received in all, and how many were expected. */
  received: number;
  expected: number;
  /** Where the first wrong byte arrived (-1: none). */
  firstBad: number;
  /** The server closed the connection afterwards (expected after a half-close). */
  closed: boolean;
}

/**
 * A client pipelines `n` requests `get big<i % 10> n<i>` (ten distinct `valueBytes` values, and
 * a small value naming the request, so order is checked too), waits while the server stalls on
 * unread replies, then reads everything: every reply must arrive whole, byte-exact, in order.
 * halfClose: the client half-closes right after sending (the replies must still all come, then
 * the close).
 */
export async function bigGetsReadLate(s: AbuseServer, n: number, valueBytes: number, halfClose: boolean): Promise<ReadLateResult> {
  const values: Buffer[] = [];
  const seed = await Peer.connect(s.port);
  for (let k = 0; k < 10; k++) {
    const v = Buffer.alloc(valueBytes);
    for (let i = 0; i < valueBytes; i++) v[i] = 0x21 + ((i * 7 + k * 13) % 90);
    values.push(v);
    await seed.ask(`set big${k} 0 0 ${valueBytes}\r\n${v.toString('latin1')}\r\n`);
  }
  let small = '';
  for (let i = 0; i < n; i++) small += `set n${i} 0 0 ${String(i).length} noreply\r\n${i}\r\n`;
  await seed.ask(`${small}version\r\n`);
  seed.close();
  const replies: Buffer[] = [];
  let req = '';
  for (let i = 0; i < n; i++) {
    const k = i % 10;
    req += `get big${k} n${i}\r\n`;
    replies.push(
      Buffer.concat([
        Buffer.from(`VALUE big${k} 0 ${valueBytes}\r\n`),
        values[k]!,
        Buffer.from(`\r\nVALUE n${i} 0 ${String(i).length}\r\n${i}\r\nEND\r\n`),
      ]),
    );
  }
  const expected = replies.reduce((a, r) => a + r.length, 0);
  const sock = createConnection({ port: s.port, host: '127.0.0.1' });
  await new Promise<void>((r, j) => {
    sock.once('connect', r);
    sock.once('error', j);
  });
  sock.on('error', () => undefined);
  sock.pause();
  let matched = 0;
  let at = 0; // offset in replies[matched]
  let received = 0;
  let firstBad = -1;
  const done = new Promise<boolean>((resolve) => {
    const guard = setTimeout(() => resolve(false), 120_000); // a hang guard
    sock.on('data', (d: Buffer) => {
      let o = 0;
      while (o < d.length && firstBad < 0) {
        const want = replies[matched];
        if (!want) {
          firstBad = received + o;
          break;
        }
        const take = Math.min(want.length - at, d.length - o);
        if (d.compare(want, at, at + take, o, o + take) !== 0) {
          firstBad = received + o;
          break;
        }
        o += take;
        at += take;
        if (at === want.length) {
          matched++;
          at = 0;
        }
      }
      received += d.length;
      if (matched === n && !halfClose) {
        clearTimeout(guard);
        resolve(false);
      }
    });
    sock.on('close', () => {
      clearTimeout(guard);
      resolve(true);
    });
  });
  sock.write(req);
  if (halfClose) sock.end();
  await sleep(300); // the server fills its output and stalls on it
  sock.resume();
  const closed = await done;
  sock.destroy();
  return { matched, received, expected, firstBad, closed };
}
