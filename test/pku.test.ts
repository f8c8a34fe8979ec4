/**
 * Memory protection keys (DESIGN.md "Gates", issue 3). The same file runs everywhere and branches
 * on `pkuInfo().available`, which is itself checked against /proc/cpuinfo:
 *
 *  - with PKU (the QEMU VM of `npm run test:pku`): 'auto' gives 'pku'; region memory touched from
 *    outside a gate kills the process with SIGSEGV / SEGV_PKUERR, from the main thread and from a
 *    worker_thread (in child processes); after every kind of call the thread's PKRU denies our key
 *    again and leaves every other key's bits (V8's among them) as they were;
 *  - without PKU (the development machines): 'pku' throws ERR_PKU_UNAVAILABLE, 'auto' gives 'none',
 *    the probe reads and writes without faulting, and PKRU reads as -1.
 *
 * Plus, everywhere: the API semantics suite (cache.test.js) passes on a worker_thread as well, and
 * keys and values in a SharedArrayBuffer that another thread keeps changing during the calls
 * (through the public API, and straight into the binding's own buffers) never crash the process
 * or corrupt the store.
 *
 * `npm run test:pku` (scripts/test-pku.sh) runs this file with cache.test.js and shared.test.js in
 * the VM. Knobs: PKU_SAB_ITERS (iterations of each SharedArrayBuffer loop, default 20000),
 * PKU_TEST_VERBOSE=1 (print the loops' counts).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { subscribe, unsubscribe } from 'node:diagnostics_channel';

import { metaOps, nativeOf } from '../src/cache.js';
import { Cache, CacheError, flushEvents } from '../src/index.js';
import { native } from '../src/native.js';
import { at, tmpRegion } from './helpers.js';

const indexUrl = new URL('../src/index.js', import.meta.url).href;
const nativeUrl = new URL('../src/native.js', import.meta.url).href;
const probeScript = fileURLToPath(new URL('./pku-support/probe.js', import.meta.url));
const suiteInWorker = new URL('./pku-support/suite-in-worker.js', import.meta.url);

const info = native.pkuInfo();
const KEY = info.key;
const SEGV_PKUERR = 4;

/**
 * This thread's PKRU before any gate has run on it (uvu imports every test file before it runs any
 * test), read through a handle on a region opened with protection 'none', whose calls open no
 * gate. The bits of every key but ours must still read the same after any call: a gate that wrote
 * a constant PKRU, or got V8's key wrong, shows up against this and not against a value read after
 * a first gate.
 */
function pkruWithoutGates(path: string): number {
  const h = native.open(path, 8 << 20, 0, -1, true, 0o600, 0);
  const p = h.pkru();
  h.close();
  return p;
}
const PKRU0 = pkruWithoutGates(tmpRegion('baseline'));

/** What the machine says, independently of the addon: the CPU has PKU and the kernel enabled it. */
function cpuinfoHasOspke(): boolean {
  try {
    const flags = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('flags'));
    return flags !== undefined && /\bpku\b/.test(flags) && /\bospke\b/.test(flags);
  } catch {
    return false;
  }
}

function hex(n: number): string {
  return n < 0 ? String(n) : `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

/** Our key's access-disable bit is set in `pkru`, and no other key's bits moved since `before`. */
function assertDenied(pkru: number, before: number, what: string): void {
  if (!info.available) {
    assert.is(pkru, -1, `${what}: without PKU the PKRU hook reads -1`);
    return;
  }
  assert.ok(Number.isInteger(pkru) && pkru >= 0 && pkru <= 0xffffffff, `${what}: PKRU is a 32-bit value, got ${pkru}`);
  assert.is((pkru >>> (2 * KEY)) & 1, 1, `${what}: PKRU ${hex(pkru)} must deny key ${KEY} (access-disable bit ${2 * KEY})`);
  const others = ~(3 << (2 * KEY)) >>> 0;
  assert.is(hex((pkru & others) >>> 0), hex((before & others) >>> 0), `${what}: the bits of every other key (V8's included) are unchanged`);
}

function isApiError(e: unknown): boolean {
  return e instanceof TypeError || e instanceof RangeError || e instanceof CacheError;
}

function codeOf(e: unknown): string {
  return (e as { code?: string })?.code ?? (e as Error)?.name ?? String(e);
}

const cacheUrl = new URL('../src/cache.js', import.meta.url).href;

/** Runs `body` (an async function body; `Cache`, `CacheError`, `native`, `workerData`, and what the cases use, in scope) in a worker_thread; resolves to what it returns. */
function runWorker(body: string, data: unknown): Promise<unknown> {
  const code = `
    import { workerData, parentPort } from 'node:worker_threads';
    const { Cache, CacheError, flushEvents } = await import(${JSON.stringify(indexUrl)});
    const { metaOps, nativeOf } = await import(${JSON.stringify(cacheUrl)});
    const { subscribe, unsubscribe } = await import('node:diagnostics_channel');
    const { native } = await import(${JSON.stringify(nativeUrl)});
    const result = await (async () => { ${body} })();
    parentPort.postMessage(result);
  `;
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), { workerData: data });
    let result: unknown;
    w.on('message', (m) => (result = m));
    w.on('error', reject);
    w.on('exit', (c) => (c === 0 ? resolve(result) : reject(new Error(`worker exited ${c}`))));
  });
}

// A tiny wasm module, (i32, i32) -> i32 add: compiling it makes V8 write code pages, which V8
// guards with its own protection key where PKU is available.
const WASM_ADD = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x07, 0x07,
  0x01, 0x03, 0x61, 0x64, 0x64, 0x00, 0x00, 0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b,
]);

// ---------------------------------------------------------------------------------------------
const modes = suite('pku: modes');

modes('pkuInfo agrees with /proc/cpuinfo (and the SHMCACHED_NO_PKU override)', () => {
  assert.type(info.available, 'boolean');
  assert.ok(Number.isInteger(info.key), `key is an integer, got ${info.key}`);
  // scripts/test-pku.sh sets SHMCACHED_TEST_REQUIRE_PKU in the VM: there the PKU branch must run.
  if (process.env.SHMCACHED_TEST_REQUIRE_PKU)
    assert.ok(info.available, 'PKU is required in this run (SHMCACHED_TEST_REQUIRE_PKU) but pkuInfo().available is false');
  const expected = cpuinfoHasOspke() && !process.env.SHMCACHED_NO_PKU;
  assert.is(info.available, expected, `cpuinfo says pku+ospke=${cpuinfoHasOspke()}, addon says available=${info.available}`);
  if (info.available) {
    // Key 0 is the default key of all memory; Node 20's V8 usually holds 1.
    assert.ok(info.key >= 1 && info.key <= 15, `a real key, got ${info.key}`);
  } else {
    assert.is(info.key, -1);
  }
  // The suite runs node with its default flags: V8 keeps its own memory-protection-key use.
  assert.not.ok(
    process.execArgv.some((a) => /protection-keys/.test(a)),
    `execArgv ${process.execArgv.join(' ')}`,
  );
});

modes("'auto' gives pku exactly where PKU is available; stats() and the native handle agree", () => {
  const path = tmpRegion('auto');
  const c = Cache.open({ path, size: '8mb', reset: true });
  const want = info.available ? 'pku' : 'none';
  assert.is(c.protection, want);
  assert.is(c.stats().protection, want);
  const def = Cache.open({ path: tmpRegion('auto-default'), size: '8mb', reset: true, protection: 'auto' });
  assert.is(def.protection, want);
  const h = native.open(path, 0, 0, -1, false, 0o600);
  assert.is(h.protection, info.available ? 1 : 0);
  assertDenied(h.pkru(), PKRU0, 'raw handle');
  c.set('k', 'v');
  assert.is(c.get('k')?.toString(), 'v', 'the store works under this protection');
  h.close();
  def.close();
  c.close();
});

modes("'pku' works with PKU and throws CacheError ERR_PKU_UNAVAILABLE without it", () => {
  const path = tmpRegion('pku');
  if (info.available) {
    const c = Cache.open({ path, size: '8mb', reset: true, protection: 'pku' });
    assert.is(c.protection, 'pku');
    assert.is(c.stats().protection, 'pku');
    c.set('a', '1');
    assert.is(c.incr('a', 41), 42n);
    c.close();
  } else {
    let err: unknown;
    try {
      Cache.open({ path, size: '8mb', reset: true, protection: 'pku' });
    } catch (e) {
      err = e;
    }
    assert.instance(err, CacheError, 'a CacheError');
    assert.is((err as CacheError).code, 'ERR_PKU_UNAVAILABLE');
    assert.match((err as Error).message, /pku/i, 'the message names the missing feature');
    assert.match((err as Error).message, /'auto'|'none'/, 'and says what to use instead');
  }
});

modes("'none' is always available, and a mapping's protection is decided by the first open", () => {
  const pathNone = tmpRegion('none');
  const n = Cache.open({ path: pathNone, size: '8mb', reset: true, protection: 'none' });
  assert.is(n.protection, 'none');
  assert.is(n.stats().protection, 'none');
  const auto = Cache.open({ path: pathNone });
  assert.is(auto.protection, 'none', "'auto' takes the protection in force");
  auto.close();
  const err = (() => {
    try {
      Cache.open({ path: pathNone, protection: 'pku' });
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  assert.instance(err, CacheError, "'pku' on a region mapped with 'none' throws");
  assert.is((err as CacheError).code, info.available ? 'ERR_REGION_MISMATCH' : 'ERR_PKU_UNAVAILABLE');
  // A region mapped without a key is readable from outside a gate even on a PKU machine: the probe
  // itself is not what faults in the probe tests below.
  const h = native.open(pathNone, 0, 0, -1, false, 0o600);
  assert.is(h.protection, 0);
  assert.type(h.probe(0), 'number');
  assert.type(h.probe(1), 'number');
  h.close();
  n.set('still', 'fine');
  assert.is(n.get('still')?.toString(), 'fine');

  if (info.available) {
    const pathPku = tmpRegion('first-pku');
    const p = Cache.open({ path: pathPku, size: '8mb', reset: true, protection: 'pku' });
    const autoPku = Cache.open({ path: pathPku });
    assert.is(autoPku.protection, 'pku', "'auto' takes the protection in force");
    autoPku.close();
    assert.throws(
      () => Cache.open({ path: pathPku, protection: 'none' }),
      (e: Error) => e instanceof CacheError && codeOf(e) === 'ERR_REGION_MISMATCH',
    );
    p.close();
  }
  n.close();
});

modes('without PKU the probe reads and writes region memory in-process without faulting', () => {
  if (info.available) return; // with PKU this would kill the test runner: see the probe suite
  const path = tmpRegion('probe-none');
  const c = Cache.open({ path, size: '8mb', reset: true });
  c.set('k', 'v');
  const h = native.open(path, 0, 0, -1, false, 0o600);
  const r = h.probe(0);
  assert.ok(Number.isInteger(r) && r >= 0 && r <= 255, `read returned a byte, got ${r}`);
  const w = h.probe(1);
  assert.is(w, r, 'the write probe stores the byte it read');
  assert.is(h.probe(2), r, 'the handler form returns too');
  assert.is(h.probe(3), r);
  assert.is(h.pkru(), -1);
  assert.is(c.get('k')?.toString(), 'v', 'the store is intact');
  h.close();
  c.close();
});

modes.run();

// ---------------------------------------------------------------------------------------------
const gates = suite('pku: gates close after every call');

/** [name, call, expected outcome: 'ok' or the error code (or class name) it must throw]. */
type Case = [string, () => unknown, string];

function cases(c: Cache, full: Cache, junkPath: string): Case[] {
  const big = Buffer.alloc(300 * 1024, 0x61); // larger than a get arena: the refill path
  const target = Buffer.alloc(16);
  return [
    ['set', () => c.set('k', 'value', { flags: 7, ttl: 100 }), 'ok'],
    ['get (hit)', () => assert.is(c.get('k')?.toString(), 'value'), 'ok'],
    ['get (miss)', () => assert.is(c.get('absent'), undefined), 'ok'],
    ['gets', () => assert.is(c.gets('k')?.flags, 7), 'ok'],
    ['gat', () => assert.is(c.gat('k', 200)?.toString(), 'value'), 'ok'],
    ['touch', () => assert.is(c.touch('k', 300), true), 'ok'],
    ['set (large)', () => c.set('big', big), 'ok'],
    ['get (large, arena refill)', () => assert.is(c.get('big')?.length, big.length), 'ok'],
    ['getInto', () => assert.is(c.getInto('k', target), 5), 'ok'],
    ['getInto (target too small)', () => assert.is(c.getInto('big', target), big.length), 'ok'],
    ['add (exists: not stored)', () => assert.is(c.add('k', 'x'), false), 'ok'],
    ['replace (missing: not stored)', () => assert.is(c.replace('absent', 'x'), false), 'ok'],
    ['append', () => assert.is(c.append('k', '!'), true), 'ok'],
    ['prepend', () => assert.is(c.prepend('k', '!'), true), 'ok'],
    ['cas (exists)', () => assert.is(c.cas('k', 'x', c.gets('k')!.cas + 1000n), 'exists'), 'ok'],
    ['set number', () => c.set('n', '10'), 'ok'],
    ['incr', () => assert.is(c.incr('n', 5), 15n), 'ok'],
    ['decr', () => assert.is(c.decr('n', 20), 0n), 'ok'],
    ['incr (miss)', () => assert.is(c.incr('absent'), undefined), 'ok'],
    ['delete', () => assert.is(c.delete('n'), true), 'ok'],
    ['setMany', () => c.setMany(Array.from({ length: 50 }, (_, i) => [`m${i}`, `v${i}`] as const)), 'ok'],
    ['getMany', () => assert.is(c.getMany(Array.from({ length: 50 }, (_, i) => `m${i}`)).filter(Boolean).length, 50), 'ok'],
    ['stats', () => assert.ok(Number(c.stats().curr_items) > 0), 'ok'],
    ['stats slabs', () => c.stats('slabs'), 'ok'],
    ['resetStats', () => c.resetStats(), 'ok'],
    ['advanceClock', () => c.advanceClock(1), 'ok'],
    // fetch's store reads and writes (mg N, md I): the gated meta calls.
    ['meta get (fetch: vivify and win)', () => assert.is(metaOps.get(c, 'fetched', 30, -1)?.won, true), 'ok'],
    ['invalidate', () => assert.is(c.invalidate('k'), true), 'ok'],
    // The wire protocol engine parses outside the gates and calls the core through them.
    [
      'protocol engine (text, meta)',
      () => {
        const conn = nativeOf(c)!.protoConn(new Int32Array(1));
        const slab = Buffer.alloc(64 * 1024);
        const n = conn.feed(Buffer.from('set w 0 0 1\r\nx\r\nget w\r\nmg w v\r\nms w2 2\r\nhi\r\nstats\r\n'), slab, 0);
        const out = slab.toString('latin1', 0, Math.max(0, n));
        conn.close();
        assert.ok(out.startsWith('STORED\r\nVALUE w 0 1\r\nx\r\nEND\r\nVA 1\r\nx\r\nHD\r\nSTAT pid '), JSON.stringify(out.slice(0, 80)));
      },
      'ok',
    ],
    // Expiry events: recorded inside the gate into private memory, drained through one.
    [
      'events (an expiry recorded and published)',
      () => {
        const seen: unknown[] = [];
        const on = (m: unknown) => seen.push(m);
        subscribe('shmcached:expire', on);
        try {
          flushEvents();
          c.set('short', 'v', { ttl: 1 });
          c.advanceClock(5);
          assert.is(c.get('short'), undefined);
          flushEvents();
          assert.is(seen.length, 1);
        } finally {
          unsubscribe('shmcached:expire', on);
          flushEvents();
        }
      },
      'ok',
    ],
    // Errors reported by the core (a status from inside a gate).
    ['incr (non-numeric value)', () => c.incr('k'), 'ERR_NON_NUMERIC'],
    ['get (key with a space, refused by the core)', () => c.get('a b'), 'ERR_INVALID_ARG_VALUE'],
    ['getMany (one bad key)', () => c.getMany(['m1', 'bad\nkey']), 'ERR_INVALID_ARG_VALUE'],
    [
      'set (full, evict: false)',
      () => {
        for (let i = 0; i < 200; i++) full.set(`fill${i}`, big);
      },
      'ERR_OUT_OF_MEMORY',
    ],
    // Errors the addon throws itself.
    ['open (not a region file)', () => Cache.open({ path: junkPath }), 'ERR_BAD_REGION'],
    ['open (size differs from the open region)', () => Cache.open({ path: c.path, size: '32mb' }), 'ERR_REGION_MISMATCH'],
    // Throws before reaching the addon.
    ['set (key of the wrong type)', () => c.set(123 as unknown as string, 'v'), 'ERR_INVALID_ARG_TYPE'],
    ['get (empty key)', () => c.get(''), 'ERR_OUT_OF_RANGE'],
    ['incr (negative delta)', () => c.incr('k', -1), 'ERR_OUT_OF_RANGE'],
    ['set (value too large)', () => c.set('k', Buffer.alloc(2 * 1024 * 1024)), 'ERR_VALUE_TOO_LARGE'],
    ['stats (unknown group)', () => c.stats('bogus' as 'general'), 'ERR_INVALID_ARG_VALUE'],
    ['flushAll', () => c.flushAll(), 'ok'],
    ['get after flush', () => assert.is(c.get('k'), undefined), 'ok'],
    ['set after flush', () => c.set('after-flush', String(c.protection)), 'ok'],
  ];
}

function runCases(c: Cache, full: Cache, junkPath: string, pkru: () => number, before: number): string[] {
  const problems: string[] = [];
  const kinds = new Set<string>();
  for (const [name, call, want] of cases(c, full, junkPath)) {
    let got = 'ok';
    try {
      call();
    } catch (e) {
      got = isApiError(e) ? codeOf(e) : `unexpected ${String(e)}`;
    }
    if (got !== want) problems.push(`${name}: expected ${want}, got ${got}`);
    kinds.add(want === 'ok' ? 'ok' : 'error');
    const p = pkru();
    try {
      assertDenied(p, before, `after ${name} (${got})`);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  if (kinds.size !== 2) problems.push('the cases did not cover both successes and errors');
  return problems;
}

gates('on the main thread: PKRU denies our key before, between and after calls of every kind', () => {
  const c = Cache.open({ path: tmpRegion('gates'), size: '16mb', reset: true });
  const full = Cache.open({ path: tmpRegion('gates-full'), size: '4mb', reset: true, evict: false });
  assertDenied(PKRU0, PKRU0, 'before any gate on this thread');
  assertDenied(c._pkru(), PKRU0, 'after open');
  const junk = tmpRegion('gates-junk');
  writeFileSync(junk, 'not a region\n'.repeat(1000));
  const problems = runCases(c, full, junk, () => c._pkru(), PKRU0);
  assert.equal(problems, [], problems.join('\n'));
  // A closed cache throws before the addon; the thread's PKRU (read through another handle) still denies.
  const other = Cache.open({ path: tmpRegion('gates-closed'), size: '4mb', reset: true });
  full.close();
  assert.throws(
    () => full.get('x'),
    (e: Error) => codeOf(e) === 'ERR_CACHE_CLOSED',
  );
  assertDenied(other._pkru(), PKRU0, 'after a call on a closed cache');
  other.close();
  c.close();
});

gates('on a worker_thread: the same calls, and a fresh thread starts denied', async () => {
  const path = tmpRegion('gates-worker');
  const fullPath = tmpRegion('gates-worker-full');
  const main = Cache.open({ path, size: '16mb', reset: true });
  const mainFull = Cache.open({ path: fullPath, size: '4mb', reset: true, evict: false });
  const junk = tmpRegion('gates-worker-junk');
  writeFileSync(junk, 'not a region\n'.repeat(1000));
  // The cases themselves run in the worker: the code is shipped as source.
  const src = `(${cases.toString()})`;
  const run = `(${runCases.toString()})`;
  const res = (await runWorker(
    `
    const info = native.pkuInfo();
    const KEY = info.key;
    const hex = ${hex.toString()};
    const isApiError = (e) => e instanceof TypeError || e instanceof RangeError || e instanceof CacheError;
    const codeOf = ${codeOf.toString()};
    const assert = {
      is(a, b, m) { if (a !== b) throw new Error((m || '') + ': ' + a + ' !== ' + b); },
      ok(v, m) { if (!v) throw new Error(m || 'not ok'); },
    };
    const assertDenied = ${assertDenied.toString()};
    const cases = ${src};
    const runCases = ${run};
    const pkruWithoutGates = ${pkruWithoutGates.toString()};
    const problems = [];
    // A new thread inherits its creator's PKRU: the main thread's, as it was before any gate.
    const base = pkruWithoutGates(workerData.basePath);
    try { assertDenied(base, workerData.pkru0, 'fresh worker thread'); } catch (e) { problems.push(e.message); }
    const c = Cache.open({ path: workerData.path, protection: info.available ? 'pku' : 'none' });
    const full = Cache.open({ path: workerData.fullPath });
    try { assertDenied(c._pkru(), base, 'after open on the worker'); } catch (e) { problems.push(e.message); }
    problems.push(...runCases(c, full, workerData.junk, () => c._pkru(), base));
    const protection = c.protection;
    c.close(); full.close();
    return { problems, protection, key: info.key };
  `,
    { path, fullPath, junk, basePath: tmpRegion('gates-worker-base'), pkru0: PKRU0 },
  )) as { problems: string[]; protection: string; key: number };
  assert.is(res.key, KEY, 'the key is per process');
  assert.is(res.protection, info.available ? 'pku' : 'none');
  assert.equal(res.problems, [], res.problems.join('\n'));
  // The worker's writes are visible here (the same store, through gates on another thread).
  assert.is(main.get('after-flush')?.toString(), res.protection);
  mainFull.close();
  main.close();
});

gates("V8's own key keeps working: wasm compiles and runs between cache calls, on both threads", async () => {
  const c = Cache.open({ path: tmpRegion('v8key'), size: '8mb', reset: true });
  const before = PKRU0;
  for (let i = 0; i < 20; i++) {
    c.set(`w${i}`, String(i));
    const inst = new WebAssembly.Instance(new WebAssembly.Module(WASM_ADD));
    const add = inst.exports.add as (a: number, b: number) => number;
    assert.is(add(i, Number(c.incr(`w${i}`, 1))), 2 * i + 1);
    assertDenied(c._pkru(), before, `round ${i}`);
  }
  const r = await runWorker(
    `
    const c = Cache.open({ path: workerData.path });
    let sum = 0;
    for (let i = 0; i < 20; i++) {
      const inst = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(workerData.wasm)));
      sum += inst.exports.add(i, Number(c.get('w' + i).toString()));
    }
    c.close();
    return sum;
  `,
    { path: c.path, wasm: Array.from(WASM_ADD) },
  );
  assert.is(r, (2 * (19 * 20)) / 2 + 20);
  c.close();
});

gates('the API semantics suite (cache.test.js) passes on a worker_thread too', async () => {
  // Main-thread runs of cache.test.js are the runner's own; this runs the same file again with
  // every call made from a worker_thread (protection 'pku' wherever 'auto' means it).
  const file = fileURLToPath(new URL('./cache.test.js', import.meta.url));
  const w = new Worker(suiteInWorker, { workerData: { files: [file] }, stdout: true });
  let out = '';
  w.stdout.setEncoding('utf8');
  w.stdout.on('data', (d: string) => (out += d));
  let code: number | undefined;
  w.on('message', (m: { code: number }) => (code = m.code));
  const exit = await new Promise<number>((resolve, reject) => {
    w.on('error', reject);
    w.on('exit', resolve);
  });
  await new Promise((r) => setImmediate(r));
  // The worker's report must not look like the runner's own summary (scripts/test.mjs reads the
  // first "Total:" it sees): relabel it before it can appear in a failure message.
  const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
  const num = (label: string) => Number((plain.match(new RegExp(`${label}:\\s+(\\d+)`)) ?? [])[1] ?? NaN);
  const total = num('Total'),
    passed = num('Passed');
  const report = plain.replace(/(Total|Passed|Skipped|Duration):/g, (_, l: string) => `worker ${l.toLowerCase()}`).slice(-6000);
  assert.is(exit, 0, `the worker exited 0\n${report}`);
  assert.is(code, 0, `uvu reported no failure on the worker\n${report}`);
  assert.ok(total > 20, `the worker ran the suite (${total} tests)\n${report}`);
  assert.is(passed, total, `every test passed on the worker\n${report}`);
});

gates.run();

// ---------------------------------------------------------------------------------------------
const probes = suite('pku: touching the region from outside a gate');

interface ProbeRun {
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

function probeChild(path: string, mode: number, where: 'main' | 'worker'): ProbeRun {
  const r = spawnSync(process.execPath, [probeScript, path, String(mode), where], { encoding: 'utf8', timeout: 300_000 });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

function describeRun(r: ProbeRun): string {
  return `status=${r.status} signal=${r.signal}\nstdout: ${r.stdout.trim()}\nstderr: ${r.stderr.trim().slice(0, 2000)}`;
}

for (const where of ['main', 'worker'] as const) {
  for (const [mode, what] of [
    [2, 'read'],
    [3, 'write'],
  ] as const) {
    probes(`a ${what} from the ${where} thread ${info.available ? 'dies with SIGSEGV / SEGV_PKUERR' : 'returns the byte (no PKU)'}`, () => {
      const path = tmpRegion(`probe-${where}-${what}`);
      const c = Cache.open({ path, size: '8mb', reset: true });
      c.set('before', 'probe');
      const r = probeChild(path, mode, where);
      const line = r.stdout.match(/probe: thread=(\w+) protection=(\w+) key=(-?\d+)/);
      assert.ok(line, `the child reached the probe\n${describeRun(r)}`);
      assert.is(line![1], where);
      if (info.available) {
        assert.is(line![2], 'pku', `the child runs with PKU\n${describeRun(r)}`);
        assert.is(r.status, 77, `the handler ran and exited 77\n${describeRun(r)}`);
        assert.match(r.stderr, new RegExp(`probe: SIGSEGV si_code=${SEGV_PKUERR}\\b`), `si_code is SEGV_PKUERR\n${describeRun(r)}`);
        assert.not.match(r.stdout, /probe: returned/, 'the probe never came back');
      } else {
        assert.is(line![2], 'none');
        assert.is(r.status, 0, describeRun(r));
        assert.not.match(r.stderr, /SIGSEGV/);
        assert.match(r.stdout, /probe: returned (\d+)\n/, describeRun(r));
      }
      // Whatever happened to the child, the store is intact for this process.
      assert.is(c.get('before')?.toString(), 'probe');
      assert.is(c.get('probe:warm')?.toString(), '42');
      c.close();
    });
  }
}

probes(`without a handler the fault ${info.available ? 'kills the process with SIGSEGV' : 'does not happen'}`, () => {
  const path = tmpRegion('probe-raw');
  Cache.open({ path, size: '8mb', reset: true }).close();
  const r = probeChild(path, 0, 'main');
  if (info.available) {
    assert.is(r.signal, 'SIGSEGV', describeRun(r));
    assert.not.match(r.stdout, /probe: returned/);
  } else {
    assert.is(r.status, 0, describeRun(r));
    assert.match(r.stdout, /probe: returned \d+/);
  }
});

probes.run();

// ---------------------------------------------------------------------------------------------
const sab = suite('pku: SharedArrayBuffer keys and values changed by another thread during calls');

const VALUE_LENGTHS = [0, 1, 5, 64, 300, 4000, 70000];
const ALPHA = 'abcd';

/** Every key of 1 to 3 letters of ALPHA: the whole key space the scribbling tests can write. */
function keySpace(): string[] {
  const keys: string[] = [];
  for (let len = 1; len <= 3; len++) {
    for (let n = 0; n < ALPHA.length ** len; n++) {
      let k = '';
      for (let i = 0, m = n; i < len; i++, m = Math.floor(m / ALPHA.length)) k += ALPHA[m % ALPHA.length];
      keys.push(k);
    }
  }
  return keys;
}

/** A value length the scribbling tests write: one of VALUE_LENGTHS, or a counter's digits. */
function writtenLength(b: Buffer): boolean {
  return VALUE_LENGTHS.includes(b.length) || /^\d+ *$/.test(b.toString('latin1'));
}

/**
 * The key space after a scribbling test, probed key by key and in one getMany: the two paths
 * agree, every value has a length that was written, the counter under `ctrKey` reads `ctr`, and
 * curr_items is what is there (the keys found + that counter).
 */
function checkKeySpace(c: Cache, ctrKey: string, ctr: number, ctrWhat?: string): void {
  const keys = keySpace();
  const many = c.getMany(keys);
  let found = 0;
  keys.forEach((k, i) => {
    const v = c.get(k);
    assert.is(v?.toString('latin1'), many[i]?.toString('latin1'), `get and getMany agree on ${k}`);
    if (v) {
      found++;
      assert.ok(writtenLength(v), `${k}: length ${v.length} was written`);
    }
  });
  assert.is(c.get(ctrKey)?.toString(), String(ctr), ctrWhat);
  assert.is(c.stats().curr_items, found + 1, `curr_items = ${found} keys of the key space + the counter`);
}

sab(
  'set/get/getMany/getInto/incr/delete with views another thread keeps mutating: no crash, only API errors, a consistent store',
  async () => {
    const path = tmpRegion('sab');
    const c = Cache.open({ path, size: '64mb', reset: true });
    // Layout: [0,16) control words; [16,19) the mutating key; [32,39) a stable key; [64, 64+70000)
    // the mutating value; then a getInto target the other thread also scribbles on.
    const KOFF = 16,
      SOFF = 32,
      VOFF = 64,
      VMAX = 70000,
      TOFF = VOFF + VMAX,
      TLEN = 80000;
    const buf = new SharedArrayBuffer(TOFF + TLEN);
    const u8 = new Uint8Array(buf);
    const ctl = new Int32Array(buf, 0, 4);
    u8.set(Buffer.from('abc'), KOFF);
    u8.set(Buffer.from('ctr:sab'), SOFF);
    const stableKey = new Uint8Array(buf, SOFF, 7);
    c.set(stableKey, '0');

    const mutator = runWorker(
      `
    const { sab, KOFF, VOFF, VMAX, TOFF, TLEN, alpha } = workerData;
    const u8 = new Uint8Array(sab);
    const ctl = new Int32Array(sab, 0, 4);
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 8;
    Atomics.store(ctl, 1, 1);
    while (Atomics.load(ctl, 0) === 0) {
      let r = rnd();
      // Key bytes: letters of the key space, now and then a space (a key the core must refuse).
      for (let i = 0; i < 3; i++) { u8[KOFF + i] = (r & 63) === 0 ? 0x20 : alpha[r & 3]; r >>>= 2; }
      // Value bytes: runs of x/y/z (never digits), over a random stretch.
      const start = rnd() % VMAX, len = 1 + (rnd() % 4096);
      u8.fill(0x78 + (rnd() % 3), VOFF + start, VOFF + Math.min(VMAX, start + len));
      if ((r & 7) === 0) u8.fill(rnd() & 0xff, TOFF + (rnd() % TLEN), TOFF + TLEN);
      Atomics.add(ctl, 2, 1);
    }
    return Atomics.load(ctl, 2);
  `,
      { sab: buf, KOFF, VOFF, VMAX, TOFF, TLEN, alpha: Array.from(Buffer.from(ALPHA)) },
    );
    while (Atomics.load(ctl, 1) === 0) await new Promise((r) => setTimeout(r, 5));

    // At least `iters` rounds, and on until the other thread has visibly changed the key a hundred
    // times (a busy machine can starve it), but never past 20 s.
    const iters = Number(process.env.PKU_SAB_ITERS ?? 20000);
    const roundsAtStart = Atomics.load(ctl, 2);
    let seed = 987654321;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 8;
    const unexpected: string[] = [];
    const badLength: string[] = [];
    const errors: Record<string, number> = {};
    let sets = 0,
      hits = 0,
      counter = 0,
      keyChanges = 0;
    let lastKey = -1;
    const keyView = new DataView(buf, KOFF, 4);
    const target = new Uint8Array(buf, TOFF, TLEN);
    const before = PKRU0;
    const t0 = performance.now();
    let done = 0;
    for (; done < iters || (keyChanges < 100 && performance.now() - t0 < 20_000); done++) {
      const r = rnd();
      const key = new Uint8Array(buf, KOFF, 1 + (r % 3));
      const k3 = keyView.getUint32(0, true) & 0xffffff; // the 3 key bytes, little-endian
      if (k3 !== lastKey) keyChanges++;
      lastKey = k3;
      try {
        switch ((r >>> 2) % 9) {
          case 0:
          case 1:
          case 2:
            c.set(key, new Uint8Array(buf, VOFF, at(VALUE_LENGTHS, rnd() % VALUE_LENGTHS.length)));
            sets++;
            break;
          case 3:
          case 4: {
            const v = c.get(key);
            if (v) {
              hits++;
              if (!writtenLength(v)) badLength.push(`get: ${v.length}`);
            }
            break;
          }
          case 5: {
            const vs = c.getMany([key, new Uint8Array(buf, KOFF + 1, 2), stableKey, new Uint8Array(buf, KOFF, 3)]);
            for (const v of vs) if (v && !writtenLength(v)) badLength.push(`getMany: ${v.length}`);
            break;
          }
          case 6: {
            const n = c.getInto(key, target);
            if (n !== undefined && !VALUE_LENGTHS.includes(n) && n > 20) badLength.push(`getInto: ${n}`);
            break;
          }
          case 7:
            c.incr(key); // values are never digits: a miss or ERR_NON_NUMERIC (or a length-0 value)
            break;
          default:
            if (r % 5 === 0) c.delete(key);
            else c.set(key, new Uint8Array(buf, VOFF + (rnd() % 100), 1), { flags: r & 0xff });
            sets++;
        }
      } catch (e) {
        if (isApiError(e)) errors[codeOf(e)] = (errors[codeOf(e)] ?? 0) + 1;
        else unexpected.push(String((e as Error)?.stack ?? e));
      }
      try {
        const n = c.incr(stableKey);
        counter++;
        if (n !== BigInt(counter)) unexpected.push(`counter: got ${n}, want ${counter}`);
      } catch (e) {
        unexpected.push(`counter incr threw ${String(e)}`);
      }
    }
    const roundsAtEnd = Atomics.load(ctl, 2);
    if (process.env.PKU_TEST_VERBOSE)
      console.log({ iters, done, rounds: roundsAtEnd - roundsAtStart, keyChanges, sets, hits, errors, ms: performance.now() - t0 });
    Atomics.store(ctl, 0, 1);
    await mutator;

    assert.equal(unexpected.slice(0, 5), [], unexpected.slice(0, 5).join('\n'));
    assert.equal(badLength.slice(0, 5), [], 'every value read has a length that was written');
    assert.ok(roundsAtEnd > roundsAtStart, `the other thread was mutating during the loop (${roundsAtEnd - roundsAtStart} rounds)`);
    assert.ok(keyChanges > 10, `key bytes did change under the loop (${keyChanges} changes)`);
    assert.ok(sets > 0 && hits > 0, `the loop stored and found items (${sets} sets, ${hits} hits)`);
    assertDenied(c._pkru(), before, 'after the loop');

    // The key space, probed key by key and in one getMany: lengths that were written, agreement
    // between the two paths, and curr_items equal to what is there.
    checkKeySpace(c, 'ctr:sab', counter, 'the counter under the stable key is exact');
    assert.is(counter, done);
    // The store still takes new items and keeps them apart.
    c.set('after:1', 'one');
    c.set('after:2', Buffer.alloc(5000, 0x32));
    assert.is(c.get('after:1')?.toString(), 'one');
    assert.is(c.get('after:2')?.length, 5000);
    c.close();
  },
);

sab(
  'the binding itself, with scratch, meta and arena in a SharedArrayBuffer another thread scribbles on: only known statuses, a consistent store',
  async () => {
    // The public API copies keys and values into buffers of its own; this drives the native calls
    // directly, so the bytes the addon reads (key, value, getMany keys and their length slots in the meta buffer,
    // cas/delta words) really change under it. The addon must copy before it validates and hashes.
    const path = tmpRegion('sab-raw');
    const c = Cache.open({ path, size: '64mb', reset: true });
    const h = native.open(path, 0, 0, -1, false, 0o600);
    const VOFF = native.layout.valueOffset,
      VMAX = 70000;
    const scratchBuf = new SharedArrayBuffer(VOFF + h.itemSizeMax);
    const metaBuf = new SharedArrayBuffer(native.layout.metaLens + 4 * 1024);
    const arenaBuf = new SharedArrayBuffer(256 * 1024);
    const ctlBuf = new SharedArrayBuffer(16);
    const ctl = new Int32Array(ctlBuf);
    const scratch = Buffer.from(scratchBuf);
    h.setBuffers(scratch, Buffer.from(metaBuf));
    h.setArena(Buffer.from(arenaBuf));
    const target = new Uint8Array(arenaBuf, 1000, 100_000); // getInto writes into shared memory too

    const mutator = runWorker(
      `
    const { scratchBuf, metaBuf, arenaBuf, ctlBuf, VOFF, VMAX, alpha } = workerData;
    const s = new Uint8Array(scratchBuf), m = new Uint8Array(metaBuf), a = new Uint8Array(arenaBuf);
    const ctl = new Int32Array(ctlBuf);
    let seed = 4242;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 8;
    Atomics.store(ctl, 1, 1);
    while (Atomics.load(ctl, 0) === 0) {
      let r = rnd();
      for (let i = 0; i < 3; i++) { s[i] = (r & 63) === 0 ? 0x20 : alpha[r & 3]; r >>>= 2; }
      // Packed getMany keys: random length bytes (0..255) and key bytes.
      const p = 3 + (rnd() % (VOFF - 3));
      s.fill(rnd() & 0xff, p, Math.min(VOFF, p + 1 + (rnd() % 64)));
      const v = rnd() % VMAX;
      s.fill(0x78 + (rnd() % 3), VOFF + v, VOFF + Math.min(VMAX, v + 1 + (rnd() % 4096)));
      m.fill(rnd() & 0xff, rnd() % m.length, m.length);
      if ((r & 7) === 0) a.fill(rnd() & 0xff, rnd() % a.length, a.length);
      Atomics.add(ctl, 2, 1);
    }
    return 0;
  `,
      { scratchBuf, metaBuf, arenaBuf, ctlBuf, VOFF, VMAX, alpha: Array.from(Buffer.from(ALPHA)) },
    );
    while (Atomics.load(ctl, 1) === 0) await new Promise((r) => setTimeout(r, 5));

    const iters = Number(process.env.PKU_SAB_ITERS ?? 20000);
    let seed = 13579;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 8;
    const bad: string[] = [];
    const seen: Record<string, number> = {};
    const note = (op: string, r: number, ok: readonly number[]) => {
      seen[`${op}:${r < 0 ? r : r >= 4 ? '>=4' : r}`] = (seen[`${op}:${r < 0 ? r : r >= 4 ? '>=4' : r}`] ?? 0) + 1;
      if (!Number.isInteger(r) || (!ok.includes(r) && !(ok.includes(Infinity) && r >= 0))) bad.push(`${op} -> ${r}`);
    };
    // Statuses (src/native.ts): St 0..3; Ret -1 miss, -2 small, -3 bad key, -4 too large, -5 no memory, -6 non-numeric.
    const ANY_LEN = Infinity;
    let counter = 0;
    c.set('ctr:raw', '0');
    const roundsAtStart = Atomics.load(ctl, 2);
    const t0 = performance.now();
    let done = 0;
    for (; done < iters || (Atomics.load(ctl, 2) - roundsAtStart < 1000 && performance.now() - t0 < 20_000); done++) {
      const r = rnd();
      const klen = 1 + (r % 3);
      switch ((r >>> 2) % 8) {
        case 0:
        case 1:
        case 2:
          note('store', h.store(0, klen, at(VALUE_LENGTHS, rnd() % VALUE_LENGTHS.length), r & 0xff, 0), [0, -3]);
          break;
        case 3: {
          const v = h.get(klen, rnd() % (256 * 1024));
          note('get', v, [-1, -2, -3, ANY_LEN]);
          if (v >= 0 && !VALUE_LENGTHS.includes(v) && v > 20) bad.push(`get: length ${v} was never written`);
          break;
        }
        case 4:
          note('getMany', h.getMany(1 + (rnd() % 1024), rnd() % (256 * 1024)), [ANY_LEN]);
          break;
        case 5: {
          const v = h.getInto(klen, target, rnd() % 1000);
          note('getInto', v, [-1, -2, -3, ANY_LEN]);
          if (v >= 0 && !VALUE_LENGTHS.includes(v) && v > 20) bad.push(`getInto: length ${v} was never written`);
          break;
        }
        case 6:
          note('delta', h.delta(klen, r & 1, r & 0x10 ? -1 : 1), [0, 1, -3, -6]);
          break;
        default:
          note('delete', h.del(klen), [0, 1, -3]);
      }
      if (c.incr('ctr:raw') !== BigInt(++counter)) bad.push(`counter off at ${counter}`);
    }
    const rounds = Atomics.load(ctl, 2) - roundsAtStart;
    Atomics.store(ctl, 0, 1);
    await mutator;
    h.close();
    if (process.env.PKU_TEST_VERBOSE) console.log({ done, rounds, seen, ms: performance.now() - t0 });

    assert.equal(bad.slice(0, 5), [], bad.slice(0, 5).join('\n'));
    assert.ok(rounds > 100, `the other thread was scribbling during the loop (${rounds} rounds)`);
    assert.ok(
      (seen['store:0'] ?? 0) > 0 && (seen['get:>=4'] ?? 0) + (seen['get:0'] ?? 0) + (seen['get:1'] ?? 0) > 0,
      `stores and hits happened: ${JSON.stringify(seen)}`,
    );
    assertDenied(c._pkru(), PKRU0, 'after the loop');
    checkKeySpace(c, 'ctr:raw', done);
    c.close();
  },
);

sab.run();
