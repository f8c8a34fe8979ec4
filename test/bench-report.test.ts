/** The full run's "targets at a glance": verdict lines gathered from each part's Markdown. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { targetLines } from '../bench/lib/report.js';

test('targetLines gathers table rows and bullets that carry a verdict, and nothing else', () => {
  const latency = {
    part: 'latency',
    json: { metrics: [] },
    markdown: [
      '| measure | this run | target | result |',
      '| --- | ---: | ---: | --- |',
      '| get 128 B speed-up | 15.7× | ≥ 100× | **missed** |',
      '| set 128 B speed-up | 71.0× | ≥ 70× | **met** |',
      'a line that says met without bold',
    ].join('\n'),
  };
  const memory = {
    part: 'memory',
    json: { metrics: [] },
    markdown: '## Target\n\n- items per 64 MiB at 100 B values ≥ 1.1× memcached: **met** (1.26×)\n',
  };
  assert.equal(targetLines([latency, memory]), [
    '- latency: get 128 B speed-up — 15.7× — ≥ 100× — **missed**',
    '- latency: set 128 B speed-up — 71.0× — ≥ 70× — **met**',
    '- memory: items per 64 MiB at 100 B values ≥ 1.1× memcached: **met** (1.26×)',
  ]);
});

test.run();
