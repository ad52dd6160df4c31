/** Route paths of the HTTP contract (DESIGN.md), shared by server, worker, components and tests. */
export const A2A_BASE = '/agent-to-agent';

const enc = encodeURIComponent;

export const routes = {
  agentBase: (org: string, agent: string) => `${A2A_BASE}/${enc(org)}/${enc(agent)}`,
  tasks: (org: string, agent: string) => `${routes.agentBase(org, agent)}/tasks`,
  task: (org: string, agent: string, taskId: string) => `${routes.tasks(org, agent)}/${enc(taskId)}`,
  streamToken: (org: string, agent: string, taskId: string) =>
    `${routes.task(org, agent, taskId)}/stream-token`,
  stream: (org: string, agent: string, taskId: string) => `${routes.task(org, agent, taskId)}/stream`,
  messages: (org: string, agent: string, taskId: string) => `${routes.task(org, agent, taskId)}/messages`,
  events: (org: string, agent: string, taskId: string) => `${routes.task(org, agent, taskId)}/events`,
  cancel: (org: string, agent: string, taskId: string) => `${routes.task(org, agent, taskId)}/cancel`,
  agentCard: (org: string, agent: string) => `${routes.agentBase(org, agent)}/.well-known/agent-card.json`,
  devToken: '/auth/dev/token',
  healthz: '/healthz',
  readyz: '/readyz',
  metrics: '/metrics',
  /** The demo app's task page. */
  taskPage: (org: string, agent: string, taskId: string) => `/tasks/${enc(org)}/${enc(agent)}/${enc(taskId)}`,
} as const;

export const DEMO_ORG = 'demo';
export const DEMO_AGENT = 'simulator';

/** Metric names that outside checks rely on. */
export const METRICS = {
  activeStreams: 'a2a_sse_active_streams',
  eventsSent: 'a2a_sse_events_sent_total',
  deliverySeconds: 'a2a_stream_delivery_seconds',
  eventsAppended: 'a2a_events_appended_total',
  appendBatches: 'a2a_append_batches_total',
} as const;

/** The same paths as route templates (`{param}`), for the server's router. */
export const ROUTE_PATTERNS = {
  agentBase: `${A2A_BASE}/{org}/{agent}`,
  tasks: `${A2A_BASE}/{org}/{agent}/tasks`,
  task: `${A2A_BASE}/{org}/{agent}/tasks/{taskId}`,
  streamToken: `${A2A_BASE}/{org}/{agent}/tasks/{taskId}/stream-token`,
  stream: `${A2A_BASE}/{org}/{agent}/tasks/{taskId}/stream`,
  messages: `${A2A_BASE}/{org}/{agent}/tasks/{taskId}/messages`,
  events: `${A2A_BASE}/{org}/{agent}/tasks/{taskId}/events`,
  cancel: `${A2A_BASE}/{org}/{agent}/tasks/{taskId}/cancel`,
  agentCard: `${A2A_BASE}/{org}/{agent}/.well-known/agent-card.json`,
} as const;
