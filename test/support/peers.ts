/**
 * The interop lane: tests that need a live peer program (Debian's `memcached`, `nutcracker`
 * (twemproxy), libmemcached's `memccapable`) run when it is installed and are skipped, each file
 * with one printed line, when it is not:
 *
 *   skipped: memcached not installed (differential.test.js)
 *
 * so `npm test` passes on a machine with only Node. With `SHMCACHED_REQUIRE_PEERS=1` (CI sets it
 * in .ci/run, which installs the peers) a missing peer is a FAILURE instead: the lane can never
 * silently vanish where it is meant to run.
 *
 * Usage in a test file:
 *
 *   const t = interop(suite, 'memcached', import.meta.url);   // suite itself, or suite.skip, or failing stand-ins
 *   suite.before(async () => { if (!peerReady('memcached')) return; ... start it ... });
 *
 * Binaries are found as test/support/memcached.ts and cluster-nodes.ts start them (environment
 * override, then PATH, then the usual places), so hiding them from those paths hides them here.
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { basename, delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A program the interop lane talks to. */
export type Peer = 'memcached' | 'nutcracker' | 'memccapable';

const ENV: Record<Peer, string> = { memcached: 'MEMCACHED_BIN', nutcracker: 'NUTCRACKER_BIN', memccapable: 'MEMCCAPABLE_BIN' };
const INSTALL: Record<Peer, string> = { memcached: 'memcached', nutcracker: 'nutcracker', memccapable: 'libmemcached-tools' };

function executable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The peer's binary: `$MEMCACHED_BIN` / `$NUTCRACKER_BIN` / `$MEMCCAPABLE_BIN`, else PATH, else /usr/{,local/}{bin,sbin}; undefined when absent. */
export function findPeer(peer: Peer): string | undefined {
  const candidates: string[] = [];
  const env = process.env[ENV[peer]];
  if (env) candidates.push(env);
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir) candidates.push(join(dir, peer));
  for (const dir of ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin']) candidates.push(join(dir, peer));
  return candidates.find(executable);
}

/** True when `SHMCACHED_REQUIRE_PEERS=1`: a missing peer fails the tests that need it. */
export function peersRequired(): boolean {
  return process.env.SHMCACHED_REQUIRE_PEERS === '1';
}

/** The one-line reason a peer is unavailable, naming the fix. */
export function missingMessage(peer: Peer): string {
  return `${peer} not installed (apt-get install -y ${INSTALL[peer]}, or set ${ENV[peer]}=/path/to/${peer})`;
}

/**
 * Whether tests needing `peer` should start it: true when it is installed, and also when it is
 * missing but required (the tests then fail with {@link missingMessage}); false when they are skipped.
 */
export function peerReady(peer: Peer): boolean {
  return findPeer(peer) !== undefined || peersRequired();
}

const announced = new Set<string>();

/** Prints the file's skip (or, when required, failure) line for `peer`, once per file. */
export function announceMissing(peer: Peer, fileUrl: string): void {
  const file = basename(fileUrl.startsWith('file:') ? fileURLToPath(fileUrl) : fileUrl);
  const key = `${peer} ${file}`;
  if (announced.has(key)) return;
  announced.add(key);
  if (peersRequired()) console.log(`missing: ${peer} not installed and SHMCACHED_REQUIRE_PEERS=1 (${file}): its tests fail`);
  else console.log(`skipped: ${peer} not installed (${file})`);
}

/** The part of uvu's `test` / a suite that {@link interop} uses. */
type Register = (name: string, fn: () => void) => void;

/**
 * The `test` (or suite) to register tests needing `peer` with: `t` itself when the peer is
 * installed; `t.skip` when it is not (after printing the file's `skipped:` line); and with
 * `SHMCACHED_REQUIRE_PEERS=1` a stand-in that registers each test as one that fails naming the
 * missing peer (so none of them waits on a program that cannot start).
 */
export function interop<T extends { skip: unknown }>(t: T, peer: Peer, fileUrl: string): T {
  if (findPeer(peer) !== undefined) return t;
  announceMissing(peer, fileUrl);
  if (!peersRequired()) return t.skip as T;
  const failing = ((name: string) =>
    (t as unknown as Register)(name, () => {
      throw new Error(`${missingMessage(peer)}; SHMCACHED_REQUIRE_PEERS=1 makes that a failure`);
    })) as unknown as T;
  return Object.assign(failing, { skip: t.skip });
}

/**
 * A current memcached (1.6.4x, built from source) for the tests that pin what it changed since
 * Debian's 1.6.18: `$SHMCACHED_MEMCACHED_NEW`, else the team's build at
 * /work/peers/memcached-1.6.45/bin/memcached; undefined when neither is there. Unlike the lane's
 * other peers it is never required (CI installs only Debian's): tests needing it skip with one
 * printed line wherever it is missing.
 */
export function findMemcachedNew(): string | undefined {
  const env = process.env.SHMCACHED_MEMCACHED_NEW;
  return [...(env ? [env] : []), '/work/peers/memcached-1.6.45/bin/memcached'].find(executable);
}

/** `t` when {@link findMemcachedNew} finds one, else `t.skip` after printing the file's skip line. */
export function interopNew<T extends { skip: unknown }>(t: T, fileUrl: string): T {
  if (findMemcachedNew() !== undefined) return t;
  const file = basename(fileUrl.startsWith('file:') ? fileURLToPath(fileUrl) : fileUrl);
  if (!announced.has(`memcached-new ${file}`)) {
    announced.add(`memcached-new ${file}`);
    console.log(`skipped: current memcached not found (set SHMCACHED_MEMCACHED_NEW=/path/to/memcached-1.6.4x) (${file})`);
  }
  return t.skip as T;
}
