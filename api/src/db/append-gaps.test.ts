import { describe, expect, it } from 'vitest';
import { AppendGaps } from './append-gaps.js';

const settled = async (p: Promise<void>, withinMs: number): Promise<boolean> =>
  Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), withinMs))]);

describe('AppendGaps', () => {
  it('is a gap at once when no append is in flight', async () => {
    expect(await settled(new AppendGaps().gap(), 5)).toBe(true);
  });

  it('waits for the last of the appends in flight to end', async () => {
    const gaps = new AppendGaps(10_000);
    gaps.begin();
    gaps.begin();
    const gap = gaps.gap();
    gaps.end();
    expect(await settled(gap, 30)).toBe(false);
    gaps.end();
    expect(await settled(gap, 30)).toBe(true);
    expect(gaps.inFlight).toBe(0);
  });

  it('runs after the ending append’s own continuation, and not if another append began', async () => {
    const gaps = new AppendGaps(10_000);
    const order: string[] = [];
    gaps.begin();
    const gap = gaps.gap().then(() => order.push('background'));
    gaps.end();
    gaps.begin(); // the next append, in the same tick
    await Promise.resolve().then(() => order.push('reply'));
    expect(
      await settled(
        gap.then(() => undefined),
        30,
      ),
    ).toBe(false);
    gaps.end();
    await gap;
    expect(order).toEqual(['reply', 'background']);
  });

  it('gives up waiting after maxWaitMs under appends that never pause', async () => {
    const gaps = new AppendGaps(60);
    gaps.begin();
    const started = Date.now();
    await gaps.gap();
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
    expect(gaps.inFlight).toBe(1);
  });

  it('can be cut short by whoever needs the work now', async () => {
    const gaps = new AppendGaps(10_000);
    gaps.begin();
    let now: (() => void) | undefined;
    const gap = gaps.gap((stop) => (now = stop));
    expect(await settled(gap, 20)).toBe(false);
    now!();
    expect(await settled(gap, 5)).toBe(true);
  });

  it('an unmatched end does not make the count negative', async () => {
    const gaps = new AppendGaps(10_000);
    gaps.end();
    gaps.begin();
    expect(gaps.inFlight).toBe(1);
    expect(await settled(gaps.gap(), 20)).toBe(false);
  });
});
