/**
 * `createServer({ cache })`: memcached's wire protocol (text, meta and binary) over TCP on a
 * shmcached store. This module only moves bytes: each chunk read from a socket goes to the
 * connection's native protocol engine in one call (native/proto/), which parses it outside the
 * store's gates, runs the commands through them and returns all their replies at once.
 *
 * Per connection: pipelining (any number of commands per chunk, partial commands kept until the
 * rest arrives), backpressure (a socket whose replies are not being read stops being read), an
 * optional idle timeout; per server: a connection limit answered as memcached does
 * (`ERROR Too many open connections`), and `close()` that also ends open connections.
 *
 * The idle clock is memcached's last_cmd_time: it restarts when a whole command ran (the engine's
 * ProtoState.Ran), not on every byte, so a client trickling a line that never ends (slowloris), a
 * data block that never completes, or replies it never reads is closed once `idleTimeout`
 * passes without a command. One sweep per server checks every connection (memcached's
 * conn_timeout thread), not a timer per socket.
 *
 * Optional authentication (`auth`, memcached's `-Y` / SASL: src/auth.ts) and TLS (`tls`,
 * memcached's `-Z`: a node:tls server); listening beyond loopback with neither prints a warning.
 */
import { createServer as netServer, type Server, type Socket } from 'node:net';
import { createServer as tlsServer, type TlsOptions } from 'node:tls';

import { type AuthOptions, authSpec } from './auth.js';

import { Cache, nativeOf } from './cache.js';
import { CacheError, rangeError, typeError } from './errors.js';
import { ProtoSetting, ProtoSettingFlag, ProtoState } from './contract.js';
import type { ProtoConn, ProtoServer } from './native.js';
import { type HandleWithLoop, LoopEvent, NativeServer } from './server/native.js';
import { defaultEngineSettings, type EngineSettings, engineStats } from './server-stats.js';

/** Options of {@link createServer}. */
export interface ServerOptions {
  /** The open store to serve. The server does not close it. */
  cache: Cache;
  /** Most simultaneous connections (memcached's `-c`, default 1024); more are told so and closed. */
  maxConnections?: number;
  /**
   * Close a connection that ran no whole command for this many seconds (memcached's
   * `-o idle_timeout`: bytes of an unfinished line do not count); 0 = never (default).
   */
  idleTimeout?: number;
  /** Log connections to stderr (memcached's `-v`): 0 none (default), 1 or more: opens and closes. */
  verbose?: number;
  /**
   * Require clients to authenticate (memcached's `-Y` auth file, and `-S` SASL for the binary
   * protocol): `{ file }` or `{ users }`, plus `sasl`. See docs/security.md, "The wire".
   */
  auth?: AuthOptions;
  /**
   * Serve TLS (memcached's `-Z`) with these node:tls server options (`cert`, `key`, `ca`,
   * `requestCert`, ...). For plaintext and TLS side by side, create one server of each on the
   * same cache.
   */
  tls?: TlsOptions;
  /** Facts for `stats settings` the server cannot know itself (e.g. `serve -t`'s process count). */
  settings?: Partial<EngineSettings>;
  /**
   * Allow the `shutdown` command (memcached's `-A`, default false: it answers
   * `SERVER_ERROR: shutdown not enabled`). When a client sends it, the server emits
   * `'shutdown'` (with `'graceful'` for `shutdown graceful`, else `'now'`) and closes.
   */
  enableShutdown?: boolean;
  /**
   * The background expired-item crawler (memcached's `-o lru_crawler` / `no_lru_crawler`),
   * switched at run time by `lru_crawler enable|disable`: every `intervalMs` (default 1000) it
   * runs {@link Cache.crawlExpired} with `lru_crawler tocrawl`'s budget (default 10,000). Default
   * false: off, and `lru_crawler crawl|metadump` answer `CLIENT_ERROR lru crawler disabled`.
   */
  lruCrawler?: boolean | { intervalMs?: number };
  /**
   * Commands one connection runs per turn before yielding to the others (memcached's `-R`): the
   * rest of its input waits for the next turn of the event loop. Default 0: no limit (a chunk read
   * from a socket runs in one native call; memcached's default is 20).
   */
  reqsPerEvent?: number;
  /** Protocols accepted (memcached's `-B`): 'auto' (default, by the first byte), 'ascii' or 'binary'. */
  protocol?: 'auto' | 'ascii' | 'binary';
  /**
   * Who serves the connections. 'js' (default): a node:net server on this thread's event loop,
   * for embedding. 'native': `threads` native threads with their own epoll loops
   * (native/server/), the same protocol engine and gates, returned as a {@link NativeServer}.
   * 'native' with `tls` is a TypeError (code ERR_NATIVE_TLS): TLS is served by the JS path only.
   * When omitted, the environment variable SHMCACHED_ENGINE ('js' | 'native') decides (the test
   * suite runs the server tests with both), else 'js'.
   */
  engine?: 'js' | 'native';
  /** With engine 'native': loop threads (memcached's `-t`, default 1). Ignored by the JS engine. */
  threads?: number;
}

export { NativeServer } from './server/native.js';

/** Every option {@link createServer} reads. */
const SERVER_KEYS = [
  'cache',
  'maxConnections',
  'idleTimeout',
  'verbose',
  'auth',
  'tls',
  'settings',
  'enableShutdown',
  'lruCrawler',
  'reqsPerEvent',
  'protocol',
  'engine',
  'threads',
] as const satisfies readonly (keyof ServerOptions)[];

/**
 * The options, each read exactly once (own or inherited) into a plain object: a getter or Proxy
 * that answers differently on each read cannot pass a check with one value and be used with another.
 */
function readServerOptions(o: ServerOptions): ServerOptions {
  const out: Record<string, unknown> = {};
  for (const k of SERVER_KEYS) out[k] = o[k];
  return out as unknown as ServerOptions;
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** An integer option from min to max (default when undefined): TypeError/RangeError with a code otherwise. */
function intOption(v: unknown, name: string, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number') throw typeError('ERR_INVALID_ARG_TYPE', `options.${name} must be an integer, got ${describe(v)}`);
  if (!Number.isInteger(v) || v < min || v > max)
    throw rangeError('ERR_OUT_OF_RANGE', `options.${name} must be an integer from ${min} to ${max}, got ${v}`);
  return v;
}

/**
 * `options.settings`, checked: each known fact read once and of its default's type (a number: an
 * integer from 0 to 2^32-1; `inter` and `domainSocket`: a string or null; `bindingProtocol`: one
 * of memcached's three), since `stats settings` prints them and the engine takes only strings.
 * Unknown names are ignored, as before.
 */
function engineSettingsOption(v: unknown): Partial<EngineSettings> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null)
    throw typeError('ERR_INVALID_ARG_TYPE', `options.settings must be an object, got ${describe(v)}`);
  const out: Record<string, unknown> = {};
  for (const [k, dflt] of Object.entries(defaultEngineSettings)) {
    const x = (v as Record<string, unknown>)[k];
    if (x === undefined) continue;
    const name = `options.settings.${k}`;
    if (typeof dflt === 'number') {
      if (typeof x !== 'number') throw typeError('ERR_INVALID_ARG_TYPE', `${name} must be a number, got ${describe(x)}`);
      if (!Number.isInteger(x) || x < 0 || x > 0xffffffff)
        throw rangeError('ERR_OUT_OF_RANGE', `${name} must be an integer from 0 to 4294967295, got ${x}`);
    } else if (typeof dflt === 'boolean') {
      if (typeof x !== 'boolean') throw typeError('ERR_INVALID_ARG_TYPE', `${name} must be a boolean, got ${describe(x)}`);
    } else if (k === 'bindingProtocol') {
      if (x !== 'ascii' && x !== 'binary' && x !== 'auto-negotiate')
        throw typeError('ERR_INVALID_ARG_VALUE', `${name} must be 'ascii', 'binary' or 'auto-negotiate', got ${String(x)}`);
    } else if (x !== null && typeof x !== 'string') {
      throw typeError('ERR_INVALID_ARG_TYPE', `${name} must be a string or null, got ${describe(x)}`);
    }
    out[k] = x;
  }
  return out as Partial<EngineSettings>;
}

const CLOSE = ProtoState.Close;
/** close(): how long connections may take to write their last replies before they are dropped. */
const CLOSE_GRACE_MS = 2000;
const MORE = ProtoState.More;
const RAN = ProtoState.Ran;

/** What the idle sweep needs of one connection. */
interface Watched {
  /** The sweep clock's reading when a whole command last ran (or the connection opened). */
  last: number;
  /** Closes the connection (idle). */
  kick: () => void;
}
const SLAB = 256 * 1024;

/**
 * Where replies land: slices of a shared slab (the idea of Node's own Buffer pool). The engine
 * copies each chunk's replies into the next free slice and gets a view of it back, instead of a
 * fresh ArrayBuffer per reply (microseconds each on a busy VM). A slice is never written twice:
 * a reply still queued in a socket stays intact, and a slab lives while any view of it does.
 * Internal: shared by the connections of one server.
 */
export class ReplyPool {
  private slab: Buffer = Buffer.allocUnsafeSlow(SLAB);
  private off = 0;

  /**
   * Feeds chunk (or nothing: runs what is buffered) to conn; its replies, if any. unsent: the
   * socket's replies not written yet (writableLength), counted toward the engine's output mark.
   */
  feed(conn: ProtoConn, chunk?: Uint8Array, unsent = 0): Buffer | undefined {
    let n = conn.feed(chunk, this.slab, this.off, unsent);
    for (let i = 0; n < 0 && i < 4; i++) {
      this.fresh(-n);
      n = conn.feed(undefined, this.slab, this.off, unsent);
    }
    if (n <= 0) return undefined;
    const out = this.slab.subarray(this.off, this.off + n);
    this.off = (this.off + n + 7) & ~7;
    if (this.off > this.slab.length - 512) this.fresh(0);
    return out;
  }

  private fresh(min: number): void {
    this.slab = Buffer.allocUnsafeSlow(Math.max(SLAB, min));
    this.off = 0;
  }
}

/**
 * A `net.Server` that answers memcached's protocols from `options.cache`. Call `.listen(port)` on
 * it as on any server; `close()` stops accepting and ends every open connection once its replies
 * are written, or after 2 s for a client that does not read them (as the native engine).
 */
export function createServer(options: ServerOptions & { engine: 'native' }): NativeServer;
export function createServer(options: ServerOptions): Server;
export function createServer(optionsArg: ServerOptions): Server | NativeServer {
  if (typeof optionsArg !== 'object' || optionsArg === null)
    throw typeError('ERR_INVALID_ARG_TYPE', `createServer(options): options must be an object, got ${describe(optionsArg)}`);
  // Each option read once, then every one checked before anything is made (the auth store).
  const options = readServerOptions(optionsArg);
  if (!(options.cache instanceof Cache)) throw typeError('ERR_INVALID_ARG_TYPE', 'createServer({ cache }): cache must be an open Cache');
  const { cache } = options;
  if (cache.closed) throw new CacheError('ERR_CACHE_CLOSED', 'createServer({ cache }): the cache is closed');
  const maxConns = intOption(options.maxConnections, 'maxConnections', 1024, 1, 0x7fffffff);
  const idleTimeout = options.idleTimeout ?? 0;
  if (typeof idleTimeout !== 'number')
    throw typeError('ERR_INVALID_ARG_TYPE', `options.idleTimeout must be a number of seconds, got ${describe(idleTimeout)}`);
  // memcached's idle_timeout is whole seconds; 0 (or less, as before) is none. The native engine holds a uint32.
  if (Number.isNaN(idleTimeout) || idleTimeout > 0xffffffff)
    throw rangeError('ERR_OUT_OF_RANGE', `options.idleTimeout must be a number of seconds from 0 to 4294967295, got ${idleTimeout}`);
  const idleMs = Math.max(0, idleTimeout) * 1000;
  const verbose = intOption(options.verbose, 'verbose', 0, 0, 0x7fffffff);
  const tlsOpt = options.tls;
  if (tlsOpt !== undefined && (typeof tlsOpt !== 'object' || tlsOpt === null))
    throw typeError('ERR_INVALID_ARG_TYPE', `options.tls must be an object of node:tls server options, got ${describe(tlsOpt)}`);
  const settingsOpt = engineSettingsOption(options.settings);
  const shutdownOpt = options.enableShutdown;
  if (shutdownOpt !== undefined && typeof shutdownOpt !== 'boolean')
    throw typeError('ERR_INVALID_ARG_TYPE', `options.enableShutdown must be a boolean, got ${describe(shutdownOpt)}`);
  const engineOpt = options.engine ?? (process.env.SHMCACHED_ENGINE === 'native' ? 'native' : 'js');
  if (engineOpt !== 'js' && engineOpt !== 'native')
    throw typeError('ERR_INVALID_ARG_VALUE', `options.engine must be 'js' or 'native', got ${String(engineOpt)}`);
  if (engineOpt === 'native' && tlsOpt !== undefined)
    throw Object.assign(new TypeError("engine 'native' does not serve TLS: use engine 'js' with tls"), {
      code: 'ERR_NATIVE_TLS',
    });
  const threads = intOption(options.threads, 'threads', 1, 1, 256);
  const reqs = intOption(options.reqsPerEvent, 'reqsPerEvent', 0, 0, 0x7fffffff);
  const protocol = options.protocol ?? 'auto';
  if (protocol !== 'auto' && protocol !== 'ascii' && protocol !== 'binary')
    throw typeError('ERR_INVALID_ARG_VALUE', `options.protocol must be 'auto', 'ascii' or 'binary', got ${String(protocol)}`);
  const crawlOpt = options.lruCrawler ?? false;
  if (typeof crawlOpt !== 'boolean' && (typeof crawlOpt !== 'object' || crawlOpt === null))
    throw typeError('ERR_INVALID_ARG_TYPE', `options.lruCrawler must be a boolean or { intervalMs }, got ${describe(crawlOpt)}`);
  const crawlMs = typeof crawlOpt === 'object' ? intOption(crawlOpt.intervalMs, 'lruCrawler.intervalMs', 1000, 10, 3_600_000) : 1000;
  let authStore: unknown;
  if (options.auth !== undefined) {
    const spec = authSpec(options.auth);
    const h0 = nativeOf(cache);
    if (h0 === undefined) throw new CacheError('ERR_CACHE_CLOSED', 'createServer({ cache }): the cache is closed');
    authStore = h0.authStore(spec.content, spec.sasl, spec.label);
    spec.content.fill(0);
    if (authStore === null) throw new CacheError('ERR_AUTH_FILE_FORMAT', 'auth: a line is not user:password');
  }
  const sockets = new Set<Socket>();
  const pool = new ReplyPool();
  // The idle sweep: a coarse clock (memcached's current_time) and the connections it watches.
  const watched = new Set<Watched>();
  const idle = { now: Date.now(), watched };
  let sweep: NodeJS.Timeout | undefined;
  // Runs while the server listens (a JS server may listen again after close(), as net.Server).
  const startSweep = (): void => {
    if (idleMs <= 0 || sweep !== undefined) return;
    // `last` may lag a command by up to one tick: a connection goes after idleMs + tick at most.
    const tick = Math.max(50, Math.min(1000, idleMs / 4));
    sweep = setInterval(() => {
      idle.now = Date.now();
      for (const w of watched) if (idle.now - w.last >= idleMs + tick) w.kick();
    }, tick);
    sweep.unref();
  };
  startSweep();
  const facts: EngineSettings = {
    ...defaultEngineSettings,
    ...settingsOpt,
    maxconns: maxConns,
    idleTimeout: idleMs / 1000,
    verbosity: verbose,
  };
  const engine: ProtoServer | undefined = nativeOf(cache)?.protoServer();
  const publish = (): void => {
    const { general, settings } = engineStats(facts);
    engine?.set(general, settings);
  };
  publish();
  // The settings every connection's engine reads and the admin commands change (contract's ProtoSetting).
  const settings = new Int32Array(ProtoSetting.Count);
  settings[ProtoSetting.Flags] =
    (shutdownOpt === true ? ProtoSettingFlag.ShutdownEnabled : 0) |
    (crawlOpt !== false ? ProtoSettingFlag.LruCrawler : 0) |
    (protocol !== 'binary' ? ProtoSettingFlag.Text : 0) |
    (protocol !== 'ascii' ? ProtoSettingFlag.Binary : 0);
  settings[ProtoSetting.CrawlerSleep] = 100;
  settings[ProtoSetting.ReqsPerEvent] = reqs;
  facts.reqsPerEvent = reqs;
  facts.shutdownEnabled = shutdownOpt === true;
  facts.bindingProtocol = protocol === 'auto' ? 'auto-negotiate' : protocol;
  facts.lruCrawler = crawlOpt !== false;
  publish();

  // The background crawler: an interval exists only while the LruCrawler flag is on; `lru_crawler
  // enable` starts it (the engine reports the flip), and a tick that finds the flag off stops it.
  let crawler: NodeJS.Timeout | undefined;
  // settings has ProtoSetting.Count slots: every ProtoSetting index is in range.
  const setting = (i: ProtoSetting): number => settings[i] ?? 0;
  const crawl = (): void => {
    if (!(setting(ProtoSetting.Flags) & ProtoSettingFlag.LruCrawler) || cache.closed) {
      stopCrawler();
      return;
    }
    const budget = setting(ProtoSetting.Tocrawl) > 0 ? setting(ProtoSetting.Tocrawl) : 10_000;
    try {
      cache.crawlExpired(Math.min(budget, 1 << 20));
    } catch {
      // refused (re-entrant) or closed meanwhile: the next tick tries again
    }
  };
  const startCrawler = (): void => {
    if (crawler !== undefined || !(setting(ProtoSetting.Flags) & ProtoSettingFlag.LruCrawler)) return;
    crawler = setInterval(crawl, crawlMs);
    crawler.unref();
  };
  const stopCrawler = (): void => {
    if (crawler !== undefined) clearInterval(crawler);
    crawler = undefined;
  };
  let closed = false;
  let closing = false; // JS engine: between close() and 'close'

  if (engineOpt === 'native') {
    const h = nativeOf(cache) as HandleWithLoop | undefined;
    if (h?.nativeServer === undefined) throw new CacheError('ERR_CACHE_CLOSED', 'createServer({ cache }): the cache is closed');
    const factory = h.nativeServer.bind(h);
    const ns: NativeServer = new NativeServer({
      make: (onEvent) =>
        factory(engine, authStore, settings, threads, maxConns, idleMs / 1000, verbose, (event, arg) => {
          if (event === LoopEvent.Shutdown) settings[ProtoSetting.Shutdown] = 0;
          onEvent(event, arg);
        }),
      onListening: (a) => {
        if (typeof a === 'string') {
          facts.domainSocket = a;
          engine?.listeners([`unix:${a}`]);
        } else {
          facts.tcpport = a.port;
          facts.inter = a.address === '::' || a.address === '0.0.0.0' ? null : a.address;
          engine?.listeners([`tcp:${hostPort(a.address, a.port)}`]);
          if (authStore === undefined && !isLoopback(a.address)) warnOpen(a.address, a.port);
        }
        facts.numThreads = threads;
        facts.accepting = true;
        publish();
        startCrawler();
      },
      onClose: () => {
        stopCrawler();
        facts.accepting = false;
        publish();
      },
      onCrawler: (on) => (on ? startCrawler() : stopCrawler()),
    });
    return ns;
  }

  // TLS: a TCP connection counts against maxConnections from its accept, as in memcached, not
  // from the end of its handshake: a peer that opens connections and never finishes a handshake
  // would otherwise hold descriptors (and TLS state) past the limit. Every TCP connection of a
  // TLS server is in `tcp` until it closes; `handshaking` (by peer address) holds those not yet
  // served, which close() destroys. The idle timeout bounds a handshake too (handshakeTimeout).
  const tcp = new Set<Socket>();
  const handshaking = new Map<string, Set<Socket>>();
  const peerKey = (s: Socket): string => `${s.remoteAddress ?? ''}|${s.remotePort ?? ''}`;
  const onTcp = (raw: Socket): void => {
    raw.on('error', () => undefined);
    if (tcp.size >= maxConns || closed) {
      if (!closed) engine?.rejected();
      raw.destroy(); // no plaintext answer: the peer speaks TLS
      return;
    }
    tcp.add(raw);
    const key = peerKey(raw);
    const set = handshaking.get(key) ?? new Set<Socket>();
    set.add(raw);
    handshaking.set(key, set);
    raw.once('close', () => {
      tcp.delete(raw);
      served(key, raw);
    });
  };
  // The handshake of one of key's connections finished (or it closed): it is no longer handshaking.
  const served = (key: string, raw?: Socket): void => {
    const set = handshaking.get(key);
    if (set === undefined) return;
    const one = raw ?? set.values().next().value;
    if (one !== undefined) set.delete(one);
    if (set.size === 0) handshaking.delete(key);
  };

  const onConnection = (socket: Socket): void => {
    if (tlsOpt !== undefined) {
      served(peerKey(socket)); // admitted at its accept: see onTcp
      // Served from here on: a client that half-closes (its FIN, or TLS close_notify) gets the
      // replies to what it sent, then the close, as on plain TCP (serve's 'end'). Set now, not as
      // a server option: a socket still handshaking keeps Node's default and ends with its peer.
      socket.allowHalfOpen = true;
    } else if (sockets.size >= maxConns) {
      engine?.rejected();
      socket.on('error', () => undefined);
      hangUp(socket, 'ERROR Too many open connections\r\n');
      return;
    }
    const h = nativeOf(cache);
    if (h === undefined) {
      socket.on('error', () => undefined);
      hangUp(socket, 'SERVER_ERROR store closed\r\n');
      return;
    }
    sockets.add(socket);
    if (verbose > 0) process.stderr.write(`<${socket.remoteAddress}:${socket.remotePort} new connection\n`);
    const state = new Int32Array(1);
    const peer = `tcp:${hostPort(socket.remoteAddress, socket.remotePort)}`;
    const local = `tcp:${hostPort(socket.localAddress, socket.localPort)}`;
    serve(
      socket,
      h.protoConn(state, engine, peer, local, authStore, settings),
      state,
      pool,
      sockets,
      idleMs > 0 ? idle : undefined,
      verbose,
      onShutdown,
      onRan,
    );
  };
  // After a command ran: `lru_crawler enable` may have set the flag (one array read).
  const onRan = (): void => {
    if (crawler === undefined && !closed && setting(ProtoSetting.Flags) & ProtoSettingFlag.LruCrawler) startCrawler();
  };
  const server: Server =
    tlsOpt === undefined
      ? netServer({ noDelay: true, allowHalfOpen: true }, onConnection)
      : // No allowHalfOpen here: a client that hangs up mid-handshake would leave a half-open
        // socket that no one ends (it is not served yet), and server.close() would wait forever.
        // A timer holds at most 2^31-1 ms (24.8 days): a longer idleTimeout is that, without
        // Node's TimeoutOverflowWarning on stderr at the first handshake.
        tlsServer({ noDelay: true, ...(idleMs > 0 ? { handshakeTimeout: Math.min(idleMs, 0x7fffffff) } : {}), ...tlsOpt }, onConnection);
  // A failed handshake (an unknown CA, no client certificate, a timeout) ends that socket only.
  if (tlsOpt !== undefined) {
    server.on('connection', onTcp);
    server.on('tlsClientError', (_err: Error, s: Socket) => s.destroy());
  }

  // Redis's protected-mode idea: anyone who can reach a non-loopback port without auth owns the cache.
  const clientCertsRequired = tlsOpt?.requestCert === true && tlsOpt.rejectUnauthorized !== false;
  if (authStore === undefined && !clientCertsRequired) {
    server.on('listening', () => {
      const a = server.address();
      if (typeof a === 'object' && a !== null && !isLoopback(a.address)) warnOpen(a.address, a.port);
    });
  }

  // `stats settings` and `stats conns` follow where the server listens.
  server.on('listening', () => {
    const a = server.address();
    if (a !== null && typeof a === 'object') {
      facts.tcpport = a.port;
      facts.inter = a.address === '::' || a.address === '0.0.0.0' ? null : a.address;
      engine?.listeners([`tcp:${hostPort(a.address, a.port)}`]);
    } else if (typeof a === 'string') {
      facts.domainSocket = a;
      engine?.listeners([`unix:${a}`]);
    }
    facts.accepting = true;
    publish();
    // Listening again after a close(): served as the first time (idle sweep, crawler, TLS accepts).
    closed = false;
    closing = false;
    startSweep();
    startCrawler();
  });
  server.on('close', () => {
    closing = false;
    facts.accepting = false;
    publish();
  });

  // `shutdown` from a client (allowed by enableShutdown): tell the owner, then close.
  function onShutdown(): void {
    const mode = settings[ProtoSetting.Shutdown];
    if (!mode) return;
    settings[ProtoSetting.Shutdown] = 0;
    server.emit('shutdown', mode === 2 ? 'graceful' : 'now');
    server.close();
  }

  // net.Server#close only stops accepting; a memcached shutting down also ends its connections.
  const netClose = server.close.bind(server);
  server.close = (cb?: (err?: Error) => void) => {
    // A second close() while the first is under way waits for the same end, as the native
    // engine's (net.Server's own would call back at once with ERR_SERVER_NOT_RUNNING while
    // connections are still open and the first close() has not finished).
    if (closing) {
      if (cb) server.once('close', () => cb());
      return server;
    }
    if (server.listening) closing = true;
    if (sweep) clearInterval(sweep);
    sweep = undefined;
    closed = true;
    stopCrawler();
    netClose(cb);
    for (const s of sockets) hangUp(s);
    for (const set of handshaking.values()) for (const raw of set) raw.destroy();
    // As the native engine (kStopGraceMs): replies a client does not read are dropped after this,
    // so a peer that never reads cannot hold its descriptor, or close's callback, for ever.
    if (sockets.size > 0) {
      const grace = setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, CLOSE_GRACE_MS);
      grace.unref();
    }
    return server;
  };
  return server;
}

/**
 * Closes a connection as memcached does: the last bytes (if any) and what was written before them
 * go out, nothing more is read, and the descriptor is closed once they are flushed. `end()` alone
 * is a half-close: on a server with allowHalfOpen, a peer that kept its own side open would then
 * hold the descriptor for as long as it liked, sending bytes that are read and dropped.
 */
function hangUp(socket: Socket, last?: string): void {
  if (socket.destroyed || socket.writableEnded) return; // closing already, by this same path
  socket.pause();
  const destroy = (): void => {
    socket.destroy();
  };
  if (last === undefined) socket.end(destroy);
  else socket.end(last, destroy);
}

/** Redis's protected-mode idea: anyone who can reach a non-loopback port without auth owns the cache. */
function warnOpen(address: string, port: number): void {
  process.stderr.write(
    `shmcached: WARNING: listening on ${address}:${port} without authentication: anyone who can reach it can read, change and flush the cache (use auth/-Y, or listen on 127.0.0.1)\n`,
  );
}

/** Whether a listening address only accepts connections from this machine. */
export function isLoopback(address: string): boolean {
  const a = address.replace(/^::ffff:/i, '');
  return /^127\./.test(a) || a === '::1' || a.toLowerCase() === 'localhost';
}

/** memcached's "HOST:PORT" ("[v6]:PORT" for IPv6 addresses). */
function hostPort(host: string | undefined, port: number | undefined): string {
  const h = host ?? '';
  return `${h.includes(':') ? `[${h}]` : h}:${port ?? 0}`;
}

/** Moves one socket's bytes through its engine until either side closes. */
function serve(
  socket: Socket,
  conn: ProtoConn,
  state: Int32Array,
  pool: ReplyPool,
  sockets: Set<Socket>,
  idle: { now: number; watched: Set<Watched> } | undefined,
  verbose: number,
  onShutdown: () => void,
  onRan: () => void,
): void {
  let paused = false;
  let waitingDrain = false;
  let done = false;
  let ended = false; // the client half-closed: answer what it sent, then close
  const watch: Watched = {
    last: idle?.now ?? 0,
    kick: () => {
      if (verbose > 0) process.stderr.write(`<${socket.remoteAddress}:${socket.remotePort} idle timeout\n`);
      finish();
      socket.destroy();
    },
  };

  // The engine is done with the connection: nothing more is fed to it. The socket stays counted
  // (connection limit, idle timeout) until it has really closed: see finish.
  const stop = (): void => {
    if (done) return;
    done = true;
    conn.close();
  };

  // The socket closed: the engine is done and its slot is free.
  let released = false;
  const finish = (): void => {
    stop();
    if (released) return;
    released = true;
    sockets.delete(socket);
    if (idle) idle.watched.delete(watch);
    if (verbose > 0) process.stderr.write(`<${socket.remoteAddress}:${socket.remotePort} connection closed\n`);
  };

  const pause = (): void => {
    if (!paused) {
      paused = true;
      socket.pause();
    }
  };

  // Writes a reply and decides what reads next: close, wait for 'drain', run the buffered rest,
  // or read on.
  const deliver = (out: Buffer | undefined): void => {
    if (done) return;
    const ok = out === undefined ? true : socket.write(out);
    const st = state[0] ?? 0;
    if (st & RAN) {
      if (idle) watch.last = idle.now;
      onRan();
    }
    if (st & CLOSE) {
      stop();
      hangUp(socket);
      onShutdown();
      return;
    }
    if (!ok) {
      pause();
      if (!waitingDrain) {
        waitingDrain = true;
        socket.once('drain', onDrain);
      }
      return;
    }
    if (st & MORE) {
      pause();
      setImmediate(onDrain);
      return;
    }
    if (paused) {
      paused = false;
      socket.resume();
    }
    if (ended) {
      stop();
      hangUp(socket);
    }
  };

  function onDrain(): void {
    waitingDrain = false;
    if (done) return;
    // After 'drain', or after a yield whose replies the socket took under its high-water mark:
    // counted as nothing unsent, so this run always makes progress (no setImmediate spin on a
    // run that the socket's few queued bytes would stop at once).
    deliver(pool.feed(conn));
  }

  socket.on('data', (chunk: Buffer) => {
    // Reading flows only while the socket's queue is under its high-water mark: that little
    // counts toward the engine's output mark too.
    if (!done) deliver(pool.feed(conn, chunk, socket.writableLength));
  });
  socket.on('error', () => undefined); // ECONNRESET and the like: 'close' follows
  socket.on('close', finish);
  socket.on('end', () => {
    // The client finished sending (allowHalfOpen keeps our side open): close once every reply
    // to what it sent is out, now or when the pending ones have drained.
    ended = true;
    if (!done && !paused && !waitingDrain && !((state[0] ?? 0) & MORE)) {
      stop();
      hangUp(socket);
    }
  });
  if (idle) idle.watched.add(watch);
}
