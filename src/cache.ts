/**
 * `Cache`: the synchronous face of the shared store. Every method is one native call that takes
 * numbers only: the key (and value) are encoded into a scratch buffer registered with the addon,
 * values come back in a reusable arena and are returned as views of it, so a get allocates no
 * ArrayBuffer of its own (see DESIGN.md, "Fast path from JS").
 */
import { existsSync, lstatSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { CacheError, REGION_FILE_CODES, rangeError, typeError, type CacheErrorCode } from './errors.js';
import { unwatchEvents, watchEvents, type EventSource } from './events.js';
import { fetchThrough, type FetchOptions, type FetchStore, type Loader, type MetaItem } from './fetch.js';
import { Cmd, Layout, ManyLen, MetaBit, MetaOff, Ret, St, StatsGroup as Group } from './contract.js';
import { native, type NativeHandle } from './native.js';
import { parseSize } from './size.js';
import { decodeValue, encodeValue, resolveCodec, tagFlags, type Codec, type CodecImpl } from './codec.js';
import { arenaView } from './arena-view.js';
import { bytesLength, checkKeyText, detachedError, isBytes, isDetached } from './bytes.js';
import { entryKeyBytes } from './entry.js';
import { checkFlags, readTtl, ttlArg, type TtlOptions } from './ttl.js';
import type {
  CacheAppendOptions,
  CacheSetOptions,
  CasResult,
  CrawlResult,
  In,
  ItemInfo,
  Key,
  OpenOptions,
  RecoveryReport,
  StatsGroup,
  Value,
} from './types.js';

const VOFF = Layout.ValueOffset;
const META_LENS = Layout.MetaLens;
const KEY_MAX = Layout.KeyMax;
const ARENA_SIZE = 256 * 1024;
const MANY_MAX = Layout.ManyMax;
/** Word indices in the meta buffer (its u32 and u64 views) of the contract's MetaOff bytes. */
const M32_VLEN = MetaOff.Vlen >> 2;
const M32_FLAGS = MetaOff.Flags >> 2;
const M32_BITS = MetaOff.MetaBits >> 2;
const M64_CAS = MetaOff.Cas >> 3;
const M64_IO = MetaOff.Io64 >> 3;

/** A CAS unique argument as a u64 bigint (TypeError / RangeError otherwise). */
function casArg(cas: unknown): bigint {
  let c: bigint;
  if (typeof cas === 'bigint') c = cas;
  else if (typeof cas === 'number' && Number.isSafeInteger(cas)) c = BigInt(cas);
  else throw typeError('ERR_INVALID_ARG_TYPE', `cas must be a bigint (from gets), got ${describe(cas)}`);
  if (c < 0n || c > U64_MAX) throw rangeError('ERR_OUT_OF_RANGE', 'cas must be an unsigned 64-bit integer');
  return c;
}
// The meta fields the native side answers in. meta32 views the whole meta buffer (MetaLens +
// 4 * ManyMax bytes, made at open), meta64 its first 64 bytes: every MetaOff index is in range,
// so the `?? 0` (the type's undefined for an index out of range) never applies.
const metaVlen = (s: { meta32: Uint32Array }): number => s.meta32[M32_VLEN] ?? 0;
const metaFlags = (s: { meta32: Uint32Array }): number => s.meta32[M32_FLAGS] ?? 0;
const metaBits = (s: { meta32: Uint32Array }): number => s.meta32[M32_BITS] ?? 0;
const metaCas = (s: { meta64: BigUint64Array }): bigint => s.meta64[M64_CAS] ?? 0n;
const metaIo = (s: { meta64: BigUint64Array }): bigint => s.meta64[M64_IO] ?? 0n;
const U64_MAX = (1n << 64n) - 1n;
const TTL_MAX = 2 ** 32 - 1;

/**
 * Internal (src/server.ts): the native handle of an open cache, or undefined once closed. Not
 * exported from the package.
 */
export let nativeOf: (c: Cache) => NativeHandle | undefined;

/**
 * Internal (cacheStore below, test/pku.test.ts): memcached's meta get and delete on an open cache — the
 * stampede-protection primitives behind {@link Cache.fetch} and {@link Cache.invalidate}.
 * `get(c, key, vivifyTtl, recacheTtl)`: `mg key N<vivifyTtl> R<recacheTtl>` (a ttl < 0 leaves
 * the flag out). `del(c, key, invalidate, ttl, cas)`: `md key [I] [T<ttl>] [C<cas>]`, true if
 * the item was there (and the CAS matched).
 */
export let metaOps: {
  get(c: Cache, key: Key, vivifyTtl: number, recacheTtl: number): MetaItem | undefined;
  del(c: Cache, key: Key, invalidate: boolean, ttl: number, cas: bigint): boolean;
};

/**
 * Internal (CachePool, workers/ops.ts): one step of the key crawl behind {@link Cache.keys}:
 * the keys of the buckets from `cursor` (`u8 len, bytes` each), the next cursor, and whether the
 * crawl is done. Throws what keys() throws.
 */
export let crawlStep: (c: Cache<unknown>, cursor: number) => [Buffer, number, boolean];

/** A local cache as the {@link FetchStore} that src/fetch.ts runs its protocol over. */
function cacheStore(cache: Cache): FetchStore {
  return {
    metaGet: (key, n, r) => metaOps.get(cache, key, n, r),
    // Bytes as they are (a codec's fetch encodes and tags before it stores: see fetchThrough).
    set: (key, value, options) => Cache.prototype.set.call(cache, key, value, options),
    metaDelete: (key, invalidate, cas) => metaOps.del(cache, key, invalidate, -1, cas),
    get usable() {
      return !cache.closed;
    },
  };
}

/**
 * Internal (CachePool, CodecCache): {@link Cache.fetch} on `cache`'s store with `codec` (none: bytes),
 * whatever codec the handle itself has — the store's own reads and writes stay on bytes.
 */
export function fetchWith(
  cache: Cache<unknown>,
  key: Key,
  loader: Loader<unknown>,
  options: FetchOptions | undefined,
  codec: CodecImpl | undefined,
): Promise<unknown> {
  return fetchThrough(cacheStore(cache as Cache), key, loader, options, codec);
}

/** The default region file: memcached keeps its warm-restart file in /dev/shm too. */
export const DEFAULT_PATH = existsSync('/dev/shm') ? '/dev/shm/shmcached' : join(tmpdir(), 'shmcached');

type Utf8Write = (this: Buffer, s: string, offset: number, length: number) => number;
// Buffer's own UTF-8 encoder, without the argument normalisation of Buffer#write.
const utf8Write: Utf8Write =
  (Buffer.prototype as unknown as { utf8Write?: Utf8Write }).utf8Write ??
  function (this: Buffer, s: string, offset: number, length: number) {
    return this.write(s, offset, length, 'utf8');
  };

// Options decoded by readSetOptions (module state: no object per call).
let optFlags = 0;
let optTtl = 0;

/**
 * Reads a store's options into optFlags / optTtl. Reading them may run the caller's code (a
 * getter, a Proxy), which may call this cache again: so the options are read before the key and
 * value are written into scratch, into locals first, and the module state is set last.
 */
function readSetOptions(opts: CacheSetOptions | undefined): void {
  let flags = 0;
  let ttl = 0;
  if (opts !== undefined) {
    if (typeof opts !== 'object' || opts === null)
      throw typeError('ERR_INVALID_ARG_TYPE', `options must be an object, got ${opts === null ? 'null' : typeof opts}`);
    if (opts.ttl !== undefined || opts.ttlMs !== undefined || opts.expiresAt !== undefined) ttl = readTtl(opts, 'options');
    const f = opts.flags;
    if (f !== undefined) flags = checkFlags(f, 'options.flags');
  }
  optFlags = flags;
  optTtl = ttl;
}

/** memcached's seconds for flush_all's delay (kept as memcached reads it). */
function checkSeconds(ttl: unknown, name: string): number {
  if (typeof ttl !== 'number') throw typeError('ERR_INVALID_ARG_TYPE', `${name} must be a number of seconds, got ${typeof ttl}`);
  if (!Number.isInteger(ttl) || ttl < -TTL_MAX || ttl > TTL_MAX)
    throw rangeError('ERR_OUT_OF_RANGE', `${name} must be an integer number of seconds (memcached exptime), got ${ttl}`);
  return ttl;
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** Per-handle state: the native functions and the buffers registered with them. */
const CRAWL_BUDGET_MAX = 1 << 20;

/** Validated crawler settings, or undefined when the crawler is off. */
function crawlerSettings(opt: OpenOptions['crawler']): { intervalMs: number; budget: number } | undefined {
  if (opt === undefined || opt === false) return undefined;
  if (opt === true) return { intervalMs: 1000, budget: 2000 };
  if (typeof opt !== 'object' || opt === null)
    throw typeError('ERR_INVALID_ARG_TYPE', `options.crawler must be a boolean or an object, got ${describe(opt)}`);
  const intervalMs = opt.intervalMs ?? 1000;
  const budget = opt.budget ?? 2000;
  if (typeof intervalMs !== 'number' || !Number.isInteger(intervalMs) || intervalMs < 10 || intervalMs > 3_600_000)
    throw rangeError('ERR_OUT_OF_RANGE', `options.crawler.intervalMs must be an integer from 10 to 3600000, got ${String(intervalMs)}`);
  if (typeof budget !== 'number' || !Number.isInteger(budget) || budget < 1 || budget > CRAWL_BUDGET_MAX)
    throw rangeError('ERR_OUT_OF_RANGE', `options.crawler.budget must be an integer from 1 to ${CRAWL_BUDGET_MAX}, got ${String(budget)}`);
  return { intervalMs, budget };
}

/** Every option {@link Cache.open} reads. */
const OPEN_KEYS = [
  'path',
  'size',
  'itemSizeMax',
  'evict',
  'protection',
  'reset',
  'mode',
  'allowOwner',
  'eventSample',
  'crawler',
  'onCorrupt',
  'recover',
  'logRecovery',
  'codec',
] as const satisfies readonly (keyof OpenOptions)[];
/** Compile-time: an option added to OpenOptions but not to OPEN_KEYS would be silently ignored. */
const OPEN_KEYS_COMPLETE: Exclude<keyof OpenOptions, (typeof OPEN_KEYS)[number]> extends never ? true : never = true;
void OPEN_KEYS_COMPLETE;

/**
 * The options, each read exactly once (own or inherited, in a fixed order) into a plain object:
 * a getter or a Proxy that answers differently on each read cannot pass a check with one value
 * and then open with another (e.g. `reset` false when checked, true when used). A getter that
 * throws throws out of open() as it is, before anything is opened or created.
 */
function readOpenOptions(o: OpenOptions): OpenOptions {
  const out: Record<string, unknown> = {};
  for (const k of OPEN_KEYS) out[k] = o[k];
  return out as OpenOptions;
}

interface State {
  h: NativeHandle;
  path: string;
  scratch: Buffer;
  /** The meta buffer as u32 (its M32_* slots always exist: reads of them carry `!` rather than a per-op check). */
  meta32: Uint32Array;
  /** The meta buffer as u64 (M64_* slots, likewise). */
  meta64: BigUint64Array;
  arena: Buffer;
  /** arena.buffer (arena buffers are allocated whole, at offset 0). */
  ab: ArrayBuffer;
  off: number;
  /** Largest key + value byte count in one item. */
  payloadMax: number;
}

function newArena(s: State, min: number): void {
  // A multiple of 8, so rounding the next offset up to 8 never passes the end.
  s.arena = Buffer.allocUnsafeSlow(Math.max(ARENA_SIZE, (min + 7) & ~7));
  s.ab = s.arena.buffer as ArrayBuffer;
  s.off = 0;
  s.h.setArena(s.arena);
}

/** Writes the key at scratch[0] and returns its byte length. */
function writeKey(s: State, key: Key, name = 'key'): number {
  if (typeof key === 'string') {
    const n = key.length;
    if (n === 0 || n > KEY_MAX) throw keyLengthError(name, n === 0 ? 0 : Buffer.byteLength(key));
    // ASCII keys (the common case) by hand: a third of the cost of a call into the encoder.
    const scratch = s.scratch;
    for (let i = 0; i < n; i++) {
      const c = key.charCodeAt(i);
      if (c > 0x7f) {
        checkKeyText(key, name);
        const b = utf8Write.call(scratch, key, 0, VOFF);
        if (b > KEY_MAX) throw keyLengthError(name, b);
        return b;
      }
      scratch[i] = c;
    }
    return n;
  }
  if (isBytes(key)) {
    const n = bytesLength(key);
    if (n === 0 || n > KEY_MAX) throw n === 0 && isDetached(key) ? detachedError(name) : keyLengthError(name, n);
    s.scratch.set(key, 0);
    return n;
  }
  throw typeError('ERR_INVALID_ARG_TYPE', `${name} must be a string or a Uint8Array, got ${describe(key)}`);
}

/**
 * getMany's key batch from `keys[from]` on, when every key of it is a string of 1 to KeyMax
 * ASCII characters: the lengths go to the meta buffer (u32 at MetaLens + 4i), the bytes to
 * scratch from 0 in one write of the keys concatenated (a rope: cheaper than join or a
 * per-character loop, measured).
 * Returns how many keys it packed, or 0 when the batch holds anything else (packKeys then packs
 * it again, key by key, and throws for the first bad key before anything is looked up).
 * `keys` is getMany's own copy of the caller's keys: reading it runs no user code, so nothing
 * can call this cache between the first write of a batch and the native call that reads it.
 */
function packKeysJoined(s: State, keys: readonly Key[], from: number): number {
  const lens = s.meta32;
  const base = META_LENS >> 2;
  const end = Math.min(keys.length, from + MANY_MAX);
  // Room for 3 bytes a character, so a non-ASCII key is seen whole (bytes > characters) rather than cut off.
  const room = s.scratch.length;
  let chars = 0;
  let joined = '';
  let j = from;
  for (; j < end; j++) {
    const key = keys[j];
    if (typeof key !== 'string') return 0;
    const len = key.length;
    if (len === 0 || len > KEY_MAX) return 0;
    if (3 * (chars + len) > room) break;
    lens[base + j - from] = len;
    chars += len;
    joined += key;
  }
  // UTF-8 takes one byte per character only when every character is ASCII.
  return utf8Write.call(s.scratch, joined, 0, room) === chars ? j - from : 0;
}

/** getMany's key batch from `keys[from]` on, key by key (any key type); see {@link packKeysJoined}. */
function packKeys(s: State, keys: readonly Key[], from: number): number {
  const scratch = s.scratch;
  const lens = s.meta32;
  const base = META_LENS >> 2;
  const total = keys.length;
  let pos = 0;
  let n = 0;
  while (from + n < total && n < MANY_MAX && pos + 3 * KEY_MAX <= scratch.length) {
    const key = keys[from + n]; // a hole is undefined: refused below as not a key
    let klen: number;
    if (typeof key === 'string') {
      const len = key.length;
      if (len === 0 || len > KEY_MAX) throw keyLengthError(`keys[${from + n}]`, len === 0 ? 0 : Buffer.byteLength(key));
      klen = len;
      for (let j = 0; j < len; j++) {
        const ch = key.charCodeAt(j);
        if (ch > 0x7f) {
          checkKeyText(key, `keys[${from + n}]`);
          klen = utf8Write.call(scratch, key, pos, 3 * KEY_MAX);
          break;
        }
        scratch[pos + j] = ch;
      }
      if (klen > KEY_MAX) throw keyLengthError(`keys[${from + n}]`, klen);
    } else if (isBytes(key)) {
      klen = bytesLength(key);
      if (klen === 0 || klen > KEY_MAX)
        throw klen === 0 && isDetached(key) ? detachedError(`keys[${from + n}]`) : keyLengthError(`keys[${from + n}]`, klen);
      scratch.set(key, pos);
    } else {
      throw typeError('ERR_INVALID_ARG_TYPE', `keys[${from + n}] must be a string or a Uint8Array, got ${describe(key)}`);
    }
    lens[base + n] = klen;
    pos += klen;
    n++;
  }
  return n;
}

function keyLengthError(name: string, bytes: number): RangeError {
  return rangeError('ERR_OUT_OF_RANGE', `${name} must be 1 to ${KEY_MAX} bytes long, got ${bytes}`);
}

function badKeyError(name = 'key'): TypeError {
  return typeError('ERR_INVALID_ARG_VALUE', `${name} must not contain spaces or control characters (memcached's key rule)`);
}

function tooLargeError(bytes: number, max: number): RangeError {
  return rangeError(
    'ERR_VALUE_TOO_LARGE',
    `value of ${bytes} bytes is too large: an item (key + value) holds at most ${max} bytes here (itemSizeMax minus the item header)`,
  );
}

/** Writes the value at scratch[VOFF] and returns its byte length. */
function writeValue(s: State, value: Value, klen: number): number {
  const max = s.payloadMax - klen;
  if (typeof value === 'string') {
    const n = value.length;
    if (n > max) throw tooLargeError(Buffer.byteLength(value), s.payloadMax);
    let b: number;
    if (n * 3 <= s.scratch.length - VOFF) {
      b = utf8Write.call(s.scratch, value, VOFF, s.scratch.length - VOFF);
    } else {
      b = Buffer.byteLength(value);
      if (b > max) throw tooLargeError(b, s.payloadMax);
      utf8Write.call(s.scratch, value, VOFF, b);
    }
    if (b > max) throw tooLargeError(b, s.payloadMax);
    return b;
  }
  if (isBytes(value)) {
    const n = bytesLength(value);
    if (n > max) throw tooLargeError(n, s.payloadMax);
    if (n === 0 && isDetached(value)) throw detachedError('value');
    s.scratch.set(value, VOFF);
    return n;
  }
  throw typeError('ERR_INVALID_ARG_TYPE', `value must be a string or a Uint8Array, got ${describe(value)}`);
}

function statusError(r: number, what: string): Error {
  switch (r) {
    case Ret.BadKey:
      return badKeyError();
    case Ret.TooLarge:
      return rangeError('ERR_VALUE_TOO_LARGE', `${what}: the item is too large for this cache (itemSizeMax)`);
    case Ret.NoMemory:
      return new CacheError(
        'ERR_OUT_OF_MEMORY',
        `${what}: out of memory storing object (the cache is full and evict is false, or no chunk of this size could be freed)`,
      );
    case Ret.NonNumeric:
      return new CacheError('ERR_NON_NUMERIC', `${what}: cannot increment or decrement non-numeric value`);
    case Ret.Closed:
      return new CacheError('ERR_CACHE_CLOSED', `${what}: the cache is closed`);
    case Ret.Busy:
      return new CacheError('ERR_REENTRANT', `${what}: refused, this thread is already inside a shmcached call`);
    default:
      return new Error(`${what}: unexpected status ${r}`);
  }
}

/** One line saying what an open did, for `logRecovery: true`. */
export function describeRecovery(r: RecoveryReport): string {
  switch (r.kind) {
    case 'recovered':
      return `recovered in ${r.ms.toFixed(1)} ms: ${r.itemsKept} items kept, ${r.itemsDropped} dropped, ${r.duplicatesDropped} duplicates, ${r.expiredDropped} expired, ${r.chunksFreed} chunks freed, ${r.pagesScanned} pages scanned (${r.orphanPages} orphan), ${r.deadProcesses} dead processes`;
    case 'warm':
      return `warm start in ${r.ms.toFixed(2)} ms`;
    case 'reset':
      return `reset (cold start): ${r.reason}`;
    default:
      return r.kind;
  }
}

const STATS_GROUPS: Record<StatsGroup, number> = {
  general: Group.General,
  slabs: Group.Slabs,
  items: Group.Items,
  settings: Group.Settings,
};
const PROTECTION = { none: 0, pku: 1, auto: 2 } as const;

/**
 * One thread's handle on a shared store. Open it with {@link Cache.open}; every thread and every
 * process that opens the same `path` sees the same items.
 *
 * ```ts
 * const cache = Cache.open({ path: '/dev/shm/app', size: '256mb' });
 * cache.set('user:1', JSON.stringify(user), { ttl: 60 });
 * const v = cache.get('user:1'); // Buffer | undefined
 * ```
 *
 * Returned Buffers are views of a shared 256 KiB arena (like Node's own pooled Buffers): they stay
 * valid forever, but `buf.buffer` is the arena, not a private ArrayBuffer.
 */
export class Cache<T = Buffer> {
  #s: State | undefined;
  #protection: 'none' | 'pku';
  #recovery: RecoveryReport;
  #events: EventSource | undefined;
  #crawler: ReturnType<typeof setInterval> | undefined;

  static {
    nativeOf = (c: Cache) => c.#s?.h;
    crawlStep = (c, cursor) => {
      const r = c.#live().h.crawl(cursor);
      if (typeof r === 'number') throw statusError(r, 'keys');
      return r;
    };
    metaOps = {
      get(c, key, vivifyTtl, recacheTtl) {
        const s = c.#live();
        const klen = writeKey(s, key);
        for (;;) {
          const off = s.off;
          const r = s.h.metaGet(klen, off, vivifyTtl, recacheTtl);
          if (r === Ret.Miss) return undefined;
          if (r === Ret.Small) {
            newArena(s, metaVlen(s));
            continue;
          }
          if (r < 0) throw statusError(r, 'fetch');
          s.off = (off + r + 7) & ~7;
          const bits = metaBits(s);
          return {
            value: arenaView(s.ab, off, r),
            flags: metaFlags(s),
            cas: metaCas(s),
            won: (bits & MetaBit.Won) !== 0,
            stale: (bits & MetaBit.Stale) !== 0,
            tokenSent: (bits & MetaBit.TokenSent) !== 0,
            created: (bits & MetaBit.Created) !== 0,
          };
        }
      },
      del(c, key, invalidate, ttl, cas) {
        const s = c.#live();
        const klen = writeKey(s, key);
        s.meta64[M64_IO] = cas;
        const r = s.h.metaDelete(klen, invalidate ? 1 : 0, ttl);
        if (r < 0) throw statusError(r, invalidate ? 'invalidate' : 'delete');
        return r === St.Ok;
      },
    };
  }

  /** Internal: use {@link Cache.open}. */
  protected constructor(s: State, protection: 'none' | 'pku', recovery: RecoveryReport) {
    this.#s = s;
    this.#protection = protection;
    this.#recovery = recovery;
  }

  /**
   * Opens (creating if needed) the store at `options.path`. Opening a path already open in this
   * process maps it once and shares it. Throws {@link CacheError} `ERR_BAD_REGION` for a file that
   * is not a shmcached region of this layout, and `ERR_REGION_MISMATCH` when explicit options
   * differ from the region's. A file the region file rules refuse (a symlink at the path, another
   * user's file, a loose mode, an unsafe directory, a reset of a file that is not ours) is a
   * CacheError with its own `ERR_REGION_*` code and is left untouched: see docs/security.md.
   */
  static open(options?: OpenOptions & { codec?: 'bytes' }): Cache<Buffer>;
  static open(options: OpenOptions & { codec: 'string' }): Cache<string>;
  static open<V = unknown>(options: OpenOptions & { codec: 'json' | 'v8' }): Cache<V>;
  static open<V>(options: OpenOptions & { codec: Codec<V> }): Cache<V>;
  static open<V = Buffer>(options?: OpenOptions): Cache<V>;
  static open(optionsArg: OpenOptions = {}): Cache<unknown> {
    if (typeof optionsArg !== 'object' || optionsArg === null)
      throw typeError('ERR_INVALID_ARG_TYPE', `options must be an object, got ${describe(optionsArg)}`);
    const options = readOpenOptions(optionsArg);
    const path = options.path ?? DEFAULT_PATH;
    if (typeof path !== 'string' || path.length === 0) throw typeError('ERR_INVALID_ARG_TYPE', 'options.path must be a non-empty string');
    const size = options.size === undefined ? 0 : parseSize(options.size, 'options.size');
    const itemSizeMax = options.itemSizeMax === undefined ? 0 : parseSize(options.itemSizeMax, 'options.itemSizeMax');
    if (itemSizeMax > 0xffffffff) throw rangeError('ERR_OUT_OF_RANGE', 'options.itemSizeMax is too large');
    if (options.evict !== undefined && typeof options.evict !== 'boolean')
      throw typeError('ERR_INVALID_ARG_TYPE', 'options.evict must be a boolean');
    if (options.reset !== undefined && typeof options.reset !== 'boolean')
      throw typeError('ERR_INVALID_ARG_TYPE', 'options.reset must be a boolean');
    const mode = options.mode ?? 0o600;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777)
      throw rangeError('ERR_OUT_OF_RANGE', 'options.mode must be a file mode such as 0o600');
    const allowOwner = options.allowOwner ?? -1;
    if (options.allowOwner !== undefined && (!Number.isInteger(allowOwner) || allowOwner < 0 || allowOwner > 0xfffffffe))
      throw rangeError(
        'ERR_OUT_OF_RANGE',
        `options.allowOwner must be a uid (an integer from 0 to 4294967294), got ${String(options.allowOwner)}`,
      );
    const protection = options.protection ?? 'auto';
    if (protection !== 'auto' && protection !== 'pku' && protection !== 'none')
      throw typeError('ERR_INVALID_ARG_VALUE', `options.protection must be 'auto', 'pku' or 'none', got ${String(protection)}`);
    const evict = options.evict === undefined ? -1 : options.evict ? 1 : 0;
    const onCorrupt = options.onCorrupt ?? 'throw';
    if (onCorrupt !== 'throw' && onCorrupt !== 'reset')
      throw typeError('ERR_INVALID_ARG_VALUE', `options.onCorrupt must be 'throw' or 'reset', got ${String(onCorrupt)}`);
    const codec = resolveCodec(options.codec);
    if (options.recover !== undefined && typeof options.recover !== 'boolean')
      throw typeError('ERR_INVALID_ARG_TYPE', 'options.recover must be a boolean');
    const log = options.logRecovery;
    if (log !== undefined && typeof log !== 'boolean' && typeof log !== 'function')
      throw typeError('ERR_INVALID_ARG_TYPE', 'options.logRecovery must be a boolean or a function');
    const flags = (onCorrupt === 'reset' ? 1 : 0) | (options.recover === true ? 2 : 0) | (options.mode !== undefined ? 4 : 0);
    const crawler = crawlerSettings(options.crawler);
    const eventSample = options.eventSample ?? 1;
    if (!Number.isInteger(eventSample) || eventSample < 1 || eventSample > 0x7fffffff)
      throw rangeError('ERR_OUT_OF_RANGE', `options.eventSample must be an integer from 1 to 2147483647, got ${String(eventSample)}`);
    checkSpace(path, size, options.reset === true);
    let h: NativeHandle;
    try {
      h = native.open(path, size, itemSizeMax, evict, options.reset === true, mode, PROTECTION[protection], flags, allowOwner);
    } catch (e) {
      const err = e as Error & { code?: string };
      if (
        err.code === 'ERR_BAD_REGION' ||
        err.code === 'ERR_REGION_MISMATCH' ||
        err.code === 'ERR_PKU_UNAVAILABLE' ||
        REGION_FILE_CODES.includes(err.code as CacheErrorCode)
      )
        throw new CacheError(err.code as CacheErrorCode, err.message);
      throw e;
    }
    const scratch = Buffer.allocUnsafeSlow(VOFF + h.itemSizeMax);
    const meta = Buffer.allocUnsafeSlow(META_LENS + 4 * MANY_MAX);
    h.setBuffers(scratch, meta);
    const s: State = {
      h,
      path,
      scratch,
      meta32: new Uint32Array(meta.buffer, meta.byteOffset, meta.length >> 2),
      meta64: new BigUint64Array(meta.buffer, meta.byteOffset, 8),
      arena: scratch, // replaced just below
      ab: scratch.buffer as ArrayBuffer,
      off: 0,
      payloadMax: h.itemSizeMax - h.itemHeader,
    };
    newArena(s, 0);
    const report: RecoveryReport = Object.freeze({ ...h.recovery });
    const cache: Cache<unknown> =
      codec === undefined
        ? new Cache(s, h.protection === 1 ? 'pku' : 'none', report)
        : new CodecCache(s, h.protection === 1 ? 'pku' : 'none', report, codec);
    cache.#events = { h, path, scratch, meta32: s.meta32, sample: eventSample, recording: false };
    watchEvents(cache.#events);
    if (crawler) {
      // Unref'd: never keeps the process alive. Runs on this thread, through a gate, between tasks.
      cache.#crawler = setInterval(() => {
        if (cache.#s !== undefined) cache.#s.h.crawlExpired(crawler.budget);
      }, crawler.intervalMs);
      cache.#crawler.unref();
    }
    if (log && report.kind !== 'attached' && report.kind !== 'created') {
      if (typeof log === 'function') {
        // The caller's function: one that throws fails this open with its error, and the handle
        // just opened is closed first (else it stays mapped and attached, with no one to close it).
        try {
          log(report);
        } catch (e) {
          cache.close();
          throw e;
        }
      } else process.stderr.write(`shmcached: ${path}: ${describeRecovery(report)}\n`);
    }
    return cache;
  }

  /**
   * What opening the region did: created it, attached to it, started warm, recovered it after a
   * crash (with counts of what was kept and dropped), or reset it. See {@link RecoveryReport}.
   */
  get lastRecovery(): RecoveryReport {
    return this.#recovery;
  }

  #live(): State {
    const s = this.#s;
    if (s === undefined) throw new CacheError('ERR_CACHE_CLOSED', 'the cache is closed');
    return s;
  }

  /** The value stored under `key` (decoded by the cache's codec; a Buffer by default), or `undefined`. */
  get(key: Key): T | undefined {
    const s = this.#live();
    const klen = writeKey(s, key);
    const off = s.off;
    const r = s.h.get(klen, off);
    if (r >= 0) {
      s.off = (off + r + 7) & ~7;
      return arenaView(s.ab, off, r) as T;
    }
    return this.#getSlow(s, r, klen, false, 0, 'get') as T | undefined;
  }

  #getSlow(s: State, r: number, klen: number, touch: boolean, ttl: number, what: string): Buffer | undefined {
    for (;;) {
      if (r === Ret.Miss) return undefined;
      if (r !== Ret.Small) throw statusError(r, what);
      newArena(s, metaVlen(s));
      r = touch ? s.h.gat(klen, 0, ttl) : s.h.get(klen, 0);
      if (r >= 0) {
        s.off = (r + 7) & ~7;
        return s.arena.subarray(0, r);
      }
    }
  }

  /**
   * Copies the value into `target` at `offset` without allocating anything, and returns its byte
   * length; `undefined` if absent. When the value is longer than `target.length - offset`,
   * nothing is copied and the length is returned all the same, so the caller can grow its
   * buffer and ask again (check `length <= target.length - offset`). Best for large values.
   */
  getInto(key: Key, target: Uint8Array, offset = 0): number | undefined {
    const s = this.#live();
    if (!isBytes(target)) throw typeError('ERR_INVALID_ARG_TYPE', `target must be a Uint8Array, got ${describe(target)}`);
    if (isDetached(target)) throw detachedError('target');
    if (!Number.isInteger(offset) || offset < 0 || offset > bytesLength(target))
      throw rangeError('ERR_OUT_OF_RANGE', `offset must be an integer from 0 to target.length, got ${offset}`);
    const klen = writeKey(s, key);
    const r = s.h.getInto(klen, target, offset);
    if (r >= 0) return r;
    if (r === Ret.Miss) return undefined;
    if (r === Ret.Small) return metaVlen(s);
    throw statusError(r, 'getInto');
  }

  /** The value with its flags and CAS unique (memcached's `gets`), or `undefined`. */
  gets(key: Key): ItemInfo<T> | undefined {
    // Not this.get: a codec subclass overrides it (and calls this method for the raw bytes).
    const value = Cache.prototype.get.call(this, key) as T | undefined;
    if (value === undefined) return undefined;
    const s = this.#s!;
    return { value, flags: metaFlags(s), cas: metaCas(s) };
  }

  /** Get and touch (memcached's `gat`): returns the value and sets a new expiry (seconds, or `{ ttl | ttlMs | expiresAt }`). */
  gat(key: Key, ttl: number | TtlOptions): T | undefined {
    const s = this.#live();
    const t = ttlArg(ttl, 'ttl'); // before the key is written: reading it may run the caller's code
    const klen = writeKey(s, key);
    const off = s.off;
    const r = s.h.gat(klen, off, t);
    if (r >= 0) {
      s.off = (off + r + 7) & ~7;
      return arenaView(s.ab, off, r) as T;
    }
    return this.#getSlow(s, r, klen, true, t, 'gat') as T | undefined;
  }

  /** {@link gat} with flags and CAS (memcached's `gats`). */
  gats(key: Key, ttl: number | TtlOptions): ItemInfo<T> | undefined {
    const value = Cache.prototype.gat.call(this, key, ttl) as T | undefined;
    if (value === undefined) return undefined;
    const s = this.#s!;
    return { value, flags: metaFlags(s), cas: metaCas(s) };
  }

  #store(cmd: Cmd, key: Key, value: Value, opts: CacheSetOptions | undefined, what: string): number {
    const s = this.#live();
    // Options first: reading them may run the caller's code, which may use this cache's scratch.
    readSetOptions(opts);
    const flags = optFlags;
    const ttl = optTtl;
    const klen = writeKey(s, key);
    const vlen = writeValue(s, value, klen);
    const r = s.h.store(cmd, klen, vlen, flags, ttl);
    if (r < 0) throw statusError(r, what);
    return r;
  }

  /** Stores `value` under `key` (memcached's `set`). Throws RangeError for a value over the item size, CacheError `ERR_OUT_OF_MEMORY` when full with `evict: false`. */
  set(key: Key, value: In<T>, options?: CacheSetOptions): void {
    this.#store(Cmd.Set, key, value as Value, options, 'set');
  }

  /** Stores only if `key` is absent; `false` otherwise (memcached's `add`). */
  add(key: Key, value: In<T>, options?: CacheSetOptions): boolean {
    return this.#store(Cmd.Add, key, value as Value, options, 'add') === St.Ok;
  }

  /** Stores only if `key` is present; `false` otherwise (memcached's `replace`). */
  replace(key: Key, value: In<T>, options?: CacheSetOptions): boolean {
    return this.#store(Cmd.Replace, key, value as Value, options, 'replace') === St.Ok;
  }

  /**
   * Appends bytes to an existing value, keeping its flags and ttl; `false` if absent (or if the
   * result would be too large, as memcached answers NOT_STORED), or if `options.cas` is given and
   * the item's CAS is no longer it (see {@link CacheAppendOptions}).
   */
  append(key: Key, value: Value, options?: CacheAppendOptions): boolean {
    return this.#concat(Cmd.Append, key, value, options, 'append');
  }

  /** Prepends bytes to an existing value; see {@link append}. */
  prepend(key: Key, value: Value, options?: CacheAppendOptions): boolean {
    return this.#concat(Cmd.Prepend, key, value, options, 'prepend');
  }

  #concat(cmd: Cmd, key: Key, value: Value, options: CacheAppendOptions | undefined, what: string): boolean {
    const s = this.#live();
    const c = options?.cas === undefined ? 0n : casArg(options.cas);
    const klen = writeKey(s, key);
    const vlen = writeValue(s, value, klen);
    readSetOptions(undefined);
    s.meta64[M64_IO] = c; // the core checks a non-zero CAS under the key's lock, in the same step as the append
    const r = s.h.store(cmd, klen, vlen, optFlags, optTtl);
    if (r < 0) throw statusError(r, what);
    return r === St.Ok;
  }

  /** Stores only if the item's CAS unique is still `cas` (from {@link gets}). */
  cas(key: Key, value: In<T>, cas: bigint | number, options?: CacheSetOptions): CasResult {
    const s = this.#live();
    const c = casArg(cas);
    readSetOptions(options); // before the key and value are written: see #store
    const flags = optFlags;
    const ttl = optTtl;
    const klen = writeKey(s, key);
    const vlen = writeValue(s, value as Value, klen);
    s.meta64[M64_IO] = c;
    const r = s.h.store(Cmd.Cas, klen, vlen, flags, ttl);
    if (r < 0) throw statusError(r, 'cas');
    return r === St.Ok ? 'stored' : r === St.Exists ? 'exists' : 'not_found';
  }

  /** Removes `key`; `true` if it was there. */
  delete(key: Key): boolean {
    const s = this.#live();
    const r = s.h.del(writeKey(s, key));
    if (r < 0) throw statusError(r, 'delete');
    return r === St.Ok;
  }

  #delta(key: Key, delta: number | bigint, incr: number, what: string): bigint | undefined {
    const s = this.#live();
    const klen = writeKey(s, key);
    let d: number;
    if (typeof delta === 'number') {
      if (!Number.isSafeInteger(delta) || delta < 0)
        throw rangeError('ERR_OUT_OF_RANGE', `delta must be a non-negative integer, got ${delta}`);
      d = delta;
    } else if (typeof delta === 'bigint') {
      if (delta < 0n || delta > U64_MAX) throw rangeError('ERR_OUT_OF_RANGE', 'delta must be an unsigned 64-bit integer');
      s.meta64[M64_IO] = delta;
      d = -1;
    } else {
      throw typeError('ERR_INVALID_ARG_TYPE', `delta must be a number or a bigint, got ${describe(delta)}`);
    }
    const r = s.h.delta(klen, incr, d);
    if (r === St.Ok) return metaIo(s);
    if (r === St.Miss) return undefined;
    throw statusError(r, what);
  }

  /** Adds `delta` to a decimal value (wrapping at 2^64); the new value, or `undefined` if absent. CacheError `ERR_NON_NUMERIC` if the value is not a number. */
  incr(key: Key, delta: number | bigint = 1): bigint | undefined {
    return this.#delta(key, delta, 1, 'incr');
  }

  /** Subtracts `delta`, stopping at 0; see {@link incr}. Like memcached, a shorter result is padded with spaces in place. */
  decr(key: Key, delta: number | bigint = 1): bigint | undefined {
    return this.#delta(key, delta, 0, 'decr');
  }

  /** Sets a new expiry (seconds, or `{ ttl | ttlMs | expiresAt }`); `true` if the key was there. */
  touch(key: Key, ttl: number | TtlOptions): boolean {
    const s = this.#live();
    const t = ttlArg(ttl, 'ttl'); // before the key is written: reading it may run the caller's code
    const klen = writeKey(s, key);
    const r = s.h.touch(klen, t);
    if (r < 0) throw statusError(r, 'touch');
    return r === St.Ok;
  }

  /**
   * Cache-aside with single flight: the value of `key`, loading it with `loader` when it is
   * missing — and then exactly one caller in the machine (every thread and process attached to
   * this store, and meta-protocol clients of `shmcached serve` using `mg ... N`) runs its loader
   * while the others wait for that value. A value past `ttl` but within `staleTtl` is returned at
   * once while one caller refreshes it in the background. A loader that throws or outlives
   * `lockTtl` gives its win back and its error to its caller; errors are never stored. See
   * src/fetch.ts and the README ("fetch") for the whole protocol. Rejects (never throws) on bad
   * arguments.
   *
   * ```ts
   * const user = await cache.fetch(`user:${id}`, () => db.loadUserJson(id), { ttl: 60, staleTtl: 300 });
   * ```
   */
  fetch(key: Key, loader: Loader<In<T>>, options?: FetchOptions): Promise<T> {
    return fetchThrough(cacheStore(this as unknown as Cache), key, loader as Loader, options) as Promise<unknown> as Promise<T>;
  }

  /**
   * Marks the value of `key` stale instead of deleting it (memcached's `md key I`): readers keep
   * getting it, and the next {@link fetch} (or `mg` with a win flag) refreshes it. Returns
   * whether the key was there.
   */
  invalidate(key: Key): boolean {
    return metaOps.del(this as unknown as Cache, key, true, -1, 0n);
  }

  /** Values of many keys in one native call per batch; the result is aligned with `keys`. */
  getMany(keys: readonly Key[]): (T | undefined)[] {
    const s = this.#live();
    if (!Array.isArray(keys)) throw typeError('ERR_INVALID_ARG_TYPE', `keys must be an array, got ${describe(keys)}`);
    // Every key read into a plain array before anything is written: reading `keys[i]` may run
    // the caller's code (an accessor element, a Proxy), which may call this cache and so
    // overwrite the scratch and meta buffers a batch is being packed into.
    const total = keys.length;
    const ks = new Array<Key>(total);
    for (let j = 0; j < total; j++) ks[j] = keys[j] as Key;
    const out = new Array<T | undefined>(total);
    let i = 0;
    let stalls = 0;
    while (i < total) {
      const n = packKeysJoined(s, ks, i) || packKeys(s, ks, i);
      let off = s.off;
      const done = s.h.getMany(n, off);
      if (done < 0) throw statusError(done, 'getMany');
      const lens = s.meta32;
      const base = META_LENS >> 2;
      for (let j = 0; j < done; j++) {
        off = (off + 7) & ~7;
        // j < done <= MANY_MAX: the meta buffer holds MANY_MAX lengths (a missing one reads as a miss).
        const len = lens[base + j] ?? ManyLen.Miss;
        if (len === ManyLen.Miss) {
          out[i + j] = undefined;
        } else if (len === ManyLen.BadKey) {
          throw badKeyError(`keys[${i + j}]`);
        } else {
          out[i + j] = arenaView(s.ab, off, len) as T;
          off += len;
        }
      }
      s.off = off;
      i += done;
      if (done < n) {
        // The next value did not fit: a fresh arena of at least its size. A value can grow
        // between calls, so allow a few tries before calling it a fault.
        stalls = done === 0 ? stalls + 1 : 0;
        if (stalls > 8) throw new Error('getMany: no progress (internal error)');
        newArena(s, metaVlen(s));
      }
    }
    return out;
  }

  /** Stores many entries with the same options, in one native call per batch. All entries are checked before any is stored. */
  setMany(entries: Iterable<readonly [Key, In<T>]>, options?: CacheSetOptions): void {
    const s = this.#live();
    if (entries === null || typeof (entries as Iterable<unknown>)[Symbol.iterator] !== 'function')
      throw typeError('ERR_INVALID_ARG_TYPE', 'entries must be an iterable of [key, value] pairs');
    readSetOptions(options);
    const flags = optFlags;
    const ttl = optTtl;
    // First every key and value is read out of the entries: the only step that may run the
    // caller's code (an iterator, an accessor, a Proxy), which may call this cache or detach or
    // resize a view an earlier entry holds. Then each is measured and checked (no caller code
    // runs: see isBytes), so a bad entry changes nothing stored and no length can change
    // between its check and its copy into scratch.
    const pairs: unknown[] = [];
    let count = 0;
    for (const e of entries) {
      if (!Array.isArray(e) || e.length < 2) throw typeError('ERR_INVALID_ARG_TYPE', `entries[${count}] must be a [key, value] pair`);
      pairs.push(e[0], e[1]);
      count++;
    }
    const checked: { k: Key; v: Value; klen: number; vlen: number }[] = [];
    for (let i = 0; i < count; i++) {
      const k = pairs[2 * i];
      const v = pairs[2 * i + 1];
      const klen = entryKeyBytes(k, i);
      let vlen: number;
      if (typeof v === 'string') vlen = Buffer.byteLength(v);
      else if (isBytes(v)) {
        vlen = bytesLength(v);
        if (vlen === 0 && isDetached(v)) throw detachedError(`entries[${i}][1]`);
      } else throw typeError('ERR_INVALID_ARG_TYPE', `entries[${i}][1] must be a string or a Uint8Array, got ${describe(v)}`);
      if (klen + vlen > s.payloadMax) throw tooLargeError(vlen, s.payloadMax);
      checked.push({ k: k as Key, v, klen, vlen });
    }
    const scratch = s.scratch;
    let pos = 0;
    let n = 0;
    let first = 0;
    const flush = () => {
      if (n === 0) return;
      const done = s.h.setMany(n, flags, ttl);
      if (done < n)
        throw statusError(
          done < 0 ? done : (new Int32Array(s.meta32.buffer, s.meta32.byteOffset + MetaOff.Vlen, 1)[0] ?? done),
          `setMany (entry ${first + Math.max(done, 0)})`,
        );
      pos = 0;
      n = 0;
    };
    for (const [i, { k, v, klen, vlen }] of checked.entries()) {
      const need = 5 + klen + vlen;
      if (pos + need > scratch.length) {
        flush();
        first = i;
      }
      scratch[pos] = klen;
      scratch.writeUInt32LE(vlen, pos + 1);
      if (typeof k === 'string') utf8Write.call(scratch, k, pos + 5, klen);
      else scratch.set(k, pos + 5);
      if (typeof v === 'string') utf8Write.call(scratch, v, pos + 5 + klen, vlen);
      else scratch.set(v, pos + 5 + klen);
      pos += need;
      n++;
    }
    flush();
  }

  /**
   * Whether `key` holds a live item, without copying its value, bumping it in the LRU or
   * counting a get (memcached's `me`-style peek).
   */
  has(key: Key): boolean {
    const s = this.#live();
    const klen = writeKey(s, key);
    const r = s.h.has(s.scratch.subarray(0, klen));
    if (r === 1) return true;
    if (r === Ret.Miss) return false;
    throw statusError(r, 'has');
  }

  /** Removes every item (as {@link flushAll}, for Map-like code). */
  clear(): void {
    this.flushAll();
  }

  /**
   * Items in the store (memcached's `curr_items`, for every user of the region): expired items
   * not yet reclaimed still count, as in memcached.
   */
  get size(): number {
    return Number(this.stats().curr_items);
  }

  /**
   * The live keys, as UTF-8 strings, crawled bucket by bucket under each bucket's lock (like
   * memcached's `lru_crawler metadump`): each key live for the whole iteration is yielded at
   * least once (twice only if the table grew meanwhile), keys added or removed meanwhile may or
   * may not be, and no key is ever torn. Nothing is bumped or counted.
   */
  *keys(): Generator<string, void, undefined> {
    let cursor = 0;
    for (;;) {
      const s = this.#live();
      const r = s.h.crawl(cursor);
      if (typeof r === 'number') throw statusError(r, 'keys');
      const [buf, next, done] = r;
      for (let i = 0; i < buf.length; ) {
        const n = buf[i];
        if (n === undefined) break;
        yield buf.toString('utf8', i + 1, i + 1 + n);
        i += 1 + n;
      }
      if (done) return;
      cursor = next;
    }
  }

  /**
   * `[key, value]` for the live keys (see {@link keys}); each value is read as {@link get}
   * reads it (whole, never torn, decoded by the codec), and a key gone by then is skipped.
   */
  *entries(): Generator<[string, T], void, undefined> {
    for (const k of this.keys()) {
      const v = this.get(k);
      if (v !== undefined) yield [k, v];
    }
  }

  /** {@link entries}, so a Cache iterates like a Map. */
  [Symbol.iterator](): Generator<[string, T], void, undefined> {
    return this.entries();
  }

  /** Invalidates every item now, or every item stored before `delay` seconds from now (memcached's `flush_all [delay]`). */
  flushAll(delay = 0): void {
    const s = this.#live();
    s.h.flushAll(checkSeconds(delay, 'delay'));
  }

  /**
   * memcached's statistics under its own names: `stats()` (general: curr_items, total_items,
   * get_hits, ...), `stats('slabs')` (`'1:chunk_size'`, ...), `stats('items')`
   * (`'items:1:number'`, ...), `stats('settings')`. Numeric values are numbers.
   */
  stats(group: StatsGroup = 'general'): Record<string, number | string> {
    const s = this.#live();
    const g = typeof group === 'string' && Object.hasOwn(STATS_GROUPS, group) ? STATS_GROUPS[group] : undefined;
    if (g === undefined)
      throw typeError('ERR_INVALID_ARG_VALUE', `group must be one of ${Object.keys(STATS_GROUPS).join(', ')}, got ${String(group)}`);
    const list = s.h.stats(g, this.#protection) ?? [];
    const out: Record<string, number | string> = {};
    for (let i = 0; i + 1 < list.length; i += 2) {
      const name = list[i];
      const v = list[i + 1];
      if (name === undefined || v === undefined) break;
      out[name] = /^\d+(\.\d+)?$/.test(v) && Number.isSafeInteger(Math.trunc(Number(v))) ? Number(v) : v;
    }
    return out;
  }

  /** memcached's `stats reset`: counters start again from zero (gauges such as curr_items stay). */
  resetStats(): void {
    this.#live().h.stats(Group.Reset, this.#protection);
  }

  /**
   * Moves the store's clock forward by `seconds` for every user of this region (memcached's debug
   * time): expiry can be tested without sleeping. Not for production use.
   */
  advanceClock(seconds: number): void {
    const s = this.#live();
    if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 0 || seconds > TTL_MAX)
      throw rangeError('ERR_OUT_OF_RANGE', `seconds must be a non-negative integer, got ${String(seconds)}`);
    s.h.advanceClock(seconds);
  }

  /** The memory protection in force: `'pku'` or `'none'`. */
  get protection(): 'none' | 'pku' {
    return this.#protection;
  }

  /** Test hook: this thread's PKRU register (-1 without PKU), to check that gates close. */
  _pkru(): number {
    return this.#live().h.pkru();
  }

  /** The region file's path. */
  get path(): string {
    return this.#live().path;
  }

  /** `true` once {@link close} has been called. */
  get closed(): boolean {
    return this.#s === undefined;
  }

  /** Largest value (bytes) storable under a key of `keyBytes` bytes (an integer from 0 to 250, else RangeError). */
  maxValueSize(keyBytes = 1): number {
    const s = this.#live();
    if (typeof keyBytes !== 'number' || !Number.isInteger(keyBytes) || keyBytes < 0 || keyBytes > KEY_MAX)
      throw rangeError('ERR_OUT_OF_RANGE', `keyBytes must be an integer from 0 to ${KEY_MAX}, got ${String(keyBytes)}`);
    return s.payloadMax - keyBytes;
  }

  /**
   * One step of the expired-item crawler: looks at up to `budget` LRU entries (default 10,000),
   * continuing across slab classes from where this handle's last step stopped, and frees the
   * expired or flushed items among them (`crawler_reclaimed` in {@link Cache.stats}). The
   * background crawler ({@link OpenOptions.crawler}) calls the same step from a timer.
   */
  crawlExpired(budget = 10000): CrawlResult {
    const s = this.#live();
    if (typeof budget !== 'number' || !Number.isInteger(budget) || budget < 1 || budget > CRAWL_BUDGET_MAX)
      throw rangeError('ERR_OUT_OF_RANGE', `budget must be an integer from 1 to ${CRAWL_BUDGET_MAX}, got ${String(budget)}`);
    const r = s.h.crawlExpired(budget);
    if (r === undefined) throw new CacheError('ERR_REENTRANT', 'crawlExpired: refused, this thread is already inside a shmcached call');
    return { checked: r[0], reclaimed: r[1] };
  }

  /** Releases this handle (idempotent). The items stay in the region for every other user. */
  close(): void {
    const s = this.#s;
    if (s === undefined) return;
    if (this.#events) unwatchEvents(this.#events);
    if (this.#crawler !== undefined) clearInterval(this.#crawler);
    this.#crawler = undefined;
    this.#s = undefined;
    s.h.close();
  }
}

/**
 * A Cache with a codec other than 'bytes' (see src/codec.ts): values are encoded on the way in
 * with the codec's tag in the flags' top 4 bits, and decoded on the way out after checking the
 * tag. A subclass, so that the default bytes path gains no work at all.
 */
class CodecCache<T> extends Cache<T> {
  readonly #codec: CodecImpl;

  constructor(s: State, protection: 'none' | 'pku', recovery: RecoveryReport, codec: CodecImpl) {
    super(s, protection, recovery);
    this.#codec = codec;
  }

  #opts(options: CacheSetOptions | undefined): CacheSetOptions {
    if (options !== undefined && (typeof options !== 'object' || options === null))
      throw typeError('ERR_INVALID_ARG_TYPE', `options must be an object, got ${describe(options)}`);
    return { ...options, flags: tagFlags(this.#codec, options?.flags) };
  }

  #info(key: Key, info: ItemInfo<Buffer> | undefined): ItemInfo<T> | undefined {
    if (info === undefined) return undefined;
    const userFlags = info.flags & 0x0fffffff;
    return { value: decodeValue(this.#codec, info.value, info.flags, key) as T, flags: userFlags, cas: info.cas };
  }

  override get(key: Key): T | undefined {
    return this.#info(key, super.gets(key) as unknown as ItemInfo<Buffer> | undefined)?.value;
  }

  override gets(key: Key): ItemInfo<T> | undefined {
    return this.#info(key, super.gets(key) as unknown as ItemInfo<Buffer> | undefined);
  }

  override gat(key: Key, ttl: number | TtlOptions): T | undefined {
    return this.gats(key, ttl)?.value;
  }

  override gats(key: Key, ttl: number | TtlOptions): ItemInfo<T> | undefined {
    return this.#info(key, super.gats(key, ttl) as unknown as ItemInfo<Buffer> | undefined);
  }

  override getMany(keys: readonly Key[]): (T | undefined)[] {
    if (!Array.isArray(keys)) throw typeError('ERR_INVALID_ARG_TYPE', `keys must be an array, got ${describe(keys)}`);
    return keys.map((k) => this.get(k));
  }

  override set(key: Key, value: In<T>, options?: CacheSetOptions): void {
    const o = this.#opts(options);
    super.set(key, encodeValue(this.#codec, value) as In<T>, o);
  }

  override add(key: Key, value: In<T>, options?: CacheSetOptions): boolean {
    const o = this.#opts(options);
    return super.add(key, encodeValue(this.#codec, value) as In<T>, o);
  }

  override replace(key: Key, value: In<T>, options?: CacheSetOptions): boolean {
    const o = this.#opts(options);
    return super.replace(key, encodeValue(this.#codec, value) as In<T>, o);
  }

  override cas(key: Key, value: In<T>, cas: bigint | number, options?: CacheSetOptions): CasResult {
    const o = this.#opts(options);
    return super.cas(key, encodeValue(this.#codec, value) as In<T>, cas, o);
  }

  override setMany(entries: Iterable<readonly [Key, In<T>]>, options?: CacheSetOptions): void {
    if (entries === null || typeof (entries as Iterable<unknown>)?.[Symbol.iterator] !== 'function')
      throw typeError('ERR_INVALID_ARG_TYPE', 'entries must be an iterable of [key, value] pairs');
    const o = this.#opts(options);
    const list: Array<[Key, Value]> = [];
    let i = 0;
    for (const e of entries) {
      if (!Array.isArray(e) || e.length < 2) throw typeError('ERR_INVALID_ARG_TYPE', `entries[${i}] must be a [key, value] pair`);
      list.push([e[0] as Key, encodeValue(this.#codec, e[1])]);
      i++;
    }
    super.setMany(list as unknown as Array<[Key, In<T>]>, o);
  }

  /**
   * {@link Cache.fetch} under this cache's codec: the loader returns a `T`, which is encoded and
   * stored with the codec's tag; hits are decoded (another codec's value: ERR_CODEC_MISMATCH).
   */
  override fetch(key: Key, loader: Loader<In<T>>, options?: FetchOptions): Promise<T> {
    return fetchWith(this, key, loader, options, this.#codec) as Promise<T>;
  }
}

/** The size of a store created without `size` (native/core/region.cc kDefaultMem). */
const DEFAULT_SIZE = 64 * 1024 * 1024;

/**
 * A store about to be created (no file, an empty one, or `reset`) must fit in its file system's
 * free space. The file is sparse: on a tmpfs without room its pages fail only when first written,
 * and that is a SIGBUS that kills the process, long after the open said yes. Refused here with
 * `ERR_BAD_REGION` ("cannot size ...: No space left on device"), nothing created. Space taken
 * later by other files is not foreseen (docs/recovery.md, "Not covered").
 */
function checkSpace(path: string, size: number, reset: boolean): void {
  let old = 0;
  try {
    const st = lstatSync(path);
    if (st.size > 0 && !reset) return; // an existing store: its size is its own, nothing new is allocated
    old = reset && st.isFile() ? st.blocks * 512 : 0; // a reset frees the old file (once nobody maps it)
  } catch {
    // no file yet
  }
  let free: number;
  try {
    const fs = statfsSync(dirname(path));
    free = fs.bavail * fs.bsize;
  } catch {
    return; // no statfs here: the open reports what goes wrong
  }
  const need = size > 0 ? size : DEFAULT_SIZE;
  if (need > free + old) {
    const mib = (n: number): number => Math.floor(n / (1024 * 1024));
    throw new CacheError(
      'ERR_BAD_REGION',
      `cannot size ${path}: No space left on device (a ${mib(need)} MiB store, ${mib(free + old)} MiB free in ${dirname(path)}); choose a smaller size, free space, or another path`,
    );
  }
}
