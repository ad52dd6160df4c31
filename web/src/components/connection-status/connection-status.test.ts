import { afterEach, describe, expect, it } from 'vitest';
import './connection-status.js';
import type A2AConnectionStatus from './connection-status.component.js';
import { emit } from '../../events.js';

const made: Element[] = [];
async function make(attrs: Record<string, string>): Promise<A2AConnectionStatus> {
  const el = document.createElement('a2a-connection-status');
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  document.body.append(el);
  made.push(el);
  await el.updateComplete;
  return el;
}
const words = (el: A2AConnectionStatus) => el.shadowRoot!.textContent!.replace(/\s+/g, ' ').trim();
const base = (el: A2AConnectionStatus) => el.shadowRoot!.querySelector<HTMLElement>('[part="base"]')!;

afterEach(() => made.splice(0).forEach((e) => e.remove()));

describe('<a2a-connection-status>', () => {
  it('shows each state with its words and a data-state for styling', async () => {
    const cases: Array<[string, Record<string, string>, string[]]> = [
      ['idle', {}, ['Not connected']],
      ['connecting', {}, ['Connecting']],
      ['open', { transport: 'worker' }, ['Live', 'shared by your tabs']],
      ['open', { transport: 'polling' }, ['Live', 'every few seconds']],
      ['reconnecting', {}, ['Reconnecting', 'replayed']],
      ['offline', {}, ['Offline', 'showing saved progress']],
      ['closed', {}, ['Stream ended']],
      ['error', { status: '401' }, ['Signed out', 'Sign in again']],
      ['error', { status: '404' }, ['Task not found', 'Check the link']],
      ['error', { reason: 'fetch failed' }, ['Connection error', 'fetch failed', 'Check your network']],
    ];
    for (const [state, extra, expected] of cases) {
      const el = await make({ state, ...extra });
      for (const w of expected) expect(words(el)).toContain(w);
      expect(base(el).dataset['state']).toBe(state);
      expect(base(el).getAttribute('role')).toBe('status');
    }
  });

  it('hides the hint when compact', async () => {
    const el = await make({ state: 'offline', compact: '' });
    expect(words(el)).toBe('Offline');
    expect(el.shadowRoot!.querySelector('[part="hint"]')).toBeNull();
  });

  it('follows the element named by `for`', async () => {
    const source = document.createElement('div');
    source.id = 'stream-1';
    const other = document.createElement('div');
    other.id = 'stream-2';
    document.body.append(source, other);
    made.push(source, other);
    const el = await make({ for: 'stream-1' });
    emit(source, 'a2a-connection-change', { state: 'offline', transport: 'worker' });
    await el.updateComplete;
    expect(el.state).toBe('offline');
    expect(el.getAttribute('state')).toBe('offline');
    expect(words(el)).toContain('showing saved progress');
    emit(other, 'a2a-connection-change', { state: 'error', transport: 'direct', status: 404 });
    await el.updateComplete;
    expect(el.state).toBe('offline');
    emit(source, 'a2a-connection-change', { state: 'open', transport: 'worker' });
    await el.updateComplete;
    expect(words(el)).toContain('Live');
  });
});
