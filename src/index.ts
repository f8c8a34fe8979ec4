/**
 * shmcached: memcached as a shared-memory library for Node.js. One store in one file, reached by
 * a direct call from every thread and every process that opens it.
 */
export { Cache, DEFAULT_PATH } from './cache.js';
export { CachePool, type PoolErrorInfo, type PoolOp, type PoolOptions, type PoolResult, type PoolStats } from './pool/pool.js';
export { createServer, type ServerOptions } from './server.js';
export type { AuthOptions } from './auth.js';
export { CacheError, type CacheErrorCode } from './errors.js';
export type { FetchEvent, FetchOptions, FetchOutcome, Loader } from './fetch.js';
export { flushEvents, type ItemEvent } from './events.js';
export { parseSize } from './size.js';
export type * from './types.js';
export { describeRecovery } from './cache.js';
export { checkRegion, checkMain, type CheckResult } from './cli/check.js';
export {
  Cluster,
  ClusterError,
  type ClusterConstructor,
  type ClusterErrorCode,
  type ClusterOp,
  type ClusterOptions,
  type ClusterResult,
  type ClusterStats,
  type ClusterValue,
  type NodeStats,
} from './cluster/cluster.js';
