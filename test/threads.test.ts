/**
 * Stress across worker_threads (bounded op counts, no timing): several threads run mixed
 * operations on one store at once, then invariants are checked — exact incr totals, a CAS-guarded
 * counter that loses no update, values that carry a checksum of their key and version (never torn
 * or mixed, which exercises the optimistic seqlock reads against concurrent writers), and stats
 * totals that add up to what the threads did.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { Worker } from 'node:worker_threads';

import { Cache } from '../src/index.js';
import { runWorker, tmpRegion } from './helpers.js';
import { type StressTally, THREAD_STRESS as WORKER } from './support/thread-stress.js';

const ROUNDS = 6000;
const KEYS = 64;

for (const THREADS of [2, 4, 8])
  test(`${THREADS} threads of mixed operations keep every invariant`, async () => {
    const path = tmpRegion('threads');
    const c = Cache.open({ path, size: '32mb', reset: true });
    for (let i = 0; i < 4; i++) c.set(`ctr:${i}`, '0');
    c.set('casctr', '0');
    c.resetStats();
    const tallies = (await Promise.all(
      Array.from({ length: THREADS }, (_, id) => runWorker(path, WORKER, { id: id + 1, rounds: ROUNDS, keys: KEYS })),
    )) as StressTally[];

    const st = c.stats(); // before the checks below add gets of their own
    const bad = tallies.flatMap((t) => t.bad);
    assert.equal(bad.slice(0, 3), [], 'no torn or mixed value was ever read');
    let incrTotal = 0n;
    for (let i = 0; i < 4; i++) incrTotal += BigInt(c.get(`ctr:${i}`)!.toString().trim());
    const incrs = tallies.reduce((a, t) => a + t.incr, 0);
    assert.is(incrTotal, BigInt(incrs), 'incr totals are exact');
    const casWins = tallies.reduce((a, t) => a + t.casWins, 0);
    assert.is(c.get('casctr')!.toString(), String(casWins), 'the CAS-guarded counter lost no update');
    const sum = (f: (t: (typeof tallies)[number]) => number) => tallies.reduce((a, t) => a + f(t), 0);
    assert.is(
      st.cmd_get,
      sum((t) => t.gets),
      'cmd_get adds up',
    );
    assert.is(
      st.get_hits,
      sum((t) => t.hits),
      'get_hits adds up',
    );
    assert.is(st.incr_hits, incrs, 'incr_hits adds up');
    assert.is(st.cas_hits, casWins, 'cas_hits adds up');
    assert.is(st.cas_badval, sum((t) => t.casTries) - casWins, 'every lost CAS race is a cas_badval');
    assert.is(
      st.cmd_set,
      sum((t) => t.sets + t.casTries),
      'cmd_set counts sets and cas attempts',
    );
    assert.ok(sum((t) => t.hits) > 0 && sum((t) => t.sets) > 0, 'the threads did work');
    c.close();
  });

const indexUrl = new URL('../src/index.js', import.meta.url).href;

test('workers terminated in the middle of their work leave nothing locked', async () => {
  const path = tmpRegion('terminate');
  const c = Cache.open({ path, size: '16mb', reset: true });
  c.set('ctr', '0');
  // Each worker loops over every kind of write until it is terminated.
  const code = `
    import { workerData, parentPort } from 'node:worker_threads';
    const { Cache } = await import(${JSON.stringify(indexUrl)});
    const cache = Cache.open({ path: workerData.path });
    let n = 0;
    for (;;) {
      const k = 'k' + ((n * 7919) % 5000);
      cache.set(k, 'v'.repeat(n % 700));
      cache.append(k, 'tail');
      cache.incr('ctr');
      cache.delete('k' + ((n * 104729) % 5000));
      cache.get(k);
      if (++n === 2000) parentPort.postMessage('busy');
    }
  `;
  const url = new URL(`data:text/javascript,${encodeURIComponent(code)}`);
  for (let round = 0; round < 4; round++) {
    const workers = [0, 1].map(() => new Worker(url, { workerData: { path } }));
    await Promise.all(
      workers.map(
        (w) =>
          new Promise((resolve, reject) => {
            w.once('message', resolve);
            w.once('error', reject);
          }),
      ),
    );
    await Promise.all(workers.map((w) => w.terminate()));
  }
  // Every stripe and class lock is free: writes and reads of every key finish, and incr still counts.
  const before = BigInt(c.get('ctr')!.toString().trim());
  for (let i = 0; i < 20_000; i++) c.set(`after:${i}`, `v${i}`);
  for (let i = 0; i < 20_000; i += 97) assert.is(c.get(`after:${i}`)?.toString(), `v${i}`);
  for (let i = 0; i < 5000; i++) c.delete(`k${i}`);
  assert.is(c.incr('ctr'), before + 1n);
  // A new thread can still attach and work.
  assert.is(await runWorker(path, `return cache.incr('ctr').toString();`), String(before + 2n));
  c.close();
});

test.run();
