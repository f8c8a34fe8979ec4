/**
 * Codecs (src/codec.ts): every built-in and a custom one round-trip, across a worker thread and
 * another process; the codec is recorded in the flags' top 4 bits so a reader with another codec
 * gets ERR_CODEC_MISMATCH; bad encoders store nothing; user flags keep their low 28 bits.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';

import { Cache, CacheError, type Codec } from '../src/index.js';
import { at, code, runWorker, tmpRegion } from './helpers.js';

const t = suite('codec');
const indexUrl = new URL('../src/index.js', import.meta.url).href;

interface User {
  id: number;
  name: string;
  tags: string[];
}

const V8_VALUE = () => ({
  map: new Map<string, unknown>([
    ['a', 1],
    ['b', [1, 2]],
  ]),
  set: new Set([1, 'x']),
  date: new Date(1_700_000_000_000),
  big: 2n ** 70n,
  bytes: new Uint8Array([1, 2, 3]),
  floats: new Float64Array([0.5, -1]),
  nested: { undef: undefined, nan: NaN },
});

t("bytes (default) is unchanged: Buffer out, all 32 flag bits are the caller's", () => {
  const path = tmpRegion('codec-bytes');
  const c = Cache.open({ path, size: '8mb', reset: true });
  c.set('k', 'v', { flags: 0xffffffff });
  const b: Buffer | undefined = c.get('k');
  assert.ok(Buffer.isBuffer(b));
  assert.is(c.gets('k')!.flags, 0xffffffff);
  c.close();
});

t('string, json, v8 and a custom codec round-trip with their types', () => {
  const path = tmpRegion('codec-rt');
  const s = Cache.open({ path, size: '8mb', reset: true, codec: 'string' });
  const j = Cache.open<User>({ path, codec: 'json' });
  const v = Cache.open<ReturnType<typeof V8_VALUE>>({ path, codec: 'v8' });
  const upper: Codec<string> = {
    encode: (x) => Buffer.from(x.toUpperCase()),
    decode: (b) => b.toString().toLowerCase(),
    tag: 9,
    name: 'upper',
  };
  const u = Cache.open({ path, codec: upper });

  s.set('s', 'héllo ✓');
  const sv: string | undefined = s.get('s');
  assert.is(sv, 'héllo ✓');
  const user: User = { id: 1, name: 'Ada', tags: ['a', 'b'] };
  j.set('j', user, { ttlMs: 60_000, flags: 7 });
  const got: User | undefined = j.get('j');
  assert.equal(got, user);
  assert.is(j.gets('j')!.flags, 7, 'user flags come back without the codec tag');
  v.set('v', V8_VALUE());
  assert.equal(v.get('v'), V8_VALUE());
  u.set('u', 'shout');
  assert.is(u.get('u'), 'shout');
  assert.equal(j.getMany(['j', 'nope', 'j']), [user, undefined, user]);
  j.setMany([
    ['m1', { id: 2, name: 'B', tags: [] }],
    ['m2', { id: 3, name: 'C', tags: ['x'] }],
  ]);
  assert.is(j.get('m2')?.name, 'C');
  assert.is(j.add('j', user), false);
  assert.is(j.replace('j', { ...user, id: 9 }), true);
  const g = j.gets('j')!;
  assert.is(j.cas('j', { ...user, id: 10 }, g.cas), 'stored');
  assert.is(j.gat('j', { ttlMs: 60_000 })?.id, 10);
  assert.is(j.gats('j', 60)?.value.id, 10);
  // Any codec's item reads as its raw bytes through 'bytes', with the tag visible in the flags.
  const raw = Cache.open({ path });
  assert.is(raw.get('j')!.toString(), JSON.stringify({ ...user, id: 10 }));
  assert.is(raw.gets('j')!.flags >>> 28, 2);
  assert.is(raw.gets('s')!.flags >>> 28, 1);
  assert.is(raw.gets('v')!.flags >>> 28, 3);
  assert.is(raw.gets('u')!.flags >>> 28, 9);
  for (const c of [s, j, v, u, raw]) c.close();
});

t('a reader with the wrong codec gets CacheError ERR_CODEC_MISMATCH, not garbage', () => {
  const path = tmpRegion('codec-mismatch');
  const raw = Cache.open({ path, size: '8mb', reset: true });
  const s = Cache.open({ path, codec: 'string' });
  const j = Cache.open({ path, codec: 'json' });
  const v = Cache.open({ path, codec: 'v8' });
  const custom = Cache.open({ path, codec: { encode: (x: number) => Buffer.from([x]), decode: (b) => at(b, 0) } });
  j.set('j', { a: 1 });
  v.set('v', new Map([[1, 2]]));
  raw.set('plain', '{"a":1}');
  custom.set('c', 5);
  let err: unknown;
  try {
    v.get('j');
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof CacheError);
  assert.is((err as CacheError).code, 'ERR_CODEC_MISMATCH');
  assert.match((err as Error).message, /stored with codec 'json', read with 'v8'/);
  const cases: Array<[() => unknown, string]> = [
    [() => j.get('v'), 'CacheError:ERR_CODEC_MISMATCH'],
    [() => s.get('j'), 'CacheError:ERR_CODEC_MISMATCH'],
    [() => j.get('plain'), 'CacheError:ERR_CODEC_MISMATCH'],
    [() => j.get('c'), 'CacheError:ERR_CODEC_MISMATCH'],
    [() => custom.get('j'), 'CacheError:ERR_CODEC_MISMATCH'],
    [() => j.getMany(['j', 'v']), 'CacheError:ERR_CODEC_MISMATCH'],
    [() => j.gets('v'), 'CacheError:ERR_CODEC_MISMATCH'],
  ];
  for (const [fn, want] of cases) assert.is(code(fn), want);
  assert.is(s.get('plain'), '{"a":1}', "'string' reads untagged bytes (text from memcached clients)");
  assert.is(custom.get('c'), 5);
  // A corrupt json payload under the json tag: a decode error, not a SyntaxError from nowhere.
  raw.set('bad', '{nope', { flags: 2 << 28 });
  assert.is(
    code(() => j.get('bad')),
    'CacheError:ERR_CODEC_DECODE',
  );
  for (const c of [raw, s, j, v, custom]) c.close();
});

t('bad values and bad encoders leave nothing stored', () => {
  const path = tmpRegion('codec-bad');
  const j = Cache.open({ path, size: '8mb', reset: true, codec: 'json' });
  const throwing = Cache.open({
    path,
    codec: {
      encode: () => {
        throw new Error('nope');
      },
      decode: (b): unknown => b,
    },
  });
  const notBytes = Cache.open({ path, codec: { encode: () => 'str' as unknown as Uint8Array, decode: (b): unknown => b } });
  const proxyBytes = Cache.open({
    path,
    codec: { encode: () => new Proxy(Buffer.from('p'), {}), decode: (b): unknown => b },
  });
  const s = Cache.open({ path, codec: 'string' });
  j.set('k', 'old');
  const cases: Array<[() => unknown, string]> = [
    [() => throwing.set('k', 1), 'CacheError:ERR_CODEC_ENCODE'],
    [() => throwing.setMany([['k', 1]]), 'CacheError:ERR_CODEC_ENCODE'],
    [() => notBytes.set('k', 1), 'TypeError:ERR_INVALID_RETURN_VALUE'],
    // A Proxy of bytes is not bytes: its traps would run while the value is copied into scratch.
    [() => proxyBytes.set('k', 1), 'TypeError:ERR_INVALID_RETURN_VALUE'],
    [() => j.set('k', undefined), 'TypeError:ERR_INVALID_ARG_VALUE'],
    [() => j.set('k', () => 1), 'TypeError:ERR_INVALID_ARG_VALUE'],
    [() => j.set('k', { big: 1n }), 'CacheError:ERR_CODEC_ENCODE'],
    [
      () =>
        j.setMany([
          ['x', 1],
          ['k', 1n],
        ]),
      'CacheError:ERR_CODEC_ENCODE',
    ],
    [() => s.set('k', 42 as unknown as string), 'TypeError:ERR_INVALID_ARG_TYPE'],
    [() => j.set('k', 1, { flags: 0x10000000 }), 'RangeError:ERR_OUT_OF_RANGE'],
    [() => Cache.open({ path, codec: 'yaml' as 'json' }), 'TypeError:ERR_INVALID_ARG_VALUE'],
    [() => Cache.open({ path, codec: { encode: (x: unknown) => x } as unknown as Codec<unknown> }), 'TypeError:ERR_INVALID_ARG_TYPE'],
    [() => Cache.open({ path, codec: { encode: () => new Uint8Array(), decode: () => 1, tag: 3 } }), 'RangeError:ERR_OUT_OF_RANGE'],
  ];
  for (const [fn, want] of cases) assert.is(code(fn), want);
  assert.is(j.get('k'), 'old');
  assert.is(j.get('x'), undefined, 'setMany checks every entry before storing any');
  for (const c of [j, throwing, notBytes, proxyBytes, s]) c.close();
});

t('codec values cross threads and processes', async () => {
  const path = tmpRegion('codec-x');
  const v = Cache.open({ path, size: '8mb', reset: true, codec: 'v8' });
  v.set('from-main', V8_VALUE());
  const fromWorker = await runWorker(
    path,
    `const v = Cache.open({ path: workerData.path, codec: 'v8' });
     const j = Cache.open({ path: workerData.path, codec: 'json' });
     const seen = v.get('from-main');
     v.set('from-worker', new Map([['k', 1n]]));
     j.set('json-worker', { ok: true });
     return [seen.map.get('b'), seen.big === 2n ** 70n, seen.date.getTime()];`,
  );
  assert.equal(fromWorker, [[1, 2], true, 1_700_000_000_000]);
  assert.equal(v.get('from-worker'), new Map([['k', 1n]]));
  const script = `
    const { Cache } = await import(${JSON.stringify(indexUrl)});
    const v = Cache.open({ path: ${JSON.stringify(path)}, codec: 'v8' });
    const j = Cache.open({ path: ${JSON.stringify(path)}, codec: 'json' });
    const m = v.get('from-main');
    v.set('from-proc', new Set([m.big, j.get('json-worker').ok]));
    let mismatch = '';
    try { j.get('from-main'); } catch (e) { mismatch = e.code; }
    process.stdout.write(mismatch);`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.is(out, 'ERR_CODEC_MISMATCH');
  assert.equal(v.get('from-proc'), new Set([2n ** 70n, true]));
  v.close();
});

t.run();
