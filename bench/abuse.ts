/**
 * `npm run bench -- abuse`: the server's memory through each hostile client of issue 17, the same
 * scenarios test/abuse.test.ts asserts (test/support/abuse.ts), each against a fresh
 * `createServer` in its own process (test/support/abuse-server.ts, a 64 MiB store).
 *
 * For each: VmRSS of the server process before (listening, idle), during (read while the abuse
 * is in full swing), after (the hostile clients gone, 1 s later) and VmHWM (the process's peak),
 * with what the hostile client saw and whether a fresh client was served afterwards. Numbers in
 * MiB; the figures depend on the machine and Node's heap, the outcome column does not.
 */
import { partArgs, positiveInt } from './lib/args.js';
import { markdownTable, type Align } from './lib/format.js';
import { gitInfo, machineInfo } from './lib/machine.js';
import type { Metric, PartOutput } from './lib/part.js';
import { printReport, reportHead, writePartFiles } from './lib/report.js';
import {
  type AbuseServer,
  type AbuseServerOptions,
  amplifiedGet,
  bigGetSlowReaders,
  dumpNonReaders,
  hugeLengths,
  idleAfterLarge,
  idleConnections,
  longLines,
  nonReader,
  servedFresh,
  slowloris,
  withAbuseServer,
} from '../test/support/abuse.js';

/** One line for `npm run bench -- list`. */
export const description =
  'server RSS before/during/after each hostile client (10k idle connections, slowloris, huge lengths, a non-reader, a 1 GB multi-get, metadumps never read, clients pipelining large gets never read, idle connections after a large exchange)';

interface Row {
  name: string;
  before: number;
  during: number;
  after: number;
  peak: number;
  outcome: string;
  served: boolean;
}

const mib = (kib: number): string => (kib / 1024).toFixed(1);

async function scenario(
  name: string,
  opts: Omit<AbuseServerOptions, 'path'>,
  body: (s: AbuseServer) => Promise<{ during: number; outcome: string }>,
): Promise<Row> {
  const path = `/dev/shm/shmcached-bench-abuse-${process.pid}`;
  return withAbuseServer({ path, ...opts }, async (s) => {
    await new Promise((r) => setTimeout(r, 300));
    const before = s.rss();
    process.stderr.write(`  ${name}...\n`);
    const { during, outcome } = await body(s);
    await new Promise((r) => setTimeout(r, 1000));
    const after = s.rss();
    const served = await servedFresh(s.port);
    return { name, before, during, after, peak: s.peak(), outcome, served };
  });
}

/** Runs the part. */
export async function run(args: string[]): Promise<PartOutput> {
  const { values, write } = partArgs(
    args,
    `npm run bench -- abuse [options]
  --conns N      idle connections of the first scenario, also the server's -c (default 10000; the
                 server's process and this one each hold N descriptors: mind ulimit -n)
  --no-write     print only; do not write bench/results/`,
  );
  const conns = positiveInt(values.conns, 10_000, '--conns');
  const started = new Date();
  const machine = machineInfo();
  const git = gitInfo();
  const rows: Row[] = [];
  rows.push(
    await scenario(`${conns.toLocaleString('en-US')} idle connections, 20 more`, { maxConnections: conns }, async (s) => {
      const r = await idleConnections(s, conns, 20);
      const ok = r.refused.every((x) => x === 'ERROR Too many open connections\r\n');
      return {
        during: r.rssDuring,
        outcome: `${r.opened} served; ${r.refusedClosed}/20 refused ${ok ? "with memcached's line" : 'WRONG REPLY'} and closed`,
      };
    }),
  );
  rows.push(
    await scenario('slowloris: a byte a second (idle timeout 2 s)', { idleTimeout: 2 }, async (s) => {
      const r = await slowloris(s, 1000, 20_000);
      return {
        during: r.rssDuring,
        outcome: `line ${r.lineClosed ? 'closed' : 'OPEN'}, data block ${r.blockClosed ? 'closed' : 'OPEN'}; active client ${r.activeAnswers}/${r.activeTicks} answered`,
      };
    }),
  );
  rows.push(
    await scenario('5,000-byte set line; get line streamed to 1 GiB', {}, async (s) => {
      const r = await longLines(s, 2 ** 30);
      return {
        during: r.rssDuring,
        outcome: `set line ${r.setLineClosed ? 'closed' : 'OPEN'}; get line closed after ${(r.getLineSent / 2 ** 20).toFixed(0)} MiB sent`,
      };
    }),
  );
  rows.push(
    await scenario('declared 4 GiB / 2 GiB / 2 MB values, binary 4 GiB body', {}, async (s) => {
      const r = await hugeLengths(s);
      return {
        during: r.rssDuring,
        outcome: `${r.fourGiB.split('\r\n')[0]}; ${r.twoGiB.trim()} at once, 64 MiB swallowed${r.swallowedQuiet ? '' : ' (NOT QUIET)'}; binary status ${r.binaryStatus}`,
      };
    }),
  );
  // The non-reader with and without an idle timeout: closed when idle, or held open as memcached does.
  for (const [label, opts, waitCloseMs, closedWord, openWord] of [
    ['idle timeout 2 s', { idleTimeout: 2 }, 15_000, 'closed when idle', 'OPEN'],
    ['no idle timeout', {}, 1000, 'closed', 'held open, as memcached does'],
  ] as const) {
    rows.push(
      await scenario(`pipelined gets never read, 5 s (${label})`, opts, async (s) => {
        const r = await nonReader(s, 5000, waitCloseMs);
        return {
          during: r.rssDuring,
          outcome: `server took ${(r.acceptedBytes / 2 ** 20).toFixed(1)} MiB of gets then stopped reading; ${r.closed ? closedWord : openWord}`,
        };
      }),
    );
  }
  rows.push(
    await scenario('one get naming a 500 KB value 2,000 times', {}, async (s) => {
      const r = await amplifiedGet(s);
      return { during: r.rssDuring, outcome: r.reply.trim() };
    }),
  );
  rows.push(
    await scenario('6 clients ask for lru_crawler metadump all (600,000 keys) and never read', { size: '128mb' }, async (s) => {
      const r = await dumpNonReaders(s, 600_000, 6);
      return {
        during: r.rssDuring,
        outcome: `grew ${mib(r.grewKiB)} MiB (a whole dump: ${(r.dumpBytes / 2 ** 20).toFixed(0)} MiB${r.dumpEnded ? '' : ', NOT ENDED'})`,
      };
    }),
  );
  rows.push(
    await scenario('10 clients pipeline gets of a 500 KB value, 8 every 250 ms, never read', { gc: true }, async (s) => {
      const r = await bigGetSlowReaders(s, 10, 500_000, 0, 3, 8, 1, 250);
      return {
        during: s.rss(),
        outcome: `private memory grew ${mib(r.grewKiB / r.conns)} MiB per client (one 4 MiB mark of replies each)${r.served ? '' : '; a fresh client NOT served'}`,
      };
    }),
  );
  rows.push(
    await scenario('30 connections send and get a 900 KB value, then idle', { gc: true }, async (s) => {
      const r = await idleAfterLarge(s, 30, 900_000);
      return {
        during: r.rssDuring,
        outcome: `private memory (RssAnon) grew ${mib(r.grewKiB)} MiB; ${r.answered}/${r.conns} answered whole`,
      };
    }),
  );

  const md = reportHead('shmcached server under abuse', started, machine);
  md.push(
    `- Server: \`createServer\` on a 64 MiB store, one fresh process per row (test/support/abuse-server.ts)${git ? `, tree at \`${git.commit}\`` : ''}. RSS = VmRSS of /proc/PID/status in MiB; peak = VmHWM.`,
    '',
  );
  const align: Align[] = ['l', 'r', 'r', 'r', 'r', 'l', 'l'];
  md.push(
    markdownTable(
      ['abuse', 'before', 'during', 'after', 'peak', 'what the client saw', 'fresh client after'],
      rows.map((r) => [r.name, mib(r.before), mib(r.during), mib(r.after), mib(r.peak), r.outcome, r.served ? 'served' : 'NOT SERVED']),
      align,
    ),
  );
  const markdown = printReport(md, []);
  const metrics: Metric[] = rows.map((r, i) => ({
    id: `abuse/${i}/peak RSS`,
    value: r.peak / 1024,
    unit: 'MiB',
    better: 'lower',
  }));
  const json = { metrics, rows };
  if (write) writePartFiles('abuse', started, { md: markdown, json });
  return { part: 'abuse', markdown, json };
}
