/**
 * Finds and loads the native addon, following the rules of prebuildify / node-gyp-build so that a
 * local build, a shipped prebuild and a sanitizer build are all found without hard-coded paths.
 * Internal: src/native.ts calls {@link loadAddon}; scripts/install.mjs calls it to decide whether
 * an install needs a compiler. Order, first that exists wins:
 *
 * 1. `SHMCACHED_ADDON` (an explicit file, e.g. the ASan build of scripts/build-asan.sh): loaded or
 *    the error is thrown, never silently skipped.
 * 2. `<package root>/build/Release/shmcached.node` (node-gyp's output: a developer's or a fallback build).
 * 3. `<package root>/prebuilds/<platform>-<arch>/*.node` whose dot-separated tags match this
 *    process (`napi`, `glibc`/`musl`, `armv7`...; unknown tags such as the name are ignored, as
 *    node-gyp-build does), most specific first; e.g. `prebuilds/linux-x64/shmcached.napi.glibc.node`.
 *
 * When nothing loads, the error names every place looked at and why each failed.
 */
import { createRequire } from 'node:module';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Tags parsed from a prebuild's file name (`name.tag.tag.node`), as node-gyp-build parses them. */
interface PrebuildTags {
  file: string;
  napi: boolean;
  libc?: string;
  armv?: string;
  runtime?: string;
  abi?: string;
  specificity: number;
}

/** The C library this process runs on: 'musl' or 'glibc' (`LIBC` overrides, as in node-gyp-build). */
export function detectLibc(): 'glibc' | 'musl' {
  const env = process.env.LIBC;
  if (env === 'musl' || env === 'glibc') return env;
  // The mapped dynamic loader tells exactly (a glibc Node on a host that also has musl installed
  // is still glibc); /etc/alpine-release is node-gyp-build's guess where /proc is not readable.
  try {
    const maps = readFileSync('/proc/self/maps', 'latin1');
    return /\/ld-musl-|\/libc\.musl-/.test(maps) ? 'musl' : 'glibc';
  } catch {
    return existsSync('/etc/alpine-release') ? 'musl' : 'glibc';
  }
}

function parseTags(file: string): PrebuildTags | undefined {
  const parts = file.split('.');
  if (parts.pop() !== 'node') return undefined;
  const tags: PrebuildTags = { file, napi: false, specificity: 0 };
  for (const tag of parts) {
    if (tag === 'node' || tag === 'electron' || tag === 'node-webkit') tags.runtime = tag;
    else if (tag === 'napi') tags.napi = true;
    else if (tag.startsWith('abi')) tags.abi = tag.slice(3);
    else if (tag.startsWith('armv')) tags.armv = tag.slice(4);
    else if (tag === 'glibc' || tag === 'musl') tags.libc = tag;
    else continue;
    tags.specificity++;
  }
  return tags;
}

function matches(tags: PrebuildTags, libc: string): boolean {
  if (tags.runtime !== undefined && tags.runtime !== 'node') return false;
  if (tags.abi !== undefined && tags.abi !== process.versions.modules && !tags.napi) return false;
  if (tags.libc !== undefined && tags.libc !== libc) return false;
  if (tags.armv !== undefined && tags.armv !== String((process.config.variables as { arm_version?: string }).arm_version ?? ''))
    return false;
  return true;
}

/** The prebuilds in `dir` usable by this process, best first (N-API before ABI-specific, then most tags). */
export function prebuildCandidates(dir: string, libc: string = detectLibc()): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map(parseTags)
    .filter((t): t is PrebuildTags => t !== undefined && matches(t, libc))
    .sort((a, b) => Number(b.napi) - Number(a.napi) || b.specificity - a.specificity)
    .map((t) => join(dir, t.file));
}

/** Where {@link loadAddon} found the addon, and what it tried first. */
export interface AddonLocation {
  /** The file that loaded. */
  file: string;
  /** 'env' (SHMCACHED_ADDON), 'build' (build/Release) or 'prebuild'. */
  kind: 'env' | 'build' | 'prebuild';
}

/**
 * Loads the addon for the package rooted at `root` (the folder holding package.json). Returns the
 * module and where it came from; throws an Error naming every place looked at when none loads.
 */
export function loadAddon<T>(root: string): { module: T; location: AddonLocation } {
  const require = createRequire(join(root, 'package.json'));
  const override = process.env.SHMCACHED_ADDON;
  if (override !== undefined && override !== '') {
    return { module: require(override) as T, location: { file: override, kind: 'env' } };
  }
  const tried: string[] = [];
  const attempt = (file: string, kind: AddonLocation['kind']): { module: T; location: AddonLocation } | undefined => {
    if (!existsSync(file)) {
      tried.push(`${file} (absent)`);
      return undefined;
    }
    try {
      return { module: require(file) as T, location: { file, kind } };
    } catch (e) {
      tried.push(`${file} (does not load: ${(e as Error).message.split('\n')[0]})`);
      return undefined;
    }
  };
  const built = attempt(join(root, 'build', 'Release', 'shmcached.node'), 'build');
  if (built !== undefined) return built;
  const libc = detectLibc();
  const target = `${process.platform}-${process.arch}`;
  const dir = join(root, 'prebuilds', target);
  const candidates = prebuildCandidates(dir, libc);
  if (candidates.length === 0) tried.push(`${join(dir, `*.${libc}.node`)} (none for ${target} ${libc})`);
  for (const file of candidates) {
    const found = attempt(file, 'prebuild');
    if (found !== undefined) return found;
  }
  throw new Error(
    `shmcached: no native addon loads for ${target} (${libc}, Node ${process.versions.node}, ` +
      `N-API ${process.versions.napi}). Looked for:\n  SHMCACHED_ADDON (unset)\n  ${tried.join('\n  ')}\n` +
      `Prebuilt binaries ship for linux-x64 and linux-arm64 (glibc and musl). Elsewhere, build it: ` +
      `\`npm rebuild shmcached\` (needs a C++20 compiler, make and python3).`,
  );
}
