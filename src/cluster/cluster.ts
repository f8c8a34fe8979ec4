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
import { Cache } from '../cache.js';
import { CacheError, rangeError, typeError } from '../errors.js';
import { checkKeyType, checkTtl, deltaText, describe, securityOptions, setOptions, valueBytes, wireKey } from './args.js';
import { ClusterError, errorFromReply } from './error.js';
import { KetamaRing, md5Hash, type RingMember } from './ring.js';
import { Expect, RemoteNode, type NodeStats, type RemoteItem } from './node.js';
import { fetchThrough, type FetchOptions, type FetchStore, type Loader, type MetaItem } from '../fetch.js';
import type { PoolErrorInfo, PoolOp, PoolResult } from '../pool/pool.js';
import type { Key, SetOptions, Value } from '../types.js';

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
  /** The local store that `self` serves (the same file as its `shmcached serve --file`). Required with `self`. */
  cache?: Cache;
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
const DEFAULTS = { connections: 2, timeout: 1000, autoEject: true, failureLimit: 2, retryTimeout: 30_000 };
/** Route cache entries kept before the cache is cleared (routing a cached string key is one Map lookup). */
const ROUTE_CACHE_MAX = 1 << 17;
/** A multi-get line is kept under this many bytes (memcached reads longer `get` lines, other servers may not). */
const GET_LINE_MAX = 2000;

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

const isErrorLine = (line: string): boolean => line === 'ERROR' || line.startsWith('CLIENT_ERROR') || line.startsWith('SERVER_ERROR');

function errorInfo(e: unknown): PoolErrorInfo {
  if (e instanceof Error) return { name: e.name, code: (e as { code?: string }).code, message: e.message };
  return { name: 'Error', code: undefined, message: String(e) };
}

/** Hybrid memcached-cluster client: see the module comment. */
export class Cluster {
  readonly #members: Member[];
  readonly #self: number;
  readonly #cache: Cache | undefined;
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

  /** The value stored under `key`, or `undefined` (see {@link Cache.get}). */
  get(key: Key): Promise<Buffer | undefined> {
    try {
      const i = this.#start(key, 'get');
      if (i === this.#self) {
        this.#localOps++;
        return Promise.resolve(this.#cache!.get(key));
      }
      const wk = wireKey(key);
      return this.#remote(i, 'get', `get ${wk}\r\n`, undefined, Expect.Values, (line, items) => this.#single(items, line, wk));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * {@link Cache.fetch} across the cluster: a local key's flight runs in the shared store; a remote
   * key's runs on its node through the meta protocol (`mg key v c f N<lockTtl> [R<staleTtl>]`,
   * `ms`, `md`), so it is the same flight as that node's own in-process `fetch` callers and any
   * other client using mg N. The loader runs here.
   */
  fetch(key: Key, loader: Loader, options?: FetchOptions): Promise<Buffer> {
    try {
      const i = this.#start(key, 'fetch');
      if (i === this.#self) {
        this.#localOps++;
        return this.#cache!.fetch(key, loader, options);
      }
      return fetchThrough(this.#remoteStore(i), key, loader, options);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** {@link Cache.invalidate} on the key's node (`md key I` for a remote one). */
  invalidate(key: Key): Promise<boolean> {
    try {
      const i = this.#start(key, 'invalidate');
      if (i === this.#self) {
        this.#localOps++;
        return Promise.resolve(this.#cache!.invalidate(key));
      }
      return Promise.resolve(this.#remoteStore(i).metaDelete(key, true, 0n));
    } catch (e) {
      return Promise.reject(e);
    }
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
          let cas = 0n;
          let flags = 0;
          let won = false;
          let stale = false;
          let tokenSent = false;
          for (const t of line.split(' ').slice(2)) {
            if (t[0] === 'c') cas = BigInt(t.slice(1));
            else if (t[0] === 'f') flags = Number(t.slice(1));
            else if (t === 'W') won = true;
            else if (t === 'X') stale = true;
            else if (t === 'Z') tokenSent = true;
          }
          const first = items[0];
          if (first === undefined) return line;
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
        return true; // a closed cluster rejects the request itself
      },
    };
  }

  /** Get and touch: the value, after setting a new ttl (see {@link Cache.gat}). */
  gat(key: Key, ttl: number): Promise<Buffer | undefined> {
    try {
      const i = this.#start(key, 'gat');
      if (i === this.#self) {
        this.#localOps++;
        return Promise.resolve(this.#cache!.gat(key, ttl));
      }
      const wk = wireKey(key);
      const t = checkTtl(ttl, 'ttl');
      return this.#remote(i, 'gat', `gat ${t} ${wk}\r\n`, undefined, Expect.Values, (line, items) => this.#single(items, line, wk));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Stores `value` under `key` (see {@link Cache.set}). */
  set(key: Key, value: Value, options?: SetOptions): Promise<void> {
    return this.#store('set', key, value, options) as Promise<void>;
  }

  /** Stores only if `key` is absent; resolves `false` otherwise (see {@link Cache.add}). */
  add(key: Key, value: Value, options?: SetOptions): Promise<boolean> {
    return this.#store('add', key, value, options) as Promise<boolean>;
  }

  /** Stores only if `key` is present; resolves `false` otherwise (see {@link Cache.replace}). */
  replace(key: Key, value: Value, options?: SetOptions): Promise<boolean> {
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
    value: Value,
    options: SetOptions | undefined,
  ): Promise<void | boolean> {
    try {
      const i = this.#start(key, cmd);
      if (i === this.#self) {
        this.#localOps++;
        const c = this.#cache!;
        switch (cmd) {
          case 'set':
            return Promise.resolve(c.set(key, value, options));
          case 'add':
            return Promise.resolve(c.add(key, value, options));
          case 'replace':
            return Promise.resolve(c.replace(key, value, options));
          case 'append':
            return Promise.resolve(c.append(key, value));
          default:
            return Promise.resolve(c.prepend(key, value));
        }
      }
      const wk = wireKey(key);
      const data = valueBytes(value);
      const [flags, ttl] = setOptions(options);
      const line = `${cmd} ${wk} ${flags} ${ttl} ${data.length}\r\n`;
      return this.#remote(i, cmd, line, data, Expect.Line, (reply) => {
        if (reply === 'STORED') return cmd === 'set' ? undefined : true;
        if (reply === 'NOT_STORED' && cmd !== 'set') return false;
        return reply;
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Removes `key`; resolves `true` if it was there (see {@link Cache.delete}). */
  delete(key: Key): Promise<boolean> {
    try {
      const i = this.#start(key, 'delete');
      if (i === this.#self) {
        this.#localOps++;
        return Promise.resolve(this.#cache!.delete(key));
      }
      return this.#remote(i, 'delete', `delete ${wireKey(key)}\r\n`, undefined, Expect.Line, (reply) =>
        reply === 'DELETED' ? true : reply === 'NOT_FOUND' ? false : reply,
      );
    } catch (e) {
      return Promise.reject(e);
    }
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
    try {
      const i = this.#start(key, cmd);
      if (i === this.#self) {
        this.#localOps++;
        return Promise.resolve(cmd === 'incr' ? this.#cache!.incr(key, delta) : this.#cache!.decr(key, delta));
      }
      const wk = wireKey(key);
      const d = deltaText(delta);
      return this.#remote(i, cmd, `${cmd} ${wk} ${d}\r\n`, undefined, Expect.Line, (reply) =>
        reply === 'NOT_FOUND' ? undefined : /^\d+$/.test(reply) ? BigInt(reply) : reply,
      );
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Sets a new ttl; resolves `true` if the key was there (see {@link Cache.touch}). */
  touch(key: Key, ttl: number): Promise<boolean> {
    try {
      const i = this.#start(key, 'touch');
      if (i === this.#self) {
        this.#localOps++;
        return Promise.resolve(this.#cache!.touch(key, ttl));
      }
      const wk = wireKey(key);
      const t = checkTtl(ttl, 'ttl');
      return this.#remote(i, 'touch', `touch ${wk} ${t}\r\n`, undefined, Expect.Line, (reply) =>
        reply === 'TOUCHED' ? true : reply === 'NOT_FOUND' ? false : reply,
      );
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Values of many keys, aligned with `keys` (see {@link Cache.getMany}). The keys are split by
   * owner: the local ones in one call into the store, each remote node's in one pipelined burst
   * of multi-key `get`s, all nodes at once; rejects with the first bad key's error before sending
   * anything, or with the first node's failure.
   */
  getMany(keys: readonly Key[]): Promise<(Buffer | undefined)[]> {
    try {
      if (!Array.isArray(keys)) throw typeError('ERR_INVALID_ARG_TYPE', `keys must be an array, got ${describe(keys)}`);
      if (this.#closed) throw closedError('getMany');
      const n = keys.length;
      const out = new Array<Buffer | undefined>(n);
      if (n === 0) return Promise.resolve(out);
      const wire = new Array<string>(n);
      const owner = new Int32Array(n);
      for (let k = 0; k < n; k++) {
        wire[k] = wireKey(keys[k], `keys[${k}]`);
        const i = this.#route(keys[k]!);
        if (i < 0) throw new ClusterError('ERR_NO_NODES', 'getMany: every node is ejected');
        owner[k] = i;
      }
      const parts: Promise<void>[] = [];
      const byNode = new Map<number, number[]>();
      const local: number[] = [];
      for (const [k, i] of owner.entries()) {
        if (i === this.#self) local.push(k);
        else {
          let list = byNode.get(i);
          if (list === undefined) byNode.set(i, (list = []));
          list.push(k);
        }
      }
      for (const [i, list] of byNode) {
        let start = 0;
        let bytes = 4;
        for (let j = 0; j < list.length; j++) {
          const len = wire[list[j]!]!.length + 1;
          if (j > start && bytes + len > GET_LINE_MAX) {
            parts.push(this.#getLine(i, list.slice(start, j), wire, out));
            start = j;
            bytes = 4;
          }
          bytes += len;
        }
        parts.push(this.#getLine(i, list.slice(start), wire, out));
      }
      if (local.length > 0) {
        this.#localOps += local.length;
        const vals = this.#cache!.getMany(local.map((k) => keys[k]!));
        local.forEach((k, j) => {
          out[k] = vals[j];
        });
      }
      return Promise.all(parts).then(() => out);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Member `i`'s connection state: `i` comes from #route and is never this process's own member. */
  #remoteNode(i: number): RemoteNode {
    const node = this.#members[i]?.remote;
    if (node === undefined) throw new Error(`cluster member ${i} has no remote connection`);
    return node;
  }

  /** One multi-key `get` to member `i` for the positions `ks`; fills `out`. */
  #getLine(i: number, ks: number[], wire: string[], out: (Buffer | undefined)[]): Promise<void> {
    let line = 'get';
    for (const k of ks) line += ` ${wire[k]}`;
    this.#remoteNode(i).ops += ks.length - 1; // #remote counts one
    return this.#remote(i, 'getMany', `${line}\r\n`, undefined, Expect.Values, (reply, items) => {
      if (reply !== 'END') return reply;
      // Hits come back in request order (a key asked twice is answered twice).
      let c = 0;
      for (const it of items!) {
        while (c < ks.length && wire[ks[c]!] !== it.key) c++;
        const k = ks[c];
        if (k === undefined) return unexpected('getMany', this.#members[i]?.id ?? `member ${i}`, `VALUE ${it.key}`);
        out[k] = it.value;
        c++;
      }
      return undefined;
    }) as Promise<void>;
  }

  /**
   * Runs `ops` and resolves with one {@link PoolResult} per operation, in order (as
   * {@link CachePool.batch}); never rejects for a bad operation, but rejects with a TypeError
   * if `ops` is not an array.
   */
  batch(ops: readonly PoolOp[]): Promise<PoolResult[]> {
    if (!Array.isArray(ops)) return Promise.reject(typeError('ERR_INVALID_ARG_TYPE', `ops must be an array, got ${describe(ops)}`));
    return Promise.all(
      ops.map((op) =>
        this.#one(op).then(
          (value): PoolResult => ({ ok: true, value }),
          (e: unknown): PoolResult => ({ ok: false, error: errorInfo(e) }),
        ),
      ),
    );
  }

  #one(o: PoolOp): Promise<Buffer | bigint | boolean | undefined> {
    if (typeof o !== 'object' || o === null)
      return Promise.reject(typeError('ERR_INVALID_ARG_TYPE', `an operation must be an object, got ${describe(o)}`));
    switch (o.op) {
      case 'get':
        return this.get(o.key);
      case 'gat':
        return this.gat(o.key, o.ttl);
      case 'set':
        return this.set(o.key, o.value, { ttl: o.ttl, flags: o.flags }).then(() => undefined);
      case 'add':
        return this.add(o.key, o.value, { ttl: o.ttl, flags: o.flags });
      case 'replace':
        return this.replace(o.key, o.value, { ttl: o.ttl, flags: o.flags });
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
   * caller's. Later calls reject with CacheError `ERR_CACHE_CLOSED`. Calling it again returns the
   * same promise.
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

  /** Checks the key's type and the cluster's state; returns the owner's member index. */
  #start(key: Key, what: string): number {
    if (this.#closed) throw closedError(what);
    checkKeyType(key);
    const i = this.#route(key);
    if (i < 0) throw new ClusterError('ERR_NO_NODES', `${what}: every node is ejected`);
    return i;
  }

  /** The value of a single-key retrieval reply (or the line, for the caller to turn into an error). */
  #single(items: RemoteItem[] | undefined, line: string, wk: string): Buffer | undefined | string {
    if (line !== 'END') return line;
    const it = items![0];
    if (it === undefined) return undefined;
    if (it.key !== wk || items!.length > 1) return `VALUE ${it.key}`;
    return it.value;
  }

  /**
   * Sends one request to member `i`. `map` turns the reply into the result, or returns the reply
   * line (a string) when it is not an answer of this command: an error line becomes the error
   * the local store would give (error.ts), anything else ERR_NODE_ERROR.
   */
  #remote<T>(
    i: number,
    command: string,
    line: string,
    data: Buffer | undefined,
    expect: Expect,
    map: (line: string, items: RemoteItem[] | undefined) => T | string,
  ): Promise<T> {
    const node = this.#remoteNode(i);
    node.ops++;
    this.#inFlight++;
    return new Promise<T>((resolve, reject) => {
      node.request(line, data, expect, (err, reply, items) => {
        if (--this.#inFlight === 0 && this.#drained !== undefined) this.#drained();
        if (err !== undefined) return reject(err);
        const r = map(reply, items);
        if (typeof r !== 'string') return resolve(r);
        reject(isErrorLine(r) ? errorFromReply(r, command, node.id) : unexpected(command, node.id, r));
      });
    });
  }
}
