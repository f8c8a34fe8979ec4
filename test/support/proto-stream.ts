/**
 * Seeded random streams of raw text-protocol bytes for the server differential test: every text
 * command, noreply, pipelined batches, expiry by absolute and negative times, incr/decr edges, and
 * bad input (unknown commands, long keys, bad data chunks, bad lengths, bad numbers).
 *
 * A batch is written in one go. `cas` commands carry a placeholder that each side fills with the
 * CAS value it last returned for the key (so both get a matching or a stale CAS alike).
 */
import { swap } from '../../bench/lib/rng.js';
import { Rand } from './diff.js';

/**
 * Which memcached the stream is compared with. shmcached answers as memcached 1.6.4x; against
 * Debian's 1.6.18 the stream leaves out exactly the inputs whose replies changed between the two
 * (docs/protocol.md, "Differences from memcached 1.6.18"): short and blank lines, known commands
 * with too few tokens, a cas without its CAS value, extra arguments that 1.6.4x ignores, a quiet
 * ma that vivifies, an md with a bad flag, `+N` numbers; and a bad data chunk is followed by a
 * full command instead of a bare newline.
 */
export type PeerProfile = '1.6.18' | '1.6.45';
let profile: PeerProfile = '1.6.18';
const modern = (): boolean => profile !== '1.6.18';

/** Placeholder in a batch for "this server's last CAS for key". */
export const casPlaceholder = (key: string): string => `\u0001CAS:${key}\u0001`;

const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'num', 'n2', 'a:b', 'K'.repeat(250)];
const LONG_KEY = 'L'.repeat(251);

function value(r: Rand): Buffer {
  switch (r.int(0, 5)) {
    case 0:
      return Buffer.from(String(r.int(0, 1000)));
    case 1:
      return Buffer.alloc(0);
    case 2: {
      // binary bytes, CR LF included, but never the sync answer's "MN"
      const b = r.bytes(r.int(1, 40));
      for (let i = 0; i < b.length; i++) if (b[i] === 0x4d) b[i] = 0x6d;
      // never all white space: memcached's incr then parses bytes past the value (see differential.test.ts)
      if (b.every((c) => c === 0x20 || (c >= 0x09 && c <= 0x0d))) b[0] = 0x7a;
      return b;
    }
    default:
      return Buffer.from('v'.repeat(r.int(1, 30)) + String(r.int(0, 9)));
  }
}

// 1.6.4x swallows the data block of a storage command whose flags or exptime do not parse (1.6.18
// reads it as a command): against 1.6.18 storage commands get valid ones (`bad` says so).
function exptime(r: Rand, bad = true): string {
  const t = r.pick([
    '0',
    '0',
    '0',
    '100',
    '3600',
    '-1',
    '-100',
    '1000000000',
    String(Math.floor(Date.now() / 1000) + 7200),
    'x',
    '2592000',
  ]);
  return t === 'x' && !bad ? '0' : t;
}

function flags(r: Rand): string {
  const f = r.pick(['0', '0', '1', '4294967295', '4294967296', '007', '-1', 'abc', String(r.int(0, 65535))]);
  return !modern() && (f === '-1' || f === 'abc') ? '7' : f;
}

function noreply(r: Rand): string {
  return r.int(0, 5) === 0 ? ' noreply' : '';
}

/** One command's bytes (a line, with its data block for storage commands). */
export function randomCommand(r: Rand): { bytes: string; alone?: boolean } {
  const key = r.pick(KEYS);
  const kind = r.weighted({
    set: 14,
    add: 4,
    replace: 4,
    append: 4,
    prepend: 3,
    cas: 5,
    get: 12,
    gets: 6,
    gat: 3,
    gats: 2,
    touch: 3,
    delete: 5,
    incr: 7,
    decr: 5,
    flush: 1,
    verbosity: 1,
    version: 1,
    bad: 5,
    badchunk: 3,
    longkey: 3,
    badlen: 2,
    stats: 1,
    meta: 30,
  });
  const v = value(r);
  const data = (b: Buffer) => b.toString('latin1');
  switch (kind) {
    case 'set':
    case 'add':
    case 'replace':
    case 'append':
    case 'prepend':
      return { bytes: `${kind} ${key} ${flags(r)} ${exptime(r, modern())} ${v.length}${noreply(r)}\r\n${data(v)}\r\n` };
    case 'cas': {
      const c = r.int(0, 3) === 0 ? String(r.int(0, 99999)) : r.int(0, 9) === 0 && modern() ? 'x' : casPlaceholder(key);
      return { bytes: `cas ${key} ${flags(r)} ${exptime(r, modern())} ${v.length} ${c}${noreply(r)}\r\n${data(v)}\r\n` };
    }
    case 'get':
    case 'gets': {
      const n = r.int(1, r.int(0, 4) === 0 ? 30 : 4);
      const ks = Array.from({ length: n }, () => r.pick(KEYS));
      return { bytes: `${kind} ${ks.join(r.int(0, 5) === 0 ? '  ' : ' ')}\r\n` };
    }
    case 'gat':
    case 'gats':
      return { bytes: `${kind} ${exptime(r)} ${key}${r.int(0, 1) ? ` ${r.pick(KEYS)}` : ''}\r\n` };
    case 'touch':
      return { bytes: `touch ${key} ${exptime(r)}${noreply(r)}\r\n` };
    case 'delete':
      return { bytes: `delete ${key}${r.pick(['', '', ' 0', ' noreply', ' 0 noreply', ...(modern() ? [' 1', ' x y z'] : [])])}\r\n` };
    case 'incr':
    case 'decr': {
      const d = r.pick(['1', '0', '7', '1000', '-1', 'abc', '18446744073709551616', modern() ? '+5' : '5', String(r.int(0, 100000))]);
      // Alone: memcached rewrites a number in place only while no reply still holds the item,
      // so after a get of the same key in the same read it makes a new item (no padding).
      return { bytes: `${kind} ${r.pick(['num', 'n2', key])} ${d}${noreply(r)}\r\n`, alone: true };
    }
    case 'flush':
      return {
        bytes: r.pick([
          'flush_all\r\n',
          'flush_all 0\r\n',
          'flush_all -1\r\n',
          'flush_all noreply\r\n',
          'flush_all x\r\n',
          modern() ? 'flush_all 0 2 3\r\n' : 'flush_all 0\r\n',
        ]),
      };
    case 'verbosity':
      return {
        bytes: r.pick(['verbosity 1\r\n', modern() ? 'verbosity\r\n' : 'verbosity 1\r\n', 'verbosity x\r\n', 'verbosity 0 noreply\r\n']),
      };
    case 'version':
      return { bytes: 'version\r\n' };
    case 'stats':
      return { bytes: r.pick(['stats foo\r\n', 'stats detail\r\n', 'stats detail on\r\n', 'stats detail off\r\n']) };
    case 'bad': {
      const both = ['foo\r\n', 'GET k0\r\n', 'get\u0000 k0\r\n', 'mx\r\n', 'sets k0 0 0 1\r\n'];
      // memcached 1.6.4x: a format error where 1.6.18 said ERROR (see PeerProfile)
      const changed = [
        '\r\n',
        '\n',
        ' \r\n',
        'x\r\n',
        'set\r\n',
        'get\r\n',
        'incr k0\r\n',
        'set k0 0 0\r\n',
        'touch k0\r\n',
        'cas k0 0 0 1\r\nx\r\n',
        'gets\r\n',
        'decr\r\n',
        'delete\r\n',
        'replace k0 0 0\r\n',
        'gat 1\r\n',
        'cas k0 0 0 1 noreply\r\nx\r\n',
        'set k0\t0 0 1\r\n',
      ];
      return { bytes: r.pick(modern() ? [...both, ...changed] : both) };
    }
    case 'badchunk': {
      // Declared longer: the data block's last two bytes are not CRLF, then a CRLF (an empty
      // command). Declared shorter: the block ends inside the value.
      const cmd = `${r.pick(['set', 'add', 'append'])} ${key} 0 0`;
      // Against 1.6.18 the rest after the block is a whole command, not a bare newline (which
      // 1.6.4x answers with a format error).
      const tail = modern() ? '\r\n' : 'version\r\n';
      if (r.int(0, 1)) {
        const k = r.int(1, 3);
        return { bytes: `${cmd} ${v.length + k}${noreply(r)}\r\n${data(v)}${'Q'.repeat(k + 2)}${tail}` };
      }
      if (modern()) return { bytes: `${cmd} ${Math.max(0, v.length - 1)}${noreply(r)}\r\n${data(v)}\r\n` };
      return { bytes: `${cmd} ${Math.max(0, v.length - 1)}${noreply(r)}\r\n${data(v)}Z${tail}` };
    }
    case 'longkey':
      // memcached 1.6.18 drops the reply before a get's key error when pipelined: sent alone.
      // (1.6.4x ends a get's key error with an empty line: compared only with one)
      return r.int(0, 1) && modern()
        ? { bytes: `get k0 ${LONG_KEY}\r\n`, alone: true }
        : modern()
          ? { bytes: `${r.pick(['set', 'incr', 'delete', 'touch'])} ${LONG_KEY} ${r.pick(['0 0 1\r\nx', '1', '0'])}\r\n` }
          : { bytes: r.pick([`incr ${LONG_KEY} 1\r\n`, `delete ${LONG_KEY}\r\n`, `touch ${LONG_KEY} 0\r\n`]) };
    case 'meta': {
      const bytes = randomMeta(r, key);
      return { bytes, alone: bytes.startsWith('ma ') };
    }
    case 'badlen':
      return { bytes: `set ${key} 0 0 ${r.pick(['-1', 'x', '2147483647x', '-5'])}\r\nabc\r\n` };
  }
  return { bytes: 'version\r\n' };
}

const META_KEYS = ['k0', 'k1', 'num', 'mk'];

function pickFlags(r: Rand, pool: string[]): string[] {
  const out: string[] = [];
  for (const f of pool) if (r.int(0, 2) === 0) out.push(f);
  // shuffle: return flags come back in request order
  for (let i = out.length - 1; i > 0; i--) {
    swap(out, i, r.int(0, i));
  }
  return out;
}

/** One meta command (mg, ms, md, ma, mn) with random flags, now and then a bad one. */
export function randomMeta(r: Rand, fallbackKey: string): string {
  const key = r.int(0, 5) === 0 ? fallbackKey : r.pick(META_KEYS);
  const ttl = () => r.pick(['0', '100', '3600', '-1']);
  const opaque = () => `O${r.int(0, 99999)}`;
  const line = (cmd: string, k: string, flags: string[]) => [cmd, k, ...flags].join(' ');
  switch (r.weighted({ mg: 10, ms: 8, md: 4, ma: 5, bad: 2, b64: 1 })) {
    case 'mg':
      return `${line(
        'mg',
        key,
        pickFlags(r, [
          'v',
          'f',
          't',
          's',
          'c',
          'k',
          opaque(),
          'q',
          'h',
          'l',
          'u',
          `T${ttl()}`,
          `N${ttl()}`,
          `R${r.pick(['30', '200', '5000'])}`,
        ]),
      )}\r\n`;
    case 'ms': {
      const v = r.int(0, 3) === 0 ? String(r.int(0, 100)) : 'm'.repeat(r.int(0, 12));
      const pool = [`F${r.int(0, 9)}`, `T${ttl()}`, 'c', 'k', opaque(), 'q', `M${r.pick(['S', 'E', 'A', 'P', 'R'])}`];
      if (modern()) pool.push('s', `E${r.int(1, 1_000_000)}`, `N${ttl()}`);
      const flags = pickFlags(r, pool);
      if (r.int(0, 4) === 0) {
        flags.push(r.int(0, 1) ? `C${casPlaceholder(key)}` : `C${r.int(1, 999)}`);
        if (r.int(0, 1)) flags.push('I'); // an older CAS then stores a stale value
      }
      const bad = r.int(0, 12) === 0;
      return `${line('ms', key, [String(v.length), ...flags])}\r\n${v}${bad ? (modern() ? 'QQ' : 'QQversion') : ''}\r\n`;
    }
    case 'md': {
      const flags = pickFlags(r, ['q', 'k', opaque(), 'I', `T${r.pick(['30', '100'])}`, ...(modern() ? ['x', `E${r.int(1, 999)}`] : [])]);
      if (r.int(0, 4) === 0) flags.push(r.int(0, 1) ? `C${casPlaceholder(key)}` : `C${r.int(1, 999)}`);
      return `${line('md', key, flags)}\r\n`;
    }
    case 'ma': {
      const k = r.pick(['num', 'cnt', key]);
      const flags = pickFlags(r, [
        `N${ttl()}`,
        `J${r.int(0, 50)}`,
        `D${r.pick(['1', '5', '100', '0'])}`,
        `M${r.pick(['I', 'D', '+', '-'])}`,
        'v',
        'c',
        'q',
        'k',
        't',
        `T${ttl()}`,
        ...(modern() ? [`E${r.int(1, 999)}`] : []),
        opaque(),
      ]);
      // 1.6.18 shows the reply of a quiet ma that created the item; 1.6.4x hides it too
      if (!modern() && flags.includes('q') && flags.some((f) => f.startsWith('N'))) flags.splice(flags.indexOf('q'), 1);
      if (r.int(0, 6) === 0) flags.push(`C${casPlaceholder(k)}`);
      return `${line('ma', k, flags)}\r\n`;
    }
    case 'b64':
      // base64 keys: "bWsx" is "mk1"
      return r.int(0, 1) ? `ms bWsx 2 b${r.int(0, 1) ? ' k' : ''}\r\nbb\r\n` : `mg bWsx b v${r.int(0, 1) ? ' k' : ''}\r\n`;
    default:
      return r.pick([
        modern() ? 'mg\r\n' : 'mg k0 zz\r\n',
        'ms k0\r\n',
        'mg k0 zz\r\n',
        'mg k0 v v\r\n',
        `mg k0 O${'x'.repeat(40)}\r\n`,
        'ms k0 2 MX\r\nab\r\n',
        'ms k0 x\r\nab\r\n',
        modern() ? 'md k0 zz\r\n' : 'mg k0 zz\r\n',
        'ma k0 MX\r\n',
        'ma num Dx\r\n',
        'ma num Jx N0\r\n',
        'mg k0 Tx\r\n',
        'ms k0 2 S1\r\nab\r\n',
        'mg bad! b\r\n',
        'ms k0 2 Fx\r\nab\r\n',
        `mg k0 ${Array.from({ length: 20 }, (_, i) => `O${i}`).join(' ')}\r\n`,
      ]);
  }
}

/**
 * Batches of commands: most of one command, some pipelined runs of up to 20, for comparison with
 * `peer` (default 1.6.18, see {@link PeerProfile}).
 */
export function randomBatches(seed: number, commands: number, peer: PeerProfile = '1.6.18'): string[] {
  profile = peer;
  const r = new Rand(seed);
  const out: string[] = [];
  let cur: string[] = [];
  const target = () => (r.int(0, 2) === 0 ? r.int(2, 20) : 1);
  let size = target();
  for (let i = 0; i < commands; i++) {
    const c = randomCommand(r);
    if (c.alone) {
      if (cur.length) out.push(cur.join(''));
      out.push(c.bytes);
      cur = [];
      size = target();
      continue;
    }
    cur.push(c.bytes);
    if (cur.length >= size) {
      out.push(cur.join(''));
      cur = [];
      size = target();
    }
  }
  if (cur.length) out.push(cur.join(''));
  return out;
}
