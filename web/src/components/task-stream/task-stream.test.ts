import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import './task-stream.js';
import type A2ATaskStream from './task-stream.component.js';
import type {
  A2AConnectionChangeEvent,
  A2AErrorEvent,
  A2AEventEvent,
  A2AStatusChangeEvent,
} from '../../events.js';
import { MIN_RENDER_INTERVAL_MS } from '../../controllers/task-stream-controller.js';
import { CORS_BLOCKED_REASON } from '@orchestrator-ai/transport-types';
import { FakeClient, artifact, message, settle, snapshot, status } from '../../test-support/fake-client.js';

let el: A2ATaskStream;
let client: FakeClient;

async function mount(attrs: Record<string, string> = {}): Promise<A2ATaskStream> {
  client = new FakeClient();
  el = document.createElement('a2a-task-stream');
  el.setAttribute('org', 'demo');
  el.setAttribute('agent', 'simulator');
  el.setAttribute('task-id', 't1');
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  el.client = client;
  document.body.append(el);
  await settle(el);
  return el;
}

const $ = (sel: string) => el.shadowRoot!.querySelector<HTMLElement>(sel);
const $$ = (sel: string) => [...el.shadowRoot!.querySelectorAll<HTMLElement>(sel)];
const seqs = () => $$('[part="event"]').map((e) => Number(e.dataset['seq']));
const text = (sel: string) => $(sel)?.textContent?.replace(/\s+/g, ' ').trim() ?? '';

function record<T extends Event>(type: string): T[] {
  const got: T[] = [];
  document.addEventListener(type, (e) => got.push(e as T));
  return got;
}

beforeEach(() => {
  document.body.innerHTML = '';
});
afterEach(() => {
  el?.remove();
});

describe('<a2a-task-stream> watching', () => {
  it('watches the task named by its attributes through the injected client', async () => {
    await mount();
    expect(client.watches).toHaveLength(1);
    expect(client.watches[0]!.target).toEqual({ org: 'demo', agent: 'simulator', taskId: 't1' });
  });

  it('closes the watch when removed and watches again when re-attached, keeping what it has', async () => {
    await mount();
    client.active.event(status(1, 'TASK_STATE_WORKING'));
    await settle(el);
    el.remove();
    expect(client.watches[0]!.closed).toBe(true);
    document.body.append(el);
    await settle(el);
    expect(client.watches).toHaveLength(2);
    expect(client.watches[1]!.closed).toBe(false);
    expect(seqs()).toEqual([1]);
  });

  it('re-watches from scratch when task-id changes', async () => {
    await mount();
    client.active.event(status(1, 'TASK_STATE_WORKING'));
    await settle(el);
    el.taskId = 't2';
    await settle(el);
    expect(client.watches[0]!.closed).toBe(true);
    expect(client.active.target.taskId).toBe('t2');
    expect(seqs()).toEqual([]);
    expect(text('[part="state"]')).toBe('Waiting');
  });

  it('waits for a token before creating a default client, and never reads a token attribute', async () => {
    el = document.createElement('a2a-task-stream');
    el.setAttribute('org', 'demo');
    el.setAttribute('agent', 'simulator');
    el.setAttribute('task-id', 't1');
    el.setAttribute('access-token', 'should-be-ignored');
    el.setAttribute('accesstoken', 'should-be-ignored');
    document.body.append(el);
    await settle(el);
    expect(el.accessToken).toBeUndefined();
    expect(text('.empty')).toContain('Waiting for sign-in');
    expect(el.connection).toBeUndefined();
  });
});

describe('<a2a-task-stream> rendering A2A events', () => {
  it('renders a status update: state label, progress, latest agent message', async () => {
    await mount();
    client.active.event(status(1, 'TASK_STATE_WORKING', { text: 'Reading files', progress: 0.25 }));
    await settle(el);
    expect(text('[part="state"]')).toBe('Working');
    expect($('[part="state"]')!.dataset['state']).toBe('working');
    expect(text('[part="message"]')).toBe('Reading files');
    const bar = $('[role="progressbar"]')!;
    expect(bar.getAttribute('aria-valuenow')).toBe('25');
    expect($('[part="progress-bar"]')!.getAttribute('style')).toContain('scaleX(0.25)');
    expect(text('[part="progress-label"]')).toBe('25%');
    const entry = $('[part="event"][data-seq="1"]')!;
    expect(entry.dataset['kind']).toBe('statusUpdate');
    expect(entry.dataset['state']).toBe('working');
    expect(entry.textContent).toContain('Reading files');
  });

  it('streams a text artifact chunk by chunk with append/lastChunk', async () => {
    await mount();
    const w = client.active;
    w.event(artifact(1, [{ text: 'Hello' }], { name: 'report.md', append: false, lastChunk: false }));
    await settle(el);
    expect(text('[part="artifact-name"]')).toContain('report.md');
    expect(text('[part="artifact-name"]')).toContain('streaming');
    expect($('[part="artifact-text"]')!.textContent).toBe('Hello');
    // The text scrolls in a box a keyboard reaches, named after its artifact.
    const scroller = $('[part="artifact-text-scroller"]')!;
    expect(scroller.contains($('[part="artifact-text"]'))).toBe(true);
    expect(scroller.getAttribute('tabindex')).toBe('0');
    expect(scroller.getAttribute('aria-label')).toBe('Text of report.md');
    w.event(artifact(2, [{ text: ', wor' }], { append: true, lastChunk: false }));
    w.event(artifact(3, [{ text: 'ld!' }], { append: true, lastChunk: true }));
    await settle(el);
    expect($$('[part="artifact"]')).toHaveLength(1);
    expect($$('[part="artifact-text"]')).toHaveLength(1);
    expect($('[part="artifact-text"]')!.textContent).toBe('Hello, world!');
    expect(text('[part="artifact-name"]')).not.toContain('streaming');
    expect($('[part="artifact"]')!.getAttribute('aria-busy')).toBe('false');
  });

  it('replaces an artifact when an update does not append', async () => {
    await mount();
    client.active.event(artifact(1, [{ text: 'draft' }], { lastChunk: true }));
    client.active.event(artifact(2, [{ text: 'final' }], { lastChunk: true }));
    await settle(el);
    expect($$('[part="artifact-text"]').map((p) => p.textContent)).toEqual(['final']);
  });

  it('shows data parts as formatted JSON', async () => {
    await mount();
    client.active.event(artifact(1, [{ data: { total: 3, items: ['a', 'b'] } }], { id: 'd', name: 'stats' }));
    await settle(el);
    expect($('[part="artifact-data"]')!.textContent).toBe(
      JSON.stringify({ total: 3, items: ['a', 'b'] }, null, 2),
    );
  });

  it('links url parts, but only http(s) ones', async () => {
    await mount();
    client.active.event(
      artifact(
        1,
        [{ url: 'https://example.com/out.pdf', filename: 'out.pdf' }, { url: 'javascript:alert(1)' }],
        {
          id: 'u',
        },
      ),
    );
    await settle(el);
    const links = $$('a[part="artifact-link"]');
    expect(links).toHaveLength(1);
    expect(links[0]!.getAttribute('href')).toBe('https://example.com/out.pdf');
    expect(links[0]!.textContent).toBe('out.pdf');
    expect(links[0]!.getAttribute('rel')).toContain('noopener');
    expect($('[part="artifact"]')!.textContent).toContain('javascript:alert(1)');
  });

  it('offers raw parts as a download', async () => {
    await mount();
    client.active.event(artifact(1, [{ raw: 'AAECAw==' }], { id: 'r' }));
    await settle(el);
    const a = $('a[part="artifact-link"]')!;
    expect(a.getAttribute('href')).toBe('data:application/octet-stream;base64,AAECAw==');
    expect(a.hasAttribute('download')).toBe(true);
    expect(a.textContent).toContain('4 bytes');
  });

  it('renders a direct agent message as the latest message', async () => {
    await mount();
    client.active.event(message(1, 'Here is your answer'));
    await settle(el);
    expect(text('[part="message"]')).toBe('Here is your answer');
    expect($('[part="event"][data-seq="1"]')!.dataset['kind']).toBe('message');
  });

  it('takes state and artifacts from the snapshot', async () => {
    await mount();
    client.active.snapshot(
      snapshot(4, 'TASK_STATE_WORKING', {
        text: 'Halfway',
        artifacts: [{ artifactId: 'a1', name: 'notes', parts: [{ text: 'so far' }] }],
      }),
    );
    await settle(el);
    expect(text('[part="state"]')).toBe('Working');
    expect(text('[part="message"]')).toBe('Halfway');
    expect($('[part="artifact-text"]')!.textContent).toBe('so far');
  });
});

describe('<a2a-task-stream> title', () => {
  it("is the task's title from the snapshot, else its first user message, else its id", async () => {
    await mount();
    expect(text('[part="title"]')).toBe('Task t1');
    client.active.snapshot({
      ...snapshot(1, 'TASK_STATE_WORKING'),
      history: [{ messageId: 'u1', role: 'ROLE_USER', parts: [{ text: 'Summarise the Q3 report' }] }],
    });
    await settle(el);
    expect(text('[part="title"]')).toBe('Summarise the Q3 report');
    client.active.snapshot(snapshot(2, 'TASK_STATE_WORKING', { title: 'Quarterly summary' }));
    await settle(el);
    expect(text('[part="title"]')).toBe('Quarterly summary');
    expect($('[part="base"]')!.getAttribute('aria-label')).toBe('Quarterly summary');
  });

  it('keeps the heading attribute over the task title', async () => {
    await mount({ heading: 'Partner task' });
    client.active.snapshot(snapshot(1, 'TASK_STATE_WORKING', { title: 'Quarterly summary' }));
    await settle(el);
    expect(text('[part="title"]')).toBe('Partner task');
  });
});

describe('<a2a-task-stream> ordering and dedupe', () => {
  it('shows the log in seq order and each seq once, whatever the arrival order', async () => {
    await mount();
    const w = client.active;
    w.event(status(3, 'TASK_STATE_WORKING', { text: 'three' }));
    w.event(status(1, 'TASK_STATE_WORKING', { text: 'one' }));
    w.event(status(2, 'TASK_STATE_WORKING', { text: 'two' }));
    w.event(status(3, 'TASK_STATE_WORKING', { text: 'three again' }));
    w.event(status(1, 'TASK_STATE_WORKING', { text: 'one again' }));
    await settle(el);
    expect(seqs()).toEqual([1, 2, 3]);
    expect(text('[part="event"][data-seq="3"]')).toContain('three');
    expect(text('[part="event"][data-seq="3"]')).not.toContain('again');
    expect(text('[part="log-section"] .section-title')).toBe('Events (3)');
  });

  it('applies an event to the state only when its seq is above the state seq', async () => {
    await mount();
    const w = client.active;
    w.snapshot(snapshot(5, 'TASK_STATE_COMPLETED', { text: 'All done' }));
    // Replayed history older than the snapshot: logged, but must not move the state back.
    w.event(status(4, 'TASK_STATE_WORKING', { text: 'step 4', progress: 0.8 }));
    w.event(status(5, 'TASK_STATE_COMPLETED', { text: 'All done' }));
    await settle(el);
    expect(text('[part="state"]')).toBe('Completed');
    expect(text('[part="message"]')).toBe('All done');
    expect(seqs()).toEqual([4, 5]);
    expect(el.taskState.seq).toBe(5);
  });

  it('does not let an older snapshot override newer events', async () => {
    await mount();
    const w = client.active;
    w.event(status(7, 'TASK_STATE_WORKING', { text: 'step 7' }));
    w.snapshot(snapshot(3, 'TASK_STATE_SUBMITTED'));
    await settle(el);
    expect(text('[part="state"]')).toBe('Working');
    expect(text('[part="message"]')).toBe('step 7');
  });

  it('does not append an artifact chunk twice when it is replayed', async () => {
    await mount();
    const w = client.active;
    const chunks = [
      artifact(1, [{ text: 'ab' }], { append: false, lastChunk: false }),
      artifact(2, [{ text: 'cd' }], { append: true, lastChunk: false }),
    ];
    for (const c of chunks) w.event(c);
    for (const c of chunks) w.event(c);
    await settle(el);
    expect($('[part="artifact-text"]')!.textContent).toBe('abcd');
  });
});

describe('<a2a-task-stream> events dispatched', () => {
  it('dispatches a2a-event once per new seq, bubbling and composed', async () => {
    const got = record<A2AEventEvent>('a2a-event');
    await mount();
    client.active.event(status(1, 'TASK_STATE_WORKING'));
    client.active.event(status(1, 'TASK_STATE_WORKING'));
    client.active.event(status(2, 'TASK_STATE_WORKING'));
    expect(got.map((e) => e.detail.event.seq)).toEqual([1, 2]);
    expect(got[0]!.bubbles).toBe(true);
    expect(got[0]!.composed).toBe(true);
    expect(got[0]!.detail.taskId).toBe('t1');
  });

  it('dispatches a2a-status-change only when the state changes', async () => {
    const got = record<A2AStatusChangeEvent>('a2a-status-change');
    await mount();
    const w = client.active;
    w.snapshot(snapshot(0, 'TASK_STATE_SUBMITTED'));
    w.event(status(1, 'TASK_STATE_WORKING', { progress: 0.1 }));
    w.event(status(2, 'TASK_STATE_WORKING', { progress: 0.5 }));
    w.event(status(3, 'TASK_STATE_COMPLETED', { text: 'Done' }));
    expect(got.map((e) => [e.detail.previousState, e.detail.state, e.detail.final])).toEqual([
      [undefined, 'TASK_STATE_SUBMITTED', false],
      ['TASK_STATE_SUBMITTED', 'TASK_STATE_WORKING', false],
      ['TASK_STATE_WORKING', 'TASK_STATE_COMPLETED', true],
    ]);
    expect(got[2]!.detail.seq).toBe(3);
    expect(got[2]!.bubbles && got[2]!.composed).toBe(true);
  });

  it('dispatches a2a-connection-change and shows the connection states', async () => {
    const got = record<A2AConnectionChangeEvent>('a2a-connection-change');
    await mount();
    const w = client.active;
    const conn = () => el.shadowRoot!.querySelector('a2a-connection-status')!;
    const connText = () => conn().shadowRoot!.textContent!.replace(/\s+/g, ' ');

    w.connection({ state: 'open', transport: 'worker' });
    w.connection({ state: 'open', transport: 'worker' }); // no change: no event
    await settle(el);
    await (conn() as unknown as { updateComplete: Promise<unknown> }).updateComplete;
    expect(connText()).toContain('Live');
    expect(connText()).toContain('shared by your tabs');

    w.connection({ state: 'reconnecting', transport: 'worker' });
    await settle(el);
    await (conn() as unknown as { updateComplete: Promise<unknown> }).updateComplete;
    expect(connText()).toContain('Reconnecting');

    w.connection({ state: 'offline', transport: 'worker' });
    await settle(el);
    await (conn() as unknown as { updateComplete: Promise<unknown> }).updateComplete;
    expect(connText()).toContain('Offline');
    expect(connText()).toContain('showing saved progress');

    expect(got.map((e) => e.detail.state)).toEqual(['open', 'reconnecting', 'offline']);
    expect(got[0]!.detail.transport).toBe('worker');
    expect(got[0]!.composed).toBe(true);
  });

  it('on a connection error dispatches a2a-error, says what to do and offers a retry', async () => {
    const errors = record<A2AErrorEvent>('a2a-error');
    await mount();
    client.active.event(status(1, 'TASK_STATE_WORKING'));
    client.active.connection({ state: 'error', transport: 'direct', status: 401, reason: 'token expired' });
    await settle(el);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.detail.kind).toBe('auth');
    expect(errors[0]!.detail.status).toBe(401);
    expect(text('[part="error"]')).toContain('Sign in again');
    const retry = $('[part="retry"]') as HTMLButtonElement;
    expect(retry.tagName).toBe('BUTTON');
    retry.click();
    await settle(el);
    expect(client.watches).toHaveLength(2);
    expect(client.watches[0]!.closed).toBe(true);
    expect($('[part="error"]')).toBeNull();
    expect(seqs()).toEqual([1]); // kept across the retry
  });

  it('reports a 404 as a task that does not exist', async () => {
    const errors = record<A2AErrorEvent>('a2a-error');
    await mount();
    client.active.connection({ state: 'error', transport: 'direct', status: 404 });
    await settle(el);
    expect(errors[0]!.detail.kind).toBe('not-found');
    expect(text('[part="error"]')).toContain('does not exist');
  });

  it("reports a CORS refusal as the host's setup, saying which origin to allow, without a retry", async () => {
    const errors = record<A2AErrorEvent>('a2a-error');
    await mount();
    const reason = `${CORS_BLOCKED_REASON}: the API (https://api.example) does not allow this page's origin (https://partner.example); add it to the API's CORS_ORIGINS`;
    client.active.connection({ state: 'error', transport: 'direct', reason });
    await settle(el);
    expect(errors[0]!.detail.kind).toBe('config');
    expect(text('[part="error"]')).toContain('https://partner.example');
    expect(text('[part="error"]')).toContain('CORS_ORIGINS');
    expect(text('[part="error"]')).not.toContain('network connection');
    expect($('[part="retry"]')).toBeNull();
  });

  it('announces state changes in a polite live region, not each event', async () => {
    await mount();
    const region = () => $('.sr-only[aria-live="polite"]')!;
    expect(region().textContent!.trim()).toBe('');
    client.active.event(status(1, 'TASK_STATE_WORKING', { text: 'a' }));
    await settle(el);
    expect(region().textContent!.trim()).toBe('Task working');
    client.active.event(status(2, 'TASK_STATE_WORKING', { text: 'b' }));
    client.active.event(artifact(3, [{ text: 'x' }]));
    await settle(el);
    expect(region().textContent!.trim()).toBe('Task working');
    client.active.event(status(4, 'TASK_STATE_FAILED', { text: 'Out of memory' }));
    await settle(el);
    expect(region().textContent!.trim()).toBe('Task failed: Out of memory');
  });
});

describe('<a2a-task-stream> history', () => {
  it('says so when earlier messages expired', async () => {
    await mount();
    client.active.snapshot(snapshot(120, 'TASK_STATE_WORKING', { historyTruncated: true, earliestSeq: 100 }));
    for (let s = 100; s <= 120; s++) client.active.event(status(s, 'TASK_STATE_WORKING'));
    await settle(el);
    const note = text('[part="truncated"]');
    expect(note).toContain('Earlier messages expired');
    expect(note).toContain('#100');
    expect(seqs()[0]).toBe(100);
  });

  it('shows no notice when history is complete', async () => {
    await mount();
    client.active.snapshot(snapshot(2, 'TASK_STATE_WORKING'));
    client.active.event(status(1, 'TASK_STATE_WORKING'));
    await settle(el);
    expect($('[part="truncated"]')).toBeNull();
  });
});

describe('<a2a-task-stream> long artifact text', () => {
  const chunk = (n: number) => `chunk ${String(n).padStart(4, '0')} of the answer. `;

  it('renders the end of a long streamed text, and all of it on request', async () => {
    await mount({ 'max-artifact-chars': '300' });
    for (let s = 1; s <= 100; s++)
      client.active.event(artifact(s, [{ text: chunk(s) }], { append: s > 1, lastChunk: false }));
    await settle(el);
    const whole = Array.from({ length: 100 }, (_, i) => chunk(i + 1)).join('');
    const pre = () => $('[part="artifact-text"]')!;
    const shown = pre().textContent!;
    // The newest chunk is there, the first is not, and the cut is at a word.
    expect(shown.length).toBeLessThanOrEqual(302);
    expect(shown).toContain(chunk(100).trim());
    expect(shown).not.toContain(chunk(1).trim());
    expect(shown.startsWith('… chunk') || shown.startsWith('… of') || /^… \S/.test(shown)).toBe(true);
    expect(whole.endsWith(shown.slice(2))).toBe(true);
    const button = $('[part="show-whole-text"]') as HTMLButtonElement;
    expect(button.getAttribute('aria-expanded')).toBe('false');
    expect(button.textContent).toContain(`Show all ${whole.length} characters`);

    button.click();
    await settle(el);
    expect(pre().textContent).toBe(whole);
    expect(($('[part="show-whole-text"]') as HTMLButtonElement).getAttribute('aria-expanded')).toBe('true');

    // Chunks keep coming into the whole text until the reader asks for the end again.
    client.active.event(artifact(101, [{ text: chunk(101) }], { append: true, lastChunk: false }));
    await settle(el);
    expect(pre().textContent).toBe(whole + chunk(101));
    ($('[part="show-whole-text"]') as HTMLButtonElement).click();
    await settle(el);
    expect(pre().textContent!.length).toBeLessThanOrEqual(302);
  });

  it('keeps a text within the limit as it is, without a button', async () => {
    await mount({ 'max-artifact-chars': '300' });
    client.active.event(artifact(1, [{ text: 'short answer' }]));
    await settle(el);
    expect($('[part="artifact-text"]')!.textContent).toBe('short answer');
    expect($('[part="show-whole-text"]')).toBeNull();
  });

  it('shows the end again for another task', async () => {
    await mount({ 'max-artifact-chars': '50' });
    client.active.event(artifact(1, [{ text: 'x '.repeat(100) }]));
    await settle(el);
    ($('[part="show-whole-text"]') as HTMLButtonElement).click();
    await settle(el);
    expect($('[part="artifact-text"]')!.textContent).toHaveLength(200);
    el.taskId = 't2';
    await settle(el);
    client.active.event(artifact(1, [{ text: 'y '.repeat(100) }], { taskId: 't2' }));
    await settle(el);
    expect($('[part="artifact-text"]')!.textContent!.length).toBeLessThanOrEqual(52);
  });
});

describe('<a2a-task-stream> large logs', () => {
  it('keeps the DOM bounded for 10,000 events and shows earlier ones on request', async () => {
    await mount();
    const w = client.active;
    for (let s = 1; s <= 10_000; s++) {
      w.event(
        s % 3 === 0
          ? artifact(s, [{ text: `chunk ${s} ` }], { append: s > 3, lastChunk: false })
          : status(s, 'TASK_STATE_WORKING', { text: `step ${s}`, progress: s / 10_000 }),
      );
    }
    await settle(el);
    const rendered = seqs();
    expect(rendered).toHaveLength(200);
    expect(rendered[0]).toBe(9_801);
    expect(rendered.at(-1)).toBe(10_000);
    expect(el.taskState.log).toHaveLength(10_000);
    expect(el.shadowRoot!.querySelectorAll('*').length).toBeLessThan(2_000);
    expect(text('[part="log-section"] .section-title')).toBe('Events (10000)');

    const earlier = $('[part="show-earlier"]') as HTMLButtonElement;
    expect(earlier.textContent).toContain('9800 hidden');
    earlier.click();
    await settle(el);
    expect(seqs()).toHaveLength(400);
    expect(seqs()[0]).toBe(9_601);

    // New events keep the window size; "show only the latest" returns to the cap.
    w.event(status(10_001, 'TASK_STATE_WORKING'));
    await settle(el);
    expect(seqs()).toHaveLength(400);
    expect(seqs().at(-1)).toBe(10_001);
    ($('[part="show-latest"]') as HTMLButtonElement).click();
    await settle(el);
    expect(seqs()).toHaveLength(200);
  });

  it('renders a burst of events in one batch', async () => {
    await mount();
    let renders = 0;
    const orig = el.render.bind(el);
    (el as unknown as { render: () => unknown }).render = () => {
      renders++;
      return orig();
    };
    for (let s = 1; s <= 500; s++) client.active.event(status(s, 'TASK_STATE_WORKING'));
    await settle(el);
    expect(renders).toBeLessThanOrEqual(2);
    expect(seqs()).toHaveLength(200);
  });

  it('caps renders under a sustained stream but never drops an event', async () => {
    await mount();
    let renders = 0;
    const orig = el.render.bind(el);
    (el as unknown as { render: () => unknown }).render = () => {
      renders++;
      return orig();
    };
    // 400 ms at one event every 4 ms (250 events/s).
    const started = performance.now();
    let seq = 0;
    while (performance.now() - started < 400) {
      client.active.event(status(++seq, 'TASK_STATE_WORKING', { progress: seq / 1000 }));
      await new Promise((r) => setTimeout(r, 4));
    }
    await settle(el);
    const elapsed = performance.now() - started;
    expect(renders).toBeLessThanOrEqual(Math.ceil(elapsed / MIN_RENDER_INTERVAL_MS) + 2);
    expect(renders).toBeGreaterThanOrEqual(2);
    expect(el.taskState.log).toHaveLength(seq);
    expect(seqs().at(-1)).toBe(seq);
  });

  it('honours max-events', async () => {
    await mount({ 'max-events': '5' });
    for (let s = 1; s <= 12; s++) client.active.event(status(s, 'TASK_STATE_WORKING'));
    await settle(el);
    expect(seqs()).toEqual([8, 9, 10, 11, 12]);
  });
});

describe('<a2a-task-stream> default client', () => {
  it('mints stream tokens with the token from getAccessToken, sent as a Bearer header', async () => {
    const calls: Array<{ url: string; auth: string | null }> = [];
    const fetchMock = async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = String(input instanceof Request ? input.url : input);
      const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
      calls.push({ url, auth: headers.get('authorization') });
      return new Response(JSON.stringify({ code: 'not_found', message: 'no' }), {
        status: 404,
        headers: { 'content-type': 'application/json' },
      });
    };
    const original = globalThis.fetch;
    globalThis.fetch = fetchMock as typeof fetch;
    try {
      el = document.createElement('a2a-task-stream');
      el.setAttribute('org', 'demo');
      el.setAttribute('agent', 'simulator');
      el.setAttribute('task-id', 'tX');
      el.setAttribute('api-base', 'http://api.test');
      el.getAccessToken = async () => 'user-token-1';
      const errors: A2AErrorEvent[] = [];
      el.addEventListener('a2a-error', (e) => errors.push(e));
      document.body.append(el);
      await vi.waitFor(() => expect(calls.length).toBeGreaterThan(0), { timeout: 3000 });
      expect(calls[0]!.url).toBe('http://api.test/agent-to-agent/demo/simulator/tasks/tX/stream-token');
      expect(calls[0]!.auth).toBe('Bearer user-token-1');
      await vi.waitFor(() => expect(errors.length).toBeGreaterThan(0), { timeout: 3000 });
      expect(errors[0]!.detail).toMatchObject({ kind: 'not-found', status: 404, taskId: 'tX' });
      expect(el.getAttribute('access-token')).toBeNull();
    } finally {
      el.remove();
      globalThis.fetch = original;
    }
  });
});
