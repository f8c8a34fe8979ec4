/** Shared helpers for the uvu suites: unique region paths under /dev/shm, cleaned up at exit. */
import { rmSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

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

const indexUrl = new URL('../src/index.js', import.meta.url).href;

/**
 * Runs `body` (the text of an async function body, with `cache` open on `path` and `data` =
 * `extra`) in a new worker_thread; resolves with what the body returns.
 */
export function runWorker(path: string, body: string, extra: unknown = null): Promise<unknown> {
  const code = `
    import { workerData, parentPort } from 'node:worker_threads';
    const { Cache } = await import(${JSON.stringify(indexUrl)});
    const cache = Cache.open({ path: workerData.path });
    const data = workerData.extra;
    const result = await (async () => { ${body} })();
    cache.close();
    parentPort.postMessage(result);
  `;
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), { workerData: { path, extra } });
    let result: unknown;
    w.on('message', (m) => (result = m));
    w.on('error', reject);
    w.on('exit', (c) => (c === 0 ? resolve(result) : reject(new Error(`worker exited ${c}`))));
  });
}

/** What `fn` throws, as `"<name>:<code>"` (e.g. `"RangeError:ERR_OUT_OF_RANGE"`); undefined when it returns. */
export function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return `${(e as Error).name}:${(e as { code?: string }).code}`;
  }
  return undefined;
}

/** `x`, or a thrown Error naming `what` when it is undefined or null (a test's expectation that something is there). */
export function must<T>(x: T | undefined | null, what: string): T {
  if (x === undefined || x === null) throw new Error(`expected ${what}, got ${x}`);
  return x;
}

/** `arr[i]`, or a thrown RangeError when element `i` is missing or undefined (a test's expectation that it is there). */
export function at<T>(arr: ArrayLike<T | undefined>, i: number, what = 'array'): T {
  const v = arr[i];
  if (v === undefined) throw new RangeError(`${what}[${i}] is missing (length ${arr.length})`);
  return v;
}

/** What `p` rejects with (a test's expectation that it rejects); throws when it resolves. */
export async function rejects(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

/** What `f` throws (a test's expectation that it throws); throws when it returns. */
export function thrown(f: () => unknown): Error & { code?: string } {
  try {
    f();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a throw');
}
