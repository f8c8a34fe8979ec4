/**
 * `shmcached/keyv`: a Keyv store (and so a cache-manager 7 / NestJS store) on a shmcached
 * region, shared by every thread and process that opens the same path.
 *
 * ```ts
 * import Keyv from 'keyv';
 * import { KeyvShmcached } from 'shmcached/keyv';
 * const keyv = new Keyv({ store: new KeyvShmcached({ path: '/dev/shm/app', size: '256mb' }), namespace: 'users' });
 * await keyv.set('1', { name: 'Ada' }, 60_000); // ttl in ms
 * ```
 *
 * Layout in the store: an entry of namespace `ns` lives at `<prefix>/<ns>/<gen>/<key>` (ns and
 * key percent-encoded where memcached's key rule forbids a byte), where `<gen>` is the
 * namespace's generation, a counter at `<prefix>/<ns>` (no ttl). `clear()` bumps it (one incr):
 * the namespace's old entries become unreachable at once and leave by LRU eviction, so clear is
 * O(1) and never touches other namespaces. Values: strings as UTF-8 (flags tag 1, the 'string'
 * codec's), bytes as they are (tag 0), anything else through node:v8 (tag 3).
 *
 * The handle underneath is a {@link Cache} (synchronous calls, wrapped in promises) or a
 * {@link CachePool} (its asynchronous calls, run on the caller or its workers): the same entries
 * either way, so stores on either kind of handle share one namespace layout.
 */
import { EventEmitter } from 'node:events';

import { Cache } from './cache.js';
import { CachePool } from './pool/pool.js';
import { decodeValue, encodeValue, resolveCodec } from './codec.js';
import { bytesLength, detachedError, isBytes, isDetached } from './bytes.js';
import { rangeError, typeError } from './errors.js';
import { msToExptime, RELATIVE_MAX } from './ttl.js';
import type { CacheSetOptions, OpenOptions, Value } from './types.js';

/** Options of {@link KeyvShmcached}: a Cache to share, or the {@link OpenOptions} to open one. */
export interface KeyvShmcachedOptions extends Omit<OpenOptions, 'codec'> {
  /**
   * An open Cache or CachePool to use: a bytes one is used as it is and left open by disconnect;
   * for one with a codec the store opens its own bytes Cache on its path (entries carry their own tags).
   */
  cache?: Cache<unknown> | CachePool<unknown>;
  /** First segment of every key this store writes. Default `'keyv'`. */
  prefix?: string;
}

/** One entry of {@link KeyvShmcached.setMany}, as Keyv passes it. */
export interface KeyvStoreEntry {
  key: string;
  value: unknown;
  ttl?: number;
}

const TAG_STRING = 1 << 28;
const TAG_V8 = 3 << 28;
/** node:v8 serialisation, whose failures are CacheError ERR_CODEC_ENCODE (as under a Cache's 'v8' codec). */
const V8 = resolveCodec('v8')!;

/**
 * Percent-encodes what memcached keys may not hold (space, controls, DEL), `%` and `/`; a lone
 * surrogate (a string that is no valid UTF-16) becomes `%uXXXX`, since UTF-8 would write it as
 * U+FFFD and so make '\uD800' and '\uFFFD' one key.
 */
function enc(s: string): string {
  return s.replace(/[\x00-\x20\x7f%/]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, (c) => {
    const u = c.charCodeAt(0);
    return u < 0x80 ? `%${u.toString(16).padStart(2, '0')}` : `%u${u.toString(16)}`;
  });
}

function dec(s: string): string {
  return s.replace(/%(?:u([0-9a-f]{4})|([0-9a-f]{2}))/g, (_, u: string | undefined, h: string | undefined) =>
    String.fromCharCode(parseInt(u ?? h ?? '0', 16)),
  );
}

/** The latest Unix second memcached's 32-bit exptime holds (2106). */
const CLOCK_END_MS = (2 ** 32 - 1) * 1000;

/**
 * A Keyv storage adapter on shmcached (Keyv 5's `KeyvStoreAdapter`): `get`, `set` (ttl in ms),
 * `delete`, `clear` (this namespace only, O(1)), `has`, `getMany`, `setMany`, `deleteMany`,
 * `iterator` (this namespace only) and `disconnect`. Errors are thrown (Keyv emits them as
 * its `error` event).
 */
export class KeyvShmcached extends EventEmitter {
  /** The namespace Keyv sets on its store (undefined: none). */
  namespace: string | undefined;
  /** Adapter options, as Keyv reads them (`dialect`, `url`). */
  readonly opts: { dialect: string; url: string };
  readonly #cache: Cache<Buffer> | CachePool<Buffer>;
  readonly #prefix: string;
  readonly #owned: boolean;

  constructor(options: KeyvShmcachedOptions = {}) {
    super();
    if (typeof options !== 'object' || options === null) throw typeError('ERR_INVALID_ARG_TYPE', 'options must be an object');
    const { cache, prefix = 'keyv', ...open } = options;
    if (typeof prefix !== 'string' || prefix.length === 0 || prefix.length > 32 || /[\x00-\x20\x7f/%]/.test(prefix)) {
      throw typeError('ERR_INVALID_ARG_VALUE', 'options.prefix must be 1 to 32 characters without spaces, controls, "/" or "%"');
    }
    if (cache !== undefined && !(cache instanceof Cache) && !(cache instanceof CachePool))
      throw typeError('ERR_INVALID_ARG_TYPE', 'options.cache must be a Cache or a CachePool');
    // A bytes Cache or CachePool passed in is used as it is (and left open); one with a codec
    // gets a bytes Cache of our own on its region, since entries carry their own tags.
    const bytes =
      cache instanceof CachePool ? cache.codec === 'bytes' : cache !== undefined && Object.getPrototypeOf(cache) === Cache.prototype;
    this.#owned = !bytes;
    this.#cache =
      cache === undefined ? Cache.open(open) : bytes ? (cache as Cache<Buffer> | CachePool<Buffer>) : Cache.open({ path: cache.path });
    this.#prefix = prefix;
    this.opts = { dialect: 'shmcached', url: `shmcached://${this.#cache.path}` };
  }

  /** The store's own handle (raw bytes): the Cache or CachePool it runs on, e.g. for stats. */
  get cache(): Cache<Buffer> | CachePool<Buffer> {
    return this.#cache;
  }

  #nsKey(): string {
    const ns: unknown = this.namespace;
    if (ns !== undefined && typeof ns !== 'string')
      throw typeError('ERR_INVALID_ARG_TYPE', `namespace must be a string or undefined, got ${ns === null ? 'null' : typeof ns}`);
    return `${this.#prefix}/${enc(ns ?? '')}`;
  }

  /** The current generation of this store's namespace (0 before the first clear). */
  async #gen(): Promise<string> {
    const g = await this.#cache.get(this.#nsKey());
    return g === undefined ? '0' : g.toString('latin1').trim();
  }

  async #base(): Promise<string> {
    return `${this.#nsKey()}/${await this.#gen()}/`;
  }

  #key(base: string, key: unknown): string {
    if (typeof key !== 'string') throw typeError('ERR_INVALID_ARG_TYPE', `key must be a string, got ${typeof key}`);
    const k = base + enc(key);
    if (Buffer.byteLength(k) > 250)
      throw rangeError(
        'ERR_OUT_OF_RANGE',
        `key is too long for memcached's 250-byte limit once namespaced and encoded (${Buffer.byteLength(k)} bytes): ${key.slice(0, 40)}...`,
      );
    return k;
  }

  async #read(k: string): Promise<unknown> {
    const info = await this.#cache.gets(k);
    if (info === undefined) return undefined;
    const tag = info.flags >>> 28;
    if (tag === 1) return info.value.toString('utf8');
    if (tag === 0) return Buffer.from(info.value);
    // Tag 3 (node:v8), or a tag this store never writes (another codec's writer at this key):
    // bytes that node:v8 cannot read are CacheError ERR_CODEC_DECODE, another tag is
    // ERR_CODEC_MISMATCH; never a crash, nor the raw bytes passed off as the value.
    return decodeValue(V8, info.value, info.flags, k);
  }

  /**
   * What a write of `value` for `ttl` ms stores: the bytes (or text) and the store options. Throws
   * before anything is stored: CacheError ERR_CODEC_ENCODE for a value node:v8 cannot serialise,
   * RangeError for a ttl past the store's clock.
   */
  #encode(value: unknown, ttl: unknown): [Value, CacheSetOptions] {
    // Keyv's meaning: a positive number of ms; anything else (0, undefined, negative, NaN) is no
    // expiry, as @keyv/redis reads it. One past memcached's 32-bit clock (Infinity, 2^53: "for
    // ever" to Keyv, whose own expiry check never fires) is no expiry too, not a refusal.
    let ttlMs = typeof ttl === 'number' && ttl > 0 ? ttl : 0;
    if (ttlMs > RELATIVE_MAX * 1000 && Date.now() + ttlMs > CLOCK_END_MS) ttlMs = 0;
    msToExptime(ttlMs, 'ttl');
    if (typeof value === 'string') return [value, { ttlMs, flags: TAG_STRING }];
    if (isBytes(value)) return [value, { ttlMs }];
    return [encodeValue(V8, value) as Uint8Array, { ttlMs, flags: TAG_V8 }];
  }

  async #write(k: string, value: unknown, ttl: unknown): Promise<void> {
    const [v, o] = this.#encode(value, ttl);
    await this.#cache.set(k, v, o);
  }

  /** The raw value Keyv stored under `key`, or undefined. */
  async get(key: string): Promise<unknown> {
    return this.#read(this.#key(await this.#base(), key));
  }

  /** The raw values of `keys`, aligned with them. */
  async getMany(keys: string[]): Promise<unknown[]> {
    if (!Array.isArray(keys)) throw typeError('ERR_INVALID_ARG_TYPE', 'keys must be an array of strings');
    const base = await this.#base();
    return Promise.all(keys.map((k) => this.#read(this.#key(base, k))));
  }

  /** Stores `value` under `key` for `ttl` ms (none: no expiry). */
  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    await this.#write(this.#key(await this.#base(), key), value, ttl);
    return true;
  }

  /**
   * Stores many entries (Keyv's `setMany`). Every entry is checked and serialised before any is
   * stored, so a bad one (a key that is not a string or too long, a value v8 cannot serialise, a
   * value over the item size: RangeError `ERR_VALUE_TOO_LARGE` as the single set throws, a view
   * of a detached ArrayBuffer) stores nothing.
   */
  async setMany(entries: KeyvStoreEntry[]): Promise<boolean[]> {
    if (!Array.isArray(entries)) throw typeError('ERR_INVALID_ARG_TYPE', 'entries must be an array of { key, value, ttl? }');
    const base = await this.#base();
    let max: number | undefined;
    const writes = entries.map((e: unknown, i): [string, Value, CacheSetOptions] => {
      if (typeof e !== 'object' || e === null)
        throw typeError(
          'ERR_INVALID_ARG_TYPE',
          `entries[${i}] must be an object { key, value, ttl? }, got ${e === null ? 'null' : typeof e}`,
        );
      const { key, value, ttl } = e as KeyvStoreEntry;
      const k = this.#key(base, key);
      const [v, o] = this.#encode(value, ttl);
      // What the single set would refuse at the store, refused here before any entry is stored.
      const vlen = typeof v === 'string' ? Buffer.byteLength(v) : bytesLength(v);
      if (vlen === 0 && typeof v !== 'string' && isDetached(v)) throw detachedError(`entries[${i}].value`);
      if (max === undefined) max = this.#cache.maxValueSize(0);
      if (Buffer.byteLength(k) + vlen > max)
        throw rangeError(
          'ERR_VALUE_TOO_LARGE',
          `entries[${i}]: value of ${vlen} bytes is too large: an item (key + value) holds at most ${max} bytes here (itemSizeMax minus the item header)`,
        );
      return [k, v, o];
    });
    return Promise.all(
      writes.map(async ([k, v, o]) => {
        await this.#cache.set(k, v, o);
        return true;
      }),
    );
  }

  /** Removes `key`; whether it was there. */
  async delete(key: string): Promise<boolean> {
    return this.#cache.delete(this.#key(await this.#base(), key));
  }

  /** Removes `keys`; whether every one was there. */
  async deleteMany(keys: string[]): Promise<boolean> {
    if (!Array.isArray(keys)) throw typeError('ERR_INVALID_ARG_TYPE', 'keys must be an array of strings');
    const base = await this.#base();
    // Every key checked before any is deleted: a bad one deletes nothing.
    const ks = keys.map((k) => this.#key(base, k));
    const gone = await Promise.all(ks.map((k) => this.#cache.delete(k)));
    return gone.every(Boolean);
  }

  /** Whether `key` holds a live entry (no copy; the store's clock ticks in whole seconds). */
  async has(key: string): Promise<boolean> {
    return this.#cache.has(this.#key(await this.#base(), key));
  }

  /** Clears this store's namespace only, in O(1): bumps its generation (see the module comment). */
  async clear(): Promise<void> {
    const g = this.#nsKey();
    if ((await this.#cache.incr(g, 1)) === undefined && !(await this.#cache.add(g, '1'))) await this.#cache.incr(g, 1);
  }

  /** `[key, raw value]` of this namespace's live entries (keys as Keyv gave them). */
  async *iterator(namespace?: string): AsyncGenerator<[string, unknown], void, undefined> {
    const saved = this.namespace;
    if (namespace !== undefined) this.namespace = namespace;
    const base = this.#base();
    this.namespace = saved;
    const prefix = await base;
    const nsKey = prefix.slice(0, prefix.lastIndexOf('/', prefix.length - 2));
    for await (const k of this.#cache.keys()) {
      if (!k.startsWith(prefix)) continue;
      const v = await this.#read(k);
      if (v === undefined) continue;
      // A clear() since the walk began (here, in the caller's loop body, or in another
      // process) moved the namespace to a new generation: what is left of the old one is gone
      // to every get, so the walk yields none of it.
      const g = await this.#cache.get(nsKey);
      if (`${nsKey}/${g === undefined ? '0' : g.toString('latin1').trim()}/` !== prefix) return;
      yield [dec(k.slice(prefix.length)), v];
    }
  }

  /** Closes the store's own handle (a bytes Cache or CachePool passed in stays open). */
  async disconnect(): Promise<void> {
    if (this.#owned) await this.#cache.close();
  }
}
