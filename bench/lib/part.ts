/** What a benchmark part hands back to the dispatcher, and the metrics `compare` lines up. */

/** One number a run measured, named the same way in every run so two runs can be compared. */
export interface Metric {
  /** Stable name, e.g. "latency/Get 128 B/shmcached main". */
  id: string;
  value: number;
  unit: string;
  /** Which direction is an improvement. */
  better: 'lower' | 'higher';
}

/** The report of one part: its Markdown and its JSON (which carries `metrics`). */
export interface PartOutput {
  part: string;
  markdown: string;
  json: { metrics: Metric[] } & Record<string, unknown>;
}

/** A benchmark part as the dispatcher loads it. */
export interface Part {
  description: string;
  run(args: string[]): Promise<PartOutput | void>;
}
