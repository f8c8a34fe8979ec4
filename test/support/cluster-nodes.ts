/**
 * Loopback clusters for the cluster tests and bench: memcached-protocol nodes on fixed free
 * ports (so a node can be killed and restarted on the same port), and `nutcracker` (twemproxy) in
 * front of them with a ketama/md5 pool written to a temporary YAML file.
 *
 * A node is either `shmcached serve` on a store file (which survives the process: a restart on
 * the same file brings the items back) or Debian's `memcached` (which restarts empty: its own
 * `-e` warm restart rejects its saved metadata in Debian's 1.6.18). Every process runs under a watchdog shell that kills it when our end of its
 * stdin closes, so nothing outlives the test process, even a killed one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { McConnection } from './memcached.js';
import { freePort, sleep, waitForPort } from './net.js';
import { findPeer } from './peers.js';

/** Which server a test node runs. */
export type NodeKind = 'memcached' | 'shmcached';

const root = fileURLToPath(new URL('../../..', import.meta.url));
/** The CLI that runs `shmcached serve`: this build's, or `$SHMCACHED_CLI`. */
export const CLI = process.env.SHMCACHED_CLI ?? join(root, 'dist', 'src', 'cli', 'cli.js');

/** The nutcracker (twemproxy) binary (`$NUTCRACKER_BIN`, PATH, /usr/sbin, ...), or undefined when it is not installed. */
export function findNutcracker(): string | undefined {
  return findPeer('nutcracker');
}

const WATCHDOG =
  'exec 3<&0 </dev/null; "$0" "$@" >/dev/null 3<&- & pid=$!; echo "$pid"; ' + '(read -r _ <&3; kill -9 "$pid" 2>/dev/null) & wait "$pid"';

/** A process under the watchdog. */
class Supervised {
  readonly child: ChildProcess;
  pid = -1;
  exited: string | undefined;
  stderr = '';
  constructor(bin: string, args: string[]) {
    const child = spawn('/bin/sh', ['-c', WATCHDOG, bin, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.unref();
    for (const st of [child.stdin, child.stdout, child.stderr]) (st as unknown as { unref?: () => void }).unref?.();
    child.stdin!.on('error', () => undefined);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^(\d+)\n/.exec(out);
      if (m && this.pid < 0) this.pid = Number(m[1]);
    });
    child.stderr!.on('data', (d: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += d.toString();
    });
    child.on('exit', (code, sig) => (this.exited = `exited with ${code ?? sig}`));
  }
  /** Sends `signal` to the server process itself and waits until the watchdog has exited. */
  async kill(signal: NodeJS.Signals): Promise<void> {
    if (this.exited !== undefined) return;
    const done = new Promise<void>((r) => this.child.once('exit', () => r()));
    for (let i = 0; i < 100 && this.pid < 0; i++) await sleep(10);
    try {
      process.kill(this.pid, signal);
    } catch {
      /* gone */
    }
    const t = setTimeout(() => this.child.stdin!.end(), 5000); // the watchdog SIGKILLs it
    await done;
    clearTimeout(t);
  }
}

/** One memcached-protocol node on a fixed loopback port. */
export interface TestNode {
  readonly kind: NodeKind;
  readonly port: number;
  /** `127.0.0.1:port`, as the cluster and nutcracker list it. */
  readonly id: string;
  /** The node's store file (shmcached; unused by memcached). */
  readonly file: string;
  readonly running: boolean;
  /** Starts the server (again) on the same port and file. */
  start(): Promise<void>;
  /** Kills it outright (SIGKILL): the store file of `shmcached serve` stays behind. */
  kill(): Promise<void>;
  /** Stops it cleanly (SIGTERM). */
  stop(): Promise<void>;
  /** A new connection to the node. */
  connect(): Promise<McConnection>;
}

/** Starts a node of `kind` on a free port with a store file under /dev/shm. */
export async function startNode(kind: NodeKind, name: string, sizeMb = 64): Promise<TestNode> {
  const port = await freePort();
  const file = `/dev/shm/shmcached-cluster-${process.pid}-${name}-${port}`;
  rmSync(file, { force: true });
  cleanupFiles.push(file);
  let proc: Supervised | undefined;
  const args = (): [string, string[]] => {
    if (kind === 'shmcached') {
      if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p tsconfig.json)`);
      return [process.execPath, [CLI, 'serve', '-p', String(port), '-l', '127.0.0.1', '-m', String(sizeMb), '--file', file]];
    }
    const a = ['-U', '0', '-l', '127.0.0.1', '-p', String(port), '-m', String(sizeMb)];
    if (typeof process.getuid === 'function' && process.getuid() === 0) a.push('-u', 'root');
    const mc = findPeer('memcached');
    if (mc === undefined)
      throw new Error('memcached is not installed: apt-get install -y memcached, or set MEMCACHED_BIN=/path/to/memcached');
    return [mc, a];
  };
  const node: TestNode = {
    kind,
    port,
    id: `127.0.0.1:${port}`,
    file,
    get running() {
      return proc !== undefined && proc.exited === undefined;
    },
    async start() {
      const [bin, a] = args();
      const p = new Supervised(bin, a);
      proc = p;
      live.add(p);
      await waitForPort(port, 15_000, () => (p.exited === undefined ? undefined : `${kind} node ${name} ${p.exited}: ${p.stderr.trim()}`));
    },
    async kill() {
      await proc?.kill('SIGKILL');
    },
    async stop() {
      await proc?.kill('SIGTERM');
    },
    connect: () => McConnection.connect(port),
  };
  await node.start();
  return node;
}

/** A running nutcracker in front of some nodes. */
export interface Proxy {
  readonly port: number;
  readonly config: string;
  connect(): Promise<McConnection>;
  stop(): Promise<void>;
}

/** twemproxy's pool settings used by the tests (see the README's Cluster section). */
export interface ProxyOptions {
  timeout?: number;
  autoEject?: boolean;
  failureLimit?: number;
  retryTimeout?: number;
}

/** The nutcracker YAML for a ketama/md5 memcached pool over `nodes`. */
export function nutcrackerConfig(listenPort: number, nodes: readonly string[], o: ProxyOptions = {}): string {
  return [
    'shmcached:',
    `  listen: 127.0.0.1:${listenPort}`,
    '  hash: md5',
    '  distribution: ketama',
    `  timeout: ${o.timeout ?? 1000}`,
    `  auto_eject_hosts: ${o.autoEject ?? true}`,
    `  server_failure_limit: ${o.failureLimit ?? 2}`,
    `  server_retry_timeout: ${o.retryTimeout ?? 30000}`,
    '  servers:',
    ...nodes.map((n) => `    - ${n}:1`),
    '',
  ].join('\n');
}

/** Starts nutcracker (memcached mode, ketama, md5) in front of `nodes`; its stats port is a free one too. */
export async function startNutcracker(nodes: readonly string[], o: ProxyOptions = {}): Promise<Proxy> {
  const bin = findNutcracker();
  if (bin === undefined) throw new Error('nutcracker (twemproxy) is not installed: apt-get install -y nutcracker (.ci/run does)');
  const dir = mkdtempSync(join(tmpdir(), 'shmcached-nutcracker-'));
  cleanupDirs.push(dir);
  const port = await freePort();
  const statsPort = await freePort();
  const config = nutcrackerConfig(port, nodes, o);
  const file = join(dir, 'nutcracker.yml');
  writeFileSync(file, config);
  const p = new Supervised(bin, ['-c', file, '-s', String(statsPort), '-a', '127.0.0.1', '-o', join(dir, 'nutcracker.log')]);
  live.add(p);
  await waitForPort(port, 15_000, () => (p.exited === undefined ? undefined : `nutcracker ${p.exited}: ${p.stderr.trim()}`));
  return { port, config, connect: () => McConnection.connect(port), stop: () => p.kill('SIGTERM') };
}

const live = new Set<Supervised>();
const cleanupFiles: string[] = [];
const cleanupDirs: string[] = [];

/** Kills every process started here (SIGKILL) and removes their files. */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill('SIGKILL')));
  live.clear();
  for (const f of cleanupFiles) rmSync(f, { force: true });
  for (const d of cleanupDirs) rmSync(d, { recursive: true, force: true });
}

process.on('exit', () => {
  for (const p of live) {
    try {
      if (p.pid > 0 && p.exited === undefined) process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const f of cleanupFiles) rmSync(f, { force: true });
  for (const d of cleanupDirs) rmSync(d, { recursive: true, force: true });
});
