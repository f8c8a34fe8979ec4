/**
 * `CachePool`: the asynchronous face of the shared store, on the calling thread and a pool of
 * worker_threads (docs/pool.md says how it chooses, and what each costs).
 *
 * The store is shared memory that every thread reaches through its own gate, so a hop to a
 * worker (tens of µs) only pays when it buys parallelism. With `inline: 'auto'` (the default) an
 * operation runs at the call, on the calling thread's own {@link Cache} handle, through the op
 * runner the workers use (`runOne` in workers/ops.ts), and its promise is returned settled. Once
 * a tick has run as many operations at the call as the cost model's split threshold, the rest of
 * the tick queues (unencoded, {@link Pending}) and is flushed on a microtask: inline if small, or
 * split by key between the idle workers and the caller (what runs inline reads each run of
 * consecutive gets with one `Cache.getMany`). `inline: 'never'` sends every flush to the
 * workers, `'always'` never does.
 *
 * Every worker opens the same region once (`Cache.open({ path })`) and runs operations against
 * it with the synchronous {@link Cache} API. What goes to a worker is encoded into ONE buffer per
 * request (the wire format below). Two transports carry it:
 * - `'atomics'` (default): each worker has a {@link Channel} — shared request and response
 *   buffers and an Atomics control block (src/pool/channel.ts). A flush is copied into an idle
 *   worker's request buffer (the one that answered last: it is likely still polling, see
 *   {@link PoolOptions.spinMicros}) and the worker is woken with `Atomics.notify`; the answer
 *   wakes the caller through `Atomics.waitAsync`. While every worker is busy, calls keep queueing
 *   and go together as the next request (so batches grow under load by themselves).
 * - `'piscina'`: each flush is one piscina task, the buffer transferred (not cloned) both ways.
 * A large flush (at least 2 x {@link CHUNK_MIN} operations) is split across the (idle) workers by
 * a hash of the key, so operations on one key made in the same tick stay in one request, in order.
 *
 * Wire format (all little-endian, read with DataView; no alignment):
 * - request: `u32 count, u32 usedBytes`, then per operation a 24-byte header
 *   `u8 op, u8 bits, u16 keyBytes, u32 valueBytes, f64 a, f64 b` followed by the key bytes and the
 *   value bytes. `a` is the ttl (bit {@link Bit.Ttl}), the numeric delta, or — with bit
 *   {@link Bit.BigDelta} — a u64 delta stored in the same 8 bytes; `b` is the flags (bit
 *   {@link Bit.Flags}). Numbers travel as f64 unchanged, so the worker's `Cache` range-checks
 *   them and throws exactly what a synchronous call would.
 * - response: `u32 count, u32 usedBytes`, then per operation a `u8` {@link Res} status and its payload:
 *   a value is `u32 length` + bytes, a bigint is a `u64`, an error is `u8 kind, u16 codeBytes,
 *   code, u32 messageBytes, message` (UTF-8).
 */
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

import { Piscina } from 'piscina';

import { arenaView } from '../arena-view.js';
import { Cache, DEFAULT_PATH, fetchWith } from '../cache.js';
import { type CodecImpl, decodeValue, encodeValue, resolveCodec, tagFlags, USER_FLAGS_MAX } from '../codec.js';
import { readTtl, ttlArg, type TtlOptions } from '../ttl.js';
import { Channel, workerExecArgv } from './channel.js';
import { entryKeyBytes } from '../entry.js';
import { bytesLength, copyInto, detachedError, isBytes, isDetached, keyTextError } from '../bytes.js';
import { CacheError, type CacheErrorCode, rangeError, typeError } from '../errors.js';
import { Layout } from '../contract.js';
import type { FetchOptions, Loader } from '../fetch.js';
import { Pending, Queue, encode, itemAt, keyHash, slotAt, staleBytes } from './queue.js';
import { Bit, ErrKind, Op, REQ_HEADER, RES_HEADER, Res } from './wire.js';
import type { CacheSetOptions, CasResult, In, ItemInfo, Key, OpenOptions, Value } from '../types.js';
import { runOne } from '../../workers/ops.js';

const KEY_MAX = Layout.KeyMax;
/** The key of a keyless operation on the wire. */
const EMPTY = new Uint8Array(0);
const U64_MAX = (1n << 64n) - 1n;

/** With `inline: 'never'`, a flush is split across workers only when it holds at least twice this many operations. */
export const CHUNK_MIN = 256;

/** An inline flush of at least this many operations is timed, to keep the per-operation cost current. */
const MEASURE_MIN = 32;
/** How many operations (at most) go by between two reads of the load and the costs ({@link CachePool.#replan}). */
const REPLAN_OPS = 4096;
/** How often (ms) the hop cost is measured again, and the load average read again, while flushes are large enough to care. */
const REFRESH_MS = 1000;
/** Weight of a new sample in the running averages of the cost model. */
const EWMA = 0.25;

/**
 * A running average (0: none yet) updated with `sample`. A sample is first capped at 4x the
 * average: one timing that the scheduler preempted (milliseconds, on a loaded machine) must not
 * swing the model, while a real change still moves it within a few samples.
 */
function average(avg: number, sample: number): number {
  if (avg === 0) return sample;
  return avg + EWMA * (Math.min(sample, 4 * avg) - avg);
}

/** What one `performance.now()` costs, in ns (taken off each timing): the fastest of a few runs, after a warm-up run. */
const NOW_NS = (() => {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < 4; r++) {
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) performance.now();
    if (r > 0) best = Math.min(best, ((performance.now() - t0) * 1e6) / 1001);
  }
  return best;
})();

/** Options of {@link CachePool}: the {@link OpenOptions} of the region, plus the pool's own. */
export interface PoolOptions extends OpenOptions {
  /** Worker threads in the pool. Default 2. */
  threads?: number;
  /**
   * How requests reach the workers: `'atomics'` (default; shared buffers and Atomics, the lower
   * latency) or `'piscina'` (one piscina task per flush, buffers transferred).
   */
  transport?: 'atomics' | 'piscina';
  /**
   * Atomics transport: microseconds a worker keeps polling for the next request after each
   * answer before it sleeps (default 0: sleep at once). Polling keeps back-to-back requests
   * from paying a thread wake-up each, at the price of up to that much CPU after each request.
   * At most (cores − 1) workers of a pool poll at once, so they never starve the calling thread.
   */
  spinMicros?: number;
  /**
   * Where a flush runs (see docs/pool.md):
   * - `'auto'` (default): on the calling thread, at the call (the promise comes back settled;
   *   nothing is ever thrown synchronously), until a tick has run as many operations as the cost
   *   model's split threshold; the rest of that tick is queued and flushed on a microtask, and the
   *   flush is split across idle workers, the caller running one share, when the model says that
   *   finishes sooner: the measured per-operation cost inline must outweigh the caller's measured
   *   cost of sending one (encode, decode, settle) by enough to pay the measured hop, and there
   *   must be idle cores (`os.availableParallelism()` less the load average). While every worker
   *   is busy, a flush runs inline at once instead of waiting.
   * - `'always'`: every operation runs on the calling thread, at the call; the workers are never used.
   * - `'never'`: every flush goes to the workers (split by key when it holds at least
   *   2 x {@link CHUNK_MIN} operations); while all are busy, the queue waits for the next answer.
   */
  inline?: 'auto' | 'always' | 'never';
  /**
   * Mode 'auto' only: a fixed threshold instead of the cost model's — a tick's first `splitAt`
   * operations run at the call, and a flush of at least `splitAt` operations is split across every
   * idle worker (the caller running one share), whatever the load. Default: measured (see docs/pool.md).
   */
  splitAt?: number;
  /**
   * How values are stored, as {@link OpenOptions.codec} on a Cache (the same tags in the flags,
   * so a Cache and a CachePool with the same codec read each other's values): encoded and
   * decoded on the calling thread; only bytes travel to the workers. Type the pool to match:
   * `new CachePool<User>({ codec: 'json' })`.
   */
  codec?: OpenOptions['codec'];
}

/** One operation of {@link CachePool.batch}; the fields mean what the {@link Cache} method's arguments mean. */
export type PoolOp<T = Buffer> =
  | { op: 'get'; key: Key }
  | { op: 'gat'; key: Key; ttl: number }
  | ({ op: 'set' | 'add' | 'replace'; key: Key; value: In<T>; flags?: number } & TtlOptions)
  | { op: 'append' | 'prepend'; key: Key; value: Value }
  | { op: 'delete'; key: Key }
  | { op: 'incr' | 'decr'; key: Key; delta?: number | bigint }
  | { op: 'touch'; key: Key; ttl: number };

/** A {@link PoolOp} with every field any operation has (missing ones are undefined: the method then rejects). */
type BatchFields = PoolOp & { value: Value; flags?: number; delta?: number | bigint; ttl: number } & TtlOptions;

/** The store options of a set/add/replace {@link PoolOp}. */
function batchSetOptions(o: BatchFields): CacheSetOptions {
  return { ttl: o.ttl, ttlMs: o.ttlMs, expiresAt: o.expiresAt, flags: o.flags };
}

/** How {@link CachePool.batch} runs each kind of {@link PoolOp}: the pool's method of that name, with the op's fields. */
const BATCH_CALLS: Readonly<Record<PoolOp['op'], (pool: CachePool<Buffer>, o: BatchFields) => Promise<unknown>>> = {
  get: (p, o) => p.get(o.key),
  gat: (p, o) => p.gat(o.key, o.ttl),
  set: (p, o) => p.set(o.key, o.value, batchSetOptions(o)),
  add: (p, o) => p.add(o.key, o.value, batchSetOptions(o)),
  replace: (p, o) => p.replace(o.key, o.value, batchSetOptions(o)),
  append: (p, o) => p.append(o.key, o.value),
  prepend: (p, o) => p.prepend(o.key, o.value),
  delete: (p, o) => p.delete(o.key),
  incr: (p, o) => p.incr(o.key, o.delta),
  decr: (p, o) => p.decr(o.key, o.delta),
  touch: (p, o) => p.touch(o.key, o.ttl),
};

/** A serialisable description of an error, as {@link CachePool.batch} reports it. */
export interface PoolErrorInfo {
  /** `'TypeError'`, `'RangeError'`, `'CacheError'` or `'Error'`. */
  name: string;
  /** The error's `code` (such as `'ERR_NON_NUMERIC'`), if it had one. */
  code: string | undefined;
  message: string;
}

/**
 * The outcome of one {@link PoolOp}: `value` is what the {@link Cache} method returns (a Buffer or
 * `undefined` for get/gat, `undefined` for set, a boolean for add/replace/append/prepend/delete/
 * touch, a bigint or `undefined` for incr/decr), or the error it would throw.
 */
export type PoolResult = { ok: true; value: Buffer | bigint | boolean | undefined } | { ok: false; error: PoolErrorInfo };

/** Counters of a {@link CachePool}, from {@link CachePool.stats}. */
export interface PoolStats {
  /** Operations queued so far (those rejected before queuing are not counted). */
  readonly ops: number;
  /** Flushes of the queue (at most one per tick; with the atomics transport, a tick whose workers were all busy flushes later, with the next). */
  readonly flushes: number;
  /** Requests sent to workers (one per flush, more when a large flush was split across workers). */
  readonly tasks: number;
  /** Tasks sent and not yet answered. */
  readonly inFlight: number;
  /** Operations run inline on the calling thread (see {@link PoolOptions.inline}). */
  readonly inlineOps: number;
  /** The cost model's measured store cost of one operation run inline, in ns (0 until measured). */
  readonly opNs: number;
  /** The cost model's measured round trip of an empty request to a worker, in ns (Infinity until measured). */
  readonly hopNs: number;
  /**
   * Bytes of shared memory the atomics transport's channels hold for requests and responses
   * (128 KiB a worker at rest; a large batch grows them, and the next small one gives it back);
   * 0 with piscina.
   */
  readonly channelBytes: number;
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** The UTF-8 length of a valid key, or the error an invalid one gets. */
function keyLength(key: unknown, name = 'key'): number | Error {
  let n: number;
  if (typeof key === 'string') {
    const bad = keyTextError(key, name);
    if (bad !== undefined) return bad;
    // At most 3 UTF-8 bytes per UTF-16 unit: a short key is valid without counting (-1: not counted).
    if (key.length > 0 && key.length * 3 <= KEY_MAX) return -1;
    n = key.length === 0 ? 0 : Buffer.byteLength(key);
  } else if (isBytes(key)) {
    n = bytesLength(key);
    if (n === 0 && isDetached(key)) return detachedError(name);
  } else return typeError('ERR_INVALID_ARG_TYPE', `${name} must be a string or a Uint8Array, got ${describe(key)}`);
  if (n === 0 || n > KEY_MAX) return rangeError('ERR_OUT_OF_RANGE', `${name} must be 1 to ${KEY_MAX} bytes long, got ${n}`);
  return n;
}

/**
 * A positional ttl as the wire carries it: a number travels as given (the Cache that runs the
 * operation checks it); `{ ttl | ttlMs | expiresAt }` becomes memcached's exptime here. Or the error.
 */
function argTtl(ttl: unknown): number | Error {
  if (typeof ttl === 'number') return ttl;
  try {
    return ttlArg(ttl, 'ttl');
  } catch (e) {
    return e as Error;
  }
}

/**
 * What an operation rejects with when the worker running it is lost (piscina rejected its task: the
 * worker thread failed or was terminated): CacheError `ERR_CACHE_CLOSED`, the original as `cause`.
 * A CacheError passes as it is.
 */
function workerLost(e: unknown): CacheError {
  if (e instanceof CacheError) return e;
  const why = e instanceof Error ? e.message : String(e);
  return new CacheError('ERR_CACHE_CLOSED', `shmcached pool: a worker thread failed: ${why}`, { cause: e });
}

function closedError(what: string): CacheError {
  return new CacheError('ERR_CACHE_CLOSED', `${what}: the pool is closed`);
}

/** Rebuilds the error a worker reported, with the class and `code` the synchronous call threw. */
function makeError(kind: number, code: string, message: string): Error {
  switch (kind) {
    case ErrKind.TypeError:
      return code ? typeError(code, message) : new TypeError(message);
    case ErrKind.RangeError:
      return code ? rangeError(code, message) : new RangeError(message);
    case ErrKind.CacheError:
      return new CacheError(code as CacheErrorCode, message);
    default: {
      const e = new Error(message) as Error & { code?: string };
      if (code) e.code = code;
      return e;
    }
  }
}

function errorInfo(e: unknown): PoolErrorInfo {
  const err = e as { name?: unknown; code?: unknown; message?: unknown };
  return {
    name: typeof err?.name === 'string' ? err.name : 'Error',
    code: typeof err?.code === 'string' ? err.code : undefined,
    message: typeof err?.message === 'string' ? err.message : String(e),
  };
}

function ok(value: unknown): PoolResult {
  return { ok: true, value: value as Buffer | bigint | boolean | undefined };
}

function fail(e: unknown): PoolResult {
  return { ok: false, error: errorInfo(e) };
}

// A CommonJS shim that import()s workers/pool-worker.js: see workers/pool-worker-entry.cts for why.
const WORKER = fileURLToPath(new URL('../../workers/pool-worker-entry.cjs', import.meta.url));

/**
 * The asynchronous face of a shared store: the same operations as {@link Cache}, each returning a
 * Promise; run on the calling thread, or — for a tick large enough that splitting it pays — split
 * between a pool of worker_threads and the caller (see {@link PoolOptions.inline}).
 *
 * ```ts
 * const pool = new CachePool({ path: '/dev/shm/app', size: '256mb', threads: 2 });
 * await pool.set('user:1', JSON.stringify(user), { ttl: 60 });
 * const v = await pool.get('user:1'); // Buffer | undefined
 * await pool.close();
 * ```
 *
 * - Calls that go to the workers travel together, one request per worker per flush (see {@link CachePool.stats}).
 * - Errors are per operation: each promise rejects with the error (class and `code`) that the
 *   synchronous {@link Cache} method would throw, and never fails its neighbours. Errors of
 *   argument types that are cheap to check (a key that is not a string or Uint8Array, a key of
 *   0 or more than 250 bytes, a non-number ttl) are found on the calling thread: the returned
 *   promise rejects at once, and no method ever throws synchronously. Range checks of numbers
 *   and memcached's key rule (no spaces or control characters) are found by the Cache that runs
 *   the operation (the caller's or a worker's), exactly as a synchronous call finds them.
 * - Order: operations on one key made in the same tick run in call order. Otherwise, as with
 *   any pool, only an operation started after another's promise resolved is ordered after it.
 * - Buffers returned by get/gat/getMany are views: of the calling thread's read arena (as the
 *   synchronous get returns), or of one worker response's ArrayBuffer.
 */
export class CachePool<T = Buffer> {
  readonly #path: string;
  readonly #threads: number;
  readonly #pool: Piscina<ArrayBuffer, ArrayBuffer> | undefined;
  readonly #channels: Channel[] = [];
  #cache: Cache | undefined;
  readonly #codec: CodecImpl | undefined;

  // Operations called since the last flush, encoded.
  readonly #queue: Queue;
  #scheduled = false;
  // The channels, least recently answered first.
  readonly #idleOrder: Channel[] = [];

  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #inFlight = new Set<Promise<void>>();
  #ops = 0;
  #flushes = 0;
  #tasks = 0;
  #answered = 0;
  #inlineOps = 0;

  readonly #inlineMode: 'auto' | 'always' | 'never';
  readonly #splitAt: number | undefined;
  // The cost model (mode 'auto'): store ns per operation inline, ns of a worker hop, and when the
  // hop was last measured; free cores from the load average, read at most every REFRESH_MS.
  #opNs = 0;
  #hopNs = Number.POSITIVE_INFINITY;
  #hopAt = -Infinity;
  #probing = false;
  #freeCores = 0;
  #loadAt = -Infinity;
  #workerBusyNs = 0;
  // Caller's cost per operation sent to a worker (encode + settle), ns; 0 until measured.
  #sendNs = 0;
  // Operations run at the call since the last flush or replan, and how many may be (see #replan).
  #eagerRun = 0;
  #eagerMax = Number.POSITIVE_INFINITY;
  // #ops when #replan last ran.
  #replanOps = 0;
  // The fast get (see #grant): gets that may still run at the call without the bookkeeping, and
  // how many were granted (granted − left of them ran, and are not yet in #ops, #inlineOps, #eagerRun).
  #fastLeft = 0;
  #fastGranted = 0;

  /**
   * Opens (creating if needed) the region on the calling thread with `options` (so that it
   * exists, with its size, before any worker attaches), then starts `threads` workers, each of
   * which opens the same path. Throws synchronously what {@link Cache.open} throws, and a
   * RangeError for a bad `threads` or `transport`.
   */
  constructor(options: PoolOptions = {}) {
    if (typeof options !== 'object' || options === null)
      throw typeError('ERR_INVALID_ARG_TYPE', `options must be an object, got ${describe(options)}`);
    const { threads = 2, transport = 'atomics', spinMicros = 0, inline = 'auto', splitAt, codec, ...open } = options;
    // The codec lives here, on the calling thread: the caller's handle and the workers' stay on bytes.
    this.#codec = resolveCodec(codec);
    if (!Number.isInteger(threads) || threads < 1 || threads > 256)
      throw rangeError('ERR_OUT_OF_RANGE', `options.threads must be an integer from 1 to 256, got ${String(threads)}`);
    if (transport !== 'atomics' && transport !== 'piscina')
      throw rangeError(
        'ERR_INVALID_ARG_VALUE',
        `options.transport must be 'atomics' or 'piscina', got ${JSON.stringify(String(transport))}`,
      );
    if (typeof spinMicros !== 'number' || !(spinMicros >= 0 && spinMicros <= 1e6))
      throw rangeError('ERR_OUT_OF_RANGE', `options.spinMicros must be a number from 0 to 1e6, got ${String(spinMicros)}`);
    if (inline !== 'auto' && inline !== 'always' && inline !== 'never')
      throw rangeError(
        'ERR_INVALID_ARG_VALUE',
        `options.inline must be 'auto', 'always' or 'never', got ${JSON.stringify(String(inline))}`,
      );
    if (splitAt !== undefined && !(Number.isInteger(splitAt) && splitAt >= 1))
      throw rangeError('ERR_OUT_OF_RANGE', `options.splitAt must be a positive integer, got ${String(splitAt)}`);
    this.#inlineMode = inline;
    this.#splitAt = splitAt;
    if (splitAt !== undefined) this.#eagerMax = splitAt;
    this.#path = open.path ?? DEFAULT_PATH;
    this.#cache = Cache.open({ ...open, path: this.#path });
    this.#threads = threads;
    if (transport === 'piscina') {
      this.#pool = new Piscina<ArrayBuffer, ArrayBuffer>({
        filename: WORKER,
        minThreads: threads,
        maxThreads: threads,
        idleTimeout: Infinity,
        execArgv: workerExecArgv(),
        workerData: { path: this.#path },
      });
      this.#queue = new Queue(false);
    } else {
      this.#queue = new Queue(true);
      const spinners = new Int32Array(new SharedArrayBuffer(8));
      spinners[1] = Math.max(0, availableParallelism() - 1);
      for (let i = 0; i < threads; i++) {
        this.#channels.push(new Channel(this.#path, spinMicros, spinners));
      }
      this.#idleOrder.push(...this.#channels);
    }
    // The first hop measurement: each worker's first answer waits for it to start, so it is not counted.
    if (inline === 'auto') this.#probe(2);
  }

  /** Where flushes run (see {@link PoolOptions.inline}). */
  get inline(): 'auto' | 'always' | 'never' {
    return this.#inlineMode;
  }

  /** The transport requests travel by (see {@link PoolOptions.transport}). */
  get transport(): 'atomics' | 'piscina' {
    return this.#pool === undefined ? 'atomics' : 'piscina';
  }

  /** The region file this pool serves. */
  get path(): string {
    return this.#path;
  }

  /** Whether {@link close} has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** A snapshot of the pool's counters: operations queued, flushes and piscina tasks. */
  stats(): PoolStats {
    this.#fold();
    return {
      ops: this.#ops,
      flushes: this.#flushes,
      tasks: this.#tasks,
      inFlight: this.#tasks - this.#answered,
      inlineOps: this.#inlineOps,
      opNs: this.#opNs,
      hopNs: this.#hopNs,
      channelBytes: this.#channels.reduce((sum, c) => sum + c.bufferBytes, 0),
    };
  }

  /**
   * The codec values go through: `'bytes'` (none, the default), `'string'`, `'json'`, `'v8'` or
   * the name of a custom one (see {@link PoolOptions.codec}).
   */
  get codec(): string {
    const c = this.#codec;
    return c === undefined ? 'bytes' : c.tag < 8 ? c.name.slice(1, -1) : c.name;
  }

  /** The value stored under `key` (decoded by the pool's codec; a Buffer by default), or `undefined` (see {@link Cache.get}). */
  get(key: Key): Promise<T | undefined> {
    // The fast get: one of a budget granted by the last get that took the full path below, while
    // nothing queues (the same rules, checked once for the whole budget; see #grant).
    if (this.#fastLeft > 0 && !this.#scheduled && this.#queue.count === 0) {
      this.#fastLeft--;
      try {
        return Promise.resolve(this.#cache!.get(key) as T | undefined);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    if (this.#codec !== undefined)
      return this.#enqueue(Op.Gets, 'get', key, undefined, 0, 0, 0, this.#valueOf(key)) as Promise<T | undefined>;
    // The common case at the call, without the generic runner: Cache.get checks the key itself
    // (the same errors as the checks of #enqueue) and its value is the answer.
    if (!this.#closed && this.#eager(1)) {
      const cache = this.#cache!;
      const n = ++this.#ops;
      this.#inlineOps++;
      this.#grant(n);
      try {
        if ((n & 255) !== 0) return Promise.resolve(cache.get(key) as T | undefined);
        const t0 = performance.now();
        const v = cache.get(key) as T | undefined;
        this.#sample(performance.now() - t0, 1);
        return Promise.resolve(v);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return this.#enqueue(Op.Get, 'get', key, undefined, 0, 0, 0) as Promise<T | undefined>;
  }

  /** The value with its flags (the caller's, without a codec's tag) and CAS unique, or `undefined` (see {@link Cache.gets}). */
  gets(key: Key): Promise<ItemInfo<T> | undefined> {
    return this.#enqueue(Op.Gets, 'gets', key, undefined, 0, 0, 0, this.#infoOf(key)) as Promise<ItemInfo<T> | undefined>;
  }

  /** Get and touch: the value, after setting a new expiry (seconds, or `{ ttl | ttlMs | expiresAt }`; see {@link Cache.gat}). */
  gat(key: Key, ttl: number | TtlOptions): Promise<T | undefined> {
    const t = argTtl(ttl);
    if (typeof t !== 'number') return Promise.reject(t);
    if (this.#codec !== undefined)
      return this.#enqueue(Op.Gats, 'gat', key, undefined, Bit.Ttl, t, 0, this.#valueOf(key)) as Promise<T | undefined>;
    return this.#enqueue(Op.Gat, 'gat', key, undefined, Bit.Ttl, t, 0) as Promise<T | undefined>;
  }

  /** {@link gat} with flags and CAS (see {@link Cache.gats}). */
  gats(key: Key, ttl: number | TtlOptions): Promise<ItemInfo<T> | undefined> {
    const t = argTtl(ttl);
    if (typeof t !== 'number') return Promise.reject(t);
    return this.#enqueue(Op.Gats, 'gats', key, undefined, Bit.Ttl, t, 0, this.#infoOf(key)) as Promise<ItemInfo<T> | undefined>;
  }

  /**
   * Copies the value of `key` into `target` at `offset` and resolves with its byte length, or
   * `undefined` if absent; when it does not fit, nothing is copied and the length is returned all
   * the same (see {@link Cache.getInto}). The raw bytes, whatever the codec. It saves the caller
   * a Buffer per value, not a copy: the value is copied once, out of the calling thread's read
   * arena or out of the worker's response.
   */
  getInto(key: Key, target: Uint8Array, offset = 0): Promise<number | undefined> {
    if (!isBytes(target)) return Promise.reject(typeError('ERR_INVALID_ARG_TYPE', `target must be a Uint8Array, got ${describe(target)}`));
    if (isDetached(target)) return Promise.reject(detachedError('target'));
    if (!Number.isInteger(offset) || offset < 0 || offset > bytesLength(target))
      return Promise.reject(rangeError('ERR_OUT_OF_RANGE', `offset must be an integer from 0 to target.length, got ${offset}`));
    // The answer comes later: by then the target may be detached or shrunk (copyInto checks again).
    const into = (v: unknown): number | undefined => (v === undefined ? undefined : copyInto(target, offset, v as Buffer));
    return this.#enqueue(Op.Get, 'getInto', key, undefined, 0, 0, 0, into) as Promise<number | undefined>;
  }

  /** Stores `value` under `key` (see {@link Cache.set}); expiry as `ttl` (seconds), `ttlMs` or `expiresAt`. */
  set(key: Key, value: In<T>, options?: CacheSetOptions): Promise<void> {
    return this.#store(Op.Set, 'set', key, value, options) as Promise<void>;
  }

  /** Stores only if `key` is absent; resolves `false` otherwise (see {@link Cache.add}). */
  add(key: Key, value: In<T>, options?: CacheSetOptions): Promise<boolean> {
    return this.#store(Op.Add, 'add', key, value, options) as Promise<boolean>;
  }

  /** Stores only if `key` is present; resolves `false` otherwise (see {@link Cache.replace}). */
  replace(key: Key, value: In<T>, options?: CacheSetOptions): Promise<boolean> {
    return this.#store(Op.Replace, 'replace', key, value, options) as Promise<boolean>;
  }

  /** Stores only if the item's CAS unique is still `cas` (from {@link gets}; see {@link Cache.cas}). */
  cas(key: Key, value: In<T>, cas: bigint | number, options?: CacheSetOptions): Promise<CasResult> {
    let c: bigint;
    if (typeof cas === 'bigint') c = cas;
    else if (typeof cas === 'number' && Number.isSafeInteger(cas)) c = BigInt(cas);
    else return Promise.reject(typeError('ERR_INVALID_ARG_TYPE', `cas must be a bigint (from gets), got ${describe(cas)}`));
    if (c < 0n || c > U64_MAX) return Promise.reject(rangeError('ERR_OUT_OF_RANGE', 'cas must be an unsigned 64-bit integer'));
    return this.#store(Op.Cas, 'cas', key, value, options, c) as Promise<CasResult>;
  }

  /** Appends bytes to an existing value (raw bytes, whatever the codec); `false` if absent (see {@link Cache.append}). */
  append(key: Key, value: Value): Promise<boolean> {
    return this.#store(Op.Append, 'append', key, value, undefined) as Promise<boolean>;
  }

  /** Prepends bytes to an existing value; `false` if absent (see {@link Cache.prepend}). */
  prepend(key: Key, value: Value): Promise<boolean> {
    return this.#store(Op.Prepend, 'prepend', key, value, undefined) as Promise<boolean>;
  }

  /** Removes `key`; resolves `true` if it was there (see {@link Cache.delete}). */
  delete(key: Key): Promise<boolean> {
    return this.#enqueue(Op.Delete, 'delete', key, undefined, 0, 0, 0) as Promise<boolean>;
  }

  /** Whether `key` holds a live item, without copying its value or bumping it in the LRU (see {@link Cache.has}). */
  has(key: Key): Promise<boolean> {
    return this.#enqueue(Op.Has, 'has', key, undefined, 0, 0, 0) as Promise<boolean>;
  }

  /** Adds `delta` (default 1) to a decimal value; the new value, or `undefined` if absent (see {@link Cache.incr}). */
  incr(key: Key, delta: number | bigint = 1): Promise<bigint | undefined> {
    return this.#delta(Op.Incr, 'incr', key, delta);
  }

  /** Subtracts `delta` (default 1), stopping at 0 (see {@link Cache.decr}). */
  decr(key: Key, delta: number | bigint = 1): Promise<bigint | undefined> {
    return this.#delta(Op.Decr, 'decr', key, delta);
  }

  /** Sets a new expiry (seconds, or `{ ttl | ttlMs | expiresAt }`); resolves `true` if the key was there (see {@link Cache.touch}). */
  touch(key: Key, ttl: number | TtlOptions): Promise<boolean> {
    const t = argTtl(ttl);
    if (typeof t !== 'number') return Promise.reject(t);
    return this.#enqueue(Op.Touch, 'touch', key, undefined, Bit.Ttl, t, 0) as Promise<boolean>;
  }

  /**
   * Invalidates every item now, or every item stored before `delay` seconds from now (see
   * {@link Cache.flushAll}). In call order with every other operation of the tick: a flush
   * holding it is never split.
   */
  flushAll(delay = 0): Promise<void> {
    if (typeof delay !== 'number')
      return Promise.reject(typeError('ERR_INVALID_ARG_TYPE', `delay must be a number of seconds, got ${typeof delay}`));
    return this.#keyless(Op.FlushAll, 'flushAll', delay) as Promise<void>;
  }

  /** Removes every item (as {@link flushAll}, for Map-like code). */
  clear(): Promise<void> {
    return this.flushAll(0);
  }

  /**
   * Items in the store (memcached's `curr_items`, as {@link Cache.size}), as a promise: a method,
   * as every read of the pool is asynchronous (`await pool.size()`).
   */
  size(): Promise<number> {
    return this.#keyless(Op.Size, 'size', 0) as Promise<number>;
  }

  /**
   * The live keys, as UTF-8 strings (see {@link Cache.keys}): crawled bucket by bucket, one
   * crawl step per pool operation (inline or on a worker), so each key live for the whole
   * iteration is yielded at least once, keys added or removed meanwhile may or may not be, and no
   * key is torn. Nothing is bumped or counted.
   */
  async *keys(): AsyncGenerator<string, void, undefined> {
    for await (const chunk of this.#crawl()) yield* chunk;
  }

  /**
   * `[key, value]` for the live keys (see {@link keys}), each value read as {@link get} reads it
   * (decoded by the codec; one getMany per crawl step); a key gone by then is skipped.
   */
  async *entries(): AsyncGenerator<[string, T], void, undefined> {
    for await (const chunk of this.#crawl()) {
      const values = await this.getMany(chunk);
      for (let i = 0; i < chunk.length; i++) {
        const v = values[i];
        if (v !== undefined) yield [itemAt(chunk, i), v];
      }
    }
  }

  /** {@link entries}, so `for await (const [k, v] of pool)` works. */
  [Symbol.asyncIterator](): AsyncGenerator<[string, T], void, undefined> {
    return this.entries();
  }

  /** The keys of each crawl step. */
  async *#crawl(): AsyncGenerator<string[], void, undefined> {
    let cursor = 0;
    for (;;) {
      const chunk = (await this.#keyless(Op.Crawl, 'keys', cursor)) as Buffer;
      const keys: string[] = [];
      for (let i = 9; i < chunk.length; ) {
        const n = itemAt(chunk, i);
        keys.push(chunk.toString('utf8', i + 1, i + 1 + n));
        i += 1 + n;
      }
      if (keys.length > 0) yield keys;
      if (chunk[0] === 1) return;
      cursor = chunk.readDoubleLE(1);
    }
  }

  /**
   * Largest value (bytes) storable under a key of `keyBytes` bytes, as {@link Cache.maxValueSize}
   * (synchronous: it asks the region, not a worker). CacheError `ERR_CACHE_CLOSED` once closed.
   */
  maxValueSize(keyBytes = 1): number {
    if (this.#closed || this.#cache === undefined) throw closedError('maxValueSize');
    return this.#cache.maxValueSize(keyBytes);
  }

  /**
   * Values of many keys, aligned with `keys` (see {@link Cache.getMany}). The keys travel in the
   * same flush; rejects with the first key's error if any key is bad.
   */
  getMany(keys: readonly Key[]): Promise<(T | undefined)[]> {
    if (!Array.isArray(keys)) return Promise.reject(typeError('ERR_INVALID_ARG_TYPE', `keys must be an array, got ${describe(keys)}`));
    if (this.#closed) return Promise.reject(closedError('getMany'));
    const n = keys.length;
    if (n === 0) return Promise.resolve([]);
    if (this.#codec === undefined && this.#eager(n)) {
      // At the call: Cache.getMany, one native call (one gate) per up to Layout.ManyMax keys; it
      // checks every key (the first bad one throws, as below) and its values are views of the
      // read arena, which is never written again (docs/pool.md).
      this.#ops += n;
      this.#inlineOps += n;
      try {
        const t0 = n >= MEASURE_MIN ? performance.now() : 0;
        const values = this.#cache!.getMany(keys) as (T | undefined)[];
        if (t0 !== 0) this.#sample(performance.now() - t0, n);
        return Promise.resolve(values);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    // Each key read once, into a plain array: reading `keys[i]` may run the caller's code (an
    // accessor element, a Proxy), which could answer with another key, or a non-key, the second
    // time, after the first was checked.
    const ks = new Array<Key>(n);
    const sizes = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const key = keys[i] as Key;
      const r = keyLength(key, `keys[${i}]`);
      if (typeof r !== 'number') return Promise.reject(r);
      ks[i] = key;
      sizes[i] = r;
    }
    if (this.#codec !== undefined) return Promise.all(ks.map((k) => this.get(k)));
    // One promise for the whole call: each answer lands in its slot (slots are consecutive in the queue).
    const q = this.#queue;
    return new Promise((resolve, reject) => {
      const values = new Array<T | undefined>(n);
      const base = q.count;
      let remaining = n;
      let failed = false;
      const got = (v: unknown, slot: number): void => {
        values[slot - base] = v as T | undefined;
        if (--remaining === 0 && !failed) resolve(values);
      };
      const bad = (e: unknown): void => {
        if (failed) return;
        failed = true;
        reject(e);
      };
      ks.forEach((key, i) => {
        q.pushWith(new Pending(Op.Get, 0, key, sizes[i] ?? -1), got, bad);
      });
      this.#ops += n;
      this.#schedule();
    });
  }

  /**
   * Stores many entries with the same options (see {@link Cache.setMany}): every entry is
   * checked (and encoded, under a codec) on the calling thread before any is stored, so a bad
   * one stores nothing; then each goes as a set in this tick's flush.
   */
  setMany(entries: Iterable<readonly [Key, In<T>]>, options?: CacheSetOptions): Promise<void> {
    if (this.#closed) return Promise.reject(closedError('setMany'));
    if (entries === null || typeof (entries as Iterable<unknown>)?.[Symbol.iterator] !== 'function')
      return Promise.reject(typeError('ERR_INVALID_ARG_TYPE', 'entries must be an iterable of [key, value] pairs'));
    const o = this.#setOptions(options, true);
    if (o instanceof Error) return Promise.reject(o);
    const codec = this.#codec;
    const list: Array<[Key, Value]> = [];
    try {
      let i = 0;
      for (const e of entries) {
        if (!Array.isArray(e) || e.length < 2) throw typeError('ERR_INVALID_ARG_TYPE', `entries[${i}] must be a [key, value] pair`);
        const k = e[0] as unknown;
        const klen = entryKeyBytes(k, i);
        const v = codec !== undefined ? encodeValue(codec, e[1]) : (e[1] as unknown);
        let vlen: number;
        if (typeof v === 'string') vlen = Buffer.byteLength(v);
        else if (isBytes(v)) vlen = bytesLength(v);
        else throw typeError('ERR_INVALID_ARG_TYPE', `entries[${i}][1] must be a string or a Uint8Array, got ${describe(v)}`);
        const max = this.#cache!.maxValueSize(0);
        if (klen + vlen > max)
          throw rangeError(
            'ERR_VALUE_TOO_LARGE',
            `value of ${vlen} bytes is too large: an item (key + value) holds at most ${max} bytes here (itemSizeMax minus the item header)`,
          );
        list.push([k as Key, v]);
        i++;
      }
    } catch (e) {
      return Promise.reject(e);
    }
    const ps = list.map(([k, v]) => this.#enqueue(Op.Set, 'setMany', k, v, o.bits, o.ttl, o.flags));
    return Promise.all(ps).then(() => undefined);
  }

  /**
   * Cache-aside with single flight through this pool's store (see {@link Cache.fetch}): the same
   * single flight as every other thread and process attached to it. Under a codec the loader
   * returns a `T`, stored encoded and tagged, and the value is decoded. The loader runs on the
   * calling thread (a function cannot travel to a worker); the store reads and writes around it
   * are direct calls on this thread's bytes handle.
   */
  fetch(key: Key, loader: Loader<In<T>>, options?: FetchOptions): Promise<T> {
    if (this.#closed || this.#cache === undefined) return Promise.reject(closedError('fetch'));
    return fetchWith(this.#cache, key, loader as Loader<unknown>, options, this.#codec) as Promise<T>;
  }

  /** {@link Cache.invalidate} on this pool's store. */
  invalidate(key: Key): Promise<boolean> {
    if (this.#closed || this.#cache === undefined) return Promise.reject(closedError('invalidate'));
    try {
      return Promise.resolve(this.#cache.invalidate(key));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Runs `ops` (in the same flush as the tick's other calls) and resolves with one
   * {@link PoolResult} per operation, in order; never rejects for a bad operation — its result
   * says `ok: false` — but rejects with a TypeError if `ops` is not an array.
   */
  batch(ops: readonly PoolOp<T>[]): Promise<PoolResult[]> {
    if (!Array.isArray(ops)) return Promise.reject(typeError('ERR_INVALID_ARG_TYPE', `ops must be an array, got ${describe(ops)}`));
    let n: number;
    try {
      n = ops.length; // a Proxy's trap may throw
    } catch (e) {
      return Promise.reject(e);
    }
    const ps = new Array<Promise<PoolResult>>(n);
    for (let i = 0; i < n; i++) {
      // Reading an operation or its fields may run the caller's code (an accessor, a Proxy): what
      // it throws is that operation's result, never a synchronous throw that would lose the
      // results of the operations already queued.
      let p: Promise<unknown>;
      try {
        p = this.#one(ops[i]);
      } catch (e) {
        p = Promise.reject(e);
      }
      ps[i] = p.then(ok, fail);
    }
    return Promise.all(ps);
  }

  /**
   * Stops taking calls, waits until every queued and in-flight operation has settled (the queue
   * of this tick is sent at once), then stops the workers and closes the calling thread's handle.
   * Later calls reject with CacheError `ERR_CACHE_CLOSED`. Calling it again returns the same promise.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    this.#fold();
    this.#fastLeft = this.#fastGranted = 0;
    this.#flush();
    this.#closing = (async () => {
      while (this.#inFlight.size > 0 || this.#queue.count > 0) {
        this.#flush();
        await Promise.allSettled([...this.#inFlight]);
      }
      if (this.#pool !== undefined) await this.#pool.destroy();
      await Promise.all(this.#channels.map((c) => c.stop()));
      this.#cache?.close();
      this.#cache = undefined;
    })();
    return this.#closing;
  }

  #one(op: PoolOp<T> | undefined): Promise<unknown> {
    if (typeof op !== 'object' || op === null)
      return Promise.reject(typeError('ERR_INVALID_ARG_TYPE', `each operation must be an object, got ${describe(op)}`));
    const name = (op as { op?: unknown }).op;
    const call = typeof name === 'string' && Object.hasOwn(BATCH_CALLS, name) ? BATCH_CALLS[name as PoolOp['op']] : undefined;
    if (call === undefined) return Promise.reject(typeError('ERR_INVALID_ARG_VALUE', `unknown operation ${JSON.stringify(String(name))}`));
    return call(this as unknown as CachePool<Buffer>, op as BatchFields);
  }

  /** Under a codec: decodes a {@link Op.Gets} answer to its value (another codec's item: ERR_CODEC_MISMATCH). */
  #valueOf(key: Key): (v: unknown) => unknown {
    const codec = this.#codec!;
    return (v) => {
      const i = v as ItemInfo | undefined;
      return i === undefined ? undefined : decodeValue(codec, i.value, i.flags, key);
    };
  }

  /** A {@link Op.Gets} answer as {@link ItemInfo}: decoded, and the flags without the codec's tag, under a codec. */
  #infoOf(key: Key): ((v: unknown) => unknown) | undefined {
    const codec = this.#codec;
    if (codec === undefined) return undefined;
    return (v) => {
      const i = v as ItemInfo | undefined;
      if (i === undefined) return undefined;
      return { value: decodeValue(codec, i.value, i.flags, key), flags: i.flags & USER_FLAGS_MAX, cas: i.cas };
    };
  }

  /**
   * The wire fields of a write's options: `ttl` travels as given (the Cache that runs the write
   * checks it, as a synchronous call does); `ttlMs` and `expiresAt` become memcached's exptime
   * here (src/ttl.ts). Under a codec (`tagged`: a write of a whole value) the flags carry its tag.
   */
  #setOptions(opts: CacheSetOptions | undefined, tagged: boolean): { bits: number; ttl: number; flags: number } | Error {
    let bits = 0;
    let ttl = 0;
    let flags = 0;
    try {
      if (opts !== undefined) {
        if (typeof opts !== 'object' || opts === null)
          throw typeError('ERR_INVALID_ARG_TYPE', `options must be an object, got ${opts === null ? 'null' : typeof opts}`);
        if (opts.ttlMs !== undefined || opts.expiresAt !== undefined) {
          ttl = readTtl(opts, 'options');
          bits |= Bit.Ttl;
        } else if (opts.ttl !== undefined) {
          if (typeof opts.ttl !== 'number')
            throw typeError('ERR_INVALID_ARG_TYPE', `options.ttl must be a number of seconds, got ${typeof opts.ttl}`);
          bits |= Bit.Ttl;
          ttl = opts.ttl;
        }
      }
      const codec = this.#codec;
      if (tagged && codec !== undefined) {
        flags = tagFlags(codec, opts?.flags);
        bits |= Bit.Flags;
      } else if (opts?.flags !== undefined) {
        if (typeof opts.flags !== 'number')
          throw typeError('ERR_INVALID_ARG_TYPE', `options.flags must be a number, got ${typeof opts.flags}`);
        bits |= Bit.Flags;
        flags = opts.flags;
      }
    } catch (e) {
      return e as Error;
    }
    return { bits, ttl, flags };
  }

  #store(op: Op, what: string, key: Key, value: unknown, opts: CacheSetOptions | undefined, cas?: bigint): Promise<unknown> {
    const whole = op === Op.Set || op === Op.Add || op === Op.Replace || op === Op.Cas;
    const o = this.#setOptions(opts, whole);
    if (o instanceof Error) return Promise.reject(o);
    let v = value;
    if (whole && this.#codec !== undefined) {
      if (this.#closed) return Promise.reject(closedError(what));
      try {
        // On the calling thread: a throwing encoder, or one that returns no bytes, stores nothing.
        v = encodeValue(this.#codec, value);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    if (typeof v !== 'string' && !isBytes(v))
      return Promise.reject(typeError('ERR_INVALID_ARG_TYPE', `value must be a string or a Uint8Array, got ${describe(v)}`));
    return this.#enqueue(op, what, key, v, o.bits, o.ttl, o.flags, undefined, cas);
  }

  #delta(op: Op, what: string, key: Key, delta: number | bigint): Promise<bigint | undefined> {
    if (typeof delta === 'number') return this.#enqueue(op, what, key, undefined, 0, delta, 0) as Promise<bigint | undefined>;
    if (typeof delta === 'bigint') {
      if (delta < 0n || delta > U64_MAX) return Promise.reject(rangeError('ERR_OUT_OF_RANGE', 'delta must be an unsigned 64-bit integer'));
      return this.#enqueue(op, what, key, undefined, Bit.BigDelta, delta, 0) as Promise<bigint | undefined>;
    }
    return Promise.reject(typeError('ERR_INVALID_ARG_TYPE', `delta must be a number or a bigint, got ${describe(delta)}`));
  }

  /**
   * Validates and queues one operation (or runs it at once, see {@link #eager}); the promise
   * settles with its result, mapped by `post` on the calling thread (a codec's decode: its error
   * rejects the promise).
   */
  #enqueue(
    op: Op,
    what: string,
    key: Key,
    value: Value | undefined,
    bits: number,
    a: number | bigint,
    b: number,
    post?: (v: unknown) => unknown,
    cas?: bigint,
  ): Promise<unknown> {
    if (this.#closed) return Promise.reject(closedError(what));
    const keyBytes = keyLength(key);
    if (typeof keyBytes !== 'number') return Promise.reject(keyBytes);
    // (A string value is under 2^32 UTF-8 bytes: V8 strings are shorter than 2^29 units.)
    if (value !== undefined && typeof value !== 'string') {
      if (!isBytes(value))
        return Promise.reject(typeError('ERR_INVALID_ARG_TYPE', `value must be a string or a Uint8Array, got ${describe(value)}`));
      const n = bytesLength(value);
      if (n > 0xffffffff) return Promise.reject(rangeError('ERR_VALUE_TOO_LARGE', `value of ${n} bytes is too large`));
      if (n === 0 && isDetached(value)) return Promise.reject(detachedError('value'));
    }
    if (this.#eager(1)) return this.#runNow(op, bits, key, value, a, b, post, cas);
    const p = this.#queue.push(new Pending(op, bits, key, keyBytes, value, a, b, cas));
    this.#ops++;
    this.#schedule();
    return post === undefined ? p : p.then(post);
  }

  /**
   * Queues (or runs at once) an operation without a key: flushAll, size, a crawl step. Its flush
   * is never split ({@link Queue.barrier}), so it keeps call order with the tick's other operations.
   */
  #keyless(op: Op, what: string, a: number): Promise<unknown> {
    if (this.#closed) return Promise.reject(closedError(what));
    if (this.#eager(1)) return this.#runNow(op, 0, EMPTY, undefined, a, 0);
    const p = this.#queue.push(new Pending(op, 0, EMPTY, 0, undefined, a, 0));
    this.#queue.barrier = true;
    this.#ops++;
    this.#schedule();
    return p;
  }

  /**
   * Whether `n` operations called now run at once, on this thread (see {@link PoolOptions.inline}):
   * always in mode 'always', never in 'never'; in 'auto' unless this tick's calls already queue
   * (order: they would overtake them) or {@link #eagerMax} operations ran at the call since the
   * last flush — then the rest of the tick queues, and its flush may go to the workers.
   */
  #eager(n: number): boolean {
    this.#fold();
    this.#fastLeft = this.#fastGranted = 0;
    const mode = this.#inlineMode;
    if (mode === 'always') return true;
    if (this.#scheduled || mode === 'never' || this.#queue.count > 0) return false;
    const run = (this.#eagerRun += n);
    if (run > this.#eagerMax) return false;
    if (run % REPLAN_OPS < n) this.#replan(); // every REPLAN_OPS operations or so: the load or the costs may have changed
    return true;
  }

  /**
   * After a get that ran at the call through the full path (operation number `n`): how many of
   * the next gets may take the fast path in {@link get}, which skips the bookkeeping that would
   * find nothing to do for them. The budget ends before the next timed operation (one in 256,
   * for the cost model), before the next replan (every REPLAN_OPS operations run at the call), and
   * within the split threshold ({@link #eagerMax}); mode 'auto' and 'always' only, no codec. Any
   * other operation, a flush, a replan and close() take back what is left, and a fast get only
   * runs while nothing is queued or scheduled, so the order rules are those of {@link #eager}.
   * Measured with callgrind, a lone `await pool.get()`: the full path costs about 330 instructions
   * more than `await Promise.resolve(cache.get())`.
   */
  #grant(n: number): void {
    const mode = this.#inlineMode;
    if (this.#codec !== undefined || mode === 'never') return;
    let left = 255 - (n & 255);
    if (mode === 'auto') {
      const run = this.#eagerRun;
      left = Math.min(left, REPLAN_OPS - 1 - (run % REPLAN_OPS), this.#eagerMax - run);
    }
    if (left > 0) this.#fastLeft = this.#fastGranted = left;
  }

  /** Adds the fast gets run since the budget was granted to the counters they skipped. */
  #fold(): void {
    const used = this.#fastGranted - this.#fastLeft;
    if (used > 0) {
      this.#ops += used;
      this.#inlineOps += used;
      this.#eagerRun += used;
      this.#fastGranted = this.#fastLeft;
    }
  }

  /**
   * Runs one operation at the call, through the op runner the workers use, and returns it as a
   * settled promise (never a synchronous throw). One in 256 is timed for the cost model.
   */
  #runNow(
    op: number,
    bits: number,
    key: Key,
    value: Value | undefined,
    a: number | bigint,
    b: number,
    post?: (v: unknown) => unknown,
    cas?: bigint,
  ): Promise<unknown> {
    const cache = this.#cache!;
    const n = ++this.#ops;
    this.#inlineOps++;
    try {
      if ((n & 255) !== 0) {
        const v = runOne(cache, op, bits, key, value!, a, b, cas);
        return Promise.resolve(post === undefined ? v : post(v));
      }
      const t0 = performance.now();
      const v = runOne(cache, op, bits, key, value!, a, b, cas);
      this.#sample(performance.now() - t0, 1);
      return Promise.resolve(post === undefined ? v : post(v));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Adds a timing of `n` operations run inline (`ms` milliseconds) to the per-operation cost. A
   * timing no longer than the clock's own cost says nothing and is dropped: counted as 0, such
   * samples of one short operation drove the average to ~0 (1e-286 was seen), which made the
   * split threshold infinite whatever the operations cost.
   */
  #sample(ms: number, n: number): void {
    const ns = ms * 1e6 - NOW_NS;
    if (ns > 0) this.#opNs = average(this.#opNs, ns / n);
  }

  /** Flushes the queue at the end of this tick (once). */
  #schedule(): void {
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flushTask);
    }
  }

  readonly #flushTask = (): void => this.#flush();

  /**
   * Runs or sends the queue. Mode 'always', and mode 'auto' unless {@link #plan} finds that
   * splitting pays: the whole queue runs inline, here. Mode 'auto' when it pays: split by a hash
   * of the key into one share per chosen idle worker plus one run inline (so one key's operations
   * stay in one share, in order). Mode 'never': one request, or one per idle worker when it holds
   * at least 2 x {@link CHUNK_MIN} operations; while no worker is idle the queue stays, and the
   * next answer sends it (atomics: the worker that answered last first, it is likely still polling).
   */
  #flush(): void {
    this.#scheduled = false;
    this.#fold();
    this.#fastLeft = this.#fastGranted = 0;
    const q = this.#queue;
    const count = q.count;
    if (count === 0) return;
    const mode = this.#inlineMode;
    let split = 0;
    if (mode === 'auto') {
      // A flush too small to split only starts a new run of operations at the call; the load and
      // the costs are read again every REPLAN_OPS operations.
      if (count < (this.#splitAt ?? MEASURE_MIN) && this.#ops - this.#replanOps < REPLAN_OPS) this.#eagerRun = 0;
      else {
        this.#replan();
        // A keyless operation (flushAll, size, a crawl step) keeps its flush in one piece.
        if (!q.barrier) split = this.#plan(count);
      }
    }
    const whole = q.barrier;
    if (mode === 'always' || (mode === 'auto' && split === 0)) {
      this.#flushes++;
      this.#runInline(q.take(), null);
      return;
    }
    let idle: Channel[] | undefined;
    let workers = this.#threads;
    if (this.#pool === undefined) {
      idle = [];
      for (let i = this.#idleOrder.length - 1; i >= 0; i--) {
        const c = this.#idleOrder[i];
        if (c !== undefined && !c.busy && !c.dead) idle.push(c);
      }
      if (idle.length === 0) {
        if (this.#channels.every((c) => c.dead))
          q.failAll(new CacheError('ERR_CACHE_CLOSED', 'shmcached pool: every worker thread has exited'));
        return; // every worker busy: the queue goes with the next answer
      }
      workers = idle.length;
    }
    // Mode 'auto': one share per chosen worker and the caller's (share 0); 'never': workers only.
    const mine = mode === 'auto' ? 1 : 0;
    const chunks =
      mine === 1 ? Math.min(split, workers) + 1 : !whole && count >= 2 * CHUNK_MIN ? Math.min(workers, Math.floor(count / CHUNK_MIN)) : 1;
    const ops = q.take();
    this.#flushes++;
    if (chunks <= 1) {
      if (mine === 1) this.#runInline(ops, null);
      else this.#dispatch(ops, null, idle?.[0]);
      return;
    }
    // By a hash of the key, so that one key's operations stay in one share, in call order.
    const which = new Uint8Array(ops.length);
    const counts = new Array<number>(chunks).fill(0);
    let i = 0;
    for (const op of ops) {
      const c = keyHash(op) % chunks;
      which[i++] = c;
      counts[c] = (counts[c] ?? 0) + 1;
    }
    const idxs = counts.map((n) => new Int32Array(n));
    const fill = new Int32Array(chunks);
    which.forEach((c, i) => {
      const share = idxs[c];
      const at = fill[c];
      if (share === undefined || at === undefined) return;
      share[at] = i;
      fill[c] = at + 1;
    });
    // Workers' shares first (so that they start at once), then the caller's.
    idxs.forEach((share, c) => {
      if (c >= mine && share.length > 0) this.#dispatch(ops, share, idle?.[c - mine]);
    });
    const own = idxs[0];
    if (mine === 1 && own !== undefined && own.length > 0) this.#runInline(ops, own);
  }

  /**
   * Mode 'auto': how many idle workers a flush of `count` operations should be split across (the
   * caller running one more share), or 0 to run it all inline. See {@link #threshold}.
   */
  #plan(count: number): number {
    if (this.#splitAt !== undefined) return count >= this.#splitAt ? this.#idleWorkers() : 0;
    const k = this.#splitWorkers();
    return k >= 1 && count >= this.#threshold(k) ? k : 0;
  }

  /** Workers a split may use now: idle ones, at most as many as there are idle cores. */
  #splitWorkers(): number {
    const idle = this.#idleWorkers();
    return idle === 0 ? 0 : Math.min(idle, this.#idleCores());
  }

  /** Workers with no request outstanding. */
  #idleWorkers(): number {
    if (this.#pool !== undefined) return Math.max(0, this.#threads - (this.#tasks - this.#answered));
    let idle = 0;
    for (const c of this.#channels) if (!c.busy && !c.dead) idle++;
    return idle;
  }

  /**
   * The smallest number of operations for which a split across `k` workers plus the caller beats
   * running them all inline, or Infinity. With `r` the measured cost of one operation inline, `e`
   * the measured cost the caller still pays per operation sent to a worker (encoding it, decoding
   * and settling its answer) and `h` the measured hop: inline takes n·r, a split about
   * n·e + h + n·r/(k+1); so n > h / (r·k/(k+1) − e). Unmeasured `r` or `h`: Infinity.
   */
  #threshold(k: number): number {
    const r = this.#opNs;
    const h = this.#hopNs;
    if (!(r > 0) || !Number.isFinite(h)) return Number.POSITIVE_INFINITY;
    const gain = (r * k) / (k + 1) - this.#sendNs;
    return gain > 0 ? Math.max(MEASURE_MIN, Math.ceil(h / gain)) : Number.POSITIVE_INFINITY;
  }

  /**
   * Mode 'auto': how many operations may run at once, at the call, before a tick's calls queue
   * for a flush that may be split ({@link #threshold} with the workers usable now; Infinity while
   * none is, or splitting never pays). Asks for a new hop measurement when it is stale.
   */
  #replan(): void {
    this.#fold();
    this.#fastLeft = this.#fastGranted = 0;
    this.#eagerRun = 0;
    this.#replanOps = this.#ops;
    if (this.#splitAt !== undefined) return;
    const k = this.#splitWorkers();
    if (k >= 1 || !Number.isFinite(this.#hopNs)) this.#refreshHop();
    this.#eagerMax = k >= 1 ? this.#threshold(k) : Number.POSITIVE_INFINITY;
  }

  /**
   * Cores not busy, other than the calling thread's: `os.availableParallelism()` less the 1-minute
   * load average, counting back this process's own share of that load (the caller's thread and the
   * workers' measured busy time), at most cores − 1. Read again at most every REFRESH_MS.
   */
  #idleCores(): number {
    const now = performance.now();
    if (now - this.#loadAt >= REFRESH_MS) {
      const elapsed = now - this.#loadAt;
      const workersBusy = Number.isFinite(elapsed) ? Math.min(this.#threads, this.#workerBusyNs / 1e6 / elapsed) : 0;
      this.#workerBusyNs = 0;
      this.#loadAt = now;
      const cores = availableParallelism();
      this.#freeCores = Math.max(0, Math.min(cores - 1, Math.floor(cores - (loadavg()[0] ?? 0) + 1 + workersBusy)));
    }
    return this.#freeCores;
  }

  /** Measures the hop again (in the background) if the last measurement is older than REFRESH_MS. */
  #refreshHop(): void {
    if (!this.#probing && this.#channels.length + (this.#pool ? 1 : 0) > 0 && performance.now() - this.#hopAt >= REFRESH_MS) this.#probe(1);
  }

  /**
   * Sends `rounds` empty requests, one after another, to an idle worker and records the last
   * round trip as the hop cost (the first of several is not counted: it may wait for the worker to
   * start). Runs in the background; close() waits for it.
   */
  #probe(rounds: number): void {
    this.#probing = true;
    this.#hopAt = performance.now();
    const req = new Uint8Array(REQ_HEADER);
    const one = (): Promise<void> => {
      if (this.#pool !== undefined) {
        const ab = new ArrayBuffer(REQ_HEADER);
        return this.#pool.run(ab, { transferList: [ab] }).then(() => undefined);
      }
      const c = this.#channels.find((ch) => !ch.busy && !ch.dead);
      if (c === undefined) return Promise.reject(new Error('no idle worker'));
      return c.call(req, () => undefined);
    };
    const p = (async () => {
      try {
        for (let i = 0; i < rounds; i++) {
          const t0 = performance.now();
          await one();
          const ns = (performance.now() - t0) * 1e6;
          if (i === rounds - 1 || rounds === 1) this.#hopNs = Number.isFinite(this.#hopNs) ? this.#hopNs + EWMA * (ns - this.#hopNs) : ns;
        }
      } catch {
        // No idle worker, or it died: try again later.
      } finally {
        this.#hopAt = performance.now();
        this.#probing = false;
        if (this.#queue.count > 0 && !this.#scheduled) this.#flush(); // mode 'never' may have waited for a probing worker
      }
    })();
    this.#track(p);
  }

  /**
   * Runs operations on the calling thread with its own {@link Cache} handle, unencoded, through
   * the op runner the workers use ({@link runOne}), settling each promise with its value or error.
   * A run of at least MEASURE_MIN operations also updates the cost model's per-operation cost.
   */
  #runInline(ops: readonly Pending[], idx: Int32Array | null): void {
    const n = idx === null ? ops.length : idx.length;
    const cache = this.#cache;
    if (cache === undefined) {
      rejectFrom(ops, idx, 0, closedError('flush'));
      return;
    }
    this.#inlineOps += n;
    const t0 = n >= MEASURE_MIN ? performance.now() : 0;
    for (let i = 0; i < n; ) {
      const slot = slotAt(idx, i);
      const p = itemAt(ops, slot);
      if (p.op === Op.Get && i + 1 < n && itemAt(ops, slotAt(idx, i + 1)).op === Op.Get) {
        i = runGets(cache, ops, idx, i, n);
        continue;
      }
      i++;
      let v: unknown;
      try {
        v = runOne(cache, p.op, p.bits, p.key, p.value!, p.a, p.b, p.cas);
      } catch (e) {
        p.rej(e);
        continue;
      }
      p.res(v, slot);
    }
    if (t0 !== 0) this.#sample(performance.now() - t0, n);
  }

  /**
   * Sends `ops` (or those at `idx`) as one request over `channel` (atomics) or as a piscina task,
   * and settles their promises from the answer.
   */
  #dispatch(ops: readonly Pending[], share: Int32Array | null, channel: Channel | undefined): void {
    // Operations whose bytes changed since the call (see staleBytes) are rejected here, alone; an
    // encoding that throws all the same rejects the share: nothing thrown here may escape the flush
    // (a microtask: it would be an uncaught exception, and the operations would never settle).
    const idx = intact(ops, share);
    if (idx !== null && idx.length === 0) return;
    const failAll = (err: unknown): void => rejectFrom(ops, idx, 0, err);
    let req: Uint8Array;
    try {
      // Atomics: call() copies the request before it returns, so the queue's buffer is free again at once.
      req = channel !== undefined ? this.#queue.encodeAll(ops, idx).bytes : encode(ops, idx).bytes;
    } catch (e) {
      failAll(e);
      return;
    }
    this.#tasks++;
    const t0 = performance.now();
    const count = idx === null ? ops.length : idx.length;
    let p: Promise<void>;
    if (channel !== undefined) {
      const encMs = performance.now() - t0;
      const after = (): void => {
        // Most recently answered last: the next flush tries it first.
        const i = this.#idleOrder.indexOf(channel);
        if (i >= 0) this.#idleOrder.splice(i, 1);
        this.#idleOrder.push(channel);
        if (this.#queue.count > 0) this.#flush(); // work queued while the workers were busy
      };
      // One copy of the whole response out of the shared area; values are views of that copy
      // (measured: ~40 ns a value, against ~115 for a pooled Buffer and a copy per value).
      p = channel
        .call(req, (out) => {
          this.#answered++;
          const t1 = performance.now();
          const copy = Buffer.from(new ArrayBuffer(out.length));
          copy.set(out);
          answer(copy, ops, idx);
          if (count >= MEASURE_MIN) {
            const ns = ((encMs + performance.now() - t1) * 1e6) / count;
            this.#sendNs = average(this.#sendNs, ns);
          }
        })
        .then(
          () => after(),
          (e: unknown) => {
            this.#answered++;
            failAll(e);
            after();
          },
        );
    } else {
      const ab = req.buffer as ArrayBuffer;
      p = this.#pool!.run(ab, { transferList: [ab] }).then(
        (out) => {
          this.#answered++;
          answer(Buffer.from(out), ops, idx);
        },
        (e: unknown) => {
          this.#answered++;
          failAll(workerLost(e));
        },
      );
    }
    this.#track(p, t0);
  }

  #track(p: Promise<void>, t0?: number): void {
    if (t0 !== undefined) void p.finally(() => (this.#workerBusyNs += (performance.now() - t0) * 1e6));
    this.#inFlight.add(p);
    void p.finally(() => this.#inFlight.delete(p));
  }
}

/**
 * Runs the gets from position `from` of a flush (or share) on, up to the first operation that is
 * not a get, with one {@link Cache.getMany} (one gate per up to Layout.ManyMax keys), settles
 * them, and returns the position after them. If getMany throws (a key memcached refuses: it
 * rejects the whole call), the same gets run one by one, so that each settles as its own get
 * would: the bad key's promise rejects, its neighbours resolve (their hits are then counted twice
 * in the store's stats, the price of the error path).
 */
function runGets(cache: Cache, ops: readonly Pending[], idx: Int32Array | null, from: number, n: number): number {
  let end = from;
  while (end < n && itemAt(ops, slotAt(idx, end)).op === Op.Get) end++;
  const keys = new Array<Key>(end - from);
  for (let i = from; i < end; i++) keys[i - from] = itemAt(ops, slotAt(idx, i)).key;
  let values: (Buffer | undefined)[] | undefined;
  try {
    values = cache.getMany(keys);
  } catch {
    values = undefined;
  }
  for (let i = from; i < end; i++) {
    const slot = slotAt(idx, i);
    const p = itemAt(ops, slot);
    if (values !== undefined) {
      p.res(values[i - from], slot);
      continue;
    }
    let v: unknown;
    try {
      v = cache.get(p.key);
    } catch (e) {
      p.rej(e);
      continue;
    }
    p.res(v, slot);
  }
  return end;
}

/** Settles a request's operations from its response; a malformed response fails them all, never leaving one pending. */
function answer(out: Buffer, ops: readonly Pending[], idx: Int32Array | null): void {
  try {
    settle(out, ops, idx);
  } catch (e) {
    // Rejecting a promise that already settled does nothing, so this is safe after a partial settle.
    rejectFrom(ops, idx, 0, e);
  }
}

/**
 * The slots of `ops` (those `idx` names, or all) that can still be encoded: `idx` itself when all
 * can; otherwise the others are rejected with their {@link staleBytes} error and left out.
 */
function intact(ops: readonly Pending[], idx: Int32Array | null): Int32Array | null {
  const n = idx === null ? ops.length : idx.length;
  let keep: number[] | undefined;
  for (let i = 0; i < n; i++) {
    const p = itemAt(ops, slotAt(idx, i));
    const err = typeof p.key === 'string' && (p.value === undefined || typeof p.value === 'string') ? undefined : staleBytes(p);
    if (err !== undefined) {
      keep ??= Array.from({ length: i }, (_, j) => slotAt(idx, j));
      p.rej(err);
    } else keep?.push(slotAt(idx, i));
  }
  return keep === undefined ? idx : Int32Array.from(keep);
}

/** Rejects the operations `idx` names (every one of `ops` when it is null), from position `from` on. */
function rejectFrom(ops: readonly Pending[], idx: Int32Array | null, from: number, e: unknown): void {
  if (idx === null) for (const p of ops.slice(from)) p.rej(e);
  else for (const slot of idx.subarray(from)) ops[slot]?.rej(e);
}

/** Decodes a response buffer and settles each operation's promise. */
function settle(out: Buffer, ops: readonly Pending[], idx: Int32Array | null): void {
  const count = idx === null ? ops.length : idx.length;
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let p: number;
  const n = v.getUint32(0, true);
  p = RES_HEADER;
  for (let i = 0; i < count; i++) {
    const slot = slotAt(idx, i);
    const op = itemAt(ops, slot);
    if (i >= n) {
      op.rej(new Error('shmcached pool: the worker answered fewer operations than it was sent'));
      continue;
    }
    const st = v.getUint8(p++);
    switch (st) {
      case Res.Undefined:
        op.res(undefined, slot);
        break;
      case Res.True:
        op.res(true, slot);
        break;
      case Res.False:
        op.res(false, slot);
        break;
      case Res.BigInt:
      case Res.Number:
        op.res(st === Res.BigInt ? v.getBigUint64(p, true) : v.getFloat64(p, true), slot);
        p += 8;
        break;
      case Res.Value: {
        const len = v.getUint32(p, true);
        p += 4;
        // A view like the inline path's (an arena view: cheaper to make than a subarray, and a
        // promise settles with it without the long thenable lookup; see src/arena-view.ts).
        if (p + len > out.length) throw new Error('shmcached pool: a value runs past the end of the response');
        op.res(arenaView(out.buffer as ArrayBuffer, out.byteOffset + p, len), slot);
        p += len;
        break;
      }
      case Res.Info: {
        const flags = v.getUint32(p, true);
        const cas = v.getBigUint64(p + 4, true);
        const len = v.getUint32(p + 12, true);
        p += 16;
        if (p + len > out.length) throw new Error('shmcached pool: a value runs past the end of the response');
        op.res({ value: arenaView(out.buffer as ArrayBuffer, out.byteOffset + p, len), flags, cas }, slot);
        p += len;
        break;
      }
      case Res.Cas: {
        const r = v.getUint8(p++);
        op.res(r === 0 ? 'stored' : r === 1 ? 'exists' : 'not_found', slot);
        break;
      }
      case Res.Error: {
        const kind = v.getUint8(p);
        const clen = v.getUint16(p + 1, true);
        p += 3;
        const code = out.toString('utf8', p, p + clen);
        p += clen;
        const mlen = v.getUint32(p, true);
        p += 4;
        const message = out.toString('utf8', p, p + mlen);
        p += mlen;
        op.rej(makeError(kind, code, message));
        break;
      }
      default:
        // A corrupt response: everything from here on is unreadable.
        rejectFrom(ops, idx, i, new Error(`shmcached pool: bad response status ${st}`));
        return;
    }
  }
}
