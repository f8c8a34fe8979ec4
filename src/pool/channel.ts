/**
 * The SharedArrayBuffer + Atomics channel between {@link CachePool} and one of its worker threads
 * (transport `'atomics'`): a request costs a memcpy into shared memory, one `Atomics.notify`, and
 * one `Atomics.waitAsync` wake-up, instead of a piscina task's message round trip.
 *
 * Protocol, over an Int32Array control block (see {@link Ctl}):
 * - the caller copies the request (the wire format of src/pool/pool.ts) into the shared request
 *   buffer, stores a new sequence number in `Req` and notifies; it then waits (asynchronously)
 *   until `Resp` equals that number;
 * - the worker (workers/channel-worker.ts) wakes, runs the request, writes the answers into the
 *   shared response buffer, stores the number in `Resp` and notifies;
 * - one request at a time per channel: the caller never writes the request buffer, nor reads the
 *   response buffer, while a request is outstanding;
 * - a request larger than the request buffer makes the caller post a larger SharedArrayBuffer over
 *   the MessagePort and set {@link Flag.NewRequestBuffer} before publishing; a response that
 *   outgrew the response buffer makes the worker post its larger buffer and set `NewResponse`;
 *   each side reads the port with `receiveMessageOnPort`, synchronously, on seeing the flag;
 * - a buffer grown past {@link CHANNEL_KEEP} is replaced by a fresh {@link CHANNEL_INITIAL}-byte one
 *   (the same announcement) once a request, or the worker's last response, fits in a quarter of
 *   {@link CHANNEL_KEEP}: one large batch does not pin its buffers' memory until close();
 * - {@link Flag.Stop} asks the worker to close its Cache and exit.
 */
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

// The control block's words and flag bits live in contract/contract.json (WireCtl, WireFlag).
import { WireCtl as Ctl, WireFlag as Flag } from '../contract.js';
import { CacheError } from '../errors.js';

export { Ctl, Flag };

/** `Atomics.waitAsync` (in Node since 16; typed here because our `lib` is ES2022). */
type WaitAsync = (a: Int32Array, index: number, value: number) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync: WaitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

const WORKER = fileURLToPath(new URL('../../workers/channel-worker.js', import.meta.url));

/**
 * The `execArgv` a pool's worker threads start with: `undefined` (Node's default: this process's
 * flags) unless they hold `--input-type`, which `node --input-type=module -e ...` sets and with
 * which every worker dies at start; then none (`[]`). An explicit list cannot simply be the
 * process's less that flag: Node refuses per-process flags (`--expose-gc`, V8 options) in a
 * worker's `execArgv`, while they still apply to a worker that inherits them.
 */
export function workerExecArgv(): string[] | undefined {
  return process.execArgv.some((a) => a.startsWith('--input-type')) ? [] : undefined;
}
/** The size each shared buffer starts at. */
export const CHANNEL_INITIAL = 64 * 1024;
/** A shared buffer larger than this goes back to CHANNEL_INITIAL once a request or response fits in a quarter of it. */
export const CHANNEL_KEEP = 1024 * 1024;
const INITIAL = CHANNEL_INITIAL;

/**
 * One worker thread and its shared buffers. {@link call} runs one request at a time; a caller
 * with more work waits for {@link busy} to clear (CachePool keeps such work queued).
 */
export class Channel {
  readonly #worker: Worker;
  readonly #ctrl = new Int32Array(new SharedArrayBuffer(64));
  readonly #port: MessagePort;
  #req: Uint8Array;
  #res: Uint8Array;
  #resView: Buffer;
  #seq = 0;
  #busy = false;
  #dead: Error | undefined;
  readonly #exited: Promise<void>;

  /**
   * Starts a worker that opens the region at `path` with `Cache.open({ path })`. After each
   * answer the worker polls for the next request for `spinMicros` µs before it sleeps, if it can
   * take one of the pool's `spinners` slots (word 0 of that Int32Array: slots in use; word 1: the
   * most at once), so that polling workers never take every core from the caller.
   */
  constructor(path: string, spinMicros: number, spinners: Int32Array) {
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    const req = new SharedArrayBuffer(INITIAL);
    const res = new SharedArrayBuffer(INITIAL);
    this.#req = new Uint8Array(req);
    this.#res = new Uint8Array(res);
    this.#resView = Buffer.from(res);
    this.#worker = new Worker(WORKER, {
      workerData: { path, spinMicros, spinners: spinners.buffer, ctrl: this.#ctrl.buffer, req, res, port: port2 },
      transferList: [port2],
      execArgv: workerExecArgv(),
    });
    this.#worker.unref();
    this.#exited = new Promise((resolve) => {
      this.#worker.once('error', (e) => {
        const why = e instanceof Error ? e.message : String(e);
        this.#fail(new CacheError('ERR_CACHE_CLOSED', `shmcached pool: a worker thread failed: ${why}`, { cause: e }));
      });
      this.#worker.once('exit', (code) => {
        this.#fail(new CacheError('ERR_CACHE_CLOSED', `shmcached pool: a worker thread exited (code ${code})`));
        this.#port.close();
        resolve();
      });
    });
  }

  /** Bytes of the shared request and response buffers this channel holds now. */
  get bufferBytes(): number {
    return this.#req.byteLength + this.#res.byteLength;
  }

  /** Whether a request is outstanding. */
  get busy(): boolean {
    return this.#busy;
  }

  /** Whether the worker has stopped (it failed, or {@link stop} ran). */
  get dead(): boolean {
    return this.#dead !== undefined;
  }

  /**
   * Runs the request in `bytes` (a whole request of the pool's wire format), then hands the
   * response — a Buffer view of the shared response area, valid only during the callback — to
   * `consume`, and resolves with what it returns. The channel stays busy until `consume` returns,
   * so no other request can overwrite the area meanwhile. Rejects if the worker dies first.
   */
  async call<T>(bytes: Uint8Array, consume: (response: Buffer) => T): Promise<T> {
    if (this.#dead) throw this.#dead;
    if (this.#busy) throw new Error('shmcached pool: channel already busy');
    this.#busy = true;
    this.#worker.ref();
    try {
      let n = this.#req.length;
      if (bytes.length > n) {
        n *= 2;
        while (n < bytes.length) n *= 2;
      } else if (n > CHANNEL_KEEP && bytes.length <= CHANNEL_KEEP / 4) {
        // A large request grew it; this one is small: back to the start size (see the protocol).
        n = INITIAL;
        while (n < bytes.length) n *= 2;
      }
      if (n !== this.#req.length) {
        const sab = new SharedArrayBuffer(n);
        this.#req = new Uint8Array(sab);
        this.#port.postMessage({ req: sab });
        Atomics.or(this.#ctrl, Ctl.Flags, Flag.NewRequestBuffer);
      }
      this.#req.set(bytes);
      const prev = this.#seq;
      const seq = (this.#seq = (prev + 1) | 0);
      Atomics.store(this.#ctrl, Ctl.Req, seq);
      Atomics.notify(this.#ctrl, Ctl.Req);
      while (Atomics.load(this.#ctrl, Ctl.Resp) !== seq) {
        if (this.#dead) throw this.#dead;
        const w = waitAsync(this.#ctrl, Ctl.Resp, prev);
        if (w.async) await w.value;
      }
      if (Atomics.load(this.#ctrl, Ctl.NewResponse) !== 0) {
        for (let m = receiveMessageOnPort(this.#port); m !== undefined; m = receiveMessageOnPort(this.#port)) {
          const msg = m.message as { res?: SharedArrayBuffer };
          if (msg.res) {
            this.#res = new Uint8Array(msg.res);
            this.#resView = Buffer.from(msg.res);
          }
        }
        Atomics.store(this.#ctrl, Ctl.NewResponse, 0);
      }
      const used = new DataView(this.#res.buffer).getUint32(4, true);
      return consume(this.#resView.subarray(0, Math.min(used, this.#resView.length)));
    } finally {
      this.#busy = false;
      this.#worker.unref();
    }
  }

  /** Asks the worker to close its Cache and exit (after the outstanding request); resolves when it has. */
  async stop(): Promise<void> {
    if (!this.#dead) {
      Atomics.or(this.#ctrl, Ctl.Flags, Flag.Stop);
      Atomics.add(this.#ctrl, Ctl.Req, 1);
      Atomics.notify(this.#ctrl, Ctl.Req);
    }
    // Held even when the worker already failed: its 'exit' event may still be on the way, and an
    // unref'd worker would let the event loop empty before it (a top-level `await close()` then
    // never returns).
    this.#worker.ref();
    await this.#exited;
  }

  /**
   * Marks the channel dead and wakes a caller waiting on it, which then rejects with `e`: a
   * CacheError `ERR_CACHE_CLOSED`, so that every operation lost with the worker has a code.
   */
  #fail(e: CacheError): void {
    if (this.#dead) return;
    this.#dead = e;
    Atomics.notify(this.#ctrl, Ctl.Resp);
  }
}
