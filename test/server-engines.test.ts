// The server suites again, served by the native engine: `npm test` runs server.test.ts and
// stats.test.ts with SHMCACHED_ENGINE=native in a child process (createServer's default engine
// then is 'native'), so every protocol, limit and stats test there covers both engines.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const t = suite('server: the suites on the native engine');
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

for (const file of ['server', 'stats']) {
  t(`${file}.test.ts passes with SHMCACHED_ENGINE=native`, () => {
    const r = spawnSync(process.execPath, [join(root, 'node_modules', 'uvu', 'bin.js'), 'dist/test', `^${file}\\.test\\.js$`], {
      cwd: root,
      env: { ...process.env, SHMCACHED_ENGINE: 'native' },
      encoding: 'utf8',
      timeout: 240_000,
    });
    const out = (r.stdout ?? '').replace(/\x1b\[[0-9;]*m/g, '');
    const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? NaN);
    const passed = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? NaN);
    assert.is(r.status, 0, out.slice(-3000) + (r.stderr ?? ''));
    assert.ok(total > 0 && passed === total, out.slice(-3000));
  });
}

t.run();
