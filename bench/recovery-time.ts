/**
 * Recovery time of a full region: `node dist/bench/recovery-time.js [--sizes 64mb,1gb]
 * [--value 100] [--dir /dev/shm]`.
 *
 * For each size: a child process fills a fresh region (evict off) with items of `--value` bytes
 * until it is full, then kills itself with SIGKILL: the region is left not clean with a dead
 * process in its attach table, as after a crash. This process then opens it (the timed recovery of
 * the report, `lastRecovery.ms`), closes it cleanly and reopens it (a warm start), and forces
 * recovery twice more (`recover: true`) for a median of three. The process's CPU time over each open
 * is shown beside the wall time: on a shared machine the wall time includes waiting for a core. Small values are the worst case:
 * the most items per byte to verify, hash and link. Prints a markdown table.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Cache, parseSize } from '../src/index.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '64mb,1gb' },
    value: { type: 'string', default: '100' },
    dir: { type: 'string', default: process.env.SHMCACHED_BENCH_DIR ?? '/dev/shm' },
  },
});
const indexUrl = new URL('../src/index.js', import.meta.url).href;
const vlen = Number(values.value);
const rows: string[][] = [];

/** The middle of three readings (the recovery is timed three times per size). */
function median3(xs: readonly number[]): number {
  const [, mid] = [...xs].sort((a, b) => a - b);
  if (xs.length !== 3 || mid === undefined) throw new RangeError(`median3 of ${xs.length} readings`);
  return mid;
}
for (const sizeText of values.sizes.split(',')) {
  const size = parseSize(sizeText, '--sizes');
  const path = `${values.dir}/shmcached-recovery-bench-${process.pid}-${sizeText}`;
  rmSync(path, { force: true });
  const fill = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `
    const { Cache } = await import(${JSON.stringify(indexUrl)});
    const c = Cache.open({ path: ${JSON.stringify(path)}, size: ${size}, evict: false, reset: true });
    const v = Buffer.alloc(${vlen}, 'v');
    let n = 0;
    try { for (;;) { c.set('key:' + n, v, { flags: n }); n++; } } catch (e) { if (e.code !== 'ERR_OUT_OF_MEMORY') throw e; }
    process.stdout.write(String(n) + '\\n');
    process.kill(process.pid, 'SIGKILL');
  `,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  if (fill.signal !== 'SIGKILL') throw new Error(`filler did not die as planned: ${fill.status} ${fill.signal}`);
  const items = Number(fill.stdout.trim());
  let cpu = process.cpuUsage();
  const c = Cache.open({ path });
  cpu = process.cpuUsage(cpu);
  const crashCpu = [(cpu.user + cpu.system) / 1000];
  const crash = c.lastRecovery;
  if (crash.kind !== 'recovered' || crash.itemsKept !== items)
    throw new Error(`unexpected report ${JSON.stringify(crash)} for ${items} items`);
  c.close();
  const w = Cache.open({ path });
  const warm = w.lastRecovery;
  w.close();
  const forced = [crash.ms];
  for (let i = 0; i < 2; i++) {
    let u = process.cpuUsage();
    const f = Cache.open({ path, recover: true });
    u = process.cpuUsage(u);
    crashCpu.push((u.user + u.system) / 1000);
    forced.push(f.lastRecovery.ms);
    f.close();
  }
  const forcedMs = median3(forced);
  rows.push([
    sizeText,
    String(items),
    String(crash.pagesScanned),
    crash.ms.toFixed(0),
    forcedMs.toFixed(0),
    median3(crashCpu).toFixed(0),
    ((forcedMs * 1e6) / items).toFixed(0),
    warm.ms.toFixed(2),
  ]);
  rmSync(path, { force: true });
}
console.log(`value ${vlen} B, keys 'key:N'; ms = lastRecovery.ms\n`);
console.log(
  '| region | items | pages | recovery after SIGKILL (ms) | median of 3 (ms) | CPU, median of 3 (ms) | ns / item | warm start (ms) |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
