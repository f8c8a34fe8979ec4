/**
 * A stand-in for `shmcached serve` while the CLI is not built: one node process that opens a
 * region and answers the memcached protocol with `createServer({ cache })` on one event loop.
 *
 *   node dist/bench/lib/server-host.js <module entry> <createServer module> <port> <region path> <size>
 *
 * Prints `ready` once listening; exits on SIGTERM (closing the cache).
 */
import { pathToFileURL } from 'node:url';

interface CacheModule {
  Cache: { open(o: { path: string; size: string; reset: boolean }): { close(): void } };
}
interface ServerModule {
  createServer?: (o: { cache: unknown }) => { listen(port: number, host: string, cb: () => void): unknown; close(): void };
}

async function main(): Promise<void> {
  const [entry, serverEntry, port, path, size] = process.argv.slice(2);
  if (!entry || !serverEntry || !port || !path || !size) {
    console.error('usage: server-host.js <module entry> <createServer module> <port> <region path> <size>');
    process.exit(1);
  }
  const lib = (await import(pathToFileURL(entry).href)) as CacheModule;
  const mod = (await import(pathToFileURL(serverEntry).href)) as ServerModule;
  if (typeof mod.createServer !== 'function') {
    console.error(`${serverEntry} exports no createServer`);
    process.exit(3);
  }
  const cache = lib.Cache.open({ path, size, reset: true });
  const server = mod.createServer({ cache });
  server.listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\n'));
  process.once('SIGTERM', () => {
    server.close();
    cache.close();
    process.exit(0);
  });
}

void main();
