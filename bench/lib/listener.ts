/**
 * Server processes for the benchmarks (memcached, `shmcached serve`): spawned on a loopback port,
 * awaited until they accept connections, stopped at the end, and killed if this process exits
 * first. Also the port helpers they need.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';

/** A server process started by {@link spawnListener}. */
export interface Listener {
  readonly pid: number;
  /** SIGTERM, then SIGKILL after 3 s; resolves once the process is gone. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let hooked = false;

/** Kills every server still running when this process exits (Ctrl-C, a failed part). */
function killOnExit(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Resolves once something accepts a connection on the port; rejects after `ms`, or at once when
 * `alive()` returns a reason (the server died).
 */
export async function waitForPort(port: number, ms: number, alive: () => string | undefined = () => undefined): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const dead = alive();
    if (dead) throw new Error(dead);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`);
    await sleep(50);
  }
}

/**
 * Spawns `bin ...argv` (stdout ignored, the first 2000 characters of stderr kept for the error)
 * and waits up to `waitMs` until it accepts connections on `port`. Rejects, with the process
 * killed, if it exits first ("<name> exited with <code>: <stderr>") or never listens.
 */
export async function spawnListener(name: string, bin: string, argv: readonly string[], port: number, waitMs: number): Promise<Listener> {
  const child = spawn(bin, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  killOnExit(child);
  let stderr = '';
  let exited: string | undefined;
  child.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 2000) stderr += d.toString();
  });
  child.on('exit', (code, sig) => (exited = `${name} exited with ${code ?? sig}: ${stderr.trim()}`));
  try {
    await waitForPort(port, waitMs, () => exited);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return {
    pid: child.pid ?? -1,
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited !== undefined) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}
