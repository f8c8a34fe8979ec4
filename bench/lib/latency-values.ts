/**
 * The latency part's "values and codecs" section (issue 19): get of a small structured object
 * through shmcached with codec 'json' and 'v8' (a Cache on the main thread, and a CachePool with
 * codec 'json', one awaited get at a time), beside lru-cache holding the same object (no copy, no
 * encoding: the floor) and lru-cache holding its JSON text (JSON.stringify on set, JSON.parse on
 * get: what a cache of serialised values costs in process). The bytes get of the same JSON text
 * is the reference for what the codec adds.
 *
 * Method: `keys` objects ('obj:' + i), one uniform random order (seeded), per round `ops` gets per
 * store, the stores in alternating order round by round, a full GC before each (when exposed);
 * the median of the rounds and their min–max. Every get is checked to hit.
 */
import { LRUCache } from 'lru-cache';

import { summarize, type Summary } from './stats.js';
import { mulberry32, pick, uniformOrder } from './rng.js';
import type { Metric } from './part.js';
import type { ShmLoad } from './shm.js';
import { markdownTable } from './format.js';

/** Settings of the section (the latency part's own, scaled down: these are in-process stores). */
export interface ValueRowsConfig {
  rounds: number;
  ops: number;
  keys: number;
  seed: number;
}

/** What the section adds to the latency part's outputs. */
export interface ValueRows {
  markdown: string[];
  json: { object: string; objectBytes: number; rows: { label: string; summary: Summary | null; error?: string }[] };
  metrics: Metric[];
}

interface Store {
  label: string;
  /** One get; returns the value (checked to be there). */
  get?: (key: string) => unknown;
  /** One awaited get. */
  getAsync?: (key: string) => Promise<unknown>;
  close?: () => void | Promise<void>;
}

/** The object every store holds, per key. */
function objectOf(i: number): { id: number; name: string; email: string; roles: string[]; active: boolean; score: number } {
  return { id: i, name: `user ${i}`, email: `user${i}@example.com`, roles: ['admin', 'dev'], active: i % 2 === 0, score: i / 7 };
}

const gc = (globalThis as { gc?: () => void }).gc;

/** Runs the section; `shm` as the latency part loaded it. */
export async function valueRows(cfg: ValueRowsConfig, shm: ShmLoad): Promise<ValueRows> {
  const keys = Array.from({ length: cfg.keys }, (_, i) => `obj:${i}`);
  // The keys to read, in one uniform random order (the stored key strings themselves).
  const order = pick(keys, uniformOrder(cfg.ops, cfg.keys, mulberry32(cfg.seed ^ 0x19)));
  const stores: Store[] = [];
  const errors = new Map<string, string>();

  const lru = new LRUCache<string, object>({ max: cfg.keys * 2 });
  const lruJson = new LRUCache<string, string>({ max: cfg.keys * 2 });
  for (const [i, k] of keys.entries()) {
    lru.set(k, objectOf(i));
    lruJson.set(k, JSON.stringify(objectOf(i)));
  }
  stores.push({ label: 'lru-cache, the object (no copy)', get: (k) => lru.get(k) });
  stores.push({ label: 'lru-cache + JSON.stringify/parse', get: (k) => JSON.parse(lruJson.get(k)!) });

  if (shm.ok) {
    type Open = (o: object) => { get(k: string): unknown; set(k: string, v: unknown): void; close(): void; path?: string };
    const open = (shm.Cache.open as unknown as Open).bind(shm.Cache);
    const path = (c: string) => `/dev/shm/shmcached-bench-values-${process.pid}-${c}`;
    for (const codec of ['bytes', 'json', 'v8'] as const) {
      try {
        const c = open({ path: path(codec), size: '64mb', reset: true, codec });
        for (const [i, k] of keys.entries()) c.set(k, codec === 'bytes' ? JSON.stringify(objectOf(i)) : objectOf(i));
        const label = codec === 'bytes' ? "shmcached bytes + JSON.parse (codec 'bytes')" : `shmcached Cache, codec '${codec}'`;
        stores.push({
          label,
          get: codec === 'bytes' ? (k) => JSON.parse((c.get(k) as Buffer).toString()) : (k) => c.get(k),
          close: () => {
            c.close();
            rmRegion(path(codec));
          },
        });
      } catch (e) {
        errors.set(`shmcached Cache, codec '${codec}'`, e instanceof Error ? e.message : String(e));
        rmRegion(path(codec));
      }
    }
    const Pool = shm.CachePool as unknown as
      | (new (
          o: object,
        ) => { get(k: string): Promise<unknown>; setMany(e: [string, unknown][]): Promise<void>; close(): Promise<void> })
      | undefined;
    if (Pool) {
      try {
        const p = new Pool({ path: path('pool'), size: '64mb', reset: true, threads: 1, codec: 'json' });
        await p.setMany(keys.map((k, i) => [k, objectOf(i)]));
        stores.push({
          label: "shmcached CachePool, codec 'json' (await, b1)",
          getAsync: (k) => p.get(k),
          close: async () => {
            await p.close();
            rmRegion(path('pool'));
          },
        });
      } catch (e) {
        errors.set("shmcached CachePool, codec 'json' (await, b1)", e instanceof Error ? e.message : String(e));
        rmRegion(path('pool'));
      }
    }
  }

  const samples = new Map<string, number[]>(stores.map((s) => [s.label, []]));
  const runOne = async (s: Store): Promise<void> => {
    gc?.();
    let hits = 0;
    const t0 = process.hrtime.bigint();
    if (s.get) {
      const get = s.get;
      for (const k of order) if (get(k) !== undefined) hits++;
    } else {
      const get = s.getAsync!;
      for (const k of order) if ((await get(k)) !== undefined) hits++;
    }
    const ns = Number(process.hrtime.bigint() - t0) / order.length;
    if (hits !== order.length) throw new Error(`${s.label}: ${order.length - hits} misses`);
    samples.get(s.label)!.push(ns);
  };
  // One warm-up round, then the timed rounds in alternating store order.
  for (const s of stores) {
    try {
      await runOne(s);
    } catch (e) {
      errors.set(s.label, e instanceof Error ? e.message : String(e));
    }
    samples.get(s.label)!.length = 0;
  }
  for (let r = 0; r < cfg.rounds; r++) {
    const list = r % 2 === 0 ? stores : [...stores].reverse();
    for (const s of list) if (!errors.has(s.label)) await runOne(s);
  }
  for (const s of stores) await s.close?.();

  const one = JSON.stringify(objectOf(12345));
  const rows = [...stores.map((s) => s.label), ...[...errors.keys()].filter((l) => !samples.has(l))].map((label) => {
    const xs = samples.get(label) ?? [];
    return { label, summary: xs.length > 0 && !errors.has(label) ? summarize(xs) : null, error: errors.get(label) };
  });
  const us = (ns: number) => (ns / 1000).toFixed(ns < 1000 ? 3 : 2);
  const floor = rows[0]?.summary?.median ?? Number.NaN;
  const markdown = [
    '## Values and codecs: get of a small object — µs per operation, median (min–max)',
    '',
    `The object: \`${one}\` (${Buffer.byteLength(one)} B as JSON); ${cfg.keys.toLocaleString('en-US')} keys, ${cfg.ops.toLocaleString('en-US')} gets a round, ${cfg.rounds} rounds. "× lru-cache" = this store ÷ lru-cache holding the object itself.`,
    '',
    markdownTable(
      ['store', 'get (µs)', '× lru-cache'],
      rows.map((r) => [
        r.label,
        r.summary ? `${us(r.summary.median)} (${us(r.summary.min)}–${us(r.summary.max)})` : `n/a: ${r.error ?? 'not run'}`,
        r.summary ? `${(r.summary.median / floor).toFixed(1)}×` : '',
      ]),
      ['l', 'r', 'r'],
    ),
    '',
  ];
  const metrics: Metric[] = rows
    .filter((r) => r.summary)
    .map((r) => ({ id: `latency/values/${r.label}`, value: +r.summary!.median.toFixed(2), unit: 'ns/op', better: 'lower' as const }));
  return { markdown, json: { object: one, objectBytes: Buffer.byteLength(one), rows }, metrics };
}

function rmRegion(p: string): void {
  import('node:fs').then((fs) => fs.rmSync(p, { force: true })).catch(() => undefined);
}
