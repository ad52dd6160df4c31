import { LitElement, html } from 'lit';
import { property } from 'lit/decorators.js';
import type { ConnectionState, StreamTransport } from '@orchestrator-ai/transport-types';
import type { A2AConnectionChangeEvent } from '../../events.js';
import { themeStyles } from '../../internal/theme.styles.js';
import styles from './connection-status.styles.js';

/** `idle`: nothing to watch yet (no task or no token). */
export type ConnectionStatusState = ConnectionState | 'idle';

/**
 * A small connection-state indicator: a dot, a label and, when it helps, what it means or what
 * to do. Use it inside `<a2a-task-stream>` (it is built in) or on its own: set `state` (and
 * optionally `transport`, `reason`, `status`) yourself, or point `for` at the id of an element
 * that dispatches `a2a-connection-change` (such as an `<a2a-task-stream>`) in the same document
 * or shadow root.
 *
 * It is a polite live region (`role="status"`): screen readers hear connection changes, once.
 *
 * @summary Live / reconnecting / offline ("showing saved progress") / error, with what to do.
 *
 * @csspart base - The wrapper (`role="status"`), carries `data-state`.
 * @csspart indicator - The coloured dot.
 * @csspart label - The short state label ("Live", "Reconnecting…").
 * @csspart hint - The longer explanation or advice (hidden with `compact`).
 *
 * @cssproperty --a2a-connection-indicator-color - Dot colour for idle/closed.
 * @cssproperty --a2a-connection-live-color - Dot colour when live.
 * @cssproperty --a2a-connection-reconnecting-color - Dot colour while (re)connecting.
 * @cssproperty --a2a-connection-offline-color - Dot colour when offline.
 * @cssproperty --a2a-connection-error-color - Dot colour on error.
 */
export default class A2AConnectionStatus extends LitElement {
  static override styles = [themeStyles, styles];

  /** `idle`, `connecting`, `open`, `reconnecting`, `offline`, `closed` or `error`. */
  @property({ reflect: true }) state: ConnectionStatusState = 'idle';
  /** `worker` (shared by all tabs), `direct` or `polling`. */
  @property({ reflect: true }) transport?: StreamTransport;
  /** Who holds the connection: `worker` (shared by the tabs) or `page`. */
  @property({ reflect: true }) via?: 'worker' | 'page';
  /** Why the state is `error` or `offline` (shown to the person). */
  @property() reason?: string;
  /** HTTP status behind an error (401 → sign in again; 403/404 → wrong task). */
  @property({ type: Number }) status?: number;
  /** Id of an element whose `a2a-connection-change` events drive this indicator. */
  @property() for?: string;
  /** Only the dot and the label. */
  @property({ type: Boolean, reflect: true }) compact = false;

  private listeningOn: Node | undefined;

  override connectedCallback(): void {
    super.connectedCallback();
    this.listen();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.unlisten();
  }

  override updated(changed: Map<string, unknown>): void {
    if (changed.has('for')) this.listen();
  }

  private listen(): void {
    this.unlisten();
    if (!this.for || !this.isConnected) return;
    this.listeningOn = this.getRootNode();
    this.listeningOn.addEventListener('a2a-connection-change', this.onChange);
  }

  private unlisten(): void {
    this.listeningOn?.removeEventListener('a2a-connection-change', this.onChange);
    this.listeningOn = undefined;
  }

  private readonly onChange = (e: Event): void => {
    const source = e.composedPath()[0] as Element | undefined;
    if (!this.for || source?.id !== this.for) return;
    const d = (e as A2AConnectionChangeEvent).detail;
    this.state = d.state;
    this.transport = d.transport;
    this.via = d.via;
    this.reason = d.reason;
    this.status = d.status;
  };

  override render() {
    const { label, hint } = describeConnection(
      this.state,
      this.transport,
      this.reason,
      this.status,
      this.via,
    );
    return html`<span part="base" role="status" data-state=${this.state}>
      <span part="indicator" aria-hidden="true"></span>
      <span part="label">${label}</span>
      ${hint && !this.compact ? html`<span part="hint">${hint}</span>` : null}
    </span>`;
  }
}

/** The words for a connection state; shared with the task stream's announcements. */
export function describeConnection(
  state: ConnectionStatusState,
  transport?: StreamTransport,
  reason?: string,
  status?: number,
  via?: 'worker' | 'page',
): { label: string; hint: string } {
  const shared = transport === 'worker' || via === 'worker';
  switch (state) {
    case 'idle':
      return { label: 'Not connected', hint: '' };
    case 'connecting':
      return { label: 'Connecting…', hint: '' };
    case 'open':
      return {
        label: 'Live',
        hint:
          transport === 'polling'
            ? `checking for updates every few seconds${shared ? ', shared by your tabs' : ''}`
            : shared
              ? 'one connection shared by your tabs'
              : '',
      };
    case 'reconnecting':
      return { label: 'Reconnecting…', hint: 'missed events will be replayed' };
    case 'offline':
      return {
        label: 'Offline',
        hint: 'showing saved progress; new events appear when you are back online',
      };
    case 'closed':
      return { label: 'Stream ended', hint: 'the task is finished' };
    case 'error':
    default: {
      const why = reason ? `${reason}. ` : '';
      if (status === 401) return { label: 'Signed out', hint: `${why}Sign in again, then retry.` };
      if (status === 403 || status === 404) {
        return { label: 'Task not found', hint: `${why}Check the link or pick a task from your list.` };
      }
      return { label: 'Connection error', hint: `${why}Check your network connection, then retry.` };
    }
  }
}
