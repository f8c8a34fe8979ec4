/**
 * docs/performance.md regenerated from a full bench run (`npm run bench -- doc`, and the end of a
 * full `npm run bench`): on a temporary doc and a temporary results folder, the marked section is
 * replaced by the run's machine and load lines, verdicts and tables, and nothing else changes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BEGIN_MARKER, END_MARKER, latestFullRun, replaceMarked, updatePerfDoc } from '../bench/lib/perf-doc.js';

/** A full run's report, shaped as bench/index.ts writes it (two parts, one with an SVG). */
function fullRun(time: string, getUs: string): string {
  return [
    `# shmcached benchmarks — full run, ${time} UTC`,
    '',
    '- Machine: Test CPU, 2 CPUs, 8 GiB RAM, linux/x64 6.1, Node v20.20.2 (V8 11.3), host `t`, load average at start 0.5 / 0.4 / 0.3',
    '- Load: 1-minute load average 0.5 when the run started, 2.1 when it ended, on 2 CPUs',
    '- Parts: latency, memory',
    '',
    "## Targets at a glance (each part's own verdicts, gathered)",
    '',
    '- latency: get 128 B speed-up — 88.1× — ≥ 100× — **missed**',
    '- memory: items per 64 MiB at 100 B values ≥ 1.1× memcached: **met** (1.26×)',
    '',
    "## shmcached latency: the paper's table — 2026-11-28, t",
    '',
    '- Machine: Test CPU, 2 CPUs, 8 GiB RAM, (the part repeats it)',
    '- Method: 100k keys.',
    '',
    '### The table',
    '',
    '| Operation | shmcached main |',
    '| --------- | -------------: |',
    `| Get 128 B | ${getUs} |`,
    '',
    '![latency, log scale](2026-11-28-t-latency.svg)',
    '',
    '## shmcached memory efficiency — 2026-11-28, t',
    '',
    '- items per 64 MiB at 100 B values ≥ 1.1× memcached: **met** (1.26×)',
    '',
  ].join('\n');
}

const PROSE_BEFORE = '# Performance\n\nWhy the numbers look the way they do (prose, kept as written).\n\n## Latest results\n\n';
const PROSE_AFTER = '\n\n## How to read them\n\nMore prose, with a trailing space \nand no final newline';

let dir: string;
let results: string;
let doc: string;

test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'shmcached-perf-doc-'));
  results = join(dir, 'bench', 'results');
  mkdirSync(results, { recursive: true });
  mkdirSync(join(dir, 'docs'));
  doc = join(dir, 'docs', 'performance.md');
});

test.after.each(() => {
  rmSync(dir, { recursive: true, force: true });
});

test('the marked section is replaced by the run; the text around it is kept byte for byte', () => {
  writeFileSync(join(results, '2026-11-28-t.md'), fullRun('2026-11-28 03:55', '0.573 (0.547–0.650)'));
  writeFileSync(doc, `${PROSE_BEFORE}${BEGIN_MARKER}\nold numbers\n| old | table |\n${END_MARKER}${PROSE_AFTER}`);
  const r = updatePerfDoc(dir);
  assert.ok(r.changed);
  assert.is(r.results, join(results, '2026-11-28-t.md'));
  const out = readFileSync(doc, 'utf8');
  assert.ok(out.startsWith(`${PROSE_BEFORE + BEGIN_MARKER}\n`), 'text before the begin marker unchanged');
  assert.ok(out.endsWith(`\n${END_MARKER}${PROSE_AFTER}`), 'text after the end marker unchanged');
  const section = out.slice(PROSE_BEFORE.length + BEGIN_MARKER.length, out.length - PROSE_AFTER.length - END_MARKER.length);
  assert.not.match(section, 'old numbers');
  assert.match(section, 'Latest full run: **2026-11-28 03:55 UTC** (`bench/results/2026-11-28-t.md`)');
  // The run's machine line (with its load average) and load line, once: the parts' own machine lines are dropped.
  assert.match(
    section,
    '- Machine: Test CPU, 2 CPUs, 8 GiB RAM, linux/x64 6.1, Node v20.20.2 (V8 11.3), host `t`, load average at start 0.5 / 0.4 / 0.3',
  );
  assert.match(section, '- Load: 1-minute load average 0.5 when the run started, 2.1 when it ended, on 2 CPUs');
  assert.is(section.split('Machine:').length - 1, 1);
  // Verdicts and tables, headings one level deeper; the SVG link points from docs/ to bench/results/.
  assert.match(section, "\n### Targets at a glance (each part's own verdicts, gathered)\n");
  assert.match(section, '- latency: get 128 B speed-up — 88.1× — ≥ 100× — **missed**');
  assert.match(section, "\n### shmcached latency: the paper's table — 2026-11-28, t\n");
  assert.match(section, '\n#### The table\n');
  assert.match(section, '| Get 128 B | 0.573 (0.547–0.650) |');
  assert.match(section, '![latency, log scale](../bench/results/2026-11-28-t-latency.svg)');
  assert.match(section, '- items per 64 MiB at 100 B values ≥ 1.1× memcached: **met** (1.26×)');
  assert.not.match(section, /\n\n\n/);

  // Again from the same run: nothing to change.
  assert.is(updatePerfDoc(dir).changed, false);
  assert.is(readFileSync(doc, 'utf8'), out);
});

test('the newest full run is used: part reports and older runs are passed over', () => {
  writeFileSync(join(results, '2026-11-27-t.md'), fullRun('2026-11-27 23:10', 'older'));
  writeFileSync(join(results, '2026-11-28-t.md'), fullRun('2026-11-28 03:55', 'newest'));
  writeFileSync(join(results, '2026-11-29-t-latency.md'), "# shmcached latency: the paper's table — 2026-11-29, t\n\n| a part alone |\n");
  assert.is(latestFullRun(results), join(results, '2026-11-28-t.md'));
  writeFileSync(doc, `${BEGIN_MARKER}\n${END_MARKER}\n`);
  updatePerfDoc(dir);
  const out = readFileSync(doc, 'utf8');
  assert.match(out, '| Get 128 B | newest |');
  assert.not.match(out, 'older');
  assert.not.match(out, 'a part alone');
  // An explicit results file (the .json beside the report works too) wins over the newest.
  updatePerfDoc(dir, { results: join(results, '2026-11-27-t.json') });
  assert.match(readFileSync(doc, 'utf8'), '| Get 128 B | older |');
});

test('without both markers, or without a full run, nothing is written and the error says why', () => {
  writeFileSync(join(results, '2026-11-28-t.md'), fullRun('2026-11-28 03:55', '1'));
  const noEnd = `${PROSE_BEFORE}${BEGIN_MARKER}\nkeep me\n`;
  writeFileSync(doc, noEnd);
  assert.throws(() => updatePerfDoc(dir), /bench:end/);
  assert.is(readFileSync(doc, 'utf8'), noEnd);
  assert.throws(() => replaceMarked(`${END_MARKER}\n${BEGIN_MARKER}\n`, 'x'), /before/);
  assert.throws(() => replaceMarked(`${BEGIN_MARKER}${END_MARKER}${BEGIN_MARKER}${END_MARKER}`, 'x'), /more than once/);
  rmSync(join(results, '2026-11-28-t.md'));
  writeFileSync(doc, `${BEGIN_MARKER}\nkeep\n${END_MARKER}\n`);
  assert.throws(() => updatePerfDoc(dir), /no full run/);
  assert.is(readFileSync(doc, 'utf8'), `${BEGIN_MARKER}\nkeep\n${END_MARKER}\n`);
});

test('replaceMarked puts the section on its own lines between the markers', () => {
  assert.is(replaceMarked(`a ${BEGIN_MARKER} b ${END_MARKER} c`, '\n\nX\nY\n\n'), `a ${BEGIN_MARKER}\nX\nY\n${END_MARKER} c`);
});

test.run();
