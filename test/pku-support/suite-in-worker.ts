/**
 * Runs compiled uvu test files on a worker_thread (the entry of a Worker started by
 * test/pku.test.ts), the way uvu's own runner does on the main thread: every file is imported
 * with its suites queued, then they all run. Posts `{ code }` (0 when every test passed); the
 * uvu report goes to this thread's stdout, which the parent reads.
 *
 * workerData: { files: string[] } (absolute paths of compiled test files).
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { basename } from 'node:path';

// test/helpers.ts names regions by process.pid and a counter of its own module instance, which
// starts again at 0 on this thread: give the thread a pid of its own, or its region paths would be
// the very paths the main thread used for the same tests.
Object.defineProperty(process, 'pid', { value: `${process.pid}-w${threadId}`, configurable: true });

const g = globalThis as { UVU_DEFER?: number; UVU_INDEX?: number; UVU_QUEUE?: unknown[][] };
g.UVU_DEFER = 1;
const uvu = await import('uvu');
let index = 0;
for (const file of (workerData as { files: string[] }).files) {
  g.UVU_INDEX = index++;
  g.UVU_QUEUE!.push([basename(file)]);
  await import(pathToFileURL(file).href);
}
await uvu.exec();
parentPort!.postMessage({ code: Number(process.exitCode ?? 0) });
