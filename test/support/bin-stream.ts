/**
 * memcached binary protocol for tests: request packets, a response framer, and seeded random
 * packet streams for the binary differential test (every opcode memccapable checks and their
 * quiet forms, CAS in headers, incr/decr with initial values, unknown opcodes, too-large values).
 */
import type { Rand } from './diff.js';

/** Binary opcodes. */
export const Op = {
  get: 0x00,
  set: 0x01,
  add: 0x02,
  replace: 0x03,
  delete: 0x04,
  incr: 0x05,
  decr: 0x06,
  quit: 0x07,
  flush: 0x08,
  getq: 0x09,
  noop: 0x0a,
  version: 0x0b,
  getk: 0x0c,
  getkq: 0x0d,
  append: 0x0e,
  prepend: 0x0f,
  stat: 0x10,
  setq: 0x11,
  addq: 0x12,
  replaceq: 0x13,
  deleteq: 0x14,
  incrq: 0x15,
  decrq: 0x16,
  quitq: 0x17,
  flushq: 0x18,
  appendq: 0x19,
  prependq: 0x1a,
  touch: 0x1c,
  gat: 0x1d,
  gatq: 0x1e,
  gatk: 0x23,
  gatkq: 0x24,
} as const;

/** A request packet. */
export function packet(
  op: number,
  o: { key?: Buffer | string; extras?: Buffer; value?: Buffer | string; cas?: bigint; opaque?: number } = {},
): Buffer {
  const key = typeof o.key === 'string' ? Buffer.from(o.key) : (o.key ?? Buffer.alloc(0));
  const value = typeof o.value === 'string' ? Buffer.from(o.value) : (o.value ?? Buffer.alloc(0));
  const extras = o.extras ?? Buffer.alloc(0);
  const h = Buffer.alloc(24);
  h[0] = 0x80;
  h[1] = op;
  h.writeUInt16BE(key.length, 2);
  h[4] = extras.length;
  h.writeUInt32BE(extras.length + key.length + value.length, 8);
  h.writeUInt32BE(o.opaque ?? 0, 12);
  h.writeBigUInt64BE(o.cas ?? 0n, 16);
  return Buffer.concat([h, extras, key, value]);
}

/** A decoded response packet. */
export interface BinResponse {
  op: number;
  status: number;
  extras: Buffer;
  key: Buffer;
  value: Buffer;
  opaque: number;
  cas: bigint;
}

/** Splits bytes into complete response packets; `rest` is an incomplete tail. */
export function parseResponses(b: Buffer): { packets: BinResponse[]; rest: Buffer } {
  const packets: BinResponse[] = [];
  let pos = 0;
  while (b.length - pos >= 24) {
    if (b[pos] !== 0x81) throw new Error(`bad response magic 0x${b.readUInt8(pos).toString(16)} at ${pos}`);
    const keylen = b.readUInt16BE(pos + 2);
    const extlen = b.readUInt8(pos + 4);
    const body = b.readUInt32BE(pos + 8);
    if (b.length - pos < 24 + body) break;
    const s = pos + 24;
    packets.push({
      op: b.readUInt8(pos + 1),
      status: b.readUInt16BE(pos + 6),
      extras: b.subarray(s, s + extlen),
      key: b.subarray(s + extlen, s + extlen + keylen),
      value: b.subarray(s + extlen + keylen, s + body),
      opaque: b.readUInt32BE(pos + 12),
      cas: b.readBigUInt64BE(pos + 16),
    });
    pos += 24 + body;
  }
  return { packets, rest: b.subarray(pos) };
}

/** The sync packet appended to each batch: a NOOP with this opaque. */
export const SYNC_OPAQUE = 0x5eed5eed;

const KEYS = ['b0', 'b1', 'b2', 'cnt', 'x'.repeat(250)];

function extrasSet(flags: number, exptime: number): Buffer {
  const e = Buffer.alloc(8);
  e.writeUInt32BE(flags >>> 0, 0);
  e.writeUInt32BE(exptime >>> 0, 4);
  return e;
}

/** One random request; `casOf(key)` gives the CAS this side last saw for key. */
export type BinCommand = (casOf: (key: string) => bigint) => Buffer;

export function randomBinCommand(r: Rand): { make: BinCommand; alone?: boolean } {
  const key = r.pick(KEYS);
  const opaque = r.int(0, 0xffff);
  const exptime = r.pick([0, 0, 0, 100, 3600, 0xffffffff, 1000000000]);
  const value = () => (r.int(0, 3) === 0 ? Buffer.from(String(r.int(0, 500))) : r.bytes(r.int(0, 30)));
  // Every random choice is drawn here, never inside make(): make runs once per side.
  const casMode = r.int(0, 5);
  const wrongCas = BigInt(r.int(1, 99999));
  const cas = (casOf: (k: string) => bigint) => (casMode === 0 ? casOf(key) : casMode === 1 ? wrongCas : 0n);
  const kind = r.weighted({
    get: 10,
    getk: 5,
    getq: 5,
    getkq: 4,
    set: 12,
    setq: 5,
    add: 4,
    addq: 2,
    replace: 4,
    replaceq: 2,
    append: 3,
    appendq: 2,
    prepend: 3,
    prependq: 2,
    delete: 5,
    deleteq: 3,
    incr: 6,
    incrq: 3,
    decr: 4,
    decrq: 2,
    touch: 3,
    gat: 3,
    gatq: 2,
    gatk: 2,
    gatkq: 2,
    flush: 1,
    flushq: 1,
    noop: 2,
    version: 1,
    unknown: 2,
    toolarge: 1,
    stat: 1,
  });
  switch (kind) {
    case 'get':
    case 'getk':
    case 'getq':
    case 'getkq':
      return { make: () => packet(Op[kind], { key, opaque }) };
    case 'set':
    case 'setq':
    case 'add':
    case 'addq':
    case 'replace':
    case 'replaceq': {
      const v = value();
      const flags = r.pick([0, 1, 0xffffffff, r.int(0, 1000)]);
      return { make: (c) => packet(Op[kind], { key, opaque, extras: extrasSet(flags, exptime), value: v, cas: cas(c) }) };
    }
    case 'append':
    case 'appendq':
    case 'prepend':
    case 'prependq': {
      const v = value();
      return { make: (c) => packet(Op[kind], { key, opaque, value: v, cas: cas(c) }) };
    }
    case 'delete':
    case 'deleteq':
      return { make: (c) => packet(Op[kind], { key, opaque, cas: cas(c) }) };
    case 'incr':
    case 'incrq':
    case 'decr':
    case 'decrq': {
      const e = Buffer.alloc(20);
      e.writeBigUInt64BE(BigInt(r.pick([0, 1, 5, 1000, r.int(0, 100000)])), 0);
      e.writeBigUInt64BE(BigInt(r.pick([0, 7, 123456])), 8);
      e.writeUInt32BE(r.pick([0, 0xffffffff, 100]), 16);
      const k = r.pick(['cnt', key]);
      // Alone: see proto-stream.ts (memcached's in-place rewrite depends on replies in flight).
      return { make: () => packet(Op[kind], { key: k, opaque, extras: e }), alone: true };
    }
    case 'touch':
    case 'gat':
    case 'gatq':
    case 'gatk':
    case 'gatkq': {
      const e = Buffer.alloc(4);
      e.writeUInt32BE(exptime >>> 0, 0);
      return { make: () => packet(Op[kind], { key, opaque, extras: e }) };
    }
    case 'flush':
    case 'flushq':
      return { make: () => packet(Op[kind], { opaque }) };
    case 'noop':
    case 'version':
      return { make: () => packet(Op[kind], { opaque }) };
    case 'stat':
      return { make: () => packet(Op.stat, { key: 'nosuchgroup', opaque }) };
    case 'unknown': {
      // Body only: memcached 1.6.18 swallows keylen + extlen bytes too many after an unknown
      // opcode that has a key or extras (a bug we do not copy; see server.test.ts).
      const op = r.pick([0x30, 0x45, 0xfe, 0x1b]);
      return { make: () => packet(op, { opaque, value: 'abc' }) };
    }
    case 'toolarge': {
      const op = r.pick([Op.set, Op.setq, Op.add]);
      return { make: () => packet(op, { key, opaque, extras: extrasSet(0, 0), value: Buffer.alloc(2_000_000, 0x41) }) };
    }
  }
  return { make: () => packet(Op.noop, { opaque }) };
}

/** Malformed packets after which memcached answers and closes the connection. */
export const closingPackets: Buffer[] = [
  packet(Op.get, { key: 'k', extras: Buffer.alloc(4) }), // a get with extras
  packet(Op.set, { key: 'k', value: 'v' }), // a set without its 8 bytes of extras
  packet(Op.noop, { key: 'k' }), // a noop with a key
  packet(Op.incr, { key: 'k', extras: Buffer.alloc(8) }), // incr with short extras
  packet(Op.get, { key: 'y'.repeat(251) }), // key over 250
  (() => {
    const p = packet(Op.get, { key: 'k' });
    p.writeUInt32BE(0, 8); // body shorter than the key
    return p;
  })(),
  Buffer.concat([packet(Op.noop, { opaque: 9 }), Buffer.alloc(24, 0x81)]), // bad magic after a good packet
];
