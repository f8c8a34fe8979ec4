/**
 * Loads the C++ addon and describes its binding surface. Internal: users reach it through
 * {@link Cache}. The hot functions take numbers only; keys and values travel through buffers
 * registered once per thread (see native/addon.cc for the layout).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { RecoveryReport } from './types.js';

/** Bound functions of one native handle (one thread's view of one region). */
export interface NativeHandle {
  get(klen: number, outOff: number): number;
  gat(klen: number, outOff: number, ttl: number): number;
  getInto(klen: number, target: Uint8Array, offset: number): number;
  store(cmd: number, klen: number, vlen: number, flags: number, ttl: number): number;
  del(klen: number): number;
  delta(klen: number, incr: number, delta: number): number;
  touch(klen: number, ttl: number): number;
  /** memcached's `mg` with N (vivifyTtl ≥ 0) and R (recacheTtl ≥ 0); state bits at meta+24 (addon.cc js_meta_get). */
  metaGet(klen: number, outOff: number, vivifyTtl: number, recacheTtl: number): number;
  /** memcached's `md` with I (invalidate) and T (ttl ≥ 0); the CAS (0 = any) at meta+16. */
  metaDelete(klen: number, invalidate: number, ttl: number): number;
  getMany(n: number, outOff: number): number;
  setMany(n: number, flags: number, ttl: number): number;
  setBuffers(scratch: Buffer, meta: Buffer): void;
  setArena(arena: Buffer): void;
  flushAll(delay: number): void;
  /** Record one eviction/expiration in `sample` caused by this handle's calls (0: none). */
  setEvents(sample: number): void;
  /** Moves recorded events into scratch ([u8 kind, u8 class, u8 nkey, u8 0, u32 size, key]...); records at meta+0, dropped at meta+4. */
  drainEvents(): number;
  advanceClock(seconds: number): void;
  stats(group: number, protection: string): string[] | undefined;
  close(): void;
  /**
   * A wire-protocol connection (native/proto_binding.cc) on this handle's store. After each
   * feed, state[0] bit 0 = close once the reply is written, bit 1 = more buffered input waits
   * for the reply to drain (call feed() with no chunk).
   */
  protoConn(state: Int32Array): ProtoConn;
  /**
   * One step of the expired-item crawler (native/binding_crawler.cc): looks at up to `budget` LRU
   * entries from where the last step stopped and frees the dead ones. [checked, reclaimed,
   * wrapped]; undefined when closed or refused (re-entrant).
   */
  crawlExpired(budget: number): [number, number, number] | undefined;
  /** Test-only: this thread's PKRU, or -1 without PKU. */
  pkru(): number;
  /** Test-only: reads (mode 0) or writes (1) region memory with no gate; +2 reports the fault's si_code and exits 77. */
  probe(mode: number): number;
  /** Test-only: dies by SIGKILL in the middle of a change (native/core/recover.h debug_die_in); key in scratch, value at the value offset. */
  debugDieIn(point: number, klen: number, vlen: number): void;
  /** 1 when the region is tagged with a protection key and every call goes through a gate. */
  readonly protection: number;
  readonly memLimit: number;
  readonly itemSizeMax: number;
  readonly itemHeader: number;
  readonly evict: number;
  /** What the open did (the open that mapped the region in this process; later ones 'attached'). */
  readonly recovery: RecoveryReport;
}

/** Result of the read-only structure check behind `shmcached check`. */
export interface CheckResult {
  ok: boolean;
  problems: string[];
  items: number;
  freeChunks: number;
  /** Chunks neither linked nor free: held by a process that died between allocation and link (reclaimed by the next recovery), or in use right now by an attached one. Not a problem. */
  leakedChunks: number;
  pagesUsed: number;
  pagesTotal: number;
  liveProcesses: number;
  hashPower: number;
  expanding: boolean;
  clean: boolean;
  dirty: boolean;
  recoveries: number;
  lockTakeovers: number;
}

/** One connection's protocol engine: bytes in, replies out. */
export interface ProtoConn {
  /**
   * Runs every complete command in chunk (or what is buffered, without one) and copies their
   * replies into slab at off: the byte count (0: none), or minus the count when they do not fit
   * (nothing copied; call again with room). See ReplyPool in src/server.ts.
   */
  feed(chunk: Uint8Array | undefined, slab: Uint8Array, off: number): number;
  /** Frees the engine; later feeds return undefined. */
  close(): void;
}

/** The addon's exports. */
export interface NativeModule {
  open(path: string, memLimit: number, itemSizeMax: number, evict: number, reset: boolean, mode: number, protection?: number, flags?: number): NativeHandle;
  /** Maps the file read-only and verifies every structure; throws (code ERR_BAD_REGION) for a file that is not a region. */
  check(path: string): CheckResult;
  /** Whether this process can use PKU, and its key (-1 if not). */
  pkuInfo(): { available: boolean; key: number };
  layout: { valueOffset: number; metaLens: number; keyMax: number };
}

/** Return codes shared with native/addon.cc. */
export const enum Ret {
  Miss = -1,
  Small = -2,
  BadKey = -3,
  TooLarge = -4,
  NoMemory = -5,
  NonNumeric = -6,
  Closed = -7,
  Busy = -8,
}

/** Store command numbers shared with native/core/store.h. */
export const enum Cmd {
  Set = 0,
  Add = 1,
  Replace = 2,
  Append = 3,
  Prepend = 4,
  Cas = 5,
}

/** Status numbers shared with native/core/store.h. */
export const enum St {
  Ok = 0,
  Miss = 1,
  NotStored = 2,
  Exists = 3,
}

function load(): NativeModule {
  const here = dirname(fileURLToPath(import.meta.url));
  const require = createRequire(import.meta.url);
  // dist/src/native.js -> ../../build/Release; allow a sanitizer build to be swapped in.
  const root = join(here, '..', '..');
  const override = process.env.SHMCACHED_ADDON;
  return require(override ?? join(root, 'build', 'Release', 'shmcached.node')) as NativeModule;
}

/** The loaded addon (loaded once per thread on first import). */
export const native: NativeModule = load();
