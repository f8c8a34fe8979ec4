/** The sync stress that worker threads run against one store (threads.test.ts, pool.test.ts's mixed suite). */
/**
 * The body of a stress worker for test/helpers.ts runWorker (data: `{ id, rounds, keys }`): mixed get, set
 * of checksummed values under `cv:<n>`, incr of `ctr:0..3` and a CAS-guarded `casctr`; returns
 * its own tallies ({@link StressTally}). Values are "<key>|<writer>|<version>|<payload>|<fnv of
 * everything before it>", so a torn or mixed read is seen ({@link fnv} is the same checksum).
 */
export const THREAD_STRESS = `
  const { id, rounds, keys } = data;
  let seed = id * 2654435761 >>> 0 || 1;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  // value = "<key>|<writer>|<version>|<payload>|<checksum of everything before it>"
  const sum = ${fnv.toString()};
  const make = (key, version) => { const body = key + '|' + id + '|' + version + '|' + 'x'.repeat(rnd() % 300) + '|'; return body + sum(body); };
  const t = { incr: 0, casWins: 0, casTries: 0, gets: 0, hits: 0, sets: 0, bad: [] };
  for (let r = 0; r < rounds; r++) {
    const k = rnd() % 10;
    if (k < 5) {
      const key = 'cv:' + (rnd() % keys);
      const v = cache.get(key);
      t.gets++;
      if (v) {
        t.hits++;
        const s = v.toString('latin1');
        const body = s.slice(0, -8);
        if (!s.startsWith(key + '|') || sum(body) !== s.slice(-8)) t.bad.push(key + ' -> ' + s.slice(0, 60));
      }
    } else if (k < 7) {
      const key = 'cv:' + (rnd() % keys);
      cache.set(key, make(key, r));
      t.sets++;
    } else if (k < 9) {
      cache.incr('ctr:' + (r % 4));
      t.incr++;
    } else {
      for (;;) {
        const g = cache.gets('casctr');
        t.casTries++;
        t.gets++;
        t.hits++;
        const next = String(BigInt(g.value.toString()) + 1n);
        if (cache.cas('casctr', next, g.cas) === 'stored') { t.casWins++; break; }
      }
    }
  }
  return t;
`;

/** What one {@link THREAD_STRESS} worker returns. */
export interface StressTally {
  incr: number;
  casWins: number;
  casTries: number;
  gets: number;
  hits: number;
  sets: number;
  bad: string[];
}

/** The checksum the stress values carry: FNV-1a over the UTF-16 code units, 8 hex digits. */
export function fnv(s: string): string {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h.toString(16).padStart(8, '0');
}
