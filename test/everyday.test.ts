/**
 * The everyday API on Cache: has (no copy, no LRU bump, no counters), clear, size, and key
 * iteration (keys / entries / for-of) that stays consistent while other threads write and the
 * hash table grows under it.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { Cache } from '../src/index.js';
import { at, runWorker, tmpRegion } from './helpers.js';

const t = suite('everyday');

t('has: live items only; no get counted, no value copied; bad keys are argument errors', () => {
  const c = Cache.open({ path: tmpRegion('has'), size: '8mb', reset: true });
  c.set('k', 'v');
  c.set('short', 'v', { ttl: 10 });
  c.set('empty', '');
  const before = c.stats();
  assert.is(c.has('k'), true);
  assert.is(c.has(Buffer.from('k')), true);
  assert.is(c.has('empty'), true);
  assert.is(c.has('nope'), false);
  const after = c.stats();
  for (const name of ['cmd_get', 'get_hits', 'get_misses', 'cmd_touch']) assert.is(after[name], before[name], name);
  c.advanceClock(11);
  assert.is(c.has('short'), false);
  c.delete('k');
  assert.is(c.has('k'), false);
  assert.throws(
    () => c.has(''),
    (e: Error & { code?: string }) => e instanceof RangeError,
  );
  assert.throws(
    () => c.has('a b'),
    (e: Error & { code?: string }) => e instanceof TypeError,
  );
  assert.throws(
    () => c.has(42 as unknown as string),
    (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARG_TYPE',
  );
  c.close();
  assert.throws(
    () => c.has('k'),
    (e: Error & { code?: string }) => e.code === 'ERR_CACHE_CLOSED',
  );
});

t('clear and size', () => {
  const path = tmpRegion('clear');
  const c = Cache.open({ path, size: '8mb', reset: true });
  const other = Cache.open({ path, codec: 'json' });
  assert.is(c.size, 0);
  c.setMany([
    ['a', '1'],
    ['b', '2'],
    ['c', '3'],
  ]);
  other.set('d', { x: 1 });
  assert.is(c.size, 4);
  assert.is(other.size, 4);
  other.clear();
  assert.is(c.get('a'), undefined);
  assert.is(c.has('d'), false);
  assert.equal([...c.keys()], []);
  c.set('e', '5');
  assert.equal([...c.keys()], ['e']);
  c.close();
  other.close();
});

t('keys, entries and for-of list each live key once, skip expired ones, decode with the codec', () => {
  const path = tmpRegion('keys');
  const c = Cache.open({ path, size: '16mb', reset: true });
  const want = new Set<string>();
  for (let i = 0; i < 3000; i++) {
    c.set(`key:${i}`, `value:${i}`);
    want.add(`key:${i}`);
  }
  c.set('héllo', 'utf8 key');
  want.add('héllo');
  c.set('gone', 'x', { ttl: 5 });
  c.advanceClock(6);
  const keys = [...c.keys()];
  assert.is(keys.length, want.size);
  assert.equal(new Set(keys), want);
  const entries = new Map([...c.entries()].map(([k, v]) => [k, v.toString()]));
  assert.is(entries.get('key:17'), 'value:17');
  assert.is(entries.get('héllo'), 'utf8 key');
  let n = 0;
  for (const [k, v] of c) {
    if (k.startsWith('key:')) assert.is(v.toString(), `value:${k.slice(4)}`);
    n++;
  }
  assert.is(n, want.size);
  c.close();
  const j = Cache.open<{ i: number }>({ path, codec: 'json', reset: true });
  j.set('a', { i: 1 });
  j.set('b', { i: 2 });
  assert.equal(
    new Map(j.entries()),
    new Map([
      ['a', { i: 1 }],
      ['b', { i: 2 }],
    ]),
  );
  j.close();
});

t('iteration under concurrent writers (and table growth): every stable key at least once, no torn entry', async () => {
  const path = tmpRegion('crawl-concurrent');
  const c = Cache.open({ path, size: '64mb', reset: true });
  const STABLE = 20_000;
  for (let i = 0; i < STABLE; i += 1000) {
    const batch: Array<[string, string]> = [];
    for (let k = i; k < i + 1000; k++) batch.push([`stable:${k}`, `v:stable:${k}:`.repeat(1 + (k % 5))]);
    c.setMany(batch);
  }
  const stop = new Int32Array(new SharedArrayBuffer(8));
  const body = `
    const stop = new Int32Array(data.sab);
    let n = 0;
    // Enough churn keys to grow the table past its 64 Ki buckets while the main thread crawls.
    while (Atomics.load(stop, 0) === 0 && n < 200000) {
      const k = 'churn:' + data.w + ':' + n;
      cache.set(k, ('v:' + k + ':').repeat(1 + (n % 7)));
      if (n % 3 === 0) cache.delete('churn:' + data.w + ':' + (n - 3));
      n++;
    }
    Atomics.add(stop, 1, 1);
    return n;`;
  const workers = [runWorker(path, body, { sab: stop.buffer, w: 0 }), runWorker(path, body, { sab: stop.buffer, w: 1 })];
  // Let the writers start before crawling.
  while (c.size < STABLE + 2000) await new Promise((r) => setTimeout(r, 5));
  let rounds = 0;
  let churnSeen = 0;
  for (; rounds < 4; rounds++) {
    const seen = new Set<string>();
    for (const [k, v] of c.entries()) {
      const text = v.toString();
      assert.ok(/^(stable|churn):\d+(:\d+)?$/.test(k), `key not torn: ${k}`);
      const unit = `v:${k}:`;
      assert.ok(text.length % unit.length === 0 && text === unit.repeat(text.length / unit.length), `entry not torn: ${k}`);
      if (k.startsWith('churn:')) churnSeen++;
      seen.add(k);
    }
    for (let i = 0; i < STABLE; i++) if (!seen.has(`stable:${i}`)) assert.unreachable(`stable:${i} missing in round ${rounds}`);
  }
  Atomics.store(stop, 0, 1);
  const written = (await Promise.all(workers)) as number[];
  assert.ok(churnSeen > 0, 'the crawl ran while writers were adding keys');
  assert.ok(at(written, 0) > 0 && at(written, 1) > 0);
  c.close();
});

t.run();
