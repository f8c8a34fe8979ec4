/**
 * `cache.fetch(key, loader, options)`: cache-aside with single flight across every thread and
 * process attached to the store, stale-while-revalidate, and invalidation — built on memcached's
 * own stampede protection (the meta protocol's N, R, W, Z and I flags, native/core/meta.cc), so a
 * meta-protocol client doing `mg key N30 ...` against `shmcached serve` takes part in the same
 * flights.
 *
 * How a call goes (each step one `mg key v c f N<lockTtl> [R<staleTtl>]` in the store):
 * - the key is there and fresh: return it (`hit`);
 * - it is missing: `N` creates an empty placeholder item that lives `lockTtl` seconds and hands
 *   this caller the win token (W): it runs the loader, stores the value (which replaces the
 *   placeholder) and returns it (`won`). Every other caller sees the placeholder with Z (token
 *   already out): it waits — polling with back-off from 1 ms to 50 ms, never spinning — until
 *   the value is there (`waited`), or until the placeholder expired (its winner died or gave up)
 *   and a later `mg` makes it the winner; one placeholder (one CAS) still there after twice
 *   `lockTtl` and a second (a remote node that never lets it go) fails the call with
 *   ERR_FETCH_TIMEOUT;
 * - a value is stored to live `ttl + staleTtl` seconds; once fewer than `staleTtl` remain (it is
 *   past `ttl`), the first reader wins the refresh (R): it gets the value at once (`stale`) and
 *   the loader runs in the background; other readers get the stale value too;
 * - `invalidate(key)` marks the value stale (`md key I`): it is still served, and the next reader
 *   wins its refresh, as above;
 * - a loader that throws, returns something that is not a string or bytes, or outlives `lockTtl`,
 *   gives the win back (the placeholder is deleted, a stale value is marked stale again, both
 *   only if no one stored a value meanwhile) and its caller gets the error: errors are never
 *   stored, and the next caller loads again.
 *
 * Events: `shmcached:fetch` on node:diagnostics_channel, published only when someone subscribes.
 *
 * The protocol runs over a {@link FetchStore}: a local Cache (direct calls, `cacheStore` in
 * src/cache.ts), or a remote node of a Cluster speaking the meta protocol (src/cluster/cluster.ts).
 * This module imports neither, so it sits below both in the import graph.
 */
import { channel } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';

import type { SetOptions } from './types.js';
import { type CodecImpl, decodeValue, encodeValue, tagFlags } from './codec.js';
import { bytesLength, detachedError, isBytes, isDetached } from './bytes.js';
import { CacheError, rangeError, typeError } from './errors.js';
import type { Key, Value } from './types.js';

/** Options of `Cache.fetch`. All times are whole seconds, as memcached's are. */
export interface FetchOptions {
  /** Seconds a loaded value is fresh; 0 (default) = it never expires (and is never stale). */
  ttl?: number;
  /** Seconds past `ttl` during which the value is still served, stale, while one caller refreshes it. Default 0. */
  staleTtl?: number;
  /**
   * Seconds a win lasts: the placeholder of a missing key expires after this, so callers wait at
   * most this long for a winner (one that died is replaced), and a loader that runs longer
   * loses its win. Default 30 (memcached's examples use N30).
   */
  lockTtl?: number;
  /** Client flags stored with a loaded value. Default 0. */
  flags?: number;
}

/**
 * Loads the value of a key that is missing (or stale): a string or bytes, or a promise of one —
 * or, on a cache with a codec, a value of the codec's type `T` (encoded before it is stored).
 */
export type Loader<T = Value> = (key: Key) => T | Promise<T>;

/** What a fetch call did, as published on the `shmcached:fetch` channel. */
export type FetchOutcome = 'hit' | 'stale' | 'won' | 'waited' | 'miss';

/** The message published on `shmcached:fetch` for each fetch call (and for each background refresh). */
export interface FetchEvent {
  key: Key;
  /**
   * `hit`: a fresh value; `stale`: a stale value returned at once (with `refreshing` when this
   * call started the refresh); `won`: missing, this call ran the loader; `waited`: missing,
   * another caller's load was awaited; `miss`: missing and loaded without a win (no memory
   * for a placeholder).
   */
  outcome: FetchOutcome;
  /** This call (or, for a background refresh, that refresh) ran the loader. */
  loaded: boolean;
  /** A stale value was returned and this call started its refresh in the background. */
  refreshing?: boolean;
  /** Milliseconds the loader took, when it ran in this event. */
  loaderMs?: number;
  /** Milliseconds spent waiting for another caller's load (outcome `waited`). */
  waitedMs?: number;
  /** The loader's error, when it failed (the win was given back). */
  error?: unknown;
  /** For a background refresh's own event: true. */
  background?: boolean;
}

/** What a {@link FetchStore}'s meta get reports of an item. */
export interface MetaItem {
  value: Buffer;
  flags: number;
  cas: bigint;
  /** This call won the right to refresh the item (memcached's W). */
  won: boolean;
  /** The item was invalidated and is served stale (X). */
  stale: boolean;
  /** Someone else holds the refresh (Z). */
  tokenSent: boolean;
  /** This call created the item, empty, as a placeholder for the winner's value (N on a miss). */
  created: boolean;
}

/**
 * The three store operations fetch needs (internal): memcached's `mg key v c f N<vivifyTtl>
 * [R<recacheTtl>]` (recacheTtl < 0: no R), a plain set, and `md key [I] [C<cas>]`.
 */
export interface FetchStore {
  metaGet(key: Key, vivifyTtl: number, recacheTtl: number): MetaItem | undefined | Promise<MetaItem | undefined>;
  set(key: Key, value: Value, options: SetOptions): void | Promise<void>;
  metaDelete(key: Key, invalidate: boolean, cas: bigint): boolean | Promise<boolean>;
  /** False once the store can no longer be used (giving a win back is then skipped). */
  readonly usable: boolean;
}

const fetchChannel = channel('shmcached:fetch');

const TTL_MAX = 60 * 60 * 24 * 30; // relative ttls only: above this memcached reads an absolute time
const POLL_MIN_MS = 1;
const POLL_MAX_MS = 50;
/**
 * The longest a caller waits on another's placeholder: twice its `lockTtl` and a second (the
 * store's clock ticks in seconds). A placeholder expires after lockTtl and the next `mg` wins,
 * so only a store that never lets it go is waited on this long.
 */
function placeholderWaitMs(lockTtl: number): number {
  return (2 * lockTtl + 1) * 1000;
}

function seconds(v: unknown, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number') throw typeError('ERR_INVALID_ARG_TYPE', `${name} must be a number of seconds, got ${typeof v}`);
  if (!Number.isInteger(v) || v < 0 || v > TTL_MAX)
    throw rangeError('ERR_OUT_OF_RANGE', `${name} must be an integer from 0 to ${TTL_MAX} seconds, got ${v}`);
  return v;
}

interface Plan {
  ttl: number;
  total: number;
  recache: number;
  lockTtl: number;
  flags: number;
}

function plan(options: FetchOptions | undefined, codec: CodecImpl | undefined): Plan {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw typeError('ERR_INVALID_ARG_TYPE', `options must be an object, got ${options === null ? 'null' : typeof options}`);
  }
  const o = options ?? {};
  const ttl = seconds(o.ttl, 'options.ttl', 0);
  const staleTtl = seconds(o.staleTtl, 'options.staleTtl', 0);
  const lockTtl = seconds(o.lockTtl, 'options.lockTtl', 30);
  if (lockTtl === 0) throw rangeError('ERR_OUT_OF_RANGE', 'options.lockTtl must be at least 1 second');
  if (ttl + staleTtl > TTL_MAX) throw rangeError('ERR_OUT_OF_RANGE', `options.ttl + options.staleTtl must be at most ${TTL_MAX} seconds`);
  // Under a codec the flags' top 4 bits record it (checked and tagged as a set does).
  const flags = codec !== undefined ? tagFlags(codec, o.flags) : (o.flags ?? 0);
  if (typeof flags !== 'number' || !Number.isInteger(flags) || flags < 0 || flags > 0xffffffff) {
    throw rangeError('ERR_OUT_OF_RANGE', `options.flags must be an integer from 0 to 4294967295, got ${String(flags)}`);
  }
  // ttl 0: the value never expires, so there is no stale window to recache in.
  return { ttl, total: ttl === 0 ? 0 : ttl + staleTtl, recache: ttl > 0 && staleTtl > 0 ? staleTtl : -1, lockTtl, flags };
}

function publish(e: FetchEvent): void {
  fetchChannel.publish(e);
}

// How long the loader ran before a failure, for the event (kept off the caller's error object).
const loaderTime = new WeakMap<object, number>();
const msOf = (e: unknown): number | undefined => (typeof e === 'object' && e !== null ? loaderTime.get(e) : undefined);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Runs the loader, bounded by lockTtl, and checks what it returned: bytes or a string without a
 * codec; with one, whatever the codec encodes (its errors are the loader's, as on a set).
 */
async function runLoader(key: Key, loader: Loader<unknown>, lockTtl: number, codec: CodecImpl | undefined): Promise<Value> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new CacheError('ERR_FETCH_TIMEOUT', `fetch: the loader ran past lockTtl (${lockTtl} s) and lost its win`)),
      lockTtl * 1000,
    );
  });
  try {
    const v = await Promise.race([Promise.resolve().then(() => loader(key)), timeout]);
    if (codec !== undefined) return encodeValue(codec, v);
    if (typeof v !== 'string' && !isBytes(v)) {
      throw typeError(
        'ERR_INVALID_RETURN_VALUE',
        `fetch: the loader must return a string or a Uint8Array, got ${v === null ? 'null' : typeof v}`,
      );
    }
    return v;
  } finally {
    clearTimeout(timer);
  }
}

/** A copy of `v`, at its real length (read from the view itself, never through an accessor of the caller's). */
function copyBytes(v: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(bytesLength(v));
  b.set(v);
  return b;
}

/**
 * Loads as the winner of `m` (a placeholder this call created, or a stale value whose refresh it
 * won), stores the result, and returns it; on failure gives the win back and rethrows.
 */
async function load(
  store: FetchStore,
  key: Key,
  loader: Loader<unknown>,
  p: Plan,
  m: MetaItem | undefined,
  codec: CodecImpl | undefined,
): Promise<{ value: unknown; ms: number }> {
  const t0 = performance.now();
  let bytes: Buffer;
  let ms = 0;
  try {
    const v = await runLoader(key, loader, p.lockTtl, codec);
    ms = performance.now() - t0;
    // The loader's bytes are copied now, before any await: the caller's code may change its
    // buffer while the store works, and the copy is both what is stored and what is returned.
    // A detached view is refused as the store refuses one (a copy of it would be empty).
    if (typeof v !== 'string' && isDetached(v)) throw detachedError('value');
    bytes = typeof v === 'string' ? Buffer.from(v) : copyBytes(v);
    // A value the store refuses (too large, out of memory) also gives the win back.
    await store.set(key, bytes, { ttl: p.total, flags: p.flags });
  } catch (e) {
    if (m !== undefined && store.usable) {
      // Give the win back, unless someone stored a value meanwhile (then the CAS differs).
      try {
        await store.metaDelete(key, !m.created, m.cas);
      } catch {
        // the store went away under us (closed, or a node died): its placeholder expires by itself
      }
    }
    if (typeof e === 'object' && e !== null) loaderTime.set(e, performance.now() - t0);
    throw e;
  }
  // Under a codec, the caller gets the value as a later hit will read it (decoded from what was stored).
  return { value: codec === undefined ? bytes : decodeValue(codec, bytes, p.flags, key), ms };
}

/** A stale value's refresh, in the background: its errors are published, never thrown. */
function refresh(store: FetchStore, key: Key, loader: Loader<unknown>, p: Plan, m: MetaItem, codec: CodecImpl | undefined): void {
  load(store, key, loader, p, m, codec).then(
    ({ ms }) => {
      if (fetchChannel.hasSubscribers) publish({ key, outcome: 'stale', loaded: true, loaderMs: ms, background: true });
    },
    (error: unknown) => {
      if (fetchChannel.hasSubscribers) publish({ key, outcome: 'stale', loaded: true, loaderMs: msOf(error), error, background: true });
    },
  );
}

/**
 * The implementation of `Cache.fetch`; see the module comment. With a `codec` (a Cache or
 * CachePool opened with one): the loader's value is encoded and stored with the codec's tag in
 * its flags, and every value returned is decoded (a value another codec wrote is CacheError
 * `ERR_CODEC_MISMATCH`, as on get). The store's own operations stay on bytes.
 */
export function fetchThrough(store: FetchStore, key: Key, loader: Loader, options?: FetchOptions): Promise<Buffer>;
export function fetchThrough(
  store: FetchStore,
  key: Key,
  loader: Loader<unknown>,
  options: FetchOptions | undefined,
  codec: CodecImpl | undefined,
): Promise<unknown>;
export async function fetchThrough(
  store: FetchStore,
  key: Key,
  loader: Loader<unknown>,
  options?: FetchOptions,
  codec?: CodecImpl,
): Promise<unknown> {
  if (typeof loader !== 'function')
    throw typeError('ERR_INVALID_ARG_TYPE', `loader must be a function, got ${loader === null ? 'null' : typeof loader}`);
  const p = plan(options, codec);
  const out = (m: MetaItem): unknown => (codec === undefined ? m.value : decodeValue(codec, m.value, m.flags, key));
  let delay = POLL_MIN_MS;
  let waitedSince = 0;
  /** The placeholder waited on (its CAS) and since when: a new one means the last expired and someone won again. */
  let placeholderCas = -1n;
  let placeholderSince = 0;
  for (;;) {
    const m = await store.metaGet(key, p.lockTtl, p.recache);
    if (m === undefined) {
      // No memory for a placeholder: load without single flight, store if it fits.
      try {
        const { value, ms } = await load(store, key, loader, p, undefined, codec);
        if (fetchChannel.hasSubscribers) publish({ key, outcome: 'miss', loaded: true, loaderMs: ms });
        return value;
      } catch (error) {
        if (fetchChannel.hasSubscribers) publish({ key, outcome: 'miss', loaded: true, error });
        throw error;
      }
    }
    if (m.won && m.created) {
      try {
        const { value, ms } = await load(store, key, loader, p, m, codec);
        if (fetchChannel.hasSubscribers) publish({ key, outcome: 'won', loaded: true, loaderMs: ms });
        return value;
      } catch (error) {
        if (fetchChannel.hasSubscribers) publish({ key, outcome: 'won', loaded: true, loaderMs: msOf(error), error });
        throw error;
      }
    }
    if (m.won) {
      // A stale value (invalidated, or past ttl within staleTtl): serve it, refresh behind.
      const stale = out(m);
      refresh(store, key, loader, p, m, codec);
      if (fetchChannel.hasSubscribers) publish({ key, outcome: 'stale', loaded: false, refreshing: true });
      return stale;
    }
    if (m.tokenSent && !m.stale && m.value.length === 0) {
      // Another caller's placeholder: its value is on the way. Wait, with back-off.
      const now = performance.now();
      if (waitedSince === 0) waitedSince = now;
      if (m.cas !== placeholderCas) {
        // A placeholder not seen before (the first, or a new winner's after the last expired):
        // progress, so its own lockTtl starts now. Slow loaders that keep losing their wins to
        // other processes are waited on; only one placeholder that never goes away is not.
        placeholderCas = m.cas;
        placeholderSince = now;
      } else if (now - placeholderSince > placeholderWaitMs(p.lockTtl)) {
        // A placeholder lives lockTtl: one that outlives it by this much is not a live win
        // (a broken or hostile remote node answers Z forever); waiting on would never end.
        const error = new CacheError(
          'ERR_FETCH_TIMEOUT',
          `fetch: another caller's placeholder outlived lockTtl (${p.lockTtl} s) by far; the store is not releasing it`,
        );
        if (fetchChannel.hasSubscribers) publish({ key, outcome: 'waited', loaded: false, waitedMs: now - waitedSince, error });
        throw error;
      }
      await sleep(delay);
      delay = Math.min(delay * 2, POLL_MAX_MS);
      continue;
    }
    const outcome: FetchOutcome = waitedSince !== 0 ? 'waited' : m.stale || m.tokenSent ? 'stale' : 'hit';
    if (fetchChannel.hasSubscribers)
      publish({ key, outcome, loaded: false, ...(waitedSince !== 0 ? { waitedMs: performance.now() - waitedSince } : {}) });
    return out(m);
  }
}
