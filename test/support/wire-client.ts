/**
 * A bare socket for the wire-security tests (auth, TLS): write bytes, then wait for a number of
 * reply lines, a byte count, or the server's close; no `mn` sync (an unauthenticated `mn` closes).
 */
import type { Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { packet, parseResponses } from './bin-stream.js';
import { connectLoopback, SocketClient } from './net.js';

/** One client connection: raw bytes in, raw bytes out. */
export class WireClient extends SocketClient {
  buf: Buffer = Buffer.alloc(0);

  private constructor(socket: Socket) {
    super(socket);
  }

  protected received(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
  }

  /** A plaintext connection to 127.0.0.1:port. */
  static async plain(port: number): Promise<WireClient> {
    return new WireClient(await connectLoopback(port));
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

/** A binary-protocol request packet (key and string value as latin1 bytes). */
export function binPacket(op: number, key = '', value: Buffer | string = '', extras: Buffer = Buffer.alloc(0), opaque = 0): Buffer {
  return packet(op, {
    key: Buffer.from(key, 'latin1'),
    value: typeof value === 'string' ? Buffer.from(value, 'latin1') : value,
    extras,
    opaque,
  });
}

/** One binary response: its opcode, status and body after extras and key. */
export interface BinReply {
  op: number;
  status: number;
  body: string;
}

/** Parses every complete binary response in b. */
export function binReplies(b: Buffer): BinReply[] {
  return parseResponses(b).packets.map((r) => ({ op: r.op, status: r.status, body: r.value.toString('latin1') }));
}
