/**
 * A one-line progress bar on stderr. It draws only when stderr is a TTY, so piped or redirected
 * output (CI logs, `> results.md`) stays clean.
 */
export class Progress {
  private done = 0;
  private readonly enabled: boolean;
  private readonly started = Date.now();
  private lastDraw = 0;

  constructor(
    private readonly total: number,
    enabled: boolean = process.stderr.isTTY === true,
  ) {
    this.enabled = enabled && total > 0;
  }

  /** Counts one step as finished and redraws (at most every 50 ms, and always on the last). */
  tick(label: string): void {
    this.done = Math.min(this.total, this.done + 1);
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < 50 && this.done < this.total) return;
    this.lastDraw = now;
    const width = 24;
    const frac = this.done / this.total;
    const filled = Math.round(frac * width);
    const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
    const secs = ((now - this.started) / 1000).toFixed(0);
    const cols = process.stderr.columns || 100;
    let line = `[${bar}] ${String(Math.floor(frac * 100)).padStart(3)}% ${secs}s  ${label}`;
    if (line.length > cols - 1) line = line.slice(0, cols - 1);
    process.stderr.write(`\r\x1b[K${line}`);
  }

  /** Clears the line. */
  end(): void {
    if (this.enabled) process.stderr.write('\r\x1b[K');
  }
}
