/** Seeded pseudo-random numbers, so every run (and every peer in a run) sees the same access order. */

/** mulberry32: a tiny 32-bit generator, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` indices drawn uniformly (with repetition) from [0, range). */
export function uniformOrder(count: number, range: number, rand: () => number): Uint32Array {
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.floor(rand() * range);
  return out;
}

/**
 * `xs` in the order of `indices` (xs[indices[0]], xs[indices[1]], ...), looked up once before a
 * timed loop; a RangeError when an index is out of range.
 */
export function pick<T>(xs: readonly T[], indices: ArrayLike<number>): T[] {
  return Array.from(indices, (i) => {
    const x = xs[i];
    if (x === undefined) throw new RangeError(`index ${i} out of range (length ${xs.length})`);
    return x;
  });
}

/** Swaps xs[i] and xs[j] (a shuffle's step); a RangeError when either is out of range. */
export function swap<T>(xs: { [n: number]: T | undefined }, i: number, j: number): void {
  const a = xs[i];
  const b = xs[j];
  if (a === undefined || b === undefined) throw new RangeError(`swap ${i}, ${j} out of range`);
  xs[i] = b;
  xs[j] = a;
}

/** A uniformly shuffled permutation of [0, n) (Fisher-Yates). */
export function permutation(n: number, rand: () => number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  for (let i = n - 1; i > 0; i--) {
    swap(out, i, Math.floor(rand() * (i + 1)));
  }
  return out;
}

/** `size` random lowercase letters (at least one) in a Buffer of its own: a value to store. */
export function randomLetters(size: number, rand: () => number): Buffer {
  const b = Buffer.allocUnsafeSlow(Math.max(size, 1));
  for (let i = 0; i < b.length; i++) b[i] = 97 + Math.floor(rand() * 26);
  return b;
}

/**
 * keys[order[i]]: the key the i-th operation of a drawn order names. The orders hold in-range
 * indices by construction and the loops stay below their length, so the check never fires: one
 * predictable compare in the measured loops (about 1 ns against an unchecked read; V8 inlines
 * this function and keeps the error's construction out of line in {@link noKey}).
 */
export function keyAt(keys: readonly string[], order: Uint32Array, i: number): string {
  const k = keys[order[i] ?? -1];
  if (k === undefined) throw noKey(i, keys.length);
  return k;
}

function noKey(i: number, n: number): RangeError {
  return new RangeError(`order[${i}] names no key (of ${n})`);
}
