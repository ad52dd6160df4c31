import type { Common } from '../lib/systems.js';
import { median } from '../lib/stats.js';

/** One line of the results table: a figure, its baseline, their ratio and the target. */
export interface Row {
  figure: string;
  metric: string;
  value: number | null;
  unit: string;
  baselineName: string | null;
  baseline: number | null;
  /** value ÷ baseline, or for rates API ÷ baseline (median of the per-run ratios). */
  ratio: number | null;
  /** e.g. "≤ 1.3" or "≥ 0.7". */
  target: string;
  pass: boolean | null;
  note?: string;
}

export interface FigureOutcome {
  rows: Row[];
  details: unknown;
}

export interface Sizes {
  connections: number;
  /** Streams opening at a time (figure 1). */
  openConcurrency: number;
  /** How long figure 1 may spend opening streams on one server. */
  openTimeoutSeconds: number;
  fanoutSubscribers: number;
  fanoutTasks: number;
  fanoutRate: number;
  fanoutSeconds: number;
  warmupSeconds: number;
  throughputLevels: number[];
  throughputSeconds: number;
  replayEvents: number;
  soakMinutes: number;
  /** Figure 6 also measures its report-only references (a plain page, one context of tabs). */
  browserReferences: boolean;
  /**
   * Figure 5's report-only reference, two raw processes relaying over UDP ("raw A→B"), in the
   * runs it shares with figure 2 (a fifth system there; figure 5 run alone always has it).
   */
  crossReference: boolean;
}

export interface Ctx extends Common {
  dbUri: string;
  secret: string;
  runs: number;
  sizes: Sizes;
  /** Systems figures 1 and 2 compare (default raw, socketio, api); for development runs. */
  systems: Set<string>;
  /** Figure 1 writes a heap snapshot of the API with every stream open. */
  heapSnapshot?: boolean;
  /** Figures whose API process runs with --cpu-prof. */
  profile: Set<string>;
  log(message: string): void;
  /** Replaces the embedded database server with a new, empty one (no-op on --db-uri). */
  freshDatabase(): Promise<void>;
  /** Epoch ms at which the measured load of the current figure began (profiles skip start-up). */
  loadStartedAt?: number;
  /** Set when the fan-out rate was capped to what the database sustains. */
  rateNote?: string;
  /** Results of earlier figures in this invocation (figure 5 reuses figure 2's baselines). */
  shared: Map<string, unknown>;
  /** The figures this invocation runs (figure 2 measures figure 5's systems in its runs). */
  figures?: string[];
}

export function check(ratio: number | null, op: '<=' | '>=' | '<', limit: number): boolean | null {
  if (ratio === null || !Number.isFinite(ratio)) return null;
  return op === '<=' ? ratio <= limit : op === '>=' ? ratio >= limit : ratio < limit;
}

export function medianOf<T>(runs: T[], pick: (r: T) => number | null | undefined): number | null {
  const v = runs.map(pick).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return v.length ? median(v) : null;
}

export function naRow(figure: string, metric: string, note: string): Row {
  return {
    figure,
    metric,
    value: null,
    unit: '',
    baselineName: null,
    baseline: null,
    ratio: null,
    target: '',
    pass: null,
    note,
  };
}

export const KB = 1024;
