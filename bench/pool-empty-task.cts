/**
 * The piscina task of `npm run bench -- pool`'s baseline: does nothing, so only the round trip is
 * timed. CommonJS, so piscina's require() loads it without Node's require(esm) path (see
 * workers/pool-worker-entry.cts).
 */
function emptyTask(): number {
  return 0;
}

export = emptyTask;
