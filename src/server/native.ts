/**
 * The native connection loop behind `createServer({ engine: 'native' })` (native/server/): N
 * threads, each with its own epoll set, accept and serve connections without the JS event loop;
 * the protocol engine and the store's gates are the same as the JS path's. This object is the
 * net.Server subset users call: `listen`, `close`, `address`, and the events 'listening',
 * 'close', 'error' and 'shutdown'.
 */
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';

import type { NativeHandle, ProtoServer } from '../native.js';

/** The binding's native server object (native/binding/server.cc). Internal. */
export interface NativeLoop {
  /**
   * Binds where:port over TCP (port 0 picks one), or a unix socket at the path `where` when port
   * is -1 ([path, 0, 'unix']): [address, port, family]. Throws ERR_LISTEN.
   */
  listen(where: string, port: number, backlog: number): [string, number, string];
  /** Starts the loop threads on the listeners bound so far. */
  start(): void;
  /** Stops accepting and ends every connection once its replies are out; event 2 follows. */
  stop(): void;
  /** Open connections now. */
  connections(): number;
  /** Connections each loop thread serves now, in thread order. */
  threadConnections(): number[];
}

/** The handle's constructor of native loops (present when the addon has native/server/). */
export type NativeLoopFactory = (
  server: ProtoServer | undefined,
  auth: unknown,
  settings: Int32Array,
  threads: number,
  maxConns: number,
  idleTimeout: number,
  verbose: number,
  onEvent: (event: number, arg: number) => void,
) => NativeLoop;

/** The handle with the native loop's constructor. */
export type HandleWithLoop = NativeHandle & { nativeServer?: NativeLoopFactory };

/** Events of the loop (native/server/server.h Event). */
export const LoopEvent = { Shutdown: 1, Stopped: 2, Crawler: 3 } as const;

/** What {@link NativeServer} needs from createServer. Internal. */
export interface NativeServerHooks {
  /** Makes the loop (createServer passes its engine state and the event handler). */
  make: (onEvent: (event: number, arg: number) => void) => NativeLoop;
  /** Called once listening (address known) and once closed, so `stats` follows. */
  onListening: (addr: AddressInfo | string) => void;
  onClose: () => void;
  /** `lru_crawler enable|disable` was run (on: the flag is now set). */
  onCrawler: (on: boolean) => void;
}

/** Arguments of {@link NativeServer.listen}: a port, or net.Server's `{ port, host }` / `{ path }`. */
export type NativeListenOptions = { port?: number; host?: string; backlog?: number; path?: string };

/**
 * A server whose connections are served by native threads (`createServer({ engine: 'native' })`).
 * Behaves like the net.Server subset shmcached's users call. Events: 'listening', 'close',
 * 'error' (Error with a `code`), 'shutdown' ('now' | 'graceful', when enableShutdown allows a
 * client's `shutdown`; the server closes after emitting it).
 */
export class NativeServer extends EventEmitter {
  private loop: NativeLoop | undefined;
  private addr: AddressInfo | string | null = null;
  private state: 'new' | 'listening' | 'closing' | 'closed' = 'new';
  private readonly hooks: NativeServerHooks;

  /** @internal createServer makes these. */
  constructor(hooks: NativeServerHooks) {
    super();
    this.hooks = hooks;
  }

  /** Whether the server is accepting connections. */
  get listening(): boolean {
    return this.state === 'listening';
  }

  /**
   * Starts listening: `listen(port[, host][, backlog][, cb])`, `listen({ port, host })` or
   * `listen({ path })` (a unix socket). Port 0 picks a free port ({@link address} tells which).
   * Errors (address in use, ...) are emitted as 'error', as net.Server does.
   */
  listen(...args: unknown[]): this {
    let cb: (() => void) | undefined;
    if (typeof args[args.length - 1] === 'function') cb = args.pop() as () => void;
    let o: NativeListenOptions;
    if (typeof args[0] === 'object' && args[0] !== null) o = args[0] as NativeListenOptions;
    else if (typeof args[0] === 'string' && !/^\d+$/.test(args[0])) o = { path: args[0] };
    else
      o = {
        port: args[0] === undefined ? 0 : Number(args[0]),
        host: typeof args[1] === 'string' ? args[1] : undefined,
        backlog: typeof args[1] === 'number' ? args[1] : typeof args[2] === 'number' ? args[2] : undefined,
      };
    if (this.state !== 'new') {
      const err = Object.assign(new Error('listen: the server is already listening or closed'), {
        code: 'ERR_SERVER_ALREADY_LISTEN',
      });
      throw err;
    }
    const port = o.port ?? 0;
    if (o.path === undefined && (!Number.isInteger(port) || port < 0 || port > 65535))
      throw new RangeError(`listen: port must be an integer 0..65535, got ${String(o.port)}`);
    if (cb) this.once('listening', cb);
    const backlog = o.backlog ?? 511;
    try {
      this.loop = this.hooks.make((event, arg) => this.onEvent(event, arg));
      if (o.path !== undefined) {
        this.loop.listen(o.path, -1, backlog);
        this.addr = o.path;
      } else {
        const [address, p, family] = this.loop.listen(o.host ?? '', port, backlog);
        this.addr = { address, port: p, family };
      }
      this.loop.start();
    } catch (e) {
      // net.Server emits only 'error' after a failed listen: the loop's stopped event (it was
      // never started) is ignored in onEvent since the state is already 'closed'.
      const loop = this.loop;
      this.loop = undefined;
      this.state = 'closed';
      loop?.stop();
      process.nextTick(() => this.emit('error', withErrnoCode(e)));
      return this;
    }
    this.state = 'listening';
    const a = this.addr;
    this.hooks.onListening(a);
    process.nextTick(() => this.emit('listening'));
    return this;
  }

  /** Where the server listens (net.Server's shape), or null before listen / after close. */
  address(): AddressInfo | string | null {
    return this.state === 'listening' || this.state === 'closing' ? this.addr : null;
  }

  /**
   * Stops accepting and ends every open connection once its replies are written (or after 2 s
   * for a client that does not read them); cb and 'close' follow once every thread has exited.
   */
  close(cb?: (err?: Error) => void): this {
    if (this.state === 'closing') {
      if (cb) this.once('close', () => cb());
      return this;
    }
    if (this.state !== 'listening') {
      if (cb) process.nextTick(() => cb(Object.assign(new Error('Server is not running.'), { code: 'ERR_SERVER_NOT_RUNNING' })));
      return this;
    }
    this.state = 'closing';
    if (cb) this.once('close', () => cb());
    this.loop?.stop();
    return this;
  }

  /** Open connections now (net.Server's getConnections, as a callback). */
  getConnections(cb: (err: Error | null, count: number) => void): void {
    const n = this.loop?.connections() ?? 0;
    process.nextTick(() => cb(null, n));
  }

  /**
   * Connections each loop thread serves now, in thread order (diagnostics: a new connection goes
   * to the least-loaded thread, so 16 connections on 2 threads show [8, 8]). Empty when not listening.
   */
  threadConnections(): number[] {
    return this.loop?.threadConnections() ?? [];
  }

  /** Kept for net.Server compatibility: the loop's threads never hold the process open past close(). */
  ref(): this {
    return this;
  }

  /** Kept for net.Server compatibility (see {@link ref}). */
  unref(): this {
    return this;
  }

  private onEvent(event: number, arg: number): void {
    if (event === LoopEvent.Shutdown) {
      this.emit('shutdown', arg === 2 ? 'graceful' : 'now');
      this.close();
    } else if (event === LoopEvent.Crawler) {
      this.hooks.onCrawler(arg === 1);
    } else if (event === LoopEvent.Stopped) {
      if (this.state === 'closed') return; // a failed listen: 'error' was all (as net.Server)
      this.state = 'closed';
      this.loop = undefined;
      this.hooks.onClose();
      this.emit('close');
    }
  }
}

/** strerror(3) texts of the listen failures a user causes, and the errno names net.Server gives them. */
const LISTEN_ERRNO: readonly (readonly [RegExp, string])[] = [
  [/Address already in use/, 'EADDRINUSE'],
  [/Permission denied/, 'EACCES'],
  [/Operation not permitted/, 'EPERM'],
  [/Cannot assign requested address/, 'EADDRNOTAVAIL'],
  [/^getaddrinfo /, 'ENOTFOUND'],
];

/** The native listen error with net.Server's `code` (EADDRINUSE, ...) where it is one of those, so callers handle both engines alike. */
function withErrnoCode(e: unknown): unknown {
  if (!(e instanceof Error) || (e as NodeJS.ErrnoException).code !== 'ERR_LISTEN') return e;
  const hit = LISTEN_ERRNO.find(([re]) => re.test(e.message));
  if (hit !== undefined) Object.assign(e, { code: hit[1], syscall: 'listen' });
  return e;
}
