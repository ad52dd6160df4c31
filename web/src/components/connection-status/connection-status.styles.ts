import { css } from 'lit';

export default css`
  :host {
    display: inline-block;
    font-size: 0.875rem;
  }
  [part='base'] {
    display: inline-flex;
    align-items: baseline;
    gap: 0.4em;
    flex-wrap: wrap;
  }
  [part='indicator'] {
    flex: none;
    width: 0.6em;
    height: 0.6em;
    border-radius: 50%;
    background: var(--a2a-connection-indicator-color, var(--_muted));
    align-self: center;
  }
  [data-state='open'] [part='indicator'] {
    background: var(--a2a-connection-live-color, var(--_ok));
  }
  [data-state='connecting'] [part='indicator'],
  [data-state='reconnecting'] [part='indicator'] {
    background: var(--a2a-connection-reconnecting-color, var(--_warn));
  }
  [data-state='offline'] [part='indicator'] {
    background: var(--a2a-connection-offline-color, var(--_muted));
  }
  [data-state='error'] [part='indicator'] {
    background: var(--a2a-connection-error-color, var(--_bad));
  }
  @media (prefers-reduced-motion: no-preference) {
    [data-state='connecting'] [part='indicator'],
    [data-state='reconnecting'] [part='indicator'] {
      animation: pulse 1.2s ease-in-out infinite;
    }
  }
  @keyframes pulse {
    50% {
      opacity: 0.35;
    }
  }
  [part='label'] {
    font-weight: 600;
  }
  [data-state='error'] [part='label'] {
    color: var(--_bad);
  }
  [part='hint'] {
    color: var(--_muted);
  }
`;
