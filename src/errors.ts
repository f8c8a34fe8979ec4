/**
 * Errors thrown by shmcached. Bad arguments are `TypeError` / `RangeError` (with a `code`);
 * conditions of the store (out of memory, a non-numeric value for incr, a bad region file) are
 * {@link CacheError}. Every error leaves the store unchanged.
 */

/** Error codes carried by shmcached's errors. */
export type CacheErrorCode =
  | 'ERR_OUT_OF_MEMORY'
  | 'ERR_NON_NUMERIC'
  | 'ERR_BAD_REGION'
  | 'ERR_REGION_MISMATCH'
  | 'ERR_CACHE_CLOSED'
  | 'ERR_PKU_UNAVAILABLE'
  | 'ERR_REENTRANT'
  | 'ERR_FETCH_TIMEOUT'
  | 'ERR_CODEC_MISMATCH'
  | 'ERR_CODEC_ENCODE'
  | 'ERR_CODEC_DECODE';

/** A condition of the store rather than a bad argument; `code` says which. */
export class CacheError extends Error {
  /** Machine-readable reason. */
  readonly code: CacheErrorCode;
  constructor(code: CacheErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CacheError';
    this.code = code;
  }
}

/** A TypeError with a `code`, as Node's own argument errors have. */
export function typeError(code: string, message: string): TypeError {
  const e = new TypeError(message) as TypeError & { code: string };
  e.code = code;
  return e;
}

/** A RangeError with a `code`. */
export function rangeError(code: string, message: string): RangeError {
  const e = new RangeError(message) as RangeError & { code: string };
  e.code = code;
  return e;
}
