/**
 * shmcached:evict and shmcached:expire on node:diagnostics_channel: what is published, sampling,
 * the dropped count of a full ring, and nothing once the last subscriber leaves.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { Cache, flushEvents, type ItemEvent } from '../src/index.js';
import { at, tmpRegion } from './helpers.js';

function collect(name: string): { events: ItemEvent[]; stop(): void } {
  const events: ItemEvent[] = [];
  const fn = (m: unknown) => events.push(m as ItemEvent);
  subscribe(name, fn);
  return { events, stop: () => unsubscribe(name, fn) };
}

const evictions = (c: Cache) => Number(c.stats().evictions);

test('evictions: key, size and slab class of each evicted item, oldest first; a full ring counts what it dropped', () => {
  const path = tmpRegion('ev-evict');
  const c = Cache.open({ path, size: '2mb', itemSizeMax: '512kb', reset: true });
  const ev = collect('shmcached:evict');
  try {
    flushEvents(); // noticed now: recording starts for this cache
    const before = evictions(c);
    for (let i = 0; i < 2200; i++) c.set(`k${i}`, Buffer.alloc(1000, 1));
    flushEvents();
    const n = evictions(c) - before;
    assert.ok(n > 0, 'the small store evicted');
    const dropped = ev.events.reduce((a, e) => a + e.dropped, 0);
    assert.is(ev.events.length + dropped, n, 'every eviction is published or counted as dropped');
    const first = at(ev.events, 0);
    assert.is(first.key, 'k0', 'the least recently used goes first');
    assert.is(first.size, 40 + 2 + 1000);
    assert.is(first.path, path);
    assert.ok(first.keyBytes.equals(Buffer.from('k0')));
    const slabs = c.stats('slabs') as Record<string, unknown>;
    assert.ok(Number(slabs[`${first.slabClass}:chunk_size`]) >= first.size, 'the class holds items of that size');
    for (let i = 1; i < 10; i++) assert.is(at(ev.events, i).key, `k${i}`);
  } finally {
    ev.stop();
    c.close();
  }
});

test('expirations found on lookup; sampling; nothing once unsubscribed', () => {
  const path = tmpRegion('ev-expire');
  const c = Cache.open({ path, size: '8mb', reset: true, eventSample: 3 });
  const ex = collect('shmcached:expire');
  try {
    flushEvents();
    for (let i = 0; i < 30; i++) c.set(`t${i}`, 'v', { ttl: 5 });
    c.advanceClock(10);
    for (let i = 0; i < 30; i++) assert.is(c.get(`t${i}`), undefined);
    flushEvents();
    assert.is(ex.events.length, 10, 'one in three of 30 expirations');
    assert.ok(ex.events.every((e) => /^t\d+$/.test(e.key) && e.size === 40 + e.keyBytes.length + 1));
  } finally {
    ex.stop();
  }
  flushEvents(); // no subscriber now: recording stops
  const late = collect('shmcached:expire');
  late.stop();
  for (let i = 0; i < 30; i++) c.set(`u${i}`, 'v', { ttl: 5 });
  c.advanceClock(10);
  for (let i = 0; i < 30; i++) c.get(`u${i}`);
  const again = collect('shmcached:expire');
  try {
    flushEvents();
    assert.is(again.events.length, 0, 'expirations while no one listened were not recorded');
  } finally {
    again.stop();
    c.close();
  }
  assert.throws(
    () => Cache.open({ path, eventSample: 0 }),
    (e: unknown) => e instanceof RangeError,
  );
});

test('a subscriber that calls the cache while events are published cannot garble the events after it', () => {
  const path = tmpRegion('ev-reenter');
  const c = Cache.open({ path, size: '8mb', reset: true });
  const seen: ItemEvent[] = [];
  // Reads and writes of the same cache from inside the listener: they use the handle's scratch
  // buffer, which the recorded events were drained into.
  const fn = (m: unknown) => {
    seen.push(m as ItemEvent);
    c.set('listener-key-that-is-rather-long', Buffer.alloc(200, 0x7a));
    c.get('listener-key-that-is-rather-long');
  };
  subscribe('shmcached:expire', fn);
  try {
    flushEvents();
    for (let i = 0; i < 20; i++) c.set(`r${i}`, 'v', { ttl: 5 });
    c.advanceClock(10);
    for (let i = 0; i < 20; i++) assert.is(c.get(`r${i}`), undefined);
    flushEvents();
    assert.equal(
      seen.map((e) => `${e.key}:${e.size}`),
      Array.from({ length: 20 }, (_, i) => `r${i}:${40 + String(i).length + 2}`),
    );
  } finally {
    unsubscribe('shmcached:expire', fn);
    c.close();
  }
});

test.run();
