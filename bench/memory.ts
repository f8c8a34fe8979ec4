/**
 * `npm run bench -- memory`: how many items fit in 64 MiB before the first eviction, shmcached
 * against a real `memcached -m 64` started here, for 100 B, 1 KB and 10 KB values, each at key
 * lengths of 8, 13, 24 and 40 bytes, and a sweep of value sizes (slab class boundaries decide the count, and the key length
 * moves an item across them).
 *
 * Method: for each value size and key length, a fresh 64 MiB store on each side (`Cache.open({ size: '64mb',
 * evict: true, reset: true })` and `memcached -m 64`, both at their default item size limit and
 * slab classes); keys of exactly that length ('k0000000', 'k0000001', ...) are stored in order, in batches (pipelined on
 * memcached), and after every batch `stats` is read; at the first batch that evicted anything,
 * `curr_items` is the number of items that fit (with one slab class in use, each further set
 * evicts exactly one item, so the count holds still from then on). The count does not depend on
 * timing, so one pass is enough. Overhead per item = the store's memory ÷ items − (key + value
 * bytes), with the memory counted as `limit_maxbytes` (the -m budget) and again with the hash
 * table (`hash_bytes`), which both keep outside that budget.
 *
 * The sweep (beside those points, so a verdict cannot rest on one lucky class boundary): the same
 * fill at 20 value sizes spaced evenly on a log scale from 64 B to 8 KiB, 13-byte keys, with the
 * chunk size each store put the items in (`stats slabs`), and the mean and lowest ratio.
 */
import { readFileSync, statSync } from 'node:fs';
import { partArgs, positiveInt } from './lib/args.js';
import { fmtBytes, fmtRatio, markdownTable, type Align } from './lib/format.js';
import { gitInfo, machineInfo } from './lib/machine.js';
import { printReport, reportHead, writePartFiles } from './lib/report.js';
import { benchRegionPath, loadShmcached, removeRegion, type ShmCache } from './lib/shm.js';
import { startMemcached, TextConnection } from './lib/memcached.js';
import { Progress } from './lib/progress.js';
import type { Metric, PartOutput } from './lib/part.js';

/** One line for `npm run bench -- list`. */
export const description =
  'items per 64 MiB before the first eviction (100 B, 1 KB, 10 KB values), and memory held under a TTL churn, shmcached vs memcached -m 64';

const MIB = 2 ** 20;
/** The target (issue 18): at 100 B and 1 KB values and every key length, shmcached holds ≥ 1.1× memcached's items. */
const TARGET = { sizes: [100, 1024], min: 1.1 };

/** The key of item `i`, exactly `len` bytes: 'k' and the number, zero-padded. */
const keyOf = (i: number, len: number): string => `k${String(i).padStart(len - 1, '0')}`;

/** The sweep: value sizes evenly spaced on a log scale (no target; it shows whether a gain is general). */
/** The budget of each store, MiB (`--mb`; the targets are at 64, memcached's default `-m`). */
let regionMb = 64;

const SWEEP = { keyLen: 13, from: 64, to: 8192, points: 20, quickPoints: 8 };

/** `n` sizes from `from` to `to`, evenly spaced on a log scale, rounded to whole bytes. */
function logSizes(from: number, to: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.round(from * (to / from) ** (n > 1 ? i / (n - 1) : 0)));
}

/** The chunk size of the class holding the most pages in a `stats slabs` reply (NaN when none). */
function fullestChunk(slabs: Record<string, unknown>): number {
  let best = Number.NaN;
  let pages = -1;
  for (const [k, v] of Object.entries(slabs)) {
    const m = /^(\d+):total_pages$/.exec(k);
    if (!m || num(v) <= pages) continue;
    pages = num(v);
    best = num(slabs[`${m[1]}:chunk_size`]);
  }
  return best;
}

interface Fill {
  items: number;
  /** Bytes of key + value per item, on average over the items stored. */
  payload: number;
  limitBytes: number;
  hashBytes: number;
  /** Sets issued until the first eviction was seen. */
  sets: number;
  extra?: Record<string, number>;
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v ?? Number.NaN);
}

/** A store being filled: what {@link fillUntilEviction} needs of it. */
interface FillTarget {
  /** Stores `count` copies of the value under 'key:<from>' .. 'key:<from + count - 1>'. */
  setBatch(from: number, count: number): void | Promise<void>;
  stats(): Record<string, unknown> | Promise<Record<string, unknown>>;
  /** Whole-footprint readings, taken once the store is full. */
  footprint(): Record<string, number> | Promise<Record<string, number>>;
}

/**
 * Stores keys in order, `batch` at a time, reading `stats` after each batch, until a batch evicted
 * something: then `curr_items` is what fits.
 */
async function fillUntilEviction(t: FillTarget, size: number, keyLen: number, batch: number): Promise<Fill> {
  let i = 0;
  for (;;) {
    await t.setBatch(i, batch);
    i += batch;
    const s = await t.stats();
    if (num(s.evictions) > 0) {
      const items = num(s.curr_items);
      return {
        items,
        payload: keyLen + size,
        limitBytes: num(s.limit_maxbytes),
        hashBytes: num(s.hash_bytes),
        sets: i,
        extra: await t.footprint(),
      };
    }
    if (i > 64 * MIB || String(i).length >= keyLen) throw new Error(`no eviction after ${i} sets`);
  }
}

async function fillShm(Cache: { open(o: object): ShmCache }, size: number, keyLen: number, batch: number): Promise<Fill> {
  const path = benchRegionPath(`mem-${size}-${keyLen}`);
  const c = Cache.open({ path, size: `${regionMb}mb`, evict: true, reset: true });
  const value = Buffer.alloc(size, 'v');
  try {
    return await fillUntilEviction(
      {
        setBatch: (from, count) => {
          for (let i = from; i < from + count; i++) c.set(keyOf(i, keyLen), value);
        },
        stats: () => c.stats!() as Record<string, unknown>,
        footprint: () => {
          let fileBytes = Number.NaN;
          try {
            fileBytes = statSync(path).size;
          } catch {
            /* not a file */
          }
          return { fileBytes, chunk: fullestChunk(c.stats!('slabs') as Record<string, unknown>) };
        },
      },
      size,
      keyLen,
      batch,
    );
  } finally {
    c.close();
    removeRegion(path);
  }
}

async function fillMemcached(size: number, keyLen: number, batch: number): Promise<Fill> {
  const server = await startMemcached(['-m', String(regionMb)]);
  const conn = await TextConnection.connect(server.port);
  const value = Buffer.alloc(size, 'v');
  try {
    return await fillUntilEviction(
      {
        setBatch: async (from, count) => {
          const parts: Buffer[] = [];
          for (let i = from; i < from + count; i++)
            parts.push(Buffer.from(`set ${keyOf(i, keyLen)} 0 0 ${size}\r\n`), value, Buffer.from('\r\n'));
          const replies = await conn.batch(Buffer.concat(parts), count);
          const bad = replies.find((r) => r !== 'STORED');
          if (bad) throw new Error(`memcached answered '${bad}' to a set`);
        },
        stats: () => conn.stats(),
        footprint: async () => {
          let rssBytes = Number.NaN;
          try {
            const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'));
            if (m) rssBytes = Number(m[1]) * 1024;
          } catch {
            /* no /proc */
          }
          return { rssBytes, chunk: fullestChunk(await conn.stats('slabs')) };
        },
      },
      size,
      keyLen,
      batch,
    );
  } finally {
    conn.close();
    await server.stop();
  }
}

/** TTL churn (issue 20): short-lived items replaced continuously, at a steady rate, in wall time. */
const CHURN = { value: 1000, ttl: 1, batch: 200, tickMs: 20 };

interface Churn {
  seconds: number;
  sets: number;
  /** curr_items at the end: items held, live ones and dead ones not freed yet. */
  items: number;
  /** Live items at the end: hits among the keys set in the last TTL + 1 s (probed after the stats). */
  live: number;
  /** `stats slabs` total_malloced at the end: slab memory taken from the budget. */
  malloced: number;
  reclaimed: number;
  crawlerReclaimed: number;
  evictions: number;
}

/** Runs `setBatch(from, count)` every tick for `seconds`, then reads the stats. */
async function churn(
  seconds: number,
  setBatch: (from: number, count: number) => void | Promise<void>,
  stats: () => Promise<{ general: Record<string, unknown>; slabs: Record<string, unknown> }>,
  hits: (from: number, count: number) => number | Promise<number>,
): Promise<Churn> {
  const t0 = Date.now();
  let i = 0;
  for (let tick = 1; Date.now() - t0 < seconds * 1000; tick++) {
    await setBatch(i, CHURN.batch);
    i += CHURN.batch;
    const wait = t0 + tick * CHURN.tickMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const { general: g, slabs } = await stats();
  const recent = Math.min(i, ((CHURN.ttl + 1) * 1000 * CHURN.batch) / CHURN.tickMs);
  const live = await hits(i - recent, recent);
  return {
    seconds: (Date.now() - t0) / 1000,
    sets: i,
    items: num(g.curr_items),
    live,
    malloced: num(slabs.total_malloced),
    reclaimed: num(g.reclaimed),
    crawlerReclaimed: num(g.crawler_reclaimed),
    evictions: num(g.evictions),
  };
}

async function churnShm(Cache: { open(o: object): ShmCache }, seconds: number): Promise<Churn> {
  const path = benchRegionPath('mem-churn');
  const c = Cache.open({ path, size: `${regionMb}mb`, evict: true, reset: true });
  const value = Buffer.alloc(CHURN.value, 'v');
  try {
    return await churn(
      seconds,
      (from, count) => {
        for (let i = from; i < from + count; i++) c.set(`churn:${i}`, value, { ttl: CHURN.ttl });
      },
      async () => ({ general: c.stats!() as Record<string, unknown>, slabs: c.stats!('slabs') as Record<string, unknown> }),
      (from, count) => {
        let n = 0;
        for (let i = from; i < from + count; i++) if (c.get(`churn:${i}`) !== undefined) n++;
        return n;
      },
    );
  } finally {
    c.close();
    removeRegion(path);
  }
}

async function churnMemcached(seconds: number): Promise<Churn> {
  const server = await startMemcached(['-m', String(regionMb)]);
  const conn = await TextConnection.connect(server.port);
  const value = Buffer.alloc(CHURN.value, 'v');
  try {
    return await churn(
      seconds,
      async (from, count) => {
        const parts: Buffer[] = [];
        for (let i = from; i < from + count; i++)
          parts.push(Buffer.from(`set churn:${i} 0 ${CHURN.ttl} ${CHURN.value}\r\n`), value, Buffer.from('\r\n'));
        const replies = await conn.batch(Buffer.concat(parts), count);
        const bad = replies.find((r) => r !== 'STORED');
        if (bad) throw new Error(`memcached answered '${bad}' to a set`);
      },
      async () => ({ general: await conn.stats(), slabs: await conn.stats('slabs') }),
      async (from, count) => {
        // Meta get without flags: one line per key, HD (hit) or EN (miss).
        let lines = '';
        for (let i = from; i < from + count; i++) lines += `mg churn:${i}\r\n`;
        const replies = await conn.batch(lines, count);
        return replies.filter((r) => r === 'HD').length;
      },
    );
  } finally {
    conn.close();
    await server.stop();
  }
}

/** Runs the part; prints the table, writes the results (unless --no-write) and returns them. */
export async function run(args: string[]): Promise<PartOutput> {
  const { values, quick, write } = partArgs(
    args,
    `npm run bench -- memory [options]
  --sizes A,B    value sizes in bytes, 1k = 1024 (default 100,1024,10240)
  --keys A,B     key lengths in bytes, 8..250 (default 8,13,24,40)
  --mb N         each store's budget in MiB (default 64, where the targets are; the slab table
                 depends on it: docs/architecture.md)
  --sweep A,B    value sizes of the sweep (13 B keys; default 20 sizes from 64 B to 8 KiB on a log
                 scale, 8 with --quick); 0 skips it
  --quick        the TTL-churn row runs 4 s per store instead of 10 s (the fill counts do not depend on timing)
  --no-write     print only; do not write bench/results/`,
  );
  const sizes = (values.sizes ?? '100,1024,10240').split(',').map((s) => {
    const n = Number(s.trim().toLowerCase().replace(/k$/, '')) * (/k$/i.test(s.trim()) ? 1024 : 1);
    if (!Number.isInteger(n) || n <= 0) throw new RangeError(`--sizes: '${s}' is not a positive size`);
    return n;
  });
  const keyLens = (values.keys ?? '8,13,24,40').split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 8 || n > 250) throw new RangeError(`--keys: '${s}' is not a key length in 8..250`);
    return n;
  });
  regionMb = positiveInt(values.mb, 64, 'mb');
  const sweepSizes =
    values.sweep === undefined
      ? logSizes(SWEEP.from, SWEEP.to, quick ? SWEEP.quickPoints : SWEEP.points)
      : values.sweep.trim() === '0'
        ? []
        : values.sweep.split(',').map((s) => {
            const n = Number(s.trim());
            if (!Number.isInteger(n) || n <= 0) throw new RangeError(`--sweep: '${s}' is not a positive size`);
            return n;
          });
  const started = new Date();
  const machine = machineInfo();
  const git = gitInfo();
  const shm = await loadShmcached();
  const churnSeconds = quick ? 4 : 10;
  const progress = new Progress((sizes.length * keyLens.length + sweepSizes.length) * 2 + 2);
  type Row = { size: number; keyLen: number; shm?: Fill; mc?: Fill; shmError?: string; mcError?: string };
  const fillBoth = async (size: number, keyLen: number, what: string): Promise<Row> => {
    const r: Row = { size, keyLen };
    const batch = size >= 4096 ? 64 : 1000;
    progress.tick(`${what}${fmtBytes(size)}, ${keyLen} B keys, shmcached`);
    if (shm.ok) {
      try {
        r.shm = await fillShm(shm.Cache, size, keyLen, batch);
      } catch (e) {
        r.shmError = e instanceof Error ? e.message : String(e);
      }
    } else r.shmError = shm.reason;
    progress.tick(`${what}${fmtBytes(size)}, ${keyLen} B keys, memcached`);
    try {
      r.mc = await fillMemcached(size, keyLen, batch);
    } catch (e) {
      r.mcError = e instanceof Error ? e.message : String(e);
    }
    return r;
  };
  const results: Row[] = [];
  const sweep: Row[] = [];
  const t0 = Date.now();
  for (const size of sizes) for (const keyLen of keyLens) results.push(await fillBoth(size, keyLen, ''));
  for (const size of sweepSizes) sweep.push(await fillBoth(size, SWEEP.keyLen, 'sweep: '));
  const ch: { shm?: Churn; mc?: Churn; shmError?: string; mcError?: string } = {};
  progress.tick('TTL churn shmcached');
  if (shm.ok) {
    try {
      ch.shm = await churnShm(shm.Cache, churnSeconds);
    } catch (e) {
      ch.shmError = e instanceof Error ? e.message : String(e);
    }
  } else ch.shmError = shm.reason;
  progress.tick('TTL churn memcached');
  try {
    ch.mc = await churnMemcached(churnSeconds);
  } catch (e) {
    ch.mcError = e instanceof Error ? e.message : String(e);
  }
  progress.end();
  const elapsedS = (Date.now() - t0) / 1000;

  const perItem = (f: Fill | undefined, withHash: boolean): number =>
    f ? (f.limitBytes + (withHash ? f.hashBytes : 0)) / f.items - f.payload : Number.NaN;
  const n0 = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
  const isTarget = (size: number): boolean => TARGET.sizes.includes(size);
  const ratioOf = (r: (typeof results)[number]): number => (r.shm && r.mc ? r.shm.items / r.mc.items : Number.NaN);
  const verdictOf = (x: number): string => (Number.isFinite(x) ? (x >= TARGET.min ? 'met' : 'missed') : 'not measured');
  const rows = results.map((r) => [
    fmtBytes(r.size),
    `${r.keyLen} B`,
    r.shm ? n0(r.shm.items) : 'error',
    r.mc ? n0(r.mc.items) : 'error',
    r.shm && r.mc ? fmtRatio(ratioOf(r)) : '—',
    isTarget(r.size) ? `**${verdictOf(ratioOf(r))}**` : '(no target)',
    n0(perItem(r.shm, false)),
    n0(perItem(r.mc, false)),
    n0(perItem(r.shm, true)),
    n0(perItem(r.mc, true)),
  ]);
  const targetRows = results.filter((r) => isTarget(r.size));
  const targetRatios = targetRows.map(ratioOf);
  const minRatio = targetRatios.length ? Math.min(...targetRatios) : Number.NaN;
  const metCount = targetRatios.filter((x) => Number.isFinite(x) && x >= TARGET.min).length;
  const sweepRatios = sweep.map(ratioOf).filter((x) => Number.isFinite(x));
  const sweepMean = sweepRatios.length ? sweepRatios.reduce((a, b) => a + b, 0) / sweepRatios.length : Number.NaN;
  const sweepMin = sweepRatios.length ? Math.min(...sweepRatios) : Number.NaN;
  const sweepAtTarget = sweepRatios.filter((x) => x >= TARGET.min).length;

  const notes: string[] = [];
  for (const r of results) {
    if (r.shmError) notes.push(`${fmtBytes(r.size)}, ${r.keyLen} B keys: shmcached **failed**: ${r.shmError}`);
    if (r.mcError) notes.push(`${fmtBytes(r.size)}, ${r.keyLen} B keys: memcached **failed**: ${r.mcError}`);
  }
  for (const r of sweep) {
    if (r.shmError) notes.push(`sweep, ${fmtBytes(r.size)}: shmcached **failed**: ${r.shmError}`);
    if (r.mcError) notes.push(`sweep, ${fmtBytes(r.size)}: memcached **failed**: ${r.mcError}`);
  }
  const md = reportHead('shmcached memory efficiency', started, machine);
  md.push(
    `- shmcached: \`Cache.open({ size: '${regionMb}mb', evict: true, reset: true })\`${shm.ok ? `, protection \`${shm.protection}\`` : ` — **not available** (${shm.reason})`}${git ? `, tree at \`${git.commit}\`` : ''}. memcached: \`memcached -m ${regionMb}\` (1.6 defaults otherwise: -f 1.25, -n 48, -I 1m), a fresh one per size.`,
  );
  md.push(
    `- Method: keys of exactly the row's length ('k0000000', 'k0000001', ... for 8 bytes) stored in order until the first batch that evicted; items = \`curr_items\` then. Overhead per item = memory ÷ items − (key + value bytes), memory = \`limit_maxbytes\` (the ${regionMb} MiB budget), then that plus \`hash_bytes\` (the hash table, kept outside the budget by both, as \`stats\` reports it at that moment: memcached grows its table in the background). Run took ${elapsedS.toFixed(0)} s.`,
  );
  md.push('');
  md.push(`## Items in ${regionMb} MiB before the first eviction; bytes of overhead per item`);
  md.push('');
  const align: Align[] = ['l', 'r', 'r', 'r', 'r', 'l', 'r', 'r', 'r', 'r'];
  md.push(
    markdownTable(
      [
        'value',
        'key',
        'shmcached items',
        'memcached items',
        'shm ÷ mc',
        `≥ ${TARGET.min}×`,
        'shm overhead B/item',
        'mc overhead B/item',
        'shm, with hash table',
        'mc, with hash table',
      ],
      rows,
      align,
    ),
  );
  md.push('');
  md.push(`## Target (issue 18)`);
  md.push('');
  md.push(
    `- items per ${regionMb} MiB${regionMb === 64 ? '' : ' (the target is set at 64 MiB)'} ≥ ${TARGET.min}× memcached at ${TARGET.sizes.map((x) => fmtBytes(x)).join(' and ')} values, every key length: met at ${metCount} of ${targetRows.length} points (lowest ${fmtRatio(minRatio)})`,
  );
  for (const r of targetRows)
    md.push(`  - ${fmtBytes(r.size)} values, ${r.keyLen} B keys: **${verdictOf(ratioOf(r))}** (${fmtRatio(ratioOf(r))})`);
  md.push('');
  if (sweep.length) {
    md.push(`## Sweep: items in ${regionMb} MiB before the first eviction across value sizes, ${SWEEP.keyLen} B keys`);
    md.push('');
    md.push(
      `- ${sweep.length} value sizes${values.sweep === undefined ? `, evenly spaced on a log scale from ${fmtBytes(sweepSizes[0] ?? 0)} to ${fmtBytes(sweepSizes[sweepSizes.length - 1] ?? 0)}` : ''}; chunk = the class holding the items (\`stats slabs\`). No target of its own: it shows whether the points above are general or a lucky class boundary.`,
    );
    md.push(
      `- shm ÷ mc: mean **${fmtRatio(sweepMean)}**, lowest **${fmtRatio(sweepMin)}**; ≥ ${TARGET.min}× at ${sweepAtTarget} of ${sweepRatios.length} sizes.`,
    );
    md.push('');
    md.push(
      markdownTable(
        ['value', 'shmcached items', 'memcached items', 'shm ÷ mc', 'shm chunk B', 'mc chunk B', 'shm item B', 'mc item B'],
        sweep.map((r) => [
          fmtBytes(r.size),
          r.shm ? n0(r.shm.items) : 'error',
          r.mc ? n0(r.mc.items) : 'error',
          r.shm && r.mc ? fmtRatio(ratioOf(r)) : '—',
          n0(num(r.shm?.extra?.chunk)),
          n0(num(r.mc?.extra?.chunk)),
          // 40-byte header + key + value; memcached: 48 + 8 (CAS) + key + NUL + value + \r\n.
          n0(40 + r.keyLen + r.size),
          n0(56 + r.keyLen + 1 + r.size + 2),
        ]),
        ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
    );
    md.push('');
  }
  md.push(
    `## TTL churn: ${fmtBytes(CHURN.value)} values with a ${CHURN.ttl} s TTL, ${CHURN.batch} sets every ${CHURN.tickMs} ms for ${churnSeconds} s`,
  );
  md.push('');
  const churnRow = (name: string, c: Churn | undefined, err: string | undefined): string[] =>
    c
      ? [
          name,
          n0(c.sets),
          n0(c.live),
          n0(c.items),
          `${(c.malloced / MIB).toFixed(0)} MiB`,
          n0(c.reclaimed),
          n0(c.crawlerReclaimed),
          n0(c.evictions),
        ]
      : [name, `error: ${err ?? '?'}`, '—', '—', '—', '—', '—', '—'];
  md.push(
    markdownTable(
      [
        'store',
        'sets',
        'live items at the end',
        'items held at the end (curr_items, dead ones not yet freed included)',
        'slab memory allocated',
        'reclaimed',
        'crawler_reclaimed',
        'evictions',
      ],
      [churnRow('shmcached', ch.shm, ch.shmError), churnRow('memcached', ch.mc, ch.mcError)],
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  );
  if (ch.shm && ch.mc)
    md.push(
      '',
      `Slab memory allocated under the churn, shmcached ÷ memcached: ${fmtRatio(ch.shm.malloced / ch.mc.malloced)} (lower is better); live items ${fmtRatio(ch.shm.live / ch.mc.live)}.`,
    );
  if (ch.shmError) notes.push(`TTL churn: shmcached **failed**: ${ch.shmError}`);
  if (ch.mcError) notes.push(`TTL churn: memcached **failed**: ${ch.mcError}`);
  const extras = results
    .filter((r) => r.keyLen === keyLens[0])
    .map(
      (r) =>
        `${fmtBytes(r.size)} (${r.keyLen} B keys): shmcached region file ${n0(num(r.shm?.extra?.fileBytes) / MIB)} MiB, hash table ${n0((r.shm?.hashBytes ?? Number.NaN) / 1024)} KiB; memcached resident ${n0(num(r.mc?.extra?.rssBytes) / MIB)} MiB, hash table ${n0((r.mc?.hashBytes ?? Number.NaN) / 1024)} KiB`,
    )
    .join('; ');
  notes.push(`Whole footprints, for context: ${extras}.`);
  const markdown = printReport(md, notes);

  const metrics: Metric[] = [];
  for (const r of results) {
    const at = `memory/${fmtBytes(r.size)}/key ${r.keyLen}`;
    if (r.shm) metrics.push({ id: `${at}/shmcached items`, value: r.shm.items, unit: 'items', better: 'higher' });
    if (r.mc) metrics.push({ id: `${at}/memcached items`, value: r.mc.items, unit: 'items', better: 'higher' });
    if (r.shm)
      metrics.push({
        id: `${at}/shmcached overhead`,
        value: +perItem(r.shm, false).toFixed(1),
        unit: 'B/item',
        better: 'lower',
      });
  }
  if (sweepRatios.length) {
    metrics.push({ id: 'memory/sweep/mean shm÷mc', value: +sweepMean.toFixed(3), unit: '×', better: 'higher' });
    metrics.push({ id: 'memory/sweep/lowest shm÷mc', value: +sweepMin.toFixed(3), unit: '×', better: 'higher' });
  }
  if (ch.shm) metrics.push({ id: 'memory/ttl-churn/shmcached malloced', value: ch.shm.malloced, unit: 'B', better: 'lower' });
  if (ch.mc) metrics.push({ id: 'memory/ttl-churn/memcached malloced', value: ch.mc.malloced, unit: 'B', better: 'lower' });
  const json = {
    part: 'memory',
    version: 1,
    mb: regionMb,
    date: started.toISOString(),
    machine,
    git: git ?? null,
    elapsedS,
    shmcached: shm.ok ? { available: true, protection: shm.protection } : { available: false, reason: shm.reason },
    rows: results,
    sweep: {
      keyLen: SWEEP.keyLen,
      rows: sweep,
      mean: Number.isFinite(sweepMean) ? +sweepMean.toFixed(3) : null,
      lowest: Number.isFinite(sweepMin) ? +sweepMin.toFixed(3) : null,
    },
    churn: { ...CHURN, seconds: churnSeconds, ...ch },
    target: {
      ...TARGET,
      points: targetRows.map((r) => ({ size: r.size, keyLen: r.keyLen, ratio: +ratioOf(r).toFixed(3), met: ratioOf(r) >= TARGET.min })),
      lowest: Number.isFinite(minRatio) ? +minRatio.toFixed(3) : null,
      met: targetRows.length > 0 && metCount === targetRows.length,
    },
    metrics,
    notes,
  };
  if (write) writePartFiles('memory', started, { md: markdown, json });
  return { part: 'memory', markdown, json };
}
