/**
 * A raw-bytes memcached client for protocol tests: writes exactly the bytes given and returns
 * exactly the bytes answered. `exchange(bytes)` appends `mn\r\n` (whose `MN\r\n` answer comes
 * after every earlier reply) and resolves with everything before it, or with everything up to
 * the close when the server hangs up (`closed` is then true).
 */
import type { Socket } from 'node:net';
import { connectLoopback, SocketClient } from './net.js';

const MN = Buffer.from('MN\r\n');

/** One exchange's answer. */
export interface RawReply {
  bytes: Buffer;
  /** The server closed the connection before the sync answer. */
  closed: boolean;
}

/** A connection that sends raw protocol bytes. */
export class RawClient extends SocketClient {
  private chunks: Buffer[] = [];
  private total = 0;

  private constructor(socket: Socket) {
    super(socket);
    socket.setNoDelay(true);
  }

  protected received(d: Buffer): void {
    this.chunks.push(d);
    this.total += d.length;
  }

  /** Connects to 127.0.0.1:port. */
  static async connect(port: number): Promise<RawClient> {
    return new RawClient(await connectLoopback(port));
  }

  /** Everything received since the last exchange/send (one Buffer). */
  private get buf(): Buffer {
    const one = this.chunks.length === 1 ? this.chunks[0] : undefined;
    if (one !== undefined) return one;
    const joined = Buffer.concat(this.chunks, this.total);
    this.chunks = [joined];
    return joined;
  }
  private set buf(b: Buffer) {
    this.chunks = b.length ? [b] : [];
    this.total = b.length;
  }

  /** Waits until at least n bytes arrived (or the connection closed); returns them all. */
  async untilLength(n: number, timeoutMs = 60_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.total < n && !this.closed) {
      if (Date.now() > deadline) throw new Error(`only ${this.total} of ${n} bytes in ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        this.waiter = r;
        setTimeout(r, 200);
      });
      this.waiter = undefined;
    }
    return this.buf;
  }

  /**
   * Resumes reading and waits for n replies to `get KEY` of value (`VALUE KEY 0 LEN` ... `END`),
   * then checks every step-th one byte for byte (the backpressure tests' reading side).
   */
  async expectValueReplies(key: string, value: Buffer, n: number, step: number): Promise<void> {
    const head = Buffer.from(`VALUE ${key} 0 ${value.length}\r\n`);
    const expect = Buffer.concat([head, value, Buffer.from('\r\nEND\r\n')]);
    this.socket.resume();
    const got = await this.untilLength(n * expect.length);
    if (got.length !== n * expect.length) throw new Error(`${got.length} bytes of replies, expected ${n * expect.length}`);
    for (let i = 0; i < n; i += step) {
      if (!got.subarray(i * expect.length, (i + 1) * expect.length).equals(expect)) throw new Error(`reply ${i} differs`);
    }
  }

  /** Waits until pred(buffer) holds or the connection closes (bounded by timeoutMs as a hang guard). */
  async until(pred: (b: Buffer) => boolean, timeoutMs = 20_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (!(this.total > 0 && pred(this.buf)) && !this.closed) {
      if (Date.now() > deadline)
        throw new Error(`no reply in ${timeoutMs} ms; have ${JSON.stringify(this.buf.toString('latin1').slice(-200))}`);
      await new Promise<void>((r) => {
        this.waiter = r;
        setTimeout(r, 200);
      });
      this.waiter = undefined;
    }
    return this.buf;
  }

  /** Sends bytes plus `mn\r\n` and returns the replies before `MN\r\n` (see the module comment). */
  async exchange(bytes: Buffer | string): Promise<RawReply> {
    this.buf = Buffer.alloc(0);
    this.socket.write(Buffer.concat([typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes, Buffer.from('mn\r\n')]));
    const b = await this.until((x) => x.length >= 4 && x.subarray(x.length - 4).equals(MN) && (x.length === 4 || x[x.length - 5] === 0x0a));
    this.buf = Buffer.alloc(0);
    if (b.length >= 4 && b.subarray(b.length - 4).equals(MN)) return { bytes: b.subarray(0, b.length - 4), closed: false };
    return { bytes: b, closed: true };
  }

  /** Sends bytes and returns whatever arrives until pred holds (or the connection closes). */
  async send(bytes: Buffer | string, pred: (b: Buffer) => boolean): Promise<Buffer> {
    this.buf = Buffer.alloc(0);
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
    const b = await this.until(pred);
    this.buf = Buffer.alloc(0);
    return b;
  }

  close(): void {
    this.socket.destroy();
  }
}
