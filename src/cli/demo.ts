/**
 * `npm start`: a short tour of the store on the default path. Stores a few items, reads them
 * back from this thread and from a worker thread, times a million gets, and prints memcached's
 * stats for what it did.
 */
import { Worker } from 'node:worker_threads';

import { Cache, CacheError, DEFAULT_PATH } from '../index.js';

const path = process.env.SHMCACHED_PATH ?? DEFAULT_PATH;
let cache: Cache;
try {
  cache = Cache.open({ path, size: '64mb' });
} catch (e) {
  // A file from another build (or not a region at all): the demo owns its default path, so start
  // it afresh and say so. A real application would decide this itself (see `reset`).
  if (!(e instanceof CacheError) || (e.code !== 'ERR_BAD_REGION' && e.code !== 'ERR_REGION_MISMATCH')) throw e;
  console.log(`${path}: ${e.message}; re-creating it`);
  cache = Cache.open({ path, size: '64mb', reset: true });
}
console.log(`store: ${path} (protection: ${cache.protection})`);

cache.set('greeting', 'hello from the main thread', { flags: 1 });
cache.set('visits', '0');
const visits = cache.incr('visits');
console.log(`get greeting -> ${cache.get('greeting')?.toString()}`);
console.log(`incr visits -> ${visits}`);

const fromWorker = await new Promise<string>((resolve, reject) => {
  const code = `
    import { parentPort, workerData } from 'node:worker_threads';
    const { Cache } = await import(workerData.index);
    const c = Cache.open({ path: workerData.path });
    c.incr('visits');
    parentPort.postMessage(c.get('greeting').toString());
    c.close();
  `;
  const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), {
    workerData: { path, index: new URL('../index.js', import.meta.url).href },
  });
  w.once('message', resolve);
  w.once('error', reject);
});
console.log(`a worker thread read: ${fromWorker}; visits is now ${cache.get('visits')?.toString().trim()}`);

const keys = Array.from({ length: 10000 }, (_, i) => `demo:${i}`);
const value = Buffer.alloc(128, 120);
for (const k of keys) cache.set(k, value);
const n = 1_000_000;
let bytes = 0;
const t0 = process.hrtime.bigint();
// A fixed stride through the keys (7919 is prime, so every key comes up), picked before the clock starts.
const picks = Array.from({ length: 10000 }, (_, i) => `demo:${(i * 7919) % keys.length}`);
for (let round = 0; round < n / picks.length; round++) for (const k of picks) bytes += cache.get(k)?.length ?? 0;
const ns = Number(process.hrtime.bigint() - t0) / n;
console.log(`${n} gets of 128-byte values over 10k keys: ${ns.toFixed(0)} ns/get (${bytes} bytes read)`);

const s = cache.stats();
console.log('stats:', {
  curr_items: s.curr_items,
  get_hits: s.get_hits,
  cmd_set: s.cmd_set,
  bytes: s.bytes,
  hash_power_level: s.hash_power_level,
});
cache.close();
