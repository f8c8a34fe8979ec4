// Runs the uvu suite (compiled tests under dist/test) and ends with the plain summary line
// `N passed, N failed` (`, N skipped` when some were) that CI reads. Usage: node scripts/test.mjs [pattern]
// The interop lane's lines (`skipped: memcached not installed (x.test.js)`, `interop: ...`,
// `missing: ...`, see test/support/peers.ts) are repeated just above the summary.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pattern = process.argv[2] ? `${process.argv[2]}.*\\.test\\.js$` : '\\.test\\.js$';
const uvu = join(root, 'node_modules', 'uvu', 'bin.js');
const child = spawn(process.execPath, [uvu, 'dist/test', pattern], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
child.stdout.on('data', (d) => {
  out += d;
  process.stdout.write(d);
});
child.on('close', (code) => {
  // uvu prints "Total: N", "Passed: N", "Skipped: N" (with ANSI colours when a TTY).
  const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
  const num = (label) => Number((plain.match(new RegExp(`${label}:\\s+(\\d+)`)) ?? [])[1] ?? NaN);
  const total = num('Total'),
    passed = num('Passed'),
    skipped = num('Skipped') || 0;
  if (Number.isNaN(total) || Number.isNaN(passed)) {
    console.log('0 passed, 1 failed');
    process.exit(code || 1);
  }
  if (total === 0 && skipped === 0) {
    console.log(`no test matched ${pattern}`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  // uvu's Total counts the tests that ran (skipped ones are not in it).
  const failed = Math.max(0, total - passed);
  const lane = plain.split('\n').filter((l) => /^(skipped|interop|missing): /.test(l));
  for (const l of new Set(lane)) console.log(l);
  const line = skipped ? `${passed} passed, ${failed} failed, ${skipped} skipped` : `${passed} passed, ${failed} failed`;
  console.log(line);
  process.exit(failed > 0 || code ? 1 : 0);
});
