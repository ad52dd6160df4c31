import { css } from 'lit';

export default css`
  :host {
    display: block;
    font-size: var(--a2a-font-size, 1rem);
    line-height: 1.45;
  }
  [part='base'] {
    display: grid;
    gap: calc(var(--_space) * 1.5);
    padding: var(--a2a-task-stream-padding, calc(var(--_space) * 2));
    background: var(--_bg);
    border: 1px solid var(--_border);
    border-radius: var(--_radius);
  }
  [part='header'] {
    display: flex;
    flex-wrap: wrap;
    align-items: center;
    gap: var(--_space) calc(var(--_space) * 2);
  }
  [part='title'] {
    margin: 0;
    font-size: 1em;
    font-weight: 600;
    overflow-wrap: anywhere;
  }
  [part='state'] {
    font-size: 0.9375em;
  }
  [part='connection'] {
    margin-inline-start: auto;
  }
  .connection-row {
    display: flex;
    flex-wrap: wrap;
    gap: var(--_space);
    align-items: center;
  }
  [part='error'] {
    display: flex;
    flex-wrap: wrap;
    gap: var(--_space);
    align-items: center;
    margin: 0;
    padding: var(--_space) calc(var(--_space) * 1.5);
    color: var(--_bad);
    background: var(--_bad-bg);
    border-radius: var(--_radius);
  }
  [part='progress'] {
    display: flex;
    align-items: center;
    gap: var(--_space);
  }
  .track {
    flex: 1;
    height: var(--a2a-progress-height, 0.5rem);
    background: var(--_surface);
    border: 1px solid var(--_border);
    border-radius: 999px;
    overflow: hidden;
  }
  [part='progress-bar'] {
    height: 100%;
    background: var(--a2a-progress-color, var(--_accent));
    /* scaleX, not width: progress moves on the compositor, without layout or paint. */
    transform-origin: left center;
    transition: transform 0.2s ease-out;
    will-change: transform;
  }
  :host(:dir(rtl)) [part='progress-bar'] {
    transform-origin: right center;
  }
  @media (prefers-reduced-motion: reduce) {
    [part='progress-bar'] {
      transition: none;
    }
  }
  [part='progress-label'] {
    font-variant-numeric: tabular-nums;
    min-width: 3.5ch;
    text-align: end;
  }
  [part='message'] {
    margin: 0;
    padding: var(--_space) calc(var(--_space) * 1.5);
    background: var(--_surface);
    border-inline-start: 3px solid var(--_accent);
    border-radius: var(--_radius);
    white-space: pre-wrap;
    overflow-wrap: anywhere;
  }
  [part='truncated'] {
    margin: 0;
    padding: var(--_space) calc(var(--_space) * 1.5);
    color: var(--_warn);
    background: var(--_warn-bg);
    border-radius: var(--_radius);
  }
  .section-title {
    margin: 0 0 var(--_space);
    font-size: 0.875em;
    font-weight: 600;
    color: var(--_muted);
    text-transform: uppercase;
    letter-spacing: 0.04em;
  }
  [part='artifacts'] {
    display: grid;
    gap: var(--_space);
  }
  [part='artifact'] {
    border: 1px solid var(--_border);
    border-radius: var(--_radius);
    padding: var(--_space) calc(var(--_space) * 1.5);
    min-width: 0;
  }
  [part='artifact-name'] {
    margin: 0 0 calc(var(--_space) / 2);
    font-size: 0.9375em;
    font-weight: 600;
  }
  .streaming {
    font-weight: normal;
    color: var(--_muted);
    font-size: 0.875em;
  }
  [part='artifact-text'],
  [part='artifact-data'] {
    margin: 0;
    white-space: pre-wrap;
    overflow-wrap: anywhere;
  }
  .text-scroller,
  [part='artifact-data'] {
    max-height: var(--a2a-artifact-max-height, 20rem);
    overflow: auto;
    contain: content;
  }
  .text-scroller {
    overscroll-behavior: contain;
  }
  /*
   * A scroller stays on its newest content by scroll anchoring: the only candidate anchor is the
   * empty .end-pin after the content, so while the reader is at the end, content growing above it
   * moves the scroll offset along. Nothing inside moves, so only the new content is painted; a
   * reversed flex column, which pinned the end by moving the content, repainted and re-rastered
   * the whole box on every event (end-pin.ts starts a box at its end).
   */
  .text-scroller > :not(.end-pin),
  .log-scroller > :not(.end-pin) {
    overflow-anchor: none;
  }
  .end-pin {
    overflow-anchor: auto;
    height: 1px;
  }
  [part='artifact-data'] {
    font-family: var(--_mono);
    font-size: 0.875em;
    background: var(--_surface);
    padding: var(--_space);
    border-radius: var(--_radius);
  }
  .log-controls,
  .text-controls {
    display: flex;
    flex-wrap: wrap;
    gap: var(--_space);
    align-items: center;
    margin-bottom: var(--_space);
    color: var(--_muted);
    font-size: 0.875em;
  }
  .log-scroller {
    max-height: var(--a2a-log-max-height, 20rem);
    overflow: auto;
    overscroll-behavior: contain;
    border: 1px solid var(--_border);
    border-radius: var(--_radius);
    /* What happens inside (new entries, scrolling) never re-lays out the rest of the page. */
    contain: layout paint;
  }
  [part='log'] {
    list-style: none;
    margin: 0;
    padding: 0;
    font-size: 0.875em;
  }
  [part='event'] {
    display: grid;
    grid-template-columns: auto auto 1fr;
    gap: var(--_space);
    padding: calc(var(--_space) / 2) var(--_space);
    border-top: 1px solid var(--_border);
  }
  /* Only a log the reader expanded (renderLog says why). */
  .expanded > [part='event'] {
    content-visibility: auto;
    contain-intrinsic-size: auto 2em;
  }
  [part='event']:first-child {
    border-top: none;
  }
  [part='event-seq'],
  [part='event-time'] {
    font-family: var(--_mono);
    color: var(--_muted);
    font-variant-numeric: tabular-nums;
  }
  [part='event-summary'] {
    overflow-wrap: anywhere;
    min-width: 0;
  }
  .empty {
    color: var(--_muted);
    margin: 0;
    padding: var(--_space);
  }
`;
