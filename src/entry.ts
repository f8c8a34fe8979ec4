/**
 * The key check of one `setMany` entry, shared by {@link Cache.setMany} and
 * `CachePool.setMany` (both check every entry before anything is stored).
 */
import { Layout } from './contract.js';
import { bytesLength, checkKeyText, detachedError, isBytes, isDetached } from './bytes.js';
import { rangeError, typeError } from './errors.js';

const BAD_KEY_CHARS = /[\x00-\x20\x7f]/;

/**
 * The UTF-8 byte length of `entries[i]`'s key `k`, or throws what the synchronous call throws:
 * TypeError `ERR_INVALID_ARG_TYPE` (not a string or Uint8Array), TypeError `ERR_INVALID_ARG_VALUE`
 * (a space or control character: memcached's key rule; a view of a detached ArrayBuffer), RangeError `ERR_OUT_OF_RANGE` (empty, or
 * longer than Layout.KeyMax bytes).
 */
export function entryKeyBytes(k: unknown, i: number): number {
  const name = `entries[${i}][0]`;
  let klen: number;
  let bad: boolean;
  if (typeof k === 'string') {
    checkKeyText(k, name);
    klen = Buffer.byteLength(k);
    bad = BAD_KEY_CHARS.test(k);
  } else if (isBytes(k)) {
    // Intrinsic length and indexed reads: no accessor or method of the caller's runs.
    klen = bytesLength(k);
    if (klen === 0 && isDetached(k)) throw detachedError(name);
    bad = false;
    for (let j = 0; j < klen && !bad; j++) {
      const c = k[j] as number;
      bad = c <= 0x20 || c === 0x7f;
    }
  } else {
    const got = k === null ? 'null' : Array.isArray(k) ? 'array' : typeof k;
    throw typeError('ERR_INVALID_ARG_TYPE', `${name} must be a string or a Uint8Array, got ${got}`);
  }
  if (bad) throw typeError('ERR_INVALID_ARG_VALUE', `${name} must not contain spaces or control characters (memcached's key rule)`);
  if (klen === 0 || klen > Layout.KeyMax)
    throw rangeError('ERR_OUT_OF_RANGE', `${name} must be 1 to ${Layout.KeyMax} bytes long, got ${klen}`);
  return klen;
}
