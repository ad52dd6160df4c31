import { LitElement, html, nothing } from 'lit';
import { property, state } from 'lit/decorators.js';
import {
  DEMO_AGENT,
  DEMO_ORG,
  routes,
  type ConnectionInfo,
  type TaskStreamClient,
} from '@orchestrator-ai/transport-types';
import type { A2AConnectionChangeEvent, A2AStatusChangeEvent, A2ATaskSelectEvent } from '../events.js';
import { define } from '../internal/define.js';
import { cancelTask, createSimulatorTask, fetchActiveStreams } from './api.js';
import type { DevSession } from './session.js';
import { DEFAULT_USER } from './session.js';

type Route = { page: 'home' } | { page: 'task'; org: string; agent: string; taskId: string };

export function parseRoute(pathname: string): Route {
  const m = /^\/tasks\/([^/]+)\/([^/]+)\/([^/]+)\/?$/.exec(pathname);
  if (!m) return { page: 'home' };
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  return { page: 'task', org: dec(m[1]!), agent: dec(m[2]!), taskId: dec(m[3]!) };
}

function describeTransport(c: ConnectionInfo | undefined): string {
  if (!c) return '…';
  const via = c.via ?? (c.transport === 'worker' ? 'worker' : 'page');
  if (via === 'worker') {
    return c.transport === 'polling'
      ? 'the Service Worker, polling the messages route (one poller shared by all tabs)'
      : 'the Service Worker (one connection shared by all tabs of this browser)';
  }
  return c.transport === 'polling'
    ? 'polling from this tab (no Service Worker, and streaming is not available)'
    : 'a direct connection from this tab (no Service Worker here)';
}

/**
 * The demo app shell: sign-in line, task list and "start a task" form on `/`, the task page at
 * `/tasks/{org}/{agent}/{taskId}`, and the "what you are seeing" panel. Rendered in light DOM so
 * the page's stylesheet and tests reach it directly; the components keep their shadow roots.
 */
export class A2ADemoApp extends LitElement {
  @property({ attribute: false }) client?: TaskStreamClient;
  @property({ attribute: false }) session?: DevSession;
  @property({ attribute: false }) apiBase = location.origin;
  /** Set when signing in failed. */
  @property({ attribute: false }) signInError = '';

  @state() private route: Route = parseRoute(location.pathname);
  @state() private activeStreams: number | undefined;
  @state() private metricsError = false;
  @state() private connection: ConnectionInfo | undefined;
  @state() private taskFinal = false;
  @state() private busy = false;
  @state() private formError = '';
  private metricsTimer: ReturnType<typeof setInterval> | undefined;

  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    addEventListener('popstate', this.onPopState);
    void this.pollMetrics();
    this.metricsTimer = setInterval(() => void this.pollMetrics(), 2000);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    removeEventListener('popstate', this.onPopState);
    clearInterval(this.metricsTimer);
  }

  private readonly onPopState = () => this.go(location.pathname + location.search, false);

  /** Keep `?user=` on internal links. */
  private href(path: string): string {
    const user = this.session?.user;
    return user && user !== DEFAULT_USER ? `${path}?user=${encodeURIComponent(user)}` : path;
  }

  private go(url: string, push = true): void {
    const route = parseRoute(new URL(url, location.href).pathname);
    if (push) history.pushState(null, '', url);
    else if (JSON.stringify(route) === JSON.stringify(this.route)) return; // e.g. the skip link's #main
    this.route = route;
    this.connection = undefined;
    this.taskFinal = false;
    this.formError = '';
    document.title =
      this.route.page === 'task' ? `Task ${this.route.taskId} · A2A demo` : 'A2A task streaming demo';
    window.scrollTo?.(0, 0);
  }

  private onLink(e: MouseEvent): void {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = e.currentTarget as HTMLAnchorElement;
    e.preventDefault();
    this.go(a.getAttribute('href')!);
  }

  private async pollMetrics(): Promise<void> {
    if (document.visibilityState === 'hidden') return;
    try {
      this.activeStreams = await fetchActiveStreams(this.apiBase);
      this.metricsError = false;
    } catch {
      this.metricsError = true;
    }
  }

  private async onCreate(e: SubmitEvent): Promise<void> {
    e.preventDefault();
    if (!this.session) return;
    const form = new FormData(e.target as HTMLFormElement);
    const num = (name: string, fallback: number) => {
      const v = Number(form.get(name));
      return Number.isFinite(v) && v > 0 ? v : fallback;
    };
    this.busy = true;
    this.formError = '';
    try {
      const task = await createSimulatorTask(
        this.apiBase,
        this.session.getAccessToken,
        String(form.get('text') ?? ''),
        {
          steps: Math.round(num('steps', 20)),
          intervalMs: Math.round(num('intervalMs', 300)),
          chunkSize: Math.round(num('chunkSize', 24)),
          ...(form.get('fail') ? { fail: true } : {}),
        },
      );
      this.go(this.href(routes.taskPage(DEMO_ORG, DEMO_AGENT, task.id)));
    } catch (err) {
      this.formError = `Could not start the task: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      this.busy = false;
    }
  }

  private async onCancel(): Promise<void> {
    if (this.route.page !== 'task' || !this.session) return;
    const { org, agent, taskId } = this.route;
    try {
      await cancelTask(this.apiBase, this.session.getAccessToken, org, agent, taskId);
    } catch (err) {
      this.formError = `Could not cancel: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  override render() {
    return html`
      <header class="app-header">
        <a class="skip-link" href="#main">Skip to content</a>
        <a class="brand" href=${this.href('/')} @click=${this.onLink}>A2A task streaming</a>
        ${this.renderUser()}
      </header>
      <div class="layout">
        <main id="main" class="primary">
          ${this.signInError ? html`<p class="error" role="alert">${this.signInError}</p>` : nothing}
          ${this.route.page === 'task' ? this.renderTask(this.route) : this.renderHome()}
        </main>
        <aside class="secondary" aria-label="About this demo">${this.renderExplainer()}</aside>
      </div>
    `;
  }

  private renderUser() {
    const user = this.session?.user ?? DEFAULT_USER;
    return html`<form class="user" method="get" action="/">
      <span>Signed in as <strong id="current-user">${user}</strong> (dev mode)</span>
      <label>
        <span class="sr-only">Switch to user</span>
        <input name="user" placeholder="another user" autocomplete="off" size="12" />
      </label>
      <button type="submit" class="secondary">Switch user</button>
    </form>`;
  }

  private renderHome() {
    return html`
      <section class="card" aria-labelledby="new-task-title">
        <h1 id="new-task-title">Start a simulated task</h1>
        <p class="muted">
          The built-in agent <code>${DEMO_ORG}/${DEMO_AGENT}</code> reports progress step by step and streams
          an artifact in chunks.
        </p>
        <form id="new-task" class="new-task" @submit=${this.onCreate}>
          <label class="wide">
            Prompt
            <input name="text" value="Summarize the quarterly report" autocomplete="off" />
          </label>
          <label>
            Steps
            <input name="steps" type="number" min="1" max="10000" value="20" required />
          </label>
          <label>
            Interval between steps (ms)
            <input name="intervalMs" type="number" min="10" max="60000" step="10" value="300" required />
          </label>
          <label>
            Artifact chunk size (characters)
            <input name="chunkSize" type="number" min="1" max="10000" value="24" />
          </label>
          <label class="check"><input name="fail" type="checkbox" /> Fail at the end</label>
          <div class="actions wide">
            <button type="submit" ?disabled=${this.busy || !this.session}>
              ${this.busy ? 'Starting…' : 'Start task'}
            </button>
          </div>
          ${this.formError ? html`<p class="error wide" role="alert">${this.formError}</p>` : nothing}
        </form>
      </section>
      <a2a-task-list
        id="tasks"
        org=${DEMO_ORG}
        agent=${DEMO_AGENT}
        api-base=${this.apiBase}
        task-href=${this.href('/tasks/{org}/{agent}/{taskId}')}
        refresh-interval="3"
        .getAccessToken=${this.session?.getAccessToken}
        @a2a-task-select=${(e: A2ATaskSelectEvent) => {
          e.preventDefault();
          this.go(e.detail.href);
        }}
      ></a2a-task-list>
    `;
  }

  private renderTask(r: Extract<Route, { page: 'task' }>) {
    return html`
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href=${this.href('/')} @click=${this.onLink}>← All tasks</a>
      </nav>
      <h1 class="sr-only">Task ${r.taskId}</h1>
      <a2a-task-stream
        id="task-stream"
        org=${r.org}
        agent=${r.agent}
        task-id=${r.taskId}
        api-base=${this.apiBase}
        .client=${this.client}
        .getAccessToken=${this.session?.getAccessToken}
        @a2a-connection-change=${(e: A2AConnectionChangeEvent) => (this.connection = e.detail)}
        @a2a-status-change=${(e: A2AStatusChangeEvent) => (this.taskFinal = e.detail.final)}
      ></a2a-task-stream>
      <div class="actions">
        ${
          this.taskFinal
            ? nothing
            : html`<button type="button" class="secondary" id="cancel-task" @click=${this.onCancel}>
                Cancel task
              </button>`
        }
        <a href=${location.href} target="_blank" rel="noopener">Open this task in another tab</a>
      </div>
      ${this.formError ? html`<p class="error" role="alert">${this.formError}</p>` : nothing}
    `;
  }

  private renderExplainer() {
    return html`<section class="card explainer" aria-labelledby="explainer-title">
      <h2 id="explainer-title">What you are seeing</h2>
      <p class="stat">
        Server streams open right now:
        <strong id="active-streams"
          >${this.activeStreams ?? (this.metricsError ? 'unavailable' : '…')}</strong
        >
        <span class="muted">(<code>a2a_sse_active_streams</code> from <code>/metrics</code>, every 2 s)</span>
      </p>
      ${
        this.route.page === 'task'
          ? html`<p>
              This tab receives the task through
              <strong
                id="transport"
                data-transport=${this.connection?.transport ?? ''}
                data-via=${this.connection?.via ?? ''}
                >${describeTransport(this.connection)}</strong
              >.
            </p>`
          : nothing
      }
      <ul>
        <li>
          <strong>One connection per task, shared by all tabs.</strong> A Service Worker holds the only
          Server-Sent Events stream for each task and relays every event to the tabs that watch it. Open the
          task in more tabs: the server count above does not grow.
        </li>
        <li>
          <strong>An offline store.</strong> The worker writes each event to IndexedDB before relaying it.
          Switch the network off (DevTools → Network → Offline): the page says “Offline — showing saved
          progress” and keeps what it has; a tab opened while offline reads the history from the store. Back
          online, the stream resumes from the last event id, with nothing lost or repeated.
        </li>
        <li>
          <strong>Resumable, ordered events.</strong> Every event carries a sequence number (the SSE id). The
          log below the task lists them in order, each once.
        </li>
      </ul>
    </section>`;
  }
}

define('a2a-demo-app', A2ADemoApp);

declare global {
  interface HTMLElementTagNameMap {
    'a2a-demo-app': A2ADemoApp;
  }
}
