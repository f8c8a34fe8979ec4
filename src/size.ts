/** Parsing of human sizes (`'64mb'`, `'1m'`, `512`) as memcached's flags mean them: binary units. */
import { rangeError, typeError } from './errors.js';

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/**
 * Bytes for a size given as a number of bytes or a string such as `'64mb'`, `'1m'`, `'512k'`,
 * `'2gib'` (units are binary, as memcached's `-m` and `-I`). Throws TypeError/RangeError naming `name`.
 */
export function parseSize(value: number | string, name: string): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value <= 0)
      throw rangeError('ERR_OUT_OF_RANGE', `${name} must be a positive integer number of bytes, got ${value}`);
    return value;
  }
  if (typeof value !== 'string')
    throw typeError('ERR_INVALID_ARG_TYPE', `${name} must be a number or a string like '64mb', got ${typeof value}`);
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = m?.[2] === undefined ? undefined : UNITS[m[2].toLowerCase()];
  if (!m || unit === undefined)
    throw rangeError('ERR_INVALID_ARG_VALUE', `${name} must look like '64mb', '1m', '512k' or a byte count, got '${value}'`);
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw rangeError('ERR_OUT_OF_RANGE', `${name} is out of range: '${value}'`);
  return bytes;
}
