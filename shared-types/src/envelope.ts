import type { WireStreamResponse, WireTask } from './a2a.js';

/** One stored stream event of a task: what the API keeps, serves, and the browser mirrors. */
export interface TaskEvent {
  taskId: string;
  /** 1, 2, 3… per task; the SSE event id. */
  seq: number;
  event: WireStreamResponse;
  /** ISO-8601 UTC. */
  createdAt: string;
  /** ISO-8601 UTC; the event is gone (for every reader) after this instant. */
  expiresAt: string;
}

/** Metadata the API adds to the `Task` snapshot that opens every stream. */
export interface SnapshotMetadata {
  /** The seq the snapshot reflects. */
  seq: number;
  /** True when events the client asked for have expired. */
  historyTruncated?: boolean;
  /** The oldest retained seq, when history is truncated. */
  earliestSeq?: number;
  org?: string;
  agent?: string;
  streamEndpoint?: string;
  streamTokenEndpoint?: string;
  messagesEndpoint?: string;
  [key: string]: unknown;
}

export type SnapshotTask = WireTask & { metadata: SnapshotMetadata };

/** Body of `GET …/tasks/{taskId}/messages` (the polling fallback). */
export interface MessagesPage {
  taskId: string;
  events: Array<{ seq: number; event: WireStreamResponse; createdAt: string }>;
  /** The task's last allocated seq. */
  lastSeq: number;
  /** True when the task is in a terminal state. */
  final: boolean;
  /** True when the request's `after` is older than what is retained. */
  historyTruncated: boolean;
  earliestSeq?: number;
}

/** Body of `POST …/tasks/{taskId}/stream-token`. */
export interface StreamTokenResponse {
  token: string;
  /** ISO-8601 UTC. */
  expiresAt: string;
  /** Absolute path of the stream route (no token in it). */
  streamUrl: string;
}

/** Body of `POST /auth/dev/token`. */
export interface DevTokenRequest {
  sub: string;
  role: 'user' | 'agent';
  org?: string;
  agent?: string;
}
export interface DevTokenResponse {
  token: string;
  expiresAt: string;
}

/** Body of `POST …/tasks/{taskId}/events`: one event or a batch. */
export type AppendRequest = WireStreamResponse | { events: WireStreamResponse[] };
export interface AppendResponse {
  seqs: number[];
}

/** Body of `POST …/tasks`. */
export interface CreateTaskRequest {
  contextId?: string;
  message?: { parts: Array<{ text: string }> } & Record<string, unknown>;
  metadata?: Record<string, unknown> & { simulate?: SimulateOptions };
}

/** How the demo simulator agent shapes a task. */
export interface SimulateOptions {
  steps?: number;
  intervalMs?: number;
  fail?: boolean;
  /** Characters per artifact chunk. */
  chunkSize?: number;
}
