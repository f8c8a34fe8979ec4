/**
 * Crash safety, warm restart and recovery (issue 5). Child processes are real processes (node -e)
 * that open the same file; they are killed with SIGKILL at random moments and at chosen points in
 * the middle of a change; after each, a fresh process must open the store without hanging, pass
 * verification, and find every untouched item intact and every readable value checksummed.
 * Rounds are bounded (a fixed number, each well under a second of hammering).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync, truncateSync, writeFileSync, openSync, writeSync, closeSync, readSync } from 'node:fs';

import { Cache, CacheError, checkMain } from '../src/index.js';
import { native, type FailPointName } from '../src/native.js';
import { at, tmpRegion } from './helpers.js';

const indexUrl = new URL('../src/index.js', import.meta.url).href;
const nativeUrl = new URL('../src/native.js', import.meta.url).href;

// The checksum every test value carries: FNV-1a of `key:payload`, as 8 hex digits before a ':'.
const FNV = `
const fnv = (s) => { let h = 0x811c9dc5; for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; } return h.toString(16).padStart(8, '0'); };
const mk = (k, p) => fnv(k + ':' + p) + ':' + p;
const valid = (k, v) => { const i = v.indexOf(':'); return i === 8 && fnv(k + ':' + v.slice(9)) === v.slice(0, 8); };
const validLog = (k, v) => v.length > 0 && v.endsWith(';') && v.slice(0, -1).split(';').every((r) => valid(k, r));
`;
const fnv = (s: string): string => {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
};
const mk = (k: string, p: string): string => `${fnv(`${k}:${p}`)}:${p}`;

function runNode(code: string, timeoutMs = 60000): { status: number | null; signal: string | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 256 << 20,
  });
  return { status: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

// biome-ignore lint/suspicious/noExplicitAny: a child's JSON report; each test reads the fields it checks
function lastJson(out: string): any {
  const lines = out.trim().split('\n');
  return JSON.parse(at(lines, lines.length - 1));
}

// A fresh process opens the store, reports what the open did, verifies structures, reads back
// every stable key and checks every readable value of the keys the writers used.
// biome-ignore lint/suspicious/noExplicitAny: a child's JSON report; each test reads the fields it checks
function verifyInFreshProcess(path: string, stable: number): any {
  const r = runNode(`
    ${FNV}
    const { Cache } = await import(${JSON.stringify(indexUrl)});
    const { native } = await import(${JSON.stringify(nativeUrl)});
    const cache = Cache.open({ path: ${JSON.stringify(path)} });
    const rep = cache.lastRecovery;
    const chk = native.check(${JSON.stringify(path)});
    let missing = 0, bad = 0, hot = 0, logs = 0, growth = 0;
    const badKeys = [];
    for (let i = 0; i < ${stable}; i++) {
      const k = 's:' + i, v = cache.get(k)?.toString();
      if (v === undefined) missing++; else if (!valid(k, v)) { bad++; badKeys.push(k); }
    }
    for (let i = 0; i < 200; i++) {
      const k = 'h:' + i, v = cache.get(k)?.toString();
      if (v !== undefined) { hot++; if (!valid(k, v)) { bad++; badKeys.push(k); } }
    }
    for (let i = 0; i < 20; i++) {
      const k = 'l:' + i, v = cache.get(k)?.toString();
      if (v !== undefined) { logs++; if (!validLog(k, v)) { bad++; badKeys.push(k); } }
    }
    for (let i = 0; i < 10; i++) {
      const v = cache.get('c:' + i)?.toString();
      if (v !== undefined && !/^[0-9]+ *$/.test(v)) { bad++; badKeys.push('c:' + i); }
    }
    for (let w = 0; w < 3; w++) for (let i = 0; i < 1000; i++) {
      const k = 'g:' + w + ':' + i, v = cache.get(k)?.toString();
      if (v === undefined) { if (i > 50) break; continue; }
      growth++;
      if (!valid(k, v)) { bad++; badKeys.push(k); }
    }
    cache.set('after-recovery', 'x');
    const writable = cache.get('after-recovery')?.toString() === 'x';
    cache.delete('after-recovery');
    cache.close();
    console.log(JSON.stringify({ rep, chk, missing, bad, badKeys: badKeys.slice(0, 5), hot, logs, growth, writable }));
  `);
  assert.is(r.signal, null, `the verifying process was killed (${r.signal}): a hang? ${r.err}`);
  assert.is(r.status, 0, r.err);
  return lastJson(r.out);
}

// A writer that hammers the store with every kind of write until killed; prints 'ready' once open.
function hammer(path: string, seed: number, id: number): ChildProcess {
  const code = `
    ${FNV}
    const { Cache } = await import(${JSON.stringify(indexUrl)});
    const cache = Cache.open({ path: ${JSON.stringify(path)} });
    let seed = ${seed} >>> 0, grow = 0;
    const rnd = (n) => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
    const pay = () => 'p' + seed.toString(36) + 'x'.repeat(rnd(10) === 0 ? rnd(3000) : rnd(150));
    process.stdout.write('ready\\n');
    for (;;) {
      const k = 'h:' + rnd(200);
      try {
        switch (rnd(14)) {
          case 0: case 1: cache.set(k, mk(k, pay()), { flags: rnd(1000) }); break;
          case 2: cache.add(k, mk(k, pay())); break;
          case 3: cache.replace(k, mk(k, pay())); break;
          case 4: { const g = cache.gets(k); if (g) cache.cas(k, mk(k, pay()), g.cas); break; }
          case 5: cache.delete(k); break;
          case 6: cache.touch(k, 0); break;
          case 7: cache.gat(k, 0); break;
          case 8: case 9: {
            const lk = 'l:' + rnd(20), rec = mk(lk, pay()) + ';';
            const ok = rnd(2) ? cache.append(lk, rec) : cache.prepend(lk, rec);
            if (!ok || rnd(8) === 0) cache.set(lk, rec);
            break;
          }
          case 10: { const ck = 'c:' + rnd(10); if (cache.incr(ck, 1 + rnd(1000)) === undefined) cache.set(ck, String(rnd(100))); break; }
          case 11: cache.decr('c:' + rnd(10), rnd(500)); break;
          case 12: { const gk = 'g:' + ${id} + ':' + (grow++ % 1000); cache.set(gk, mk(gk, pay())); break; }
          default: cache.get(k);
        }
      } catch (e) {
        if (e.code !== 'ERR_OUT_OF_MEMORY' && e.code !== 'ERR_NON_NUMERIC') throw e;
      }
    }
  `;
  return spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ready = (c: ChildProcess) =>
  new Promise<void>((resolve, reject) => {
    let buf = '';
    c.stdout!.on('data', (d) => {
      buf += d;
      if (buf.includes('ready')) resolve();
    });
    c.on('exit', (code, sig) => reject(new Error(`writer exited early: ${code} ${sig}`)));
  });
const exited = (c: ChildProcess) =>
  new Promise<void>((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : c.on('exit', () => resolve())));

test('crash test: writers SIGKILLed at random moments, round after round; each time a fresh process recovers, verifies, and finds every untouched item', async () => {
  const path = tmpRegion('crash');
  const STABLE = 52000; // past 0.75 x 2^16: the hash table is growing while the writers run
  {
    const c = Cache.open({ path, size: '64mb', evict: false, reset: true });
    for (let i = 0; i < STABLE; i++) c.set(`s:${i}`, mk(`s:${i}`, `stable${i}`), { flags: i });
    c.close();
  }
  let seed = 12345;
  const rnd = (n: number) => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
  const ROUNDS = 6;
  let recovered = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const kids = [0, 1, 2].map((i) => hammer(path, round * 100 + i + 1, i));
    await Promise.all(kids.map(ready));
    // Kill them one at a time: the survivors go on, taking over whatever lock a dead one held.
    for (const k of kids) {
      await sleep(40 + rnd(160));
      k.kill('SIGKILL');
    }
    await Promise.all(kids.map(exited));
    const v = verifyInFreshProcess(path, STABLE);
    assert.is(v.rep.kind, 'recovered', `round ${round}: ${JSON.stringify(v.rep)}`);
    assert.ok(v.chk.ok, `round ${round}: check after recovery: ${v.chk.problems.join('; ')}`);
    assert.is(v.missing, 0, `round ${round}: untouched items lost`);
    assert.is(v.bad, 0, `round ${round}: bad values ${v.badKeys.join(', ')}`);
    assert.ok(v.writable, `round ${round}: store not writable after recovery`);
    assert.ok(v.rep.itemsKept >= STABLE);
    if (process.env.SHMCACHED_TEST_VERBOSE)
      console.log(`round ${round}: ${JSON.stringify(v.rep)}, lock takeovers so far ${v.chk.lockTakeovers}`);
    recovered++;
  }
  assert.is(recovered, ROUNDS);
  // The last verifier closed cleanly: the next open is warm and the structures still verify.
  const c = Cache.open({ path });
  assert.is(c.lastRecovery.kind, 'warm');
  c.close();
  assert.ok(native.check(path).ok);
});

test('crash test under eviction and page moves: a small full region, writers of mixed sizes SIGKILLed; recovery passes and every readable value verifies', async () => {
  const path = tmpRegion('crash-evict');
  Cache.open({ path, size: '8mb', evict: true, reset: true }).close();
  const writer = (seed: number): ChildProcess =>
    spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `
    ${FNV}
    const { Cache } = await import(${JSON.stringify(indexUrl)});
    const cache = Cache.open({ path: ${JSON.stringify(path)} });
    let seed = ${seed} >>> 0;
    const rnd = (n) => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
    process.stdout.write('ready\\n');
    for (;;) {
      const k = 'e:' + rnd(3000);
      // Sizes from tens of bytes to 60 KB, in bursts, so classes starve and pages move.
      const big = (seed >>> 20) % 4 === 0;
      const p = 'q' + seed.toString(36) + 'y'.repeat(big ? rnd(60000) : rnd(300));
      try {
        switch (rnd(4)) {
          case 0: case 1: cache.set(k, mk(k, p)); break;
          case 2: cache.delete(k); break;
          default: cache.get(k);
        }
      } catch (e) {
        if (e.code !== 'ERR_OUT_OF_MEMORY') throw e;  // a starving class whose page move failed
      }
    }
  `,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
  let seed = 777;
  const rnd = (n: number) => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
  for (let round = 0; round < 4; round++) {
    const kids = [0, 1].map((i) => writer(round * 10 + i + 1));
    await Promise.all(kids.map(ready));
    for (const k of kids) {
      await sleep(60 + rnd(200));
      k.kill('SIGKILL');
    }
    await Promise.all(kids.map(exited));
    const r = runNode(`
      ${FNV}
      const { Cache } = await import(${JSON.stringify(indexUrl)});
      const { native } = await import(${JSON.stringify(nativeUrl)});
      const c = Cache.open({ path: ${JSON.stringify(path)} });
      const rep = c.lastRecovery, chk = native.check(${JSON.stringify(path)});
      let bad = 0, seen = 0;
      for (let i = 0; i < 3000; i++) { const k = 'e:' + i, v = c.get(k)?.toString(); if (v !== undefined) { seen++; if (!valid(k, v)) bad++; } }
      const st = c.stats();
      c.close();
      console.log(JSON.stringify({ rep, chk, bad, seen, evictions: Number(st.evictions) }));
    `);
    assert.is(r.signal, null, `the verifying process hung or died: ${r.err}`);
    assert.is(r.status, 0, r.err);
    const v = lastJson(r.out);
    assert.is(v.rep.kind, 'recovered');
    assert.ok(v.chk.ok, `round ${round}: ${v.chk.problems.join('; ')}`);
    assert.is(v.bad, 0);
    assert.ok(v.seen > 0);
    if (process.env.SHMCACHED_TEST_VERBOSE)
      console.log(
        `evict round ${round}: ${JSON.stringify(v.rep)} seen ${v.seen} evictions ${v.evictions} takeovers ${v.chk.lockTakeovers}`,
      );
  }
});

// A process dies at a chosen point in the middle of a change while another stays attached; a
// third process then uses the store: it must not hang, and the structures must verify while
// everyone still attached is idle (the online repair alone, no offline recovery). The dying
// process arms a named fail-point (native/core/failpoint.h) and runs a real command: it dies
// inside the real code, holding what that code holds at that point.
const BIG = `'n'.repeat(300000)`; // a value of a class with no page yet: its set grows the class
// Fills every page with small items (the store is then out of pages, the small class holds the
// most of them and the victim's page is at its LRU tail), keeping a big item so that the big
// class is not idle: a set of a new class must then move a page away from the small class.
const FILL = `
  c.set('bigpre', ${BIG});
  for (let i = 0; native.check(path).pagesUsed < native.check(path).pagesTotal; ) {
    for (let j = 0; j < 1000; j++, i++) c.set('fill' + i, 'f');
    if (i > 2000000) throw new Error('the store never ran out of pages');
  }
`;
const DIE_POINTS: Array<[FailPointName, string, (victim: string | null) => boolean, string]> = [
  [
    'link.afterTable',
    'a set whose table store committed, before the LRU link (stripe lock held)',
    (v) => v === 'new',
    `c.set('victim', 'new');`,
  ],
  ['lru.linkBeforeCommit', 'a set inside the LRU link (stripe and class locks held)', (v) => v === 'new', `c.set('victim', 'new');`],
  [
    'unlink.afterTable',
    'a delete whose table store committed, before the LRU unlink (stripe lock held)',
    (v) => v === null,
    `c.delete('victim');`,
  ],
  ['delete.stripeHeld', 'holding a stripe lock, nothing changed', (v) => v === 'old', `c.delete('victim');`],
  ['grow.pagesLock', 'holding the pages lock', (v) => v === 'old', `c.set('victim', ${BIG});`],
  ['carve.halfway', 'half way through carving a new page (class lock held)', (v) => v === 'old', `c.set('victim', ${BIG});`],
  [
    'emptyPage.afterEvict',
    'half way through emptying a page for a page move (stripe and class locks held; the victim already evicted)',
    (v) => v === null,
    `c.set('moved', 'm'.repeat(2000));`,
  ],
  [
    'set.afterAlloc',
    'between allocating a chunk and linking it (no lock held: the chunk is reclaimed when the next process attaches)',
    (v) => v === 'old',
    `c.set('victim', 'new');`,
  ],
];
for (const [point, what, expect, op] of DIE_POINTS) {
  test(`killed in ${what}: the next user takes the lock over, repairs, and nothing hangs`, () => {
    const path = tmpRegion(`die-${point}`);
    const keeper = Cache.open({ path, size: '8mb', reset: true });
    keeper.set('victim', 'old');
    for (let i = 0; i < 100; i++) keeper.set(`k${i}`, `v${i}`);
    const die = runNode(`
      const { Cache } = await import(${JSON.stringify(indexUrl)});
      const { native } = await import(${JSON.stringify(nativeUrl)});
      const path = ${JSON.stringify(path)};
      const c = Cache.open({ path });
      ${point === 'emptyPage.afterEvict' ? FILL : ''}
      native.armFailpoint(${JSON.stringify(point)});
      ${op}
      console.log('still alive');
    `);
    assert.is(die.signal, 'SIGKILL', `the dying process was not killed: ${die.out} ${die.err}`);
    const use = runNode(
      `
      const { Cache } = await import(${JSON.stringify(indexUrl)});
      const { native } = await import(${JSON.stringify(nativeUrl)});
      const c = Cache.open({ path: ${JSON.stringify(path)} });
      const kind = c.lastRecovery.kind, dead = c.lastRecovery.deadProcesses;
      const victim = c.get('victim')?.toString() ?? null;
      // An item of a class with no page yet: takes the pages lock.
      c.set('big', 'x'.repeat(300000));
      let others = 0;
      for (let i = 0; i < 100; i++) if (c.get('k' + i)?.toString() === 'v' + i) others++;
      c.set('victim2', 'y');
      const chk = native.check(${JSON.stringify(path)});
      c.close();
      console.log(JSON.stringify({ kind, dead, victim, others, chk, big: true }));
    `,
      30000,
    );
    assert.is(use.signal, null, `the user was killed (${use.signal}): it hung on an abandoned lock`);
    assert.is(use.status, 0, use.err);
    const r = lastJson(use.out);
    assert.is(r.kind, 'attached');
    assert.is(r.dead, 1);
    assert.ok(expect(r.victim), `victim reads ${r.victim}`);
    assert.is(r.others, 100);
    assert.ok(r.chk.ok, `structures after the online repair: ${r.chk.problems.join('; ')}`);
    assert.is(r.chk.leakedChunks, 0, 'a chunk the dead process held was not reclaimed');
    if (point !== 'set.afterAlloc') assert.ok(r.chk.lockTakeovers >= 1);
    assert.ok(r.chk.dirty);
    // The keeper was attached throughout and sees the same store.
    assert.is(keeper.get('victim2')?.toString(), 'y');
    keeper.close();
    // A process died attached: the next cold open recovers (and reclaims what the repair leaked).
    const again = Cache.open({ path });
    assert.is(again.lastRecovery.kind, 'recovered');
    assert.is(again.get('k7')?.toString(), 'v7');
    again.close();
    assert.ok(native.check(path).ok);
  });
}

test('killed in the middle of moving an item between hash buckets while the table grows: nothing is lost, the move is finished', () => {
  const path = tmpRegion('die-migrate');
  const keeper = Cache.open({ path, size: '64mb', reset: true });
  let n = 0;
  while (!native.check(path).expanding) {
    for (let i = 0; i < 1000; i++, n++) keeper.set(`m${n}`, mk(`m${n}`, `v${n}`));
    assert.ok(n < 200000, 'the table never started growing');
  }
  // Inserts move buckets (two per insert): the first move of a non-empty bucket dies half way.
  const die = runNode(`
    const { Cache } = await import(${JSON.stringify(indexUrl)});
    const { native } = await import(${JSON.stringify(nativeUrl)});
    const c = Cache.open({ path: ${JSON.stringify(path)} });
    native.armFailpoint('migrate.midItem');
    for (let i = 0; i < 1000000; i++) c.set('x' + i, 'x');
    console.log('still alive');
  `);
  assert.is(die.signal, 'SIGKILL', `the dying process was not killed: ${die.out} ${die.err}`);
  const use = runNode(
    `
    ${FNV}
    const { Cache } = await import(${JSON.stringify(indexUrl)});
    const { native } = await import(${JSON.stringify(nativeUrl)});
    const c = Cache.open({ path: ${JSON.stringify(path)} });
    let missing = 0, bad = 0;
    for (let i = 0; i < ${n}; i++) { const k = 'm' + i, v = c.get(k)?.toString(); if (v === undefined) missing++; else if (!valid(k, v)) bad++; }
    // Inserts move buckets again: the abandoned growth lock is reaped and the growth goes on.
    for (let i = 0; i < 40000; i++) c.set('after' + i, 'x');
    let afterMissing = 0;
    for (let i = 0; i < 40000; i++) if (c.get('after' + i) === undefined) afterMissing++;
    const chk = native.check(${JSON.stringify(path)});
    c.close();
    console.log(JSON.stringify({ missing, bad, afterMissing, chk }));
  `,
    60000,
  );
  assert.is(use.signal, null, `the user hung: ${use.err}`);
  assert.is(use.status, 0, use.err);
  const r = lastJson(use.out);
  assert.is(r.missing, 0);
  assert.is(r.bad, 0);
  assert.is(r.afterMissing, 0);
  assert.ok(r.chk.ok, r.chk.problems.join('; '));
  assert.ok(r.chk.lockTakeovers >= 2, `takeovers: ${r.chk.lockTakeovers}`);
  assert.not.ok(r.chk.expanding, 'the growth did not finish');
  keeper.close();
});

test("two processes attached at once see each other's writes immediately; killing one does not disturb the other", async () => {
  const path = tmpRegion('two');
  const c = Cache.open({ path, size: '8mb', reset: true });
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `
    const { Cache } = await import(${JSON.stringify(indexUrl)});
    const readline = await import('node:readline');
    const c = Cache.open({ path: ${JSON.stringify(path)} });
    const rl = readline.createInterface({ input: process.stdin });
    process.stdout.write('ready\\n');
    for await (const line of rl) {
      const [cmd, k, v] = line.split(' ');
      if (cmd === 'set') { c.set(k, v); process.stdout.write('ok\\n'); }
      else if (cmd === 'get') process.stdout.write((c.get(k)?.toString() ?? '-') + '\\n');
      else if (cmd === 'spin') { process.stdout.write('spinning\\n'); for (let i = 0; ; i++) c.set('spin' + (i % 1000), 'v' + i); }
    }
  `,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines: string[] = [];
  let waiting: ((s: string) => void) | undefined;
  let buf = '';
  child.stdout!.on('data', (d) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (waiting) {
        const w = waiting;
        waiting = undefined;
        w(l);
      } else lines.push(l);
    }
  });
  const next = () => new Promise<string>((r) => (lines.length ? r(lines.shift()!) : (waiting = r)));
  const ask = async (s: string) => {
    child.stdin!.write(`${s}\n`);
    return next();
  };
  assert.is(await next(), 'ready');
  assert.is(await ask('set from-child 1'), 'ok');
  assert.is(c.get('from-child')?.toString(), '1');
  c.set('from-parent', '2');
  assert.is(await ask('get from-parent'), '2');
  for (let i = 0; i < 500; i++) c.set(`p${i}`, `v${i}`);
  child.stdin!.write('spin\n');
  assert.is(await next(), 'spinning');
  await sleep(150);
  child.kill('SIGKILL');
  await exited(child);
  // The parent goes on: its items are there, writes (including to the keys the child was
  // writing, whose stripes it may have died holding) work, and nothing hangs.
  for (let i = 0; i < 500; i++) assert.is(c.get(`p${i}`)?.toString(), `v${i}`);
  for (let i = 0; i < 1000; i++) c.set(`spin${i}`, `after${i}`);
  for (let i = 0; i < 1000; i++) assert.is(c.get(`spin${i}`)?.toString(), `after${i}`);
  const chk = native.check(path);
  assert.ok(chk.ok, chk.problems.join('; '));
  assert.is(chk.liveProcesses, 1);
  // At most the chunk the dead writer held between allocation and link is unaccounted for.
  assert.ok(chk.leakedChunks <= 1, `leaked ${chk.leakedChunks}`);
  c.close();
  // The next open with no one attached recovers (a process died attached) and reclaims it.
  const again = Cache.open({ path });
  assert.is(again.lastRecovery.kind, 'recovered');
  again.close();
  assert.is(native.check(path).leakedChunks, 0);
});

test('warm restart: N items written, closed, reopened in a new process: every value, flag and CAS identical, stats kept', () => {
  const path = tmpRegion('warm');
  const N = 5000;
  const w = runNode(`
    const { Cache } = await import(${JSON.stringify(indexUrl)});
    const c = Cache.open({ path: ${JSON.stringify(path)}, size: '16mb', reset: true });
    const out = [];
    for (let i = 0; i < ${N}; i++) c.set('w' + i, 'value-' + i + '-' + 'x'.repeat(i % 700), { flags: (i * 2654435761) >>> 0 });
    for (let i = 0; i < ${N}; i += 3) c.incr('w' + i + 'n', 1) ?? c.set('w' + i + 'n', String(i));
    for (let i = 0; i < ${N}; i++) { const g = c.gets('w' + i); out.push([g.value.toString(), g.flags, String(g.cas)]); }
    const st = c.stats();
    console.log(JSON.stringify({ out, total: st.total_items, sets: st.cmd_set, curr: st.curr_items }));
    c.close();
  `);
  assert.is(w.status, 0, w.err);
  const before = lastJson(w.out);
  const r = runNode(`
    const { Cache } = await import(${JSON.stringify(indexUrl)});
    const c = Cache.open({ path: ${JSON.stringify(path)} });
    const kind = c.lastRecovery.kind;
    const st = c.stats();
    const out = [];
    for (let i = 0; i < ${N}; i++) { const g = c.gets('w' + i); out.push(g ? [g.value.toString(), g.flags, String(g.cas)] : null); }
    c.close();
    console.log(JSON.stringify({ kind, out, total: st.total_items, sets: st.cmd_set, curr: st.curr_items }));
  `);
  assert.is(r.status, 0, r.err);
  const after = lastJson(r.out);
  assert.is(after.kind, 'warm');
  assert.equal(after.out, before.out);
  assert.is(after.total, before.total);
  assert.is(after.sets, before.sets);
  assert.is(after.curr, before.curr);
});

test('warm restart after process.exit() with handles still open (no close)', () => {
  const path = tmpRegion('exit');
  const w = runNode(`
    const { Cache } = await import(${JSON.stringify(indexUrl)});
    const c = Cache.open({ path: ${JSON.stringify(path)}, size: '8mb', reset: true });
    c.set('k', 'v', { flags: 9 });
    console.log(String(c.gets('k').cas));
    process.exit(0);
  `);
  assert.is(w.status, 0, w.err);
  const c = Cache.open({ path });
  assert.is(c.lastRecovery.kind, 'warm');
  const g = c.gets('k');
  assert.is(g?.value.toString(), 'v');
  assert.is(g?.flags, 9);
  assert.is(String(g?.cas), w.out.trim());
  c.close();
});

test('a region killed with no one attached is recovered on open, and the report says what was done', () => {
  const path = tmpRegion('killed');
  const r = runNode(`
    const { Cache } = await import(${JSON.stringify(indexUrl)});
    const c = Cache.open({ path: ${JSON.stringify(path)}, size: '8mb', reset: true });
    for (let i = 0; i < 1000; i++) c.set('k' + i, 'v' + i, { flags: i });
    process.kill(process.pid, 'SIGKILL');
  `);
  assert.is(r.signal, 'SIGKILL');
  const logged: unknown[] = [];
  const c = Cache.open({ path, logRecovery: (rep) => logged.push(rep) });
  const rep = c.lastRecovery;
  assert.is(rep.kind, 'recovered');
  assert.is(rep.itemsKept, 1000);
  assert.is(rep.itemsDropped, 0);
  assert.is(rep.deadProcesses, 1);
  assert.ok(rep.ms >= 0 && rep.pagesScanned >= 1);
  assert.equal(logged, [rep]);
  for (let i = 0; i < 1000; i++) assert.is(c.gets(`k${i}`)?.flags, i);
  c.close();
  assert.ok(native.check(path).ok);
});

const sha = (p: string) => createHash('sha1').update(readFileSync(p)).digest('hex');

test('bad files: garbage bytes, a truncated file, a wrong magic: a clear error that changes nothing, or a cold start when asked', () => {
  const garbage = tmpRegion('garbage');
  const buf = Buffer.alloc(2 << 20);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 2654435761) >>> 24;
  writeFileSync(garbage, buf);
  const before = sha(garbage);
  assert.throws(
    () => Cache.open({ path: garbage }),
    (e: unknown) => e instanceof CacheError && e.code === 'ERR_BAD_REGION' && /not a shmcached region/.test(e.message),
  );
  assert.is(sha(garbage), before, 'a failed open changed the file');
  // Without our magic it is not ours: onCorrupt 'reset' refuses to write it (docs/security.md).
  assert.throws(
    () => Cache.open({ path: garbage, size: '8mb', onCorrupt: 'reset' }),
    (e: unknown) => e instanceof CacheError && e.code === 'ERR_REGION_FOREIGN',
  );
  assert.is(sha(garbage), before, 'a refused cold start changed the file');

  const trunc = tmpRegion('trunc');
  const t = Cache.open({ path: trunc, size: '8mb', reset: true });
  t.set('a', 'b');
  t.close();
  truncateSync(trunc, statSync(trunc).size >> 1);
  const tb = sha(trunc);
  assert.throws(
    () => Cache.open({ path: trunc }),
    (e: unknown) => e instanceof CacheError && e.code === 'ERR_BAD_REGION' && /truncated/.test(e.message),
  );
  assert.is(sha(trunc), tb);
  const t2 = Cache.open({ path: trunc, onCorrupt: 'reset' });
  assert.is(t2.lastRecovery.kind, 'reset');
  assert.is(t2.get('a'), undefined);
  t2.close();

  const magic = tmpRegion('magic');
  const m = Cache.open({ path: magic, size: '8mb', reset: true });
  m.close();
  const fd = openSync(magic, 'r+');
  writeSync(fd, Buffer.from('NOTMAGIC'), 0, 8, 0);
  closeSync(fd);
  assert.throws(
    () => Cache.open({ path: magic }),
    (e: unknown) => e instanceof CacheError && /bad magic/.test(e.message),
  );
  assert.throws(() => native.check(magic), /bad magic/);
  // A store of ours with a damaged header (magic intact) starts cold when asked.
  const dmg = tmpRegion('damaged');
  Cache.open({ path: dmg, size: '8mb', reset: true }).close();
  const fd2 = openSync(dmg, 'r+');
  writeSync(fd2, Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4, 12); // the ABI fingerprint
  closeSync(fd2);
  const cold = Cache.open({ path: dmg, onCorrupt: 'reset' });
  assert.is(cold.lastRecovery.kind, 'reset');
  cold.set('a', 'b');
  cold.close();
});

test('bad files: garbage over the slab pages and the hash table of a valid region: recovery keeps what verifies, drops the rest, never crashes', () => {
  const path = tmpRegion('scribble');
  const c = Cache.open({ path, size: '8mb', reset: true });
  for (let i = 0; i < 20000; i++) c.set(`k${i}`, mk(`k${i}`, `v${i}`));
  c.close();
  const size = statSync(path).size;
  const fd = openSync(path, 'r+');
  let seed = 99;
  const rnd = (n: number) => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
  const junk = Buffer.alloc(4096);
  // 64 blocks of 4 KiB of random bytes anywhere past the header's first page range.
  for (let b = 0; b < 64; b++) {
    for (let i = 0; i < junk.length; i++) junk[i] = rnd(256);
    writeSync(fd, junk, 0, junk.length, 256 * 1024 + rnd(size - 256 * 1024 - 4096));
  }
  closeSync(fd);
  const r = Cache.open({ path, recover: true });
  assert.is(r.lastRecovery.kind, 'recovered');
  assert.ok(r.lastRecovery.itemsKept > 10000, JSON.stringify(r.lastRecovery));
  let kept = 0;
  for (let i = 0; i < 20000; i++) {
    const v = r.get(`k${i}`)?.toString();
    if (v === undefined) continue;
    kept++;
    // A value can only be wrong if random bytes landed inside it; the scan cannot see that (no
    // per-item checksum), so count, do not require, here: what must hold is the structures.
    void v;
  }
  assert.ok(kept > 10000);
  for (let i = 0; i < 2000; i++) r.set(`n${i}`, `w${i}`);
  for (let i = 0; i < 2000; i++) assert.is(r.get(`n${i}`)?.toString(), `w${i}`);
  r.close();
  const chk = native.check(path);
  assert.ok(chk.ok, chk.problems.join('; '));
});

test('shmcached check: 0 on a sound region, 2 on a file that is not one, 64 on bad usage; never writes', async () => {
  const path = tmpRegion('check');
  const c = Cache.open({ path, size: '8mb', reset: true });
  c.set('a', 'b');
  c.close();
  const before = sha(path);
  const out: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const werr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stderr.write;
  let codes: number[];
  const garbage = tmpRegion('check-garbage');
  writeFileSync(garbage, Buffer.alloc(100000, 7));
  try {
    codes = [
      await checkMain(['--file', path]),
      await checkMain(['--file', garbage]),
      await checkMain([]),
      await checkMain(['--json', '--file', path]),
    ];
  } finally {
    process.stdout.write = write;
    process.stderr.write = werr;
  }
  assert.equal(codes, [0, 2, 64, 0]);
  const text = out.join('');
  assert.match(text, /closed cleanly/);
  assert.match(text, /items: 1,/);
  assert.match(text, /structures: ok/);
  assert.match(text, /not a shmcached region/);
  assert.is(JSON.parse(at(out, out.length - 1)).ok, true);
  assert.is(sha(path), before);
});

test('the file is created 0600 by default, with the mode option otherwise', () => {
  const a = tmpRegion('mode-a');
  Cache.open({ path: a, size: '4mb', itemSizeMax: '1kb' }).close();
  assert.is(statSync(a).mode & 0o777, 0o600);
  const b = tmpRegion('mode-b');
  const old = process.umask(0o022);
  try {
    Cache.open({ path: b, size: '4mb', itemSizeMax: '1kb', mode: 0o640 }).close();
  } finally {
    process.umask(old);
  }
  assert.is(statSync(b).mode & 0o777, 0o640);
});

test('options are checked: onCorrupt, recover, logRecovery', () => {
  const p = tmpRegion('opts');
  assert.throws(() => Cache.open({ path: p, onCorrupt: 'maybe' as never }), /onCorrupt/);
  assert.throws(() => Cache.open({ path: p, recover: 1 as never }), /recover/);
  assert.throws(() => Cache.open({ path: p, logRecovery: 'yes' as never }), /logRecovery/);
  void readSync;
});

test.run();
