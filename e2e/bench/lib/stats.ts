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
