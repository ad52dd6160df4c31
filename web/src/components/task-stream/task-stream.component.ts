import { LitElement, html, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { property, state } from 'lit/decorators.js';
import { repeat } from 'lit/directives/repeat.js';
import type {
  ConnectionInfo,
  TaskStreamClient,
  WatchTarget,
  WirePart,
} from '@orchestrator-ai/transport-types';
import { TaskStreamController } from '../../controllers/task-stream-controller.js';
import { defaultClient } from '../../stream-client.js';
import {
  base64Bytes,
  messageText,
  missingHistory,
  stateLabel,
  stateToken,
  type ArtifactView,
  type LogEntry,
  type TaskViewState,
} from '../../internal/task-state.js';
import { EndPin } from '../../internal/end-pin.js';
import { tailOf } from '../../internal/format.js';
import { themeStyles } from '../../internal/theme.styles.js';
import '../connection-status/connection-status.js';
import styles from './task-stream.styles.js';

/**
 * Renders one A2A task as it streams: its state, progress, latest agent message, artifacts
 * (text growing chunk by chunk, data as formatted JSON, links for url parts), the connection
 * state, and the log of events in seq order.
 *
 * Data comes through a {@link TaskStreamClient}: inject one with the `client` property, or let
 * the element make the default one (Service Worker shared by all tabs, falling back to a direct
 * connection, then polling) from `api-base` and the host's token, which is given through the
 * `getAccessToken` callback or the `accessToken` property and never through an attribute.
 *
 * The log keeps every event in memory but renders only the newest `max-events` entries;
 * "Show earlier" adds more on request, so a long task never grows the DOM by itself. Likewise an
 * artifact's text longer than `max-artifact-chars` shows its end until "Show all" is pressed.
 * Renders are batched to one per animation frame.
 *
 * @summary Live view of an A2A task stream.
 *
 * @event {A2AStatusChangeEvent} a2a-status-change - The task's A2A state changed.
 * @event {A2AEventEvent} a2a-event - A stream event new to the log (once per seq).
 * @event {A2AConnectionChangeEvent} a2a-connection-change - Connection state or transport changed.
 * @event {A2AErrorEvent} a2a-error - Something to act on (sign in again, wrong task, network, setup).
 *
 * @csspart base - The outer box.
 * @csspart header - Title, state and connection row.
 * @csspart title - The task's title.
 * @csspart state - The task state badge; carries `data-state` (`working`, `completed`…).
 * @csspart connection - The built-in `<a2a-connection-status>`.
 * @csspart error - The error notice with its retry button.
 * @csspart retry - The retry button.
 * @csspart progress - The progress row (only when the agent reports progress).
 * @csspart progress-bar - The filled part of the progress bar.
 * @csspart progress-label - The percentage.
 * @csspart message - The latest agent message.
 * @csspart truncated - The "earlier messages expired" notice.
 * @csspart artifacts - The artifacts section.
 * @csspart artifact - One artifact; carries `data-artifact-id`.
 * @csspart artifact-name - An artifact's name.
 * @csspart artifact-text - A text part (grows as chunks arrive).
 * @csspart artifact-text-scroller - The box around a text part: scrolls past `--a2a-artifact-max-height`,
 *   stays on the newest text while the reader is at its end (keyboard focusable).
 * @csspart artifact-data - A data part as formatted JSON.
 * @csspart artifact-link - A link for a url part or a download for raw bytes.
 * @csspart log-section - The event log section.
 * @csspart log-scroller - The scrollable box around the log (keyboard focusable).
 * @csspart log - The list of events.
 * @csspart event - One event; carries `data-seq`, `data-kind` and (status updates) `data-state`.
 * @csspart event-seq - The event's seq.
 * @csspart event-time - When the event was stored.
 * @csspart event-summary - One line describing the event.
 * @csspart show-earlier - The "Show earlier" button.
 * @csspart show-latest - The "Show only the latest" button.
 * @csspart show-whole-text - The "Show all … characters" / "Show only the end" button of a long text.
 *
 * @cssproperty --a2a-font-family - Text font.
 * @cssproperty --a2a-font-mono - Monospace font (seqs, JSON).
 * @cssproperty --a2a-font-size - Base font size (default 1rem).
 * @cssproperty --a2a-color-text - Text colour.
 * @cssproperty --a2a-color-muted - Secondary text colour.
 * @cssproperty --a2a-color-background - Background.
 * @cssproperty --a2a-color-surface - Background of inset areas (message, JSON).
 * @cssproperty --a2a-color-border - Borders.
 * @cssproperty --a2a-color-accent - Links, buttons, progress.
 * @cssproperty --a2a-color-accent-text - Text on accent (buttons).
 * @cssproperty --a2a-color-success - Completed state text (`--a2a-color-success-background` too).
 * @cssproperty --a2a-color-warning - Warnings (`--a2a-color-warning-background` too).
 * @cssproperty --a2a-color-danger - Errors (`--a2a-color-danger-background` too).
 * @cssproperty --a2a-color-info - Working state (`--a2a-color-info-background` too).
 * @cssproperty --a2a-color-focus - Focus ring.
 * @cssproperty --a2a-radius - Corner radius.
 * @cssproperty --a2a-spacing - Base spacing unit (default 0.5rem).
 * @cssproperty --a2a-progress-color - Progress bar fill.
 * @cssproperty --a2a-progress-height - Progress bar height.
 * @cssproperty --a2a-log-max-height - Height of the scrollable log (default 20rem).
 * @cssproperty --a2a-artifact-max-height - Height of an artifact's text or JSON before it scrolls (default 20rem).
 * @cssproperty --a2a-task-stream-padding - Padding of the outer box.
 */
export default class A2ATaskStream extends LitElement {
  static override styles = [themeStyles, styles];

  /** The task's organisation (`demo` for the simulator). */
  @property() org = '';
  /** The agent (`simulator` for the demo agent). */
  @property() agent = '';
  /** The A2A task id. */
  @property({ attribute: 'task-id' }) taskId = '';
  /** Origin (and optional prefix) of the API; defaults to the page's origin. */
  @property({ attribute: 'api-base' }) apiBase = '';
  /** Heading shown above the task; defaults to "Task <id>". */
  @property() heading = '';
  /** How many log entries to render at most before "Show earlier" (default 200). */
  @property({ type: Number, attribute: 'max-events' }) maxEvents = 200;
  /**
   * How many characters of an artifact's text to render at most: a longer text shows its end,
   * and "Show all" the rest (default 4,000).
   */
  @property({ type: Number, attribute: 'max-artifact-chars' }) maxArtifactChars = 4000;

  /** A stream client to use instead of the default one (tests, hosts with their own). */
  @property({ attribute: false }) client?: TaskStreamClient;
  /** The host's user token. Property only: tokens never go in attributes. */
  @property({ attribute: false }) accessToken?: string;
  /** Called whenever a fresh user token is needed; wins over `accessToken`. */
  @property({ attribute: false }) getAccessToken?: () => string | Promise<string>;

  /** Log entries rendered beyond `maxEvents` after "Show earlier". */
  @state() private extra = 0;
  /** Text of the polite live region; changes only with the task state. */
  @state() private announcement = '';
  /** Text parts (`artifactId:index`) the reader asked to see whole. */
  @state() private wholeTexts: ReadonlySet<string> = new Set();

  /** Reads `accessToken` at each call, so a host can refresh the property in place. */
  private readonly tokenSource = (): string | Promise<string> => {
    if (this.accessToken) return this.accessToken;
    throw new Error('no access token: set getAccessToken or accessToken on <a2a-task-stream>');
  };

  private readonly stream = new TaskStreamController(this, {
    target: (): WatchTarget | undefined =>
      this.org && this.agent && this.taskId
        ? { org: this.org, agent: this.agent, taskId: this.taskId }
        : undefined,
    client: () => {
      if (this.client) return this.client;
      if (!this.getAccessToken && !this.accessToken) return undefined;
      const apiBase = this.apiBase || (typeof location !== 'undefined' ? location.origin : '');
      try {
        // Elements given the same callback share one client (and its connections).
        return defaultClient({ apiBase, getAccessToken: this.getAccessToken ?? this.tokenSource });
      } catch (err) {
        return { error: `Cannot connect: ${err instanceof Error ? err.message : String(err)}` };
      }
    },
    onStateChange: (s) => {
      this.announcement = `Task ${stateLabel(s.state).toLowerCase()}${
        s.message && s.final ? `: ${messageText(s.message)}` : ''
      }`;
    },
  });

  /** The task as the element knows it (read-only view; do not mutate). */
  get taskState(): Readonly<TaskViewState> {
    return this.stream.state;
  }

  /** The latest connection report, if watching started. */
  get connection(): ConnectionInfo | undefined {
    return this.stream.connection;
  }

  /** Reconnect after an error (keeps what is shown; the replay is deduped by seq). */
  retry(): void {
    this.stream.retry();
  }

  /** Starts the log and text boxes at their newest content (see end-pin.ts). */
  private readonly endPin = new EndPin();

  protected override updated(): void {
    for (const el of this.renderRoot.querySelectorAll<HTMLElement>('.log-scroller, .text-scroller')) {
      this.endPin.watch(el);
    }
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.endPin.disconnect();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('taskId') || changed.has('org') || changed.has('agent')) {
      this.extra = 0;
      this.announcement = '';
      this.wholeTexts = new Set();
    }
  }

  override render() {
    const s = this.stream.state;
    const conn = this.stream.connection;
    const problem = this.stream.problem;
    const token = stateToken(s.state);
    const title = this.heading || s.title || (this.taskId ? `Task ${this.taskId}` : 'Task');
    const waitingFor = !this.taskId
      ? 'No task selected.'
      : !this.client && !this.getAccessToken && !this.accessToken
        ? 'Waiting for sign-in.'
        : '';
    return html`<section part="base" aria-label=${title}>
      <div part="header">
        <h2 part="title">${title}</h2>
        <span part="state" class="badge" data-state=${token}>${stateLabel(s.state)}</span>
        <a2a-connection-status
          part="connection"
          exportparts="base: connection-base, indicator: connection-indicator, label: connection-label, hint: connection-hint"
          state=${conn?.state ?? 'idle'}
          transport=${conn?.transport ?? nothing}
          via=${conn?.via ?? nothing}
          .reason=${conn?.reason}
          .status=${conn?.status}
        ></a2a-connection-status>
      </div>
      ${waitingFor ? html`<p class="empty">${waitingFor}</p>` : nothing}
      ${
        problem
          ? html`<p part="error" role="alert">
              <span>${problem.message}</span>
              ${
                problem.kind !== 'config'
                  ? html`<button part="retry" type="button" @click=${() => this.retry()}>Retry</button>`
                  : nothing
              }
            </p>`
          : nothing
      }
      ${this.renderProgress(s)}
      ${s.message && messageText(s.message) ? html`<p part="message">${messageText(s.message)}</p>` : nothing}
      ${this.renderTruncated(s)} ${this.renderArtifacts(s.artifacts)} ${this.renderLog(s.log)}
      <div class="sr-only" role="status" aria-live="polite" aria-atomic="true">${this.announcement}</div>
    </section>`;
  }

  private renderProgress(s: TaskViewState) {
    if (s.progress === undefined) return nothing;
    const pct = Math.round(s.progress * 100);
    return html`<div part="progress">
      <div
        class="track"
        role="progressbar"
        aria-label="Task progress"
        aria-valuemin="0"
        aria-valuemax="100"
        aria-valuenow=${pct}
      >
        <div part="progress-bar" style="transform: scaleX(${pct / 100})"></div>
      </div>
      <span part="progress-label">${pct}%</span>
    </div>`;
  }

  private renderTruncated(s: TaskViewState) {
    const missing = missingHistory(s);
    if (!missing) return nothing;
    const from = s.earliestSeq ? ` (events before #${s.earliestSeq} are no longer kept)` : '';
    return html`<p part="truncated" role="note">
      Earlier messages expired${from}. What is shown is the task's current state and the events still
      retained.
    </p>`;
  }

  private renderArtifacts(artifacts: ArtifactView[]) {
    if (!artifacts.length) return nothing;
    return html`<section part="artifacts" aria-label="Artifacts">
      <h3 class="section-title">Artifacts</h3>
      ${repeat(
        artifacts,
        (a) => a.artifactId,
        (a) =>
          html`<article
            part="artifact"
            data-artifact-id=${a.artifactId}
            aria-busy=${a.complete ? 'false' : 'true'}
          >
            <h4 part="artifact-name">
              ${a.name || a.artifactId}
              ${a.complete ? nothing : html`<span class="streaming">(streaming…)</span>`}
            </h4>
            ${a.parts.map((p, i) =>
              'text' in p
                ? this.renderText(`${a.artifactId}:${i}`, p.text, a.name || a.artifactId)
                : renderPart(p),
            )}
          </article>`,
      )}
    </section>`;
  }

  /**
   * A text part, or its end when it is longer than `maxArtifactChars`. An agent's answer streamed
   * chunk by chunk grows with every event, and each chunk re-laid out the whole text in every tab
   * watching it: at 20 chunks/s over ten tabs that kept Chromium's core busy and events waited
   * hundreds of milliseconds to be shown.
   */
  private renderText(key: string, text: string, label: string) {
    const limit = Math.max(1, this.maxArtifactChars);
    if (text.length <= limit) return textScroller(label, html`<pre part="artifact-text">${text}</pre>`);
    const whole = this.wholeTexts.has(key);
    const shown = whole ? text : tailOf(text, limit);
    const hidden = text.length - shown.length;
    const body = hidden ? `… ${shown}` : shown;
    const pre = html`<pre part="artifact-text" data-hidden-chars=${hidden || nothing}>${body}</pre>`;
    return html`<div class="text-controls">
        <button
          part="show-whole-text"
          class="secondary"
          type="button"
          aria-expanded=${whole ? 'true' : 'false'}
          @click=${() => this.toggleWholeText(key)}
        >
          ${whole ? 'Show only the end' : `Show all ${text.length} characters (${hidden} hidden)`}
        </button>
      </div>
      ${textScroller(label, pre)}`;
  }

  private toggleWholeText(key: string): void {
    const next = new Set(this.wholeTexts);
    if (!next.delete(key)) next.add(key);
    this.wholeTexts = next;
  }

  private renderLog(log: LogEntry[]) {
    const window = Math.max(1, this.maxEvents) + this.extra;
    const hidden = Math.max(0, log.length - window);
    const shown = hidden ? log.slice(hidden) : log;
    // Entries skip style and layout off screen (content-visibility) only in a log the reader
    // expanded, where thousands can be rendered. Blink decides whether a new such entry is on
    // screen after the frame that inserts it and lays out again in the next: at the default
    // window that was 2.5 layouts per event instead of 1, in every tab.
    const logClass = this.extra ? 'expanded' : '';
    return html`<section part="log-section" aria-label="Event log">
      <h3 class="section-title">Events (${log.length})</h3>
      ${
        hidden || this.extra
          ? html`<div class="log-controls">
              ${
                hidden
                  ? html`<button
                      part="show-earlier"
                      class="secondary"
                      type="button"
                      @click=${() => (this.extra += Math.max(1, this.maxEvents))}
                    >
                      Show earlier (${hidden} hidden)
                    </button>`
                  : nothing
              }
              ${
                this.extra
                  ? html`<button
                      part="show-latest"
                      class="secondary"
                      type="button"
                      @click=${() => (this.extra = 0)}
                    >
                      Show only the latest
                    </button>`
                  : nothing
              }
            </div>`
          : nothing
      }
      ${
        log.length
          ? // The scroller stays on the newest event while the reader is at the bottom by scroll
            // anchoring on its end pin, without reading or writing scroll offsets on each event
            // (which would force a layout on every frame of a fast stream).
            html`<div
              part="log-scroller"
              class="log-scroller"
              tabindex="0"
              role="group"
              aria-label="Events in order"
            >
              <ol part="log" class=${logClass}>
                ${repeat(
                  shown,
                  (e) => e.seq,
                  (e) =>
                    html`<li
                      part="event"
                      data-seq=${e.seq}
                      data-kind=${e.kind}
                      data-state=${e.state ? stateToken(e.state) : nothing}
                    >
                      <span part="event-seq">#${e.seq}</span>
                      <time part="event-time" datetime=${e.createdAt ?? nothing}>${e.time}</time>
                      <span part="event-summary">${e.summary}</span>
                    </li>`,
                )}
              </ol>
              <div class="end-pin"></div>
            </div>`
          : html`<p class="empty">No events yet.</p>`
      }
    </section>`;
  }
}

/**
 * The scrolling box around a text part. Like the log, it keeps its end in view by scroll
 * anchoring: an answer streamed chunk by chunk grows at its end, and the box stays on the newest
 * text while the reader is there (a plain scrolling `<pre>` stayed at its top, the newest text
 * below the fold), without reading or writing scroll offsets on every chunk.
 */
function textScroller(label: string, pre: TemplateResult) {
  return html`<div
    part="artifact-text-scroller"
    class="text-scroller"
    tabindex="0"
    role="group"
    aria-label=${`Text of ${label}`}
  >
    ${pre}
    <div class="end-pin"></div>
  </div>`;
}

function renderPart(p: Exclude<WirePart, { text: string }>) {
  if ('data' in p) return html`<pre part="artifact-data">${JSON.stringify(p.data, null, 2)}</pre>`;
  if ('url' in p) {
    const safe = safeUrl(p.url);
    const label = p.filename || p.url;
    return safe
      ? html`<p>
          <a part="artifact-link" href=${safe} target="_blank" rel="noopener noreferrer">${label}</a>
        </p>`
      : html`<p>${label}</p>`;
  }
  const bytes = base64Bytes(p.raw);
  return html`<p>
    <a
      part="artifact-link"
      href="data:application/octet-stream;base64,${p.raw}"
      download=${p.filename || 'artifact.bin'}
      >Download ${p.filename || 'file'} (${bytes} bytes${p.mediaType ? `, ${p.mediaType}` : ''})</a
    >
  </p>`;
}

/** Only http(s) links: an agent must not be able to plant `javascript:` in the page. */
function safeUrl(url: string): string | undefined {
  try {
    const u = new URL(url, typeof location !== 'undefined' ? location.href : 'http://localhost/');
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : undefined;
  } catch {
    return undefined;
  }
}
