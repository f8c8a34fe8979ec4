// Smoke test of one addon file, run by the Node under test (natively, or an arm64 Node under
// qemu-user): loads it through the package (SHMCACHED_ADDON), then open, set, get, incr, delete,
// stats, and a worker thread that reads what this thread wrote. Prints `N passed, N failed`.
//
//   SHMCACHED_ADDON=prebuilds/linux-arm64/shmcached.napi.glibc.node \
//     qemu-aarch64 -L /usr/aarch64-linux-gnu node-arm64 scripts/smoke-prebuild.mjs
import { Worker } from 'node:worker_threads';
import { rmSync } from 'node:fs';

const { Cache } = await import('../dist/src/index.js');
const path = `/dev/shm/shmcached-smoke-prebuild-${process.pid}`;
let passed = 0;
let failed = 0;
const check = (name, ok) => {
  console.log(`${ok ? 'ok' : 'not ok'} - ${name}`);
  if (ok) passed++;
  else failed++;
};
try {
  const c = Cache.open({ path, size: '8mb' });
  check(`${process.arch} node ${process.version}: open (protection ${c.protection})`, true);
  c.set('k', 'v1');
  check('set, get', String(c.get('k')) === 'v1');
  c.set('n', '41');
  check('incr', c.incr('n', 1) === 42n);
  check('delete', c.delete('k') === true && c.get('k') === undefined);
  check('stats', Number(c.stats().curr_items) === 1);
  const seen = await new Promise((resolve, reject) => {
    const w = new Worker(
      `import('${new URL('../dist/src/index.js', import.meta.url).href}').then(({ Cache }) => {
         const c = Cache.open({ path: ${JSON.stringify(path)} });
         require('node:worker_threads').parentPort.postMessage(String(c.get('n')));
         c.close();
       });`,
      { eval: true },
    );
    w.once('message', resolve);
    w.once('error', reject);
  });
  check('a worker thread reads it', seen === '42');
  c.close();
} catch (e) {
  console.log(String(e?.stack || e));
  check('no exception', false);
} finally {
  rmSync(path, { force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
