/**
 * Errors of the {@link Cluster} client's network side. Bad arguments are still `TypeError` /
 * `RangeError`, and conditions a remote store reports that the local store would report too
 * (out of memory, a non-numeric incr, a value too large) are the same errors the local
 * {@link Cache} throws; what only a network can do wrong is a {@link ClusterError}.
 */
import { CacheError, rangeError } from '../errors.js';

/** Error codes of {@link ClusterError}. */
export type ClusterErrorCode =
  /** The node did not answer within the cluster's `timeout`. */
  | 'ERR_NODE_TIMEOUT'
  /** The connection to the node failed or closed (refused, reset, closed by the node). */
  | 'ERR_NODE_UNREACHABLE'
  /** The node answered with an error line this client has no better error for. */
  | 'ERR_NODE_ERROR'
  /** The node refused the cluster's `auth` credentials (memcached -Y: CLIENT_ERROR authentication failure). */
  | 'ERR_NODE_AUTH'
  /** Every node that could own the key is ejected (or the ring is empty). */
  | 'ERR_NO_NODES';

/** A network-side failure of one remote operation; `node` says which node (`host:port`). */
export class ClusterError extends Error {
  /** Machine-readable reason. */
  readonly code: ClusterErrorCode;
  /** The node the operation was sent to, as `host:port` (undefined for ERR_NO_NODES). */
  readonly node: string | undefined;
  /** For ERR_NODE_ERROR: the node's reply line, without CRLF. */
  readonly reply: string | undefined;
  constructor(code: ClusterErrorCode, message: string, node?: string, reply?: string) {
    super(message);
    this.name = 'ClusterError';
    this.code = code;
    this.node = node;
    this.reply = reply;
  }
}

/**
 * The error for a node's error reply (`ERROR`, `CLIENT_ERROR ...`, `SERVER_ERROR ...`) to
 * `command`: the local store's error where the condition is the same one, else ERR_NODE_ERROR.
 */
export function errorFromReply(line: string, command: string, node: string): Error {
  if (/non-numeric/i.test(line))
    return new CacheError('ERR_NON_NUMERIC', `${command}: the value on ${node} is not a decimal number (${line})`);
  if (/too large/i.test(line)) return rangeError('ERR_VALUE_TOO_LARGE', `${command}: the item is too large for ${node} (${line})`);
  if (/out of memory/i.test(line)) return new CacheError('ERR_OUT_OF_MEMORY', `${command}: ${node} is out of memory (${line})`);
  return new ClusterError('ERR_NODE_ERROR', `${command}: ${node} answered ${JSON.stringify(line)}`, node, line);
}
