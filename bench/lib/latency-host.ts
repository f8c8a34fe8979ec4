/**
 * Where the latency table's synchronous stores are timed: a worker thread (the "shmcached from a
 * worker thread" column) or a fresh child process whose main thread runs one store (every
 * main-thread column). A fresh process per store and phase means no store pays for another's
 * heap, native memory or open handles. The host creates the store, populates it, times the cells
 * it is sent with the same loops everywhere (cells.ts), closes it, and answers.
 *
 * Loaded as a worker (workerData.tag) it serves many phases over parentPort; forked (argv tag) it
 * serves one over the IPC channel and exits.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadShmcached, type ShmLoad } from './shm.js';
import { LruPeer, MapPeer, ShmGetIntoPeer, ShmPeer, type Peer } from './peers.js';
import { LmdbPeer } from './peers-lmdb.js';
import { runCell, type CellPlan, type CellResult } from './cells.js';
import { errorLine } from './report.js';

/** The tag that tells this module it runs as a host (worker data or argv). */
export const HOST_TAG = 'shmcached-latency-host';

/** The stores a host can time. */
export type HostPeer = 'shmcached' | 'shmcached getInto' | 'lmdb-js' | 'lru-cache' | 'Map';

/** One phase: one fresh store of `peer`, populated, then its cells. */
export interface HostPhase {
  peer: HostPeer;
  tag: string;
  n: number;
  /** 0: counters ("0") instead of values. */
  size: number;
  value: Uint8Array;
  order: Uint32Array;
  perm: Uint32Array;
  plans: CellPlan[];
}

/** The answer: one result per plan, or the error that stopped the phase. */
export type HostReply = { ok: true; results: CellResult[] } | { ok: false; error: string };

let shm: ShmLoad | undefined;

async function makePeer(name: HostPeer): Promise<Peer> {
  switch (name) {
    case 'shmcached':
    case 'shmcached getInto': {
      shm ??= await loadShmcached();
      if (!shm.ok) throw new Error(shm.reason);
      return name === 'shmcached' ? new ShmPeer(shm.Cache) : new ShmGetIntoPeer(shm.Cache);
    }
    case 'lmdb-js':
      return new LmdbPeer();
    case 'lru-cache':
      return new LruPeer();
    case 'Map':
      return new MapPeer();
  }
}

/** Runs one phase here and now. */
export async function runPhase(ph: HostPhase): Promise<HostReply> {
  let peer: Peer | undefined;
  try {
    peer = await makePeer(ph.peer);
    const keys = Array.from({ length: ph.n }, (_, i) => `key:${i}`);
    const value = Buffer.from(ph.value.buffer, ph.value.byteOffset, ph.value.byteLength);
    peer.open(ph.tag, ph.n, Math.max(ph.size, 8));
    if (ph.size > 0) peer.populate(keys, value);
    else peer.populateCounters(keys);
    const d = { keys, order: ph.order, perm: ph.perm, value };
    const results: CellResult[] = [];
    for (const plan of ph.plans) results.push(await runCell(peer, plan, d));
    return { ok: true, results };
  } catch (e) {
    return { ok: false, error: errorLine(e) };
  } finally {
    try {
      peer?.close();
    } catch {
      /* ignore */
    }
  }
}

if (parentPort && (workerData as { tag?: string } | undefined)?.tag === HOST_TAG) {
  const port = parentPort;
  port.on('message', (ph: HostPhase | 'exit') => {
    if (ph === 'exit') port.close();
    else void runPhase(ph).then((r) => port.postMessage(r));
  });
} else if (process.argv[2] === HOST_TAG && typeof process.send === 'function') {
  process.once('message', (ph: HostPhase) => {
    void runPhase(ph).then((r) => process.send!(r, () => process.disconnect()));
  });
}
