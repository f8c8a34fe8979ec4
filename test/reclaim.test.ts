/**
 * Reclaim of expired items (issue 20): an allocation reuses a dead item at its class's LRU tail
 * before taking a fresh page (memcached's lazy reclaim), and the crawler frees dead items with no
 * allocation asking. Our side runs on the store's clock (advanceClock); the differential check
 * against a real memcached sleeps, as memcached's clock cannot be moved.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { Cache } from '../src/index.js';
import { at, tmpRegion } from './helpers.js';
import { memcachedTest, parseStats, startMemcached } from './support/memcached.js';

const VALUE = 66560; // the item size: ten fill one 1 MiB page of their class
const N = 10;

/** The `stats items` entries of the one class the case uses, without the `items:N:` prefix. */
function classItems(items: Record<string, string | number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(items)) {
    const m = /^items:(\d+):(.+)$/.exec(k);
    if (m && Number(items[`items:${m[1]}:number`]) + Number(items[`items:${m[1]}:reclaimed`]) > 0) out[at(m, 2)] = Number(v);
  }
  return out;
}

test('set 10 x 66,560 B with exptime 2, 4 s later 10 more: the dead items memory is reused (one page, reclaimed 10)', () => {
  const path = tmpRegion('reclaim-case');
  const c = Cache.open({ path, size: '64mb', reset: true });
  try {
    const v = Buffer.alloc(VALUE, 0x61);
    for (let i = 0; i < N; i++) c.set(`a${i}`, v, { ttl: 2 });
    const before = c.stats();
    assert.is(before.total_malloced, 1 << 20, 'one page holds the first ten');
    c.advanceClock(4);
    for (let i = 0; i < N; i++) c.set(`b${i}`, v);
    const s = c.stats();
    assert.is(s.total_malloced, 1 << 20, 'no second page');
    assert.is(s.curr_items, N);
    assert.is(s.reclaimed, N);
    assert.is(s.expired_unfetched, N, 'none of them was read');
    assert.is(s.evictions, 0);
    assert.is(s.crawler_reclaimed, 0);
    const it = classItems(c.stats('items') as Record<string, number>);
    assert.is(it.number, N);
    assert.is(it.reclaimed, N);
    assert.is(it.expired_unfetched, N);
    assert.is(it.evicted_unfetched, 0);
    assert.is(it.crawler_reclaimed, 0);
    assert.is(c.get('a0'), undefined);
    assert.ok(c.get('b9')?.equals(v));
  } finally {
    c.close();
  }
});

test('crawlExpired frees expired and flushed items with no allocation pressure; live ones stay', () => {
  const path = tmpRegion('reclaim-crawl');
  const c = Cache.open({ path, size: '16mb', reset: true });
  try {
    for (let i = 0; i < 1500; i++) c.set(`s${i}`, `v${i}`, { ttl: i % 3 === 0 ? 0 : 5 });
    for (let i = 0; i < 100; i++) c.set(`big${i}`, Buffer.alloc(5000, 1), { ttl: 5 });
    assert.is(c.get('s1')?.toString(), 'v1'); // read once: s1 is fetched
    assert.equal(c.crawlExpired().reclaimed, 0, 'nothing is dead yet');
    c.advanceClock(6);
    let freed = 0;
    for (let k = 0; k < 500 && freed < 1100; k++) freed += c.crawlExpired(37).reclaimed;
    assert.is(freed, 1000 + 100);
    const s = c.stats();
    assert.is(s.curr_items, 500);
    assert.is(s.crawler_reclaimed, 1100);
    assert.is(s.reclaimed, 0, 'no allocation reclaimed them');
    assert.is(s.expired_unfetched, 1099, 's1 was read');
    assert.is(c.get('s3')?.toString(), 'v3');
    c.flushAll();
    c.crawlExpired(100000);
    assert.is(c.stats().curr_items, 0, 'flushed items go too');
    assert.throws(
      () => c.crawlExpired(0),
      (e: Error & { code?: string }) => e.code === 'ERR_OUT_OF_RANGE',
    );
    assert.throws(
      () => c.crawlExpired(1.5),
      (e: Error & { code?: string }) => e.code === 'ERR_OUT_OF_RANGE',
    );
  } finally {
    c.close();
  }
  assert.throws(
    () => c.crawlExpired(),
    (e: Error & { code?: string }) => e.code === 'ERR_CACHE_CLOSED',
  );
});

test('the background crawler (crawler option) frees expired items on its own timer, and bad settings are refused', async () => {
  const path = tmpRegion('reclaim-bg');
  for (const bad of [{ intervalMs: 5 }, { budget: 0 }, { budget: 1.5 }])
    assert.throws(
      () => Cache.open({ path, size: '8mb', reset: true, crawler: bad }),
      (e: Error & { code?: string }) => e.code === 'ERR_OUT_OF_RANGE',
    );
  assert.throws(() => Cache.open({ path, size: '8mb', reset: true, crawler: 'yes' as unknown as boolean }), TypeError);
  const c = Cache.open({ path, size: '8mb', reset: true, crawler: { intervalMs: 10, budget: 1000 } });
  try {
    for (let i = 0; i < 200; i++) c.set(`t${i}`, 'x', { ttl: 1 });
    c.set('keep', 'y');
    c.advanceClock(2);
    // Wait for the timer (no deadline asserted: the loop ends when the items are gone).
    while (Number(c.stats().crawler_reclaimed) < 200) await new Promise((r) => setTimeout(r, 10));
    assert.is(c.stats().curr_items, 1);
    assert.is(c.get('keep')?.toString(), 'y');
  } finally {
    c.close();
  }
});

memcachedTest(test, import.meta.url)(
  'differential: memcached 1.6 reports the same reclaimed / number / expired_unfetched for the case',
  async () => {
    const mc = await startMemcached(['-m', '64', '-o', 'no_lru_maintainer,no_lru_crawler']);
    const path = tmpRegion('reclaim-diff');
    const c = Cache.open({ path, size: '64mb', reset: true });
    try {
      const v = Buffer.alloc(VALUE, 0x61);
      for (let i = 0; i < N; i++) {
        assert.is(await mc.set(`a${i}`, v, { ttl: 2 }), 'STORED');
        c.set(`a${i}`, v, { ttl: 2 });
      }
      await new Promise((r) => setTimeout(r, 4000)); // memcached's clock only moves with time
      c.advanceClock(4);
      for (let i = 0; i < N; i++) {
        assert.is(await mc.set(`b${i}`, v), 'STORED');
        c.set(`b${i}`, v);
      }
      const theirs = classItems(parseStats(await mc.request('stats items'), 'stats items'));
      const ours = classItems(c.stats('items') as Record<string, number>);
      for (const k of ['number', 'reclaimed', 'expired_unfetched', 'evicted_unfetched', 'crawler_reclaimed', 'evicted'])
        assert.is(ours[k], theirs[k], `items:N:${k}`);
      const theirSlabs = parseStats(await mc.request('stats slabs'), 'stats slabs');
      assert.is(c.stats('slabs').total_malloced, Number(theirSlabs.total_malloced), 'total_malloced');
    } finally {
      c.close();
      await mc.stop();
    }
  },
);

test.run();
