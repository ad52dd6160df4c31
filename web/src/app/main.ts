import '../components/task-stream/task-stream.js';
import '../components/task-list/task-list.js';
import '../components/connection-status/connection-status.js';
import './demo-app.js';
import type { StreamConfigInput } from '@orchestrator-ai/transport-types';
import { createTaskStreamClient } from '../stream-client.js';
import { DevSession, currentUser } from './session.js';

/**
 * Optional timings for the page's stream client, for browser tests and for trying the failure
 * paths by hand without waiting minutes: set before this module runs (a test's
 * `context.addInitScript`, or an inline script ahead of the app's), e.g.
 * `window.A2A_DEMO_STREAM_OPTIONS = { keepAliveMs: 2000, config: { pollIntervalMs: 500 } }`.
 * `config` is any `StreamConfigInput` (sw/src/shared/config.ts; unknown keys and bad values are
 * ignored); unset means the defaults. `serviceWorker: 'off'` makes each tab connect by itself
 * (a stream per tab and task, no worker), as a page without Service Worker support does.
 */
export interface DemoStreamOptions {
  serviceWorker?: 'auto' | 'off';
  keepAliveMs?: number;
  workerTimeoutMs?: number;
  config?: StreamConfigInput;
}

declare global {
  interface Window {
    A2A_DEMO_STREAM_OPTIONS?: DemoStreamOptions;
  }
}

function demoStreamOptions(): DemoStreamOptions {
  const raw: unknown = window.A2A_DEMO_STREAM_OPTIONS;
  if (typeof raw !== 'object' || raw === null) return {};
  const given = raw as Record<string, unknown>;
  const positive = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;
  const out: DemoStreamOptions = {};
  if (given.serviceWorker === 'auto' || given.serviceWorker === 'off')
    out.serviceWorker = given.serviceWorker;
  if (positive(given.keepAliveMs)) out.keepAliveMs = given.keepAliveMs as number;
  if (positive(given.workerTimeoutMs)) out.workerTimeoutMs = given.workerTimeoutMs as number;
  if (typeof given.config === 'object' && given.config !== null)
    out.config = given.config as StreamConfigInput;
  return out;
}

/**
 * The demo app's entry: sign in as `?user=` through the dev token route, make the page's stream
 * client (which registers the Service Worker at `/sw.js`, or falls back to direct/polling), and
 * hand both to `<a2a-demo-app>`.
 */
const apiBase = location.origin;
const session = new DevSession(currentUser(), apiBase);
const client = createTaskStreamClient({
  apiBase,
  getAccessToken: session.getAccessToken,
  ...demoStreamOptions(),
});

// Another user in this browser: forget the previous user's stored events before showing any.
const LAST_USER = 'a2a-demo-last-user';
try {
  const last = localStorage.getItem(LAST_USER);
  if (last && last !== session.user) {
    await Promise.race([client.clear(), new Promise((r) => setTimeout(r, 3000))]);
  }
  localStorage.setItem(LAST_USER, session.user);
} catch {
  // storage blocked, or the store could not be cleared: carry on
}

const app =
  document.querySelector('a2a-demo-app') ?? document.body.appendChild(document.createElement('a2a-demo-app'));
app.apiBase = apiBase;
app.session = session;
app.client = client;

session.getAccessToken().catch((err: unknown) => {
  app.signInError = `Sign-in failed: ${err instanceof Error ? err.message : String(err)} Is the API running (npm start)?`;
});
