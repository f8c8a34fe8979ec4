/**
 * The Cluster client facing a hostile or broken node: a loopback net.Server that answers each
 * command with scripted bytes. Whatever the node sends, every call settles with a coded error
 * (ClusterError, or the local store's error for the same condition) or a right answer: never an
 * uncaught exception, never a value for another key or a field the protocol cannot carry, never
 * a wait past the configured timeout, and what a node can make the client hold stays bounded.
 * The limits and the outcome of each attack are in docs/api.md ("A hostile or broken node").
 */
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Cluster, ClusterError } from '../src/index.js';
import { must, rejects } from './helpers.js';

interface FakeNode {
  id: string;
  /** Connections accepted so far. */
  accepted: () => number;
  stop: () => Promise<void>;
}

/** A loopback node: `onConn` sees each connection. */
async function fakeNode(onConn: (s: Socket) => void): Promise<FakeNode> {
  const socks = new Set<Socket>();
  let accepted = 0;
  const srv = createServer((s) => {
    accepted++;
    socks.add(s);
    s.on('error', () => undefined);
    s.on('close', () => socks.delete(s));
    onConn(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const a = srv.address() as AddressInfo;
  return {
    id: `127.0.0.1:${a.port}`,
    accepted: () => accepted,
    stop: () => {
      for (const s of socks) s.destroy();
      return new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

/**
 * A node that hands each command line (data blocks of storage commands skipped) to `answer`,
 * which writes what it likes; a string it returns (or resolves with) is written as is. The
 * answers of one connection go out in order: the next line waits for an answer's promise.
 */
function scripted(answer: (line: string, s: Socket) => string | undefined | Promise<string | undefined>): Promise<FakeNode> {
  return fakeNode((s) => {
    let chain = Promise.resolve();
    let buf = '';
    let skip = 0;
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (;;) {
        if (skip > 0) {
          if (buf.length < skip) return;
          buf = buf.slice(skip);
          skip = 0;
        }
        const eol = buf.indexOf('\r\n');
        if (eol < 0) return;
        const line = buf.slice(0, eol);
        buf = buf.slice(eol + 2);
        const parts = line.split(' ');
        const cmd = parts[0] ?? '';
        if (['set', 'add', 'replace', 'append', 'prepend', 'cas'].includes(cmd)) skip = Number(parts[4]) + 2;
        else if (cmd === 'ms') skip = Number(parts[2]) + 2;
        chain = chain
          .then(() => answer(line, s))
          .then((out) => {
            if (out !== undefined && !s.destroyed) s.write(out, 'latin1');
          });
      }
    });
  });
}

/** The first key of a command line (`get k`, `mg k v`, `gat 10 k`, `set k ...`). */
function keyOf(line: string): string {
  const p = line.split(' ');
  return (p[0] === 'gat' || p[0] === 'gats' ? p[2] : p[1]) ?? '';
}

/** Polls `cond` every 20 ms until it holds or 5 s pass (the caller then asserts it). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 250 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
}

async function code(p: Promise<unknown>): Promise<string | undefined> {
  const e = await rejects(p);
  return e.code;
}

// ---------- retrieval headers ----------

/** What the node answers a `get <key>` with, for each garbled VALUE header. */
const BAD_VALUE_REPLIES: Record<string, string> = {
  hexlen: 'VALUE hexlen 0 0x2\r\nok\r\nEND\r\n',
  explen: 'VALUE explen 0 2e0\r\nok\r\nEND\r\n',
  pluslen: 'VALUE pluslen 0 +2\r\nok\r\nEND\r\n',
  emptylen: 'VALUE emptylen 0 \r\n\r\nEND\r\n',
  neglen: 'VALUE neglen 0 -1\r\n\r\nEND\r\n',
  hugelen: 'VALUE hugelen 0 2147483648\r\n',
  junklen: 'VALUE junklen 0 2x\r\nok\r\nEND\r\n',
  trailing: 'VALUE trailing 0 2 junk\r\nok\r\nEND\r\n',
  toomany: 'VALUE toomany 0 2 1 2\r\nok\r\nEND\r\n',
  nanflags: 'VALUE nanflags zz 2\r\nok\r\nEND\r\n',
  negflags: 'VALUE negflags -1 2\r\nok\r\nEND\r\n',
  bigflags: 'VALUE bigflags 4294967296 2\r\nok\r\nEND\r\n',
  emptyflags: 'VALUE emptyflags  2\r\nok\r\nEND\r\n',
  bigcas: 'VALUE bigcas 0 2 18446744073709551616\r\nok\r\nEND\r\n',
  nocrlf: 'VALUE nocrlf 0 2\r\nokEND\r\n',
  nokey: 'VALUE\r\nEND\r\n',
};

test('a garbled VALUE header or block: ERR_NODE_UNREACHABLE on that connection, never a value; the next call works', async () => {
  const node = await scripted((line) => {
    const k = keyOf(line);
    const fine = 'VALUE fine 4294967295 2 18446744073709551615\r\nok\r\n';
    if (line === 'get fine hexlen') return fine + (BAD_VALUE_REPLIES.hexlen ?? '');
    if (k === 'fine') return `${fine}END\r\n`;
    return BAD_VALUE_REPLIES[k] ?? 'END\r\n';
  });
  const c = new Cluster({ nodes: [node.id], timeout: 1000, autoEject: false, connections: 1 });
  try {
    for (const k of Object.keys(BAD_VALUE_REPLIES)) {
      const e = (await rejects(c.get(k))) as ClusterError;
      assert.instance(e, ClusterError, k);
      // A header that is not VALUE's at all ('VALUE' alone) is an answer line: ERR_NODE_ERROR.
      assert.is(e.code, k === 'nokey' ? 'ERR_NODE_ERROR' : 'ERR_NODE_UNREACHABLE', k);
      assert.is(e.node, node.id, k);
      // The highest flags and CAS the protocol carries are fine.
      assert.is(String(await c.get('fine')), 'ok', `after ${k}`);
    }
    // The same for the keys of a getMany.
    assert.is(await code(c.getMany(['fine', 'hexlen'])), 'ERR_NODE_UNREACHABLE');
  } finally {
    await c.close();
    await node.stop();
  }
});

test('a value past maxValueSize is dropped as it arrives, never buffered: RangeError ERR_VALUE_TOO_LARGE, the connection kept', async () => {
  const pause = () => new Promise((r) => setTimeout(r, 5));
  const node = await scripted((line, s) => {
    const k = keyOf(line);
    if (k === 'over') return `VALUE over 0 1025\r\n${'x'.repeat(1025)}\r\nEND\r\n`;
    if (k === 'split') {
      // The block in pieces: header and a little, the middle, the rest with END.
      return (async () => {
        s.write(`VALUE split 0 3000\r\n${'x'.repeat(10)}`);
        await pause();
        s.write('x'.repeat(2000));
        await pause();
        return `${'x'.repeat(990)}\r\nEND\r\n`;
      })();
    }
    if (k === 'at') return `VALUE at 0 1024\r\n${'y'.repeat(1024)}\r\nEND\r\n`;
    if (k === 'mg') return `VA 1025 f0 c1\r\n${'y'.repeat(1025)}\r\n`;
    if (k === 'mgsplit') {
      return (async () => {
        s.write(`VA 2000 f0 c1\r\n${'y'.repeat(100)}`);
        await pause();
        return `${'y'.repeat(1900)}\r\n`;
      })();
    }
    if (line === 'get a b') return `VALUE a 0 1\r\n1\r\nVALUE b 0 5000\r\n${'z'.repeat(5000)}\r\nEND\r\n`;
    if (k === 'slow') {
      // Declares one byte past the limit, then sends it slowly: the deadline ends it.
      s.write('VALUE slow 0 1025\r\n');
      const t = setInterval(() => (s.destroyed ? clearInterval(t) : s.write('x')), 20);
      s.on('close', () => clearInterval(t));
      return undefined;
    }
    if (k === 'default') return 'VALUE default 0 67108865\r\n';
    return 'END\r\n';
  });
  const c = new Cluster({ nodes: [node.id], timeout: 2000, autoEject: false, maxValueSize: 1024, connections: 1 });
  const d = new Cluster({ nodes: [node.id], timeout: 300, autoEject: false });
  try {
    for (const [what, call] of [
      ['get', () => c.get('over')],
      ['split', () => c.get('split')],
      ['gets', () => c.gets('mg')],
      ['gets split', () => c.gets('mgsplit')],
      ['getMany', () => c.getMany(['a', 'b'])],
    ] as Array<[string, () => Promise<unknown>]>) {
      // Pipelined behind it on the one connection: a get that must still get its own answer.
      const [e, next] = await Promise.all([rejects(call()), c.get('at')]);
      assert.instance(e, RangeError, what);
      assert.is(e.code, 'ERR_VALUE_TOO_LARGE', what);
      assert.match(e.message, 'maxValueSize', what);
      assert.is(must(next, what).length, 1024, what);
    }
    const s = must(c.stats().nodes[node.id], 'stats');
    assert.is(s.connects, 1, 'one connection all along');
    assert.is(s.failures, 0);
    assert.is(await code(c.get('slow')), 'ERR_NODE_TIMEOUT');
    // The default: 64 MiB, shmcached's largest item.
    assert.is(await code(d.get('default')), 'ERR_NODE_TIMEOUT');
    assert.throws(() => new Cluster({ nodes: [node.id], maxValueSize: 0 }), RangeError);
    assert.throws(() => new Cluster({ nodes: [node.id], maxValueSize: 2 ** 30 + 1 }), RangeError);
    assert.throws(() => new Cluster({ nodes: [node.id], maxValueSize: '1m' as never }), TypeError);
  } finally {
    await c.close();
    await d.close();
    await node.stop();
  }
});

test('more VALUE blocks than keys asked: refused at the first extra block, not buffered until the timeout', async () => {
  const node = await scripted((line, s) => {
    const k = keyOf(line);
    if (k === 'flood') {
      // Blocks for the asked key, without end: only the timeout would stop them.
      const block = Buffer.from('VALUE flood 0 1\r\nx\r\n'.repeat(1000), 'latin1');
      const pump = () => {
        while (!s.destroyed && s.write(block));
        if (!s.destroyed) s.once('drain', pump);
      };
      pump();
      return undefined;
    }
    if (k === 'twice') return 'VALUE twice 0 1\r\na\r\nVALUE twice 0 1\r\nb\r\nEND\r\n';
    if (line === 'get a b') return 'VALUE a 0 1\r\n1\r\nVALUE b 0 1\r\n2\r\nVALUE b 0 1\r\n3\r\nEND\r\n';
    if (line === 'get a a') return 'VALUE a 0 1\r\n1\r\nVALUE a 0 1\r\n1\r\nEND\r\n';
    return 'END\r\n';
  });
  const c = new Cluster({ nodes: [node.id], timeout: 10_000, autoEject: false, connections: 1 });
  try {
    const e = (await rejects(c.get('flood'))) as ClusterError;
    assert.is(e.code, 'ERR_NODE_UNREACHABLE', 'not ERR_NODE_TIMEOUT: refused at the second block');
    assert.match(e.message, 'more VALUE blocks than keys');
    assert.is(await code(c.get('twice')), 'ERR_NODE_UNREACHABLE');
    // getMany of two keys with a third block; of the same key twice (two answers are right).
    const both = c.nodeFor('a') === node.id && c.nodeFor('b') === node.id;
    assert.ok(both);
    assert.is(await code(c.getMany(['a', 'b'])), 'ERR_NODE_UNREACHABLE');
    assert.equal((await c.getMany(['a', 'a'])).map(String), ['1', '1']);
  } finally {
    await c.close();
    await node.stop();
  }
});

test('a VALUE for another key, or keys out of order: ERR_NODE_ERROR, never that value', async () => {
  const node = await scripted((line) => {
    if (line === 'get mine') return 'VALUE yours 0 1\r\nx\r\nEND\r\n';
    if (line === 'get a b') return 'VALUE b 0 1\r\n2\r\nVALUE a 0 1\r\n1\r\nEND\r\n';
    return 'END\r\n';
  });
  const c = new Cluster({ nodes: [node.id], timeout: 1000, autoEject: false });
  try {
    assert.is(await code(c.get('mine')), 'ERR_NODE_ERROR');
    assert.is(await code(c.getInto('mine', Buffer.alloc(10))), 'ERR_NODE_ERROR');
    assert.is(await code(c.getMany(['a', 'b'])), 'ERR_NODE_ERROR');
    assert.is(await c.get('other'), undefined);
  } finally {
    await c.close();
    await node.stop();
  }
});

// ---------- meta replies ----------

/** What the node answers `mg <key> v f c` with. */
const BAD_META: Record<string, string> = {
  nanflags: 'VA 2 fzz c1\r\nok\r\n',
  bigflags: 'VA 2 f4294967296 c1\r\nok\r\n',
  negflags: 'VA 2 f-1 c1\r\nok\r\n',
  emptyflags: 'VA 2 f c1\r\nok\r\n',
  nancas: 'VA 2 f0 cxyz\r\nok\r\n',
  negcas: 'VA 2 f0 c-5\r\nok\r\n',
  hexcas: 'VA 2 f0 c0x10\r\nok\r\n',
  bigcas: 'VA 2 f0 c18446744073709551616\r\nok\r\n',
  nocas: 'VA 2 f0\r\nok\r\n',
  noflags: 'VA 2 c1\r\nok\r\n',
  hexlen: 'VA 0x2 f0 c1\r\nok\r\n',
  emptylen: 'VA  f0 c1\r\nok\r\n',
};

test('a garbled meta reply: a coded error (ERR_NODE_ERROR for bad tokens), never NaN flags or a made-up CAS', async () => {
  const node = await scripted((line) => {
    const k = keyOf(line);
    if (k === 'fine') return 'VA 2 f4294967295 c18446744073709551615 t-1\r\nok\r\n';
    if (k === 'hdjunk') return 'HD junk\r\n';
    if (k === 'enjunk') return 'EN junk\r\n';
    if (k === 'vahuge') return 'VA 2147483648 f0 c1\r\n';
    if (line.startsWith('mg ')) return BAD_META[k] ?? 'EN\r\n';
    return 'END\r\n';
  });
  const c = new Cluster({ nodes: [node.id], timeout: 1000, autoEject: false, connections: 1 });
  try {
    for (const k of Object.keys(BAD_META)) {
      const e = (await rejects(c.gets(k))) as ClusterError;
      assert.instance(e, ClusterError, k);
      assert.ok(e.code === 'ERR_NODE_ERROR' || e.code === 'ERR_NODE_UNREACHABLE', `${k}: ${e.code} ${e.message}`);
      assert.is(e.node, node.id, k);
      // fetch reads the same reply through mg N: the same refusal, and the loader never runs.
      let ran = false;
      const f = await rejects(
        c.fetch(k, () => {
          ran = true;
          return 'loaded';
        }),
      );
      assert.instance(f, ClusterError, `fetch ${k}`);
      assert.is(ran, false, `fetch ${k}`);
    }
    const fine = must(await c.gets('fine'), 'fine');
    assert.is(fine.flags, 4294967295);
    assert.is(fine.cas, 18446744073709551615n);
    assert.is(await code(c.has('hdjunk')), 'ERR_NODE_ERROR');
    assert.is(await code(c.gets('enjunk')), 'ERR_NODE_ERROR');
    assert.is(await code(c.gets('vahuge')), 'ERR_NODE_UNREACHABLE');
  } finally {
    await c.close();
    await node.stop();
  }
});

test('fetch against a node whose placeholder never goes away: CacheError ERR_FETCH_TIMEOUT after the lock could have lived, not a wait without end', async () => {
  // Every mg N answers "another caller holds the win" (Z, empty value, no W), forever; a real
  // node's placeholder expires after lockTtl and the next mg wins.
  const node = await scripted((line) => (line.startsWith('mg ') ? 'VA 0 f0 c1 Z\r\n\r\n' : 'HD\r\n'));
  const c = new Cluster({ nodes: [node.id], timeout: 1000, autoEject: false });
  let guard: NodeJS.Timeout | undefined;
  try {
    let ran = false;
    const hang = new Promise<string>((r) => (guard = setTimeout(() => r('still waiting after 20 s'), 20_000)));
    const outcome = await Promise.race([
      c
        .fetch(
          'k',
          () => {
            ran = true;
            return 'v';
          },
          { lockTtl: 1 },
        )
        .then(
          () => 'resolved',
          (e: Error & { code?: string }) => `${e.name} ${e.code}`,
        ),
      hang,
    ]);
    assert.is(outcome, 'CacheError ERR_FETCH_TIMEOUT');
    assert.is(ran, false);
  } finally {
    clearTimeout(guard);
    await c.close();
    await node.stop();
  }
});

test('fetch waits on through a run of placeholders that each expire and are won again (a new CAS each time), past 2 × lockTtl + 1 s in all', async () => {
  // Slow loaders in other processes: every placeholder lives its lockTtl and the next winner makes
  // a new one. That is progress, not a stuck node: the waiter keeps waiting and gets the value.
  const t0 = Date.now();
  const node = await scripted((line) => {
    if (!line.startsWith('mg ')) return 'HD\r\n';
    if (Date.now() - t0 < 4000) return `VA 0 f0 c${1 + Math.floor((Date.now() - t0) / 500)} Z\r\n\r\n`;
    return 'VA 5 f0 c99\r\nvalue\r\n';
  });
  const c = new Cluster({ nodes: [node.id], timeout: 1000, autoEject: false });
  try {
    let ran = false;
    const v = await c.fetch(
      'k',
      () => {
        ran = true;
        return 'loaded';
      },
      { lockTtl: 1 },
    );
    assert.is(String(v), 'value');
    assert.is(ran, false);
  } finally {
    await c.close();
    await node.stop();
  }
});

test('a string key with a lone surrogate is refused before anything is sent (it would go out as U+FFFD, another key)', async () => {
  const seen: string[] = [];
  const node = await scripted((line) => {
    seen.push(line);
    return line.startsWith('get ') ? 'END\r\n' : 'STORED\r\n';
  });
  const c = new Cluster({ nodes: [node.id], timeout: 1000, autoEject: false });
  try {
    for (const k of ['\uD800', 'k\uDC00k']) {
      for (const r of await Promise.allSettled([c.set(k, 'x'), c.get(k), c.delete(k), c.getMany(['ok', k])])) {
        const e = r.status === 'rejected' ? (r.reason as Error) : undefined;
        assert.ok(e instanceof TypeError, `${JSON.stringify(k)}: ${r.status}`);
        assert.is((e as { code?: string } | undefined)?.code, 'ERR_INVALID_ARG_VALUE');
      }
    }
    await c.set('\uFFFD', 'x'); // a well-formed non-ASCII key goes out as its UTF-8 bytes
    assert.equal(seen, ['set \xEF\xBF\xBD 0 0 1']);
  } finally {
    await c.close();
    await node.stop();
  }
});

test('close() while a fetch waits on a placeholder: the fetch rejects ERR_CACHE_CLOSED and no connection is opened after close', async () => {
  let polls = 0;
  const node = await scripted((line) => {
    if (!line.startsWith('mg ')) return 'HD\r\n';
    polls++;
    return 'VA 0 f0 c1 Z\r\n\r\n';
  });
  const c = new Cluster({ nodes: [node.id], timeout: 1000, autoEject: false });
  try {
    const f = c
      .fetch('k', () => 'v', { lockTtl: 30 })
      .then(
        () => 'resolved',
        (e: Error & { code?: string }) => `${e.name} ${e.code}`,
      );
    await until(() => polls >= 3);
    await c.close();
    const accepted = node.accepted();
    assert.is(await f, 'CacheError ERR_CACHE_CLOSED');
    assert.is(node.accepted(), accepted, 'no connection after close');
    assert.is(c.stats().nodes[node.id]?.connections, 0);
  } finally {
    await c.close();
    await node.stop();
  }
});

// ---------- line replies ----------

test('incr past 2^64-1, a stats line with a non-number, endless stats: coded errors, never a wrong number', async () => {
  let statsMode = 'long';
  const node = await scripted((line) => {
    if (line.startsWith('incr big')) return '18446744073709551616\r\n';
    if (line.startsWith('incr max')) return '18446744073709551615\r\n';
    if (line.startsWith('incr long')) return `${'9'.repeat(60_000)}\r\n`;
    if (line === 'stats') {
      if (statsMode === 'nan') return 'STAT pid 1\r\nSTAT curr_items lots\r\nEND\r\n';
      if (statsMode === 'neg') return 'STAT curr_items -5\r\nEND\r\n';
      if (statsMode === 'twice') return 'STAT curr_items 5\r\nSTAT curr_items 5\r\nEND\r\n';
      if (statsMode === 'fine') return 'STAT pid 1\r\nSTAT curr_items 7\r\nEND\r\n';
      // 10^5 lines before END: memcached's stats reply is about a hundred.
      return `${'STAT x y\r\n'.repeat(100_000)}STAT curr_items 7\r\nEND\r\n`;
    }
    return 'END\r\n';
  });
  const c = new Cluster({ nodes: [node.id], timeout: 5000, autoEject: false, connections: 1 });
  try {
    assert.is(await code(c.incr('big')), 'ERR_NODE_ERROR');
    assert.is(await c.incr('max'), 18446744073709551615n);
    assert.is(await code(c.incr('long')), 'ERR_NODE_ERROR');
    const endless = (await rejects(c.size)) as ClusterError;
    assert.is(endless.code, 'ERR_NODE_UNREACHABLE');
    assert.match(endless.message, 'lines');
    for (const mode of ['nan', 'neg', 'twice']) {
      statsMode = mode;
      assert.is(await code(c.size), 'ERR_NODE_ERROR', mode);
    }
    statsMode = 'fine';
    assert.is(await c.size, 7);
  } finally {
    await c.close();
    await node.stop();
  }
});

test('keys(): a dump is taken as keys while it streams; a line whose key no memcached key can be is refused', async () => {
  let mode = 'many';
  const node = await scripted((line, s) => {
    if (!line.startsWith('lru_crawler metadump')) return 'END\r\n';
    if (mode === 'long') return `key=${'a'.repeat(751)} exp=-1 la=1\nEND\r\n`;
    if (mode === 'empty') return 'key= exp=-1\nEND\r\n';
    // 10^5 lines in one burst, keys URL-encoded as memcached writes them, bare LF endings.
    let out = '';
    for (let i = 0; i < 100_000; i++) out += `key=k%20${i} exp=-1 la=1 cas=${i} fetch=no cls=1 size=70\n`;
    s.write(out);
    return 'END\r\n';
  });
  const c = new Cluster({ nodes: [node.id], timeout: 2000, autoEject: false });
  try {
    const keys: string[] = [];
    for await (const k of c.keys()) keys.push(k);
    assert.is(keys.length, 100_000);
    assert.is(keys[99_999], 'k 99999');
    for (const m of ['long', 'empty']) {
      mode = m;
      const e = (await rejects(c.keys().next())) as ClusterError;
      assert.is(e.code, 'ERR_NODE_ERROR', m);
      assert.is(e.node, node.id, m);
    }
  } finally {
    await c.close();
    await node.stop();
  }
});

// ---------- the connection ----------

test('a reply dribbled a byte at a time past the timeout: ERR_NODE_TIMEOUT; no timer or socket is left behind', async () => {
  const node = await scripted((_line, s) => {
    s.write('VALUE drip 0 100\r\n');
    const t = setInterval(() => (s.destroyed ? clearInterval(t) : s.write('x')), 10);
    s.on('close', () => clearInterval(t));
    return undefined;
  });
  const c = new Cluster({ nodes: [node.id], timeout: 200, autoEject: false, connections: 1 });
  const handles = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'TCPSocketWrap').length;
  try {
    const before = handles();
    for (let i = 0; i < 3; i++) assert.is(await code(c.get('drip')), 'ERR_NODE_TIMEOUT');
    // The node's side of the closed sockets goes away as it sees the close.
    await until(() => handles() <= before);
    assert.ok(handles() <= before, `${handles()} handles, ${before} before`);
    assert.is(c.stats().nodes[node.id]?.connections, 0);
  } finally {
    await c.close();
    await node.stop();
  }
});

test('a node that closes, resets or half-closes mid-reply, or sends bytes nobody asked for: coded errors, then a fresh connection', async () => {
  const node = await scripted((line, s) => {
    const k = keyOf(line);
    if (k === 'close') {
      s.end('VALUE close 0 10\r\nabc');
    } else if (k === 'reset') {
      s.write('VALUE reset 0 10\r\nabc', () => s.resetAndDestroy());
    } else if (k === 'half') {
      s.end('VALUE half 0 10\r\nabc');
    } else if (k === 'extra') {
      return 'END\r\nEND\r\nVALUE extra 0 1\r\nx\r\nEND\r\n';
    } else if (k === 'ok') {
      return 'VALUE ok 0 1\r\n1\r\nEND\r\n';
    } else {
      return 'END\r\n';
    }
    return undefined;
  });
  const c = new Cluster({ nodes: [node.id], timeout: 2000, autoEject: false, connections: 1 });
  try {
    for (const k of ['close', 'reset', 'half']) {
      assert.is(await code(c.get(k)), 'ERR_NODE_UNREACHABLE', k);
      assert.is(String(await c.get('ok')), '1', `after ${k}`);
    }
    // The unasked bytes after a complete reply kill the connection (they could only be
    // mistaken for later replies); the call itself got its answer.
    assert.is(await c.get('extra'), undefined);
    assert.is(String(await c.get('ok')), '1');
    const s = must(c.stats().nodes[node.id], 'stats');
    assert.is(s.failures, 3, 'the three broken replies; not the unasked bytes');
  } finally {
    await c.close();
    await node.stop();
  }
});

test('a node that answers an error line to everything: every call rejects with a coded error and the node stays healthy', async () => {
  for (const reply of ['ERROR', 'SERVER_ERROR busted', 'CLIENT_ERROR no']) {
    const node = await scripted(() => `${reply}\r\n`);
    const c = new Cluster({ nodes: [node.id], timeout: 1000, failureLimit: 1 });
    try {
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['get', () => c.get('k')],
        ['gets', () => c.gets('k')],
        ['gat', () => c.gat('k', 10)],
        ['has', () => c.has('k')],
        ['getInto', () => c.getInto('k', Buffer.alloc(4))],
        ['getMany', () => c.getMany(['k', 'j'])],
        ['set', () => c.set('k', 'v')],
        ['add', () => c.add('k', 'v')],
        ['cas', () => c.cas('k', 'v', 1n)],
        ['append', () => c.append('k', 'v')],
        ['delete', () => c.delete('k')],
        ['incr', () => c.incr('k')],
        ['touch', () => c.touch('k', 5)],
        ['fetch', () => c.fetch('k', () => 'v')],
        ['invalidate', () => c.invalidate('k')],
        ['setMany', () => c.setMany([['k', 'v']])],
        ['flushAll', () => c.flushAll()],
        ['size', () => c.size],
        ['keys', () => c.keys().next()],
      ];
      for (const [what, call] of calls) {
        const e = (await rejects(call())) as ClusterError;
        assert.is(e.code, 'ERR_NODE_ERROR', `${reply}: ${what}: ${e.message}`);
      }
      const s = must(c.stats().nodes[node.id], 'stats');
      assert.is(s.failures, 0);
      assert.is(s.ejected, false);
    } finally {
      await c.close();
      await node.stop();
    }
  }
});

test('a node that accepts and closes at once, 3000 times: each call ERR_NODE_UNREACHABLE; nothing grows; ejected when auto-eject is on', async () => {
  const node = await fakeNode((s) => s.destroy());
  const c = new Cluster({ nodes: [node.id], timeout: 1000, autoEject: false });
  const handles = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'TCPSocketWrap').length;
  try {
    const before = handles();
    for (let i = 0; i < 3000; i++) {
      const e = (await rejects(c.get(`k${i}`))) as ClusterError;
      if (e.code !== 'ERR_NODE_UNREACHABLE') assert.unreachable(`call ${i}: ${e.code} ${e.message}`);
    }
    const s = must(c.stats().nodes[node.id], 'stats');
    assert.is(s.connections, 0);
    assert.is(s.inFlight, 0);
    assert.is(s.failures, 3000);
    assert.ok(node.accepted() <= 3000);
    // The node's side of the closed sockets goes away as it sees the close.
    await until(() => handles() <= before);
    assert.ok(handles() <= before, `${handles()} handles, ${before} before`);
  } finally {
    await c.close();
  }
  const e = new Cluster({ nodes: [node.id], timeout: 1000, failureLimit: 3, retryTimeout: 60_000 });
  try {
    for (let i = 0; i < 3; i++) assert.is(await code(e.get('k')), 'ERR_NODE_UNREACHABLE');
    assert.is(await code(e.get('k')), 'ERR_NO_NODES');
    assert.is(e.stats().nodes[node.id]?.ejected, true);
  } finally {
    await e.close();
    await node.stop();
  }
});

test('tls: a node that speaks plain text, or never says a word: coded errors, not a hang', async () => {
  const plain = await fakeNode((s) => s.end('ERROR\r\n'));
  const mute = await fakeNode(() => undefined);
  const a = new Cluster({ nodes: [plain.id], timeout: 2000, autoEject: false, tls: { rejectUnauthorized: true } });
  const b = new Cluster({ nodes: [mute.id], timeout: 200, autoEject: false, tls: { rejectUnauthorized: true } });
  try {
    const e = (await rejects(a.get('k'))) as ClusterError;
    assert.is(e.code, 'ERR_NODE_UNREACHABLE', e.message);
    assert.is(await code(b.get('k')), 'ERR_NODE_TIMEOUT');
  } finally {
    await a.close();
    await b.close();
    await plain.stop();
    await mute.stop();
  }
});

// ---------- memory a node can pin ----------

const INDEX = fileURLToPath(new URL('../src/index.js', import.meta.url));

/**
 * A child process that runs `cluster.get('big')` against `node` and reports how much its peak
 * RSS grew (KiB) and how the call ended.
 */
function childGet(node: string, timeout: number): Promise<{ code: string; grewKiB: number }> {
  const body = `
    const { Cluster } = await import(${JSON.stringify(INDEX)});
    const c = new Cluster({ nodes: [${JSON.stringify(node)}], timeout: ${timeout}, connections: 1, autoEject: false });
    const before = process.resourceUsage().maxRSS;
    let code = 'resolved';
    try { await c.get('big'); } catch (e) { code = e.code ?? String(e); }
    const grewKiB = process.resourceUsage().maxRSS - before;
    await c.close();
    process.stdout.write(JSON.stringify({ code, grewKiB }));
  `;
  return new Promise((resolve, reject) => {
    const ch = spawn(process.execPath, ['--input-type=module', '-e', body], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    ch.stdout.on('data', (d: Buffer) => (out += d));
    ch.on('error', reject);
    ch.on('close', (status) => {
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`child exited ${status}: ${out}`));
      }
    });
  });
}

test('memory: a node declaring a 1 GiB value and streaming 512 MiB of it does not grow the client by that much', async () => {
  const chunk = Buffer.alloc(1 << 20, 0x61);
  const node = await scripted((_line, s) => {
    s.write('VALUE big 0 1073741824\r\n');
    let left = 512;
    const pump = () => {
      while (left > 0 && !s.destroyed) {
        left--;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
    };
    pump();
    return undefined;
  });
  try {
    const r = await childGet(node.id, 6000);
    assert.ok(r.code === 'ERR_NODE_UNREACHABLE' || r.code === 'ERR_NODE_TIMEOUT', r.code);
    // The old client buffered what came (512 MiB); now the block is dropped as it comes.
    assert.ok(r.grewKiB < 128 * 1024, `peak RSS grew ${r.grewKiB} KiB`);
  } finally {
    await node.stop();
  }
});

test.run();
