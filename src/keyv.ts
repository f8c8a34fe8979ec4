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
 */
import { EventEmitter } from 'node:events';
import { deserialize, serialize } from 'node:v8';

import { Cache } from './cache.js';
import { rangeError, typeError } from './errors.js';
import type { OpenOptions } from './types.js';

/** Options of {@link KeyvShmcached}: a Cache to share, or the {@link OpenOptions} to open one. */
export interface KeyvShmcachedOptions extends Omit<OpenOptions, 'codec'> {
  /** An open Cache to use: a bytes one is used as it is and left open by disconnect; for one with a codec the store opens its own bytes handle on `cache.path`. */
  cache?: Cache<unknown>;
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

/** Percent-encodes what memcached keys may not hold (space, controls, DEL), `%` and `/`. */
function enc(s: string): string {
  return s.replace(/[\x00-\x20\x7f%/]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function dec(s: string): string {
  return s.replace(/%([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

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
  readonly #cache: Cache<Buffer>;
  readonly #prefix: string;
  readonly #owned: boolean;

  constructor(options: KeyvShmcachedOptions = {}) {
    super();
    if (typeof options !== 'object' || options === null) throw typeError('ERR_INVALID_ARG_TYPE', 'options must be an object');
    const { cache, prefix = 'keyv', ...open } = options;
    if (typeof prefix !== 'string' || prefix.length === 0 || prefix.length > 32 || /[\x00-\x20\x7f/%]/.test(prefix)) {
      throw typeError('ERR_INVALID_ARG_VALUE', 'options.prefix must be 1 to 32 characters without spaces, controls, "/" or "%"');
    }
    if (cache !== undefined && !(cache instanceof Cache)) throw typeError('ERR_INVALID_ARG_TYPE', 'options.cache must be a Cache');
    // A bytes Cache passed in is used as it is (and left open); one with a codec gets a bytes
    // handle of our own on its region, since entries carry their own tags.
    this.#owned = cache === undefined || Object.getPrototypeOf(cache) !== Cache.prototype;
    this.#cache = cache === undefined ? Cache.open(open) : this.#owned ? Cache.open({ path: cache.path }) : (cache as Cache<Buffer>);
    this.#prefix = prefix;
    this.opts = { dialect: 'shmcached', url: `shmcached://${this.#cache.path}` };
  }

  /** The store's own Cache handle (raw bytes), e.g. for stats. */
  get cache(): Cache<Buffer> {
    return this.#cache;
  }

  #nsKey(): string {
    return `${this.#prefix}/${enc(this.namespace ?? '')}`;
  }

  /** The current generation of this store's namespace (0 before the first clear). */
  #gen(): string {
    const g = this.#cache.get(this.#nsKey());
    return g === undefined ? '0' : g.toString('latin1').trim();
  }

  #base(): string {
    return `${this.#nsKey()}/${this.#gen()}/`;
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

  #read(k: string): unknown {
    const info = this.#cache.gets(k);
    if (info === undefined) return undefined;
    const tag = info.flags >>> 28;
    if (tag === 1) return info.value.toString('utf8');
    if (tag === 3) return deserialize(info.value);
    return Buffer.from(info.value);
  }

  #write(k: string, value: unknown, ttl: unknown): void {
    const ttlMs = typeof ttl === 'number' && ttl > 0 ? ttl : 0;
    if (typeof value === 'string') this.#cache.set(k, value, { ttlMs, flags: TAG_STRING });
    else if (value instanceof Uint8Array) this.#cache.set(k, value, { ttlMs });
    else this.#cache.set(k, serialize(value), { ttlMs, flags: TAG_V8 });
  }

  /** The raw value Keyv stored under `key`, or undefined. */
  async get(key: string): Promise<unknown> {
    return this.#read(this.#key(this.#base(), key));
  }

  /** The raw values of `keys`, aligned with them. */
  async getMany(keys: string[]): Promise<unknown[]> {
    const base = this.#base();
    return keys.map((k) => this.#read(this.#key(base, k)));
  }

  /** Stores `value` under `key` for `ttl` ms (none: no expiry). */
  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    this.#write(this.#key(this.#base(), key), value, ttl);
    return true;
  }

  /** Stores many entries (Keyv's `setMany`). */
  async setMany(entries: KeyvStoreEntry[]): Promise<boolean[]> {
    const base = this.#base();
    return entries.map((e) => {
      this.#write(this.#key(base, e.key), e.value, e.ttl);
      return true;
    });
  }

  /** Removes `key`; whether it was there. */
  async delete(key: string): Promise<boolean> {
    return this.#cache.delete(this.#key(this.#base(), key));
  }

  /** Removes `keys`; whether every one was there. */
  async deleteMany(keys: string[]): Promise<boolean> {
    const base = this.#base();
    let all = true;
    for (const k of keys) if (!this.#cache.delete(this.#key(base, k))) all = false;
    return all;
  }

  /** Whether `key` holds a live entry (no copy; the store's clock ticks in whole seconds). */
  async has(key: string): Promise<boolean> {
    return this.#cache.has(this.#key(this.#base(), key));
  }

  /** Clears this store's namespace only, in O(1): bumps its generation (see the module comment). */
  async clear(): Promise<void> {
    const g = this.#nsKey();
    if (this.#cache.incr(g, 1) === undefined && !this.#cache.add(g, '1')) this.#cache.incr(g, 1);
  }

  /** `[key, raw value]` of this namespace's live entries (keys as Keyv gave them). */
  async *iterator(namespace?: string): AsyncGenerator<[string, unknown], void, undefined> {
    const saved = this.namespace;
    if (namespace !== undefined) this.namespace = namespace;
    const base = this.#base();
    this.namespace = saved;
    for (const k of this.#cache.keys()) {
      if (!k.startsWith(base)) continue;
      const v = this.#read(k);
      if (v !== undefined) yield [dec(k.slice(base.length)), v];
    }
  }

  /** Closes the store's own handle (a bytes Cache passed in stays open). */
  async disconnect(): Promise<void> {
    if (this.#owned) this.#cache.close();
  }
}
