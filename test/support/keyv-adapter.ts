/**
 * Runs Keyv's compliance suite (@keyv/test-suite, written for vitest) under uvu: its `test`
 * argument (`it`, `beforeEach`, `afterEach`) and the `t.expect` matchers it uses, on uvu/assert.
 */
import * as assert from 'uvu/assert';
import type { Test } from 'uvu';

type Fn = (t: { expect: Expect }) => unknown;
interface Matchers {
  toBe(v: unknown): void;
  toEqual(v: unknown): void;
  toBeTruthy(): void;
  toBeFalsy(): void;
  toBeUndefined(): void;
  toBeDefined(): void;
  toBeNull(): void;
}
type Expect = ((actual: unknown) => Matchers & { not: Matchers }) & { assertions(n: number): void };

function matchers(actual: unknown, negate: boolean, count: () => void): Matchers {
  const check = (ok: boolean, what: string) => {
    count();
    assert.ok(negate ? !ok : ok, `expected ${String(actual)} ${negate ? 'not ' : ''}${what}`);
  };
  return {
    toBe: (v) => check(Object.is(actual, v), `to be ${String(v)}`),
    toEqual: (v) => {
      count();
      if (negate) assert.not.equal(actual, v);
      else assert.equal(actual, v);
    },
    toBeTruthy: () => check(Boolean(actual), 'to be truthy'),
    toBeFalsy: () => check(!actual, 'to be falsy'),
    toBeUndefined: () => check(actual === undefined, 'to be undefined'),
    toBeDefined: () => check(actual !== undefined, 'to be defined'),
    toBeNull: () => check(actual === null, 'to be null'),
  };
}

/** The `test` object @keyv/test-suite's functions take, registering each case on a uvu suite. */
export function vitestShim(suite: Test): {
  it(name: string, fn: Fn): void;
  beforeEach(fn: () => unknown): void;
  afterEach(fn: () => unknown): void;
} {
  const before: Array<() => unknown> = [];
  const after: Array<() => unknown> = [];
  return {
    beforeEach: (fn) => void before.push(fn),
    afterEach: (fn) => void after.push(fn),
    it(name, fn) {
      suite(name, async () => {
        for (const b of before) await b();
        let made = 0;
        let planned: number | undefined;
        const expect = Object.assign(
          (actual: unknown) =>
            Object.assign(
              matchers(actual, false, () => made++),
              { not: matchers(actual, true, () => made++) },
            ),
          { assertions: (n: number) => void (planned = n) },
        ) as Expect;
        try {
          await fn({ expect });
        } finally {
          for (const a of after) await a();
        }
        if (planned !== undefined) assert.is(made, planned, `expect.assertions(${planned})`);
      });
    },
  };
}
