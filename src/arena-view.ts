/**
 * Buffers over a read arena at the price of a plain Uint8Array.
 *
 * `Cache.get` and `getMany` hand out views of the arena the native side copied the value into
 * (the arena is only ever appended to, so each view is the caller's own bytes). `Buffer.from(ab,
 * off, len)` checks its arguments through several layers and costs about twice a `new
 * Uint8Array(ab, off, len)`; on a 1000-key `getMany` that was a third of the time. Node's own
 * Buffers are instances of an internal Uint8Array subclass whose prototype is
 * `Buffer.prototype`; `ArenaBuffer` is the same construction. With no `constructor` of its own,
 * an instance reports `Buffer` everywhere users look: `instanceof Buffer`, `Buffer.isBuffer`,
 * `.constructor`, `util.inspect`, and `subarray`/`slice` (by species) return plain Buffers.
 */
class ArenaBuffer extends Uint8Array {}
Object.setPrototypeOf(ArenaBuffer.prototype, Buffer.prototype);
Reflect.deleteProperty(ArenaBuffer.prototype, 'constructor');
/*
 * `then: undefined`, non-enumerable, on this prototype only. Settling a promise with an object
 * looks its `then` up (is it a thenable?), and V8 does that lookup generically, without an
 * inline cache: for a Buffer it walks five prototypes (this one, Buffer, Uint8Array,
 * TypedArray, Object) before it finds nothing. Every `pool.get`, every `await` of an async
 * adapter's get, pays it once. Found here at once, the answer is the same (not callable: the
 * value itself fulfils the promise). Measured with callgrind, a lone `await pool.get()`:
 * 3,406 instructions per get without it, 2,893 with it (the sync get: 1,766). What a user can
 * see: `'then' in view` is true; `view.then` is still `undefined`, assigning it works as on any
 * object (writable), and Buffers made by Node are untouched.
 */
Object.defineProperty(ArenaBuffer.prototype, 'then', { value: undefined, writable: true, enumerable: false, configurable: true });

/** A Buffer viewing `len` bytes of `ab` from `off` (no copy; the caller guarantees the range). */
export function arenaView(ab: ArrayBuffer, off: number, len: number): Buffer {
  return new ArenaBuffer(ab, off, len) as unknown as Buffer;
}
