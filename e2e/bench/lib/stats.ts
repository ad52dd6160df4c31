/** Small statistics helpers: percentiles, medians, a least-squares slope. */

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Percentile of an ascending-sorted array (nearest rank). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function summarize(values: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(values as ArrayLike<number>).sort();
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i]!;
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
    mean: sorted.length ? sum / sorted.length : NaN,
  };
}

export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** Least-squares slope of y over x. */
export function slope(xs: number[], ys: number[]): number {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return NaN;
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < n; i++) {
    sx += xs[i]!;
    sy += ys[i]!;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

/** A growable sample buffer (latencies in ms) that keeps memory bounded by reservoir sampling. */
export class Samples {
  #data: Float64Array;
  #length = 0;
  #seen = 0;
  constructor(
    initial = 65_536,
    private readonly cap = 4_000_000,
  ) {
    this.#data = new Float64Array(initial);
  }
  add(value: number): void {
    this.#seen++;
    if (this.#length < this.cap) {
      if (this.#length === this.#data.length) {
        const next = new Float64Array(Math.min(this.cap, this.#data.length * 2));
        next.set(this.#data);
        this.#data = next;
      }
      this.#data[this.#length++] = value;
      return;
    }
    const j = Math.floor(Math.random() * this.#seen);
    if (j < this.cap) this.#data[j] = value;
  }
  get count(): number {
    return this.#seen;
  }
  summary(): Summary {
    return summarize(this.#data.subarray(0, this.#length));
  }
  reset(): void {
    this.#length = 0;
    this.#seen = 0;
  }
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** A number for progress lines: '–' for null/NaN (NaN travels over IPC as null). */
export function f(value: number | null | undefined, digits = 2): string {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '–';
}

/** A seeded uniform generator in [0, 1) (mulberry32): the same samples give the same interval. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Receipts grouped by append: each inner list is one append's latencies at its subscribers. */
export type ReceiptsByAppend = readonly (readonly number[])[];

export interface RatioInterval {
  /** The percentile over every receipt of the subject's appends, and of the baseline's. */
  subject: number;
  baseline: number;
  ratio: number;
  /** The central `level` share of the resampled ratios. */
  low: number;
  high: number;
  /** Share of resampled ratios below 1: how often the subject came out ahead. */
  belowOne: number;
  appends: { subject: number; baseline: number };
  draws: number;
}

/**
 * The ratio of two systems' latency percentiles over all their receipts, with a bootstrap
 * interval. What is resampled is appends, each with all its receipts: the subscribers of one
 * append share its wait in the server and the database, so its receipts are not independent
 * draws, and resampling them one by one would give an interval far too narrow.
 */
export function ratioInterval(
  subject: ReceiptsByAppend,
  baseline: ReceiptsByAppend,
  {
    p = 99,
    draws = 1000,
    level = 0.95,
    seed = 1,
  }: { p?: number; draws?: number; level?: number; seed?: number } = {},
): RatioInterval {
  const random = seededRandom(seed);
  const ofAll = (appends: ReceiptsByAppend) => percentile(Float64Array.from(appends.flat()).sort(), p);
  const resampled = (appends: ReceiptsByAppend, buffer: Float64Array) => {
    let n = 0;
    for (let i = 0; i < appends.length; i++) {
      const chosen = appends[Math.floor(random() * appends.length)]!;
      for (let j = 0; j < chosen.length; j++) {
        if (n === buffer.length) buffer = growTo(buffer, n * 2);
        buffer[n++] = chosen[j]!;
      }
    }
    return { buffer, value: percentile(buffer.subarray(0, n).sort(), p) };
  };
  const ratios = new Float64Array(draws);
  let subjectBuffer: Float64Array = new Float64Array(subject.reduce((n, a) => n + a.length, 0) || 1);
  let baselineBuffer: Float64Array = new Float64Array(baseline.reduce((n, a) => n + a.length, 0) || 1);
  for (let d = 0; d < draws; d++) {
    const s = resampled(subject, subjectBuffer);
    const b = resampled(baseline, baselineBuffer);
    subjectBuffer = s.buffer;
    baselineBuffer = b.buffer;
    ratios[d] = s.value / b.value;
  }
  ratios.sort();
  let below = 0;
  while (below < draws && ratios[below]! < 1) below++;
  const tail = ((1 - level) / 2) * 100;
  const subjectValue = ofAll(subject);
  const baselineValue = ofAll(baseline);
  return {
    subject: subjectValue,
    baseline: baselineValue,
    ratio: subjectValue / baselineValue,
    low: percentile(ratios, tail),
    high: percentile(ratios, 100 - tail),
    belowOne: draws ? below / draws : NaN,
    appends: { subject: subject.length, baseline: baseline.length },
    draws,
  };
}

function growTo(buffer: Float64Array, size: number): Float64Array {
  const next = new Float64Array(size);
  next.set(buffer);
  return next;
}
