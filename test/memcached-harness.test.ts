// Tests of the differential-test harness itself (test/support/memcached.ts), against a real
// memcached: reply framing (pipelined, binary-safe, empty values, multi-get, stats), the typed
// helpers, and the process lifecycle.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import {
  frameReply,
  isNoReply,
  memcachedTest,
  MemcachedError,
  parseValues,
  replyKindOf,
  skipMemcachedTests,
  startMemcached,
  type Memcached,
} from './support/memcached.js';
import { at } from './helpers.js';

// ---------------------------------------------------------------------------------------------
// Pure framing (no server needed).

const framing = suite('harness: reply framing');

framing('frameReply needs every byte of a reply, and no more', () => {
  const cases: Array<[string, Parameters<typeof frameReply>[1]]> = [
    ['STORED\r\n', 'line'],
    ['VALUE k 5 7\r\na\r\nEND\r\r\nEND\r\n', 'values'],
    ['VALUE k 0 0\r\n\r\nVALUE j 1 3 99\r\nEND\r\nEND\r\n', 'values'],
    ['END\r\n', 'values'],
    ['CLIENT_ERROR bad command line format\r\n', 'values'],
    ['STAT pid 1\r\nSTAT a b c\r\nEND\r\n', 'stats'],
    ['RESET\r\n', 'stats'],
    ['VA 4 f0\r\nMN\r\n\r\n', 'meta'],
    ['EN\r\n', 'meta'],
    ['STORED\r\nVALUE x 0 4\r\nMN\r\n\r\nEND\r\nMN\r\n', 'sync'],
  ];
  for (const [text, kind] of cases) {
    const full = Buffer.from(text, 'latin1');
    for (let i = 0; i < full.length; i++) {
      assert.is(frameReply(full.subarray(0, i), kind), -1, `${JSON.stringify(text)} prefix ${i}`);
    }
    assert.is(frameReply(full, kind), full.length, JSON.stringify(text));
    // A following reply does not change where this one ends.
    assert.is(frameReply(Buffer.concat([full, Buffer.from('STORED\r\n')]), kind), full.length);
  }
});

framing('frameReply rejects a data block not followed by CRLF', () => {
  assert.throws(() => frameReply(Buffer.from('VALUE k 0 1\r\nabEND\r\n'), 'values'), /not followed by CRLF/);
});

framing('replyKindOf and isNoReply', () => {
  assert.is(replyKindOf('get a b'), 'values');
  assert.is(replyKindOf('GATS 10 a'), 'values');
  assert.is(replyKindOf('stats slabs'), 'stats');
  assert.is(replyKindOf('mg k v'), 'meta');
  assert.is(replyKindOf('set k 0 0 1'), 'line');
  assert.is(replyKindOf('incr k 1'), 'line');
  assert.ok(isNoReply('set k 0 0 1 noreply'));
  assert.ok(isNoReply('flush_all noreply\r\n'));
  assert.not.ok(isNoReply('get noreply2'));
  assert.not.ok(isNoReply('set k 0 0 1'));
});

framing('parseValues keeps binary data and cas', () => {
  const v = parseValues(Buffer.from('VALUE a 3 4 17\r\n\r\n\0\n\r\nVALUE b 0 0\r\n\r\nEND\r\n', 'latin1'));
  assert.is(v.length, 2);
  assert.equal([...at(v, 0).value], [13, 10, 0, 10]);
  assert.is(at(v, 0).flags, 3);
  assert.is(at(v, 0).cas, 17n);
  assert.is(at(v, 1).value.length, 0);
  assert.is(at(v, 1).cas, undefined);
  assert.throws(
    () => parseValues(Buffer.from('SERVER_ERROR out of memory\r\n')),
    (e: unknown) => e instanceof MemcachedError && e.kind === 'SERVER_ERROR',
  );
});

framing.run();

// ---------------------------------------------------------------------------------------------
// Against memcached.

const live = suite<{ mc: Memcached }>('harness: against memcached', { mc: undefined as unknown as Memcached });
const t = memcachedTest(live, import.meta.url);

live.before(async (ctx) => {
  if (skipMemcachedTests()) return;
  try {
    ctx.mc = await startMemcached(['-m', '64', '-I', '1m']);
  } catch (e) {
    // uvu swallows errors thrown by a before hook (the suite's tests just count as failed): say why.
    console.error('\n[harness] setup failed:', e);
    throw e;
  }
});

live.after(async (ctx) => {
  await ctx.mc?.stop();
});

t('starts on a free loopback port and speaks the protocol', async ({ mc }) => {
  assert.ok(mc.port > 0 && mc.port < 65536);
  assert.ok(mc.pid > 0);
  assert.match(await mc.version(), /^1\.\d+\.\d+/);
  assert.is(await mc.requestText('set hello 0 0 5', 'world'), 'STORED');
  assert.is((await mc.request('get hello')).toString('latin1'), 'VALUE hello 0 5\r\nworld\r\nEND\r\n');
});

t('pipelined requests get their own replies, in order', async ({ mc }) => {
  const N = 300;
  const replies: Array<Promise<string>> = [];
  for (let i = 0; i < N; i++) {
    // Not awaited: all of these are in flight together.
    replies.push(mc.requestText(`set p${i} ${i} 0 ${String(i).length}`, String(i)));
    replies.push(mc.requestText(`get p${i} nokey${i} p${i}`));
    replies.push(mc.requestText(`incr p${i} 5`));
    replies.push(mc.requestText(`delete nokey${i}`));
    if (i % 50 === 0) replies.push(mc.requestText('stats'));
  }
  assert.ok(mc.pending > 0, 'requests were really pipelined');
  const got = await Promise.all(replies);
  let j = 0;
  for (let i = 0; i < N; i++) {
    const s = String(i);
    assert.is(got[j++], 'STORED');
    assert.is(got[j++], `VALUE p${i} ${i} ${s.length}\r\n${s}\r\nVALUE p${i} ${i} ${s.length}\r\n${s}\r\nEND`);
    assert.is(got[j++], String(i + 5));
    assert.is(got[j++], 'NOT_FOUND');
    if (i % 50 === 0) {
      const st = at(got, j++);
      assert.match(st, /^STAT pid \d+\r\n/);
      assert.ok(st.endsWith('\r\nEND'));
    }
  }
  assert.is(j, got.length);
  assert.is(mc.pending, 0);
});

t('binary values: CRLF, NUL, and protocol words inside the data', async ({ mc }) => {
  const nasty = Buffer.concat([
    Buffer.from('\r\nEND\r\nVALUE x 0 3\r\n\0\0\r\n', 'latin1'),
    Buffer.from([0, 255, 13, 10, 13, 13, 10, 10, 0x80, 0xfe]),
    Buffer.from('STORED\r\n'),
  ]);
  assert.is(await mc.set('bin', nasty, { flags: 0xffffffff }), 'STORED');
  const g = await mc.get('bin');
  assert.ok(g, 'hit');
  assert.ok(g!.value.equals(nasty), 'exact bytes');
  assert.is(g!.flags, 0xffffffff);
  // Every byte value, in one item.
  const all = Buffer.alloc(256 * 4);
  for (let i = 0; i < all.length; i++) all[i] = i & 255;
  assert.is(await mc.set('all', all), 'STORED');
  assert.ok((await mc.get('all'))!.value.equals(all));
  // The connection is still in sync afterwards.
  assert.is(await mc.requestText('mn'), 'MN');
});

t('a 0-length value is a hit with an empty value, not a miss', async ({ mc }) => {
  assert.is(await mc.set('empty', '', { flags: 9 }), 'STORED');
  assert.is((await mc.request('get empty')).toString('latin1'), 'VALUE empty 9 0\r\n\r\nEND\r\n');
  const g = await mc.get('empty');
  assert.ok(g !== undefined);
  assert.is(g!.value.length, 0);
  assert.is(g!.flags, 9);
  const gs = await mc.gets('empty');
  assert.is(typeof gs!.cas, 'bigint');
  assert.ok(gs!.cas > 0n);
  assert.is(await mc.get('never-set'), undefined);
});

t('multi-get: hits in request order, misses as undefined, duplicates', async ({ mc }) => {
  await mc.set('m1', 'one', { flags: 1 });
  await mc.set('m2', '', { flags: 2 });
  await mc.set('m3', 'three\r\n', { flags: 3 });
  await mc.delete('m4');
  const keys = ['m3', 'm4', 'm1', 'm2', 'm1', 'nope'];
  const got = await mc.getMulti(keys);
  assert.is(got.length, keys.length);
  assert.is(at(got, 0).value.toString(), 'three\r\n');
  assert.is(at(got, 0).flags, 3);
  assert.is(got[1], undefined);
  assert.is(at(got, 2).value.toString(), 'one');
  assert.is(at(got, 3).value.length, 0);
  assert.is(at(got, 3).flags, 2);
  assert.is(at(got, 4).value.toString(), 'one');
  assert.is(got[5], undefined);
  const withCas = await mc.getMulti(['m1', 'm2'], 'gets');
  assert.ok(withCas.every((x) => x !== undefined && typeof x.cas === 'bigint'));
  assert.is.not(at(withCas, 0).cas, at(withCas, 1).cas);
});

t('a value of nearly 1 MiB arrives whole (many TCP chunks)', async ({ mc }) => {
  const big = Buffer.alloc(1000 * 1000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + 3) & 255;
  assert.is(await mc.set('big', big), 'STORED');
  const [a, b] = await Promise.all([mc.get('big'), mc.get('big')]);
  assert.ok(a!.value.equals(big));
  assert.ok(b!.value.equals(big));
  assert.is(await mc.requestText('set toobig 0 0 2000000', Buffer.alloc(2_000_000)), 'SERVER_ERROR object too large for cache');
  assert.is(await mc.requestText('mn'), 'MN');
});

t('typed helpers map every answer', async ({ mc }) => {
  assert.is(await mc.add('h', '10'), 'STORED');
  assert.is(await mc.add('h', '10'), 'NOT_STORED');
  assert.is(await mc.replace('h-none', 'x'), 'NOT_STORED');
  assert.is(await mc.replace('h', '20', { flags: 4 }), 'STORED');
  assert.is(await mc.append('h', '0'), 'STORED');
  assert.is(await mc.prepend('h', '1'), 'STORED');
  assert.is((await mc.get('h'))!.value.toString(), '1200');
  assert.is((await mc.get('h'))!.flags, 4);
  assert.is(await mc.append('h-none', 'x'), 'NOT_STORED');
  assert.is(await mc.incr('h', 5), 1205n);
  assert.is(await mc.decr('h', 1300), 0n);
  assert.is(await mc.incr('h-none'), undefined);
  const gs = (await mc.gets('h'))!;
  assert.is(await mc.cas('h', 'c', gs.cas + 1000n), 'EXISTS');
  assert.is(await mc.cas('h', 'c', gs.cas), 'STORED');
  assert.is(await mc.cas('h-none', 'c', 1n), 'NOT_FOUND');
  assert.is(await mc.touch('h', 100), true);
  assert.is(await mc.touch('h-none', 100), false);
  assert.is((await mc.gat(100, 'h'))!.value.toString(), 'c');
  assert.is(typeof (await mc.gats(100, 'h'))!.cas, 'bigint');
  assert.is(await mc.gat(100, 'h-none'), undefined);
  assert.is(await mc.delete('h'), true);
  assert.is(await mc.delete('h'), false);
  await mc.set('nn', 'abc');
  try {
    await mc.incr('nn', 1);
    assert.unreachable('incr of a non-numeric value must fail');
  } catch (e) {
    assert.instance(e, MemcachedError);
    assert.is((e as MemcachedError).line, 'CLIENT_ERROR cannot increment or decrement non-numeric value');
  }
  await mc.flushAll();
  assert.is(await mc.get('nn'), undefined);
});

t('stats, stats slabs, stats items parse into records', async ({ mc }) => {
  await mc.set('s1', 'v');
  const st = await mc.stats();
  assert.is(st.version, await mc.version());
  assert.ok(Number(st.curr_items) >= 1);
  assert.is(st.limit_maxbytes, String(64 * 1024 * 1024));
  const settings = await mc.stats('settings');
  assert.is(settings.item_size_max, '1048576');
  const slabs = await mc.stats('slabs');
  assert.ok(Number(slabs.active_slabs) >= 1);
  assert.ok(Object.keys(slabs).some((k) => /^\d+:chunk_size$/.test(k)));
  const items = await mc.stats('items');
  assert.ok(Object.keys(items).some((k) => /^items:\d+:number$/.test(k)));
  assert.is(await mc.requestText('stats reset'), 'RESET');
  assert.is((await mc.stats()).cmd_get, '0');
});

t('noreply, malformed commands and data blocks keep the connection in sync', async ({ mc }) => {
  assert.is((await mc.request('set nr 0 0 2 noreply', 'ok')).length, 0, 'noreply: nothing back');
  assert.is((await mc.get('nr'))!.value.toString(), 'ok');
  // A data block longer than announced: memcached answers twice (the tail is read as a command).
  assert.is((await mc.requestSync('set bad 0 0 2\r\nxyz\r\n')).toString(), 'CLIENT_ERROR bad data chunk\r\nERROR\r\n');
  assert.is((await mc.requestSync('set bad -1 0 1\r\nx\r\n')).toString(), 'CLIENT_ERROR bad command line format\r\nERROR\r\n');
  assert.is(await mc.requestText('bogus'), 'ERROR');
  assert.is(await mc.requestText(`get ${'k'.repeat(251)}`), 'CLIENT_ERROR bad command line format');
  try {
    await mc.get('k'.repeat(251));
    assert.unreachable('a 251-byte key must be refused');
  } catch (e) {
    assert.instance(e, MemcachedError);
    assert.is((e as MemcachedError).kind, 'CLIENT_ERROR');
  }
  assert.is(await mc.requestText('mg nr v f'), 'VA 2 f0\r\nok');
  assert.is(await mc.requestText('mn'), 'MN');
  assert.is(mc.pending, 0);
});

t('a second connection sees the same store; stop() ends the process', async () => {
  const other = await startMemcached();
  const c2 = await other.connect();
  await other.set('shared', 'x');
  assert.is((await c2.get('shared'))!.value.toString(), 'x');
  const pid = other.pid;
  process.kill(pid, 0); // alive
  await other.stop();
  await other.stop(); // idempotent
  assert.throws(() => process.kill(pid, 0), /ESRCH/);
  try {
    await c2.get('shared');
    assert.unreachable('connection must be closed');
  } catch (e) {
    assert.instance(e, Error);
    assert.not.instance(e, MemcachedError);
  }
});

t('memcached dies with the test process, even when that is SIGKILLed', async () => {
  // A child node process starts a memcached through the harness, prints its pid, and is killed.
  const support = new URL('./support/memcached.js', import.meta.url).href;
  const code = `import { startMemcached } from ${JSON.stringify(support)};
    const mc = await startMemcached(['-m', '8']);
    process.stdout.write(mc.pid + '\\n');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const pid = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^(\d+)\n/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (c) => reject(new Error(`child exited early (${c}): ${out}`)));
  });
  assert.ok(pid > 0);
  process.kill(pid, 0); // memcached runs
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  await exited;
  // Its watchdog notices the closed pipe and stops it: wait, bounded (~15 s), for it to go.
  let alive = true;
  for (let i = 0; i < 150 && alive; i++) {
    try {
      process.kill(pid, 0);
      await new Promise((r) => setTimeout(r, 100));
    } catch {
      alive = false;
    }
  }
  assert.not.ok(alive, `memcached ${pid} outlived the killed test process`);
});

live('a missing memcached binary fails loudly, naming the fix', async () => {
  try {
    await startMemcached([], { bin: '/nonexistent/memcached' });
    assert.unreachable('must throw');
  } catch (e) {
    assert.match(String((e as Error).message), /memcached is not installed.*apt-get install -y memcached/);
  }
});

live.run();
