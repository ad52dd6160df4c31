/**
 * The tabs of figure 6: Chromium launched through Playwright's library API, pinned like the load
 * generators, without the hidden omnibox WebUI (DISABLED_BROWSER_FEATURES), and two kinds of tab on the API's own origin:
 *
 * - demo: the built demo app (`/tasks/{org}/{agent}/{taskId}?user=…`), whose `<a2a-task-stream>`
 *   gets its events from the Service Worker (one stream per task, shared: `serviceWorker: 'auto'`)
 *   or, with `serviceWorker: 'off'` (`window.A2A_DEMO_STREAM_OPTIONS`), from a connection of its
 *   own (the stream client's DirectHub: one stream per tab);
 * - plain: a minimal page with its own `EventSource` on the task stream (token minted the way
 *   the demo tabs do it: dev sign-in, then `POST …/stream-token`), one `<li>` per event.
 *
 * Every tab records, per seq, the send time inside the event (`artifact.metadata.t`), when the
 * page received it, and when the frame that paints its entry ran (a MutationObserver; the plain
 * page, which inserts at once, waits for the next animation frame), all as
 * `performance.timeOrigin + performance.now()`.
 */
import { unlinkSync } from 'node:fs';
import {
  CHROMIUM_ARGS,
  CHROMIUM_PATH,
  DISABLED_BROWSER_FEATURES,
  writeChromiumWrapper,
} from '../../chromium.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { routes } from '@orchestrator-ai/transport-types';
import { hasTaskset } from './children.js';
import { epochMs } from './stats.js';

export interface Launched {
  browser: Browser;
  /** How Chromium was started (for the log). */
  how: string;
  close(): Promise<void>;
}

/**
 * Launches Chromium (CHROMIUM_PATH, else Playwright's own) through {@link writeChromiumWrapper}, pinned to
 * `core` when `taskset` is there.
 */
export async function launchChromium(core: number | undefined): Promise<Launched> {
  const executable = CHROMIUM_PATH ?? chromium.executablePath();
  const pinned = core !== undefined && hasTaskset();
  const wrapper = join(tmpdir(), `bench-f6-chromium-${process.pid}-${Date.now()}.sh`);
  writeChromiumWrapper(wrapper, executable, pinned ? core : undefined);
  const removeWrapper = () => {
    try {
      unlinkSync(wrapper);
    } catch {
      // already gone
    }
  };
  let browser: Browser;
  try {
    browser = await chromium.launch({ executablePath: wrapper, args: [...CHROMIUM_ARGS], timeout: 60_000 });
  } catch (error) {
    removeWrapper();
    throw error;
  }
  const how = `${CHROMIUM_PATH ?? "Playwright's Chromium"} ${browser.version()}${pinned ? ` pinned to core ${core}` : ''}, features off: ${DISABLED_BROWSER_FEATURES.join(', ')}`;
  return {
    browser,
    how,
    async close() {
      try {
        await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 15_000))]);
      } finally {
        removeWrapper();
      }
    },
  };
}

/** Targets of Chromium's own UI (`browser_ui`: WebUI such as the omnibox popups), for a check. */
export async function browserUiTargets(browser: Browser): Promise<string[]> {
  const session = await browser.newBrowserCDPSession();
  try {
    const { targetInfos } = (await session.send('Target.getTargets', { filter: [{}] })) as {
      targetInfos: Array<{ type: string; url: string }>;
    };
    return targetInfos.filter((t) => t.type === 'browser_ui').map((t) => t.url);
  } finally {
    await session.detach().catch(() => undefined);
  }
}

export interface TabTarget {
  org: string;
  agent: string;
  taskId: string;
  user: string;
}

// ------------------------------------------------------------------------------------------ demo

/**
 * A context for demo tabs. `serviceWorker: 'auto'`: its tabs wait up to 30 s for the worker (its
 * first install on a busy machine); `'off'`: each tab connects by itself (`DirectHub`), no worker
 * is registered. The demo's side panel polls `/metrics` every 2 s per tab (ten tabs: 5
 * requests/s, through the worker's `fetch` handler when there is one, and into the API); those
 * polls are answered in the page, so the worker's and the API's CPU count the task streams only.
 */
export async function demoContext(browser: Browser, serviceWorker: 'auto' | 'off'): Promise<BrowserContext> {
  const context = await browser.newContext();
  await context.addInitScript((sw) => {
    (window as unknown as { A2A_DEMO_STREAM_OPTIONS: unknown }).A2A_DEMO_STREAM_OPTIONS = {
      serviceWorker: sw,
      workerTimeoutMs: 30_000,
    };
    const original = window.fetch;
    window.fetch = function (this: unknown, ...args: Parameters<typeof fetch>) {
      const input = args[0];
      const url = new URL(
        typeof input === 'string' ? input : input instanceof URL ? input.href : input.url,
        location.href,
      );
      if (url.origin === location.origin && url.pathname === '/metrics')
        return Promise.resolve(
          new Response('# answered by the bench page\n', { headers: { 'content-type': 'text/plain' } }),
        );
      return original.apply(this, args);
    } as typeof fetch;
  }, serviceWorker);
  return context;
}

/**
 * `count` blank pages of `context`, each in a window of its own. Playwright's `newPage()` opens
 * tabs of one window in headless Chromium: all but the newest are background tabs whose frames
 * came about 1 s apart (1,017 ms) under load, although `document.visibilityState` says `visible`.
 * Ten visible tabs need ten windows: `Target.createTarget({ newWindow: true })` in the context.
 */
export async function openWindows(browser: Browser, context: BrowserContext, count: number): Promise<Page[]> {
  const first = await context.newPage();
  const session = await context.newCDPSession(first);
  const { targetInfo } = await session.send('Target.getTargetInfo');
  await session.detach();
  const browserSession = await browser.newBrowserCDPSession();
  const pages = [first];
  try {
    for (let i = 1; i < count; i++) {
      const next = context.waitForEvent('page', { timeout: 30_000 });
      await browserSession.send('Target.createTarget', {
        url: 'about:blank',
        newWindow: true,
        ...(targetInfo.browserContextId ? { browserContextId: targetInfo.browserContextId } : {}),
      });
      pages.push(await next);
    }
  } finally {
    await browserSession.detach().catch(() => undefined);
  }
  return pages;
}

/**
 * Opens the demo task page in `page` and waits until it says "Live", through the worker's stream
 * (`via: 'worker'`) or the page's own (`via: 'page'`, the context's `serviceWorker: 'off'`).
 */
export async function loadDemoTab(
  page: Page,
  base: string,
  t: TabTarget,
  via: 'worker' | 'page',
  timeoutMs = 60_000,
): Promise<Page> {
  await page.goto(`${base}${routes.taskPage(t.org, t.agent, t.taskId)}?user=${encodeURIComponent(t.user)}`, {
    timeout: timeoutMs,
  });
  await page
    .locator('#task-stream a2a-connection-status [part="base"][data-state="open"]')
    .waitFor({ timeout: timeoutMs });
  await page
    .locator(
      via === 'worker'
        ? '#transport[data-via="worker"][data-transport="worker"]'
        : '#transport[data-via="page"][data-transport="direct"]',
    )
    .waitFor({ timeout: timeoutMs });
  await page.evaluate((via) => {
    const now = () => performance.timeOrigin + performance.now();
    const rec = {
      sent: {} as Record<number, number>,
      recv: {} as Record<number, number>,
      rend: {} as Record<number, number>,
      dupRecv: 0,
      dupRend: 0,
      errors: 0,
    };
    (window as unknown as { __f6: typeof rec }).__f6 = rec;
    if (!(window as unknown as { A2A_DEMO_STREAM_OPTIONS?: unknown }).A2A_DEMO_STREAM_OPTIONS)
      throw new Error("the context's init script did not run in this tab");
    if (via === 'page' && navigator.serviceWorker?.controller)
      throw new Error('a Service Worker controls this tab although its context has serviceWorker: off');
    const host = document.querySelector('#task-stream');
    if (!host?.shadowRoot) throw new Error('no <a2a-task-stream id="task-stream"> with a shadow root');
    // The element's own event: a stream event new to its log (before the batched render).
    host.addEventListener('a2a-event', (e) => {
      const at = now();
      const ev = (e as CustomEvent<{ event: { seq: number; event: any } }>).detail.event;
      if (rec.recv[ev.seq] !== undefined) {
        rec.dupRecv++;
        return;
      }
      rec.recv[ev.seq] = at;
      const t = ev.event?.artifactUpdate?.artifact?.metadata?.t;
      if (typeof t === 'number') rec.sent[ev.seq] = t;
    });
    // The log entry (`<li part="event" data-seq>`) entering the DOM. The element inserts entries
    // from an animation frame (web/src/controllers/task-stream-controller.ts, at most one render
    // per 50 ms), so this is within the frame that paints it.
    new MutationObserver((records) => {
      const at = now();
      for (const r of records)
        for (const n of Array.from(r.addedNodes)) {
          if (!(n instanceof Element)) continue;
          const els = n.matches('li[data-seq]') ? [n] : Array.from(n.querySelectorAll('li[data-seq]'));
          for (const el of els) {
            const seq = Number(el.getAttribute('data-seq'));
            if (rec.rend[seq] !== undefined) rec.dupRend++;
            else rec.rend[seq] = at;
          }
        }
    }).observe(host.shadowRoot, { childList: true, subtree: true });
  }, via);
  return page;
}

// ------------------------------------------------------------------------------------------ plain

/**
 * A blank page on the API's origin (its `/readyz` document, replaced): the plain tab before its
 * stream starts. Pages are opened first and streams started after, so that a context short of
 * connections (the one-context probe) still gets every page.
 */
export async function openPlainPage(
  context: BrowserContext,
  base: string,
  timeoutMs = 60_000,
): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${base}/readyz`, { timeout: timeoutMs });
  await page.setContent('<!doctype html><title>figure 6: plain EventSource</title><ol id="log"></ol>', {
    timeout: timeoutMs,
  });
  return page;
}

/**
 * Signs in, mints a stream token (as the demo tabs do: dev sign-in, then `POST …/stream-token`)
 * and opens the tab's own `EventSource`, one `<li>` per event. Returns at once: whether the stream
 * opens is read on the server.
 */
export async function startPlainStream(page: Page, t: TabTarget): Promise<void> {
  await page.evaluate(
    (p) => {
      const now = () => performance.timeOrigin + performance.now();
      const rec = {
        sent: {} as Record<number, number>,
        recv: {} as Record<number, number>,
        rend: {} as Record<number, number>,
        dupRecv: 0,
        dupRend: 0,
        errors: 0,
        opened: false,
        failure: '',
      };
      (window as unknown as { __f6: typeof rec }).__f6 = rec;
      const log = document.getElementById('log')!;
      // `rend`: the start of the animation frame that paints the entry (the next frame after it
      // entered the DOM), which is what the demo tab's time is (the element inserts its entries
      // in an animation frame); `dom`: when it entered the DOM.
      const dom: Record<number, number> = {};
      (window as unknown as { __f6dom: typeof dom }).__f6dom = dom;
      let waiting: number[] = [];
      new MutationObserver((records) => {
        const at = now();
        for (const r of records)
          for (const n of Array.from(r.addedNodes)) {
            if (!(n instanceof Element) || !n.matches('li[data-seq]')) continue;
            const seq = Number(n.getAttribute('data-seq'));
            if (dom[seq] !== undefined) rec.dupRend++;
            else {
              dom[seq] = at;
              waiting.push(seq);
            }
          }
        if (waiting.length === 0) return;
        const batch = waiting;
        waiting = [];
        requestAnimationFrame(() => {
          const frame = now();
          for (const seq of batch) rec.rend[seq] = frame;
        });
      }).observe(log, { childList: true });
      void (async () => {
        try {
          const signIn = await fetch(p.devToken, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ sub: p.user, role: 'user' }),
          });
          const { token: user } = (await signIn.json()) as { token: string };
          const minted = await fetch(p.streamToken, {
            method: 'POST',
            headers: { authorization: `Bearer ${user}` },
          });
          if (!minted.ok) throw new Error(`stream-token: HTTP ${minted.status}`);
          const { token } = (await minted.json()) as { token: string };
          const es = new EventSource(`${p.stream}?token=${encodeURIComponent(token)}`);
          es.onopen = () => (rec.opened = true);
          es.onerror = () => rec.errors++;
          es.onmessage = (e) => {
            const at = now();
            const seq = Number(e.lastEventId);
            if (!(seq > 0) || e.data.startsWith('{"task"')) return; // the snapshot opening the stream
            if (rec.recv[seq] !== undefined) {
              rec.dupRecv++;
              return;
            }
            rec.recv[seq] = at;
            const data = JSON.parse(e.data) as {
              artifactUpdate?: { artifact?: { metadata?: { t?: number }; parts?: { text?: string }[] } };
            };
            const artifact = data.artifactUpdate?.artifact;
            if (typeof artifact?.metadata?.t === 'number') rec.sent[seq] = artifact.metadata.t;
            const li = document.createElement('li');
            li.dataset.seq = String(seq);
            li.textContent = `#${seq} artifact chunk (${artifact?.parts?.[0]?.text?.length ?? 0} characters)`;
            log.append(li);
          };
        } catch (err) {
          rec.failure = err instanceof Error ? err.message : String(err);
        }
      })();
    },
    {
      devToken: routes.devToken,
      streamToken: routes.streamToken(t.org, t.agent, t.taskId),
      stream: routes.stream(t.org, t.agent, t.taskId),
      user: t.user,
    },
  );
}

// ------------------------------------------------------------------------------------------ both

export interface TabRecord {
  /** [seq, sent, received, rendered] (NaN where unknown), by seq. */
  rows: Array<[number, number, number, number]>;
  dupRecv: number;
  dupRend: number;
  errors: number;
  failure?: string;
}

export async function collect(page: Page): Promise<TabRecord> {
  return page.evaluate(() => {
    const rec = (
      window as unknown as {
        __f6: {
          sent: Record<number, number>;
          recv: Record<number, number>;
          rend: Record<number, number>;
          dupRecv: number;
          dupRend: number;
          errors: number;
          failure?: string;
        };
      }
    ).__f6;
    const seqs = new Set([...Object.keys(rec.recv), ...Object.keys(rec.rend)].map(Number));
    const rows = [...seqs]
      .sort((a, b) => a - b)
      .map(
        (s) =>
          [s, rec.sent[s] ?? NaN, rec.recv[s] ?? NaN, rec.rend[s] ?? NaN] as [number, number, number, number],
      );
    return {
      rows,
      dupRecv: rec.dupRecv,
      dupRend: rec.dupRend,
      errors: rec.errors,
      ...(rec.failure ? { failure: rec.failure } : {}),
    };
  });
}

/** How many of `seqs` the tab has rendered. */
export async function renderedCount(page: Page, seqs: number[]): Promise<number> {
  return page.evaluate((want) => {
    const rend = (window as unknown as { __f6: { rend: Record<number, number> } }).__f6.rend;
    return want.filter((s) => rend[s] !== undefined).length;
  }, seqs);
}

/**
 * The page's clock minus this process's (`timeOrigin + now()` on both sides), from the round trip
 * with the smallest delay out of `samples`; the error is at most half that round trip.
 */
export async function clockOffset(page: Page, samples = 5): Promise<{ offsetMs: number; rttMs: number }> {
  let best = { offsetMs: NaN, rttMs: Infinity };
  for (let i = 0; i < samples; i++) {
    const a = epochMs();
    const p = await page.evaluate(() => performance.timeOrigin + performance.now());
    const b = epochMs();
    if (b - a < best.rttMs) best = { offsetMs: p - (a + b) / 2, rttMs: b - a };
  }
  return best;
}
