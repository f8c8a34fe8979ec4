/**
 * Argument checks of {@link Cluster} for keys and values that go over the network: the same
 * rules, error classes, codes and messages as the local {@link Cache}, so an operation fails the
 * same way whichever node owns its key. A key must also be checked before it is written into a
 * command line: a space or CRLF in it would split the command.
 */
import type { ConnectionOptions } from 'node:tls';

import { bytesLength, checkKeyText, detachedError, isBytes, isDetached } from '../bytes.js';
import { rangeError, typeError } from '../errors.js';
import { checkTtl as checkExptime, checkFlags, readTtl } from '../ttl.js';
import type { CacheSetOptions, Key } from '../types.js';

/** memcached's key limit (bytes). */
export const KEY_MAX = 250;
const U64_MAX = (1n << 64n) - 1n;

/** `typeof`, with null and arrays named. */
export function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

function keyLengthError(name: string, bytes: number): RangeError {
  return rangeError('ERR_OUT_OF_RANGE', `${name} must be 1 to ${KEY_MAX} bytes long, got ${bytes}`);
}

function badKeyError(name: string): TypeError {
  return typeError('ERR_INVALID_ARG_VALUE', `${name} must not contain spaces or control characters (memcached's key rule)`);
}

/** Throws the TypeError a key of the wrong type gets. */
export function checkKeyType(key: unknown, name = 'key'): asserts key is Key {
  if (typeof key !== 'string' && !isBytes(key)) {
    throw typeError('ERR_INVALID_ARG_TYPE', `${name} must be a string or a Uint8Array, got ${describe(key)}`);
  }
}

/**
 * Checks a key as the store does (1..250 bytes, no byte <= 0x20 or 0x7f) and returns its bytes
 * as a latin1 string, ready for a command line.
 */
export function wireKey(key: unknown, name = 'key'): string {
  if (typeof key === 'string') {
    const n = key.length;
    if (n === 0 || n > KEY_MAX) throw keyLengthError(name, n === 0 ? 0 : Buffer.byteLength(key));
    for (let i = 0; i < n; i++) {
      const c = key.charCodeAt(i);
      if (c <= 0x20 || c === 0x7f) throw badKeyError(name);
      if (c > 0x7f) {
        checkKeyText(key, name);
        return bytesKey(Buffer.from(key, 'utf8'), name);
      }
    }
    return key;
  }
  if (isBytes(key)) return bytesKey(key, name);
  throw typeError('ERR_INVALID_ARG_TYPE', `${name} must be a string or a Uint8Array, got ${describe(key)}`);
}

function bytesKey(b: Uint8Array, name: string): string {
  // Intrinsic length, indexed reads and a copy by TypedArray#set: none of the caller's code runs.
  const n = bytesLength(b);
  if (n === 0 || n > KEY_MAX) throw n === 0 && isDetached(b) ? detachedError(name) : keyLengthError(name, n);
  for (let i = 0; i < n; i++) {
    const c = b[i] as number;
    if (c <= 0x20 || c === 0x7f) throw badKeyError(name);
  }
  const copy = Buffer.allocUnsafe(n);
  copy.set(b);
  return copy.toString('latin1', 0, n);
}

/**
 * A value's bytes, copied (the caller may reuse its buffer before the request is written). A view
 * of a detached ArrayBuffer is refused as the store refuses it (Buffer.from would copy it as empty).
 */
export function valueBytes(value: unknown): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (isBytes(value)) {
    const n = bytesLength(value);
    if (n === 0 && isDetached(value)) throw detachedError('value');
    const copy = Buffer.allocUnsafe(n);
    copy.set(value);
    return copy;
  }
  throw typeError('ERR_INVALID_ARG_TYPE', `value must be a string or a Uint8Array, got ${describe(value)}`);
}

/**
 * Checks a ttl as the store does (src/ttl.ts): an integer of memcached exptime seconds, and not an
 * absolute time already past (RangeError ERR_TTL_IN_PAST: `3_600_000` is 1970, not an hour).
 */
export function checkTtl(ttl: unknown, name: string): number {
  return checkExptime(ttl, name);
}

/** Reads `{ ttl | ttlMs | expiresAt, flags }` as the store does; returns [flags, exptime]. */
export function setOptions(opts: CacheSetOptions | undefined): [number, number] {
  if (opts === undefined) return [0, 0];
  if (typeof opts !== 'object' || opts === null)
    throw typeError('ERR_INVALID_ARG_TYPE', `options must be an object, got ${describe(opts)}`);
  const ttl = readTtl(opts, 'options');
  return [opts.flags === undefined ? 0 : checkFlags(opts.flags, 'options.flags'), ttl];
}

/** Checks an incr/decr delta as the store does; returns it as decimal text. */
export function deltaText(delta: unknown): string {
  if (typeof delta === 'number') {
    if (!Number.isSafeInteger(delta) || delta < 0)
      throw rangeError('ERR_OUT_OF_RANGE', `delta must be a non-negative integer, got ${delta}`);
    return String(delta);
  }
  if (typeof delta === 'bigint') {
    if (delta < 0n || delta > U64_MAX) throw rangeError('ERR_OUT_OF_RANGE', 'delta must be an unsigned 64-bit integer');
    return delta.toString();
  }
  throw typeError('ERR_INVALID_ARG_TYPE', `delta must be a number or a bigint, got ${describe(delta)}`);
}

/** The `auth` option of a Cluster: memcached's text-protocol credentials (`-Y` on the node). */
export interface NodeAuth {
  username: string;
  password: string;
}

/** How a Cluster connects to its nodes: text-protocol auth after connecting, and TLS. */
export interface NodeSecurity {
  auth?: NodeAuth;
  tls?: ConnectionOptions;
}

/** Checks the `auth` and `tls` options of a Cluster (TypeError on bad ones). */
export function securityOptions(auth: unknown, tls: unknown): NodeSecurity {
  const out: NodeSecurity = {};
  if (auth !== undefined) {
    const a = auth as Partial<NodeAuth> | null;
    if (typeof a !== 'object' || a === null || typeof a.username !== 'string' || typeof a.password !== 'string')
      throw typeError('ERR_INVALID_ARG_TYPE', `options.auth must be { username, password } strings, got ${describe(auth)}`);
    // memcached splits the token at its first space and reads it as one data block.
    if (a.username === '' || /[ \r\n]/.test(a.username) || /[\r\n]/.test(a.password))
      throw typeError(
        'ERR_INVALID_ARG_VALUE',
        'options.auth: the username must be non-empty without spaces, and neither may hold newlines',
      );
    out.auth = { username: a.username, password: a.password };
  }
  if (tls !== undefined) {
    if (typeof tls !== 'object' || tls === null)
      throw typeError('ERR_INVALID_ARG_TYPE', `options.tls must be an object of node:tls connect options, got ${describe(tls)}`);
    out.tls = tls as ConnectionOptions;
  }
  return out;
}
