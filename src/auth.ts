/**
 * The server's credential store (memcached's `-Y` auth file, `user:password` lines): read safely,
 * checked, and handed to the protocol engine (native/proto/auth.h), which authenticates text and
 * meta clients memcached's way (a `set` of any key whose data is `username password`) and binary
 * clients with SASL PLAIN. The file follows the region-file rules of docs/security.md: opened
 * with `O_NOFOLLOW` (a symlink is refused, never followed), checked with `fstat` on the open
 * descriptor, and refused unless it is a regular file of this user (or root) that its group and
 * others can neither read nor write.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';

import { CacheError, typeError } from './errors.js';

/** The `auth` option of {@link createServer}: exactly one of `file` or `users`. */
export interface AuthOptions {
  /** memcached's auth file (`-Y`): `user:password` lines; mode 0600 or 0400, owned by this user. */
  file?: string;
  /** The credentials themselves, `{ username: password }` (no file). */
  users?: Readonly<Record<string, string>>;
  /** Offer binary-protocol SASL PLAIN (memcached's `-S`), default false: binary clients are refused. */
  sasl?: boolean;
}

/** A credential store as the engine takes it: the file's bytes, SASL on or off, the stats label. */
export interface AuthSpec {
  content: Buffer;
  sasl: boolean;
  label: string;
}

/** The largest auth file read (16 MiB). */
const AUTH_FILE_MAX = 16 * 1024 * 1024;

/** Reads and checks an auth file; every refusal is a CacheError whose message names the path and the fix. */
export function readAuthFile(path: string): Buffer {
  if (typeof path !== 'string' || path === '') throw typeError('ERR_INVALID_ARG_TYPE', 'auth file: path must be a non-empty string');
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ELOOP'
        ? 'a symbolic link (never followed): give the real path'
        : code === 'ENOENT'
          ? 'no such file'
          : code === 'EACCES'
            ? 'permission denied'
            : String(code);
    throw new CacheError('ERR_AUTH_FILE_OPEN', `auth file ${path}: ${why}`, { cause: e });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new CacheError('ERR_AUTH_FILE_NOT_FILE', `auth file ${path}: not a regular file`);
    const euid = process.geteuid?.() ?? st.uid;
    if (st.uid !== euid && st.uid !== 0)
      throw new CacheError(
        'ERR_AUTH_FILE_NOT_FILE',
        `auth file ${path}: owned by uid ${st.uid}, not by this user (uid ${euid}) or root: chown it, or use your own file`,
      );
    if ((st.mode & 0o077) !== 0)
      throw new CacheError(
        'ERR_AUTH_FILE_MODE',
        `auth file ${path}: mode 0${(st.mode & 0o777).toString(8)} lets other users read or write the passwords: chmod 600 ${path}`,
      );
    // memcached reads at most 8 lines of 256 bytes; a file past this is no password list (and
    // past 2 GiB not even readable in one piece).
    if (st.size > AUTH_FILE_MAX)
      throw new CacheError(
        'ERR_AUTH_FILE_FORMAT',
        `auth file ${path}: ${st.size} bytes is too large for user:password lines (at most ${AUTH_FILE_MAX})`,
      );
    const content = readFileSync(fd);
    checkAuthContent(content, path);
    return content;
  } finally {
    closeSync(fd);
  }
}

/** Checks memcached's format: every non-empty line `user:password`, at least one user. */
function checkAuthContent(content: Buffer, what: string): void {
  const lines = content.toString('latin1').split('\n');
  let users = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').replace(/\r$/, '');
    if (line === '') continue;
    if (!line.includes(':')) throw new CacheError('ERR_AUTH_FILE_FORMAT', `auth file ${what}: line ${i + 1} is not user:password`);
    users++;
  }
  if (users === 0) throw new CacheError('ERR_AUTH_FILE_FORMAT', `auth file ${what}: no user:password line`);
}

/** Resolves {@link AuthOptions} to what the engine takes; throws TypeError/CacheError on bad options. */
export function authSpec(o: AuthOptions): AuthSpec {
  if (typeof o !== 'object' || o === null) throw typeError('ERR_INVALID_ARG_TYPE', 'auth must be an object { file } or { users }');
  // Each read once: what is checked is what is used.
  const { file, users } = o;
  if ((file === undefined) === (users === undefined)) throw typeError('ERR_INVALID_ARG_VALUE', 'auth needs exactly one of file or users');
  const sasl = o.sasl === true;
  if (file !== undefined) return { content: readAuthFile(file), sasl, label: file };
  // A string or an array would read as users '0', '1', ... (Object.entries of it).
  if (typeof users !== 'object' || users === null || Array.isArray(users))
    throw typeError('ERR_INVALID_ARG_TYPE', 'auth.users must be an object { user: password }');
  const entries = Object.entries(users);
  if (entries.length === 0) throw typeError('ERR_INVALID_ARG_VALUE', 'auth.users names no user');
  const lines: string[] = [];
  for (const [u, p] of entries) {
    if (typeof p !== 'string' || u === '' || /[:\r\n]/.test(u) || /[\r\n]/.test(p))
      throw typeError(
        'ERR_INVALID_ARG_VALUE',
        `auth.users: user ${JSON.stringify(u)} needs a string password, and neither may hold ':' (in the user) or newlines`,
      );
    lines.push(`${u}:${p}`);
  }
  return { content: Buffer.from(`${lines.join('\n')}\n`, 'utf8'), sasl, label: 'yes' };
}
