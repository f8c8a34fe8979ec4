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
  // The region file rules (docs/security.md): each refusal leaves the file untouched.
  /** A symbolic link at the region's path (never followed). */
  | 'ERR_REGION_SYMLINK'
  /** The region file is owned by another user (see the `allowOwner` option). */
  | 'ERR_REGION_OWNER'
  /** The region file is writable by its group or by others beyond the `mode` option. */
  | 'ERR_REGION_MODE'
  /** The path is not a regular file (a directory, a FIFO, a socket, a device). */
  | 'ERR_REGION_NOT_FILE'
  /** The region file has more than one hard link. */
  | 'ERR_REGION_LINKS'
  /** The region's directory is writable by every user and has no sticky bit. */
  | 'ERR_REGION_DIR_UNSAFE'
  /** A reset (or `onCorrupt: 'reset'`) was asked for a file that is not a shmcached region: never written. */
  | 'ERR_REGION_FOREIGN'
  /** A value was stored by another codec than this handle's (docs/values.md). */
  | 'ERR_CODEC_MISMATCH'
  /** The codec's encode() threw: nothing was stored. */
  | 'ERR_CODEC_ENCODE'
  /** The codec's decode() threw on a stored value. */
  | 'ERR_CODEC_DECODE'
  // The auth file rules (docs/security.md, "The wire"): the server does not start.
  /** The auth file cannot be opened (missing, unreadable), or a symbolic link at its path (never followed). */
  | 'ERR_AUTH_FILE_OPEN'
  /** The auth file is not a regular file, or is owned by another user (root excepted). */
  | 'ERR_AUTH_FILE_NOT_FILE'
  /** The auth file can be read or written by its group or by others. */
  | 'ERR_AUTH_FILE_MODE'
  /** A line of the auth file is not `user:password`, or it names no user. */
  | 'ERR_AUTH_FILE_FORMAT'
  /** A TLS certificate, key or CA file given to the server cannot be read or used. */
  | 'ERR_TLS_CONFIG';

/** The codes of the region file rules, each a refusal that leaves the file untouched. */
export const REGION_FILE_CODES: readonly CacheErrorCode[] = Object.freeze([
  'ERR_REGION_SYMLINK',
  'ERR_REGION_OWNER',
  'ERR_REGION_MODE',
  'ERR_REGION_NOT_FILE',
  'ERR_REGION_LINKS',
  'ERR_REGION_DIR_UNSAFE',
  'ERR_REGION_FOREIGN',
]);

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
