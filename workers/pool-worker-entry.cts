/**
 * The file piscina loads for {@link CachePool}'s `'piscina'` transport: a CommonJS shim that
 * imports the real task (workers/pool-worker.ts, an ES module) with `import()`.
 *
 * Why: piscina loads a task file with `require()` first. On Node 20.19+, `require()` of an ES
 * module works, but it intermittently hit an internal assertion in Node's loader
 * (ModuleWrap::CreateRequiredModuleFacade) in a worker, killing the whole process (seen once in
 * CI). Requiring this CommonJS file and importing the module from it never takes that path.
 */
type Task = (req: ArrayBuffer) => unknown;

let run: Task | undefined;

async function task(req: ArrayBuffer): Promise<unknown> {
  run ??= ((await import('./pool-worker.js')) as { default: Task }).default;
  return run(req);
}

export = task;
