/**
 * Expiry options of Cache (src/ttl.ts): memcached's seconds with its 30-day absolute rule, a past
 * absolute time refused (the `ttl: 3_600_000` case), `ttlMs` and `expiresAt`. The store's clock
 * is moved with advanceClock, so nothing sleeps.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { Cache } from '../src/index.js';
import { code, tmpRegion } from './helpers.js';

const t = suite('ttl');

function open(name: string): Cache {
  return Cache.open({ path: tmpRegion(`ttl-${name}`), size: '8mb', reset: true });
}

t('ttl 3_600_000 (an hour in ms) is a RangeError naming the cause; nothing is stored', () => {
  const c = open('1970');
  let err: (Error & { code?: string }) | undefined;
  try {
    c.set('k', 'v', { ttl: 3_600_000 });
  } catch (e) {
    err = e as Error & { code?: string };
  }
  assert.ok(err instanceof RangeError, 'a RangeError');
  err = err as Error & { code?: string };
  assert.is(err!.code, 'ERR_TTL_IN_PAST');
  assert.match(err!.message, /ttl is in seconds; 3600000 is an absolute Unix time in 1970/);
  assert.match(err!.message, /use ttlMs or expiresAt/);
  assert.is(c.get('k'), undefined);
  c.set('k', 'old');
  for (const fn of [
    () => c.set('k', 'v', { ttl: 3_600_000 }),
    () => c.add('new', 'v', { ttl: 3_600_000 }),
    () => c.replace('k', 'v', { ttl: 3_600_000 }),
    () => c.cas('k', 'v', c.gets('k')!.cas, { ttl: 3_600_000 }),
    () =>
      c.setMany(
        [
          ['k', 'v'],
          ['new', 'v'],
        ],
        { ttl: 3_600_000 },
      ),
    () => c.touch('k', 3_600_000),
    () => c.gat('k', 3_600_000),
    () => c.gats('k', 3_600_000),
  ]) {
    assert.is(code(fn), 'RangeError:ERR_TTL_IN_PAST');
  }
  assert.is(c.get('k')?.toString(), 'old');
  assert.is(c.get('new'), undefined);
  assert.is(c.touch('k', 0), true);
  c.close();
});

t('seconds keep memcached meaning: relative up to 30 days, absolute future above, negative = expired', () => {
  const c = open('secs');
  const now = Math.floor(Date.now() / 1000);
  c.set('rel', 'x', { ttl: 60 });
  c.set('abs', 'y', { ttl: now + 3600 });
  c.set('neg', 'z', { ttl: -1 });
  assert.is(c.get('neg'), undefined);
  c.advanceClock(58); // not 59: the store clock also ticks with real time, and a second may pass here
  assert.is(c.get('rel')?.toString(), 'x');
  c.advanceClock(3);
  assert.is(c.get('rel'), undefined);
  assert.is(c.get('abs')?.toString(), 'y');
  c.advanceClock(3600);
  assert.is(c.get('abs'), undefined);
  c.close();
});

t('ttlMs: milliseconds, rounded up to the whole-second clock; 0 never expires; above 30 days too', () => {
  const c = open('ms');
  c.set('m', 'v', { ttlMs: 10 * 60_000 });
  c.set('short', 'v', { ttlMs: 1500 });
  c.set('forever', 'v', { ttlMs: 0 });
  c.set('long', 'v', { ttlMs: 40 * 86400_000 });
  c.setMany([['many', 'v']], { ttlMs: 10 * 60_000 });
  assert.is(c.get('short')?.toString(), 'v');
  c.advanceClock(3);
  assert.is(c.get('short'), undefined);
  c.advanceClock(595); // 598 s: within 600
  assert.is(c.get('m')?.toString(), 'v');
  assert.is(c.get('many')?.toString(), 'v');
  c.advanceClock(4); // 602 s: past 600 (+1 s of rounding)
  assert.is(c.get('m'), undefined);
  assert.is(c.get('many'), undefined);
  c.advanceClock(39 * 86400 - 602);
  assert.is(c.get('long')?.toString(), 'v');
  c.advanceClock(2 * 86400);
  assert.is(c.get('long'), undefined);
  assert.is(c.get('forever')?.toString(), 'v');
  c.close();
});

t('expiresAt: a Date or ms epoch in the future; a past one is a RangeError storing nothing', () => {
  const c = open('at');
  c.set('d', 'v', { expiresAt: new Date(Date.now() + 120_000) });
  c.set('n', 'v', { expiresAt: Date.now() + 120_000 });
  assert.is(
    code(() => c.set('p', 'v', { expiresAt: Date.now() - 1 })),
    'RangeError:ERR_TTL_IN_PAST',
  );
  assert.is(
    code(() => c.set('p', 'v', { expiresAt: new Date(0) })),
    'RangeError:ERR_TTL_IN_PAST',
  );
  assert.is(
    code(() => c.set('p', 'v', { expiresAt: new Date(NaN) })),
    'RangeError:ERR_OUT_OF_RANGE',
  );
  assert.is(
    code(() => c.set('p', 'v', { expiresAt: '2030-01-01' as unknown as number })),
    'TypeError:ERR_INVALID_ARG_TYPE',
  );
  assert.is(c.get('p'), undefined);
  c.advanceClock(118);
  assert.is(c.get('d')?.toString(), 'v');
  assert.is(c.get('n')?.toString(), 'v');
  c.advanceClock(4);
  assert.is(c.get('d'), undefined);
  assert.is(c.get('n'), undefined);
  c.close();
});

t('touch / gat / gats take { ttl | ttlMs | expiresAt } as well as seconds', () => {
  const c = open('touch');
  for (const k of ['a', 'b', 'c', 'd']) c.set(k, k);
  assert.is(c.touch('a', { ttlMs: 60_000 }), true);
  assert.is(c.gat('b', { expiresAt: new Date(Date.now() + 60_000) })?.toString(), 'b');
  assert.is(c.gats('c', { ttl: 60 })?.value.toString(), 'c');
  assert.is(c.touch('nope', { ttlMs: 1000 }), false);
  c.advanceClock(62);
  for (const k of ['a', 'b', 'c']) assert.is(c.get(k), undefined, k);
  assert.is(c.get('d')?.toString(), 'd');
  c.close();
});

t('bad expiry options are argument errors that change nothing', () => {
  const c = open('bad');
  c.set('k', 'old');
  const cases: Array<[() => unknown, string]> = [
    [() => c.set('k', 'v', { ttl: 60, ttlMs: 1000 }), 'TypeError:ERR_INVALID_ARG_VALUE'],
    [() => c.set('k', 'v', { ttlMs: 1, expiresAt: Date.now() + 5000 }), 'TypeError:ERR_INVALID_ARG_VALUE'],
    [() => c.set('k', 'v', { ttlMs: -1 }), 'RangeError:ERR_OUT_OF_RANGE'],
    [() => c.set('k', 'v', { ttlMs: Infinity }), 'RangeError:ERR_OUT_OF_RANGE'],
    [() => c.set('k', 'v', { ttlMs: '10' as unknown as number }), 'TypeError:ERR_INVALID_ARG_TYPE'],
    [() => c.set('k', 'v', { ttl: 1.5 }), 'RangeError:ERR_OUT_OF_RANGE'],
    [() => c.touch('k', null as unknown as number), 'TypeError:ERR_INVALID_ARG_TYPE'],
    [() => c.touch('k', { ttlMs: -5 }), 'RangeError:ERR_OUT_OF_RANGE'],
  ];
  for (const [fn, want] of cases) assert.is(code(fn), want);
  assert.is(c.get('k')?.toString(), 'old');
  c.advanceClock(10 * 365 * 86400);
  assert.is(c.get('k')?.toString(), 'old', 'no expiry was set by a refused call');
  c.close();
});

t.run();
