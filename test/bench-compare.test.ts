/**
 * `npm run bench -- compare`: reads two result files and lines up their metrics. No timing here:
 * the files are written by the test, and the assertions are about parsing and arithmetic.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { compareRuns, metricsOf } from '../bench/compare.js';

const partA = {
  part: 'latency',
  version: 2,
  metrics: [
    { id: 'latency/Get 128 B/shmcached', value: 400, unit: 'ns/op', better: 'lower' },
    { id: 'latency/Get 128 B/speed-up over memcached', value: 100, unit: '×', better: 'higher' },
    { id: 'latency/Delete/shmcached', value: 200, unit: 'ns/op', better: 'lower' },
    { id: 'latency/only-in-a', value: 1, unit: 'ns/op', better: 'lower' },
  ],
};
// A full run's file: the parts nested under `parts`.
const fullB = {
  kind: 'full run',
  parts: {
    latency: {
      part: 'latency',
      metrics: [
        { id: 'latency/Get 128 B/shmcached', value: 200, unit: 'ns/op', better: 'lower' },
        { id: 'latency/Get 128 B/speed-up over memcached', value: 80, unit: '×', better: 'higher' },
        { id: 'latency/Delete/shmcached', value: 204, unit: 'ns/op', better: 'lower' },
      ],
    },
    scaling: { part: 'scaling', metrics: [{ id: 'scaling/90/10/uniform/2 threads', value: 5e6, unit: 'ops/s', better: 'higher' }] },
  },
};

test('compare: two files on disk, a part file against a full-run file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shmcached-compare-'));
  try {
    const a = join(dir, 'a.json');
    const b = join(dir, 'b.json');
    writeFileSync(a, JSON.stringify(partA));
    writeFileSync(b, JSON.stringify(fullB));
    const out = compareRuns(JSON.parse(readFileSync(a, 'utf8')), JSON.parse(readFileSync(b, 'utf8')), 'a', 'b');
    const line = (id: string): string => out.split('\n').find((l) => l.includes(`| ${id} `)) ?? '';
    // 400 → 200 ns: B ÷ A = 0.50, lower is better.
    assert.match(line('latency/Get 128 B/shmcached'), /0\.50×\s*\|\s*better/);
    // a speed-up that fell from 100× to 80× is worse, though the number is smaller.
    assert.match(line('latency/Get 128 B/speed-up over memcached'), /0\.80×\s*\|\s*worse/);
    // 2% slower is within the noise band.
    assert.match(line('latency/Delete/shmcached'), /1\.02×\s*\|\s*same/);
    assert.ok(out.includes('3 metrics in both: 1 better, 1 worse, 1 within'));
    assert.ok(out.includes('1 only in a, 1 only in b'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('compare: the first latency format (rows, no metrics) is read through its rows', () => {
  const v1 = {
    part: 'latency',
    version: 1,
    rows: [{ op: 'get', valueSize: 128, keys: 100000, peers: { shmcached: { median: 424 }, Map: { error: 'x' } } }],
  };
  const ms = metricsOf(v1);
  assert.equal(ms.length, 1);
  assert.equal(ms[0]?.id, 'inproc/get 128 B 100000 keys/shmcached');
  assert.equal(ms[0]?.value, 424);
  assert.ok(compareRuns({}, v1).includes('No metric is in both runs.'));
});

test.run();
