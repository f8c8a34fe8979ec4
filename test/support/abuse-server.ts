/**
 * A shmcached server in a process of its own, for the abuse tests and `npm run bench -- abuse`:
 * its file descriptors (10,000 connections) and its RSS are then its own. Argument: JSON
 * `{ path, size?, maxConnections?, idleTimeout?, gc?, engine? }` (gc: collect every 100 ms; the parent
 * starts it with --expose-gc; engine: 'js' | 'native', else SHMCACHED_ENGINE decides;
 * unix: listen on that unix socket path instead of a loopback TCP port, port 0 then). Prints `{"port":N,"pid":N}` once listening;
 * on SIGTERM closes the server and the store, removes the region file and exits.
 */
import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';

import { Cache } from '../../src/index.js';
import { createServer } from '../../src/server.js';

const opts = JSON.parse(process.argv[2] ?? '{}') as {
  path: string;
  size?: string;
  maxConnections?: number;
  idleTimeout?: number;
  gc?: boolean;
  engine?: 'js' | 'native';
  unix?: string;
};
const gc = (globalThis as { gc?: () => void }).gc;
if (opts.gc && gc) setInterval(gc, 100).unref();
const cache = Cache.open({ path: opts.path, size: opts.size ?? '64mb', reset: true });
const server = createServer({
  cache,
  maxConnections: opts.maxConnections,
  idleTimeout: opts.idleTimeout,
  engine: opts.engine,
});
const listening = (): void => {
  const port = opts.unix ? 0 : (server.address() as AddressInfo).port;
  process.stdout.write(`${JSON.stringify({ port, pid: process.pid })}\n`);
};
if (opts.unix) server.listen({ path: opts.unix, backlog: 4096 }, listening);
else server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, listening);
process.on('SIGTERM', () => {
  server.close();
  cache.close();
  rmSync(opts.path, { force: true });
  if (opts.unix) rmSync(opts.unix, { force: true });
  process.exit(0);
});
