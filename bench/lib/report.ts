/** Pieces of the parts' reports and of the full run's combined report. */
import { describeMachine, isoDay, writeResultFile, type MachineInfo } from './machine.js';
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
        ? line
            .replace(/^\|\s*|\s*\|$/g, '')
            .split(/\s*\|\s*/)
            .join(' — ')
        : line.replace(/^\s*[-*]\s+/, '');
      out.push(`- ${o.part}: ${text}`);
    }
  }
  return out;
}

/** The first line of an error's message (or the thrown value as text): what a table note shows. */
export function errorLine(e: unknown): string {
  return e instanceof Error ? (e.message.split('\n')[0] ?? '') : String(e);
}

/** "tree at `abc1234`" (with the uncommitted-changes remark when src/ or native/ is dirty). */
export function treeAt(git: { commit: string; dirty: boolean }): string {
  return `tree at \`${git.commit}\`${git.dirty ? ' with uncommitted changes in src/ or native/' : ''}`;
}

/** A part report's opening: its title with the day and host, a blank line, the machine bullet. */
export function reportHead(title: string, started: Date, machine: MachineInfo): string[] {
  return [`# ${title} — ${isoDay(started)}, ${machine.hostname}`, '', `- Machine: ${describeMachine(machine)}`];
}

/**
 * The machine sentence of the reports written as paragraphs (cluster, pool):
 * "Machine: …; commit abc1234 (dirty)."
 */
export function machineSentence(machine: MachineInfo, git: { commit: string; dirty: boolean } | undefined): string {
  return `Machine: ${describeMachine(machine)}${git ? `; commit ${git.commit}${git.dirty ? ' (dirty)' : ''}` : ''}.`;
}

/**
 * Ends a part's report: a "## Notes" section with one bullet a note (none when there are no
 * notes; a blank line first unless `md` already ends with one), joined with a final newline,
 * printed to stdout. Returns the Markdown.
 */
export function printReport(md: readonly string[], notes: readonly string[]): string {
  const lines = [...md];
  if (notes.length) {
    if (lines[lines.length - 1] !== '') lines.push('');
    lines.push('## Notes', '', ...notes.map((n) => `- ${n}`));
  }
  const markdown = `${lines.join('\n')}\n`;
  process.stdout.write(markdown);
  return markdown;
}

/**
 * Writes a part's results under bench/results/ as `<day>-<host>-<tag>.md` and `.json` (and
 * `.svg` when given), and says so on stderr.
 */
export function writePartFiles(tag: string, started: Date, files: { md: string; json: unknown; svg?: string }): void {
  const written = [
    writeResultFile(tag, 'md', files.md, started),
    writeResultFile(tag, 'json', JSON.stringify(files.json, null, 2), started),
  ];
  if (files.svg !== undefined) written.push(writeResultFile(tag, 'svg', files.svg, started));
  process.stderr.write(`wrote ${written.slice(0, -1).join(', ')} and ${written[written.length - 1]}\n`);
}
