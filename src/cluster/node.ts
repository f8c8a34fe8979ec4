/**
 * A remote node of a {@link Cluster}: a small pool of pipelined connections, and the node's
 * health, kept the way twemproxy keeps it with `auto_eject_hosts`:
 *
 * - a failure is a connection that dies with requests waiting on it (refused, reset, closed, or
 *   no reply within the timeout); any complete reply resets the count;
 * - after `failureLimit` consecutive failures the node is ejected: its connections are closed,
 *   the cluster rebuilds its ring without it (its keys move to the other nodes), and the count
 *   starts again from zero;
 * - `retryTimeout` ms later it is put back on the ring and tried again; if it still fails,
 *   `failureLimit` more failures eject it again.
 */
import type { NodeSecurity } from './args.js';
import { Expect, NodeConnection, type ConnOwner, type RemoteItem, type ReplyCallback } from './conn.js';
import { ClusterError } from './error.js';

/** Health and traffic counters of one remote node, from {@link Cluster.stats}. */
export interface NodeStats {
  /** Key operations sent to the node (each key of a multi-get counts one). */
  readonly ops: number;
  /** Protocol requests written (a multi-get of many keys is one, or a few). */
  readonly requests: number;
  /** Requests that failed on the network (timeout, refused, reset). */
  readonly failedRequests: number;
  /** Connection failures (a dead connection with requests waiting on it). */
  readonly failures: number;
  /** Failures since the last reply (what ejection counts). */
  readonly consecutiveFailures: number;
  /** Times the node was ejected. */
  readonly ejections: number;
  /** True while the node is ejected (off the ring until `retryAt`). */
  readonly ejected: boolean;
  /** When an ejected node will be tried again (ms since the epoch), else 0. */
  readonly retryAt: number;
  /** Connections opened so far (reconnects included). */
  readonly connects: number;
  /** Open connections now. */
  readonly connections: number;
  /** Requests waiting for their reply now. */
  readonly inFlight: number;
}

/** Settings a node takes from its cluster. */
export interface NodeSettings {
  connections: number;
  timeoutMs: number;
  autoEject: boolean;
  failureLimit: number;
  retryTimeoutMs: number;
  /** The largest value taken from the node (bytes); a larger one is dropped unread (conn.ts). */
  maxValueSize?: number;
  /** TLS and auth for every connection (src/cluster/args.ts). */
  security?: NodeSecurity;
}

/** A remote node; see the module comment. */
export class RemoteNode implements ConnOwner {
  /** `host:port`. */
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly #settings: NodeSettings;
  readonly #onHealthChange: () => void;
  readonly #conns: NodeConnection[] = [];
  #rr = 0;
  #ejectedUntil = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Key operations routed to this node (the cluster counts them; each key of a multi-get is one). */
  ops = 0;
  #requests = 0;
  #failedRequests = 0;
  #failures = 0;
  #consecutive = 0;
  #ejections = 0;
  #connects = 0;

  /** `onHealthChange` runs when the node is ejected or put back (the cluster rebuilds its ring). */
  constructor(host: string, port: number, settings: NodeSettings, onHealthChange: () => void) {
    this.host = host;
    this.port = port;
    this.id = `${host}:${port}`;
    this.#settings = settings;
    this.#onHealthChange = onHealthChange;
  }

  /** True while the node is off the ring. */
  get ejected(): boolean {
    return this.#ejectedUntil !== 0;
  }

  /** The counters of this node. */
  stats(): NodeStats {
    let inFlight = 0;
    for (const c of this.#conns) inFlight += c.pending;
    return {
      ops: this.ops,
      requests: this.#requests,
      failedRequests: this.#failedRequests,
      failures: this.#failures,
      consecutiveFailures: this.#consecutive,
      ejections: this.#ejections,
      ejected: this.ejected,
      retryAt: this.#ejectedUntil,
      connects: this.#connects,
      connections: this.#conns.length,
      inFlight,
    };
  }

  /** Requests waiting on any connection. */
  get inFlight(): number {
    let n = 0;
    for (const c of this.#conns) n += c.pending;
    return n;
  }

  /**
   * Sends one request on the least busy connection (opening another while all are busy and the
   * pool has room); `maxItems` as {@link NodeConnection.request}.
   */
  request(line: string, data: Buffer | undefined, expect: Expect, cb: ReplyCallback, maxItems?: number): void {
    this.#requests++;
    const counted: ReplyCallback = (err, l, items) => {
      if (err instanceof ClusterError) this.#failedRequests++;
      cb(err, l, items);
    };
    this.#pick().request(line, data, expect, counted, maxItems);
  }

  #pick(): NodeConnection {
    const conns = this.#conns;
    let best: NodeConnection | undefined;
    for (let i = 0; i < conns.length; i++) {
      const c = conns[(this.#rr + i) % conns.length];
      if (c === undefined) break;
      if (best === undefined || c.pending < best.pending) best = c;
      if (c.pending === 0) break;
    }
    this.#rr++;
    if (best === undefined || (best.pending > 0 && conns.length < this.#settings.connections)) {
      const s = this.#settings;
      best = new NodeConnection(this.host, this.port, s.timeoutMs, this, s.security, s.maxValueSize);
      this.#connects++;
      conns.push(best);
    }
    return best;
  }

  /** ConnOwner: a reply arrived, so the node is alive. */
  onReply(): void {
    this.#consecutive = 0;
  }

  /** ConnOwner: a connection died; counts a failure if requests were waiting on it. */
  onDead(conn: NodeConnection, _err: ClusterError, hadWork: boolean): void {
    const i = this.#conns.indexOf(conn);
    if (i >= 0) this.#conns.splice(i, 1);
    if (!hadWork || this.#closed || this.ejected) return;
    this.#failures++;
    this.#consecutive++;
    if (this.#settings.autoEject && this.#consecutive >= this.#settings.failureLimit) this.#eject();
  }

  #eject(): void {
    this.#ejections++;
    this.#consecutive = 0;
    this.#ejectedUntil = Date.now() + this.#settings.retryTimeoutMs;
    for (const c of [...this.#conns]) c.close();
    this.#retryTimer = setTimeout(() => this.#readmit(), this.#settings.retryTimeoutMs);
    this.#retryTimer.unref();
    this.#onHealthChange();
  }

  #readmit(): void {
    this.#retryTimer = undefined;
    this.#ejectedUntil = 0;
    if (!this.#closed) this.#onHealthChange();
  }

  /** Closes every connection (requests still waiting fail with ERR_NODE_UNREACHABLE) and stops the retry timer. */
  close(): void {
    this.#closed = true;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    for (const c of [...this.#conns]) c.close();
    this.#conns.length = 0;
  }
}

export { Expect, type RemoteItem };
