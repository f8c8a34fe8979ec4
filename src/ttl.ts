/**
 * Expiry options of the JS faces, turned into memcached's exptime (seconds; up to 30 days
 * relative, above that an absolute Unix time; negative: already expired). Three spellings:
 * `ttl` (memcached's seconds, as on the wire), `ttlMs` (milliseconds, as Keyv and lru-cache take
 * it) and `expiresAt` (a Date or a millisecond epoch). A `ttl` that reads as an absolute time
 * already past (the classic `ttl: 3_600_000` meant as an hour in ms, which is 1970) is a
 * RangeError `ERR_TTL_IN_PAST`, never a value stored and silently gone. A negative `ttl` keeps
 * memcached's explicit meaning (stored already expired), as the wire protocol does. Beside them,
 * the other number of the store options: the client `flags` (checkFlags).
 */
import { rangeError, typeError } from './errors.js';

/** memcached's REALTIME_MAXDELTA: exptimes above this are absolute Unix times. */
export const RELATIVE_MAX = 60 * 60 * 24 * 30;
const TTL_MAX = 2 ** 32 - 1;

/** Expiry, in one of three spellings (give at most one). */
export interface TtlOptions {
  /**
   * memcached's exptime, in seconds: 0 (default) never expires; up to 30 days (2592000) is
   * relative to now; above that it is an absolute Unix time in seconds, which must lie in the
   * future (else RangeError `ERR_TTL_IN_PAST`); negative stores the item already expired
   * (memcached's meaning).
   */
  ttl?: number;
  /** Time to live in milliseconds (as Keyv and lru-cache): 0 never expires. Rounded up to the store's whole-second clock: never expires early, at most 1 s late. */
  ttlMs?: number;
  /** When the item expires: a Date or milliseconds since the epoch, in the future (else RangeError `ERR_TTL_IN_PAST`). */
  expiresAt?: Date | number;
}

/** A RangeError for an absolute time that has already passed. */
function inPast(message: string): RangeError {
  return rangeError('ERR_TTL_IN_PAST', message);
}

/**
 * memcached's seconds, range-checked: an integer from -(2^32-1) to 2^32-1, and not an absolute
 * time already past.
 */
export function checkTtl(ttl: unknown, name: string): number {
  if (typeof ttl !== 'number') throw typeError('ERR_INVALID_ARG_TYPE', `${name} must be a number of seconds, got ${typeof ttl}`);
  if (!Number.isInteger(ttl) || ttl < -TTL_MAX || ttl > TTL_MAX)
    throw rangeError('ERR_OUT_OF_RANGE', `${name} must be an integer number of seconds (memcached exptime), got ${ttl}`);
  if (ttl > RELATIVE_MAX && ttl * 1000 <= Date.now()) {
    const when = new Date(ttl * 1000).toISOString();
    throw inPast(
      `${name} is in seconds; ${ttl} is an absolute Unix time in ${when.slice(0, 4)} (${when}), already past: above ${RELATIVE_MAX} (30 days) memcached reads ttl as an absolute time; use ttlMs or expiresAt`,
    );
  }
  return ttl;
}

/** Milliseconds from now → exptime: the first whole second at or after the deadline. */
export function msToExptime(ms: unknown, name: string): number {
  if (typeof ms !== 'number') throw typeError('ERR_INVALID_ARG_TYPE', `${name} must be a number of milliseconds, got ${typeof ms}`);
  if (!Number.isFinite(ms) || ms < 0)
    throw rangeError('ERR_OUT_OF_RANGE', `${name} must be a non-negative number of milliseconds, got ${ms}`);
  if (ms === 0) return 0;
  const now = Date.now();
  // Relative seconds counted from the start of the store's current second (its clock is time()).
  const rel = Math.ceil(((now % 1000) + ms) / 1000);
  if (rel <= RELATIVE_MAX) return rel;
  const abs = Math.ceil((now + ms) / 1000);
  if (abs > TTL_MAX) throw rangeError('ERR_OUT_OF_RANGE', `${name} reaches past the year 2106 (memcached's 32-bit clock), got ${ms}`);
  return abs;
}

/** A Date or ms epoch in the future → exptime (absolute seconds, rounded up). */
export function expiresAtToExptime(at: unknown, name: string): number {
  let ms: number;
  if (at instanceof Date) ms = at.getTime();
  else if (typeof at === 'number') ms = at;
  else
    throw typeError(
      'ERR_INVALID_ARG_TYPE',
      `${name} must be a Date or a number of milliseconds since the epoch, got ${at === null ? 'null' : typeof at}`,
    );
  if (!Number.isFinite(ms)) throw rangeError('ERR_OUT_OF_RANGE', `${name} must be a valid time, got ${String(at)}`);
  if (ms <= Date.now()) throw inPast(`${name} ${new Date(ms).toISOString()} is already past`);
  const abs = Math.ceil(ms / 1000);
  if (abs > TTL_MAX) throw rangeError('ERR_OUT_OF_RANGE', `${name} is past the year 2106 (memcached's 32-bit clock)`);
  // An epoch this small (ms < 30 days after 1970) cannot be in the future; kept for clarity.
  return abs <= RELATIVE_MAX ? RELATIVE_MAX + 1 : abs;
}

/**
 * The exptime of an options object with at most one of `ttl`, `ttlMs`, `expiresAt` (0 when
 * none). `prefix` names the object in messages (`'options'`).
 */
export function readTtl(o: TtlOptions, prefix: string): number {
  const { ttl, ttlMs, expiresAt } = o;
  if (ttlMs === undefined && expiresAt === undefined) return ttl === undefined ? 0 : checkTtl(ttl, `${prefix}.ttl`);
  if ((ttl !== undefined ? 1 : 0) + (ttlMs !== undefined ? 1 : 0) + (expiresAt !== undefined ? 1 : 0) > 1) {
    throw typeError('ERR_INVALID_ARG_VALUE', `${prefix}: give at most one of ttl (seconds), ttlMs and expiresAt`);
  }
  return ttlMs !== undefined ? msToExptime(ttlMs, `${prefix}.ttlMs`) : expiresAtToExptime(expiresAt, `${prefix}.expiresAt`);
}

/** A positional ttl argument: memcached's seconds, or a {@link TtlOptions} object. */
export function ttlArg(arg: unknown, name: string): number {
  if (typeof arg === 'number') return checkTtl(arg, name);
  if (typeof arg === 'object' && arg !== null && !(arg instanceof Date)) return readTtl(arg as TtlOptions, name);
  throw typeError(
    'ERR_INVALID_ARG_TYPE',
    `${name} must be a number of seconds or an object { ttl | ttlMs | expiresAt }, got ${arg === null ? 'null' : typeof arg}`,
  );
}

/** The client flags of a store's options: an integer from 0 to 2^32-1; `name` names it in messages. */
export function checkFlags(f: unknown, name: string): number {
  if (typeof f !== 'number') throw typeError('ERR_INVALID_ARG_TYPE', `${name} must be a number, got ${typeof f}`);
  if (!Number.isInteger(f) || f < 0 || f > 0xffffffff)
    throw rangeError('ERR_OUT_OF_RANGE', `${name} must be an integer from 0 to 4294967295, got ${f}`);
  return f;
}
