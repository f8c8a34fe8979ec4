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
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
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
    let seg: string[] = [];
    const segs: string[][] = [seg];
    for (const [x, y] of s.points) {
      if (!Number.isFinite(y)) {
        seg = [];
        segs.push(seg);
        continue;
      }
      seg.push(`${n2(sx(x))},${n2(sy(y))}`);
    }
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    for (const seg of segs) {
      if (seg.length > 1) out.push(`<polyline points="${seg.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
    }
    for (const [x, y] of s.points) {
      if (Number.isFinite(y))
        out.push(
          `<circle cx="${n2(sx(x))}" cy="${n2(sy(y))}" r="3" fill="${s.color}"><title>${esc(`${s.name}: ${x} → ${n2(y)}`)}</title></circle>`,
        );
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
  return `${out.join('\n')}\n`;
}

/** One group of a {@link barChart}: a label and one value per series (NaN: not measured). */
export interface BarGroup {
  label: string;
  values: readonly number[];
}

/** Options of {@link barChart}. */
export interface BarChartOptions {
  title: string;
  /** The axis label, e.g. "µs per operation (log scale)". */
  valueLabel: string;
  /** Series names and colours, one per entry of each group's values. */
  series: readonly { name: string; color: string }[];
  /** Formats a value for the label at the end of its bar. */
  format: (v: number) => string;
  width?: number;
}

/**
 * Horizontal grouped bars on a log10 axis: one block of bars per group (an operation), one bar
 * per series (a store), each labelled with its value. Decades get grid lines.
 */
export function barChart(groups: readonly BarGroup[], o: BarChartOptions): string {
  const W = o.width ?? 860;
  const barH = 11;
  const gap = 14;
  const legendH = 20 * Math.ceil(o.series.length / 4);
  const m = { l: 110, r: 70, t: 40 + legendH, b: 44 };
  const groupH = o.series.length * barH + gap;
  const H = m.t + groups.length * groupH + m.b;
  const pw = W - m.l - m.r;
  const vals = groups.flatMap((g) => g.values.filter((v) => Number.isFinite(v) && v > 0));
  const lo = 10 ** Math.floor(Math.log10(Math.min(...vals, 1)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...vals, 10)));
  const sx = (v: number): number => m.l + ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * pw;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(o.title)}</text>`);
  o.series.forEach((s, i) => {
    const x = m.l + (i % 4) * 170;
    const y = 36 + Math.floor(i / 4) * 20;
    out.push(`<rect x="${x}" y="${y - 8}" width="14" height="10" fill="${s.color}"/>`);
    out.push(`<text x="${x + 19}" y="${y}" >${esc(s.name)}</text>`);
  });
  const bottom = H - m.b;
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    const X = n2(sx(d));
    out.push(`<line x1="${X}" y1="${m.t - 4}" x2="${X}" y2="${bottom}" stroke="#ddd"/>`);
    out.push(`<text x="${X}" y="${bottom + 15}" text-anchor="middle">${esc(o.format(d))}</text>`);
  }
  out.push(`<text x="${m.l + pw / 2}" y="${H - 10}" text-anchor="middle">${esc(o.valueLabel)}</text>`);
  groups.forEach((g, gi) => {
    const y0 = m.t + gi * groupH;
    out.push(
      `<text x="${m.l - 8}" y="${n2(y0 + (o.series.length * barH) / 2)}" text-anchor="end" dominant-baseline="middle" font-weight="bold">${esc(g.label)}</text>`,
    );
    g.values.forEach((v, si) => {
      const y = y0 + si * barH;
      if (!(Number.isFinite(v) && v > 0)) {
        out.push(`<text x="${m.l + 4}" y="${n2(y + barH - 2)}" fill="#999">n/a</text>`);
        return;
      }
      const w = Math.max(1, sx(v) - m.l);
      const s = o.series[si];
      if (s === undefined) return;
      out.push(
        `<rect x="${m.l}" y="${n2(y + 1)}" width="${n2(w)}" height="${barH - 2}" fill="${s.color}"><title>${esc(`${g.label}, ${s.name}: ${o.format(v)}`)}</title></rect>`,
      );
      out.push(`<text x="${n2(m.l + w + 4)}" y="${n2(y + barH - 2)}" font-size="9">${esc(o.format(v))}</text>`);
    });
  });
  out.push(`<line x1="${m.l}" y1="${m.t - 4}" x2="${m.l}" y2="${bottom}" stroke="#888"/>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
