/**
 * Cluster parity with Cache (issue 19): codecs across nodes (a value written through a Cache on a
 * node's store reads back through the Cluster and the other way round, wrong-codec reads are the
 * same CacheError), ttl/ttlMs/expiresAt on every write with the 1970 check, has, gets/cas, getInto,
 * setMany, flushAll/clear, size, keys/entries and the new batch operations.
 *
 * The nodes are shmcached's own server (createServer on port 0) over a store each, in this
 * process: the test reads and writes those stores directly to see what the wire left there, and
 * moves their clocks (advanceClock) to see expiry without sleeping. keys() on remote nodes needs
 * `lru_crawler metadump`, which memcached 1.6 has and our server does not yet: that part runs
 * against real memcached in the interop lane (test/support/peers.ts).
 */
import type { AddressInfo, Server } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Cache, CacheError, Cluster, ClusterError, type ClusterOp } from '../src/index.js';
import { createServer } from '../src/server.js';
import { at, must, rejects, tmpRegion } from './helpers.js';
import { memcachedTest, startMemcached, type Memcached } from './support/memcached.js';

interface Node {
  /** The node's store (bytes handle), as its server serves it. */
  cache: Cache;
  server: Server;
  id: string;
}

interface Nodes {
  nodes: Node[];
  ids: string[];
  /** The first node's id and store: the hybrid clusters' own node, served by this process. */
  self: string;
  local: Cache;
  /** The options of a hybrid cluster over every node whose own node is the first. */
  hybrid: { nodes: string[]; self: string; cache: Cache };
  /** Registers `c` to be closed (before the nodes) by {@link withNodes}; returns it. */
  own<C extends { close(): unknown }>(c: C): C;
  close(): Promise<void>;
}

/** `n` nodes: a store each and our server on a free loopback port over it. */
async function startNodes(name: string, n = 3): Promise<Nodes> {
  const nodes: Node[] = [];
  for (let i = 0; i < n; i++) {
    const cache = Cache.open({ path: tmpRegion(`cluster19-${name}-${i}`), size: '4mb' });
    const server = createServer({ cache });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    nodes.push({ cache, server, id: `127.0.0.1:${(server.address() as AddressInfo).port}` });
  }
  const first = at(nodes, 0, 'nodes');
  const ids = nodes.map((x) => x.id);
  const owned: { close(): unknown }[] = [];
  return {
    nodes,
    ids,
    self: first.id,
    local: first.cache,
    hybrid: { nodes: ids, self: first.id, cache: first.cache },
    own(c) {
      owned.push(c);
      return c;
    },
    async close() {
      for (const c of owned.reverse()) await c.close();
      for (const x of nodes) {
        await new Promise<void>((r) => x.server.close(() => r()));
        x.cache.close();
      }
    },
  };
}

/** Runs `body` over `n` fresh nodes (see {@link startNodes}); closes what it owns, then the nodes, however it ends. */
async function withNodes(name: string, n: number, body: (env: Nodes) => Promise<void>): Promise<void> {
  const env = await startNodes(name, n);
  try {
    await body(env);
  } finally {
    await env.close();
  }
}

/** The node whose store holds `key` for this cluster. */
function storeOf(env: Nodes, cluster: { nodeFor(k: string): string | undefined }, key: string): Cache {
  const id = cluster.nodeFor(key);
  const node = env.nodes.find((x) => x.id === id);
  if (node === undefined) throw new Error(`no node for ${key}`);
  return node.cache;
}

/** `count` keys, with at least one owned by each of the first `minNodes` distinct nodes. */
function keysOver(cluster: { nodeFor(k: string): string | undefined }, prefix: string, count: number): string[] {
  const keys = Array.from({ length: count }, (_, i) => `${prefix}:${i}`);
  const owners = new Set(keys.map((k) => cluster.nodeFor(k)));
  if (owners.size < 3) throw new Error(`keys of ${prefix} reach only ${owners.size} nodes`);
  return keys;
}

/** A resizable ArrayBuffer (ES2024, in Node 20; typed here by hand, as the project's lib predates it). */
interface Resizable extends ArrayBuffer {
  resize(byteLength: number): void;
}
function resizable(byteLength: number): Resizable {
  const RAB = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Resizable;
  return new RAB(byteLength, { maxByteLength: byteLength });
}

/** A key the hybrid cluster stores locally and one it sends to a remote node, from `prefix`'s keys. */
function localAndRemote(hybrid: Cluster, prefix: string): { local: string; remote: string } {
  const keys = keysOver(hybrid, prefix, 30);
  return {
    local: must(
      keys.find((k) => hybrid.isLocal(k)),
      'a local key',
    ),
    remote: must(
      keys.find((k) => !hybrid.isLocal(k)),
      'a remote key',
    ),
  };
}

async function collect<X>(it: AsyncIterable<X>): Promise<X[]> {
  const out: X[] = [];
  for await (const x of it) out.push(x);
  return out;
}

test('codec json: a value set through the Cluster reads back through Cache on its node, a remote-only Cluster, and the other way round', () =>
  withNodes('json', 3, async (env) => {
    const hybrid = env.own(
      new Cluster<{ id: number; tags: string[] }>({
        ...env.hybrid,
        codec: 'json',
      }),
    );
    const remote = env.own(new Cluster<{ id: number; tags: string[] }>({ nodes: env.ids, codec: 'json' }));
    const keys = keysOver(hybrid, 'user', 30);
    assert.ok(keys.some((k) => hybrid.isLocal(k)) && keys.some((k) => !hybrid.isLocal(k)));
    for (const [i, k] of keys.entries()) await hybrid.set(k, { id: i, tags: ['a', `t${i}`] });
    for (const [i, k] of keys.entries()) {
      const want = { id: i, tags: ['a', `t${i}`] };
      assert.equal(await hybrid.get(k), want, `hybrid ${k}`);
      assert.equal(await remote.get(k), want, `remote ${k}`);
      // The node's store holds the JSON text, tagged 'json' (tag 2) in the flags' top 4 bits.
      const store = storeOf(env, hybrid, k);
      const raw = store.gets(k)!;
      assert.is(raw.value.toString(), JSON.stringify(want));
      assert.is(raw.flags >>> 28, 2);
      const asJson = Cache.open({ path: store.path, codec: 'json' });
      assert.equal(asJson.get(k), want);
      asJson.close();
    }
    assert.equal(await remote.getMany(keys), await hybrid.getMany(keys));
    // The other way round: a Cache with codec json on each node's store writes, the Cluster reads.
    for (const [i, node] of env.nodes.entries()) {
      const k = keys.find((x) => hybrid.nodeFor(x) === node.id)!;
      const c = Cache.open({ path: node.cache.path, codec: 'json' });
      c.set(k, { id: 100 + i, tags: [] });
      c.close();
      assert.equal(await hybrid.get(k), { id: 100 + i, tags: [] });
      assert.equal(await remote.get(k), { id: 100 + i, tags: [] });
    }
  }));

test('codec string / v8 / custom round-trip through remote and local nodes; flags keep the caller 28 bits', () =>
  withNodes('codecs', 3, async (env) => {
    const str = env.own(new Cluster({ ...env.hybrid, codec: 'string' }));
    const v8 = env.own(new Cluster({ ...env.hybrid, codec: 'v8' }));
    const upper = {
      tag: 9,
      name: 'upper',
      encode: (s: string) => Buffer.from(s.toUpperCase()),
      decode: (b: Buffer) => b.toString().toLowerCase(),
    };
    const custom = env.own(new Cluster({ nodes: env.ids, codec: upper }));
    const keys = keysOver(str, 'k', 30);
    for (const k of keys) {
      await str.set(k, `héllo ${k}`, { flags: 5 });
      const s: string | undefined = await str.get(k); // typed by the codec
      assert.is(s, `héllo ${k}`);
      const info = await str.gets(k);
      assert.is(info?.flags, 5);
      assert.is(storeOf(env, str, k).gets(k)!.flags, (1 << 28) + 5);
    }
    const value = new Map<string, unknown>([
      ['when', new Date(1_700_000_000_000)],
      ['n', 2n ** 70n],
      ['set', new Set([1, 2])],
      ['bytes', new Uint8Array([1, 2, 3])],
    ]);
    for (const k of keys) await v8.set(k, value);
    for (const k of keys) assert.equal(await v8.get(k), value, k);
    for (const k of keys) await custom.set(k, 'abc');
    for (const k of keys) {
      assert.is(await custom.get(k), 'abc');
      const raw = storeOf(env, custom, k).gets(k)!;
      assert.is(raw.value.toString(), 'ABC');
      assert.is(raw.flags >>> 28, 9);
    }
    // Flags over 28 bits under a codec: the RangeError Cache gives, nothing sent.
    const e = await rejects(str.set(at(keys, 1), 'x', { flags: 0x10000000 }));
    assert.instance(e, RangeError);
    assert.is((e as RangeError & { code: string }).code, 'ERR_OUT_OF_RANGE');
  }));

test('a wrong-codec read is CacheError ERR_CODEC_MISMATCH on local and remote keys alike; bytes reads the raw item', () =>
  withNodes('mismatch', 3, async (env) => {
    const opts = env.hybrid;
    const json = env.own(new Cluster({ ...opts, codec: 'json' }));
    const str = env.own(new Cluster({ ...opts, codec: 'string' }));
    const bytes = env.own(new Cluster(opts));
    const remoteStr = env.own(new Cluster({ nodes: env.ids, codec: 'string' }));
    const keys = keysOver(json, 'mm', 30);
    for (const k of keys) await json.set(k, { k });
    const local = keys.find((k) => json.isLocal(k))!;
    const far = keys.find((k) => !json.isLocal(k))!;
    for (const [c, k] of [
      [str, local],
      [str, far],
      [remoteStr, local],
    ] as const) {
      for (const read of [() => c.get(k), () => c.gets(k), () => c.getMany([k]), () => c.gat(k, 100)]) {
        const e = await rejects(read());
        assert.instance(e, CacheError);
        assert.is((e as CacheError).code, 'ERR_CODEC_MISMATCH');
        assert.match(e.message, /stored with codec 'json', read with 'string'/);
      }
    }
    // The connection survives a decode refusal: the next request on it is answered.
    assert.equal(await json.get(far), { k: far });
    // A Cache with the wrong codec on the node's store refuses it the same way.
    const wrong = Cache.open({ path: storeOf(env, json, far).path, codec: 'string' });
    const e2 = (() => {
      try {
        wrong.get(far);
      } catch (err) {
        return err as CacheError;
      }
      throw new Error('expected a throw');
    })();
    wrong.close();
    assert.is(e2.code, 'ERR_CODEC_MISMATCH');
    // 'bytes' reads the stored bytes and all 32 flag bits, local or remote.
    for (const k of [local, far]) {
      const info = await bytes.gets(k);
      assert.is(info?.value.toString(), JSON.stringify({ k }));
      assert.is(info!.flags, 2 * 2 ** 28);
    }
  }));

test('bad encoders store nothing: a throwing encode is ERR_CODEC_ENCODE, a non-Uint8Array result a TypeError', () =>
  withNodes('badenc', 3, async (env) => {
    const throwing = env.own(
      new Cluster({
        ...env.hybrid,
        codec: {
          encode(_v: number): Uint8Array {
            throw new Error('nope');
          },
          decode: (b: Buffer) => b.length,
        },
      }),
    );
    const notBytes = env.own(
      new Cluster({
        ...env.hybrid,
        codec: { encode: (_v: number) => 'str' as unknown as Uint8Array, decode: (b: Buffer) => b.length },
      }),
    );
    const keys = keysOver(throwing, 'enc', 30);
    for (const k of keys) {
      const e = await rejects(throwing.set(k, 1));
      assert.instance(e, CacheError);
      assert.is((e as CacheError).code, 'ERR_CODEC_ENCODE');
      const e2 = await rejects(notBytes.set(k, 1));
      assert.instance(e2, TypeError);
      assert.is((e2 as TypeError & { code: string }).code, 'ERR_INVALID_RETURN_VALUE');
    }
    // setMany checks (encodes) every entry before storing any.
    const e3 = await rejects(throwing.setMany(keys.map((k) => [k, 1] as const)));
    assert.is((e3 as CacheError).code, 'ERR_CODEC_ENCODE');
    for (const k of keys) assert.is(await throwing.has(k), false, k);
    for (const x of env.nodes) assert.is(x.cache.size, 0);
  }));

test('ttl: 3_600_000 (an hour in ms) is RangeError ERR_TTL_IN_PAST on every node, and nothing is sent or stored', () =>
  withNodes('ttl1970', 3, async (env) => {
    const c = env.own(new Cluster({ ...env.hybrid }));
    const keys = keysOver(c, 't', 30);
    for (const k of keys) {
      for (const op of [
        () => c.set(k, 'v', { ttl: 3_600_000 }),
        () => c.add(k, 'v', { ttl: 3_600_000 }),
        () => c.setMany([[k, 'v']], { ttl: 3_600_000 }),
        () =>
          c.batch([{ op: 'set', key: k, value: 'v', ttl: 3_600_000 }]).then((r) => {
            const r0 = at(r, 0, 'results');
            if (!r0.ok) throw Object.assign(new RangeError(r0.error.message), { code: r0.error.code });
          }),
      ]) {
        const e = await rejects(op());
        assert.instance(e, RangeError, k);
        assert.is((e as RangeError & { code: string }).code, 'ERR_TTL_IN_PAST');
        assert.match(e.message, /ttl is in seconds; 3600000 is an absolute Unix time in 1970/);
      }
      assert.is(await c.has(k), false);
    }
    // Already stored: a touch or gat with that ttl is refused and the item keeps its expiry.
    for (const k of keys) await c.set(k, 'v');
    for (const k of keys) {
      for (const op of [() => c.touch(k, 3_600_000), () => c.gat(k, 3_600_000), () => c.gats(k, 3_600_000)]) {
        const e = await rejects(op());
        assert.is((e as RangeError & { code: string }).code, 'ERR_TTL_IN_PAST', k);
      }
      assert.is((await c.get(k))?.toString(), 'v');
    }
    // Negative ttl keeps memcached's meaning on the wire: stored already expired.
    await c.set(at(keys, 0), 'gone', { ttl: -1 });
    assert.is(await c.get(at(keys, 0)), undefined);
  }));

test('ttlMs and expiresAt on remote and local keys expire on the node clock (set, add, cas, setMany, touch, gat)', () =>
  withNodes('ttlms', 3, async (env) => {
    const c = env.own(new Cluster({ ...env.hybrid, codec: 'json' }));
    const keys = keysOver(c, 'ms', 30);
    await c.setMany(
      keys.map((k) => [k, { k }] as const),
      { ttlMs: 60_000 },
    );
    const when = new Date(Date.now() + 10 * 60_000);
    for (const k of keys.slice(0, 10)) await c.set(k, { k }, { expiresAt: when });
    for (const k of keys.slice(10, 20)) {
      const info = (await c.gets(k))!;
      assert.is(await c.cas(k, { k, again: true }, info.cas, { ttlMs: 120_000 }), 'stored');
      assert.equal(await c.get(k), { k, again: true });
    }
    const never = at(keys, 25);
    await c.set(never, 'forever');
    assert.is(await c.touch(at(keys, 26), { ttlMs: 600_000 }), true);
    assert.equal(await c.gat(at(keys, 27), { expiresAt: when.getTime() }), { k: keys[27] });
    for (const x of env.nodes) x.cache.advanceClock(62);
    for (const k of keys.slice(0, 10)) assert.equal(await c.get(k), { k }, `expiresAt ${k}`);
    for (const k of keys.slice(10, 20)) assert.equal(await c.get(k), { k, again: true }, `cas ttlMs ${k}`);
    for (const k of keys.slice(20, 25)) assert.is(await c.get(k), undefined, `ttlMs 60 s ${k}`);
    assert.ok(await c.has(at(keys, 26)));
    assert.ok(await c.has(at(keys, 27)));
    for (const x of env.nodes) x.cache.advanceClock(600);
    for (const k of keys.slice(0, 20)) assert.is(await c.get(k), undefined, k);
    assert.is(await c.has(at(keys, 26)), false);
    assert.is(await c.has(at(keys, 27)), false);
    assert.is(await c.get(never), 'forever');
    // The other spellings' errors, as Cache gives them.
    const e1 = await rejects(c.set(never, 1, { expiresAt: new Date(Date.now() - 1000) }));
    assert.is((e1 as RangeError & { code: string }).code, 'ERR_TTL_IN_PAST');
    const e2 = await rejects(c.set(never, 1, { ttl: 5, ttlMs: 5000 }));
    assert.instance(e2, TypeError);
    const e3 = await rejects(c.set(never, 1, { ttlMs: -1 }));
    assert.instance(e3, RangeError);
    assert.is(await c.get(never), 'forever');
  }));

test('has, gets/cas per node, getInto, delete: local and remote keys alike', () =>
  withNodes('cas', 3, async (env) => {
    const c = env.own(new Cluster({ ...env.hybrid }));
    const far = env.own(new Cluster({ nodes: env.ids }));
    const keys = keysOver(c, 'c', 30);
    for (const k of keys) {
      assert.is(await c.has(k), false);
      assert.is(await c.gets(k), undefined);
      assert.is(await c.cas(k, 'x', 1n), 'not_found');
      await c.set(k, `v:${k}`, { flags: 7 });
      assert.is(await c.has(k), true);
      assert.is(await far.has(k), true);
      const info = (await c.gets(k))!;
      assert.is(info.value.toString(), `v:${k}`);
      assert.is(info.flags, 7);
      // The token is the owning node's own CAS unique.
      assert.is(info.cas, storeOf(env, c, k).gets(k)!.cas);
      assert.equal((await far.gets(k))!.cas, info.cas);
      assert.is(await c.cas(k, 'new', info.cas), 'stored');
      assert.is(await far.cas(k, 'stale', info.cas), 'exists');
      const again = (await far.gets(k))!;
      assert.is(again.value.toString(), 'new');
      assert.is(await far.cas(k, 'far', again.cas, { flags: 3 }), 'stored');
      const g = (await c.gats(k, 100))!;
      assert.is(g.value.toString(), 'far');
      assert.is(g.flags, 3);
      const target = Buffer.alloc(8, 0x2e);
      assert.is(await c.getInto(k, target, 2), 3);
      assert.is(target.toString(), '..far...');
      const small = Buffer.alloc(2);
      assert.is(await c.getInto(k, small), 3); // too small: the length, nothing copied
      assert.equal([...small], [0, 0]);
      assert.is(await c.delete(k), true);
      assert.is(await c.getInto(k, target), undefined);
      assert.is(await far.has(k), false);
    }
    const bad = await rejects(c.cas(at(keys, 0), 'x', -1n));
    assert.instance(bad, RangeError);
    const badTarget = await rejects(c.getInto(at(keys, 1), 'no' as never));
    assert.instance(badTarget, TypeError);
    const badOffset = await rejects(c.getInto(at(keys, 1), Buffer.alloc(2), 3));
    assert.instance(badOffset, RangeError);
  }));

test('setMany over every node, size sums curr_items, flushAll/clear empty every node; a bad entry stores nothing', () =>
  withNodes('many', 3, async (env) => {
    const c = env.own(new Cluster<string>({ ...env.hybrid, codec: 'string' }));
    const keys = keysOver(c, 'm', 60);
    const bad = await rejects(c.setMany([...keys.map((k) => [k, k] as [string, string]), ['a b', 'x']]));
    assert.instance(bad, TypeError);
    assert.match(bad.message, /entries\[60\]\[0\]/);
    assert.is(await c.size, 0);
    for (const x of env.nodes) assert.is(x.cache.size, 0);
    await c.setMany(keys.map((k) => [k, `v:${k}`]));
    assert.equal(
      await c.getMany(keys),
      keys.map((k) => `v:${k}`),
    );
    assert.is(await c.size, 60);
    for (const x of env.nodes) assert.ok(x.cache.size > 0, `${x.id} got some`);
    assert.is(
      env.nodes.reduce((n, x) => n + x.cache.size, 0),
      60,
    );
    await c.clear();
    assert.equal(
      await c.getMany(keys),
      keys.map(() => undefined),
    );
    await c.setMany(keys.map((k) => [k, 'again']));
    await c.flushAll();
    for (const k of keys) assert.is(await c.has(k), false);
    const e = await rejects(c.flushAll(-1));
    assert.instance(e, RangeError);
  }));

test('batch runs has, gets and cas beside the pool operations', () =>
  withNodes('batch', 3, async (env) => {
    const c = env.own(new Cluster({ ...env.hybrid, codec: 'json' }));
    const keys = keysOver(c, 'b', 30);
    await c.setMany(keys.map((k) => [k, { k }]));
    const r1 = await c.batch(
      keys.flatMap((key) => [
        { op: 'has' as const, key },
        { op: 'gets' as const, key },
      ]),
    );
    const casOps = keys.map((key, i) => {
      assert.equal(r1[2 * i], { ok: true, value: true });
      const got = at(r1, 2 * i + 1, 'r1');
      if (!got.ok) throw new Error(got.error.message);
      const info = got.value as { value: unknown; cas: bigint };
      assert.equal(info.value, { k: key });
      return { op: 'cas' as const, key, value: { k: key, n: 2 }, cas: i % 2 === 0 ? info.cas : info.cas + 1000n, ttlMs: 60_000 };
    });
    const r2 = await c.batch(casOps);
    for (const [i, r] of r2.entries()) assert.equal(r, { ok: true, value: i % 2 === 0 ? 'stored' : 'exists' });
    const r3 = await c.batch([
      { op: 'has', key: 'absent' },
      { op: 'gets', key: 'a b' },
      { op: 'set', key: at(keys, 0), value: 1, ttl: 3_600_000 },
    ]);
    assert.equal(r3[0], { ok: true, value: false });
    assert.is(at(r3, 1, 'r3').ok, false);
    const r32 = at(r3, 2, 'r3');
    assert.is(!r32.ok && r32.error.code, 'ERR_TTL_IN_PAST');
  }));

test('keys/entries over local stores; a node with its lru crawler off rejects keys() with ERR_NODE_ERROR', () =>
  withNodes('keys', 2, async (env) => {
    // A one-node cluster whose node is this process's store: keys() is the store's crawl.
    const solo = env.own(new Cluster({ nodes: [env.self], self: env.ids[0], cache: env.local, codec: 'json' }));
    const both = env.own(new Cluster({ ...env.hybrid, codec: 'json' }));
    const keys = Array.from({ length: 300 }, (_, i) => `solo:${i}:é`);
    await solo.setMany(keys.map((k) => [k, { k }]));
    assert.equal((await collect(solo.keys())).sort(), [...keys].sort());
    const entries = await collect(solo.entries());
    assert.is(entries.length, 300);
    for (const [k, v] of entries) assert.equal(v, { k });
    assert.is((await collect(solo)).length, 300);
    assert.is(await solo.size, 300);
    // createServer's crawler is off by default (lru_crawler metadump refused): the remote node's
    // error, after the local keys.
    const seen: string[] = [];
    const e = await rejects(
      (async () => {
        for await (const k of both.keys()) seen.push(k);
      })(),
    );
    assert.instance(e, ClusterError);
    assert.is((e as ClusterError).code, 'ERR_NODE_ERROR');
    assert.is((e as ClusterError).node, env.ids[1]);
    assert.is(seen.length, 300);
    // The node is not counted as failing: the dump had a connection of its own.
    assert.is(must(both.stats().nodes[at(env.ids, 1)], 'node 1 stats').failures, 0);
  }));

test("the local store is read and written raw through the Cluster's codec, whatever codec its handle has", () =>
  withNodes('rawlocal', 2, async (env) => {
    const jsonHandle = env.own(Cache.open({ path: env.local.path, codec: 'json' }));
    const c = env.own(new Cluster({ nodes: env.ids, self: env.ids[0], cache: jsonHandle, codec: 'string' }));
    const k = Array.from({ length: 50 }, (_, i) => `raw:${i}`).find((x) => c.isLocal(x))!;
    await c.set(k, 'text', { flags: 1 });
    assert.is(await c.get(k), 'text');
    const raw = env.local.gets(k)!;
    assert.is(raw.flags, (1 << 28) + 1); // 'string' tag, not 'json'
    // The handle's own codec still guards its own calls.
    assert.throws(
      () => jsonHandle.get(k),
      (e: CacheError) => e.code === 'ERR_CODEC_MISMATCH',
    );
    jsonHandle.set(k, { j: 1 });
    assert.is(((await rejects(c.get(k))) as CacheError).code, 'ERR_CODEC_MISMATCH');
  }));

test('flushAll reaches every live node and tries ejected ones without failing on them', () =>
  withNodes('eject', 2, async (env) => {
    // A third node nobody listens on: its connection is refused, and one failure ejects it.
    const probe = createServer({ cache: env.local });
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const deadId = `127.0.0.1:${(probe.address() as AddressInfo).port}`;
    await new Promise<void>((r) => probe.close(() => r()));
    const c = env.own(new Cluster({ nodes: [...env.ids, deadId], self: env.ids[0], cache: env.local, failureLimit: 1 }));
    const onDead = Array.from({ length: 200 }, (_, i) => `d:${i}`).find((k) => c.nodeFor(k) === deadId)!;
    const e = await rejects(c.get(onDead));
    assert.is((e as ClusterError).code, 'ERR_NODE_UNREACHABLE');
    assert.is(must(c.stats().nodes[deadId], 'dead node stats').ejected, true);
    const keys = keysOverTwo(c, 'e', 40);
    await c.setMany(keys.map((k) => [k, 'v']));
    assert.is(await c.size, 40);
    await c.flushAll();
    for (const k of keys) assert.is(await c.has(k), false);
    // With the node on the ring and down, flushAll rejects with its failure.
    const strict = new Cluster({ nodes: [...env.ids, deadId], autoEject: false });
    const e2 = await rejects(strict.flushAll());
    assert.is((e2 as ClusterError).code, 'ERR_NODE_UNREACHABLE');
    await strict.close();
  }));

/** `count` keys over at least two nodes (for two-node clusters). */
function keysOverTwo(cluster: { nodeFor(k: string): string | undefined }, prefix: string, count: number): string[] {
  const keys = Array.from({ length: count }, (_, i) => `${prefix}:${i}`);
  if (new Set(keys.map((k) => cluster.nodeFor(k))).size < 2) throw new Error(`keys of ${prefix} reach one node`);
  return keys;
}

// ---------- real memcached nodes (the interop lane) ----------

const mtest = memcachedTest(test, import.meta.url);

mtest(
  'memcached nodes: codec values readable by memcached clients, keys()/entries() via lru_crawler metadump, size, clear, 1970 ttl',
  async () => {
    const mcs: Memcached[] = [];
    const env = await startNodes('mc', 1);
    try {
      for (let i = 0; i < 2; i++) mcs.push(await startMemcached(['-m', '16']));
      const ids = [env.self, ...mcs.map((m) => `127.0.0.1:${m.port}`)];
      const c = new Cluster({ nodes: ids, self: ids[0], cache: env.local, codec: 'json' });
      try {
        const keys = keysOver(c, 'mc:é', 90);
        await c.setMany(keys.map((k) => [k, { k, n: k.length }]));
        // What memcached holds is the JSON text with the 'json' tag in the flags, for any client.
        for (const k of keys.filter((x) => !c.isLocal(x))) {
          const m = at(mcs, ids.indexOf(must(c.nodeFor(k), k)) - 1, 'mcs');
          const got = await m.get(Buffer.from(k));
          assert.is(got?.value.toString(), JSON.stringify({ k, n: k.length }));
          assert.is(got!.flags >>> 28, 2);
        }
        assert.equal((await collect(c.keys())).sort(), [...keys].sort());
        // While a writer adds and deletes other keys, every key live for the whole walk is yielded.
        let writing = true;
        const writer = (async () => {
          let i = 0;
          for (; writing; i++) {
            await c.set(`churn:${i}`, i);
            if (i >= 10) await c.delete(`churn:${i - 10}`);
          }
          for (let j = Math.max(0, i - 10); j < i; j++) await c.delete(`churn:${j}`);
        })();
        for (let round = 0; round < 3; round++) {
          const seen = new Set(await collect(c.keys()));
          for (const k of keys) assert.ok(seen.has(k), `round ${round}: ${k} missing`);
        }
        writing = false;
        await writer;
        const entries = await collect(c.entries());
        assert.is(entries.length, keys.length);
        for (const [k, v] of entries) assert.equal(v, { k, n: k.length });
        assert.is(await c.size, keys.length);
        // gets/cas and has on memcached nodes.
        const far = keys.find((k) => !c.isLocal(k))!;
        assert.is(await c.has(far), true);
        const info = (await c.gets(far))!;
        assert.is(await c.cas(far, { k: far, n: 0 }, info.cas), 'stored');
        assert.is(await c.cas(far, { k: far, n: 1 }, info.cas), 'exists');
        // The 1970 ttl never reaches memcached; ttlMs does, as relative seconds.
        const e = await rejects(c.set(far, 1, { ttl: 3_600_000 }));
        assert.is((e as RangeError & { code: string }).code, 'ERR_TTL_IN_PAST');
        assert.equal(await c.get(far), { k: far, n: 0 });
        await c.set(far, 2, { ttlMs: 3_600_000 });
        assert.is(await c.get(far), 2);
        // A value a memcached client wrote untagged is refused by the json codec, read by bytes.
        const m0 = at(mcs, ids.indexOf(must(c.nodeFor(far), far)) - 1, 'mcs');
        await m0.set(Buffer.from(far), 'plain');
        assert.is(((await rejects(c.get(far))) as CacheError).code, 'ERR_CODEC_MISMATCH');
        await c.clear();
        assert.equal(await collect(c.keys()), []);
        for (const k of keys) assert.is(await c.has(k), false);
        await c.close();
      } finally {
        await c.close();
      }
    } finally {
      for (const m of mcs) await m.stop();
      await env.close();
    }
  },
);

test('fetch under a codec: the loader returns a T, stored tagged on local and remote nodes; hits decode', () =>
  withNodes('fetch', 3, async (env) => {
    const hybrid = env.own(new Cluster<{ id: number }>({ ...env.hybrid, codec: 'json' }));
    const keys = keysOver(hybrid, 'f', 30);
    let loads = 0;
    for (const [i, k] of keys.entries()) {
      const v = await hybrid.fetch(k, () => {
        loads++;
        return { id: i };
      });
      assert.equal(v, { id: i }, `loaded ${k}`);
      const raw = storeOf(env, hybrid, k).gets(k);
      assert.ok(raw !== undefined, `stored ${k}`);
      assert.is(raw.value.toString(), JSON.stringify({ id: i }));
      assert.is(raw.flags >>> 28, 2, `json tag on ${k}`);
    }
    assert.is(loads, keys.length);
    for (const [i, k] of keys.entries()) {
      assert.equal(await hybrid.fetch(k, () => ({ id: -1 })), { id: i }, `hit ${k}`);
    }
    assert.is(loads, keys.length);
    // A value of another codec on the node is the same mismatch as a get's.
    const k0 = keys[0] as string;
    const bytes = new Cluster({ nodes: env.ids });
    await bytes.set(k0, 'plain bytes');
    const e = await rejects(hybrid.fetch(k0, () => ({ id: 0 })));
    assert.instance(e, CacheError);
    assert.is((e as CacheError).code, 'ERR_CODEC_MISMATCH');
    await bytes.close();
  }));

test('keys/entries over our own server nodes with the lru crawler on (lru_crawler metadump all)', async () => {
  const caches: Cache[] = [];
  const servers: Server[] = [];
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const cache = Cache.open({ path: tmpRegion(`cluster19-crawl-${i}`), size: '4mb' });
    const server = createServer({ cache, lruCrawler: true });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    caches.push(cache);
    servers.push(server);
    ids.push(`127.0.0.1:${(server.address() as AddressInfo).port}`);
  }
  const cluster = new Cluster<{ n: number }>({ nodes: ids, codec: 'json' });
  try {
    const keys = Array.from({ length: 200 }, (_, i) => `crawl:${i}:é`);
    await cluster.setMany(keys.map((k, n) => [k, { n }]));
    assert.equal((await collect(cluster.keys())).sort(), [...keys].sort());
    const entries = await collect(cluster.entries());
    assert.is(entries.length, keys.length);
    for (const [k, v] of entries) assert.is(v.n, keys.indexOf(k));
    assert.is(await cluster.size, keys.length);
  } finally {
    await cluster.close();
    for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
    for (const c of caches) c.close();
  }
});

test('a view of a detached ArrayBuffer is TypeError ERR_INVALID_ARG_VALUE on local and remote keys alike, and stores nothing', () =>
  withNodes('detached', 3, async (env) => {
    const hybrid = env.own(new Cluster({ ...env.hybrid }));
    const { local, remote } = localAndRemote(hybrid, 'det');
    const detached = (): Uint8Array => {
      const u = new Uint8Array(8).fill(65);
      structuredClone(u.buffer, { transfer: [u.buffer] });
      assert.is(u.byteLength, 0, 'detached');
      return u;
    };
    const codeOf = async (p: Promise<unknown>) => {
      const e = await rejects(p);
      return `${e.name}:${e.code}`;
    };
    const bad = 'TypeError:ERR_INVALID_ARG_VALUE';
    for (const k of [local, remote]) {
      await hybrid.set(k, 'before');
      assert.is(await codeOf(hybrid.set(k, detached())), bad, `set ${k}`);
      assert.is(await codeOf(hybrid.append(k, detached())), bad, `append ${k}`);
      assert.is(await codeOf(hybrid.setMany([[k, detached()]])), bad, `setMany ${k}`);
      assert.is((await hybrid.get(k))?.toString(), 'before', `${k} unchanged`);
    }
    assert.is(await codeOf(hybrid.set(detached(), 'v')), bad, 'a detached key');
    assert.is(await codeOf(hybrid.getMany([local, detached()])), bad, 'a detached key in getMany');
    // getInto's target: detached before the call, local or remote key; and, for a remote key,
    // detached or shrunk after the call, before the node's reply is copied into it.
    for (const k of [local, remote]) assert.is(await codeOf(hybrid.getInto(k, detached())), bad, `getInto ${k}, detached target`);
    await hybrid.set(remote, 'hello');
    const late = new Uint8Array(8);
    const p = hybrid.getInto(remote, late, 1);
    structuredClone(late.buffer, { transfer: [late.buffer] });
    assert.is(await codeOf(p), bad, 'getInto, target detached before the reply');
    const ab = resizable(16);
    const shrunk = hybrid.getInto(remote, new Uint8Array(ab), 10);
    ab.resize(4);
    assert.is(await codeOf(shrunk), 'RangeError:ERR_OUT_OF_RANGE', 'getInto, offset past the end of a shrunk target');
    assert.is((await hybrid.get(remote))?.toString(), 'hello');
  }));

test('a Proxy of a Uint8Array key or value is TypeError ERR_INVALID_ARG_TYPE on local and remote keys alike, no trap runs', () =>
  withNodes('proxy', 3, async (env) => {
    const hybrid = env.own(new Cluster({ ...env.hybrid }));
    const { local, remote } = localAndRemote(hybrid, 'prx');
    let traps = 0;
    const spy = (b: Buffer): Buffer =>
      new Proxy(b, {
        get(t, p) {
          traps++;
          return Reflect.get(t, p);
        },
      });
    const codeOf = async (p: Promise<unknown>) => {
      const e = await rejects(p);
      return `${e.name}:${e.code}`;
    };
    const bad = 'TypeError:ERR_INVALID_ARG_TYPE';
    for (const k of [local, remote]) {
      await hybrid.set(k, 'before');
      assert.is(await codeOf(hybrid.set(k, spy(Buffer.from('v')))), bad, `set ${k}`);
      assert.is(await codeOf(hybrid.setMany([[k, spy(Buffer.from('v'))]])), bad, `setMany ${k}`);
      assert.is(await codeOf(hybrid.set(spy(Buffer.from(k)), 'v')), bad, `set, key ${k}`);
      assert.is(await codeOf(hybrid.getMany([local, spy(Buffer.from(k))])), bad, `getMany, key ${k}`);
      assert.is((await hybrid.get(k))?.toString(), 'before', `${k} unchanged`);
    }
    assert.is(traps, 0, 'no trap ran');
  }));

test('options are read once: a ttl getter that answers otherwise the second time cannot change what a local store keeps', () =>
  withNodes('opts-once', 3, async (env) => {
    const hybrid = env.own(new Cluster({ ...env.hybrid }));
    const local = must(
      keysOver(hybrid, 'once', 30).find((k) => hybrid.isLocal(k)),
      'a local key',
    );
    let reads = 0;
    // 100 s when checked; already expired if read again.
    const fickle = () => ({
      get ttl() {
        return reads++ === 0 ? 100 : -1;
      },
      flags: 7,
    });
    reads = 0;
    await hybrid.set(local, 'set', fickle());
    assert.is(reads, 1, 'set: the ttl read once');
    assert.equal({ v: (await hybrid.gets(local))?.value.toString(), flags: (await hybrid.gets(local))?.flags }, { v: 'set', flags: 7 });
    reads = 0;
    await hybrid.setMany([[local, 'setMany']], fickle());
    assert.is(reads, 1, 'setMany: the ttl read once');
    assert.is((await hybrid.get(local))?.toString(), 'setMany');
    const info = must(await hybrid.gets(local), 'the item');
    reads = 0;
    assert.is(await hybrid.cas(local, 'cas', info.cas, fickle()), 'stored');
    assert.is(reads, 1, 'cas: the ttl read once');
    assert.is((await hybrid.get(local))?.toString(), 'cas');
  }));

test("batch(): an operation whose field getter throws is that operation's result, the others run", () =>
  withNodes('batch-throw', 3, async (env) => {
    const hybrid = env.own(new Cluster({ ...env.hybrid }));
    const [k1, k2] = keysOver(hybrid, 'bt', 30);
    const boom = {
      op: 'set',
      get key(): string {
        throw new Error('boom');
      },
      value: 'x',
    } as ClusterOp;
    let r: Awaited<ReturnType<typeof hybrid.batch>> | undefined;
    try {
      r = await hybrid.batch([{ op: 'set', key: must(k1, 'k1'), value: '1' }, boom, { op: 'set', key: must(k2, 'k2'), value: '2' }]);
    } catch (e) {
      assert.unreachable(`batch threw: ${String(e)}`);
    }
    assert.equal(r, [
      { ok: true, value: undefined },
      { ok: false, error: { name: 'Error', code: undefined, message: 'boom' } },
      { ok: true, value: undefined },
    ]);
    assert.is((await hybrid.get(must(k2, 'k2')))?.toString(), '2');
  }));

test.run();
