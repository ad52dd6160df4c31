import { describe, expect, it } from 'vitest';
import { tailOf } from './format.js';

describe('tailOf', () => {
  it('returns a text within the limit unchanged', () => {
    expect(tailOf('hello world', 11)).toBe('hello world');
  });

  it('starts the end after a line break near the cut', () => {
    const text = `${'a'.repeat(100)}\nsecond line\nthird line`;
    expect(tailOf(text, 25)).toBe('second line\nthird line');
  });

  it('starts the end at a word when there is no line break near the cut', () => {
    const text = 'alpha beta gamma delta epsilon zeta';
    expect(tailOf(text, 20)).toBe('delta epsilon zeta');
  });

  it('cuts exactly when there is no boundary near the cut', () => {
    expect(tailOf('x'.repeat(1000), 40)).toBe('x'.repeat(40));
  });
});
