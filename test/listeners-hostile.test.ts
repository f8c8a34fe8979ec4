/**
 * node:diagnostics_channel subscribers (shmcached:evict, shmcached:expire, shmcached:fetch) that
 * throw or call the cache back while a message is published: the operation completes, the
 * store stays consistent, every other subscriber gets every message, and a throw surfaces as
 * diagnostics_channel always reports one (an uncaught exception on the next tick). docs/api.md,
 * "Subscribers that throw or call back".
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';

import { Cache, flushEvents } from '../src/index.js';
import { tmpRegion } from './helpers.js';

const shared = Cache.open({ path: tmpRegion('listeners-hostile'), size: '16mb', reset: true });

const listen = suite('diagnostics_channel subscribers that throw or call the cache back');

listen('evict: a throwing subscriber and a re-entrant one; every event reaches the others, the store stays consistent', async () => {
  const c = Cache.open({ path: tmpRegion('adapters-hostile-evict'), size: '2mb', itemSizeMax: '64k', reset: true });
  const got: string[] = [];
  let dropped = 0;
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown) => uncaught.push(e);
  // diagnostics_channel's own rule: a subscriber's throw is rethrown on the next tick (an
  // uncaught exception), after the other subscribers ran.
  const listeners = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  process.on('uncaughtException', onUncaught);
  const thrower = () => {
    throw new Error('subscriber');
  };
  const reentrant = (m: unknown) => {
    const { key } = m as { key: string; dropped: number };
    dropped += (m as { dropped: number }).dropped;
    got.push(key);
    c.set(`seen:${got.length % 8}`, key); // writes (and may evict) in the middle of the publish
    c.get(key);
    flushEvents();
  };
  subscribe('shmcached:evict', thrower);
  subscribe('shmcached:evict', reentrant);
  try {
    flushEvents();
    const v = Buffer.alloc(30_000, 1);
    for (let i = 0; i < 400; i++) {
      c.set(`k${i}`, v);
      if (i % 16 === 0) flushEvents();
    }
    flushEvents();
    await new Promise((r) => setImmediate(r));
  } finally {
    unsubscribe('shmcached:evict', thrower);
    unsubscribe('shmcached:evict', reentrant);
    process.removeListener('uncaughtException', onUncaught);
    for (const l of listeners) process.on('uncaughtException', l);
  }
  const evictions = Number(c.stats().evictions);
  assert.ok(evictions > 0);
  assert.is(dropped, 0, 'flushed often enough that the ring never overflowed');
  assert.is(got.length, evictions, 'every eviction reached the re-entrant subscriber');
  assert.ok(uncaught.length > 0 && uncaught.length === got.length, 'each throw surfaced as an uncaught exception');
  // Consistent: the last keys written are there with their values, the counts add up.
  assert.equal(c.get('k399'), Buffer.alloc(30_000, 1));
  let n = 0;
  for (const _ of c.keys()) n++;
  assert.is(n, Number(c.stats().curr_items));
  c.close();
});

listen('close() publishes what was recorded before the handle goes: a subscriber that calls the closing cache is answered', () => {
  const c = Cache.open({ path: tmpRegion('adapters-hostile-close'), size: '2mb', itemSizeMax: '64k', reset: true });
  const codes: unknown[] = [];
  const sub = (m: unknown) => {
    try {
      c.get((m as { key: string }).key);
      codes.push('ok');
    } catch (e) {
      codes.push((e as { code?: unknown }).code);
    }
  };
  subscribe('shmcached:evict', sub);
  try {
    flushEvents();
    const v = Buffer.alloc(30_000, 1);
    for (let i = 0; i < 200; i++) c.set(`k${i}`, v);
    c.close();
  } finally {
    unsubscribe('shmcached:evict', sub);
  }
  assert.ok(codes.length > 0, 'events were published at close');
  assert.ok(
    codes.every((x) => x === 'ok'),
    `every call answered: ${[...new Set(codes)].join(', ')}`,
  );
  assert.is(c.closed, true);
});

listen('fetch: a throwing subscriber of shmcached:fetch does not change what fetch returns or stores', async () => {
  const uncaught: unknown[] = [];
  const listeners = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  const onUncaught = (e: unknown) => uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  const thrower = () => {
    shared.delete('fetched'); // re-entrant too
    throw new Error('subscriber');
  };
  subscribe('shmcached:fetch', thrower);
  try {
    const v = await shared.fetch('fetched', () => 'loaded');
    assert.is(String(v), 'loaded');
    await new Promise((r) => setImmediate(r));
  } finally {
    unsubscribe('shmcached:fetch', thrower);
    process.removeListener('uncaughtException', onUncaught);
    for (const l of listeners) process.on('uncaughtException', l);
  }
  assert.ok(uncaught.length >= 1);
});

listen.run();
