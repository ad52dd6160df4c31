import { css } from 'lit';

/**
 * Design tokens shared by the components. Each public `--a2a-*` custom property has a light and
 * a dark default (`prefers-color-scheme`); the components read only the private `--_*` names.
 * All default text/background pairs meet WCAG AA (4.5:1) in both schemes.
 */
export const themeStyles = css`
  :host {
    --_font: var(--a2a-font-family, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif);
    --_mono: var(--a2a-font-mono, ui-monospace, SFMono-Regular, Menlo, Consolas, monospace);
    --_radius: var(--a2a-radius, 6px);
    --_space: var(--a2a-spacing, 0.5rem);
    --_fg: var(--a2a-color-text, #1f2328);
    --_muted: var(--a2a-color-muted, #57606a);
    --_bg: var(--a2a-color-background, #ffffff);
    --_surface: var(--a2a-color-surface, #f6f8fa);
    --_border: var(--a2a-color-border, #d0d7de);
    --_accent: var(--a2a-color-accent, #0550ae);
    --_accent-fg: var(--a2a-color-accent-text, #ffffff);
    --_ok: var(--a2a-color-success, #116329);
    --_ok-bg: var(--a2a-color-success-background, #dafbe1);
    --_warn: var(--a2a-color-warning, #7d4e00);
    --_warn-bg: var(--a2a-color-warning-background, #fff8c5);
    --_bad: var(--a2a-color-danger, #a40e26);
    --_bad-bg: var(--a2a-color-danger-background, #ffebe9);
    --_info: var(--a2a-color-info, #0550ae);
    --_info-bg: var(--a2a-color-info-background, #ddf4ff);
    --_focus: var(--a2a-color-focus, #0969da);
    color-scheme: light dark;
    font-family: var(--_font);
    color: var(--_fg);
  }

  @media (prefers-color-scheme: dark) {
    :host {
      --_fg: var(--a2a-color-text, #e6edf3);
      --_muted: var(--a2a-color-muted, #9da7b3);
      --_bg: var(--a2a-color-background, #0d1117);
      --_surface: var(--a2a-color-surface, #161b22);
      --_border: var(--a2a-color-border, #3d444d);
      --_accent: var(--a2a-color-accent, #4493f8);
      --_accent-fg: var(--a2a-color-accent-text, #0d1117);
      --_ok: var(--a2a-color-success, #56d364);
      --_ok-bg: var(--a2a-color-success-background, #0f2d16);
      --_warn: var(--a2a-color-warning, #e3b341);
      --_warn-bg: var(--a2a-color-warning-background, #2e2106);
      --_bad: var(--a2a-color-danger, #ff7b72);
      --_bad-bg: var(--a2a-color-danger-background, #3a0e0e);
      --_info: var(--a2a-color-info, #79c0ff);
      --_info-bg: var(--a2a-color-info-background, #0c2d6b);
      --_focus: var(--a2a-color-focus, #58a6ff);
    }
  }

  :host([hidden]) {
    display: none !important;
  }

  .sr-only {
    position: absolute;
    width: 1px;
    height: 1px;
    padding: 0;
    margin: -1px;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
    border: 0;
  }

  button {
    font: inherit;
    font-size: 0.875em;
    color: var(--_accent-fg);
    background: var(--_accent);
    border: 1px solid transparent;
    border-radius: var(--_radius);
    padding: 0.25em 0.75em;
    cursor: pointer;
  }
  button.secondary {
    color: var(--_fg);
    background: var(--_surface);
    border-color: var(--_border);
  }
  :focus-visible {
    outline: 2px solid var(--_focus);
    outline-offset: 2px;
  }
  a {
    color: var(--_accent);
  }

  /* Status badges: one pair of colours per kind of state. */
  .badge {
    display: inline-block;
    font-size: 0.8125em;
    font-weight: 600;
    line-height: 1.6;
    padding: 0 0.6em;
    border-radius: 999px;
    color: var(--_info);
    background: var(--_info-bg);
    white-space: nowrap;
  }
  .badge[data-state='completed'] {
    color: var(--_ok);
    background: var(--_ok-bg);
  }
  .badge[data-state='failed'],
  .badge[data-state='rejected'] {
    color: var(--_bad);
    background: var(--_bad-bg);
  }
  .badge[data-state='canceled'],
  .badge[data-state='input_required'],
  .badge[data-state='auth_required'] {
    color: var(--_warn);
    background: var(--_warn-bg);
  }
  .badge[data-state='submitted'],
  .badge[data-state='unknown'],
  .badge[data-state='unspecified'] {
    color: var(--_muted);
    background: var(--_surface);
  }
`;
