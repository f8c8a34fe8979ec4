/**
 * Loads the C++ addon and describes its binding surface. Internal: users reach it through
 * {@link Cache}. The hot functions take numbers only; keys and values travel through buffers
 * registered once per thread at the offsets of src/contract.ts (see native/binding/ and
 * docs/contract.md).
 */
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { RecoveryReport } from './types.js';
import { loadAddon } from './addon-loader.js';

/** Bound functions of one native handle (one thread's view of one region). */
export interface NativeHandle {
  get(klen: number, outOff: number): number;
  gat(klen: number, outOff: number, ttl: number): number;
  getInto(klen: number, target: Uint8Array, offset: number): number;
  store(cmd: number, klen: number, vlen: number, flags: number, ttl: number): number;
  del(klen: number): number;
  delta(klen: number, incr: number, delta: number): number;
  touch(klen: number, ttl: number): number;
  /** memcached's `mg` with N (vivifyTtl ≥ 0) and R (recacheTtl ≥ 0); MetaBit state bits at MetaOff.MetaBits (native/binding/cache.cc). */
  metaGet(klen: number, outOff: number, vivifyTtl: number, recacheTtl: number): number;
  /** memcached's `md` with I (invalidate) and T (ttl ≥ 0); the CAS (0 = any) at MetaOff.Io64. */
  metaDelete(klen: number, invalidate: number, ttl: number): number;
  getMany(n: number, outOff: number): number;
  /** Whether the key (its bytes) holds a live item: 1, Ret.Miss, or another Ret (native/binding_values.cc); no copy, no LRU bump. */
  has(key: Uint8Array): number;
  /** Live keys of whole buckets from `cursor` on, as [u8 len][key]...: [keys, next cursor, done], or a Ret when closed/busy. */
  crawl(cursor: number): [Buffer, number, boolean] | number;
  setMany(n: number, flags: number, ttl: number): number;
  setBuffers(scratch: Buffer, meta: Buffer): void;
  setArena(arena: Buffer): void;
  flushAll(delay: number): void;
  /** Record one eviction/expiration in `sample` caused by this handle's calls (0: none). */
  setEvents(sample: number): void;
  /** Moves recorded events into scratch (contract EventRec records); records at MetaOff.Vlen, dropped at MetaOff.Flags. */
  drainEvents(): number;
  advanceClock(seconds: number): void;
  stats(group: number, protection: string): string[] | undefined;
  close(): void;
  /**
   * A wire-protocol connection (native/binding/proto.cc) on this handle's store. After each
   * feed, state[0] holds ProtoState bits: Close = close once the reply is written, More = more
   * buffered input waits for the reply to drain (call feed() with no chunk).
   * settings: the server's ProtoSetting array (contract), shared by its connections.
   */
  protoConn(state: Int32Array, server?: ProtoServer, addr?: string, listenAddr?: string, auth?: unknown, settings?: Int32Array): ProtoConn;
  /** A server's shared engine state: its stats keys and listeners, the registry `stats conns` lists. */
  protoServer(): ProtoServer;
  /** A server's credential store from auth file bytes (native/proto/auth.h); null when a line is not user:password. */
  authStore(content: Uint8Array, sasl: boolean, label: string): unknown;
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
   * (nothing copied; call again with room). See ReplyPool in src/server.ts. unsent: bytes of
   * earlier replies the socket has not written yet (its writableLength, default 0): they count
   * toward the engine's 4 MiB output mark, so a run adds only up to the mark.
   */
  feed(chunk: Uint8Array | undefined, slab: Uint8Array, off: number, unsent?: number): number;
  /** Frees the engine; later feeds return undefined. */
  close(): void;
}

/** One server's engine state (native/binding/proto.cc protoServer), shared by its connections. */
export interface ProtoServer {
  /** The server's values of `stats` and `stats settings` keys: flat [key, value, ...] lists. */
  set(general: string[], settings: string[]): void;
  /** Where the server listens ("tcp:HOST:PORT"), for `stats conns`. */
  listeners(addrs: string[]): void;
  /** Counts a connection refused over the limit (rejected_connections). */
  rejected(): void;
}

/** The fail-points compiled into the core (native/core/failpoint.cc kFailPointNames). */
export type FailPointName =
  | 'link.afterTable'
  | 'lru.linkBeforeCommit'
  | 'unlink.afterTable'
  | 'delete.stripeHeld'
  | 'grow.pagesLock'
  | 'migrate.midItem'
  | 'carve.halfway'
  | 'emptyPage.afterEvict'
  | 'set.afterAlloc';

/** The addon's exports. */
export interface NativeModule {
  /** flags: 1 reset if bad, 2 recover, 4 `mode` given explicitly. allowOwner: a uid whose file may be opened (-1 none). */
  open(
    path: string,
    memLimit: number,
    itemSizeMax: number,
    evict: number,
    reset: boolean,
    mode: number,
    protection?: number,
    flags?: number,
    allowOwner?: number,
  ): NativeHandle;
  /**
   * Maps the file read-only and verifies every structure; throws (code ERR_BAD_REGION) for a file
   * that is not a region, or an ERR_REGION_* code for a file the rules refuse (docs/security.md).
   */
  check(path: string, allowOwner?: number, mode?: number): CheckResult;
  /**
   * Test-only: arms a named fail-point (native/core/failpoint.h) for this whole process: the next
   * thread of it that reaches that point in the real code dies by SIGKILL. null disarms; an
   * unknown name throws a RangeError.
   */
  armFailpoint(name: FailPointName | null): void;
  /** Whether this process can use PKU, and its key (-1 if not). */
  pkuInfo(): { available: boolean; key: number };
  /** The buffer layout the addon was built with (src/contract.ts Layout; the drift test compares them). */
  layout: { valueOffset: number; metaLens: number; keyMax: number; manyMax: number; itemHeader: number };
  /** Every constant of native/contract.h by `Group.Name` (the drift test compares it with contractValues). */
  contract: Record<string, number>;
}

// The numbers shared with the addon are generated from contract/contract.json (src/contract.ts);
// Ret, Cmd and St are re-exported here under their old home.
export { Cmd, Ret, St } from './contract.js';

function load(): NativeModule {
  // dist/src/native.js -> the package root two levels up; see src/addon-loader.ts for the order
  // (SHMCACHED_ADDON, build/Release, prebuilds/<platform>-<arch>).
  return loadAddon<NativeModule>(join(dirname(fileURLToPath(import.meta.url)), '..', '..')).module;
}

/** The loaded addon (loaded once per thread on first import). */
export const native: NativeModule = load();
