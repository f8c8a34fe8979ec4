/**
 * Server processes for the benchmarks (memcached, `shmcached serve`): spawned on a loopback port,
 * awaited until they accept connections, stopped at the end, and killed if this process exits
 * first. Also the port helpers they need.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, waitForPort } from '../../test/support/net.js';

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

/** The port helpers, shared with the test harnesses (test/support/net.ts). */
export { freePort, waitForPort };

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
    await waitForPort(port, waitMs, () => exited, 50);
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
