/**
 * Key -> node routing for {@link Cluster}: ketama consistent hashing, laid out exactly as
 * twemproxy (`distribution: ketama`, `hash: md5`) and libmemcached's ketama lay it out, so a key
 * lands on the same node whoever routes it. The continuum itself is the `hashring` package's
 * (libketama-compatible); this module only feeds it twemproxy's server names and point counts
 * and hashes keys as twemproxy's `hash: md5` does.
 *
 * twemproxy's rules, reproduced here (src/hashkit/nc_ketama.c, src/nc_conf.c):
 * - a server's name is `host:port`, or plain `host` when the port is 11211 (libmemcached's
 *   convention), unless the config gives it a name;
 * - each live server gets floor(weight/total * 40 * live) * 4 points (computed in C `float`),
 *   4 points per md5 of `"<name>-<i>"`, each point 4 little-endian bytes of the digest;
 * - a key's hash is the first 4 digest bytes of md5(key), little-endian; it goes to the first
 *   point at or after it, wrapping to the first point.
 */
import { createRequire } from 'node:module';
import { hash as cryptoHash } from 'node:crypto';

const require = createRequire(import.meta.url);

/** The parts of the `hashring` package used here (it ships no types). */
interface HashRingInstance {
  /** Sorted continuum points. */
  ring: Array<{ value: number; server: string }>;
  size: number;
  /** Index into `ring` of the point that serves `hashValue`. */
  find(hashValue: number): number;
}
type HashRingCtor = new (
  servers: Record<string, { vnodes: number }>,
  algorithm: string,
  options: Record<string, unknown>,
) => HashRingInstance;
const HashRing = require('hashring') as HashRingCtor;

/** twemproxy's KETAMA_POINTS_PER_SERVER. */
const POINTS_PER_SERVER = 160;
/** libmemcached's (and so twemproxy's) default port, left out of a server's ketama name. */
export const KETAMA_DEFAULT_PORT = 11211;

/** One member of the ring as given by the user. */
export interface RingMember {
  host: string;
  port: number;
  /** twemproxy's server weight (default 1). */
  weight: number;
}

/** The name twemproxy hashes for a server: `host:port`, or `host` when the port is 11211. */
export function ketamaName(m: { host: string; port: number }): string {
  return m.port === KETAMA_DEFAULT_PORT ? m.host : `${m.host}:${m.port}`;
}

/**
 * Continuum points of one server, as twemproxy computes them in single-precision `float`
 * (Math.fround reproduces each rounding), so that rings of any size and weights agree.
 */
export function ketamaPoints(weight: number, totalWeight: number, live: number): number {
  const f = Math.fround;
  const pct = f(weight / totalWeight);
  const x = f(f(f(pct * POINTS_PER_SERVER) / 4) * f(live));
  return Math.floor(f(x + 0.0000000001)) * 4;
}

/** twemproxy's `hash: md5`: the first four bytes of md5(key), little-endian. */
export function md5Hash(key: string | Uint8Array): number {
  const d = cryptoHash('md5', key, 'buffer');
  return d.readUInt32LE(0);
}

/** A built continuum over some members (the live ones); maps a key hash to a member index. */
export class KetamaRing {
  readonly #ring: HashRingInstance;
  readonly #points: Array<{ value: number; server: string }>;
  /** ketama name -> index in the members array given to the constructor. */
  readonly #index = new Map<string, number>();
  readonly #owner: Int32Array;

  /**
   * `members` are every configured server; `live[i]` says whether member i is on the ring
   * (ejected members are left out, as twemproxy's auto_eject_hosts does).
   */
  constructor(members: readonly RingMember[], live: readonly boolean[]) {
    let total = 0;
    let nlive = 0;
    members.forEach((m, i) => {
      if (live[i]) {
        total += m.weight;
        nlive++;
      }
    });
    const servers: Record<string, { vnodes: number }> = {};
    members.forEach((m, i) => {
      if (!live[i]) return;
      const name = ketamaName(m);
      this.#index.set(name, i);
      // Explicit per-server hash counts: with 'vnode count' 0, hashring uses exactly these
      // (its own default computes floor(1/n * 40 * n) in doubles, 39 for n = 7).
      servers[name] = { vnodes: ketamaPoints(m.weight, total, nlive) / 4 };
    });
    this.#ring = new HashRing(servers, 'md5', { 'vnode count': 0, 'max cache size': 1 });
    this.#points = this.#ring.ring;
    this.#owner = new Int32Array(this.#points.length);
    for (const [i, p] of this.#points.entries()) this.#owner[i] = this.#index.get(p.server)!;
  }

  /** Points on the continuum (160 per live server of equal weight). */
  get size(): number {
    return this.#points.length;
  }

  /** The member index owning `hash` (a {@link md5Hash}), or -1 when the ring is empty. */
  lookup(hash: number): number {
    if (this.#points.length === 0) return -1;
    return this.#owner[this.#ring.find(hash)] ?? -1;
  }

  /** Continuum points of member `i` (for tests and diagnostics). */
  pointsOf(i: number): number {
    let n = 0;
    for (let j = 0; j < this.#owner.length; j++) if (this.#owner[j] === i) n++;
    return n;
  }
}
