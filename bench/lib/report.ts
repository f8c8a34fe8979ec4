/** Pieces of the full run's combined report. */
import type { PartOutput } from './part.js';

/**
 * Every target verdict the parts printed (lines with **met** or **missed**), one bullet each,
 * prefixed with the part: table rows become "cell — cell — ...".
 */
export function targetLines(outputs: readonly PartOutput[]): string[] {
  const out: string[] = [];
  for (const o of outputs) {
    for (const line of o.markdown.split('\n')) {
      if (!/\*\*(met|missed)\*\*/.test(line)) continue;
      const text = line.startsWith('|')
        ? line.replace(/^\|\s*|\s*\|$/g, '').split(/\s*\|\s*/).join(' — ')
        : line.replace(/^\s*[-*]\s+/, '');
      out.push(`- ${o.part}: ${text}`);
    }
  }
  return out;
}
