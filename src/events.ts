/**
 * Item events on node:diagnostics_channel: `shmcached:evict` (an item pushed out by LRU eviction
 * or a page move) and `shmcached:expire` (an item found expired, on lookup or at the LRU tail),
 * each with the item's key, size and slab class.
 *
 * Cost when no one subscribes: nothing on any call. The core records events only into a ring that
 * an observer switched on (native/core/events.h); a 250 ms timer (unref'd, one per thread with
 * open caches) looks at `hasSubscribers`, switches recording on or off for this thread's caches,
 * and publishes what was recorded. So an event arrives up to 250 ms after it happened (or at once
 * with {@link flushEvents}), on the thread whose call caused it, and only for calls made after
 * the subscription was noticed. `Cache.open({ eventSample: N })` records one event in N.
 */
import { channel } from 'node:diagnostics_channel';

import { EventKind, EventRec, MetaOff } from './contract.js';
import type { NativeHandle } from './native.js';

/** A message of `shmcached:evict` or `shmcached:expire`. */
export interface ItemEvent {
  /** The item's key, decoded as UTF-8 (see `keyBytes` for binary keys). */
  key: string;
  keyBytes: Buffer;
  /** The item's bytes in the store: 40-byte header, key and value. */
  size: number;
  /** Its slab class (as in `stats slabs`). */
  slabClass: number;
  /** The region file of the cache whose call caused it. */
  path: string;
  /** Events of this cache that were not recorded since the last message (the ring was full). */
  dropped: number;
}

const evictChannel = channel('shmcached:evict');
const expireChannel = channel('shmcached:expire');
const POLL_MS = 250;

/** One open cache, as the event poller sees it (internal: src/cache.ts). */
export interface EventSource {
  h: NativeHandle;
  path: string;
  scratch: Buffer;
  meta32: Uint32Array;
  sample: number;
  recording: boolean;
}

const sources = new Set<EventSource>();
let timer: NodeJS.Timeout | undefined;

/** Starts watching a cache opened on this thread (internal: Cache.open). */
export function watchEvents(src: EventSource): void {
  sources.add(src);
  if (timer === undefined) {
    timer = setInterval(poll, POLL_MS);
    timer.unref();
  }
  if (evictChannel.hasSubscribers || expireChannel.hasSubscribers) poll();
}

/** Stops watching a cache that is closing, publishing what it recorded (internal: Cache.close). */
export function unwatchEvents(src: EventSource): void {
  if (src.recording) drain(src);
  sources.delete(src);
  if (sources.size === 0 && timer !== undefined) {
    clearInterval(timer);
    timer = undefined;
  }
}

/**
 * Publishes the evictions and expirations recorded so far by this thread's caches now, rather
 * than at the next poll (and notices new subscribers at once). Useful in tests and before exit.
 */
export function flushEvents(): void {
  poll();
}

function poll(): void {
  const want = evictChannel.hasSubscribers || expireChannel.hasSubscribers;
  for (const src of sources) {
    if (want !== src.recording) {
      if (src.recording) drain(src); // what was recorded before the last subscriber left
      src.h.setEvents(want ? src.sample : 0);
      src.recording = want;
    }
    if (want) drain(src);
  }
}

function drain(src: EventSource): void {
  for (let rounds = 0; rounds < 64; rounds++) {
    const bytes = src.h.drainEvents();
    if (bytes <= 0) return;
    let dropped = src.meta32[MetaOff.Flags >> 2] ?? 0; // meta32 views the whole meta buffer: Flags is in it
    const b = src.scratch;
    // Every record is read out of scratch before any is published: a subscriber runs at once,
    // and one that calls this cache (or flushEvents) overwrites scratch and meta.
    const out: [typeof evictChannel, ItemEvent][] = [];
    // Records in the contract's EventRec format (native/core/events.h).
    // p + Header <= bytes <= scratch.length: the header's bytes are in range (readUInt8 checks it).
    for (let p = 0; p + EventRec.Header <= bytes; ) {
      const kind = b.readUInt8(p + EventRec.Kind);
      const slabClass = b.readUInt8(p + EventRec.Class);
      const nkey = b.readUInt8(p + EventRec.Nkey);
      const size = b.readUInt32LE(p + EventRec.Size);
      const keyBytes = Buffer.from(b.subarray(p + EventRec.Header, p + EventRec.Header + nkey));
      p += EventRec.Header + nkey;
      const ch = kind === EventKind.Evict ? evictChannel : expireChannel;
      if (ch.hasSubscribers) out.push([ch, { key: keyBytes.toString('utf8'), keyBytes, size, slabClass, path: src.path, dropped }]);
      dropped = 0;
    }
    for (const [ch, e] of out) ch.publish(e);
  }
}
