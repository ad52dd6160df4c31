import {
  DEMO_AGENT,
  DEMO_ORG,
  METRICS,
  routes,
  type CreateTaskRequest,
  type SimulateOptions,
  type WireTask,
} from '@orchestrator-ai/transport-types';

type Token = () => Promise<string>;

async function call<T>(url: string, token: Token, init: RequestInit = {}): Promise<T> {
  const res = await fetch(url, {
    ...init,
    headers: { accept: 'application/json', authorization: `Bearer ${await token()}`, ...init.headers },
  });
  if (!res.ok) {
    let message = `HTTP ${res.status}`;
    try {
      const body = (await res.json()) as { message?: string };
      if (body.message) message = `${body.message} (HTTP ${res.status})`;
    } catch {
      // not JSON
    }
    throw new Error(message);
  }
  return (await res.json()) as T;
}

/** Start a simulator task: `POST /agent-to-agent/demo/simulator/tasks`. */
export function createSimulatorTask(
  apiBase: string,
  token: Token,
  text: string,
  simulate: SimulateOptions,
): Promise<WireTask> {
  const body: CreateTaskRequest = {
    ...(text ? { message: { parts: [{ text }] } } : {}),
    metadata: { simulate },
  };
  return call<WireTask>(`${apiBase}${routes.tasks(DEMO_ORG, DEMO_AGENT)}`, token, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

export function cancelTask(apiBase: string, token: Token, org: string, agent: string, taskId: string) {
  return call<unknown>(`${apiBase}${routes.cancel(org, agent, taskId)}`, token, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
}

/** Sum of `a2a_sse_active_streams` over its series in the Prometheus text of `/metrics`. */
export function parseActiveStreams(text: string): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(METRICS.activeStreams)) continue;
    const rest = line.slice(METRICS.activeStreams.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const afterLabels = rest[0] === '{' ? rest.slice(rest.indexOf('}') + 1) : rest;
    const value = Number(afterLabels.trim().split(/\s+/)[0]);
    if (Number.isFinite(value)) total = (total ?? 0) + value;
  }
  return total;
}

export async function fetchActiveStreams(apiBase: string): Promise<number | undefined> {
  const res = await fetch(`${apiBase}${routes.metrics}`, { cache: 'no-store' });
  if (!res.ok) return undefined;
  return parseActiveStreams(await res.text());
}
