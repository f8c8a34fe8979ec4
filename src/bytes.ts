/**
 * Checks of the byte views callers hand in as keys and values. A view of a transferred
 * (detached) ArrayBuffer reads as length 0 and throws a plain, code-less TypeError from any copy
 * out of it; these find it first, so the API can refuse it with a coded error before anything
 * is stored. Only views of length 0 are examined: the common case costs one comparison.
 */
import { rangeError, typeError } from './errors.js';

// %TypedArray%.prototype's own getters: they read the view's internal slots, so calling them
// runs none of the caller's code, whatever the object (a Proxy of a Uint8Array, an instance
// with its own `length` accessor, a subclass that overrides it).
const TA_PROTO = Object.getPrototypeOf(Uint8Array.prototype) as object;
const taGetter = (name: PropertyKey) => Object.getOwnPropertyDescriptor(TA_PROTO, name)?.get as (this: unknown) => unknown;
const TAG = taGetter(Symbol.toStringTag) as (this: unknown) => string | undefined;
const LENGTH = taGetter('length') as (this: Uint8Array) => number;
const BYTE_LENGTH = taGetter('byteLength') as (this: Uint8Array) => number;
const BUFFER = taGetter('buffer') as (this: Uint8Array) => ArrayBufferLike;

/**
 * Whether `v` is a Uint8Array (a Buffer is one): the engine's own check, which runs none of the
 * caller's code. A Proxy of a Uint8Array is not one: its traps would run while the cache copies
 * its bytes, after the key is already in the handle's scratch buffer (and could call the cache).
 */
export function isBytes(v: unknown): v is Uint8Array {
  return TAG.call(v) === 'Uint8Array';
}

/** The element count of a view {@link isBytes} accepted, read from its internal slots (no accessor of the caller's runs). */
export function bytesLength(v: Uint8Array): number {
  return LENGTH.call(v);
}

/** Whether `view` is backed by a detached ArrayBuffer (a SharedArrayBuffer never is). */
export function isDetached(view: Uint8Array): boolean {
  if (BYTE_LENGTH.call(view) !== 0) return false;
  const ab = BUFFER.call(view);
  if (ab.byteLength !== 0) return false;
  // `detached` where the engine has it (V8 12+, Node 22); Node 20: a view cannot be made over a detached buffer.
  const flag = (ab as { detached?: unknown }).detached;
  if (typeof flag === 'boolean') return flag;
  try {
    new Uint8Array(ab, 0, 0);
    return false;
  } catch {
    return true;
  }
}

/** The TypeError (`ERR_INVALID_ARG_VALUE`) for argument `name`, a view of a detached ArrayBuffer. */
export function detachedError(name: string): TypeError {
  return typeError('ERR_INVALID_ARG_VALUE', `${name} is a view of a detached ArrayBuffer (transferred away): it has no bytes to read`);
}

/**
 * `getInto`'s last step where the answer arrives after the call (CachePool, a Cluster's remote
 * key): copies `value` into `target` at `offset` if it fits and returns its length. The target
 * is the caller's, so it may have changed since the call was checked: detached (transferred)
 * is the detached-view TypeError, and a resizable buffer shrunk so that `offset` is past the
 * end is RangeError `ERR_OUT_OF_RANGE`; nothing is written then, nor past the target's end ever.
 */
export function copyInto(target: Uint8Array, offset: number, value: Uint8Array): number {
  if (isDetached(target)) throw detachedError('target');
  const len = bytesLength(target);
  if (offset > len)
    throw rangeError('ERR_OUT_OF_RANGE', `offset ${offset} is past the end of target, now ${len} bytes long (its buffer was resized)`);
  // An empty value writes nothing (a view pushed out of bounds by a shrink reads as length 0 and
  // refuses even an empty set).
  if (value.length !== 0 && value.length <= len - offset) target.set(value, offset);
  return value.length;
}

// String.prototype.isWellFormed (ES2024; Node 20 has it): false when a lone surrogate is in the
// string. V8 answers a one-byte string (every ASCII or Latin-1 key) without scanning it.
const wellFormed = (String.prototype as unknown as { isWellFormed(this: string): boolean }).isWellFormed;

/**
 * Throws TypeError `ERR_INVALID_ARG_VALUE` when the string key `key` holds a lone surrogate. Such a
 * string has no UTF-8 form: the encoder writes U+FFFD (EF BF BD) in its place, so `'\uD800'`,
 * `'\uDFFF'` and `'\uFFFD'` would all be one stored key, and a set under one would be read back
 * under another. Refused instead, like any other key the store cannot hold as given.
 */
export function checkKeyText(key: string, name: string): void {
  const e = keyTextError(key, name);
  if (e !== undefined) throw e;
}

/** {@link checkKeyText}'s error, returned rather than thrown (undefined: the key is well-formed). */
export function keyTextError(key: string, name: string): TypeError | undefined {
  if (wellFormed.call(key)) return undefined;
  return typeError(
    'ERR_INVALID_ARG_VALUE',
    `${name} holds a lone surrogate (not well-formed UTF-16): it has no UTF-8 form, and would be stored as U+FFFD, another key's bytes`,
  );
}
