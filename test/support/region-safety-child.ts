/**
 * Child process of test/region-safety.test.ts, started as another (unprivileged) user with
 * setpriv. `cases DIR [OTHER_FILE OTHER_UID]` runs the region file cases and prints their results
 * as JSON; `share PATH OWNER_UID` opens a store another user shared with this one's group
 * (mode 0o660) and prints what happened.
 */
import { Cache } from '../../src/index.js';
import { runCases } from './region-safety-cases.js';

const [what, a, b, c] = process.argv.slice(2);
if (what === 'cases') {
  const results = runCases({ dir: a!, otherUsersFile: b || undefined, otherUid: c ? Number(c) : undefined });
  process.stdout.write(`${JSON.stringify({ uid: process.geteuid!(), results })}\n`);
} else if (what === 'share') {
  const out: Record<string, unknown> = { uid: process.geteuid!() };
  try {
    Cache.open({ path: a!, mode: 0o660 }).close();
    out.withoutAllowOwner = 'opened';
  } catch (e) {
    out.withoutAllowOwner = (e as { code?: string }).code;
  }
  const cache = Cache.open({ path: a!, mode: 0o660, allowOwner: Number(b) });
  out.read = cache.get('precious')?.toString() ?? null;
  cache.set('from-child', 'hello');
  cache.close();
  process.stdout.write(`${JSON.stringify(out)}\n`);
} else {
  process.stderr.write('usage: region-safety-child cases DIR [OTHER_FILE OTHER_UID] | share PATH OWNER_UID\n');
  process.exit(64);
}
