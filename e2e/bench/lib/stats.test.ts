import { describe, expect, it } from 'vitest';
import { percentile, ratioInterval, seededRandom } from './stats.js';

/** `n` appends with latencies drawn around `typical` ms, `receipts` subscribers each. */
function appends(n: number, typical: number, receipts: number, seed: number, sharedDelay = true): number[][] {
  const random = seededRandom(seed);
  return Array.from({ length: n }, () => {
    // A long-tailed server-side delay every subscriber of the append shares, plus a little each.
    const shared = typical * -Math.log(1 - random());
    return Array.from(
      { length: receipts },
      () => (sharedDelay ? shared : typical * -Math.log(1 - random())) + random() * 0.2,
    );
  });
}

describe('ratioInterval', () => {
  it('gives the percentile over every receipt and its ratio', () => {
    const subject = [
      [1, 2],
      [3, 4],
      [5, 100],
    ];
    const baseline = [
      [2, 4],
      [6, 8],
      [10, 50],
    ];
    const r = ratioInterval(subject, baseline, { p: 50, draws: 10 });
    expect(r.subject).toBe(percentile([1, 2, 3, 4, 5, 100], 50));
    expect(r.baseline).toBe(percentile([2, 4, 6, 8, 10, 50], 50));
    expect(r.ratio).toBeCloseTo(3 / 6, 9);
    expect(r.appends).toEqual({ subject: 3, baseline: 3 });
  });

  it('puts a system twice as fast clearly below 1, and two alike around 1', () => {
    const baseline = appends(750, 4, 10, 1);
    const faster = baseline.map((a) => a.map((ms) => ms / 2));
    const clear = ratioInterval(faster, baseline);
    expect(clear.high).toBeLessThan(1);
    expect(clear.belowOne).toBe(1);

    const alike = ratioInterval(appends(750, 4, 10, 2), appends(750, 4, 10, 3));
    expect(alike.low).toBeLessThan(1);
    expect(alike.high).toBeGreaterThan(1);
    expect(alike.belowOne).toBeGreaterThan(0.02);
    expect(alike.belowOne).toBeLessThan(0.98);
  });

  it("resamples appends, not receipts: ten copies of each append's latency add no certainty", () => {
    const single = appends(250, 4, 1, 4);
    const other = appends(250, 4, 1, 5);
    const tenfold = (a: number[][]) => a.map(([ms]) => Array.from({ length: 10 }, () => ms!));
    const once = ratioInterval(single, other);
    const copied = ratioInterval(tenfold(single), tenfold(other));
    const width = (r: { low: number; high: number }) => r.high - r.low;
    // Resampling receipts one by one would make the copied interval about three times narrower.
    expect(width(copied)).toBeGreaterThan(width(once) * 0.75);
    expect(width(copied)).toBeLessThan(width(once) * 1.33);
  });

  it('gives the same interval for the same samples', () => {
    const a = appends(200, 4, 10, 6);
    const b = appends(200, 5, 10, 7);
    expect(ratioInterval(a, b)).toEqual(ratioInterval(a, b));
  });
});
