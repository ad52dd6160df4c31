import { css } from 'lit';

export default css`
  :host {
    display: block;
    font-size: var(--a2a-font-size, 1rem);
    line-height: 1.45;
  }
  [part='base'] {
    display: grid;
    gap: var(--_space);
  }
  .top {
    display: flex;
    align-items: center;
    gap: var(--_space);
  }
  [part='heading'] {
    margin: 0;
    font-size: 1em;
    font-weight: 600;
    margin-inline-end: auto;
  }
  [part='list'] {
    list-style: none;
    margin: 0;
    padding: 0;
    border: 1px solid var(--_border);
    border-radius: var(--_radius);
    background: var(--_bg);
    max-height: var(--a2a-task-list-max-height, none);
    overflow: auto;
  }
  [part='item'] {
    display: grid;
    grid-template-columns: 1fr auto;
    gap: calc(var(--_space) / 2) var(--_space);
    align-items: center;
    padding: var(--_space) calc(var(--_space) * 1.5);
    border-top: 1px solid var(--_border);
  }
  [part='item']:first-child {
    border-top: none;
  }
  [part='item'][aria-current='page'] {
    background: var(--_surface);
  }
  [part='link'] {
    font-weight: 600;
    overflow-wrap: anywhere;
  }
  .meta {
    grid-column: 1 / -1;
    display: flex;
    flex-wrap: wrap;
    gap: var(--_space);
    color: var(--_muted);
    font-size: 0.8125em;
  }
  [part='task-id'] {
    font-family: var(--_mono);
  }
  [part='empty'],
  [part='error'] {
    margin: 0;
    padding: var(--_space);
    color: var(--_muted);
  }
  [part='error'] {
    color: var(--_bad);
    background: var(--_bad-bg);
    border-radius: var(--_radius);
  }
`;
