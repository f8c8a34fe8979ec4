/**
 * `npm run bench -- inproc`: per-operation latency of shmcached from the main thread, beside
 * lru-cache and a JS Map (both copying values in and out, as shmcached must), in one run.
 *
 * Cells: get / set / delete at 128 B and 5 KB values, incr on counters, and getMany (100 keys a
 * call, reported per key), each with 10k and 100k keys. Method:
 * - keys ('key:' + i), a uniform random access order and a delete permutation are generated up
 *   front (seeded), so the timed loops measure the operation, not key building;
 * - each store is measured alone in the process (the others closed and collected first), so none
 *   pays for another's garbage; the R rounds are split into two blocks run in opposite store
 *   orders (A B C, C B A), each populating its store afresh, so machine drift hits all alike;
 * - per cell and block: one warm-up round, then timed rounds of a fixed op count, a full GC before
 *   each (untimed); the table shows the median ns/op and the min–max over all R rounds;
 * - delete removes keys that exist: a quarter of the keys at a time, timed, then put back untimed;
 * - every loop folds its results into a checksum, and every cell checks that all ops hit.
 */
import { hrtime } from 'node:process';
import { Progress } from './lib/progress.js';
import { summarize, type Summary } from './lib/stats.js';
import { mulberry32, permutation, randomLetters, uniformOrder } from './lib/rng.js';
import { partArgs, positiveInt, positiveIntList } from './lib/args.js';
import { fmtBytes, fmtCount, fmtNs, fmtRatio, fmtSpread, markdownTable, type Align } from './lib/format.js';
import { busyNote, gitInfo, machineInfo } from './lib/machine.js';
import { errorLine, printReport, reportHead, treeAt, writePartFiles } from './lib/report.js';
import { alternate, deleteChunks, gc, noGcNote, splitBlocks } from './lib/timing.js';
import { loadShmcached, staleBuildWarnings } from './lib/shm.js';
import { LruPeer, MapPeer, ShmPeer, loopOnly, type Peer } from './lib/peers.js';

export const description = 'ns/op of get/set/delete/incr/getMany, shmcached vs lru-cache and Map (copy-out)';

type Op = 'get' | 'set' | 'delete' | 'incr' | 'getMany';
const OP_ORDER: readonly Op[] = ['get', 'set', 'delete', 'incr', 'getMany'];

/** Issue 2's targets: main thread, 128 B values, 100k keys. */
const TARGETS: readonly { op: Op; limitNs: number }[] = [
  { op: 'get', limitNs: 250 },
  { op: 'set', limitNs: 350 },
  { op: 'delete', limitNs: 200 },
  { op: 'incr', limitNs: 250 },
];
const TARGET_SIZE = 128;
const TARGET_KEYS = 100_000;

interface Row {
  op: Op;
  /** Value size in bytes; 0 for incr (decimal counters). */
  size: number;
  keys: number;
  /** ns per op (per key for getMany), one entry per timed round, by peer. */
  samples: Record<string, number[]>;
  errors: Record<string, string>;
  warnings: string[];
}

/** The part's settings, from its command line. */
function parseConfig(args: string[]) {
  const { values, quick, write } = partArgs(
    args,
    `npm run bench -- inproc [options]
  --rounds N      timed rounds per cell (default 7)
  --ops N         operations per round (default 100000)
  --keys A,B      key counts (default 10000,100000)
  --sizes A,B     value sizes in bytes (default 128,5120)
  --seed N        random seed for the access order (default 42)
  --quick         3 rounds of 20000 ops (a smoke run; numbers are rougher)
  --no-write      print only; do not write bench/results/`,
  );
  return {
    rounds: positiveInt(values.rounds, quick ? 3 : 7, 'rounds'),
    ops: positiveInt(values.ops, quick ? 20_000 : 100_000, 'ops'),
    keyCounts: positiveIntList(values.keys, [10_000, 100_000], 'keys'),
    sizes: positiveIntList(values.sizes, [128, 5120], 'sizes'),
    batch: 100,
    seed: positiveInt(values.seed, 42, 'seed'),
    write,
  };
}

/** Wall time of fn in ns; its result is folded into the sink so no loop can be optimised away. */
function timed(fn: () => number, sink: { v: number }): number {
  const t0 = hrtime.bigint();
  const r = fn();
  const t1 = hrtime.bigint();
  sink.v = (sink.v + r) % 1_000_000_007;
  return Number(t1 - t0);
}

export async function run(args: string[]): Promise<void> {
  const cfg = parseConfig(args);
  const started = new Date();
  const machine = machineInfo();
  const git = gitInfo();
  const shm = await loadShmcached();

  const peers: Peer[] = [];
  if (shm.ok) peers.push(new ShmPeer(shm.Cache));
  peers.push(new LruPeer(), new MapPeer());
  const peerNames = ['shmcached', 'lru-cache', 'Map'];

  const rows: Row[] = [];
  const loopOverhead: Record<string, Summary> = {};
  const storeInfo: Record<string, unknown> = {};
  const sink = { v: 0 };
  const warnings: string[] = [];
  if (shm.ok) warnings.push(...staleBuildWarnings());
  const noGc = noGcNote();
  if (noGc) warnings.push(noGc);

  // Each store is measured alone in the process (the others closed and collected), so no store
  // pays for another's garbage: the JS peers keep every value as a Buffer in the V8 heap, and a
  // shmcached round would otherwise pay for marking them in every GC its own allocations start.
  // Machine drift is spread evenly instead by splitting the rounds into two blocks run in
  // opposite peer orders (A B C, then C B A), each block populating its store afresh.
  const valueOps: Op[] = ['get', 'getMany', 'set', 'delete'];
  const blockRounds = splitBlocks(cfg.rounds);
  const cellsPerPeer = cfg.keyCounts.length * (cfg.sizes.length * valueOps.length + 1);
  const progress = new Progress(cellsPerPeer * peers.length * (cfg.rounds + blockRounds.length) + cfg.keyCounts.length);
  const t0 = Date.now();

  const newRow = (op: Op, size: number, keys: number): Row => {
    const r: Row = { op, size, keys, samples: {}, errors: {}, warnings: [] };
    for (const p of peers) r.samples[p.name] = [];
    rows.push(r);
    return r;
  };

  for (const n of cfg.keyCounts) {
    const rand = mulberry32(cfg.seed ^ n);
    const keys = Array.from({ length: n }, (_, i) => `key:${i}`);
    const order = uniformOrder(cfg.ops, n, rand);
    const perm = permutation(n, rand);
    const batches: string[][] = [];
    for (let i = 0; i + cfg.batch <= cfg.ops; i += cfg.batch) {
      batches.push(
        Array.from(order.subarray(i, i + cfg.batch), (j) => {
          const k = keys[j];
          if (k === undefined) throw new RangeError(`key index ${j} out of range`);
          return k;
        }),
      );
    }
    const manyKeys = batches.length * cfg.batch;

    // The bare loop, for reference.
    {
      const xs: number[] = [];
      for (let r = -1; r < cfg.rounds; r++) {
        gc();
        const ns = timed(() => loopOnly(keys, order, cfg.ops), sink);
        if (r >= 0) xs.push(ns / cfg.ops);
      }
      loopOverhead[fmtCount(n)] = summarize(xs);
      progress.tick(`loop ${fmtCount(n)}`);
    }

    const phases: { size: number; ops: Op[] }[] = [
      ...cfg.sizes.map((size) => ({ size, ops: valueOps })),
      { size: 0, ops: ['incr'] as Op[] },
    ];
    for (const phase of phases) {
      const { size } = phase;
      const tag = `${size || 'ctr'}-${n}`;
      const value = randomLetters(size, rand);
      const phaseRows = phase.ops.map((op) => newRow(op, size, n));
      const labelOf = (op: Op): string => `${op} ${size ? fmtBytes(size) : ''} ${fmtCount(n)} keys`.replace(/\s+/g, ' ');

      /** Units per round (ops, or keys for getMany) and the loop result every round must give. */
      const unitsOf = (op: Op): number => (op === 'getMany' ? manyKeys : cfg.ops);
      const expectOf = (op: Op): number => (op === 'get' ? cfg.ops * size : op === 'getMany' ? manyKeys * size : cfg.ops);

      /** One round of `op` on `p`: [timed ns, loop result]. */
      const round = (p: Peer, op: Op): [number, number] => {
        let res = 0;
        switch (op) {
          case 'get':
            return [timed(() => (res = p.get(keys, order, cfg.ops)), sink), res];
          case 'getMany':
            return [timed(() => (res = p.getMany(batches)), sink), res];
          case 'set':
            return [timed(() => (res = p.set(keys, order, cfg.ops, value)), sink), res];
          case 'incr':
            return [timed(() => (res = p.incr(keys, order, cfg.ops)), sink), res];
          case 'delete': {
            let ns = 0;
            for (const { from, to } of deleteChunks(n, cfg.ops, 0)) {
              ns += timed(() => {
                const h = p.del(keys, perm, from, to);
                res += h;
                return h;
              }, sink);
              p.refill(keys, perm, from, to, value);
            }
            return [ns, res];
          }
        }
      };

      const failed = new Set<Peer>();
      blockRounds.forEach((rounds, b) => {
        for (const p of alternate(peers, b)) {
          const skip = (): void => {
            for (let k = 0; k < phase.ops.length * (rounds + 1); k++)
              progress.tick(`${phase.ops.map((op) => labelOf(op)).join(', ')}  ${p.name}`);
          };
          if (failed.has(p)) {
            skip();
            continue;
          }
          try {
            p.open(tag, n, Math.max(size, 8));
            if (size > 0) p.populate(keys, value);
            else p.populateCounters(keys);
          } catch (e) {
            const msg = `open/populate: ${errorLine(e)}`;
            for (const row of phaseRows) row.errors[p.name] = msg;
            failed.add(p);
            try {
              p.close();
            } catch {
              /* ignore */
            }
            skip();
            continue;
          }
          phaseRows.forEach((row) => {
            const op = row.op;
            const label = `${labelOf(op)}  ${p.name}`;
            let dead = row.errors[p.name] !== undefined;
            for (let r = -1; r < rounds; r++) {
              if (!dead) {
                gc();
                try {
                  const [ns, result] = round(p, op);
                  const expect = expectOf(op);
                  if (result !== expect && !row.warnings.some((w) => w.startsWith(p.name))) {
                    row.warnings.push(
                      `${p.name}: loop result ${result}, expected ${expect} (${((100 * result) / expect).toFixed(1)}%: misses?)`,
                    );
                  }
                  if (r >= 0) (row.samples[p.name] ??= []).push(ns / unitsOf(op));
                } catch (e) {
                  row.errors[p.name] = errorLine(e);
                  dead = true;
                }
              }
              progress.tick(label);
            }
          });
          const info = p.info();
          if (info) storeInfo[`${p.name} ${tag} block ${b}`] = info;
          try {
            p.close();
          } catch {
            /* ignore */
          }
          gc();
        }
      });
    }
  }
  progress.end();
  const elapsedS = (Date.now() - t0) / 1000;

  // ---------------------------------------------------------------------------------------------
  // Report

  rows.sort((a, b) => OP_ORDER.indexOf(a.op) - OP_ORDER.indexOf(b.op) || a.size - b.size || a.keys - b.keys);
  const sum = (row: Row, peer: string): Summary | undefined => {
    const xs = row.samples[peer];
    return xs?.length ? summarize(xs) : undefined;
  };
  const cell = (s: Summary | undefined, err: string | undefined): string => (s ? fmtSpread(s, fmtNs) : err ? 'error' : '—');
  const opLabel = (row: Row): string => (row.op === 'getMany' ? `getMany ×${cfg.batch} (per key)` : row.op);
  const sizeLabel = (row: Row): string => (row.size ? fmtBytes(row.size) : 'counter');

  const headers = ['op', 'value', 'keys', 'shmcached', 'lru-cache + copy', 'Map + copy', 'lru ÷ shm', 'Map ÷ shm'];
  const align: Align[] = ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r'];
  const tableRows = rows.map((row) => {
    const s = sum(row, 'shmcached');
    const l = sum(row, 'lru-cache');
    const m = sum(row, 'Map');
    return [
      opLabel(row),
      sizeLabel(row),
      fmtCount(row.keys),
      shm.ok ? cell(s, row.errors.shmcached) : 'n/a',
      cell(l, row.errors['lru-cache']),
      cell(m, row.errors.Map),
      s && l ? fmtRatio(l.median / s.median) : '—',
      s && m ? fmtRatio(m.median / s.median) : '—',
    ];
  });

  const targetRows = TARGETS.map((t) => {
    const row = rows.find((r) => r.op === t.op && r.keys === TARGET_KEYS && (t.op === 'incr' ? r.size === 0 : r.size === TARGET_SIZE));
    const s = row ? sum(row, 'shmcached') : undefined;
    let verdict: string;
    if (!shm.ok) verdict = 'not measured (shmcached unavailable)';
    else if (!row) verdict = 'not measured (cell not in this run)';
    else if (!s) verdict = `not measured (${row.errors.shmcached ?? 'no samples'})`;
    else if (s.median <= t.limitNs) verdict = `**met** (${((100 * s.median) / t.limitNs).toFixed(0)}% of the limit)`;
    else verdict = `**missed** by ${fmtNs(s.median - t.limitNs)} ns (${(s.median / t.limitNs).toFixed(2)}× the limit)`;
    return {
      op: t.op,
      limitNs: t.limitNs,
      medianNs: s?.median ?? null,
      met: s ? s.median <= t.limitNs : null,
      md: [t.op, `≤ ${t.limitNs} ns`, s ? fmtNs(s.median) : '—', verdict],
    };
  });

  const notes: string[] = [];
  for (const row of rows) {
    for (const [peer, err] of Object.entries(row.errors))
      notes.push(`${opLabel(row)} ${sizeLabel(row)} ${fmtCount(row.keys)}: **${peer} failed**: ${err}`);
    for (const w of row.warnings) notes.push(`${opLabel(row)} ${sizeLabel(row)} ${fmtCount(row.keys)}: ${w}`);
  }
  notes.push(...warnings);
  const loadEnd = machineInfo().loadavg;
  const busy = busyNote(machine, loadEnd);
  if (busy) notes.push(busy);

  const md = reportHead('shmcached latency', started, machine);
  md.push(
    shm.ok
      ? `- shmcached: direct calls from the main thread, protection \`${shm.protection}\`, a fresh region per phase sized to hold every item` +
          (git ? `; ${treeAt(git)}` : '')
      : `- shmcached: **not available** (${shm.reason}); only the peers ran`,
  );
  md.push(
    `- Peers: lru-cache 11 (get + \`Buffer.from(v)\`, set stores \`Buffer.from(value)\`), JS \`Map\` (same copies). incr: memcached semantics on text in shmcached; a bigint counter (get, add, wrap at 2^64, set) in the peers.`,
  );
  md.push(
    `- Method: ${cfg.ops.toLocaleString('en-US')} ops per round, uniform random keys ('key:' + i, pre-generated), 1 warm-up + ${cfg.rounds} timed rounds per cell, ` +
      `full GC before each round; each store measured alone, rounds split into two blocks in opposite store orders; delete removes existing keys (¼ of them at a time, put back untimed); getMany = ${cfg.batch} keys a call, ns per key. ` +
      `Run took ${elapsedS.toFixed(0)} s.`,
  );
  md.push('');
  md.push(`## ns per operation — median (min–max) of ${cfg.rounds} rounds; ratio = peer ÷ shmcached (> 1: shmcached is faster)`);
  md.push('');
  md.push(markdownTable(headers, tableRows, align));
  md.push('');
  md.push(`## Issue 2 targets (main thread, ${TARGET_SIZE} B values, ${fmtCount(TARGET_KEYS)} keys)`);
  md.push('');
  md.push(
    markdownTable(
      ['op', 'target', 'shmcached median (ns)', 'result'],
      targetRows.map((t) => t.md),
      ['l', 'r', 'r', 'l'],
    ),
  );
  md.push('');
  const loopNote =
    `Loop overhead included in every cell (fetching the pre-generated key and summing): ` +
    Object.entries(loopOverhead)
      .map(([k, s]) => `${fmtNs(s.median)} ns at ${k} keys`)
      .join(', ') +
    '.';
  const markdown = printReport(md, [loopNote, ...notes]);

  const json = {
    part: 'inproc',
    version: 1,
    date: started.toISOString(),
    machine,
    git: git ?? null,
    loadavgEnd: loadEnd,
    config: cfg,
    elapsedS,
    shmcached: shm.ok ? { available: true, protection: shm.protection } : { available: false, reason: shm.reason },
    unit: 'ns/op (getMany: ns/key)',
    rows: rows.map((row) => {
      const peersOut: Record<string, unknown> = {};
      for (const name of peerNames) {
        const xs = row.samples[name];
        if (xs?.length) peersOut[name] = { ...summarize(xs), rounds: xs.map((x) => +x.toFixed(2)) };
        else if (row.errors[name]) peersOut[name] = { error: row.errors[name] };
      }
      const s = sum(row, 'shmcached');
      const ratios: Record<string, number> = {};
      for (const name of ['lru-cache', 'Map']) {
        const p = sum(row, name);
        if (s && p) ratios[`${name}/shmcached`] = +(p.median / s.median).toFixed(3);
      }
      return {
        op: row.op,
        valueSize: row.size || null,
        keys: row.keys,
        batch: row.op === 'getMany' ? cfg.batch : undefined,
        peers: peersOut,
        ratios,
        warnings: row.warnings,
      };
    }),
    targets: targetRows.map(({ md: _md, ...t }) => t),
    loopOverheadNs: Object.fromEntries(Object.entries(loopOverhead).map(([k, s]) => [k, +s.median.toFixed(2)])),
    stores: storeInfo,
    notes,
    checksum: sink.v,
  };
  if (cfg.write) writePartFiles('inproc', started, { md: markdown, json });
}
