/**
 * src/addon-loader.ts: which native file is loaded, in which order, and what the error says when
 * none loads. Works on temporary package roots (no addon is really needed for the choices; the
 * real one is copied in to check that a prebuild is loaded when build/Release is absent).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { detectLibc, loadAddon, prebuildCandidates } from '../src/addon-loader.js';

// The ASan lane names its addon in SHMCACHED_ADDON: use that one, and put the variable back after
// each test that needs it unset (later test files start workers that load the addon again).
const saved = process.env.SHMCACHED_ADDON;
const real = saved ?? join(process.cwd(), 'build', 'Release', 'shmcached.node');

function root(): string {
  delete process.env.SHMCACHED_ADDON;
  return mkdtempSync(join(tmpdir(), 'shmcached-loader-'));
}

function restore(r: string): void {
  if (saved === undefined) delete process.env.SHMCACHED_ADDON;
  else process.env.SHMCACHED_ADDON = saved;
  rmSync(r, { recursive: true, force: true });
}

/** Runs `body` on a fresh temporary package root (SHMCACHED_ADDON unset); removes it and restores the variable after. */
function inRoot(body: (r: string) => void): void {
  const r = root();
  try {
    body(r);
  } finally {
    restore(r);
  }
}

/** The root's prebuilds/<platform>-<arch> directory, made. */
function prebuildDir(r: string): string {
  const dir = join(r, 'prebuilds', `${process.platform}-${process.arch}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

test('detectLibc: this Node is glibc; LIBC overrides', () => {
  assert.is(detectLibc(), 'glibc');
  process.env.LIBC = 'musl';
  try {
    assert.is(detectLibc(), 'musl');
  } finally {
    delete process.env.LIBC;
  }
});

test('prebuildCandidates: only matching libc, N-API and most tags first, unknown tags ignored', () =>
  inRoot((r) => {
    for (const f of [
      'shmcached.napi.glibc.node',
      'shmcached.napi.musl.node',
      'shmcached.glibc.node',
      'node.abi1.node',
      'readme.txt',
      'electron.napi.node',
    ]) {
      writeFileSync(join(r, f), '');
    }
    const names = prebuildCandidates(r, 'glibc').map((p) => p.slice(r.length + 1));
    assert.equal(names, ['shmcached.napi.glibc.node', 'shmcached.glibc.node']);
    assert.equal(
      prebuildCandidates(r, 'musl').map((p) => p.slice(r.length + 1)),
      ['shmcached.napi.musl.node'],
    );
    assert.equal(prebuildCandidates(join(r, 'absent'), 'glibc'), []);
  }));

test('loadAddon: a prebuild is loaded when build/Release is absent', () =>
  inRoot((r) => {
    const dir = prebuildDir(r);
    copyFileSync(real, join(dir, 'shmcached.napi.glibc.node'));
    const { module, location } = loadAddon<{ open: unknown }>(r);
    assert.is(location.kind, 'prebuild');
    assert.is(location.file, join(dir, 'shmcached.napi.glibc.node'));
    assert.type(module.open, 'function');
  }));

test('loadAddon: nothing loadable names every place looked at', () =>
  inRoot((r) => {
    const dir = prebuildDir(r);
    writeFileSync(join(dir, 'shmcached.napi.glibc.node'), 'not an ELF file');
    let err: Error | undefined;
    try {
      loadAddon(r);
    } catch (e) {
      err = e as Error;
    }
    assert.ok(err, 'loadAddon threw');
    const msg = err!.message;
    assert.match(msg, `${process.platform}-${process.arch}`);
    assert.match(msg, `${join(r, 'build', 'Release', 'shmcached.node')} (absent)`);
    assert.match(msg, `${join(dir, 'shmcached.napi.glibc.node')} (does not load`);
    assert.match(msg, 'npm rebuild shmcached');
  }));

test('loadAddon: SHMCACHED_ADDON comes first and is never skipped', () =>
  inRoot((r) => {
    process.env.SHMCACHED_ADDON = join(r, 'missing.node');
    assert.throws(() => loadAddon(r), /missing\.node/);
    process.env.SHMCACHED_ADDON = real;
    assert.is(loadAddon(r).location.kind, 'env');
  }));

test.run();
