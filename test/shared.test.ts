/**
 * One store, many users: worker_threads and other processes that open the same path see the same
 * items, and concurrent writers keep exact totals.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';

import { Cache } from '../src/index.js';
import { runWorker, tmpRegion } from './helpers.js';

const indexUrl = new URL('../src/index.js', import.meta.url).href;

test("a worker thread sees the main thread's items and its writes come back", async () => {
  const path = tmpRegion('worker');
  const c = Cache.open({ path, size: '8mb', reset: true });
  c.set('from-main', 'hello', { flags: 3 });
  const seen = await runWorker(
    path,
    `
    const g = cache.gets('from-main');
    cache.set('from-worker', 'hi back');
    return [g.value.toString(), g.flags];
  `,
  );
  assert.equal(seen, ['hello', 3]);
  assert.is(c.get('from-worker')?.toString(), 'hi back');
  c.close();
});

test('concurrent incr from 4 workers and the main thread is exact', async () => {
  const path = tmpRegion('incr');
  const c = Cache.open({ path, size: '8mb', reset: true });
  c.set('counter', '0');
  const per = 20000;
  const workers = Array.from({ length: 4 }, () =>
    runWorker(
      path,
      `
    for (let i = 0; i < ${per}; i++) cache.incr('counter');
    for (let i = 0; i < ${per}; i++) cache.set('w' + (i % 500), String(i));
    return 0;
  `,
    ),
  );
  for (let i = 0; i < per; i++) c.incr('counter');
  await Promise.all(workers);
  assert.is(c.incr('counter', 0), BigInt(5 * per));
  assert.is(Number(c.stats().incr_hits), 5 * per + 1);
  c.close();
});

test('workers churning mixed sizes in a small region: pages move, values never torn', async () => {
  const path = tmpRegion('churn');
  const c = Cache.open({ path, size: '8mb', reset: true });
  // Each value: [u32 length][u32 seed] then bytes that are a function of the seed.
  const results = (await Promise.all(
    Array.from({ length: 4 }, (_, w) =>
      runWorker(
        path,
        `
    let seed = ${w + 1} * 7919, bad = 0, oom = 0, hits = 0;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0);
    for (let i = 0; i < 6000; i++) {
      const key = 'churn:' + (rnd() % 300);
      if (rnd() % 3 === 0) {
        const len = 8 + (rnd() % 4 === 0 ? rnd() % 200000 : rnd() % 2000);
        const v = Buffer.allocUnsafe(len);
        const s = rnd();
        v.writeUInt32LE(len, 0); v.writeUInt32LE(s, 4);
        for (let j = 8; j < len; j++) v[j] = (s + j) & 0xff;
        try { cache.set(key, v); } catch (e) { if (e.code === 'ERR_OUT_OF_MEMORY') oom++; else throw e; }
      } else {
        const v = cache.get(key);
        if (v) {
          hits++;
          const len = v.readUInt32LE(0), s = v.readUInt32LE(4);
          if (len !== v.length) bad++;
          else for (let j = 8; j < len; j++) if (v[j] !== ((s + j) & 0xff)) { bad++; break; }
        }
      }
    }
    return [bad, oom, hits];
  `,
      ),
    ),
  )) as [number, number, number][];
  const bad = results.reduce((a, r) => a + r[0], 0);
  const hits = results.reduce((a, r) => a + r[2], 0);
  assert.is(bad, 0, 'no torn or mixed value');
  assert.ok(hits > 0, 'reads found values');
  const st = c.stats();
  assert.ok(Number(st.evictions) > 0, 'the region was under pressure');
  assert.is(c.stats('slabs').total_malloced, 8 * 1048576);
  c.close();
});

test('another process opening the same file shares the store', () => {
  const path = tmpRegion('proc');
  const c = Cache.open({ path, size: '8mb', reset: true });
  c.set('parent', 'p-value');
  const script = `
    const { Cache } = await import(${JSON.stringify(indexUrl)});
    const cache = Cache.open({ path: ${JSON.stringify(path)} });
    process.stdout.write(cache.get('parent').toString());
    cache.set('child', 'c-value');
    cache.close();
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.is(out, 'p-value');
  assert.is(c.get('child')?.toString(), 'c-value');
  c.close();
});

test.run();
