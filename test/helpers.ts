/** Shared helpers for the uvu suites: unique region paths under /dev/shm, cleaned up at exit. */
import { rmSync } from 'node:fs';

const made: string[] = [];

/** A fresh region path for one test; removed when the test process exits. */
export function tmpRegion(name: string): string {
  const p = `/dev/shm/shmcached-test-${process.pid}-${name}-${made.length}`;
  made.push(p);
  rmSync(p, { force: true });
  return p;
}

process.on('exit', () => {
  for (const p of made) rmSync(p, { force: true });
});
