/**
 * A bare socket for the wire-security tests (auth, TLS): write bytes, then wait for a number of
 * reply lines, a byte count, or the server's close; no `mn` sync (an unauthenticated `mn` closes).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

/** One client connection: raw bytes in, raw bytes out. */
export class WireClient {
  buf: Buffer = Buffer.alloc(0);
  closed = false;
  private waiter: (() => void) | undefined;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
  }

  /** A plaintext connection to 127.0.0.1:port. */
  static plain(port: number): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const s = netConnect({ port, host: '127.0.0.1' });
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new WireClient(s));
      });
    });
  }

  /** A TLS connection; rejects with the handshake's error. */
  static tls(port: number, opts: ConnectionOptions): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const s = tlsConnect({ port, host: '127.0.0.1', ...opts });
      s.once('error', reject);
      s.once('secureConnect', () => {
        s.off('error', reject);
        resolve(new WireClient(s));
      });
    });
  }

  /** Resolves once pred(buffer) holds or the connection closes. */
  until(pred: (b: Buffer) => boolean): Promise<Buffer> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (pred(this.buf) || this.closed) {
          this.waiter = undefined;
          resolve(this.buf);
        }
      };
      this.waiter = check;
      check();
    });
  }

  /** Sends bytes, then waits for `lines` more CRLF-terminated lines (or the close); returns and clears what came. */
  async ask(bytes: string | Buffer, lines = 1): Promise<string> {
    const start = this.buf.length;
    this.socket.write(bytes);
    const count = (b: Buffer): number => {
      let n = 0;
      for (let i = start; i < b.length; i++) if (b[i] === 0x0a) n++;
      return n;
    };
    await this.until((b) => count(b) >= lines);
    const out = this.buf.toString('latin1');
    this.buf = Buffer.alloc(0);
    return out;
  }

  /** Sends bytes and waits for the server to close the connection; returns everything it sent. */
  async askClose(bytes: string | Buffer): Promise<string> {
    this.socket.write(bytes);
    await this.until(() => false);
    return this.buf.toString('latin1');
  }

  /** Closes our side. */
  end(): void {
    this.socket.destroy();
  }
}

/** A binary-protocol request packet. */
export function binPacket(op: number, key = '', value: Buffer | string = '', extras: Buffer = Buffer.alloc(0), opaque = 0): Buffer {
  const k = Buffer.from(key, 'latin1');
  const v = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  const h = Buffer.alloc(24);
  h[0] = 0x80;
  h[1] = op;
  h.writeUInt16BE(k.length, 2);
  h[4] = extras.length;
  h.writeUInt32BE(extras.length + k.length + v.length, 8);
  h.writeUInt32BE(opaque, 12);
  return Buffer.concat([h, extras, k, v]);
}

/** One binary response: its opcode, status and body after extras and key. */
export interface BinReply {
  op: number;
  status: number;
  body: string;
}

/** Parses every complete binary response in b. */
export function binReplies(b: Buffer): BinReply[] {
  const out: BinReply[] = [];
  let p = 0;
  while (b.length - p >= 24) {
    const bodylen = b.readUInt32BE(p + 8);
    if (b.length - p < 24 + bodylen) break;
    const keylen = b.readUInt16BE(p + 2);
    const extlen = b[p + 4]!;
    out.push({
      op: b[p + 1]!,
      status: b.readUInt16BE(p + 6),
      body: b.toString('latin1', p + 24 + extlen + keylen, p + 24 + bodylen),
    });
    p += 24 + bodylen;
  }
  return out;
}
