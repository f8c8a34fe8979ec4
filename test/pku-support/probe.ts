/**
 * Child-process side of the PKU probe tests (test/pku.test.ts). Run as
 *
 *   node dist/test/pku-support/probe.js <region path> <probe mode> <main|worker>
 *
 * The probing thread (the main thread, or a worker_thread it starts) first uses the region through
 * the public API, so gates have opened and closed on that very thread, then touches region memory
 * directly through the test-only native probe, with no gate open. With PKU that must fault: mode
 * 2 (read) and 3 (write) install a SIGSEGV handler that prints `probe: SIGSEGV si_code=N` and exits
 * 77; modes 0 and 1 let the fault kill the process. Without PKU the probe returns the byte: this
 * prints `probe: returned N` and exits 0.
 *
 * Lines on stdout: `probe: thread=<main|worker> protection=<pku|none> key=<n> pkru=<hex>` before the
 * probe, then `probe: returned N` only if the probe came back.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

import { Cache } from '../../src/index.js';
import { native } from '../../src/native.js';

interface Job {
  path: string;
  mode: number;
}

/**
 * Uses the region through the API on this thread (a success, an error status from the core, a
 * throw before the addon), reports, then hands `then` the probe to run when the report is out.
 */
function probeHere(job: Job, thread: string, report: (line: string) => void, then: (probe: () => number) => void): void {
  const c = Cache.open({ path: job.path });
  c.set('probe:warm', '41');
  c.get('probe:warm');
  c.incr('probe:warm');
  c.set('probe:text', 'not a number');
  for (const call of [() => c.incr('probe:text'), () => c.get(42 as unknown as string)]) {
    try {
      call();
    } catch {
      // ERR_NON_NUMERIC, then a TypeError: either way every gate must be closed again
    }
  }
  const h = native.open(job.path, 0, 0, -1, false, 0o600);
  const pkru = h.pkru();
  const line = `probe: thread=${thread} protection=${c.protection} key=${native.pkuInfo().key} pkru=${pkru < 0 ? '-1' : pkru.toString(16)}\n`;
  report(line);
  then(() => {
    const v = h.probe(job.mode);
    c.close();
    return v;
  });
}

if (isMainThread) {
  const [path, mode, where] = process.argv.slice(2);
  if (!path || mode === undefined || (where !== 'main' && where !== 'worker')) {
    process.stderr.write('usage: probe.js <path> <mode> <main|worker>\n');
    process.exit(2);
  }
  const job: Job = { path, mode: Number(mode) };
  if (where === 'main') {
    // stdout is a pipe here: Node writes to pipes synchronously on Linux, so each line is out
    // before the probe can end the process.
    probeHere(
      job,
      'main',
      (line) => process.stdout.write(line),
      (probe) => {
        process.stdout.write(`probe: returned ${probe()}\n`);
      },
    );
  } else {
    const w = new Worker(new URL(import.meta.url), { workerData: job });
    w.on('message', (m: { line?: string; value?: number }) => {
      // The worker's own stdout is relayed asynchronously and would be lost to the fault: the main
      // thread prints its line, then tells it to go on.
      if (m.line !== undefined) {
        process.stdout.write(m.line);
        w.postMessage('go');
      }
      if (m.value !== undefined) process.stdout.write(`probe: returned ${m.value}\n`);
    });
    w.on('error', (e) => {
      process.stderr.write(`probe: worker error ${e?.stack ?? e}\n`);
      process.exitCode = 3;
    });
  }
} else {
  probeHere(
    workerData as Job,
    'worker',
    (line) => parentPort!.postMessage({ line }),
    (probe) => {
      parentPort!.once('message', () => {
        parentPort!.postMessage({ value: probe() });
        parentPort!.close();
      });
    },
  );
}
