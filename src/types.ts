/**
 * Public types of shmcached's synchronous API. The names here are the contract described in
 * DESIGN.md ("Faces"); see README.md for the semantics of each command.
 */

import type { CodecOption } from './codec.js';
import type { TtlOptions } from './ttl.js';
export type { Codec, CodecOption } from './codec.js';
export type { TtlOptions } from './ttl.js';

/** A key: a string (encoded as UTF-8) or raw bytes. 1..250 bytes, no spaces or control characters. */
export type Key = string | Uint8Array;

/** A value: a string (encoded as UTF-8) or raw bytes, up to `itemSizeMax` minus the item overhead. */
export type Value = string | Uint8Array;

/** Settings of the background expired-item crawler ({@link OpenOptions.crawler}). */
export interface CrawlerOptions {
  /** Milliseconds between steps, 10 to 3,600,000. Default 1000. */
  intervalMs?: number;
  /** LRU entries looked at per step, 1 to 1,048,576. Default 2000. */
  budget?: number;
}

/** What one crawler step did ({@link Cache.crawlExpired}). */
export interface CrawlResult {
  /** LRU entries looked at. */
  checked: number;
  /** Expired or flushed items freed. */
  reclaimed: number;
}

/** Options of {@link Cache.open}. */
export interface OpenOptions {
  /** The region file. Default: `/dev/shm/shmcached` (a tmpfs, like memcached's warm-restart file). */
  path?: string;
  /** Memory for items (memcached's `-m`), as bytes or a string such as `'64mb'`. Default `'64mb'`. */
  size?: number | string;
  /** Largest item (memcached's `-I`), bytes or a string such as `'1mb'`. Default `'1mb'`, min 1 KiB, max 64 MiB (and at most size / 2). */
  itemSizeMax?: number | string;
  /** Evict the least recently used item when memory is full (default `true`); `false` is memcached's `-M`: an out-of-memory error instead. */
  evict?: boolean;
  /** Memory protection: `'auto'` (PKU where the CPU has it), `'pku'` (required), `'none'`. Default `'auto'`. */
  protection?: 'auto' | 'pku' | 'none';
  /**
   * Re-initialise the file even if it holds a region (a cold start): everything stored is lost.
   * Default `false`. Only a file carrying shmcached's magic is ever reset (it is unlinked and a
   * fresh one created); any other file is refused with `ERR_REGION_FOREIGN` and left untouched.
   */
  reset?: boolean;
  /**
   * File mode of a newly created region file. Default `0o600`. Given explicitly (e.g. `0o660`
   * to share with a group), a new file gets exactly this mode whatever the umask. It is also the
   * most an existing file may allow: a file writable by its group or by others beyond `mode` is
   * refused (`ERR_REGION_MODE`). See docs/security.md.
   */
  mode?: number;
  /**
   * A uid, besides this process's effective uid, whose region file may be opened (deliberate
   * sharing between users). Default: none, a file owned by anyone else is refused
   * (`ERR_REGION_OWNER`). See docs/security.md.
   */
  allowOwner?: number;
  /**
   * Record one eviction/expiration event in this many for the `shmcached:evict` and
   * `shmcached:expire` channels (only while someone subscribes). Default 1: every event.
   */
  eventSample?: number;
  /**
   * The background expired-item crawler (memcached's LRU crawler): every `intervalMs` an unref'd
   * timer on this thread looks at up to `budget` LRU entries, walking every slab class from its
   * tail, and frees the expired or flushed ones (counted as `crawler_reclaimed`), so memory held
   * by dead items comes back even when nothing allocates. `true` means
   * `{ intervalMs: 1000, budget: 2000 }`. Default `false`: dead items are still reclaimed when an
   * allocation reaches them at the LRU tail, or when read. {@link Cache.crawlExpired} runs one
   * step by hand.
   */
  crawler?: boolean | CrawlerOptions;
  /**
   * What to do with a file that is not a valid region of this build (wrong magic, another layout
   * version, a truncated file, a damaged header): `'throw'` (default) throws `ERR_BAD_REGION` and
   * leaves the file alone; `'reset'` re-creates it empty (a cold start; `lastRecovery.kind` is
   * `'reset'` with the reason) when it carries shmcached's magic. A file without the magic is
   * never written: `'reset'` refuses it with `ERR_REGION_FOREIGN`.
   */
  onCorrupt?: 'throw' | 'reset';
  /**
   * Run recovery (rebuild every derived structure from the slab pages) even when the region was
   * closed cleanly. Applies only when no other process has it open. Default `false`: recovery runs
   * by itself when a region was not closed cleanly.
   */
  recover?: boolean;
  /**
   * Report what opening did when it was more than attaching or creating (a warm start, a recovery,
   * a reset): `true` logs one line to stderr; a function receives the report. Default: silent
   * (the report is always on {@link Cache.lastRecovery}).
   */
  logRecovery?: boolean | ((report: RecoveryReport) => void);
  /**
   * How values are stored: `'bytes'` (default: Buffer out, strings or bytes in), `'string'`
   * (UTF-8), `'json'`, `'v8'` (node:v8 serialize: Map, Set, Date, BigInt, typed arrays) or a
   * `{ encode, decode }` object. Recorded in the top 4 bits of each item's flags, so a reader
   * with another codec gets CacheError ERR_CODEC_MISMATCH (see src/codec.ts, docs/values.md).
   */
  codec?: CodecOption;
}

/**
 * What {@link Cache.open} found and did with the region file (see README, "Crash safety, warm
 * restart and recovery").
 */
export interface RecoveryReport {
  /**
   * `'created'`: a new region; `'attached'`: other processes had it open (or this one already
   * did), nothing to do; `'warm'`: closed cleanly by the last process, reopened as it was
   * (items, flags, CAS values, stats); `'recovered'`: not closed cleanly and nobody attached, so
   * every structure was rebuilt from the slab pages; `'reset'`: the old contents were dropped
   * (`reset: true`, or `onCorrupt: 'reset'` on a bad file; see `reason`).
   */
  kind: 'created' | 'attached' | 'warm' | 'recovered' | 'reset';
  /** Items verified and kept. */
  itemsKept: number;
  /** Chunks that looked like stored items but failed verification, or whose link or unlink was cut short. */
  itemsDropped: number;
  /** Older copies of a key (a replace cut short): dropped in favour of the newest CAS. */
  duplicatesDropped: number;
  /** Expired or flushed items reclaimed during recovery. */
  expiredDropped: number;
  /** Chunks put back on free lists. */
  chunksFreed: number;
  /** Slab pages scanned. */
  pagesScanned: number;
  /** Pages in use but owned by no class (a page move cut short), given to a class. */
  orphanPages: number;
  /** Processes found dead in the attach table. */
  deadProcesses: number;
  /** Milliseconds spent in the warm start or the recovery. */
  ms: number;
  /** For `'reset'`: why the contents were dropped. Empty otherwise. */
  reason: string;
}

/** Options of the storage commands (`set`, `add`, `replace`, `cas`, `setMany`). */
export interface SetOptions {
  /**
   * memcached's exptime, in seconds: 0 (default) never expires; up to 30 days (2592000) is relative
   * to now; above that it is an absolute Unix time; negative means already expired. On
   * {@link Cache}, an absolute time already past is a RangeError `ERR_TTL_IN_PAST`.
   */
  ttl?: number;
  /** 32-bit unsigned client flags stored with the item (memcached's `flags`). Default 0. */
  flags?: number;
}

/**
 * Options of {@link Cache}'s storage commands: {@link SetOptions} plus the millisecond spellings
 * of the expiry (give at most one of `ttl`, `ttlMs`, `expiresAt`; see {@link TtlOptions}).
 */
export interface CacheSetOptions extends SetOptions, TtlOptions {}

/**
 * What a `Cache<T>`'s storage commands take: any string or bytes for the default `Cache<Buffer>`
 * (codec 'bytes'), else the codec's value type.
 */
export type In<T> = [T] extends [Buffer] ? Value : T;

/** What `gets` / `gats` return for a hit. */
export interface ItemInfo<T = Buffer> {
  value: T;
  /** 32-bit client flags. */
  flags: number;
  /** The item's CAS unique, for {@link Cache.cas}. */
  cas: bigint;
}

/** Options of {@link Cache.append} and {@link Cache.prepend}. */
export interface CacheAppendOptions {
  /**
   * Append only while the item's CAS unique is still this one (from {@link Cache.gets}), as
   * memcached's binary append and meta `ms ... MA C<cas>` do: checked and applied in one step under
   * the key's lock, so of two appends that read the same CAS at most one lands. Omitted or 0: no check.
   */
  cas?: bigint | number;
}

/** Outcome of {@link Cache.cas}, memcached's three answers. */
export type CasResult = 'stored' | 'exists' | 'not_found';

/** Which statistics group {@link Cache.stats} returns. */
export type StatsGroup = 'general' | 'slabs' | 'items' | 'settings';
