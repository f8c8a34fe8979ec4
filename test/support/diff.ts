/**
 * Differential driver: one operation model, applied both to shmcached's Cache and to a real
 * memcached (through test/support/memcached.ts), each answer reduced to the same canonical text so
 * that the two can be compared with `===`.
 *
 * Canonical answers:
 *   storage commands   STORED | NOT_STORED | EXISTS | NOT_FOUND | TOO_LARGE | OOM
 *   get / gat          MISS | HIT <value>
 *   gets / gats        MISS | HIT f=<flags> <value>          (CAS uniques differ between servers)
 *   delete             DELETED | NOT_FOUND
 *   touch              TOUCHED | NOT_FOUND
 *   incr / decr        <decimal> | NOT_FOUND | NON_NUMERIC
 *   getMany            the per-key get answers joined with " | "
 *   setMany            STORED (once per entry, joined with " | ")
 *   flushAll           OK
 * Anything else (an unexpected exception or reply line) becomes `UNEXPECTED <...>`, which never
 * equals a legitimate answer.
 */
import { createHash } from 'node:crypto';
import type { Cache } from '../../src/index.js';
import { mulberry32 } from '../../bench/lib/rng.js';
import { MemcachedError, type McConnection } from './memcached.js';

export type DKey = string | Buffer;
export type DValue = string | Buffer;

export type Op =
  | { op: 'set' | 'add' | 'replace'; key: DKey; value: DValue; ttl?: number; flags?: number }
  | { op: 'append' | 'prepend'; key: DKey; value: DValue }
  | { op: 'get' | 'gets' | 'delete'; key: DKey }
  | { op: 'incr' | 'decr'; key: DKey; delta: bigint }
  | { op: 'touch' | 'gat' | 'gats'; key: DKey; ttl: number }
  /** token 'last': the CAS unique each side returned last for this key (from gets/gats); 'wrong': one that cannot match. */
  | { op: 'cas'; key: DKey; value: DValue; token: 'last' | 'wrong'; ttl?: number; flags?: number }
  | { op: 'getMany'; keys: DKey[] }
  | { op: 'setMany'; entries: Array<[DKey, DValue]>; ttl?: number; flags?: number }
  | { op: 'flushAll'; delay?: number };

/** CAS uniques seen per key, per side (they are never compared, only used). */
export class CasTokens {
  private readonly map = new Map<string, bigint>();
  get(key: DKey): bigint | undefined {
    return this.map.get(keyId(key));
  }
  set(key: DKey, cas: bigint): void {
    this.map.set(keyId(key), cas);
  }
  clear(): void {
    this.map.clear();
  }
}

function keyId(key: DKey): string {
  return typeof key === 'string' ? `s:${key}` : `b:${key.toString('hex')}`;
}

function buf(v: DValue): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
}

/** A short, exact-enough rendering of bytes: the text when short and printable, else length + hash + head. */
export function show(v: Buffer): string {
  if (v.length <= 48) return JSON.stringify(v.toString('latin1'));
  const h = createHash('sha1').update(v).digest('hex').slice(0, 12);
  return `<${v.length} bytes sha1:${h} head:${JSON.stringify(v.toString('latin1', 0, 16))}>`;
}

export function describeOp(op: Op): string {
  const k = (key: DKey) =>
    typeof key === 'string'
      ? JSON.stringify(key.length > 40 ? `${key.slice(0, 20)}...(${key.length})` : key)
      : `hex:${key.toString('hex').slice(0, 40)}`;
  switch (op.op) {
    case 'set':
    case 'add':
    case 'replace':
      return `${op.op} ${k(op.key)} ${show(buf(op.value))} ttl=${op.ttl ?? 0} flags=${op.flags ?? 0}`;
    case 'append':
    case 'prepend':
      return `${op.op} ${k(op.key)} ${show(buf(op.value))}`;
    case 'cas':
      return `cas ${k(op.key)} ${show(buf(op.value))} token=${op.token} ttl=${op.ttl ?? 0} flags=${op.flags ?? 0}`;
    case 'get':
    case 'gets':
    case 'delete':
      return `${op.op} ${k(op.key)}`;
    case 'incr':
    case 'decr':
      return `${op.op} ${k(op.key)} ${op.delta}`;
    case 'touch':
    case 'gat':
    case 'gats':
      return `${op.op} ${k(op.key)} ttl=${op.ttl}`;
    case 'getMany':
      return `getMany [${op.keys.map(k).join(', ')}]`;
    case 'setMany':
      return `setMany [${op.entries.map(([key, v]) => `${k(key)}=${show(buf(v))}`).join(', ')}] ttl=${op.ttl ?? 0} flags=${op.flags ?? 0}`;
    case 'flushAll':
      return op.delay === undefined ? 'flushAll' : `flushAll ${op.delay}`;
  }
}

const WRONG_OFFSET = 1_000_000_007n;
const NO_TOKEN = 987_654_321_987n;

function wrongToken(t: bigint | undefined): bigint {
  return t === undefined ? NO_TOKEN : t + WRONG_OFFSET;
}

// ----- shmcached side -----

/** Canonical name of an error thrown by shmcached, or undefined when it is not a known command outcome. */
export function shmErrorAnswer(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'ERR_VALUE_TOO_LARGE') return 'TOO_LARGE';
  if (code === 'ERR_NON_NUMERIC') return 'NON_NUMERIC';
  if (code === 'ERR_OUT_OF_MEMORY') return 'OOM';
  const name = (e as Error)?.name ?? typeof e;
  return `UNEXPECTED ${name}${code === undefined ? '' : `[${String(code)}]`}: ${(e as Error)?.message ?? String(e)}`;
}

function storeAnswer(ok: boolean): string {
  return ok ? 'STORED' : 'NOT_STORED';
}

/**
 * The ttl to give Cache for an op's memcached exptime. memcached stores an item with an
 * absolute time already past as expired; Cache refuses such a ttl (RangeError ERR_TTL_IN_PAST,
 * src/ttl.ts) rather than store a value that is silently gone. So for such a ttl this checks
 * that Cache refuses it (on a probe that changes nothing), then asks for memcached's same
 * meaning the explicit way (-1: stored already expired), keeping both stores in step.
 */
export function shmTtl(c: Cache, ttl: number | undefined): number {
  if (ttl === undefined || ttl <= 2592000 || ttl * 1000 > Date.now()) return ttl ?? 0;
  let code: unknown;
  try {
    c.touch('shmTtl-probe', ttl);
  } catch (e) {
    code = (e as { code?: unknown }).code;
  }
  if (code !== 'ERR_TTL_IN_PAST')
    throw new Error(`Cache accepted ttl ${ttl}, an absolute time already past (expected RangeError ERR_TTL_IN_PAST)`);
  return -1;
}

export function runShm(c: Cache, op: Op, tokens: CasTokens): string {
  try {
    if ('ttl' in op) op = { ...op, ttl: shmTtl(c, op.ttl) } as Op;
    switch (op.op) {
      case 'set':
        c.set(op.key, op.value, { ttl: op.ttl ?? 0, flags: op.flags ?? 0 });
        return 'STORED';
      case 'add':
        return storeAnswer(c.add(op.key, op.value, { ttl: op.ttl ?? 0, flags: op.flags ?? 0 }));
      case 'replace':
        return storeAnswer(c.replace(op.key, op.value, { ttl: op.ttl ?? 0, flags: op.flags ?? 0 }));
      case 'append':
        return storeAnswer(c.append(op.key, op.value));
      case 'prepend':
        return storeAnswer(c.prepend(op.key, op.value));
      case 'cas': {
        const last = tokens.get(op.key);
        const token = op.token === 'last' && last !== undefined ? last : wrongToken(last);
        const r = c.cas(op.key, op.value, token, { ttl: op.ttl ?? 0, flags: op.flags ?? 0 });
        return r === 'stored' ? 'STORED' : r === 'exists' ? 'EXISTS' : r === 'not_found' ? 'NOT_FOUND' : `UNEXPECTED cas -> ${String(r)}`;
      }
      case 'get': {
        const v = c.get(op.key);
        return v === undefined ? 'MISS' : `HIT ${show(v)}`;
      }
      case 'gets': {
        const v = c.gets(op.key);
        if (v === undefined) return 'MISS';
        tokens.set(op.key, v.cas);
        return `HIT f=${v.flags} ${show(v.value)}`;
      }
      case 'gat': {
        const v = c.gat(op.key, op.ttl);
        return v === undefined ? 'MISS' : `HIT ${show(v)}`;
      }
      case 'gats': {
        const v = c.gats(op.key, op.ttl);
        if (v === undefined) return 'MISS';
        tokens.set(op.key, v.cas);
        return `HIT f=${v.flags} ${show(v.value)}`;
      }
      case 'delete':
        return c.delete(op.key) ? 'DELETED' : 'NOT_FOUND';
      case 'touch':
        return c.touch(op.key, op.ttl) ? 'TOUCHED' : 'NOT_FOUND';
      case 'incr':
      case 'decr': {
        const r = op.op === 'incr' ? c.incr(op.key, op.delta) : c.decr(op.key, op.delta);
        return r === undefined ? 'NOT_FOUND' : typeof r === 'bigint' ? r.toString() : `UNEXPECTED ${typeof r} ${String(r)}`;
      }
      case 'getMany': {
        const r = c.getMany(op.keys);
        if (!Array.isArray(r) || r.length !== op.keys.length) return `UNEXPECTED getMany returned ${String(r)}`;
        return r.map((v) => (v === undefined ? 'MISS' : `HIT ${show(v)}`)).join(' | ');
      }
      case 'setMany':
        c.setMany(op.entries, { ttl: op.ttl ?? 0, flags: op.flags ?? 0 });
        return op.entries.map(() => 'STORED').join(' | ');
      case 'flushAll':
        c.flushAll(op.delay ?? 0);
        return 'OK';
    }
  } catch (e) {
    return shmErrorAnswer(e);
  }
}

// ----- memcached side -----

export function mcErrorAnswer(e: unknown): string {
  if (e instanceof MemcachedError) {
    if (e.line === 'SERVER_ERROR object too large for cache') return 'TOO_LARGE';
    if (e.line === 'CLIENT_ERROR cannot increment or decrement non-numeric value') return 'NON_NUMERIC';
    if (e.line === 'SERVER_ERROR out of memory storing object') return 'OOM';
    return `UNEXPECTED memcached: ${e.line}`;
  }
  throw e; // a harness/connection failure, not an answer
}

export async function runMc(mc: McConnection, op: Op, tokens: CasTokens): Promise<string> {
  try {
    switch (op.op) {
      case 'set':
      case 'add':
      case 'replace':
        return await mc[op.op](op.key, op.value, { ttl: op.ttl ?? 0, flags: op.flags ?? 0 });
      case 'append':
      case 'prepend':
        return await mc[op.op](op.key, op.value);
      case 'cas': {
        const last = tokens.get(op.key);
        const token = op.token === 'last' && last !== undefined ? last : wrongToken(last);
        return await mc.cas(op.key, op.value, token, { ttl: op.ttl ?? 0, flags: op.flags ?? 0 });
      }
      case 'get': {
        const v = await mc.get(op.key);
        return v === undefined ? 'MISS' : `HIT ${show(v.value)}`;
      }
      case 'gets': {
        const v = await mc.gets(op.key);
        if (v === undefined) return 'MISS';
        tokens.set(op.key, v.cas);
        return `HIT f=${v.flags} ${show(v.value)}`;
      }
      case 'gat': {
        const v = await mc.gat(op.ttl, op.key);
        return v === undefined ? 'MISS' : `HIT ${show(v.value)}`;
      }
      case 'gats': {
        const v = await mc.gats(op.ttl, op.key);
        if (v === undefined) return 'MISS';
        tokens.set(op.key, v.cas);
        return `HIT f=${v.flags} ${show(v.value)}`;
      }
      case 'delete':
        return (await mc.delete(op.key)) ? 'DELETED' : 'NOT_FOUND';
      case 'touch':
        return (await mc.touch(op.key, op.ttl)) ? 'TOUCHED' : 'NOT_FOUND';
      case 'incr':
      case 'decr': {
        const r = await mc[op.op](op.key, op.delta);
        return r === undefined ? 'NOT_FOUND' : r.toString();
      }
      case 'getMany': {
        const r = await mc.getMulti(op.keys);
        return r.map((v) => (v === undefined ? 'MISS' : `HIT ${show(v.value)}`)).join(' | ');
      }
      case 'setMany': {
        const out: string[] = [];
        for (const [k, v] of op.entries) out.push(await mc.set(k, v, { ttl: op.ttl ?? 0, flags: op.flags ?? 0 }));
        return out.join(' | ');
      }
      case 'flushAll':
        await mc.flushAll(op.delay);
        return 'OK';
    }
  } catch (e) {
    return mcErrorAnswer(e);
  }
}

// ----- seeded randomness -----

/** mulberry32: a small, fast, seeded PRNG (uniform in [0, 1)); the bench's generator (bench/lib/rng.ts). */
export const prng = mulberry32;

export class Rand {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = prng(seed);
  }
  int(lo: number, hiInclusive: number): number {
    return lo + Math.floor(this.next() * (hiInclusive - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    const x = xs[Math.floor(this.next() * xs.length)];
    if (x === undefined) throw new RangeError('pick from an empty list');
    return x;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(this.next() * 256);
    return b;
  }
  /** Picks a key of `weights` (name -> relative weight). */
  weighted<K extends string>(weights: Record<K, number>): K {
    const entries = Object.entries(weights) as Array<[K, number]>;
    let total = 0;
    for (const [, w] of entries) total += w;
    let x = this.next() * total;
    let last: K | undefined;
    for (const [k, w] of entries) {
      x -= w;
      if (x < 0) return k;
      last = k;
    }
    if (last === undefined) throw new RangeError('weighted pick from no weights');
    return last; // rounding left x at 0 or just above: the last key
  }
}

/** Op constructors, shared by the scripted and the random differential runs. */
export const ops = {
  set: (key: DKey, value: DValue, ttl = 0, flags = 0): Op => ({ op: 'set', key, value, ttl, flags }),
  add: (key: DKey, value: DValue, ttl = 0, flags = 0): Op => ({ op: 'add', key, value, ttl, flags }),
  replace: (key: DKey, value: DValue, ttl = 0, flags = 0): Op => ({ op: 'replace', key, value, ttl, flags }),
  append: (key: DKey, value: DValue): Op => ({ op: 'append', key, value }),
  prepend: (key: DKey, value: DValue): Op => ({ op: 'prepend', key, value }),
  cas: (key: DKey, value: DValue, token: 'last' | 'wrong', ttl = 0, flags = 0): Op => ({ op: 'cas', key, value, token, ttl, flags }),
  get: (key: DKey): Op => ({ op: 'get', key }),
  gets: (key: DKey): Op => ({ op: 'gets', key }),
  del: (key: DKey): Op => ({ op: 'delete', key }),
  incr: (key: DKey, delta: bigint | number = 1n): Op => ({ op: 'incr', key, delta: BigInt(delta) }),
  decr: (key: DKey, delta: bigint | number = 1n): Op => ({ op: 'decr', key, delta: BigInt(delta) }),
  touch: (key: DKey, ttl: number): Op => ({ op: 'touch', key, ttl }),
  gat: (key: DKey, ttl: number): Op => ({ op: 'gat', key, ttl }),
  gats: (key: DKey, ttl: number): Op => ({ op: 'gats', key, ttl }),
  getMany: (keys: DKey[]): Op => ({ op: 'getMany', keys }),
};
