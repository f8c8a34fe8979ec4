/**
 * Checks of the byte views callers hand in as keys and values. A view of a transferred
 * (detached) ArrayBuffer reads as length 0 and throws a plain, code-less TypeError from any copy
 * out of it; these find it first, so the API can refuse it with a coded error before anything
 * is stored. Only views of length 0 are examined: the common case costs one comparison.
 */
import { typeError } from './errors.js';

/** Whether `view` is backed by a detached ArrayBuffer (a SharedArrayBuffer never is). */
export function isDetached(view: Uint8Array): boolean {
  if (view.byteLength !== 0) return false;
  const ab = view.buffer;
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
