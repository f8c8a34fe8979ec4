/**
 * `shmcached serve`'s wire-security flags, memcached's spelling: `-Y/--auth-file FILE`
 * (text-protocol authentication), `-S/--enable-sasl` (binary SASL PLAIN with the same
 * credentials), `-Z/--enable-ssl` with `-o ssl_chain_cert=...,ssl_key=...,ssl_ca_cert=...,ssl_verify_mode=N`,
 * and memcached's `-l` list syntax (`-l notls:127.0.0.1:11211,127.0.0.1:11212`: several
 * listeners, a `notls:` one plaintext beside TLS ones). Owns parsing them, reading the files they
 * name (through src/auth.ts's rules for the auth file) and running one server per listener.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync } from 'node:fs';
import type { Server } from 'node:net';
import { type TLSSocket, type TlsOptions, createSecureContext } from 'node:tls';

import { type AuthOptions, readAuthFile } from '../auth.js';
import { CacheError } from '../errors.js';

/** The wire flags of `serve`. */
export interface WireOptions {
  /** -Y FILE: memcached's auth file. */
  authFile?: string;
  /** -S: binary SASL PLAIN (credentials from -Y, or $MEMCACHED_SASL_PWDB as memcached reads them). */
  sasl: boolean;
  /** -Z: TLS on every listener not marked `notls:`. */
  ssl: boolean;
  sslChainCert?: string;
  sslKey?: string;
  sslCaCert?: string;
  /** memcached's ssl_verify_mode: 0 none, 1 request (a client certificate given must verify), 2 require, 3 once (as 2). */
  sslVerifyMode: number;
}

/** One listening address. */
export interface Listener {
  host: string;
  port: number;
  tls: boolean;
}

/** A new, empty set of wire options. */
export function newWireOptions(): WireOptions {
  return { sasl: false, ssl: false, sslVerifyMode: 0 };
}

/** The long names of the wire flags, to their short ones. */
export const WIRE_LONG: Readonly<Record<string, string>> = {
  '--auth-file': '-Y',
  '--enable-sasl': '-S',
  '--enable-ssl': '-Z',
  '--extended': '-o',
};

/** The wire flags that take a value. */
export const WIRE_WITH_VALUE: readonly string[] = ['-Y', '-o'];

/** A wire flag given a value it cannot take (the CLI makes it a usage error, exit 2). */
export class WireUsageError extends Error {}

/** Takes one wire flag into w; false when flag is not a wire flag. */
export function takeWireFlag(flag: string, v: string | undefined, w: WireOptions): boolean {
  switch (flag) {
    case '-Y':
      if (!v) throw new WireUsageError('-Y needs the auth file (user:password lines)');
      w.authFile = v;
      return true;
    case '-S':
      w.sasl = true;
      return true;
    case '-Z':
      w.ssl = true;
      return true;
    case '-o':
      if (!v) throw new WireUsageError('-o needs key=value settings, e.g. -o ssl_chain_cert=cert.pem,ssl_key=key.pem');
      for (const kv of v.split(',')) {
        const eq = kv.indexOf('=');
        const key = eq < 0 ? kv : kv.slice(0, eq);
        const val = eq < 0 ? '' : kv.slice(eq + 1);
        if (key === 'ssl_verify_mode') {
          if (!/^[0-3]$/.test(val)) throw new WireUsageError(`-o ssl_verify_mode must be 0, 1, 2 or 3, got ${JSON.stringify(val)}`);
          w.sslVerifyMode = Number(val);
        } else if (key === 'ssl_chain_cert' || key === 'ssl_key' || key === 'ssl_ca_cert') {
          if (!val) throw new WireUsageError(`-o ${key} needs a file`);
          if (key === 'ssl_chain_cert') w.sslChainCert = val;
          else if (key === 'ssl_key') w.sslKey = val;
          else w.sslCaCert = val;
        } else {
          throw new WireUsageError(
            `-o ${JSON.stringify(key)} is not supported (shmcached takes ssl_chain_cert, ssl_key, ssl_ca_cert, ssl_verify_mode)`,
          );
        }
      }
      return true;
    default:
      return false;
  }
}

/** Checks the combination once every flag is in. */
export function checkWire(w: WireOptions): void {
  if (w.ssl && (w.sslChainCert === undefined || w.sslKey === undefined))
    throw new WireUsageError('-Z needs -o ssl_chain_cert=FILE,ssl_key=FILE');
  if (!w.ssl && (w.sslChainCert !== undefined || w.sslKey !== undefined || w.sslCaCert !== undefined))
    throw new WireUsageError('-o ssl_* settings need -Z (--enable-ssl)');
  if (w.sasl && w.authFile === undefined && !process.env.MEMCACHED_SASL_PWDB)
    throw new WireUsageError('-S needs credentials: -Y FILE (or $MEMCACHED_SASL_PWDB) with user:password lines');
}

/**
 * memcached's `-l` list: comma-separated `[notls:]ADDR[:PORT]` (IPv6 as `[ADDR]:PORT`, or bare
 * without a port); a listener without a port takes `port`.
 */
export function listenersOf(listen: string, port: number, w: WireOptions): Listener[] {
  const out: Listener[] = [];
  for (let item of listen.split(',')) {
    let tls = w.ssl;
    if (item.startsWith('notls:')) {
      tls = false;
      item = item.slice(6);
    }
    let host = item;
    let p = port;
    const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(item);
    if (v6) {
      host = v6[1] ?? '';
      if (v6[2] !== undefined) p = Number(v6[2]);
    } else if (item.split(':').length === 2) {
      const [h, ps] = item.split(':');
      if (!/^\d+$/.test(ps ?? '')) throw new WireUsageError(`-l ${JSON.stringify(item)}: the port must be a number`);
      host = h ?? '';
      p = Number(ps);
    }
    if (!host || p > 65535) throw new WireUsageError(`-l ${JSON.stringify(item)}: give ADDR, ADDR:PORT or [IPv6]:PORT`);
    out.push({ host, port: p, tls });
  }
  return out;
}

/** The most a certificate, key or CA file may hold (a system CA bundle is ~250 KiB). */
const PEM_MAX = 16 * 1024 * 1024;

/**
 * Reads a PEM file named by -o ssl_*: opened without blocking (a FIFO at the path must not hang
 * the start, where SIGTERM cannot yet stop it), a regular file only (`/dev/zero` would be read
 * without end), and at most {@link PEM_MAX} bytes. Symbolic links are followed: certificate
 * directories (certbot's live/) are made of them, and a certificate is not written to.
 */
function readPem(what: string, path: string): Buffer {
  const fail = (why: string, cause?: unknown): CacheError =>
    new CacheError('ERR_TLS_CONFIG', `${what} ${path}: ${why}`, cause === undefined ? undefined : { cause });
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
  } catch (e) {
    throw fail((e as NodeJS.ErrnoException).code ?? String(e), e);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw fail(`not a regular file (${st.isDirectory() ? 'a directory' : 'a FIFO, socket or device'})`);
    if (st.size > PEM_MAX) throw fail(`${st.size} bytes is too large for a PEM file (at most ${PEM_MAX})`);
    const buf = Buffer.allocUnsafe(PEM_MAX + 1);
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, n);
      if (got === 0) break;
      n += got;
      if (n > PEM_MAX) throw fail(`grew past ${PEM_MAX} bytes while read`);
    }
    if (n === 0) throw fail('empty file');
    return Buffer.from(buf.subarray(0, n));
  } catch (e) {
    if (e instanceof CacheError) throw e;
    throw fail((e as NodeJS.ErrnoException).code ?? String(e), e);
  } finally {
    closeSync(fd);
  }
}

/** Checks that the PEM contents are what they are named for: one line naming the file otherwise. */
function checkTls(w: WireOptions, tls: TlsOptions): void {
  const reason = (e: unknown): string => (e instanceof Error ? e.message.replace(/^error:[0-9A-F]+:/, '') : String(e));
  try {
    new X509Certificate(tls.cert as Buffer);
  } catch (e) {
    throw new CacheError('ERR_TLS_CONFIG', `ssl_chain_cert ${w.sslChainCert}: not a PEM certificate (${reason(e)})`, { cause: e });
  }
  try {
    createPrivateKey(tls.key as Buffer);
  } catch (e) {
    throw new CacheError('ERR_TLS_CONFIG', `ssl_key ${w.sslKey}: not a usable PEM private key (${reason(e)})`, { cause: e });
  }
  if (tls.ca !== undefined) {
    try {
      new X509Certificate(tls.ca as Buffer);
      createSecureContext({ ca: tls.ca });
    } catch (e) {
      throw new CacheError('ERR_TLS_CONFIG', `ssl_ca_cert ${w.sslCaCert}: not a PEM certificate (${reason(e)})`, { cause: e });
    }
  }
  try {
    createSecureContext({ cert: tls.cert, key: tls.key });
  } catch (e) {
    throw new CacheError('ERR_TLS_CONFIG', `ssl_key ${w.sslKey} does not go with ssl_chain_cert ${w.sslChainCert} (${reason(e)})`, {
      cause: e,
    });
  }
}

/** createServer's `auth` and `tls` for these flags: reads the auth file and the certificates now. */
export function serverSecurity(w: WireOptions): { auth?: AuthOptions; tls?: TlsOptions; requestOnly: boolean } {
  const out: { auth?: AuthOptions; tls?: TlsOptions; requestOnly: boolean } = { requestOnly: false };
  const file = w.authFile ?? (w.sasl ? process.env.MEMCACHED_SASL_PWDB : undefined);
  if (file !== undefined) {
    readAuthFile(file); // refusals name the file now, before anything listens
    out.auth = { file, sasl: w.sasl };
  }
  if (w.ssl) {
    const tls: TlsOptions = {
      cert: readPem('ssl_chain_cert', w.sslChainCert ?? ''),
      key: readPem('ssl_key', w.sslKey ?? ''),
    };
    if (w.sslCaCert !== undefined) tls.ca = readPem('ssl_ca_cert', w.sslCaCert);
    checkTls(w, tls);
    if (w.sslVerifyMode > 0) {
      tls.requestCert = true;
      tls.rejectUnauthorized = w.sslVerifyMode >= 2;
      out.requestOnly = w.sslVerifyMode === 1;
    }
    out.tls = tls;
  }
  return out;
}

/**
 * ssl_verify_mode=1 (OpenSSL's SSL_VERIFY_PEER without FAIL_IF_NO_PEER_CERT): a client may send
 * no certificate, but one it sends must verify. Attach to a TLS server made with
 * requestCert and rejectUnauthorized false; runs before the connection reads anything.
 */
export function rejectUnverifiedPeers(server: Server): void {
  server.on('secureConnection', (s: TLSSocket) => {
    if (s.authorized) return;
    const cert = s.getPeerCertificate();
    if (cert && Object.keys(cert).length > 0) s.destroy();
  });
}
