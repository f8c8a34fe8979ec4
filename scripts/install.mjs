// The package's install script (package.json "install"). Uses the addon that already loads (a
// shipped prebuild, as node-gyp-build does), else compiles it with node-gyp, else says what is
// missing. `npm install --ignore-scripts` skips this and still works where a prebuild matches:
// src/addon-loader.ts finds it at run time.
//
//   SHMCACHED_BUILD_FROM_SOURCE=1 (or npm's --build-from-source) compiles even when a prebuild loads.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fromSource = process.env.SHMCACHED_BUILD_FROM_SOURCE === '1' || process.env.npm_config_build_from_source === 'true';

let loaderError = '';
const loader = join(root, 'dist', 'src', 'addon-loader.js');
// A git checkout has no dist/ yet at install time (prepare compiles it later): build from source.
if (!fromSource && existsSync(loader)) {
  try {
    const { loadAddon } = await import(pathToFileURL(loader).href);
    const { location } = loadAddon(root);
    console.log(`shmcached: using ${location.file.slice(root.length + 1)} (no compile needed)`);
    process.exit(0);
  } catch (e) {
    loaderError = e.message;
  }
}

// node-gyp: the one npm runs scripts with (npm_config_node_gyp), else from PATH / npx.
const gyp = process.env.npm_config_node_gyp;
const cmd = gyp ? [process.execPath, [gyp, 'rebuild']] : ['npx', ['--yes', 'node-gyp', 'rebuild']];
console.log(`shmcached: no prebuilt addon for ${process.platform}-${process.arch}; compiling with node-gyp`);
const r = spawnSync(cmd[0], cmd[1], { cwd: root, stdio: 'inherit' });
if (r.status === 0) process.exit(0);

const has = (c, args = ['--version']) => spawnSync(c, args, { stdio: 'ignore' }).status === 0;
const missing = [];
const cxx = process.env.CXX;
if (!(cxx ? has(cxx) : has('g++') || has('c++') || has('clang++')))
  missing.push(`a C++20 compiler (${cxx ? `$CXX=${cxx}` : 'g++, c++ or clang++'})`);
if (!has('make')) missing.push('make');
if (!has('python3') && !has('python')) missing.push('python3');
console.error(
  `\nshmcached: install failed: no prebuilt addon loads here and compiling it failed.\n` +
    (loaderError ? `${loaderError}\n` : '') +
    (missing.length
      ? `Missing to compile: ${missing.join(', ')}. On Debian/Ubuntu: apt-get install g++ make python3; on Alpine: apk add g++ make python3.\n`
      : "The compiler, make and python3 are present: see node-gyp's output above.\n") +
    (loaderError ? '' : 'Prebuilt binaries ship for linux-x64 and linux-arm64 (glibc and musl), Node ^20.19 or >= 22.12.'),
);
process.exit(1);
