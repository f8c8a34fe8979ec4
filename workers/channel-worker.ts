/**
 * A worker of {@link CachePool}'s SharedArrayBuffer channel (transport `'atomics'`, see
 * src/pool/channel.ts for the protocol): blocks in `Atomics.wait` on the request sequence word, runs
 * the request found in the shared request buffer with this thread's {@link Cache}, writes the
 * answers into the shared response buffer, publishes the sequence number and wakes the caller.
 *
 * Invariants: the worker touches the request buffer only between seeing a new request sequence
 * and publishing the response sequence (the caller does not write it in between), and the
 * response buffer only in the same window. A buffer that must grow is replaced, never resized:
 * the new SharedArrayBuffer travels over the MessagePort and is announced by a flag word, read
 * with `receiveMessageOnPort` (synchronously) on the other side. A response buffer grown past
 * CHANNEL_KEEP is replaced the same way by a CHANNEL_INITIAL one once the last response was small.
 */
import { performance } from 'node:perf_hooks';
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';

import { Cache } from '../src/cache.js';
import { CHANNEL_INITIAL, CHANNEL_KEEP, Ctl, Flag } from '../src/pool/channel.js';
import { Out } from './ops.js';
import { runOps } from './ops.js';

interface ChannelData {
  path: string;
  spinMicros: number;
  spinners: SharedArrayBuffer;
  ctrl: SharedArrayBuffer;
  req: SharedArrayBuffer;
  res: SharedArrayBuffer;
  port: MessagePort;
}

const data = workerData as ChannelData;
const ctrl = new Int32Array(data.ctrl);
let req = new Uint8Array(data.req);
const out = new Out(new Uint8Array(data.res), (n) => new SharedArrayBuffer(n));
const cache = Cache.open({ path: data.path });

const spinMs = data.spinMicros / 1000;
const spinners = new Int32Array(data.spinners);
let seen = 0;
for (;;) {
  // Poll a while for the next request (a caller issuing requests back to back then finds us
  // awake), if a polling slot is free, then sleep on the sequence word.
  if (spinMs > 0 && Atomics.load(ctrl, Ctl.Req) === seen) {
    if (Atomics.add(spinners, 0, 1) < Atomics.load(spinners, 1)) {
      const until = performance.now() + spinMs;
      for (let i = 1; Atomics.load(ctrl, Ctl.Req) === seen; i++) {
        if ((i & 63) === 0 && performance.now() > until) break;
      }
    }
    Atomics.sub(spinners, 0, 1);
  }
  Atomics.wait(ctrl, Ctl.Req, seen);
  const seq = Atomics.load(ctrl, Ctl.Req);
  if (seq === seen) continue;
  seen = seq;
  const flags = Atomics.exchange(ctrl, Ctl.Flags, 0);
  if (flags & Flag.NewRequestBuffer) {
    for (let m = receiveMessageOnPort(data.port); m !== undefined; m = receiveMessageOnPort(data.port)) {
      const msg = m.message as { req?: SharedArrayBuffer };
      if (msg.req) req = new Uint8Array(msg.req);
    }
  }
  if (flags & Flag.Stop) break;
  out.resetShrinking(CHANNEL_KEEP, CHANNEL_INITIAL);
  runOps(req, cache, out);
  if (out.grew) {
    data.port.postMessage({ res: out.buf.buffer });
    Atomics.store(ctrl, Ctl.NewResponse, 1);
  }
  Atomics.store(ctrl, Ctl.Resp, seen);
  Atomics.notify(ctrl, Ctl.Resp);
}
cache.close();
data.port.close();
