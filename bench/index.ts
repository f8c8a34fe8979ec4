/**
 * `npm run bench [-- <part> [options]]`: the benchmark suite.
 *
 *   npm run bench                     every part, one after another
 *   npm run bench -- latency          one part (options after the name go to it)
 *   npm run bench -- latency --help   that part's options
 *   npm run bench -- list             the parts
 *
 * The script runs `node --expose-gc dist/bench/index.js`, so build first (`npx tsc -p tsconfig.json`).
 */
interface Part {
  description: string;
  run(args: string[]): Promise<void>;
}

const parts: Record<string, () => Promise<Part>> = {
  latency: () => import('./latency.js'),
  scaling: () => import('./scaling.js'),
  pool: () => import('./pool.js'),
};

function listParts(): string {
  return ['parts:', ...Object.keys(parts).map((name) => `  ${name}`), '', 'usage: npm run bench [-- <part> [options]]'].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name.startsWith('-')) {
    // No part named: run them all, each with the options given (if any).
    for (const [partName, load] of Object.entries(parts)) {
      process.stderr.write(`== ${partName}\n`);
      await (await load()).run(argv);
    }
    return 0;
  }
  if (name === 'list' || name === 'help') {
    const lines = ['parts:'];
    for (const [partName, load] of Object.entries(parts)) lines.push(`  ${partName.padEnd(10)} ${(await load()).description}`);
    console.log(lines.join('\n'));
    return 0;
  }
  const load = parts[name];
  if (!load) {
    console.error(`unknown benchmark part '${name}'\n${listParts()}`);
    return 2;
  }
  await (await load()).run(rest);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exitCode = 1;
  },
);
