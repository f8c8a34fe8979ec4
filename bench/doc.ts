/**
 * `npm run bench -- doc [--results F] [--doc P]`: rewrites the section of docs/performance.md
 * between `<!-- bench:begin -->` and `<!-- bench:end -->` from a full run's report (by default the
 * newest in bench/results/). A full `npm run bench` does this at its end. Measures nothing.
 */
import { parseArgs } from 'node:util';
import { repoRoot } from './lib/machine.js';
import { updatePerfDoc } from './lib/perf-doc.js';

/** One line for `npm run bench -- list`. */
export const description = "rewrite docs/performance.md's marked section from the newest full run's report (a full run ends with it)";

/** Runs the part. */
export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    allowPositionals: false,
    options: { results: { type: 'string' }, doc: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help) {
    console.log(
      [
        'npm run bench -- doc [options]',
        "  --results F   a full run's report, .md or .json (default: the newest in bench/results/)",
        '  --doc P       the doc to rewrite between its bench markers (default docs/performance.md)',
      ].join('\n'),
    );
    return;
  }
  try {
    const r = updatePerfDoc(repoRoot(), { doc: values.doc, results: values.results });
    process.stderr.write(`${r.changed ? 'rewrote' : 'left as it was (same numbers)'} ${r.doc} from ${r.results}\n`);
  } catch (e) {
    process.stderr.write(`bench doc: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}
