// TLS on the wire (createServer's `tls`, `shmcached serve -Z -o ssl_*`): throwaway certificates
// made with openssl in a temporary directory (a CA, a server certificate for 127.0.0.1, a client
// certificate, and a second CA nobody trusts), then real TLS clients: node:tls and Python's ssl
// module; a client that does not trust the server's CA, memcached's ssl_verify_mode 1 and 2 with
// no, a foreign and a good client certificate; plaintext and TLS listeners side by side
// (`-l notls:...,...`), and the Cluster client with `tls` and `auth` against our server, and with
// `auth` against a real memcached started with -Y (interop lane).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createConnection, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Cluster, type ClusterOptions } from '../src/index.js';
import { at, rejects, tmpRegion } from './helpers.js';
import { connectLoopback } from './support/net.js';
import { findPeer, interop, peerReady } from './support/peers.js';
import { WireClient } from './support/wire-client.js';
import { startMemcachedAuth, withServer } from './support/wire-server.js';

const CLI = fileURLToPath(new URL('../src/cli/cli.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'shmcached-tls-'));
process.on('exit', () => process.env.KEEP_TLS_DIR || rmSync(dir, { recursive: true, force: true }));
const f = (n: string): string => join(dir, n);

/** openssl, quietly; throws with its stderr. */
function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
function makeCa(name: string): void {
  openssl('req', '-x509', ...EC, '-keyout', f(`${name}.key`), '-out', f(`${name}.pem`), '-days', '2', '-subj', `/CN=${name}`);
}
function makeCert(name: string, ca: string, san: string): void {
  openssl('req', ...EC, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${name}`);
  writeFileSync(f(`${name}.ext`), `subjectAltName=${san}\n`);
  openssl(
    'x509',
    '-req',
    '-in',
    f(`${name}.csr`),
    '-CA',
    f(`${ca}.pem`),
    '-CAkey',
    f(`${ca}.key`),
    '-CAcreateserial',
    '-out',
    f(`${name}.pem`),
    '-days',
    '2',
    '-extfile',
    f(`${name}.ext`),
  );
}
makeCa('ca');
makeCa('otherca');
makeCert('server', 'ca', 'IP:127.0.0.1,DNS:localhost');
makeCert('client', 'ca', 'DNS:client');
makeCert('rogue', 'otherca', 'DNS:client');
const pem = (n: string): Buffer => readFileSync(f(n));
const serverTls = { cert: pem('server.pem'), key: pem('server.key') };
const trust = { ca: pem('ca.pem') };
writeFileSync(f('auth'), 'alice:wonder land\n');
chmodSync(f('auth'), 0o600);
// memcached 1.6.18 (Debian's) refuses a password with a space ("bad authentication token format").
writeFileSync(f('auth-mc'), 'carol:s3cret\n');
chmodSync(f('auth-mc'), 0o600);

/** A TLS exchange that must be refused: the handshake fails, or the server closes before answering. */
async function refused(port: number, opts: Parameters<typeof WireClient.tls>[1]): Promise<boolean> {
  let c: WireClient;
  try {
    c = await WireClient.tls(port, opts);
  } catch {
    return true;
  }
  const out = await c.ask('version\r\n');
  c.end();
  return out === '' && c.closed;
}

const tls = suite('tls');

tls('node:tls client: set, get, stats over TLS; a client that does not trust the CA is refused', () =>
  withServer({ tls: serverTls }, 'tls-basic', async (s) => {
    const c = await WireClient.tls(s.port, trust);
    assert.is(await c.ask('set k 0 0 5\r\nhello\r\n'), 'STORED\r\n');
    assert.is(await c.ask('get k\r\n', 3), 'VALUE k 0 5\r\nhello\r\nEND\r\n');
    assert.is(await c.ask('mn\r\n'), 'MN\r\n');
    c.end();
    assert.is(String(s.cache.get('k')), 'hello');
    let err: Error | undefined;
    try {
      await WireClient.tls(s.port, { ca: pem('otherca.pem') });
    } catch (e) {
      err = e as Error;
    }
    assert.ok(err, 'unknown CA: the handshake fails');
    assert.match(String((err as NodeJS.ErrnoException).code), /UNABLE_TO_VERIFY|SELF_SIGNED|CERT/);
  }),
);

/** Resolves once `s` has closed, or after guardMs (a hang guard, not a measure); whether it closed. */
function closes(s: Socket, guardMs = 20_000): Promise<boolean> {
  if (s.destroyed) return Promise.resolve(true);
  return new Promise((r) => {
    const t = setTimeout(() => r(false), guardMs);
    s.once('close', () => {
      clearTimeout(t);
      r(true);
    });
  });
}

tls('a TCP connection that never starts its handshake counts against maxConnections; close() ends it', () =>
  withServer({ tls: serverTls, maxConnections: 2 }, 'tls-limit', async (s) => {
    // memcached counts a connection from its accept: two silent peers fill a limit of 2.
    const a = await connectLoopback(s.port);
    const b = await connectLoopback(s.port);
    a.on('error', () => undefined);
    b.on('error', () => undefined);
    const c = await connectLoopback(s.port);
    c.on('error', () => undefined);
    assert.ok(await closes(c), 'a third silent connection is refused');
    assert.ok(await refused(s.port, trust), 'a TLS client over the limit is refused');
    // One slot frees when a silent peer leaves: a TLS client is served again.
    a.destroy();
    let served = '';
    for (let i = 0; i < 100 && served === ''; i++) {
      try {
        const t = await WireClient.tls(s.port, trust);
        served = await t.ask('version\r\n');
        t.end();
      } catch {
        // refused: a's close has not reached the server yet
      }
      if (served === '') await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(served, /^VERSION /);
    // close() ends a connection still in its handshake (it would hold close's callback otherwise).
    s.server.close();
    assert.ok(await closes(b), 'close() ends the silent connection');
  }),
);

tls('the idle timeout ends a TLS handshake that never finishes', () =>
  withServer({ tls: serverTls, idleTimeout: 1 }, 'tls-idle', async (s) => {
    const silent = await connectLoopback(s.port);
    silent.on('error', () => undefined);
    const partial = await connectLoopback(s.port);
    partial.on('error', () => undefined);
    partial.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])); // a ClientHello's first bytes, no more
    assert.ok(await closes(silent), 'a peer that sends nothing is closed');
    assert.ok(await closes(partial), 'a peer that stops mid-handshake is closed');
  }),
);

tls("Python's ssl module: verifies the server and talks memcached over TLS", () =>
  withServer({ tls: serverTls, auth: { file: f('auth') } }, 'tls-python', async (s) => {
    const py = `
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
with socket.create_connection(('127.0.0.1', int(sys.argv[1]))) as raw:
    with ctx.wrap_socket(raw, server_hostname='localhost') as s:
        s.sendall(b'get k\\r\\nset a 0 0 17\\r\\nalice wonder land\\r\\nset k 0 0 2\\r\\nhi\\r\\nget k\\r\\n')
        buf = b''
        while not buf.endswith(b'END\\r\\n'):
            d = s.recv(4096)
            if not d: break
            buf += d
        sys.stdout.write(buf.decode() + s.version())
`;
    const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const p = spawn('python3', ['-c', py, String(s.port), f('ca.pem')]);
      let out = '';
      let err = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (err += d));
      p.on('close', (code) => resolve({ code, out, err }));
    });
    assert.is(r.code, 0, r.err);
    assert.match(r.out, /^CLIENT_ERROR unauthenticated\r\nSTORED\r\nSTORED\r\nVALUE k 0 2\r\nhi\r\nEND\r\nTLSv1\.[23]$/);
  }),
);

/** Starts `shmcached serve` with args; resolves with the ports it prints (in -l order). */
async function serve(args: string[], listeners: number): Promise<{ child: ChildProcess; ports: number[]; err: () => string }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--file', tmpRegion('tls-cli'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const ports = await new Promise<number[]>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const line = /listening on (.*), serving/.exec(err);
      if (line) {
        const ps = [...(line[1] ?? '').matchAll(/:(\d+)/g)].map((m) => Number(m[1]));
        if (ps.length >= listeners) resolve(ps);
      }
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return { child, ports, err: () => err };
}
async function kill(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}

tls('serve -Z ssl_verify_mode=2 with -l notls:...,...: plaintext and TLS side by side; client certificates required', async () => {
  const o = `ssl_chain_cert=${f('server.pem')},ssl_key=${f('server.key')},ssl_ca_cert=${f('ca.pem')},ssl_verify_mode=2`;
  const { child, ports, err } = await serve(['-Z', '-o', o, '-l', 'notls:127.0.0.1:0,127.0.0.1:0', '-Y', f('auth')], 2);
  try {
    assert.match(err(), /\(TLS\)/);
    const [plainPort, tlsPort] = ports as [number, number];
    const p = await WireClient.plain(plainPort);
    assert.is(await p.ask('set a 0 0 17\r\nalice wonder land\r\n'), 'STORED\r\n');
    assert.is(await p.ask('set k 0 0 1\r\nv\r\n'), 'STORED\r\n');
    p.end();
    assert.ok(await refused(tlsPort, trust), 'no client certificate');
    assert.ok(await refused(tlsPort, { ...trust, cert: pem('rogue.pem'), key: pem('rogue.key') }), 'a certificate of an unknown CA');
    const c = await WireClient.tls(tlsPort, { ...trust, cert: pem('client.pem'), key: pem('client.key') });
    assert.is(await c.ask('get k\r\n'), 'CLIENT_ERROR unauthenticated\r\n', 'TLS does not replace -Y');
    assert.is(await c.ask('set a 0 0 17\r\nalice wonder land\r\n'), 'STORED\r\n');
    assert.is(await c.ask('get k\r\n', 3), 'VALUE k 0 1\r\nv\r\nEND\r\n');
    c.end();
  } finally {
    await kill(child);
  }
});

tls('serve -Z ssl_verify_mode=1: no client certificate is fine, a foreign one is refused', async () => {
  const o = `ssl_chain_cert=${f('server.pem')},ssl_key=${f('server.key')},ssl_ca_cert=${f('ca.pem')},ssl_verify_mode=1`;
  const { child, ports } = await serve(['-Z', '-o', o, '-l', '127.0.0.1'], 1);
  try {
    const port = at(ports, 0, 'ports');
    const c = await WireClient.tls(port, trust);
    assert.is(await c.ask('version\r\n').then((x) => x.startsWith('VERSION ')), true);
    c.end();
    assert.ok(await refused(port, { ...trust, cert: pem('rogue.pem'), key: pem('rogue.key') }));
    const g = await WireClient.tls(port, { ...trust, cert: pem('client.pem'), key: pem('client.key') });
    assert.match(await g.ask('version\r\n'), /^VERSION /);
    g.end();
  } finally {
    await kill(child);
  }
});

tls('serve -Z usage errors: missing key, unreadable certificate', () => {
  const region = tmpRegion('tls-usage');
  const r1 = spawnSync(process.execPath, [CLI, 'serve', '-p', '0', '--file', region, '-Z'], { encoding: 'utf8' });
  assert.is(r1.status, 2);
  assert.match(r1.stderr, /-Z needs -o ssl_chain_cert=FILE,ssl_key=FILE/);
  const r2 = spawnSync(
    process.execPath,
    [CLI, 'serve', '-p', '0', '--file', region, '-Z', '-o', `ssl_chain_cert=${f('nope.pem')},ssl_key=${f('server.key')}`],
    {
      encoding: 'utf8',
    },
  );
  assert.is(r2.status, 1);
  assert.match(r2.stderr, /ssl_chain_cert .*nope\.pem: ENOENT \[ERR_TLS_CONFIG\]/);
  const r3 = spawnSync(process.execPath, [CLI, 'serve', '-p', '0', '--file', region, '-o', 'ssl_verify_mode=7'], { encoding: 'utf8' });
  assert.is(r3.status, 2);
});

const cl = suite('tls: Cluster client with auth and tls');

/** The code a get of `key` fails with through a Cluster with `opts` (no auto-eject); closes that Cluster. */
async function refusedCode(opts: ClusterOptions, key: string): Promise<string | undefined> {
  const bad = new Cluster({ ...opts, autoEject: false });
  try {
    return (await rejects(bad.get(key))).code;
  } finally {
    await bad.close();
  }
}

cl('auth + tls against our server; a wrong password fails with ERR_NODE_AUTH', () =>
  withServer({ tls: serverTls, auth: { users: { alice: 'wonder land' } } }, 'tls-cluster', async (s) => {
    const node = `127.0.0.1:${s.port}`;
    const c = new Cluster({ nodes: [node], auth: { username: 'alice', password: 'wonder land' }, tls: trust });
    await c.set('ck', 'cv');
    assert.is(String(await c.get('ck')), 'cv');
    assert.is(String(s.cache.get('ck')), 'cv');
    await c.close();
    assert.is(await refusedCode({ nodes: [node], auth: { username: 'alice', password: 'nope' }, tls: trust }, 'ck'), 'ERR_NODE_AUTH');
    assert.throws(() => new Cluster({ nodes: [node], auth: { username: 'a b', password: 'x' } }), TypeError);
    assert.throws(() => new Cluster({ nodes: [node], tls: 'yes' as never }), TypeError);
  }),
);

// The interop lane: a real memcached with -Y (Debian's, or $SHMCACHED_MEMCACHED_NEW).
let mc: ChildProcess | undefined;
let mcPort = 0;
cl.before(async () => {
  if (!peerReady('memcached')) return;
  const bin = process.env.SHMCACHED_MEMCACHED_NEW || findPeer('memcached');
  if (bin === undefined) return;
  ({ child: mc, port: mcPort } = await startMemcachedAuth(bin, f('auth-mc')));
});
cl.after(() => {
  mc?.kill('SIGTERM');
});
interop(
  cl,
  'memcached',
  import.meta.url,
)('auth against a real memcached -Y: right password works, a wrong one is ERR_NODE_AUTH', async () => {
  const node = `127.0.0.1:${mcPort}`;
  const c = new Cluster({ nodes: [node], auth: { username: 'carol', password: 's3cret' } });
  await c.set('mk', 'mv');
  assert.is(String(await c.get('mk')), 'mv');
  await c.close();
  assert.is(await refusedCode({ nodes: [node], auth: { username: 'carol', password: 'x' } }, 'mk'), 'ERR_NODE_AUTH');
});

/**
 * Pipelines `n` gets of a 500 KB value (30 MB of replies: far past the engine's 4 MiB output mark
 * and the socket buffers) with its FIN right behind them, reading nothing at first; then reads
 * until the server closes. Returns every byte that came and whether the close came.
 */
async function halfCloseAfterPipeline(open: () => Socket, n: number): Promise<{ got: Buffer; ended: boolean }> {
  const socket = open();
  await new Promise<void>((r, j) => socket.once(socket.constructor.name === 'TLSSocket' ? 'secureConnect' : 'connect', r).once('error', j));
  const chunks: Buffer[] = [];
  let ended = false;
  socket.pause();
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('end', () => (ended = true));
  socket.on('error', () => undefined);
  socket.end('get big\r\n'.repeat(n));
  await new Promise((r) => setTimeout(r, 50)); // the FIN is sent while the replies wait
  socket.resume();
  await new Promise<void>((r) => {
    const guard = setTimeout(r, 60_000); // a hang guard, not a measure
    socket.once('close', () => {
      clearTimeout(guard);
      r();
    });
  });
  socket.destroy();
  return { got: Buffer.concat(chunks), ended };
}

tls('a TLS client that half-closes after a large pipeline gets every reply, then the close (as plain TCP on both engines)', async () => {
  const value = Buffer.alloc(500_000, 0x63);
  const n = 60;
  const one = Buffer.concat([Buffer.from('VALUE big 0 500000\r\n'), value, Buffer.from('\r\nEND\r\n')]);
  const check = (what: string, r: { got: Buffer; ended: boolean }): void => {
    assert.ok(r.ended, `${what}: the server closed after the last reply`);
    assert.is(r.got.length, n * one.length, `${what}: every reply came`);
    assert.ok(r.got.subarray((n - 1) * one.length).equals(one), `${what}: the last one whole`);
  };
  await withServer({ engine: 'js', tls: serverTls }, 'tls-halfclose', async (s) => {
    s.cache.set('big', value);
    for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const)
      check(maxVersion, await halfCloseAfterPipeline(() => tlsConnect({ port: s.port, host: '127.0.0.1', maxVersion, ...trust }), n));
  });
  for (const engine of ['js', 'native'] as const) {
    await withServer({ engine }, `tls-halfclose-${engine}`, async (s) => {
      s.cache.set('big', value);
      check(
        `tcp ${engine}`,
        await halfCloseAfterPipeline(() => createConnection({ port: s.port, host: '127.0.0.1', allowHalfOpen: true }), n),
      );
    });
  }
});

tls.run();
cl.run();
