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

/** A Buffer viewing `len` bytes of `ab` from `off` (no copy; the caller guarantees the range). */
export function arenaView(ab: ArrayBuffer, off: number, len: number): Buffer {
  return new ArenaBuffer(ab, off, len) as unknown as Buffer;
}
