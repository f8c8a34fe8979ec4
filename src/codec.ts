/**
 * Codecs: how a {@link Cache} turns values into the bytes the store holds, and how it records
 * which codec wrote an item. Bytes stay the store's only type; a codec lives in the face.
 *
 * The record: the top 4 bits of the item's 32-bit client flags (bits 28..31) hold the codec's
 * tag, as memcached clients (memjs, pylibmc, php-memcached) mark serialised values in flags:
 *
 *   tag 0  bytes (untagged: anything a memcached client or the 'bytes' codec stored)
 *   tag 1  'string' (UTF-8)     tag 2  'json'     tag 3  'v8' (node:v8 serialize)
 *   tag 8..15  custom codecs (`tag` of the codec object; 15 when none is given)
 *
 * Under a codec, the low 28 bits stay the caller's flags (0..0x0FFFFFFF). The 'bytes' codec
 * (the default) adds nothing: all 32 bits are the caller's and any item reads as its bytes.
 * A reader whose codec's tag differs from the item's gets CacheError ERR_CODEC_MISMATCH
 * ('string' also reads untagged items, as text from memcached clients usually is).
 */
import { deserialize, serialize } from 'node:v8';

import { isBytes } from './bytes.js';
import { CacheError, rangeError, typeError } from './errors.js';

/** A user codec: values of type `T` to bytes and back. */
export interface Codec<T> {
  /** The bytes to store for `value` (a Uint8Array; throwing refuses the value, storing nothing). */
  encode(value: T): Uint8Array;
  /** The value of stored bytes (`bytes` is a view valid only during the call if you keep it: copy it). */
  decode(bytes: Buffer): T;
  /** Tag recorded in the flags' top 4 bits, 8..15 (default 15), so readers with another codec are refused. */
  tag?: number;
  /** Name used in error messages. */
  name?: string;
}

/** The codecs {@link Cache.open} takes: a built-in name or a {@link Codec}. */
export type CodecOption = 'bytes' | 'string' | 'json' | 'v8' | Codec<unknown>;

/** Bit position of the tag in the 32-bit flags. */
export const TAG_SHIFT = 28;
/** Largest caller flags under a codec other than 'bytes'. */
export const USER_FLAGS_MAX = 0x0fffffff;

/** A resolved codec (internal): encode may return a string, written as UTF-8 without a copy. */
export interface CodecImpl {
  name: string;
  tag: number;
  /** Tags this codec reads (its own, and 0 for 'string'). */
  reads: (tag: number) => boolean;
  encode(value: unknown): string | Uint8Array;
  decode(bytes: Buffer): unknown;
}

const TAG_NAMES: Record<number, string> = { 0: "'bytes' (untagged)", 1: "'string'", 2: "'json'", 3: "'v8'" };

const BUILTIN: Record<'string' | 'json' | 'v8', CodecImpl> = {
  string: {
    name: "'string'",
    tag: 1,
    reads: (t) => t === 1 || t === 0,
    encode(v) {
      if (typeof v !== 'string')
        throw typeError('ERR_INVALID_ARG_TYPE', `value must be a string (codec 'string'), got ${v === null ? 'null' : typeof v}`);
      return v;
    },
    decode: (b) => b.toString('utf8'),
  },
  json: {
    name: "'json'",
    tag: 2,
    reads: (t) => t === 2,
    encode(v) {
      const s = JSON.stringify(v);
      if (typeof s !== 'string') throw typeError('ERR_INVALID_ARG_VALUE', `value has no JSON form (codec 'json'): ${typeof v}`);
      return s;
    },
    decode: (b) => JSON.parse(b.toString('utf8')) as unknown,
  },
  v8: {
    name: "'v8'",
    tag: 3,
    reads: (t) => t === 3,
    encode: (v) => serialize(v),
    decode: (b) => deserialize(b) as unknown,
  },
};

/** The codec for `option`, or `undefined` for 'bytes' (no codec: the raw path). */
export function resolveCodec(option: unknown): CodecImpl | undefined {
  if (option === undefined || option === 'bytes') return undefined;
  if (option === 'string' || option === 'json' || option === 'v8') return BUILTIN[option];
  if (typeof option === 'object' && option !== null) {
    const c = option as Codec<unknown>;
    // Each read once: the functions checked are the functions called (a getter cannot swap them).
    const encode = c.encode;
    const decode = c.decode;
    if (typeof encode !== 'function' || typeof decode !== 'function')
      throw typeError('ERR_INVALID_ARG_TYPE', 'options.codec must have encode(value) and decode(bytes) functions');
    const tag = c.tag ?? 15;
    if (!Number.isInteger(tag) || tag < 8 || tag > 15)
      throw rangeError('ERR_OUT_OF_RANGE', `options.codec.tag must be an integer from 8 to 15, got ${String(tag)}`);
    const cname = c.name;
    const name = typeof cname === 'string' ? cname : `custom (tag ${tag})`;
    return {
      name,
      tag,
      reads: (t) => t === tag,
      encode(v) {
        const out = encode.call(c, v);
        if (!isBytes(out))
          throw typeError(
            'ERR_INVALID_RETURN_VALUE',
            `codec ${name}: encode must return a Uint8Array, got ${out === null ? 'null' : typeof out}`,
          );
        return out;
      },
      decode: (b) => decode.call(c, b),
    };
  }
  throw typeError(
    'ERR_INVALID_ARG_VALUE',
    `options.codec must be 'bytes', 'string', 'json', 'v8' or { encode, decode }, got ${String(option)}`,
  );
}

/** Encodes `value`; a throwing encoder becomes CacheError ERR_CODEC_ENCODE (argument errors pass as they are). */
export function encodeValue(codec: CodecImpl, value: unknown): string | Uint8Array {
  try {
    return codec.encode(value);
  } catch (e) {
    if ((e as { code?: unknown })?.code !== undefined && (e instanceof TypeError || e instanceof RangeError)) throw e;
    throw new CacheError('ERR_CODEC_ENCODE', `codec ${codec.name}: encode failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }
}

/** The flags to store: the caller's (checked to fit 28 bits) with the codec's tag on top. */
export function tagFlags(codec: CodecImpl, flags: unknown): number {
  if (flags === undefined) return codec.tag * 2 ** TAG_SHIFT;
  if (typeof flags !== 'number') throw typeError('ERR_INVALID_ARG_TYPE', `options.flags must be a number, got ${typeof flags}`);
  if (!Number.isInteger(flags) || flags < 0 || flags > USER_FLAGS_MAX)
    throw rangeError(
      'ERR_OUT_OF_RANGE',
      `options.flags must be an integer from 0 to ${USER_FLAGS_MAX} under codec ${codec.name} (the top 4 bits record the codec), got ${flags}`,
    );
  return codec.tag * 2 ** TAG_SHIFT + flags;
}

/** Decodes an item read with `flags`; CacheError ERR_CODEC_MISMATCH when another codec wrote it. */
export function decodeValue(codec: CodecImpl, bytes: Buffer, flags: number, key: unknown): unknown {
  const tag = flags >>> TAG_SHIFT;
  if (!codec.reads(tag)) {
    const k = typeof key === 'string' ? key : '<bytes>';
    throw new CacheError(
      'ERR_CODEC_MISMATCH',
      `${k}: stored with codec ${TAG_NAMES[tag] ?? `custom (tag ${tag})`}, read with ${codec.name} (flags 0x${flags.toString(16)}): open the cache with the writer's codec, or with codec 'bytes' for the raw bytes`,
    );
  }
  try {
    return codec.decode(bytes);
  } catch (e) {
    throw new CacheError('ERR_CODEC_DECODE', `codec ${codec.name}: decode failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }
}
