import { afterEach, describe, expect, it, vi } from 'vitest';
import { EndPin } from './end-pin.js';

/** Records what a ResizeObserver is asked to observe. */
class RecordingObserver {
  static observed = new Set<Element>();
  constructor(readonly callback: ResizeObserverCallback) {}
  observe(el: Element) {
    RecordingObserver.observed.add(el);
  }
  unobserve(el: Element) {
    RecordingObserver.observed.delete(el);
  }
  disconnect() {
    RecordingObserver.observed.clear();
  }
}

function scrollerIn(parent: HTMLElement): { scroller: HTMLElement; content: HTMLElement } {
  const scroller = document.createElement('div');
  const content = document.createElement('ol');
  scroller.append(content, document.createElement('div'));
  parent.append(scroller);
  return { scroller, content };
}

describe('EndPin', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    RecordingObserver.observed.clear();
  });

  it('observes each box once, and lets go of boxes a render removed', () => {
    vi.stubGlobal('ResizeObserver', RecordingObserver);
    const pin = new EndPin();
    const host = document.createElement('div');
    document.body.append(host);
    const first = scrollerIn(host);
    pin.watch(first.scroller);
    pin.watch(first.scroller);
    expect([...RecordingObserver.observed]).toEqual([first.content]);

    // Another task: the box is replaced, and the old content must not stay observed.
    first.scroller.remove();
    const second = scrollerIn(host);
    pin.watch(second.scroller);
    expect([...RecordingObserver.observed]).toEqual([second.content]);

    pin.disconnect();
    expect(RecordingObserver.observed.size).toBe(0);
    pin.watch(second.scroller);
    expect([...RecordingObserver.observed]).toEqual([second.content]);
    host.remove();
  });
});
