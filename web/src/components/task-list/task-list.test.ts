import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import './task-list.js';
import type A2ATaskList from './task-list.component.js';
import type { WireTask } from '@orchestrator-ai/transport-types';
import type { A2AErrorEvent, A2ATaskSelectEvent } from '../../events.js';

const task = (id: string, state: WireTask['status']['state'], text?: string): WireTask => ({
  id,
  contextId: 'c',
  status: { state, timestamp: new Date().toISOString() },
  ...(text ? { history: [{ messageId: 'm', role: 'ROLE_USER', parts: [{ text }] }] } : {}),
});

let el: A2ATaskList;
let fetchMock: ReturnType<typeof vi.fn>;

function respond(status: number, body: unknown) {
  fetchMock.mockResolvedValue(
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } }),
  );
}

async function mount(props: Partial<A2ATaskList> = {}, existing?: A2ATaskList) {
  el = existing ?? document.createElement('a2a-task-list');
  el.setAttribute('org', 'demo');
  el.setAttribute('agent', 'simulator');
  el.setAttribute('api-base', 'http://api.test');
  Object.assign(el, props);
  document.body.append(el);
  await el.updateComplete;
  await vi.waitFor(() =>
    expect(el.shadowRoot!.querySelector('[part="empty"]')?.textContent ?? '').not.toContain('Loading'),
  );
  await el.updateComplete;
  return el;
}
const $$ = (sel: string) => [...el.shadowRoot!.querySelectorAll<HTMLElement>(sel)];

beforeEach(() => {
  fetchMock = vi.fn();
  vi.stubGlobal('fetch', fetchMock);
});
afterEach(() => {
  el?.remove();
  vi.unstubAllGlobals();
});

describe('<a2a-task-list>', () => {
  it('fetches the user tasks with the token from getAccessToken and lists them with states', async () => {
    respond(200, {
      tasks: [task('t2', 'TASK_STATE_WORKING', 'Summarize the report'), task('t1', 'TASK_STATE_COMPLETED')],
    });
    await mount({ getAccessToken: async () => 'tok-1' });
    expect(fetchMock).toHaveBeenCalledTimes(1);
    const [url, init] = fetchMock.mock.calls[0]!;
    expect(url).toBe('http://api.test/agent-to-agent/demo/simulator/tasks');
    expect((init as RequestInit).headers).toMatchObject({ authorization: 'Bearer tok-1' });
    const items = $$('[part="item"]');
    expect(items.map((i) => i.dataset['taskId'])).toEqual(['t2', 't1']);
    expect(items.map((i) => i.dataset['state'])).toEqual(['working', 'completed']);
    expect($$('[part="link"]').map((a) => a.textContent)).toEqual(['Summarize the report', 'Task t1']);
    expect($$('[part="link"]')[0]!.getAttribute('href')).toBe('/tasks/demo/simulator/t2');
    expect($$('[part="state"]').map((s) => s.textContent!.trim())).toEqual(['Working', 'Completed']);
  });

  it('builds links from task-href', async () => {
    respond(200, { tasks: [task('a/b', 'TASK_STATE_WORKING')] });
    const list = document.createElement('a2a-task-list');
    list.setAttribute('task-href', '/view?task={taskId}&org={org}');
    await mount({ accessToken: 'tok' }, list);
    expect($$('[part="link"]')[0]!.getAttribute('href')).toBe('/view?task=a%2Fb&org=demo');
  });

  it('says when there are no tasks', async () => {
    respond(200, { tasks: [] });
    await mount({ accessToken: 'tok' });
    expect($$('[part="empty"]')[0]!.textContent).toContain('No tasks yet');
  });

  it('does not fetch without a token and asks to sign in', async () => {
    el = document.createElement('a2a-task-list');
    el.setAttribute('org', 'demo');
    el.setAttribute('agent', 'simulator');
    document.body.append(el);
    await el.updateComplete;
    expect(fetchMock).not.toHaveBeenCalled();
    expect($$('[part="empty"]')[0]!.textContent).toContain('Sign in');
  });

  it('reports a failed load with a2a-error and a readable message', async () => {
    const errors: A2AErrorEvent[] = [];
    document.addEventListener('a2a-error', (e) => errors.push(e), { once: true });
    respond(401, { code: 'unauthorized', message: 'expired' });
    await mount({ accessToken: 'old' });
    await vi.waitFor(() => expect(errors).toHaveLength(1));
    expect(errors[0]!.detail.kind).toBe('auth');
    await el.updateComplete;
    expect($$('[part="error"]')[0]!.textContent).toContain('Sign in again');
  });

  it('dispatches a cancelable a2a-task-select on click', async () => {
    respond(200, { tasks: [task('t9', 'TASK_STATE_WORKING')] });
    await mount({ accessToken: 'tok' });
    const got: A2ATaskSelectEvent[] = [];
    el.addEventListener('a2a-task-select', (e) => {
      got.push(e);
      e.preventDefault();
    });
    const link = $$('[part="link"]')[0]!;
    const click = new MouseEvent('click', { bubbles: true, cancelable: true, composed: true, button: 0 });
    link.dispatchEvent(click);
    expect(got).toHaveLength(1);
    expect(got[0]!.detail).toMatchObject({
      org: 'demo',
      agent: 'simulator',
      href: '/tasks/demo/simulator/t9',
    });
    expect(got[0]!.detail.task.id).toBe('t9');
    expect(got[0]!.composed).toBe(true);
    expect(click.defaultPrevented).toBe(true);
  });

  it('shows tasks the host sets itself', async () => {
    el = document.createElement('a2a-task-list');
    el.tasks = [task('x1', 'TASK_STATE_FAILED')];
    document.body.append(el);
    await el.updateComplete;
    expect(fetchMock).not.toHaveBeenCalled();
    expect($$('[part="item"]')[0]!.dataset['state']).toBe('failed');
  });

  it('refresh() fetches again and replaces the list', async () => {
    respond(200, { tasks: [task('t1', 'TASK_STATE_WORKING')] });
    await mount({ accessToken: 'tok' });
    respond(200, { tasks: [task('t1', 'TASK_STATE_COMPLETED')] });
    await el.refresh();
    await el.updateComplete;
    expect($$('[part="item"]')[0]!.dataset['state']).toBe('completed');
    // A new token value alone does not refetch.
    const calls = fetchMock.mock.calls.length;
    el.accessToken = 'tok-2';
    await el.updateComplete;
    expect(fetchMock.mock.calls.length).toBe(calls);
  });
});
