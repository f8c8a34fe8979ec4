/** Formatting helpers for the Markdown tables the benchmarks print. */

/** ns with sensible precision: 1234 -> "1,234", 98.76 -> "98.8", 7.123 -> "7.12". */
export function fmtNs(ns: number): string {
  if (!Number.isFinite(ns)) return '—';
  if (ns >= 1000) return Math.round(ns).toLocaleString('en-US');
  if (ns >= 100) return ns.toFixed(0);
  if (ns >= 10) return ns.toFixed(1);
  return ns.toFixed(2);
}

/** A ratio such as "3.41×" (or "—" when either side is missing). */
export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return '—';
  return r >= 10 ? `${r.toFixed(1)}×` : `${r.toFixed(2)}×`;
}

export function fmtBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KB`;
  return `${n} B`;
}

export function fmtCount(n: number): string {
  if (n >= 1_000_000 && n % 1_000_000 === 0) return `${n / 1_000_000}M`;
  if (n >= 1000 && n % 1000 === 0) return `${n / 1000}k`;
  return String(n);
}

export type Align = 'l' | 'r' | 'c';

/** A Markdown table with padded columns, so it also reads well as plain text. */
export function markdownTable(headers: readonly string[], rows: readonly (readonly string[])[], align?: readonly Align[]): string {
  const cols = headers.length;
  const widths = headers.map((h, i) => Math.max(3, h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const pad = (s: string, i: number): string => {
    const a = align?.[i] ?? 'l';
    const w = widths[i] ?? 0;
    return a === 'r' ? s.padStart(w) : s.padEnd(w);
  };
  const rule = widths.map((w, i) => {
    const a = align?.[i] ?? 'l';
    if (a === 'r') return `${'-'.repeat(w - 1)}:`;
    if (a === 'c') return `:${'-'.repeat(w - 2)}:`;
    return '-'.repeat(w);
  });
  const line = (cells: readonly string[]): string => `| ${Array.from({ length: cols }, (_, i) => pad(cells[i] ?? '', i)).join(' | ')} |`;
  return [line(headers), `| ${rule.join(' | ')} |`, ...rows.map(line)].join('\n');
}

/** A summary as "median (min–max)", each number through `fmt`. */
export function fmtSpread(s: { median: number; min: number; max: number }, fmt: (x: number) => string): string {
  return `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;
}
