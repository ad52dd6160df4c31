/**
 * Starts scrollers at their end and leaves them to scroll anchoring from there.
 *
 * A scroller's content is followed by an empty `.end-pin`, the only element that may anchor its
 * scrolling (`overflow-anchor`). While the pin is in view, content that grows above it carries the
 * scroll offset along, so the reader keeps seeing the newest entry; once the reader scrolls away,
 * nothing anchors and the view stays put. Browsers do not anchor a scroller that is at offset 0,
 * though, so a box whose content has just begun to overflow would stay on its oldest lines: this
 * moves such a box to its end once, unless the reader has scrolled it. The check runs in a
 * ResizeObserver callback, after layout, so it reads no stale layout and forces none.
 */
export class EndPin {
  /** Scroller → the content element observed for it. */
  private readonly watched = new Map<HTMLElement, Element>();
  private readonly readerMoved = new WeakSet<Element>();
  private readonly observer =
    typeof ResizeObserver === 'undefined'
      ? undefined
      : new ResizeObserver((entries) => {
          for (const entry of entries) {
            const scroller = entry.target.parentElement;
            if (scroller) this.settle(scroller);
          }
        });

  /** Keeps `scroller` (whose first child is its content) at its end until the reader scrolls it. */
  watch(scroller: HTMLElement): void {
    const content = scroller.firstElementChild;
    if (!this.observer || !content || this.watched.has(scroller)) return;
    // Boxes a render replaced (another task, a text past its limit) stop being observed, so the
    // observer does not keep their old content alive.
    for (const [old, oldContent] of this.watched) {
      if (old.isConnected) continue;
      this.observer.unobserve(oldContent);
      this.watched.delete(old);
    }
    this.watched.set(scroller, content);
    const moved = () => this.readerMoved.add(scroller);
    for (const type of ['wheel', 'touchstart', 'keydown', 'pointerdown'] as const) {
      scroller.addEventListener(type, moved, { passive: true });
    }
    this.observer.observe(content);
  }

  /** Stops watching; scrollers given to {@link watch} again are watched afresh. */
  disconnect(): void {
    this.observer?.disconnect();
    this.watched.clear();
  }

  private settle(scroller: HTMLElement): void {
    if (this.readerMoved.has(scroller) || scroller.scrollTop !== 0) return;
    if (scroller.scrollHeight > scroller.clientHeight) scroller.scrollTop = scroller.scrollHeight;
  }
}
