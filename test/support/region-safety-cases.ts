/**
 * The cases of test/region-safety.test.ts, as plain functions so they can run both in the test
 * process and in a child process started as another (unprivileged) user. Each case plants
 * something hostile at a region path, opens it every way the library offers (plain, `reset`,
 * `onCorrupt: 'reset'`, the read-only `check`) and requires the refusal's own code, with the victim
 * file byte-for-byte and mode-for-mode as it was.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cache, CacheError } from '../../src/index.js';
import { native } from '../../src/native.js';
import type { OpenOptions } from '../../src/types.js';

/** What a case needs from its runner. */
export interface CaseEnv {
  /** A fresh directory of this process's user, mode 0700. */
  dir: string;
  /** A file owned by another user that this process can open read-write (mode 0666), or undefined. */
  otherUsersFile?: string;
  /** That file's owner. */
  otherUid?: number;
}

/** One case's outcome. */
export interface CaseResult {
  name: string;
  /** Empty when the case held. */
  problems: string[];
  /** Set when the case could not run here (with the reason). */
  skipped?: string;
}

/** Content hash and mode bits of a file (lstat: a link is described, not followed). */
export function snapshot(p: string): string {
  const st = lstatSync(p);
  const data = st.isFile() ? createHash('sha256').update(readFileSync(p)).digest('hex') : st.isSymbolicLink() ? 'link' : 'other';
  return `${data} mode=${(st.mode & 0o7777).toString(8)} uid=${st.uid} ino=${st.ino} size=${st.size}`;
}

type Try = [label: string, run: () => unknown];

/** The ways of opening a path that must all be refused with `code`. */
function everyOpen(path: string, extra: OpenOptions = {}): [open: Try, openReset: Try, openCorruptReset: Try, check: Try] {
  const o = { path, size: '4mb', itemSizeMax: '1kb', ...extra };
  return [
    ['open', () => Cache.open(o).close()],
    ['open reset', () => Cache.open({ ...o, reset: true }).close()],
    ['open onCorrupt reset', () => Cache.open({ ...o, onCorrupt: 'reset' }).close()],
    ['check', () => native.check(path)],
  ];
}

function expectRefused(problems: string[], tries: Try[], code: string, mention: string): void {
  for (const [label, run] of tries) {
    try {
      run();
      problems.push(`${label}: opened, want ${code}`);
    } catch (e) {
      const err = e as Error & { code?: string };
      if (err.code !== code) problems.push(`${label}: ${err.code} (${err.message}), want ${code}`);
      else if (!err.message.includes(mention)) problems.push(`${label}: message does not name ${mention}: ${err.message}`);
      else if (label !== 'check' && !(err instanceof CacheError)) problems.push(`${label}: not a CacheError`);
    }
  }
}

/** A small store of ours with one item, at p. */
function makeStore(p: string, extra: OpenOptions = {}): void {
  const c = Cache.open({ path: p, size: '4mb', itemSizeMax: '1kb', ...extra });
  c.set('precious', 'value');
  c.close();
}

function unchanged(problems: string[], p: string, before: string, what: string): void {
  const after = snapshot(p);
  if (after !== before) problems.push(`${what} changed: ${before} -> ${after}`);
}

/**
 * Every open of `path` ({@link everyOpen}) is refused with `code`, its message naming `mention`
 * (the path by default), and `file` (the path itself by default; a link's target or other name)
 * is left as it was.
 */
function refusedUntouched(problems: string[], path: string, code: string, what: string, o: { file?: string; mention?: string } = {}): void {
  const file = o.file ?? path;
  const before = snapshot(file);
  expectRefused(problems, everyOpen(path), code, o.mention ?? path);
  unchanged(problems, file, before, what);
}

/** Runs every case in env.dir; returns their results. */
export function runCases(env: CaseEnv): CaseResult[] {
  const results: CaseResult[] = [];
  let n = 0;
  const run = (name: string, body: (dir: string, problems: string[]) => string | void) => {
    const dir = join(env.dir, `c${n++}`);
    mkdirSync(dir, { mode: 0o700 });
    chmodSync(dir, 0o700);
    const problems: string[] = [];
    let skipped: string | undefined;
    try {
      skipped = body(dir, problems) || undefined;
    } catch (e) {
      problems.push(`threw: ${(e as Error).stack}`);
    }
    results.push({ name, problems, skipped });
  };

  run('a symlink planted at the path, to a 0600 file of ours: refused, never followed, the target untouched', (dir, problems) => {
    for (const kind of ['plain file', 'store of ours']) {
      const victim = join(dir, `victim-${kind.replace(/ /g, '-')}`);
      if (kind === 'plain file') writeFileSync(victim, 'secret: do not overwrite\n'.repeat(100), { mode: 0o600 });
      else makeStore(victim);
      chmodSync(victim, 0o600);
      const link = join(dir, `link-${kind.replace(/ /g, '-')}`);
      symlinkSync(victim, link);
      refusedUntouched(problems, link, 'ERR_REGION_SYMLINK', `the link's target (${kind})`, { file: victim });
      if (!lstatSync(link).isSymbolicLink()) problems.push('the link itself was replaced');
    }
    // A dangling link: nothing is created where it points.
    const target = join(dir, 'not-yet');
    const link = join(dir, 'dangling');
    symlinkSync(target, link);
    expectRefused(problems, everyOpen(link).slice(0, 3), 'ERR_REGION_SYMLINK', link);
    if (existsSync(target)) problems.push('a file was created through a dangling link');
  });

  run('a file owned by another user: refused (and opened only where allowOwner names that uid)', (dir, problems) => {
    if (process.geteuid!() === 0) {
      // As root: a store of ours handed to another uid (chown), as a hostile user's file would be.
      const uid = env.otherUid ?? 61001;
      const p = join(dir, 'theirs');
      makeStore(p);
      spawnSync('chown', [`${uid}`, p]);
      if (statSync(p).uid !== uid) return 'chown did not work here';
      refusedUntouched(problems, p, 'ERR_REGION_OWNER', "the other user's file");
      // Deliberately: allowOwner names the uid.
      const c = Cache.open({ path: p, allowOwner: uid });
      if (c.get('precious')?.toString() !== 'value') problems.push('allowOwner: the store did not open with its item');
      c.close();
      if (!native.check(p, uid).ok) problems.push('check with allowOwner did not verify');
      return;
    }
    if (!env.otherUsersFile) return 'no file of another user was prepared (run the suite as root to cover this case)';
    refusedUntouched(problems, env.otherUsersFile, 'ERR_REGION_OWNER', "the other user's file");
  });

  run('a 0666 (and a 0660) file of ours: refused unless mode allows that sharing', (dir, problems) => {
    const p = join(dir, 'loose');
    makeStore(p);
    chmodSync(p, 0o666);
    const before = snapshot(p);
    expectRefused(problems, everyOpen(p), 'ERR_REGION_MODE', p);
    expectRefused(problems, everyOpen(p, { mode: 0o660 }), 'ERR_REGION_MODE', p);
    unchanged(problems, p, before, 'the 0666 file');
    const foreign = join(dir, 'loose-foreign');
    writeFileSync(foreign, 'not a store');
    chmodSync(foreign, 0o666);
    refusedUntouched(problems, foreign, 'ERR_REGION_MODE', 'the 0666 foreign file');
    chmodSync(p, 0o660);
    refusedUntouched(problems, p, 'ERR_REGION_MODE', 'the 0660 file');
    const c = Cache.open({ path: p, mode: 0o660 });
    if (c.get('precious')?.toString() !== 'value') problems.push('mode 0o660 did not open the 0660 store');
    c.close();
    if (!native.check(p, -1, 0o660).ok) problems.push('check with mode 0o660 did not verify');
  });

  run('a world-writable directory without the sticky bit: refused, nothing created or changed in it', (dir, problems) => {
    const d = join(dir, 'open-dir');
    mkdirSync(d);
    chmodSync(d, 0o777);
    const fresh = join(d, 'new-store');
    expectRefused(problems, everyOpen(fresh).slice(0, 3), 'ERR_REGION_DIR_UNSAFE', d);
    if (existsSync(fresh)) problems.push('a file was created in the unsafe directory');
    const old = join(d, 'old-store');
    chmodSync(d, 0o700);
    makeStore(old);
    chmodSync(d, 0o777);
    refusedUntouched(problems, old, 'ERR_REGION_DIR_UNSAFE', 'the store in the unsafe directory', { mention: d });
    // With the sticky bit (like /dev/shm and /tmp) it is fine.
    chmodSync(d, 0o1777);
    Cache.open({ path: fresh, size: '4mb', itemSizeMax: '1kb' }).close();
    if ((statSync(fresh).mode & 0o777) !== 0o600) problems.push('a new file in a sticky directory is not 0600');
  });

  run('a FIFO and a directory at the path: refused (ERR_REGION_NOT_FILE), no hang, untouched', (dir, problems) => {
    const fifo = join(dir, 'fifo');
    const r = spawnSync('mkfifo', ['-m', '600', fifo]);
    if (r.status !== 0) problems.push('mkfifo failed');
    else {
      refusedUntouched(problems, fifo, 'ERR_REGION_NOT_FILE', 'the FIFO');
    }
    const sub = join(dir, 'a-dir');
    mkdirSync(sub, { mode: 0o700 });
    writeFileSync(join(sub, 'inside'), 'x');
    expectRefused(problems, everyOpen(sub), 'ERR_REGION_NOT_FILE', sub);
    if (readFileSync(join(sub, 'inside'), 'utf8') !== 'x') problems.push('the directory was changed');
  });

  run('a file of ours without the magic: never written, with reset or onCorrupt reset (ERR_REGION_FOREIGN)', (dir, problems) => {
    const p = join(dir, 'foreign');
    writeFileSync(p, Buffer.alloc(256 * 1024, 0x5a), { mode: 0o600 });
    const before = snapshot(p);
    const [open, openReset, openCorruptReset, check] = everyOpen(p);
    expectRefused(problems, [openReset, openCorruptReset], 'ERR_REGION_FOREIGN', p);
    expectRefused(problems, [open, check], 'ERR_BAD_REGION', p);
    unchanged(problems, p, before, 'the foreign file');
  });

  run('a second hard link to a file: refused (ERR_REGION_LINKS), both names untouched', (dir, problems) => {
    const victim = join(dir, 'victim');
    makeStore(victim);
    const p = join(dir, 'hardlink');
    try {
      linkSync(victim, p);
    } catch (e) {
      return `cannot make a hard link here: ${(e as Error).message}`;
    }
    refusedUntouched(problems, p, 'ERR_REGION_LINKS', 'the linked file', { file: victim });
  });

  run('reset of our own store: a fresh file (new inode) made exclusively, 0600, empty', (dir, problems) => {
    const p = join(dir, 'ours');
    makeStore(p);
    const ino = statSync(p).ino;
    const c = Cache.open({ path: p, reset: true });
    if (c.lastRecovery.kind !== 'reset') problems.push(`kind ${c.lastRecovery.kind}`);
    if (c.get('precious') !== undefined) problems.push('the item survived a reset');
    c.close();
    const st = statSync(p);
    if (st.ino === ino) problems.push('reset rewrote the file in place instead of replacing it');
    if ((st.mode & 0o777) !== 0o600) problems.push(`the fresh file has mode ${(st.mode & 0o777).toString(8)}`);
    rmSync(p);
  });
  return results;
}
