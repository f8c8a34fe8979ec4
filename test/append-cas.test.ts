// append/prepend with a CAS as one step under the key's lock (issue 17): Cache.append/prepend's
// `cas` option, the meta (`ms ... MA C<cas>`) and binary (append with a header CAS, delete with
// one) paths against a real memcached's answers, and worker threads racing appends that each
// carry the CAS they read: no record may land twice (the check and the append are one step).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AddressInfo } from 'node:net';

import { Cache } from '../src/index.js';
import { createServer } from '../src/server.js';
import { at, must, runWorker, tmpRegion } from './helpers.js';
import { memcachedTest, skipMemcachedTests, startMemcached, type Memcached } from './support/memcached.js';
import { RawClient } from './support/raw.js';
import { packet, parseResponses } from './support/bin-stream.js';

const api = suite('append/prepend with a CAS: the Cache API');

api('a stale CAS is refused and changes nothing; the current one appends; no CAS appends as before', () => {
  const cache = Cache.open({ path: tmpRegion('acas-api'), size: '16mb' });
  cache.set('k', 'a');
  const c0 = cache.gets('k')!.cas;
  assert.is(cache.append('k', 'b', { cas: c0 + 1n }), false);
  assert.is(cache.prepend('k', 'b', { cas: c0 + 1n }), false);
  assert.is(cache.get('k')!.toString(), 'a');
  assert.is(cache.append('k', 'b', { cas: c0 }), true);
  assert.is(cache.get('k')!.toString(), 'ab');
  assert.is(cache.prepend('k', 'z', { cas: c0 }), false, 'the append changed the CAS');
  const c1 = cache.gets('k')!.cas;
  assert.is(cache.prepend('k', 'z', { cas: Number(c1) }), true, 'a safe-integer number works too');
  assert.is(cache.append('nokey', 'x', { cas: c1 }), false);
  // A cas() that fails leaves its CAS in the handle's I/O slot: a plain append must not read it.
  assert.is(cache.cas('k', 'q', 999_999n), 'exists');
  assert.is(cache.append('k', '!'), true);
  assert.is(cache.get('k')!.toString(), 'zab!');
  assert.throws(() => cache.append('k', 'x', { cas: 'nope' as unknown as bigint }), TypeError);
  assert.throws(() => cache.append('k', 'x', { cas: -1n }), RangeError);
  assert.is(cache.get('k')!.toString(), 'zab!');
  cache.close();
});

api('worker threads race appends carrying the CAS they read: each record number lands exactly once', async () => {
  const path = tmpRegion('acas-race');
  const cache = Cache.open({ path, size: '32mb' });
  cache.set('seq', '');
  const each = 100;
  const body = `
    let done = 0, retries = 0;
    const nap = new Int32Array(new SharedArrayBuffer(4));
    while (done < data.each) {
      const it = cache.gets('seq');
      const rec = String(it.value.length / 8).padStart(6, '0') + data.tag + '|';
      Atomics.wait(nap, 0, 0, 1); // a millisecond between the read and the append: the others read the same CAS
      if (cache.append('seq', rec, { cas: it.cas })) done++; else retries++;
    }
    return retries;`;
  const retries = (await Promise.all(['a', 'b', 'c', 'd'].map((tag) => runWorker(path, body, { each, tag })))) as number[];
  const v = cache.get('seq')!.toString();
  assert.is(v.length, 4 * each * 8);
  for (let i = 0; i < 4 * each; i++) {
    if (v.slice(i * 8, i * 8 + 6) !== String(i).padStart(6, '0')) assert.unreachable(`record ${i} is ${v.slice(i * 8, i * 8 + 8)}`);
  }
  console.log(`  append race: ${4 * each} appends, ${retries.reduce((a, b) => a + b, 0)} CAS retries`);
  cache.close();
});

api.run();

// ---------------------------------------------------------------------------------------------

const wire = suite('append/prepend with a CAS: meta and binary replies, the same as memcached');
let mc: Memcached | undefined;
let shm: { server: ReturnType<typeof createServer>; cache: Cache; port: number };

wire.before(async () => {
  const cache = Cache.open({ path: tmpRegion('acas-wire'), size: '16mb' });
  const server = createServer({ cache });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  shm = { server, cache, port: (server.address() as AddressInfo).port };
  if (!skipMemcachedTests()) mc = await startMemcached(['-m', '16']);
});
wire.after(async () => {
  await mc?.stop();
  await new Promise((r) => shm.server.close(() => r(undefined)));
  shm.cache.close();
});

/** The meta transcript, with each server's CAS values replaced by their order of appearance. */
async function metaTranscript(port: number): Promise<string> {
  const c = await RawClient.connect(port);
  const ask = async (s: string) => (await c.exchange(s)).bytes.toString('latin1');
  let out = await ask('ms acas 1 c\r\na\r\n');
  const c0 = must(/c(\d+)/.exec(out)?.[1], 'a CAS in the ms reply');
  out += await ask(`ms acas 1 MA C${BigInt(c0) + 1n} c\r\nb\r\n`); // stale: EX
  out += await ask(`ms acas 1 MA C${c0} c\r\nb\r\n`); // HD c<new>
  out += await ask(`ms acas 1 MP C${c0} c\r\nz\r\n`); // the old CAS again: EX
  out += await ask('mg acas v c\r\n');
  out += await ask('ms nokey 1 MA C5 c\r\nb\r\n'); // missing: NS
  c.close();
  const labels = new Map<string, number>();
  return out.replace(/c(\d+)/g, (_, n: string) => {
    if (!labels.has(n)) labels.set(n, labels.size + 1);
    return `c<${labels.get(n)}>`;
  });
}

/** Binary: append with a stale / current header CAS, delete with a stale / current CAS (status, cas-changed). */
async function binaryTranscript(port: number): Promise<string> {
  const c = await RawClient.connect(port);
  const send = async (b: Buffer) => at(parseResponses(await c.send(b, (x) => parseResponses(x).packets.length > 0)).packets, 0, 'packets');
  const extras = Buffer.alloc(8);
  const set = await send(packet(0x01, { key: 'bcas', extras, value: 'a' }));
  const lines: string[] = [`set ${set.status}`];
  const stale = await send(packet(0x0e, { key: 'bcas', value: 'b', cas: set.cas + 1n }));
  lines.push(`append stale ${stale.status}`);
  const ok = await send(packet(0x0e, { key: 'bcas', value: 'b', cas: set.cas }));
  lines.push(`append current ${ok.status} new-cas ${ok.cas !== set.cas && ok.cas !== 0n}`);
  const get = await send(packet(0x00, { key: 'bcas' }));
  lines.push(`get ${get.status} ${get.value?.toString()} cas-matches ${get.cas === ok.cas}`);
  const delStale = await send(packet(0x04, { key: 'bcas', cas: set.cas }));
  lines.push(`delete stale ${delStale.status}`);
  const del = await send(packet(0x04, { key: 'bcas', cas: ok.cas }));
  lines.push(`delete current ${del.status}`);
  c.close();
  return lines.join('\n');
}

wire('our replies', async () => {
  // A failed ms echoes c0 (label 2), as memcached does.
  assert.is(await metaTranscript(shm.port), 'HD c<1>\r\nEX c<2>\r\nHD c<3>\r\nEX c<2>\r\nVA 2 c<3>\r\nab\r\nNS c<2>\r\n');
  assert.is(
    await binaryTranscript(shm.port),
    'set 0\nappend stale 2\nappend current 0 new-cas true\nget 0 ab cas-matches true\ndelete stale 2\ndelete current 0',
  );
});

memcachedTest(wire, import.meta.url)('the same as memcached', async () => {
  assert.is(await metaTranscript(shm.port), await metaTranscript(mc!.port));
  assert.is(await binaryTranscript(shm.port), await binaryTranscript(mc!.port));
});

wire.run();
