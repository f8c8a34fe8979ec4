/**
 * Command-line options of a benchmark part: the options every part takes (`--quick`, `--no-write`,
 * `--help`) parsed once here beside the part's own, and the number parsers their values go through.
 */
import { parseArgs } from 'node:util';

/** What {@link partArgs} hands back. */
export interface PartArgs {
  /** The part's own options, as given (absent when not given). */
  values: Record<string, string | undefined>;
  /** `--quick`: a smoke run (fewer rounds, shorter windows; the dispatcher adds `--no-write`). */
  quick: boolean;
  /** Whether results go to bench/results/ (false with `--no-write`). */
  write: boolean;
}

/**
 * The options a usage text declares: every line `  --name VALUE  help` whose placeholder is in
 * capitals (`N`, `S`, `A,B`) names an option that takes a string.
 */
export function declaredOptions(usage: string): string[] {
  const out: string[] = [];
  for (const line of usage.split('\n')) {
    const m = /^\s+--([a-z][a-z0-9-]*) [A-Z][A-Z,]*(\s|$)/.exec(line);
    if (m?.[1]) out.push(m[1]);
  }
  return out;
}

/**
 * Parses `args` for a part. `usage` is its help text, which declares its own options (see
 * {@link declaredOptions}); every part also takes `--quick`, `--no-write` and `-h/--help`. With
 * `--help` it prints `usage` and exits 0. No positionals are accepted.
 */
export function partArgs(args: readonly string[], usage: string): PartArgs {
  const options: Record<string, { type: 'string' } | { type: 'boolean'; short?: string; default: boolean }> = {};
  for (const name of declaredOptions(usage)) options[name] = { type: 'string' };
  options.quick = { type: 'boolean', default: false };
  options['no-write'] = { type: 'boolean', default: false };
  options.help = { type: 'boolean', short: 'h', default: false };
  const { values } = parseArgs({ args: [...args], allowPositionals: false, options }) as {
    values: Record<string, string | boolean | undefined>;
  };
  if (values.help === true) {
    console.log(usage.replace(/^\n+|\s+$/g, ''));
    process.exit(0);
  }
  const mine: Record<string, string | undefined> = {};
  for (const [name, v] of Object.entries(values)) if (typeof v === 'string') mine[name] = v;
  return { values: mine, quick: values.quick === true, write: values['no-write'] !== true };
}

/** `1_000` → 1000, `20k` → 20000 (a number as typed on a command line; NaN when it is not one). */
function parseCount(s: string): number {
  return Number(s.trim().replace(/_/g, '').toLowerCase().replace(/k$/, '000'));
}

/** A positive integer option (underscores and a `k` suffix allowed), or `d` when absent. */
export function positiveInt(s: string | undefined, d: number, name: string): number {
  if (s === undefined) return d;
  const n = parseCount(s);
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`--${name} must be a positive integer, got '${s}'`);
  return n;
}

/** A positive (finite, possibly fractional) number option, or `d` when absent. */
export function positiveNumber(s: string | undefined, d: number, name: string): number {
  if (s === undefined) return d;
  const n = parseCount(s);
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`--${name} must be a positive number, got '${s}'`);
  return n;
}

/** A comma-separated list of positive integers (`10k,100k`), or `d` when absent. */
export function positiveIntList(s: string | undefined, d: number[], name: string): number[] {
  return s === undefined ? d : s.split(',').map((x) => positiveInt(x, 0, name));
}
