/**
 * Helpers shared by the web-*.spec.ts browser tests: task set-up through the real API, reading
 * what `<a2a-task-stream>` rendered, the accessibility scan, and where screenshots go.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AxeBuilder } from '@axe-core/playwright';
import type { Page } from '@playwright/test';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** `docs/screenshots/<name>.png` in the repository (the folder is created when missing). */
export function screenshotPath(name: string): string {
  const dir = join(repoRoot, 'docs', 'screenshots');
  mkdirSync(dir, { recursive: true });
  return join(dir, `${name}.png`);
}

/** `e2e/test-results/<name>` (Playwright's output folder). */
export function resultsPath(name: string): string {
  const dir = join(repoRoot, 'e2e', 'test-results');
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}

export interface CreatedTask {
  id: string;
  contextId: string;
  metadata: { seq: number; streamTokenEndpoint: string };
}

/** `POST /agent-to-agent/{org}/{agent}/tasks` as a user. */
export async function createTask(
  baseUrl: string,
  userToken: string,
  org: string,
  agent: string,
  body: Record<string, unknown> = {},
): Promise<CreatedTask> {
  const res = await fetch(`${baseUrl}/agent-to-agent/${org}/${agent}/tasks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${userToken}` },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`create task: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as CreatedTask;
}

/** Every retained seq of a task, read through the polling route (paged). */
export async function serverSeqs(
  baseUrl: string,
  userToken: string,
  org: string,
  agent: string,
  taskId: string,
): Promise<{ seqs: number[]; final: boolean }> {
  const seqs: number[] = [];
  let after = 0;
  for (;;) {
    const res = await fetch(
      `${baseUrl}/agent-to-agent/${org}/${agent}/tasks/${taskId}/messages?after=${after}&limit=1000`,
      { headers: { authorization: `Bearer ${userToken}` } },
    );
    if (!res.ok) throw new Error(`messages: HTTP ${res.status}`);
    const page = (await res.json()) as { events: { seq: number }[]; lastSeq: number; final: boolean };
    seqs.push(...page.events.map((e) => e.seq));
    if (page.events.length === 0 || seqs[seqs.length - 1]! >= page.lastSeq)
      return { seqs, final: page.final };
    after = seqs[seqs.length - 1]!;
  }
}

/** The `data-seq` of every rendered log entry, in DOM order. */
export function renderedSeqs(page: Page, host = 'a2a-task-stream'): Promise<number[]> {
  return page
    .locator(`${host} [part="event"][data-seq]`)
    .evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.seq)));
}

/** `1, 2, …, n` */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}

/** The element's folded state, read through its public `taskState` getter. */
export function taskStateOf(
  page: Page,
  selector = 'a2a-task-stream',
): Promise<{ state: string; seq: number; final: boolean; logLength: number; progress?: number }> {
  return page.locator(selector).evaluate((el) => {
    const s = (el as unknown as { taskState: any }).taskState;
    return { state: s.state, seq: s.seq, final: s.final, logLength: s.log.length, progress: s.progress };
  });
}

/**
 * Every attribute value in the document, shadow roots included, plus the page URL: where a token
 * must never appear.
 */
export function everyAttributeValue(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const values: string[] = [location.href];
    const visit = (root: Document | ShadowRoot) => {
      for (const el of Array.from(root.querySelectorAll('*'))) {
        for (const a of Array.from(el.attributes)) values.push(`${el.localName}[${a.name}]=${a.value}`);
        if (el.shadowRoot) visit(el.shadowRoot);
      }
    };
    visit(document);
    return values;
  });
}

export interface AxeFinding {
  id: string;
  impact: string;
  help: string;
  targets: string[];
}

/** axe-core (all rules axe enables by default) over the page, shadow roots included; serious and critical findings. */
export async function seriousA11yViolations(page: Page): Promise<{ found: AxeFinding[]; rulesRun: number }> {
  const results = await new AxeBuilder({ page }).analyze();
  const found = results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({
      id: v.id,
      impact: v.impact ?? '',
      help: v.help,
      targets: v.nodes.map((n) => JSON.stringify(n.target)),
    }));
  return { found, rulesRun: results.passes.length + results.violations.length + results.incomplete.length };
}
