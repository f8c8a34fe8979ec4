/**
 * Loopback port helpers shared by the test harnesses (memcached, cluster nodes, bench servers):
 * a free port, waiting until something listens on one, and a short sleep.
 */
import { createConnection, createServer, type Socket } from 'node:net';

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A free loopback TCP port (closed again at once; a short race with other processes remains). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Resolves once something accepts a connection on 127.0.0.1:`port`; rejects after `ms`, or as
 * soon as `alive()` returns a reason (the server died). Polls every `pollMs`.
 */
export async function waitForPort(port: number, ms: number, alive: () => string | undefined = () => undefined, pollMs = 25): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const dead = alive();
    if (dead !== undefined) throw new Error(dead);
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({ port, host: '127.0.0.1' });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`);
    await sleep(pollMs);
  }
}

/** A plaintext connection to 127.0.0.1:`port`: resolves once connected, rejects with the connect error. */
export function connectLoopback(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('error', reject);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}

/**
 * The base of the test clients over one socket: `received` gets each chunk, then whoever waits
 * (`waiter`) is woken; on the close `closed` is set and the waiter woken. A socket error ends in
 * that close instead of throwing (the clients read a refusal as the close).
 */
export abstract class SocketClient {
  closed = false;
  protected waiter: (() => void) | undefined;

  protected constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.received(d);
      this.waiter?.();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
  }

  /** Keeps a chunk the socket received. */
  protected abstract received(d: Buffer): void;
}
