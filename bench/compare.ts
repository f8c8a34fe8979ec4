/**
 * `npm run bench -- compare A.json B.json`: two runs side by side. Every result file (one part's,
 * or a full run's with all parts) carries `metrics`, each with a stable id; the metrics both runs
 * have are lined up with B ÷ A and a verdict that knows which direction is better. Files from
 * before `metrics` existed (the first latency format) are read through their rows.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { markdownTable } from './lib/format.js';
import type { Metric, PartOutput } from './lib/part.js';

/** One line for `npm run bench -- list`. */
export const description = 'two result files (.json) side by side, with B ÷ A per metric';

/** Changes within this fraction are reported as "same" (these machines are noisy). */
const NOISE = 0.05;

function isMetric(x: unknown): x is Metric {
  const m = x as Metric;
  return (
    typeof m === 'object' &&
    m !== null &&
    typeof m.id === 'string' &&
    typeof m.value === 'number' &&
    (m.better === 'lower' || m.better === 'higher')
  );
}

/** The metrics of a result file's parsed JSON: its own, its parts', or derived from old rows. */
export function metricsOf(json: unknown): Metric[] {
  if (typeof json !== 'object' || json === null) return [];
  const j = json as Record<string, unknown>;
  const out: Metric[] = [];
  if (Array.isArray(j.metrics)) out.push(...j.metrics.filter(isMetric));
  if (typeof j.parts === 'object' && j.parts !== null) for (const p of Object.values(j.parts)) out.push(...metricsOf(p));
  if (out.length === 0 && Array.isArray(j.rows)) {
    // Version 1 of the in-process latency file: rows of { op, valueSize, keys, peers: { name: { median } } }.
    const part = typeof j.part === 'string' ? (j.part === 'latency' && j.version === 1 ? 'inproc' : j.part) : 'run';
    for (const row of j.rows as Record<string, unknown>[]) {
      const peers = row.peers as Record<string, { median?: unknown }> | undefined;
      if (!peers || typeof row.op !== 'string') continue;
      for (const [name, v] of Object.entries(peers)) {
        if (typeof v?.median !== 'number') continue;
        out.push({
          id: `${part}/${row.op} ${row.valueSize ?? 'counter'} B ${row.keys ?? ''} keys/${name}`,
          value: v.median,
          unit: 'ns/op',
          better: 'lower',
        });
      }
    }
  }
  return out;
}

function fmtVal(v: number): string {
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(3).replace(/\.?0+$/, '') || '0';
}

/** The comparison of two parsed result files as Markdown (labels name the two runs). */
export function compareRuns(a: unknown, b: unknown, labelA = 'A', labelB = 'B'): string {
  const ma = metricsOf(a);
  const mb = new Map(metricsOf(b).map((m) => [m.id, m]));
  const rows: string[][] = [];
  let better = 0;
  let worse = 0;
  for (const m of ma) {
    const o = mb.get(m.id);
    if (!o) continue;
    const r = o.value / m.value;
    const improved = m.better === 'lower' ? r < 1 - NOISE : r > 1 + NOISE;
    const regressed = m.better === 'lower' ? r > 1 + NOISE : r < 1 - NOISE;
    if (improved) better++;
    if (regressed) worse++;
    rows.push([
      m.id,
      m.unit,
      fmtVal(m.value),
      fmtVal(o.value),
      Number.isFinite(r) ? `${r.toFixed(2)}×` : '—',
      improved ? 'better' : regressed ? 'worse' : 'same',
    ]);
  }
  const onlyA = ma.filter((m) => !mb.has(m.id)).length;
  const idsA = new Set(ma.map((m) => m.id));
  const onlyB = [...mb.keys()].filter((id) => !idsA.has(id)).length;
  const out: string[] = [];
  out.push(`# ${labelA} → ${labelB}`);
  out.push('');
  if (rows.length === 0) {
    out.push('No metric is in both runs.');
  } else {
    out.push(
      markdownTable(['metric', 'unit', labelA, labelB, `${labelB} ÷ ${labelA}`, `verdict (±${NOISE * 100}%)`], rows, [
        'l',
        'l',
        'r',
        'r',
        'r',
        'l',
      ]),
    );
    out.push('');
    out.push(`${rows.length} metrics in both: ${better} better, ${worse} worse, ${rows.length - better - worse} within ±${NOISE * 100}%.`);
  }
  if (onlyA || onlyB) out.push(`${onlyA} only in ${labelA}, ${onlyB} only in ${labelB}.`);
  return `${out.join('\n')}\n`;
}

/** `compare A.json B.json`: prints the comparison. */
export async function run(args: string[]): Promise<PartOutput | void> {
  const files = args.filter((x) => !x.startsWith('-'));
  const [fa, fb] = files;
  if (fa === undefined || fb === undefined || files.length !== 2 || args.includes('--help') || args.includes('-h')) {
    console.log('usage: npm run bench -- compare A.json B.json');
    if (files.length !== 2) process.exitCode = 2;
    return;
  }
  const read = (f: string): unknown => JSON.parse(readFileSync(f, 'utf8')) as unknown;
  let la = basename(fa, '.json');
  let lb = basename(fb, '.json');
  if (la === lb) {
    la = fa;
    lb = fb;
  }
  process.stdout.write(compareRuns(read(fa), read(fb), la, lb));
}
