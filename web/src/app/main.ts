import '../components/task-stream/task-stream.js';
import '../components/task-list/task-list.js';
import '../components/connection-status/connection-status.js';
import './demo-app.js';
import { createTaskStreamClient } from '../stream-client.js';
import { DevSession, currentUser } from './session.js';

/**
 * The demo app's entry: sign in as `?user=` through the dev token route, make the page's stream
 * client (which registers the Service Worker at `/sw.js`, or falls back to direct/polling), and
 * hand both to `<a2a-demo-app>`.
 */
const apiBase = location.origin;
const session = new DevSession(currentUser(), apiBase);
const client = createTaskStreamClient({ apiBase, getAccessToken: session.getAccessToken });

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
