/**
 * The seeded random command generator of the differential test (test/differential.test.ts), in its
 * own module so that a failing seed can be replayed from a script:
 *
 *   const r = new Rand(seed); const keys = keySet(); for (...) { const op = randomOp(r, keys); ... }
 *
 * (the test also replaces an incr/decr of a whitespace-only value by a get, see allWhitespace).
 */
import { ops, type Rand, type DKey, type DValue, type Op } from './diff.js';

const now = (): number => Math.floor(Date.now() / 1000);
const { set, add, replace, append, prepend, cas, get, gets, del, incr, decr, touch, gat, gats, getMany } = ops;

export const NUMERIC = [
  '0',
  '1',
  '5',
  '9',
  '10',
  '99',
  '100',
  '999',
  '1000',
  '18446744073709551615',
  '18446744073709551614',
  '18446744073709551600',
  ' 5',
  '5 ',
  '+5',
  '007',
  '-0',
  '000000000000000000001',
  '4294967296',
];
export const NON_NUMERIC = ['abc', '12abc', '-1', '', '1.5', '18446744073709551616', '123456789012345678901', '0x10', '5x', '-5'];

/** memcached's isspace(): incr/decr of a value made only of these is undefined in memcached (see INCR_TABLE). */
export function allWhitespace(v: Buffer): boolean {
  if (v.length === 0) return false;
  for (const b of v) if (!(b === 0x20 || (b >= 0x09 && b <= 0x0d))) return false;
  return true;
}
/**
 * True when memcached would take `v` as a number for incr/decr (strtoull rules: leading
 * whitespace, an optional '+', digits, then the end or whitespace) and the number is >= 2^63:
 * the case where memcached 1.6.18 also searches for a '-' past the end of the value (see the
 * randomized test).
 */
export function mcBigNumber(v: Buffer): boolean {
  const s = v.toString('latin1');
  const digits = /^[ \t\n\v\f\r]*\+?(\d+)([ \t\n\v\f\r\0]|$)/.exec(s)?.[1];
  if (digits === undefined || s.includes('-')) return false;
  const n = BigInt(digits);
  return n >= 1n << 63n && n < 1n << 64n;
}

export const DELTAS = [
  0n,
  1n,
  1n,
  1n,
  2n,
  9n,
  10n,
  91n,
  100n,
  1000n,
  4294967296n,
  9223372036854775808n,
  18446744073709551614n,
  18446744073709551615n,
];

export function randomValue(r: Rand): DValue {
  switch (r.weighted({ num: 25, nonnum: 8, small: 30, text: 10, medium: 10, large: 2 })) {
    case 'num':
      return r.pick(NUMERIC);
    case 'nonnum':
      return r.pick(NON_NUMERIC);
    case 'small':
      return r.bytes(r.int(0, 100));
    case 'text': {
      const words = ['foo', 'bar', '\r\n', 'END', 'VALUE', ' ', '\0', 'é', '12'];
      let s = '';
      for (let i = r.int(0, 12); i > 0; i--) s += r.pick(words);
      return s;
    }
    case 'medium':
      return r.bytes(r.int(100, 20_000));
    default:
      return r.bytes(r.int(20_000, 300_000));
  }
}

export function randomTtl(r: Rand): number {
  switch (r.weighted({ none: 85, expired: 4, rel: 4, absPast: 4, absFuture: 3 })) {
    case 'none':
      return 0;
    case 'expired':
      return -1;
    case 'rel':
      return r.pick([1000, 86400, 2592000]);
    case 'absPast':
      return r.pick([2592001, now() - 100]);
    default:
      return now() + 3600;
  }
}

export function randomFlags(r: Rand): number {
  return r.pick([0, 0, 0, 1, 42, 0xffffffff, r.int(0, 0xffffffff)]);
}

export function randomOp(r: Rand, keys: DKey[]): Op {
  const key = r.pick(keys);
  switch (
    r.weighted({
      set: 18,
      get: 16,
      gets: 8,
      add: 5,
      replace: 5,
      append: 4,
      prepend: 4,
      cas: 9,
      delete: 6,
      incr: 7,
      decr: 6,
      touch: 3,
      gat: 3,
      gats: 3,
      getMany: 4,
      setMany: 1,
      flushAll: 0.1,
    })
  ) {
    case 'set':
      return set(key, randomValue(r), randomTtl(r), randomFlags(r));
    case 'add':
      return add(key, randomValue(r), randomTtl(r), randomFlags(r));
    case 'replace':
      return replace(key, randomValue(r), randomTtl(r), randomFlags(r));
    case 'append':
      return append(key, r.next() < 0.5 ? r.pick(NUMERIC) : randomValue(r));
    case 'prepend':
      return prepend(key, r.next() < 0.5 ? r.pick(NUMERIC) : randomValue(r));
    case 'cas':
      return cas(key, randomValue(r), r.next() < 0.75 ? 'last' : 'wrong', randomTtl(r), randomFlags(r));
    case 'get':
      return get(key);
    case 'gets':
      return gets(key);
    case 'delete':
      return del(key);
    case 'incr':
      return incr(key, r.pick(DELTAS));
    case 'decr':
      return decr(key, r.pick(DELTAS));
    case 'touch':
      return touch(key, r.pick([0, 1000, 1000, -1, now() + 3600]));
    case 'gat':
      return gat(key, r.pick([0, 1000, 1000, -1, now() + 3600]));
    case 'gats':
      return gats(key, r.pick([0, 1000, 1000, -1, now() + 3600]));
    case 'getMany': {
      const ks: DKey[] = [];
      for (let i = r.int(1, 12); i > 0; i--) ks.push(r.pick(keys));
      return getMany(ks);
    }
    case 'setMany': {
      const entries: Array<[DKey, DValue]> = [];
      for (let i = r.int(1, 6); i > 0; i--) entries.push([r.pick(keys), r.next() < 0.5 ? r.pick(NUMERIC) : r.bytes(r.int(0, 300))]);
      return { op: 'setMany', entries, ttl: r.next() < 0.9 ? 0 : randomTtl(r), flags: randomFlags(r) };
    }
    default:
      return { op: 'flushAll' };
  }
}

export function keySet(): DKey[] {
  const keys: DKey[] = [];
  for (let i = 0; i < 47; i++) keys.push(`k${i}`);
  keys.push('x'.repeat(250), 'ключ', Buffer.from('bin-\xc3\xa9', 'latin1'));
  return keys;
}
