/**
 * The C++ core's own test binaries (native/test/core_test.cc and core_stress.cc), built and run by
 * scripts/core-test.sh: semantics below the binding, corrupted-region safety in forked children,
 * and a multi-threaded stress run with exact invariants.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { peersRequired } from './support/peers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

// The binaries are compiled here with $CXX (g++): a machine with only Node (an install from a
// prebuilt binary) skips this file with one line; SHMCACHED_REQUIRE_PEERS=1 (CI) makes that a failure.
const cxx = process.env.CXX || 'g++';
const haveCxx = spawnSync(cxx, ['--version'], { stdio: 'ignore' }).status === 0;
if (!haveCxx)
  console.log(`${peersRequired() ? 'missing' : 'skipped'}: ${cxx} not installed, the C++ core tests cannot be built (core.test.js)`);
const ctest = haveCxx || peersRequired() ? test : test.skip;

ctest('core_test and core_stress pass (scripts/core-test.sh)', () => {
  const r = spawnSync('bash', ['scripts/core-test.sh'], { cwd: root, encoding: 'utf8', env: { ...process.env, STRESS_SECONDS: '20' } });
  const out = `${r.stdout}\n${r.stderr}`;
  const summary = out
    .trim()
    .split('\n')
    .filter((l) => /^\d+ passed, \d+ failed$/.test(l))
    .pop();
  assert.ok(summary, `core-test printed a summary:\n${out.slice(-2000)}`);
  const [, passed, failed] = /^(\d+) passed, (\d+) failed$/.exec(summary!)!;
  // The failing checks first (FAIL lines, a binary's exit status), then the tail: the output is
  // long (the header fuzz alone is 60 lines) and a failure early in it would not be in the tail.
  const failures = out
    .split('\n')
    .filter((l) => /^FAIL |FAILED|exited with status|^thread \d+ first error|^counter \d+:|^structure:/.test(l))
    .join('\n');
  assert.is(Number(failed), 0, `${failures}\n---\n${out.slice(-2000)}`);
  assert.ok(Number(passed) > 100, 'the core tests ran');
  assert.is(r.status, 0, out.slice(-2000));
});

// The layering the issue-16 reshape set: the protocol engine reaches the store only through
// native/proto/backend.h/.cc (its one door), and the core holds no Node-API.
test('native/proto includes nothing from native/core but through backend.h/.cc; native/core includes no Node-API', () => {
  const includes = (dir: string): Array<[string, string]> =>
    readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
      .filter((f) => /\.(cc|h)$/.test(f))
      .flatMap((f) =>
        [...readFileSync(join(root, dir, f), 'utf8').matchAll(/^#include [<"]([^>"]+)[>"]/gm)].map((m): [string, string] => [
          f,
          m[1] ?? '',
        ]),
      );
  const proto = includes('native/proto').filter(([f, inc]) => inc.startsWith('core/') && !/^backend\.(cc|h)$/.test(f));
  assert.equal(proto, [], 'parsers including core headers');
  const core = includes('native/core').filter(([, inc]) => /napi|node_api|node\.h/.test(inc));
  assert.equal(core, [], 'core files including Node-API');
});

test.run();
