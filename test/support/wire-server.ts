/**
 * Servers for the wire-security tests (auth, TLS): our createServer over a fresh store on a
 * loopback port, run around a test body, and a real memcached started with `-Y` (interop lane).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { AddressInfo, Server } from 'node:net';
import { Cache, createServer } from '../../src/index.js';
import { tmpRegion } from '../helpers.js';
import { freePort, waitForPort } from './net.js';

/** One of our servers: its listener, its port on 127.0.0.1 and the store it serves. */
export interface WireServer {
  server: Server;
  port: number;
  cache: Cache;
}

/** createServer's options other than the cache. */
export type WireServerOptions = Omit<Parameters<typeof createServer>[0], 'cache'>;

/** Starts createServer(opts) over a fresh 8 MB store (`name` names its region) on a free loopback port. */
export async function startServer(opts: WireServerOptions, name: string): Promise<WireServer> {
  const cache = Cache.open({ path: tmpRegion(name), size: '8mb' });
  const server = createServer({ cache, ...opts });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, cache };
}

/** Closes the server, then its store. */
export function stopServer(s: WireServer): Promise<void> {
  return new Promise((r) =>
    s.server.close(() => {
      s.cache.close();
      r();
    }),
  );
}

/** Runs `body` with a server started as {@link startServer} does; stops it however the body ends. */
export async function withServer(opts: WireServerOptions, name: string, body: (s: WireServer) => Promise<void>): Promise<void> {
  const s = await startServer(opts, name);
  try {
    await body(s);
  } finally {
    await stopServer(s);
  }
}

/** A memcached (binary `bin`) started with `-Y authFile` on a free loopback port; resolves once it listens. */
export async function startMemcachedAuth(bin: string, authFile: string): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const args = ['-Y', authFile, '-p', String(port), '-l', '127.0.0.1', '-U', '0'];
  if (process.getuid?.() === 0) args.push('-u', 'root');
  const child = spawn(bin, args, { stdio: 'ignore' });
  let exited: string | undefined;
  child.once('exit', (code) => (exited = `memcached -Y exited ${code}`));
  await waitForPort(port, 5000, () => exited);
  return { child, port };
}
