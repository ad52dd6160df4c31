import { LitElement, html, nothing, type PropertyValues } from 'lit';
import { property, state } from 'lit/decorators.js';
import { repeat } from 'lit/directives/repeat.js';
import { routes, type WireTask } from '@orchestrator-ai/transport-types';
import { emit } from '../../events.js';
import { formatAge } from '../../internal/format.js';
import { stateLabel, stateToken, taskTitle } from '../../internal/task-state.js';
import { themeStyles } from '../../internal/theme.styles.js';
import styles from './task-list.styles.js';

/**
 * The signed-in user's tasks of one agent, newest first, with their states. Fetches
 * `GET /agent-to-agent/{org}/{agent}/tasks` with the host's token (given through `getAccessToken`
 * or `accessToken`, never an attribute), or shows the `tasks` the host sets itself.
 *
 * Each task links to `task-href` with `{org}`, `{agent}` and `{taskId}` filled in. Clicking one
 * dispatches a cancelable `a2a-task-select`; prevent it to route inside a single-page app.
 *
 * @summary A list of A2A tasks with their states.
 *
 * @event {A2ATaskSelectEvent} a2a-task-select - A task was chosen (cancelable).
 * @event {A2AErrorEvent} a2a-error - Loading the list failed.
 *
 * @csspart base - The wrapper.
 * @csspart heading - The heading.
 * @csspart refresh - The refresh button.
 * @csspart list - The list.
 * @csspart item - One task; carries `data-task-id` and `data-state`.
 * @csspart link - The link to the task.
 * @csspart state - The state badge; carries `data-state`.
 * @csspart task-id - The task id.
 * @csspart time - When the task's state last changed.
 * @csspart empty - The "no tasks yet" text.
 * @csspart error - The error text.
 *
 * @cssproperty --a2a-task-list-max-height - Height limit of the list (scrolls beyond; default none).
 * @cssproperty --a2a-color-text - And the other `--a2a-color-*`, `--a2a-font-*`, `--a2a-radius`, `--a2a-spacing` tokens of `<a2a-task-stream>`.
 */
export default class A2ATaskList extends LitElement {
  static override styles = [themeStyles, styles];

  @property() org = '';
  @property() agent = '';
  /** Origin (and optional prefix) of the API; defaults to the page's origin. */
  @property({ attribute: 'api-base' }) apiBase = '';
  /** Link template for a task: `{org}`, `{agent}`, `{taskId}` are replaced (URL-encoded). */
  @property({ attribute: 'task-href' }) taskHref = '/tasks/{org}/{agent}/{taskId}';
  /** Seconds between automatic refreshes while the page is visible; 0 = only on demand. */
  @property({ type: Number, attribute: 'refresh-interval' }) refreshInterval = 0;
  /** The heading text. */
  @property() heading = 'Your tasks';
  /** Id of the task to mark as current. */
  @property({ attribute: 'current-task-id' }) currentTaskId = '';

  /** The tasks shown. Set it to show your own list; it is replaced on each fetch. */
  @property({ attribute: false }) tasks: WireTask[] | undefined;
  /** The host's user token. Property only. */
  @property({ attribute: false }) accessToken?: string;
  /** Called for a fresh user token before each fetch; wins over `accessToken`. */
  @property({ attribute: false }) getAccessToken?: () => string | Promise<string>;

  @state() private loading = false;
  @state() private error = '';
  private timer: ReturnType<typeof setInterval> | undefined;
  private request = 0;

  override connectedCallback(): void {
    super.connectedCallback();
    this.restartTimer();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.stopTimer();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (
      changed.has('org') ||
      changed.has('agent') ||
      changed.has('apiBase') ||
      changed.has('accessToken') ||
      changed.has('getAccessToken')
    ) {
      const before = changed.get('accessToken');
      // A refreshed token alone is no reason to refetch.
      const onlyTokenValue =
        changed.size === 1 &&
        changed.has('accessToken') &&
        before !== undefined &&
        this.accessToken !== undefined;
      if (!onlyTokenValue && this.canFetch) void this.refresh();
    }
    if (changed.has('refreshInterval')) this.restartTimer();
  }

  private get canFetch(): boolean {
    return Boolean(this.org && this.agent && (this.getAccessToken || this.accessToken));
  }

  /** Fetch the list now. Resolves when it is shown (or the error is). */
  async refresh(): Promise<void> {
    if (!this.canFetch) return;
    const id = ++this.request;
    this.loading = true;
    try {
      const token = this.getAccessToken ? await this.getAccessToken() : this.accessToken;
      const base = this.apiBase || location.origin;
      const res = await fetch(`${base.replace(/\/$/, '')}${routes.tasks(this.org, this.agent)}`, {
        headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      });
      if (!res.ok) {
        const what =
          res.status === 401
            ? 'Your sign-in has expired. Sign in again, then refresh.'
            : `Could not load your tasks (HTTP ${res.status}). Refresh to try again.`;
        throw Object.assign(new Error(what), { status: res.status });
      }
      const body = (await res.json()) as { tasks?: WireTask[] };
      if (id !== this.request) return;
      this.tasks = body.tasks ?? [];
      this.error = '';
    } catch (err) {
      if (id !== this.request) return;
      const status = (err as { status?: number }).status;
      this.error =
        err instanceof Error && status
          ? err.message
          : 'Could not load your tasks: the API is unreachable. Refresh to try again.';
      emit(this, 'a2a-error', {
        message: this.error,
        status,
        kind: status === 401 ? 'auth' : status ? 'unknown' : 'network',
      });
    } finally {
      if (id === this.request) this.loading = false;
    }
  }

  private restartTimer(): void {
    this.stopTimer();
    if (this.refreshInterval > 0 && this.isConnected) {
      this.timer = setInterval(() => {
        if (typeof document === 'undefined' || document.visibilityState !== 'hidden') void this.refresh();
      }, this.refreshInterval * 1000);
    }
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The link of a task, from `task-href`. */
  hrefFor(task: WireTask): string {
    const enc = encodeURIComponent;
    return this.taskHref
      .replaceAll('{org}', enc(this.org))
      .replaceAll('{agent}', enc(this.agent))
      .replaceAll('{taskId}', enc(task.id));
  }

  private onClick(e: MouseEvent, task: WireTask, href: string): void {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const proceed = emit(
      this,
      'a2a-task-select',
      { task, org: this.org, agent: this.agent, href },
      { cancelable: true },
    );
    if (!proceed) e.preventDefault();
  }

  override render() {
    const tasks = this.tasks;
    return html`<section part="base" aria-label=${this.heading} aria-busy=${this.loading ? 'true' : 'false'}>
      <div class="top">
        <h2 part="heading">${this.heading}</h2>
        ${
          this.canFetch
            ? html`<button part="refresh" class="secondary" type="button" @click=${() => this.refresh()}>
                ${this.loading ? 'Refreshing…' : 'Refresh'}
              </button>`
            : nothing
        }
      </div>
      ${this.error ? html`<p part="error" role="alert">${this.error}</p>` : nothing}
      ${
        tasks === undefined
          ? this.error
            ? nothing
            : html`<p part="empty">${this.canFetch ? 'Loading tasks…' : 'Sign in to see your tasks.'}</p>`
          : tasks.length === 0
            ? html`<p part="empty">No tasks yet.</p>`
            : html`<ul part="list">
                ${repeat(
                  tasks,
                  (t) => t.id,
                  (t) => this.renderTask(t),
                )}
              </ul>`
      }
    </section>`;
  }

  private renderTask(t: WireTask) {
    const href = this.hrefFor(t);
    const token = stateToken(t.status?.state);
    const title = titleOf(t);
    return html`<li
      part="item"
      data-task-id=${t.id}
      data-state=${token}
      aria-current=${t.id === this.currentTaskId ? 'page' : nothing}
    >
      <a part="link" href=${href} @click=${(e: MouseEvent) => this.onClick(e, t, href)}>${title}</a>
      <span part="state" class="badge" data-state=${token}>${stateLabel(t.status?.state)}</span>
      <span class="meta">
        <span part="task-id">${t.id}</span>
        ${
          t.status?.timestamp
            ? html`<time part="time" datetime=${t.status.timestamp}>${formatAge(t.status.timestamp)}</time>`
            : nothing
        }
      </span>
    </li>`;
  }
}

/** A task's title, or its id. */
function titleOf(t: WireTask): string {
  return taskTitle(t) ?? `Task ${t.id.slice(0, 8)}`;
}
