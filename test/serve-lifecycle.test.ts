// `shmcached serve` under unlucky signals: a SIGHUP (a terminal's hangup, a `kill -HUP` meant to
// reopen logs) must not end the server with its store open, as memcached keeps running; and a
// SIGTERM that reaches a `-t N` primary while its workers are still starting must stop them all
// and exit, not leave them serving with the primary waiting for them for ever.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { tmpRegion } from './helpers.js';
import { RawClient } from './support/raw.js';

const CLI = fileURLToPath(new URL('../src/cli/cli.js', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Serve {
  child: ChildProcess;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  err: () => string;
}

function start(args: string[]): Serve {
  const child = spawn(process.execPath, [CLI, 'serve', '-p', '0', '-l', '127.0.0.1', '-m', '16', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  return { child, exit, err: () => err };
}

/** Resolves with what `until` finds in s's stderr (polled; a generous hang guard). */
async function waitFor<T>(s: Serve, until: (err: string) => T | undefined, what: string): Promise<T> {
  for (const deadline = Date.now() + 30_000; ; await sleep(10)) {
    const v = until(s.err());
    if (v !== undefined) return v;
    assert.ok(Date.now() < deadline, `${what}: ${s.err()}`);
  }
}

/** Resolves with s's exit, or fails once `ms` passed (a hang guard, not a timing threshold). */
async function exitWithin(s: Serve, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const guard = sleep(ms).then(() => undefined);
  const r = await Promise.race([s.exit, guard]);
  if (r === undefined) {
    s.child.kill('SIGKILL');
    assert.unreachable(`serve did not exit within ${ms} ms: ${s.err()}`);
  }
  return r as { code: number | null; signal: NodeJS.Signals | null };
}

/** The child processes of pid (Linux /proc). */
function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const t = suite('serve: signals');

for (const engine of ['js', 'native']) {
  t(`SIGHUP does not stop serve (engine ${engine}); SIGTERM then closes the store cleanly, exit 0`, async () => {
    const file = tmpRegion(`hup-${engine}`);
    const s = start(['--engine', engine, '--file', file]);
    const port = await waitFor(s, (e) => /listening on [^:\s]+:(\d+)/.exec(e)?.[1], 'never listened');
    s.child.kill('SIGHUP');
    const c = await RawClient.connect(Number(port));
    const r = await c.exchange('set k 0 0 1\r\nv\r\nget k\r\n');
    assert.is(r.bytes.toString(), 'STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n', 'still serving after SIGHUP');
    c.close();
    s.child.kill('SIGTERM');
    assert.equal(await exitWithin(s, 30_000), { code: 0, signal: null }, s.err());
    // Closed cleanly: the next start is warm, with the item.
    const again = start(['--engine', engine, '--file', file]);
    const line = await waitFor(again, (e) => /listening on .*/.exec(e)?.[0], 'restart never listened');
    assert.match(line, /warm start/);
    again.child.kill('SIGTERM');
    assert.is((await exitWithin(again, 30_000)).code, 0);
  });
}

t('-t 2: SIGTERM to the primary while its workers start stops them all and exits 0', async () => {
  const file = tmpRegion('term-starting');
  const s = start(['--engine', 'js', '-t', '2', '--file', file]);
  const pid = s.child.pid ?? 0;
  // The moment both workers exist (forked, still loading: not listening, no stop listener yet).
  let workers: number[] = [];
  for (const deadline = Date.now() + 30_000; workers.length < 2; await sleep(2)) {
    assert.ok(Date.now() < deadline, `no workers: ${s.err()}`);
    workers = children(pid);
  }
  assert.not.match(s.err(), /listening on/, 'the workers were already listening: the race was not hit');
  s.child.kill('SIGTERM');
  const r = await exitWithin(s, 60_000);
  for (const w of workers) {
    if (existsSync(`/proc/${w}`)) process.kill(w, 'SIGKILL');
  }
  assert.equal(r, { code: 0, signal: null }, s.err());
});

t(
  '-t 2: a worker that does not stop (SIGSTOPped, so SIGTERM cannot reach it) is killed 5 s into the stop, and the primary exits',
  async () => {
    const file = tmpRegion('term-stuck');
    const s = start(['--engine', 'js', '-t', '2', '--file', file]);
    const pid = s.child.pid ?? 0;
    await waitFor(s, (e) => /listening on/.exec(e)?.[0], 'never listened');
    const workers = children(pid);
    assert.is(workers.length, 2, 'two workers');
    const stuck = workers[0]!;
    process.kill(stuck, 'SIGSTOP');
    s.child.kill('SIGTERM');
    let alive = true;
    try {
      const r = await exitWithin(s, 60_000);
      alive = existsSync(`/proc/${stuck}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${stuck}/status`, 'utf8'));
      assert.equal(r, { code: 0, signal: null }, s.err());
    } finally {
      for (const w of workers) if (existsSync(`/proc/${w}`)) process.kill(w, 'SIGKILL');
    }
    assert.is(alive, false, 'the stuck worker is gone');
  },
);

t.run();
