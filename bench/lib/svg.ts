/** A tiny dependency-free SVG line chart for the benchmark results (one line per series). */

export interface Series {
  name: string;
  /** CSS colour of the line and its markers. */
  color: string;
  /** Dashed line (e.g. for a second distribution of the same mix). */
  dashed?: boolean;
  /** [x, y] points; a point with a non-finite y is skipped (the line breaks there). */
  points: readonly (readonly [number, number])[];
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** The x values to place ticks at; x is plotted on a log2 scale when `logX` is set. */
  xTicks: readonly number[];
  logX?: boolean;
  width?: number;
  height?: number;
  /** Optional ideal-scaling guide: y = base × x for the given base, drawn thin and grey. */
  ideal?: { base: number; label: string };
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A "nice" upper bound for an axis: 1, 2, 2.5 or 5 × 10^k at or above max. */
function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

const n2 = (x: number): string => (Math.round(x * 100) / 100).toString();

export function lineChart(series: readonly Series[], o: LineChartOptions): string {
  const W = o.width ?? 760;
  const H = o.height ?? 440;
  const legendW = 190;
  const m = { l: 64, r: 16 + legendW, t: 40, b: 52 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const tx = (x: number): number => (o.logX ? Math.log2(x) : x);
  const xs = o.xTicks.map(tx);
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const sx = (x: number): number => m.l + (xMax === xMin ? pw / 2 : ((tx(x) - xMin) / (xMax - xMin)) * pw);
  const ys = series.flatMap((s) => s.points.map((p) => p[1]).filter(Number.isFinite));
  const yMax = niceMax(Math.max(0, ...ys) * 1.05);
  const sy = (y: number): number => m.t + ph - (Math.min(y, yMax) / yMax) * ph;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(o.title)}</text>`);
  // Grid and y ticks.
  const yTicks = 5;
  for (let i = 0; i <= yTicks; i++) {
    const v = (yMax * i) / yTicks;
    const y = n2(sy(v));
    out.push(`<line x1="${m.l}" y1="${y}" x2="${m.l + pw}" y2="${y}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${m.l - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${n2(v)}</text>`);
  }
  for (const x of o.xTicks) {
    const X = n2(sx(x));
    out.push(`<line x1="${X}" y1="${m.t}" x2="${X}" y2="${m.t + ph}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${X}" y="${m.t + ph + 16}" text-anchor="middle">${x}</text>`);
  }
  out.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${m.l + pw / 2}" y="${H - 12}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  // Ideal-scaling guide.
  if (o.ideal && Number.isFinite(o.ideal.base) && o.ideal.base > 0) {
    const pts = o.xTicks.map((x) => `${n2(sx(x))},${n2(sy(o.ideal!.base * x))}`).join(' ');
    out.push(`<polyline points="${pts}" fill="none" stroke="#bbb" stroke-width="1" stroke-dasharray="2 3"/>`);
  }
  // Series.
  for (const s of series) {
    const segs: string[][] = [[]];
    for (const [x, y] of s.points) {
      if (!Number.isFinite(y)) {
        segs.push([]);
        continue;
      }
      segs[segs.length - 1].push(`${n2(sx(x))},${n2(sy(y))}`);
    }
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    for (const seg of segs) {
      if (seg.length > 1) out.push(`<polyline points="${seg.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
    }
    for (const [x, y] of s.points) {
      if (Number.isFinite(y)) out.push(`<circle cx="${n2(sx(x))}" cy="${n2(sy(y))}" r="3" fill="${s.color}"><title>${esc(`${s.name}: ${x} → ${n2(y)}`)}</title></circle>`);
    }
  }
  // Legend.
  const lx = m.l + pw + 14;
  let ly = m.t + 6;
  const legend: { name: string; color: string; dashed?: boolean }[] = [...series];
  if (o.ideal) legend.push({ name: o.ideal.label, color: '#bbb', dashed: true });
  for (const s of legend) {
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 26}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${lx + 32}" y="${ly}" dominant-baseline="middle">${esc(s.name)}</text>`);
    ly += 20;
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}
