/**
 * Runs every ```js snippet of docs/values.md as its own module, with `shmcached` and
 * `shmcached/keyv` mapped to this build and its region path made unique, and checks the output
 * lines the snippets promise in their `// ...` comments.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { at, tmpRegion } from './helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const doc = readFileSync(`${root}docs/values.md`, 'utf8');
const snippets = [...doc.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => at(m, 1));
const index = new URL('../src/index.js', import.meta.url).href;
const keyv = new URL('../src/keyv.js', import.meta.url).href;

const t = suite('docs/values.md snippets');

t('there are snippets to run', () => {
  assert.ok(snippets.length >= 5, `${snippets.length} snippets`);
});

snippets.forEach((code, i) => {
  const first = code.split('\n').find((l) => l.includes('console.log')) ?? `snippet ${i}`;
  t(`snippet ${i + 1}: ${first.trim().slice(0, 60)}`, () => {
    const path = tmpRegion(`docs-${i}`);
    const src = code
      .replaceAll("'shmcached/keyv'", JSON.stringify(keyv))
      .replaceAll("'shmcached'", JSON.stringify(index))
      .replaceAll("'/dev/shm/app'", JSON.stringify(path));
    let printed: string;
    try {
      printed = execFileSync(process.execPath, ['--input-type=module', '-e', src], {
        encoding: 'utf8',
        cwd: root,
        env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (e) {
      const err = e as { status?: number; stderr?: string };
      throw new Error(`snippet ${i + 1} exited ${String(err.status)}: ${String(err.stderr).slice(-2000)}`);
    }
    const out = printed.trim().split('\n');
    // Each `console.log(...); // expected` line: the expected text starts the printed line.
    const expected = [...code.matchAll(/console\.log\(.*\);? \/\/ (.*)$/gm)].map((m) => at(m, 1).replace(/, loaded once$/, ''));
    let line = 0;
    for (const want of expected) {
      const got = out[line++] ?? '';
      assert.ok(got.startsWith(want), `line ${line}: printed ${JSON.stringify(got)}, the doc says ${JSON.stringify(want)}`);
    }
  });
});

t.run();
