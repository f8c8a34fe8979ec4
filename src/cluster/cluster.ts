/**
 * The hybrid client (the paper's conclusion): one node of a memcached-protocol cluster, for keys
 * this node owns a direct call into the local shared store, for the rest the memcached text
 * protocol to the node that owns them.
 *
 * ```ts
 * const cache = Cache.open({ path: '/dev/shm/node-a' });   // the store `shmcached serve` serves
 * const cluster = new Cluster({
 *   self: '10.0.0.1:11211',
 *   nodes: ['10.0.0.1:11211', '10.0.0.2:11211', '10.0.0.3:11211'],
 *   cache,
 * });
 * await cluster.set('user:42', 'Ada');          // local call or one request, by the key's owner
 * const v = await cluster.get('user:42');       // Buffer | undefined
 * await cluster.close();                        // the cache stays open: it is the caller's
 * ```
 *
 * Keys are routed by ketama exactly as twemproxy routes them with `distribution: ketama` and
 * `hash: md5` (see ring.ts), so the client and a nutcracker in front of the same nodes
 * agree on every key's node. The async API is {@link CachePool}'s.
 */
import { Cache, fetchWith } from '../cache.js';
import {
  decodeValue,
  encodeValue,
  resolveCodec,
  tagFlags,
  USER_FLAGS_MAX,
  type Codec,
  type CodecImpl,
  type CodecOption,
} from '../codec.js';
import { bytesLength, copyInto, detachedError, isBytes, isDetached } from '../bytes.js';
import { CacheError, rangeError, typeError } from '../errors.js';
import { ttlArg } from '../ttl.js';
import { checkKeyType, deltaText, KEY_MAX, describe, type NodeSecurity, securityOptions, setOptions, valueBytes, wireKey } from './args.js';
import { ClusterError, errorFromReply } from './error.js';
import { KetamaRing, md5Hash, type RingMember } from './ring.js';
import { Expect, RemoteNode, type NodeStats, type RemoteItem } from './node.js';
import { isU64, MAX_BLOCK, NodeConnection, type ConnOwner, type ReplyCallback } from './conn.js';
import { fetchThrough, type FetchOptions, type FetchStore, type Loader, type MetaItem } from '../fetch.js';
import type { PoolErrorInfo } from '../pool/pool.js';
import type { CacheSetOptions, CasResult, In, ItemInfo, Key, TtlOptions, Value } from '../types.js';

export { ClusterError, type ClusterErrorCode } from './error.js';
export type { NodeStats } from './node.js';

/** Options of {@link Cluster}. */
export interface ClusterOptions {
  /**
   * Every node of the cluster, as twemproxy lists its `servers`: `'host:port'` or
   * `'host:port:weight'`. Write the hosts exactly as the proxy's config does (`127.0.0.1` and
   * `localhost` hash differently).
   */
  nodes: readonly string[];
  /** This node (`'host:port'`, one of `nodes`): its keys go to `cache`. Omit for a purely remote client. */
  self?: string;
  /**
   * The local store that `self` serves (the same file as its `shmcached serve --file`). Required
   * with `self`. The cluster reads and writes it raw, through its own `codec`: a codec the Cache
   * was opened with is not used for the cluster's calls.
   */
  cache?: Cache<unknown>;
  /**
   * How values are stored on every node, as {@link OpenOptions.codec}: `'bytes'` (default),
   * `'string'`, `'json'`, `'v8'` or `{ encode, decode }`. Remote nodes store the encoded bytes
   * with the codec's tag in the flags' top 4 bits, exactly as a local {@link Cache} with that
   * codec does, so either side (or any memcached client, for the bytes and flags) reads what the
   * other wrote, and a reader with another codec gets CacheError ERR_CODEC_MISMATCH.
   */
  codec?: CodecOption;
  /** Connections per remote node (default 2); requests are pipelined on each. */
  connections?: number;
  /** Per-request timeout in ms (default 1000): no reply by then fails the connection and counts a node failure. */
  timeout?: number;
  /** Take a failing node off the ring, as twemproxy's `auto_eject_hosts` (default true). */
  autoEject?: boolean;
  /** Consecutive failures that eject a node, twemproxy's `server_failure_limit` (default 2). */
  failureLimit?: number;
  /** Milliseconds before an ejected node is tried again, twemproxy's `server_retry_timeout` (default 30000). */
  retryTimeout?: number;
  /** Credentials for nodes started with memcached's `-Y` auth file (text-protocol auth on every connection). */
  auth?: { username: string; password: string };
  /** Connect to the nodes over TLS with these node:tls connect options (`ca`, `cert`, `key`, `servername`, ...). */
  tls?: import('node:tls').ConnectionOptions;
  /**
   * The largest value (bytes) this client takes from a remote node, 1 to 1 GiB (default 64 MiB,
   * shmcached's largest item). A node that announces a larger one has it dropped as it arrives,
   * never buffered, and the call rejects with RangeError ERR_VALUE_TOO_LARGE; raise it for
   * memcached nodes run with a larger `-I`.
   */
  maxValueSize?: number;
}

/** Counters of a {@link Cluster}, from {@link Cluster.stats}. */
export interface ClusterStats {
  /** This node (`host:port`), or undefined for a purely remote client. */
  readonly self: string | undefined;
  /** Key operations served by the local store, never touching a socket (each key of a getMany counts one). */
  readonly localOps: number;
  /** Key operations sent to remote nodes, all nodes together. */
  readonly remoteOps: number;
  /** Per remote node (`host:port`): traffic and health. */
  readonly nodes: Readonly<Record<string, NodeStats>>;
  /** Ejections so far, all nodes together. */
  readonly ejections: number;
  /** The nodes on the ring now (`host:port`), in configured order. */
  readonly ring: readonly string[];
}

/** Default options (twemproxy's own defaults where it has one: server_failure_limit 2, server_retry_timeout 30 s). */
const DEFAULTS = { connections: 2, timeout: 1000, autoEject: true, failureLimit: 2, retryTimeout: 30_000, maxValueSize: 64 * 1024 * 1024 };
/** Lines a `stats` reply may have (memcached's has about a hundred). */
const STATS_LINES_MAX = 4096;
/** Route cache entries kept before the cache is cleared (routing a cached string key is one Map lookup). */
const ROUTE_CACHE_MAX = 1 << 17;
/** A multi-get line is kept under this many bytes (memcached reads longer `get` lines, other servers may not). */
const GET_LINE_MAX = 2000;

/** Least time a node's key dump (keys()) may take, whatever the per-request timeout. */
const DUMP_TIMEOUT_MIN = 30_000;
/** Keys per getMany of {@link Cluster.entries}. */
const ENTRIES_BATCH = 128;
const TTL_MAX = 2 ** 32 - 1;
const U64_MAX = (1n << 64n) - 1n;
/** memcached's answers to `cas`, and what {@link Cluster.cas} resolves with for each. */
const CAS_REPLIES = ['STORED', 'EXISTS', 'NOT_FOUND'];
/** One key of a getMany: its position in the call, the key, its wire form. */
interface Wanted {
  k: number;
  key: Key;
  wire: string;
}
const CAS_RESULTS = ['stored', 'exists', 'not_found'] as const satisfies readonly CasResult[];
/** An index into CAS_REPLIES / CAS_RESULTS (indexOf's answer once it is not -1). */
type CasIndex = 0 | 1 | 2;
/** A node's `lru_crawler metadump` answered BUSY (another crawl runs). */
const BUSY = Symbol('busy');
/** Cache's own methods: the cluster calls them on its local store raw (bytes, all 32 flag bits), whatever codec the store's handle has. */
const RAW = Cache.prototype as Cache<Buffer>;

/** What {@link Cluster.batch} runs: {@link CachePool.batch}'s operations (values of the codec's type), plus `has`, `gets` and `cas`. */
export type ClusterOp<T = Buffer> =
  | { op: 'get' | 'gets' | 'has'; key: Key }
  | { op: 'gat'; key: Key; ttl: number | TtlOptions }
  | ({ op: 'set' | 'add' | 'replace'; key: Key; value: In<T> } & CacheSetOptions)
  | ({ op: 'cas'; key: Key; value: In<T>; cas: bigint | number } & CacheSetOptions)
  | { op: 'append' | 'prepend'; key: Key; value: Value }
  | { op: 'delete'; key: Key }
  | { op: 'incr' | 'decr'; key: Key; delta?: number | bigint }
  | { op: 'touch'; key: Key; ttl: number | TtlOptions };

/** What one {@link ClusterOp} resolves with: the value the Cluster method resolves with. */
export type ClusterValue<T = Buffer> = T | ItemInfo<T> | CasResult | bigint | boolean | undefined;

/** The outcome of one {@link ClusterOp}, as {@link CachePool.batch} reports it. */
export type ClusterResult<T = Buffer> = { ok: true; value: ClusterValue<T> } | { ok: false; error: PoolErrorInfo };

/** The storage options of a batch operation. */
function storeOptions(o: CacheSetOptions): CacheSetOptions {
  return { ttl: o.ttl, ttlMs: o.ttlMs, expiresAt: o.expiresAt, flags: o.flags };
}

/** A key of `lru_crawler metadump` (URI-encoded bytes) as a UTF-8 string. */
function unescapeKey(s: string): string {
  if (!s.includes('%')) return s;
  const out: number[] = [];
  for (let j = 0; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 0x25 && j + 2 < s.length && /^[0-9a-fA-F]{2}$/.test(s.slice(j + 1, j + 3))) {
      out.push(Number.parseInt(s.slice(j + 1, j + 3), 16));
      j += 2;
    } else {
      out.push(c & 0xff);
    }
  }
  return Buffer.from(out).toString('utf8');
}

interface Member extends RingMember {
  id: string;
  /** undefined for self. */
  remote: RemoteNode | undefined;
}

function parseNode(spec: unknown, name: string): { host: string; port: number; weight: number } {
  if (typeof spec !== 'string') throw typeError('ERR_INVALID_ARG_TYPE', `${name} must be a 'host:port' string, got ${describe(spec)}`);
  const m = /^([^\s:]+):(\d{1,5})(?::(\d+))?$/.exec(spec);
  if (!m) throw typeError('ERR_INVALID_ARG_VALUE', `${name} must be 'host:port' or 'host:port:weight', got ${JSON.stringify(spec)}`);
  const port = Number(m[2]);
  const weight = m[3] === undefined ? 1 : Number(m[3]);
  if (port < 1 || port > 65535) throw rangeError('ERR_OUT_OF_RANGE', `${name}: port must be 1 to 65535, got ${port}`);
  if (weight < 1 || !Number.isSafeInteger(weight))
    throw rangeError('ERR_OUT_OF_RANGE', `${name}: weight must be a positive integer, got ${m[3]}`);
  const host = m[1];
  if (host === undefined) throw typeError('ERR_INVALID_ARG_VALUE', `${name} has no host: ${JSON.stringify(spec)}`);
  return { host, port, weight };
}

function intOption(v: unknown, name: string, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  if (typeof v !== 'number') throw typeError('ERR_INVALID_ARG_TYPE', `options.${name} must be a number, got ${describe(v)}`);
  if (!Number.isInteger(v) || v < min || v > max)
    throw rangeError('ERR_OUT_OF_RANGE', `options.${name} must be an integer from ${min} to ${max}, got ${v}`);
  return v;
}

function closedError(what: string): CacheError {
  return new CacheError('ERR_CACHE_CLOSED', `${what}: the cluster is closed`);
}

function unexpected(command: string, node: string, line: string): ClusterError {
  return new ClusterError('ERR_NODE_ERROR', `${command}: unexpected reply ${JSON.stringify(line)} from ${node}`, node, line);
}

/** The tokens of a meta `VA` header that the client reads. */
interface MetaTokens {
  flags: number;
  cas: bigint;
  won: boolean;
  stale: boolean;
  tokenSent: boolean;
}

/**
 * The flags of a `VA <bytes> <flags>*` header to `mg ... f c`: `f` must be a 32-bit and `c` a
 * 64-bit decimal, and both must be there (they were asked); undefined when the header is not
 * that (the caller answers with the line: ERR_NODE_ERROR).
 */
function metaTokens(line: string): MetaTokens | undefined {
  const t: MetaTokens = { flags: -1, cas: -1n, won: false, stale: false, tokenSent: false };
  for (const tok of line.split(' ').slice(2)) {
    const v = tok.slice(1);
    if (tok[0] === 'f') {
      if (!/^\d{1,10}$/.test(v) || Number(v) > 0xffffffff) return undefined;
      t.flags = Number(v);
    } else if (tok[0] === 'c') {
      if (!isU64(v)) return undefined;
      t.cas = BigInt(v);
    } else if (tok === 'W') t.won = true;
    else if (tok === 'X') t.stale = true;
    else if (tok === 'Z') t.tokenSent = true;
  }
  return t.flags < 0 || t.cas < 0n ? undefined : t;
}

const isErrorLine = (line: string): boolean => line === 'ERROR' || line.startsWith('CLIENT_ERROR') || line.startsWith('SERVER_ERROR');

function errorInfo(e: unknown): PoolErrorInfo {
  if (e instanceof Error) return { name: e.name, code: (e as { code?: string }).code, message: e.message };
  return { name: 'Error', code: undefined, message: String(e) };
}

/** Hybrid memcached-cluster client: see the module comment (exported as {@link Cluster}). */
class ClusterClient<T = Buffer> {
  readonly #members: Member[];
  readonly #self: number;
  readonly #cache: Cache<unknown> | undefined;
  readonly #codec: CodecImpl | undefined;
  readonly #timeoutMs: number;
  /** auth/tls for connections the cluster opens itself (the key dump), as its nodes' own. */
  readonly #security: NodeSecurity;
  #ring: KetamaRing;
  #routes = new Map<string, number>();
  #closed = false;
  #closing: Promise<void> | undefined;
  #localOps = 0;
  #inFlight = 0;
  #drained: (() => void) | undefined;

  /** Checks the options (TypeError/RangeError on bad ones) and builds the ring; connects lazily. */
  constructor(options: ClusterOptions) {
    if (typeof options !== 'object' || options === null)
      throw typeError('ERR_INVALID_ARG_TYPE', `options must be an object, got ${describe(options)}`);
    const { nodes, self, cache } = options;
    if (!Array.isArray(nodes))
      throw typeError('ERR_INVALID_ARG_TYPE', `options.nodes must be an array of 'host:port' strings, got ${describe(nodes)}`);
    if (nodes.length === 0) throw rangeError('ERR_OUT_OF_RANGE', 'options.nodes must list at least one node');
    const settings = {
      connections: intOption(options.connections, 'connections', DEFAULTS.connections, 1, 64),
      timeoutMs: intOption(options.timeout, 'timeout', DEFAULTS.timeout, 1, 3_600_000),
      autoEject: options.autoEject ?? DEFAULTS.autoEject,
      failureLimit: intOption(options.failureLimit, 'failureLimit', DEFAULTS.failureLimit, 1, 1_000_000),
      retryTimeoutMs: intOption(options.retryTimeout, 'retryTimeout', DEFAULTS.retryTimeout, 1, 86_400_000),
      maxValueSize: intOption(options.maxValueSize, 'maxValueSize', DEFAULTS.maxValueSize, 1, MAX_BLOCK),
      security: securityOptions(options.auth, options.tls),
    };
    if (typeof settings.autoEject !== 'boolean')
      throw typeError('ERR_INVALID_ARG_TYPE', `options.autoEject must be a boolean, got ${describe(settings.autoEject)}`);
    let selfId: string | undefined;
    if (self !== undefined) {
      const s = parseNode(self, 'options.self');
      selfId = `${s.host}:${s.port}`;
      if (!(cache instanceof Cache))
        throw typeError('ERR_INVALID_ARG_TYPE', `options.cache must be an open Cache (the store of options.self), got ${describe(cache)}`);
      if (cache.closed) throw new CacheError('ERR_CACHE_CLOSED', 'options.cache is closed');
    } else if (cache !== undefined) {
      throw typeError('ERR_INVALID_ARG_VALUE', 'options.cache needs options.self (the node whose store it is)');
    }
    this.#cache = cache;
    this.#timeoutMs = settings.timeoutMs;
    this.#security = settings.security;
    this.#codec = resolveCodec(options.codec);
    const seen = new Set<string>();
    this.#members = nodes.map((spec, i) => {
      const n = parseNode(spec, `options.nodes[${i}]`);
      const id = `${n.host}:${n.port}`;
      if (seen.has(id)) throw typeError('ERR_INVALID_ARG_VALUE', `options.nodes lists ${id} twice`);
      seen.add(id);
      const remote = id === selfId ? undefined : new RemoteNode(n.host, n.port, settings, () => this.#rebuild());
      return { ...n, id, remote };
    });
    this.#self = selfId === undefined ? -1 : this.#members.findIndex((m) => m.id === selfId);
    if (selfId !== undefined && this.#self < 0)
      throw typeError('ERR_INVALID_ARG_VALUE', `options.self (${selfId}) must be one of options.nodes`);
    this.#ring = this.#buildRing();
  }

  #buildRing(): KetamaRing {
    return new KetamaRing(
      this.#members,
      this.#members.map((m) => m.remote === undefined || !m.remote.ejected),
    );
  }

  /** A node was ejected or put back: a new continuum over the live nodes, and a fresh route cache. */
  #rebuild(): void {
    this.#ring = this.#buildRing();
    this.#routes = new Map();
  }

  /** The member index that owns `key` now (-1: no live node). Throws a TypeError for a key of the wrong type. */
  #route(key: Key): number {
    if (typeof key === 'string') {
      const hit = this.#routes.get(key);
      if (hit !== undefined) return hit;
      const i = this.#ring.lookup(md5Hash(key));
      if (this.#routes.size >= ROUTE_CACHE_MAX) this.#routes = new Map();
      this.#routes.set(key, i);
      return i;
    }
    checkKeyType(key);
    return this.#ring.lookup(md5Hash(key));
  }

  /** The node (`host:port`) that owns `key` now, as twemproxy would route it. */
  nodeFor(key: Key): string | undefined {
    checkKeyType(key);
    const i = this.#route(key);
    return this.#members[i]?.id;
  }

  /** True when `key` is served by the local store (no socket). */
  isLocal(key: Key): boolean {
    checkKeyType(key);
    return this.#self >= 0 && this.#route(key) === this.#self;
  }

  /** False once {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** A snapshot of the counters: local and remote operations, per-node traffic and health, ejections. */
  stats(): ClusterStats {
    const nodes: Record<string, NodeStats> = {};
    let remoteOps = 0;
    let ejections = 0;
    const ring: string[] = [];
    for (const m of this.#members) {
      if (m.remote === undefined) {
        ring.push(m.id);
        continue;
      }
      const s = m.remote.stats();
      nodes[m.id] = s;
      remoteOps += s.ops;
      ejections += s.ejections;
      if (!s.ejected) ring.push(m.id);
    }
    return {
      self: this.#members[this.#self]?.id,
      localOps: this.#localOps,
      remoteOps,
      nodes,
      ejections,
      ring,
    };
  }

  // ----- the operations -----

  /** The value stored under `key`, decoded by the cluster's codec (a Buffer by default), or `undefined` (see {@link Cache.get}). */
  get(key: Key): Promise<T | undefined> {
    return this.#keyed(
      key,
      'get',
      (c) => (this.#codec === undefined ? (RAW.get.call(c, key) as T | undefined) : this.#info(key, RAW.gets.call(c, key))?.value),
      (i) => {
        const wk = wireKey(key);
        return this.#retrieve(i, 'get', `get ${wk}\r\n`, key, wk);
      },
    );
  }

  /**
   * The value with its flags and CAS unique (memcached's `gets`; `mg <key> v f c` to a remote
   * node), or `undefined`. The CAS unique is the owning node's: pass it to {@link cas} with the
   * same key, which goes to the same node (a node ejected or put back meanwhile moves the key, and
   * the cas then answers 'not_found' or 'exists', never a wrong store). Under a codec `flags` are
   * the caller's 28 bits.
   */
  gets(key: Key): Promise<ItemInfo<T> | undefined> {
    return this.#getsOrGats(key, undefined, 'gets');
  }

  /** {@link gat} with flags and CAS (memcached's `gats`; `mg <key> v f c T<ttl>` to a remote node). */
  gats(key: Key, ttl: number | TtlOptions): Promise<ItemInfo<T> | undefined> {
    return this.#getsOrGats(key, ttl, 'gats');
  }

  #getsOrGats(key: Key, ttl: number | TtlOptions | undefined, what: 'gets' | 'gats'): Promise<ItemInfo<T> | undefined> {
    const local = (c: Cache<unknown>) => this.#info(key, ttl === undefined ? RAW.gets.call(c, key) : RAW.gats.call(c, key, ttl));
    return this.#keyed(key, what, local, (i) => {
      const wk = wireKey(key);
      const t = ttl === undefined ? '' : ` T${ttlArg(ttl, 'ttl')}`;
      return this.#remote(i, what, `mg ${wk} v f c${t}\r\n`, undefined, Expect.Meta, (line, items) => {
        if (line === 'EN') return undefined;
        const value = items?.[0]?.value;
        const t = metaTokens(line);
        if (!line.startsWith('VA ') || value === undefined || t === undefined) return line;
        return { value, flags: t.flags, cas: t.cas } satisfies ItemInfo<Buffer>;
      }).then((raw) => this.#info(key, raw));
    });
  }

  /**
   * Copies the raw bytes of the value into `target` at `offset` and resolves with their length,
   * or `undefined` if absent; when the value does not fit nothing is copied and the length is
   * returned all the same (see {@link Cache.getInto}). A local key is copied straight from the
   * shared store (no allocation); a remote one arrives in a socket buffer and is copied from
   * there, so for remote keys this only saves the caller its own buffer. Bytes whatever the
   * codec, as on {@link Cache}.
   */
  getInto(key: Key, target: Uint8Array, offset = 0): Promise<number | undefined> {
    const check = () => {
      if (!isBytes(target)) throw typeError('ERR_INVALID_ARG_TYPE', `target must be a Uint8Array, got ${describe(target)}`);
      if (isDetached(target)) throw detachedError('target');
      if (!Number.isInteger(offset) || offset < 0 || offset > bytesLength(target))
        throw rangeError('ERR_OUT_OF_RANGE', `offset must be an integer from 0 to target.length, got ${offset}`);
    };
    const remote = (i: number) => {
      const wk = wireKey(key);
      return this.#remote(i, 'getInto', `get ${wk}\r\n`, undefined, Expect.Values, (line, items) => {
        const it = this.#single(items, line, wk);
        if (typeof it !== 'object') return it;
        // The reply comes later: by then the target may be detached or shrunk (copyInto checks again).
        return copyInto(target, offset, it.value);
      });
    };
    return this.#keyed(key, 'getInto', (c) => RAW.getInto.call(c, key, target, offset), remote, check);
  }

  /**
   * Whether `key` holds a live item, without its value crossing the wire (`mg <key>` with no
   * flags: HD or EN) or being copied locally (see {@link Cache.has}). A remote memcached counts
   * the `mg` as a fetch of the item (its LRU bump); the local store and shmcached nodes do not.
   */
  has(key: Key): Promise<boolean> {
    const remote = (i: number) => this.#yesNo(i, 'has', `mg ${wireKey(key)}\r\n`, Expect.Meta, 'HD', 'EN');
    return this.#keyed(key, 'has', (c) => RAW.has.call(c, key), remote);
  }

  /**
   * {@link Cache.fetch} across the cluster: a local key's flight runs in the shared store; a remote
   * key's runs on its node through the meta protocol (`mg key v c f N<lockTtl> [R<staleTtl>]`,
   * `ms`, `md`), so it is the same flight as that node's own in-process `fetch` callers and any
   * other client using mg N. The loader runs here. Under a codec the loader returns a `T`, stored
   * encoded with the codec's tag, and every result is decoded, as on {@link Cache}.
   */
  fetch(key: Key, loader: Loader<In<T>>, options?: FetchOptions): Promise<T> {
    return this.#keyed(
      key,
      'fetch',
      // The local store raw, through this cluster's codec (as every other local call).
      (c) => fetchWith(c, key, loader as Loader<unknown>, options, this.#codec) as Promise<T>,
      (i) => fetchThrough(this.#remoteStore(i), key, loader as Loader<unknown>, options, this.#codec) as Promise<T>,
    );
  }

  /** {@link Cache.invalidate} on the key's node (`md key I` for a remote one). */
  invalidate(key: Key): Promise<boolean> {
    return this.#keyed(
      key,
      'invalidate',
      (c) => RAW.invalidate.call(c, key),
      (i) => Promise.resolve(this.#remoteStore(i).metaDelete(key, true, 0n)),
    );
  }

  /** Node i as a {@link FetchStore}: the meta commands fetch needs, over its connections. */
  #remoteStore(i: number): FetchStore {
    const remote = (key: Key) => wireKey(key);
    return {
      metaGet: (key, n, r) => {
        const wk = remote(key);
        return this.#remote(i, 'fetch', `mg ${wk} v c f N${n}${r >= 0 ? ` R${r}` : ''}\r\n`, undefined, Expect.Meta, (line, items) => {
          if (line === 'EN') return undefined;
          if (!line.startsWith('VA ') || items === undefined) return line;
          const t = metaTokens(line);
          const first = items[0];
          if (first === undefined || t === undefined) return line;
          const { cas, flags, won, stale, tokenSent } = t;
          const value = first.value;
          // The wire does not say "created": a win on an empty, fresh item is a placeholder (N).
          return { value, flags, cas, won, stale, tokenSent, created: won && !stale && value.length === 0 } satisfies MetaItem;
        });
      },
      set: (key, value, options) => {
        const wk = remote(key);
        const data = valueBytes(value);
        return this.#remote(
          i,
          'fetch',
          `ms ${wk} ${data.length} T${options.ttl ?? 0} F${options.flags ?? 0}\r\n`,
          data,
          Expect.Meta,
          (line) => (line === 'HD' ? undefined : line),
        );
      },
      metaDelete: (key, invalidate, cas) => {
        const wk = remote(key);
        return this.#remote(
          i,
          invalidate ? 'invalidate' : 'fetch',
          `md ${wk}${invalidate ? ' I' : ''}${cas !== 0n ? ` C${cas}` : ''}\r\n`,
          undefined,
          Expect.Meta,
          (line) => {
            if (line === 'HD') return true;
            if (line === 'NF' || line === 'EX') return false;
            return line;
          },
        );
      },
      get usable() {
        return true; // a closed cluster rejects the request itself (#remote)
      },
    };
  }

  /** Get and touch: the value, after setting a new ttl (seconds, or `{ ttl | ttlMs | expiresAt }`; see {@link Cache.gat}). */
  gat(key: Key, ttl: number | TtlOptions): Promise<T | undefined> {
    const local = (c: Cache<unknown>) =>
      this.#codec === undefined ? (RAW.gat.call(c, key, ttl) as T | undefined) : this.#info(key, RAW.gats.call(c, key, ttl))?.value;
    return this.#keyed(key, 'gat', local, (i) => {
      const wk = wireKey(key);
      const t = ttlArg(ttl, 'ttl');
      return this.#retrieve(i, 'gat', `gat ${t} ${wk}\r\n`, key, wk);
    });
  }

  /**
   * Stores `value` under `key` (see {@link Cache.set}): encoded by the cluster's codec, whose tag
   * goes into the flags' top 4 bits on every node alike. Expiry as {@link Cache.set}: `ttl`
   * seconds (an absolute time already past is RangeError ERR_TTL_IN_PAST), `ttlMs` or `expiresAt`.
   */
  set(key: Key, value: In<T>, options?: CacheSetOptions): Promise<void> {
    return this.#store('set', key, value, options) as Promise<void>;
  }

  /** Stores only if `key` is absent; resolves `false` otherwise (see {@link Cache.add}). */
  add(key: Key, value: In<T>, options?: CacheSetOptions): Promise<boolean> {
    return this.#store('add', key, value, options) as Promise<boolean>;
  }

  /** Stores only if `key` is present; resolves `false` otherwise (see {@link Cache.replace}). */
  replace(key: Key, value: In<T>, options?: CacheSetOptions): Promise<boolean> {
    return this.#store('replace', key, value, options) as Promise<boolean>;
  }

  /** Appends bytes to an existing value; `false` if absent (see {@link Cache.append}). */
  append(key: Key, value: Value): Promise<boolean> {
    return this.#store('append', key, value, undefined) as Promise<boolean>;
  }

  /** Prepends bytes to an existing value; `false` if absent (see {@link Cache.prepend}). */
  prepend(key: Key, value: Value): Promise<boolean> {
    return this.#store('prepend', key, value, undefined) as Promise<boolean>;
  }

  #store(
    cmd: 'set' | 'add' | 'replace' | 'append' | 'prepend',
    key: Key,
    value: unknown,
    options: CacheSetOptions | undefined,
  ): Promise<void | boolean> {
    try {
      const i = this.#start(key, cmd);
      const raw = cmd === 'append' || cmd === 'prepend';
      const [flags, ttl] = raw ? [0, 0] : this.#writeOptions(options);
      const data = raw || this.#codec === undefined ? value : encodeValue(this.#codec, value);
      if (i === this.#self) {
        this.#localOps++;
        const c = this.#cache!;
        // The options as read once above (a getter of the caller's is not run a second time).
        const o = { ttl, flags };
        switch (cmd) {
          case 'set':
            return Promise.resolve(RAW.set.call(c, key, data as Value, o));
          case 'add':
            return Promise.resolve(RAW.add.call(c, key, data as Value, o));
          case 'replace':
            return Promise.resolve(RAW.replace.call(c, key, data as Value, o));
          case 'append':
            return Promise.resolve(RAW.append.call(c, key, data as Value));
          default:
            return Promise.resolve(RAW.prepend.call(c, key, data as Value));
        }
      }
      const wk = wireKey(key);
      const bytes = valueBytes(data);
      const line = `${cmd} ${wk} ${flags} ${ttl} ${bytes.length}\r\n`;
      return this.#remote(i, cmd, line, bytes, Expect.Line, (reply) => {
        if (reply === 'STORED') return cmd === 'set' ? undefined : true;
        if (reply === 'NOT_STORED' && cmd !== 'set') return false;
        return reply;
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Stores only if the item's CAS unique is still `cas` (from {@link gets} on this cluster, which
   * asked the key's node): memcached's `cas` to a remote node, {@link Cache.cas} on the local one.
   */
  cas(key: Key, value: In<T>, cas: bigint | number, options?: CacheSetOptions): Promise<CasResult> {
    const prepare = () => {
      let token: bigint;
      if (typeof cas === 'bigint') token = cas;
      else if (typeof cas === 'number' && Number.isSafeInteger(cas)) token = BigInt(cas);
      else throw typeError('ERR_INVALID_ARG_TYPE', `cas must be a bigint (from gets), got ${describe(cas)}`);
      if (token < 0n || token > U64_MAX) throw rangeError('ERR_OUT_OF_RANGE', 'cas must be an unsigned 64-bit integer');
      const [flags, ttl] = this.#writeOptions(options);
      return { token, flags, ttl, data: this.#codec === undefined ? value : encodeValue(this.#codec, value) };
    };
    type Cas = ReturnType<typeof prepare>;
    const local = (c: Cache<unknown>, { token, flags, ttl, data }: Cas) => RAW.cas.call(c, key, data as Value, token, { ttl, flags });
    const remote = (i: number, { token, flags, ttl, data }: Cas) => {
      const wk = wireKey(key);
      const bytes = valueBytes(data);
      // map's string result means "not an answer": the answer travels as an index into CAS_RESULTS.
      return this.#remote(i, 'cas', `cas ${wk} ${flags} ${ttl} ${bytes.length} ${token}\r\n`, bytes, Expect.Line, (reply) => {
        const r = CAS_REPLIES.indexOf(reply);
        return r < 0 ? reply : (r as CasIndex);
      }).then((r) => CAS_RESULTS[r]);
    };
    return this.#keyed(key, 'cas', local, remote, prepare);
  }

  /** Removes `key`; resolves `true` if it was there (see {@link Cache.delete}). */
  delete(key: Key): Promise<boolean> {
    const remote = (i: number) => this.#yesNo(i, 'delete', `delete ${wireKey(key)}\r\n`, Expect.Line, 'DELETED', 'NOT_FOUND');
    return this.#keyed(key, 'delete', (c) => RAW.delete.call(c, key), remote);
  }

  /** Adds `delta` (default 1) to a decimal value; the new value, or `undefined` if absent (see {@link Cache.incr}). */
  incr(key: Key, delta: number | bigint = 1): Promise<bigint | undefined> {
    return this.#delta('incr', key, delta);
  }

  /** Subtracts `delta` (default 1), stopping at 0 (see {@link Cache.decr}). */
  decr(key: Key, delta: number | bigint = 1): Promise<bigint | undefined> {
    return this.#delta('decr', key, delta);
  }

  #delta(cmd: 'incr' | 'decr', key: Key, delta: number | bigint): Promise<bigint | undefined> {
    const local = (c: Cache<unknown>) => (cmd === 'incr' ? RAW.incr.call(c, key, delta) : RAW.decr.call(c, key, delta));
    return this.#keyed(key, cmd, local, (i) => {
      const wk = wireKey(key);
      const d = deltaText(delta);
      return this.#remote(i, cmd, `${cmd} ${wk} ${d}\r\n`, undefined, Expect.Line, (reply) =>
        reply === 'NOT_FOUND' ? undefined : isU64(reply) ? BigInt(reply) : reply,
      );
    });
  }

  /** Sets a new ttl (seconds, or `{ ttl | ttlMs | expiresAt }`); resolves `true` if the key was there (see {@link Cache.touch}). */
  touch(key: Key, ttl: number | TtlOptions): Promise<boolean> {
    return this.#keyed(
      key,
      'touch',
      (c) => RAW.touch.call(c, key, ttl),
      (i) => {
        const wk = wireKey(key);
        const t = ttlArg(ttl, 'ttl');
        return this.#yesNo(i, 'touch', `touch ${wk} ${t}\r\n`, Expect.Line, 'TOUCHED', 'NOT_FOUND');
      },
    );
  }

  /**
   * Values of many keys, aligned with `keys` (see {@link Cache.getMany}). The keys are split by
   * owner: the local ones in one call into the store, each remote node's in one pipelined burst
   * of multi-key `get`s, all nodes at once; rejects with the first bad key's error before sending
   * anything, or with the first node's failure (or a value another codec wrote: ERR_CODEC_MISMATCH).
   */
  getMany(keys: readonly Key[]): Promise<(T | undefined)[]> {
    try {
      if (!Array.isArray(keys)) throw typeError('ERR_INVALID_ARG_TYPE', `keys must be an array, got ${describe(keys)}`);
      if (this.#closed) throw closedError('getMany');
      const n = keys.length;
      const out = new Array<T | undefined>(n);
      if (n === 0) return Promise.resolve(out);
      const parts: Promise<void>[] = [];
      const byNode = new Map<number, Wanted[]>();
      const local: Wanted[] = [];
      // Every key checked and routed before anything is asked.
      for (const [k, key] of keys.entries()) {
        const w: Wanted = { k, key, wire: wireKey(key, `keys[${k}]`) };
        const i = this.#route(key);
        if (i < 0) throw new ClusterError('ERR_NO_NODES', 'getMany: every node is ejected');
        if (i === this.#self) local.push(w);
        else {
          let list = byNode.get(i);
          if (list === undefined) byNode.set(i, (list = []));
          list.push(w);
        }
      }
      if (local.length > 0) {
        // Before anything is sent: a wrong-codec local value rejects with no request made.
        this.#localOps += local.length;
        const c = this.#cache!;
        if (this.#codec === undefined) {
          const vals = RAW.getMany.call(
            c,
            local.map((w) => w.key),
          );
          local.forEach((w, j) => {
            out[w.k] = vals[j] as T | undefined;
          });
        } else {
          for (const w of local) out[w.k] = this.#info(w.key, RAW.gets.call(c, w.key))?.value;
        }
      }
      for (const [i, list] of byNode) {
        let start = 0;
        let bytes = 4;
        for (const [j, w] of list.entries()) {
          const len = w.wire.length + 1;
          if (j > start && bytes + len > GET_LINE_MAX) {
            parts.push(this.#getLine(i, list.slice(start, j), out));
            start = j;
            bytes = 4;
          }
          bytes += len;
        }
        parts.push(this.#getLine(i, list.slice(start), out));
      }
      return Promise.all(parts).then(() => out);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Stores many entries with the same options (see {@link Cache.setMany}). Every entry is checked
   * (and encoded) before anything is stored or sent; then the local entries go into the store in
   * one call and each remote entry is one pipelined `set` to its node, all nodes at once. Rejects
   * with the first failure (a node's entries sent before it failed may be stored, as a local
   * setMany that runs out of memory keeps what it stored).
   */
  setMany(entries: Iterable<readonly [Key, In<T>]>, options?: CacheSetOptions): Promise<void> {
    try {
      if (this.#closed) throw closedError('setMany');
      if (entries === null || typeof (entries as Iterable<unknown>)?.[Symbol.iterator] !== 'function')
        throw typeError('ERR_INVALID_ARG_TYPE', 'entries must be an iterable of [key, value] pairs');
      const [flags, ttl] = this.#writeOptions(options);
      const codec = this.#codec;
      const local: Array<[Key, Value]> = [];
      const remote: Array<{ i: number; wk: string; data: Buffer }> = [];
      let n = 0;
      for (const e of entries) {
        if (!Array.isArray(e) || e.length < 2) throw typeError('ERR_INVALID_ARG_TYPE', `entries[${n}] must be a [key, value] pair`);
        const [k, v] = e as [unknown, unknown];
        const wk = wireKey(k, `entries[${n}][0]`);
        let data: string | Uint8Array;
        if (codec !== undefined) data = encodeValue(codec, v);
        else if (typeof v === 'string' || isBytes(v)) data = v;
        else throw typeError('ERR_INVALID_ARG_TYPE', `entries[${n}][1] must be a string or a Uint8Array, got ${describe(v)}`);
        const i = this.#route(k as Key);
        if (i < 0) throw new ClusterError('ERR_NO_NODES', 'setMany: every node is ejected');
        if (i === this.#self) local.push([k as Key, data]);
        else remote.push({ i, wk, data: valueBytes(data) });
        n++;
      }
      if (local.length > 0) {
        this.#localOps += local.length;
        RAW.setMany.call(this.#cache!, local, { ttl, flags });
      }
      return Promise.all(
        remote.map(({ i, wk, data }) =>
          this.#remote(i, 'setMany', `set ${wk} ${flags} ${ttl} ${data.length}\r\n`, data, Expect.Line, (reply) =>
            reply === 'STORED' ? undefined : reply,
          ),
        ),
      ).then(() => undefined);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * memcached's `flush_all [delay]` on every node: the local store, and each remote node on the
   * ring (a failure rejects). Ejected nodes are tried too, so they hold nothing stale when they
   * come back; their failures are ignored.
   */
  flushAll(delay = 0): Promise<void> {
    try {
      if (this.#closed) throw closedError('flushAll');
      if (typeof delay !== 'number' || !Number.isInteger(delay) || delay < 0 || delay > TTL_MAX)
        throw rangeError('ERR_OUT_OF_RANGE', `delay must be a non-negative integer number of seconds, got ${String(delay)}`);
      if (this.#cache !== undefined) RAW.flushAll.call(this.#cache, delay);
      const parts: Promise<void>[] = [];
      for (const [i, m] of this.#members.entries()) {
        if (m.remote === undefined) continue;
        const p = this.#remote(i, 'flushAll', `flush_all ${delay}\r\n`, undefined, Expect.Line, (reply) =>
          reply === 'OK' ? undefined : reply,
        ) as Promise<void>;
        parts.push(m.remote.ejected ? p.catch(() => undefined) : p);
      }
      return Promise.all(parts).then(() => undefined);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Removes every item on every node (as {@link flushAll}, for Map-like code). */
  clear(): Promise<void> {
    return this.flushAll();
  }

  /**
   * Items on all nodes together: the local store's `curr_items` plus each remote node's (`stats`),
   * ejected nodes left out. Like {@link Cache.size}, expired items not yet reclaimed still count.
   * A promise (a property, as on {@link Cache}: `await cluster.size`).
   */
  get size(): Promise<number> {
    try {
      if (this.#closed) throw closedError('size');
      let total = this.#cache === undefined ? 0 : Number(RAW.stats.call(this.#cache).curr_items);
      const parts: Promise<void>[] = [];
      for (const [i, m] of this.#members.entries()) {
        if (m.remote === undefined || m.remote.ejected) continue;
        parts.push(
          this.#remote(
            i,
            'size',
            'stats\r\n',
            undefined,
            Expect.Lines,
            (line, items) => {
              if (line !== 'END') return line;
              let n = -1;
              for (const it of items!) {
                if (!it.key.startsWith('STAT curr_items ')) continue;
                const v = it.key.slice(16);
                // One curr_items, a decimal count: anything else is not memcached's stats.
                if (n >= 0 || !/^\d{1,15}$/.test(v)) return it.key;
                n = Number(v);
              }
              if (n < 0) return 'stats without curr_items';
              total += n;
              return undefined;
            },
            STATS_LINES_MAX,
          ),
        );
      }
      return Promise.all(parts).then(() => total);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * The live keys of every node, as UTF-8 strings: the local store's (crawled as {@link Cache.keys}),
   * then each remote node's on the ring, from `lru_crawler metadump all` (memcached 1.6; it lists
   * only live items). A node's dump is read whole before its keys are yielded, within the
   * cluster's `timeout`. Keys added or removed meanwhile may or may not appear; every key live
   * for the whole iteration does. A node that does not know the command rejects with its error
   * (ClusterError ERR_NODE_ERROR); one busy with another crawl is asked again a few times.
   */
  async *keys(): AsyncGenerator<string, void, undefined> {
    if (this.#closed) throw closedError('keys');
    if (this.#cache !== undefined) yield* RAW.keys.call(this.#cache);
    for (const [i, m] of this.#members.entries()) {
      if (m.remote === undefined || m.remote.ejected) continue;
      for (const k of await this.#metadump(i)) yield k;
    }
  }

  /**
   * `[key, value]` for the live keys of every node (see {@link keys}), the values read through
   * {@link getMany} in batches (decoded by the codec); a key gone by then is skipped.
   */
  async *entries(): AsyncGenerator<[string, T], void, undefined> {
    let batch: string[] = [];
    const keys = this.keys();
    for (;;) {
      const next = await keys.next();
      if (!next.done) batch.push(next.value);
      if (batch.length === 0 || (!next.done && batch.length < ENTRIES_BATCH)) {
        if (next.done) return;
        continue;
      }
      const vals = await this.getMany(batch);
      for (let j = 0; j < batch.length; j++) {
        const v = vals[j];
        const key = batch[j];
        if (v !== undefined && key !== undefined) yield [key, v];
      }
      batch = [];
      if (next.done) return;
    }
  }

  /** {@link entries}, so `for await (const [k, v] of cluster)` works. */
  [Symbol.asyncIterator](): AsyncGenerator<[string, T], void, undefined> {
    return this.entries();
  }

  /**
   * One node's `lru_crawler metadump all`, its keys decoded. memcached hands the connection to its
   * crawler for the dump and refuses other commands pipelined before it, so each dump has a
   * connection of its own (outside the node's pool and its health counts), closed after it; BUSY
   * (another crawl runs) is asked again a few times.
   */
  async #metadump(i: number): Promise<string[]> {
    const m = this.#members[i];
    if (m === undefined) throw new Error(`cluster member ${i} does not exist`);
    for (let attempt = 0; ; attempt++) {
      const owner: ConnOwner = { onReply() {}, onDead() {} };
      const conn = new NodeConnection(m.host, m.port, Math.max(this.#timeoutMs, DUMP_TIMEOUT_MIN), owner, this.#security);
      this.#inFlight++;
      let r: string[] | typeof BUSY;
      try {
        r = await new Promise<string[] | typeof BUSY>((resolve, reject) => {
          // Each line is taken down to its key as it arrives: the dump is held as keys, not lines.
          const out: string[] = [];
          let bad: string | undefined;
          const onLine = (l: string) => {
            if (!l.startsWith('key=')) return;
            const sp = l.indexOf(' ');
            const k = l.slice(4, sp < 0 ? undefined : sp);
            // memcached's keys are 1..250 bytes, URL-encoded at most 3 characters a byte.
            if (k.length === 0 || k.length > 3 * KEY_MAX) {
              bad = l.slice(0, 80);
              conn.close();
              return;
            }
            out.push(unescapeKey(k));
          };
          const done: ReplyCallback = (err, line) => {
            if (bad !== undefined) return reject(unexpected('keys', m.id, bad));
            if (err !== undefined) return reject(err);
            if (line.startsWith('BUSY')) return resolve(BUSY);
            if (line !== 'END') return reject(isErrorLine(line) ? errorFromReply(line, 'keys', m.id) : unexpected('keys', m.id, line));
            resolve(out);
          };
          conn.request('lru_crawler metadump all\r\n', undefined, Expect.Lines, done, undefined, onLine);
        });
      } finally {
        conn.close();
        if (--this.#inFlight === 0 && this.#drained !== undefined) this.#drained();
      }
      if (r !== BUSY) return r;
      if (attempt >= 20) throw unexpected('keys', m.id, 'BUSY (another crawl runs)');
      await new Promise<void>((res) => setTimeout(res, 50));
    }
  }

  /** Member `i`'s connection state: `i` comes from #route and is never this process's own member. */
  #remoteNode(i: number): RemoteNode {
    const node = this.#members[i]?.remote;
    if (node === undefined) throw new Error(`cluster member ${i} has no remote connection`);
    return node;
  }

  /** One multi-key `get` to member `i` for the keys `ws`; fills `out` at their positions (decoded by the codec). */
  #getLine(i: number, ws: Wanted[], out: (T | undefined)[]): Promise<void> {
    let line = 'get';
    for (const w of ws) line += ` ${w.wire}`;
    this.#remoteNode(i).ops += ws.length - 1; // #remote counts one
    const map = (reply: string, items: RemoteItem[] | undefined): string | undefined => {
      if (reply !== 'END') return reply;
      // Hits come back in request order (a key asked twice is answered twice).
      let c = 0;
      for (const it of items!) {
        while (c < ws.length && ws[c]?.wire !== it.key) c++;
        const w = ws[c];
        // Not an answer to this get (another key, or out of order): the line, so #remote rejects.
        if (w === undefined) return `VALUE ${it.key}`;
        out[w.k] = this.#decode(w.key, it.value, it.flags);
        c++;
      }
      return undefined;
    };
    return this.#remote(i, 'getMany', `${line}\r\n`, undefined, Expect.Values, map, ws.length) as Promise<void>;
  }

  /**
   * Runs `ops` and resolves with one {@link ClusterResult} per operation, in order (as
   * {@link CachePool.batch}, whose operations it takes, plus `has`, `gets` and `cas`); never
   * rejects for a bad operation, but rejects with a TypeError if `ops` is not an array.
   */
  batch(ops: readonly ClusterOp<T>[]): Promise<ClusterResult<T>[]> {
    if (!Array.isArray(ops)) return Promise.reject(typeError('ERR_INVALID_ARG_TYPE', `ops must be an array, got ${describe(ops)}`));
    let n: number;
    try {
      n = ops.length; // a Proxy's trap may throw
    } catch (e) {
      return Promise.reject(e);
    }
    const ps = new Array<Promise<ClusterResult<T>>>(n);
    for (let i = 0; i < n; i++) {
      // What reading an operation or its fields throws (an accessor, a Proxy of the caller's) is
      // that operation's result, never a synchronous throw that loses the others' results.
      let p: Promise<ClusterValue<T>>;
      try {
        p = this.#one(ops[i] as ClusterOp<T>);
      } catch (e) {
        p = Promise.reject(e);
      }
      ps[i] = p.then(
        (value): ClusterResult<T> => ({ ok: true, value }),
        (e: unknown): ClusterResult<T> => ({ ok: false, error: errorInfo(e) }),
      );
    }
    return Promise.all(ps);
  }

  #one(o: ClusterOp<T>): Promise<ClusterValue<T>> {
    if (typeof o !== 'object' || o === null)
      return Promise.reject(typeError('ERR_INVALID_ARG_TYPE', `an operation must be an object, got ${describe(o)}`));
    switch (o.op) {
      case 'get':
        return this.get(o.key);
      case 'gat':
        return this.gat(o.key, o.ttl);
      case 'gets':
        return this.gets(o.key);
      case 'has':
        return this.has(o.key);
      case 'set':
        return this.set(o.key, o.value, storeOptions(o)).then(() => undefined);
      case 'add':
        return this.add(o.key, o.value, storeOptions(o));
      case 'replace':
        return this.replace(o.key, o.value, storeOptions(o));
      case 'cas':
        return this.cas(o.key, o.value, o.cas, storeOptions(o));
      case 'append':
        return this.append(o.key, o.value);
      case 'prepend':
        return this.prepend(o.key, o.value);
      case 'delete':
        return this.delete(o.key);
      case 'incr':
        return this.incr(o.key, o.delta);
      case 'decr':
        return this.decr(o.key, o.delta);
      case 'touch':
        return this.touch(o.key, o.ttl);
      default:
        return Promise.reject(typeError('ERR_INVALID_ARG_VALUE', `unknown operation ${JSON.stringify((o as { op: unknown }).op)}`));
    }
  }

  /**
   * Stops taking calls, waits until every remote request in flight has settled (each does by its
   * timeout at the latest), then closes every connection. The local `cache` stays open: it is the
   * caller's. Later calls reject with CacheError `ERR_CACHE_CLOSED`, and so does a call begun
   * before that needs another request after it (a fetch polling a placeholder, or storing its
   * loader's value; a background refresh): no connection is opened once closed. Calling it
   * again returns the same promise.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    this.#closing = (async () => {
      if (this.#inFlight > 0) await new Promise<void>((r) => (this.#drained = r));
      for (const m of this.#members) m.remote?.close();
    })();
    return this.#closing;
  }

  // ----- plumbing -----

  /**
   * One keyed operation: the key and the cluster's state checked ({@link #start}), then
   * `prepare` (the other arguments' checks; its result goes to both sides), then `local` on this
   * member's store, or `remote(i)` for node i. A throw from any of them rejects the promise.
   */
  #keyed<R, P = void>(
    key: Key,
    what: string,
    local: (c: Cache<unknown>, p: P) => R | Promise<R>,
    remote: (i: number, p: P) => Promise<R>,
    prepare?: () => P,
  ): Promise<R> {
    try {
      const i = this.#start(key, what);
      const p = prepare?.() as P;
      if (i !== this.#self) return remote(i, p);
      this.#localOps++;
      return Promise.resolve(local(this.#cache!, p));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** A remote command with a yes/no answer: the reply `yes` is true, `no` false, any other line an error. */
  #yesNo(i: number, what: string, line: string, expect: Expect, yes: string, no: string): Promise<boolean> {
    return this.#remote(i, what, line, undefined, expect, (reply) => (reply === yes ? true : reply === no ? false : reply));
  }

  /** Checks the key's type and the cluster's state; returns the owner's member index. */
  #start(key: Key, what: string): number {
    if (this.#closed) throw closedError(what);
    checkKeyType(key);
    const i = this.#route(key);
    if (i < 0) throw new ClusterError('ERR_NO_NODES', `${what}: every node is ejected`);
    return i;
  }

  /** [flags, exptime] of a storage command: the options checked as the store checks them, the codec's tag on the flags. */
  #writeOptions(options: CacheSetOptions | undefined): [number, number] {
    const codec = this.#codec;
    if (codec === undefined) return setOptions(options);
    if (options !== undefined && (typeof options !== 'object' || options === null))
      throw typeError('ERR_INVALID_ARG_TYPE', `options must be an object, got ${describe(options)}`);
    const flags = tagFlags(codec, options?.flags);
    const [, ttl] = setOptions(options === undefined ? undefined : { ...options, flags: undefined });
    return [flags, ttl];
  }

  /** A stored value as the caller sees it: decoded by the codec after its tag is checked, else the bytes. */
  #decode(key: Key, value: Buffer, flags: number): T {
    return (this.#codec === undefined ? value : decodeValue(this.#codec, value, flags, key)) as T;
  }

  /** An item read raw (bytes, all 32 flag bits) as the caller sees it: decoded value, the caller's flags. */
  #info(key: Key, raw: ItemInfo<Buffer> | undefined): ItemInfo<T> | undefined {
    if (raw === undefined) return undefined;
    if (this.#codec === undefined) return raw as unknown as ItemInfo<T>;
    return { value: this.#decode(key, raw.value, raw.flags), flags: raw.flags & USER_FLAGS_MAX, cas: raw.cas };
  }

  /**
   * A single-key `get`/`gat` to member `i`: the bytes, or under a codec the value decoded after
   * the reply is matched (a decoded string must not read as a reply line; see #remote).
   */
  #retrieve(i: number, command: string, line: string, key: Key, wk: string): Promise<T | undefined> {
    if (this.#codec === undefined)
      return this.#remote(i, command, line, undefined, Expect.Values, (reply, items) => {
        const it = this.#single(items, reply, wk);
        return typeof it === 'object' ? (it.value as T) : it;
      });
    return this.#remote(i, command, line, undefined, Expect.Values, (reply, items) => this.#single(items, reply, wk)).then((it) =>
      it === undefined ? undefined : this.#decode(key, it.value, it.flags),
    );
  }

  /** The item of a single-key retrieval reply (or the line, for the caller to turn into an error). */
  #single(items: RemoteItem[] | undefined, line: string, wk: string): RemoteItem | undefined | string {
    if (line !== 'END') return line;
    const it = items![0];
    if (it === undefined) return undefined;
    if (it.key !== wk || items!.length > 1) return `VALUE ${it.key}`;
    return it;
  }

  /**
   * Sends one request to member `i`. `map` turns the reply into the result, or returns the reply
   * line (a string) when it is not an answer of this command: an error line becomes the error
   * the local store would give (error.ts), anything else ERR_NODE_ERROR. So `map` never returns a
   * decoded value (it may be a string): callers decode in `.then`. An error `map` throws (a value
   * another codec wrote, in getMany) rejects the request; the connection is unharmed.
   */
  #remote<R>(
    i: number,
    command: string,
    line: string,
    data: Buffer | undefined,
    expect: Expect,
    map: (line: string, items: RemoteItem[] | undefined) => R | string,
    maxItems = expect === Expect.Values ? 1 : Number.POSITIVE_INFINITY,
  ): Promise<R> {
    // Follow-up requests of a call that began before close() (a fetch polling a placeholder,
    // a background refresh) are refused too: a closed cluster opens no connection.
    if (this.#closed) return Promise.reject(closedError(command));
    const node = this.#remoteNode(i);
    node.ops++;
    this.#inFlight++;
    return new Promise<R>((resolve, reject) => {
      node.request(
        line,
        data,
        expect,
        (err, reply, items) => {
          if (--this.#inFlight === 0 && this.#drained !== undefined) this.#drained();
          if (err !== undefined) return reject(err);
          let r: R | string;
          try {
            r = map(reply, items);
          } catch (e) {
            return reject(e);
          }
          if (typeof r !== 'string') return resolve(r);
          reject(isErrorLine(r) ? errorFromReply(r, command, node.id) : unexpected(command, node.id, r));
        },
        maxItems,
      );
    });
  }
}

/** The Cluster class, typed by its codec: `new Cluster({ ..., codec: 'json' })` is a `Cluster<unknown>` (or `new Cluster<User>(...)`). */
export interface ClusterConstructor {
  new (options: ClusterOptions & { codec?: 'bytes' }): Cluster<Buffer>;
  new (options: ClusterOptions & { codec: 'string' }): Cluster<string>;
  new <V = unknown>(options: ClusterOptions & { codec: 'json' | 'v8' }): Cluster<V>;
  new <V>(options: ClusterOptions & { codec: Codec<V> }): Cluster<V>;
  new <V = Buffer>(options: ClusterOptions): Cluster<V>;
  readonly prototype: Cluster<unknown>;
}

/** Hybrid memcached-cluster client: see the module comment. `Cluster<T>` values are the codec's type (Buffer by default). */
export type Cluster<T = Buffer> = ClusterClient<T>;
/** Hybrid memcached-cluster client: see the module comment and {@link ClusterConstructor}. */
export const Cluster = ClusterClient as unknown as ClusterConstructor;
Object.defineProperty(ClusterClient, 'name', { value: 'Cluster' });
