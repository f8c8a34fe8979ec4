/**
 * The contract between the addon and TypeScript (contract/contract.json, docs/contract.md):
 * the generated files match the spec, an edit to one side only is caught (by the generator's
 * check, by the C++ static_asserts, at run time), and the loaded addon reports the same numbers
 * as src/contract.ts.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { contractValues, Layout } from '../src/contract.js';
import { native } from '../src/native.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const gen = join(root, 'scripts', 'gen-contract.mjs');
const FILES = ['contract/contract.json', 'native/contract.h', 'src/contract.ts'];

/** A copy of the three contract files in a temp tree, with `edit` applied to one of them. */
function withCopy(edit: { file: string; from: string; to: string } | undefined, fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'shmcached-contract-'));
  try {
    for (const f of FILES) {
      mkdirSync(join(dir, dirname(f)), { recursive: true });
      cpSync(join(root, f), join(dir, f));
    }
    if (edit) {
      const p = join(dir, edit.file);
      const text = readFileSync(p, 'utf8');
      assert.ok(text.includes(edit.from), `${edit.file} contains ${edit.from}`);
      writeFileSync(p, text.replace(edit.from, edit.to));
    }
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function check(dir: string): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [gen, '--check', '--root', dir], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

test('the committed generated files are what the spec gives', () => {
  const r = spawnSync(process.execPath, [gen, '--check'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  withCopy(undefined, (dir) => assert.is(check(dir).status, 0));
});

test('a constant changed in src/contract.ts only fails the check', () => {
  withCopy({ file: 'src/contract.ts', from: 'ValueOffset = 1024,', to: 'ValueOffset = 2048,' }, (dir) => {
    const r = check(dir);
    assert.is(r.status, 1);
    assert.match(r.stderr, 'src/contract.ts');
    assert.not.match(r.stderr, 'native/contract.h');
  });
});

test('a constant changed in native/contract.h only fails the check', () => {
  withCopy({ file: 'native/contract.h', from: 'kRetBusy = -8;', to: 'kRetBusy = -9;' }, (dir) => {
    const r = check(dir);
    assert.is(r.status, 1);
    assert.match(r.stderr, 'native/contract.h');
  });
});

test('a constant changed in the spec without regenerating fails the check for both sides', () => {
  withCopy({ file: 'contract/contract.json', from: '"value": 250', to: '"value": 251' }, (dir) => {
    const r = check(dir);
    assert.is(r.status, 1);
    assert.match(r.stderr, 'native/contract.h');
    assert.match(r.stderr, 'src/contract.ts');
    // Regenerating brings both sides along.
    assert.is(spawnSync(process.execPath, [gen, '--root', dir]).status, 0);
    assert.is(check(dir).status, 0);
    assert.match(readFileSync(join(dir, 'src/contract.ts'), 'utf8'), 'KeyMax = 251,');
  });
});

/** Compiles native/core/events.h (which static_asserts the contract against the real structs) with contract.h taken from dir. */
function compileEvents(dir: string): number | null {
  const r = spawnSync('c++', ['-std=c++20', '-fsyntax-only', '-x', 'c++', '-I', join(dir, 'native'), '-I', join(root, 'native'), '-'], {
    input: '#include "core/events.h"\nint main() { return 0; }\n',
    encoding: 'utf8',
  });
  return r.error ? null : r.status;
}

test('a layout constant that disagrees with the C++ structs does not compile', () => {
  const cxx = spawnSync('c++', ['--version']);
  if (cxx.error) {
    console.log('  (no c++ compiler: the static_assert half is skipped)');
    return;
  }
  withCopy(undefined, (dir) => assert.is(compileEvents(dir), 0, 'the committed contract compiles'));
  withCopy({ file: 'native/contract.h', from: 'kEventRecSize = 4;', to: 'kEventRecSize = 5;' }, (dir) =>
    assert.is.not(compileEvents(dir), 0),
  );
  withCopy({ file: 'native/contract.h', from: 'kLayoutKeyMax = 250;', to: 'kLayoutKeyMax = 251;' }, (dir) =>
    assert.is.not(compileEvents(dir), 0),
  );
});

test('the loaded addon was built from the same contract as src/contract.ts', () => {
  assert.equal(native.contract, { ...contractValues });
  assert.equal(native.layout, {
    valueOffset: Layout.ValueOffset,
    metaLens: Layout.MetaLens,
    keyMax: Layout.KeyMax,
    manyMax: Layout.ManyMax,
    itemHeader: Layout.ItemHeader,
  });
});

test.run();
