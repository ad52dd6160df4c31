/**
 * A2A 1.0 types. The SDK's internal (ts-proto) types and codecs are re-exported as they are;
 * the `Wire*` types describe the ProtoJSON forms that travel over HTTP and SSE (camelCase,
 * enum names), which is what browsers and agents see.
 */
export {
  Task,
  TaskStatus,
  TaskState,
  Message,
  Part,
  Artifact,
  Role,
  StreamResponse,
  TaskStatusUpdateEvent,
  TaskArtifactUpdateEvent,
  AgentCard,
  taskStateFromJSON,
  taskStateToJSON,
  // The JSON-RPC binding's request/response messages and the agent card's parts.
  SendMessageRequest,
  SendMessageResponse,
  GetTaskRequest,
  ListTasksRequest,
  ListTasksResponse,
  CancelTaskRequest,
  SubscribeToTaskRequest,
  AgentCapabilities,
  AgentExtension,
  AgentInterface,
  AgentSkill,
  SecurityScheme,
  Extensions,
  A2A_VERSION_HEADER,
  A2A_PROTOCOL_VERSION,
  HTTP_EXTENSION_HEADER,
  A2A_CONTENT_TYPE,
} from '@a2a-js/sdk';

export type WireTaskState =
  | 'TASK_STATE_UNSPECIFIED'
  | 'TASK_STATE_SUBMITTED'
  | 'TASK_STATE_WORKING'
  | 'TASK_STATE_COMPLETED'
  | 'TASK_STATE_FAILED'
  | 'TASK_STATE_CANCELED'
  | 'TASK_STATE_INPUT_REQUIRED'
  | 'TASK_STATE_REJECTED'
  | 'TASK_STATE_AUTH_REQUIRED';

export const TERMINAL_STATES: readonly WireTaskState[] = [
  'TASK_STATE_COMPLETED',
  'TASK_STATE_FAILED',
  'TASK_STATE_CANCELED',
  'TASK_STATE_REJECTED',
];

export function isTerminalState(state: string | undefined): boolean {
  return state !== undefined && (TERMINAL_STATES as readonly string[]).includes(state);
}

export type WireRole = 'ROLE_UNSPECIFIED' | 'ROLE_USER' | 'ROLE_AGENT';

export type Metadata = Record<string, unknown>;

export type WirePart =
  | { text: string; metadata?: Metadata; filename?: string; mediaType?: string }
  | { data: unknown; metadata?: Metadata; filename?: string; mediaType?: string }
  | { url: string; metadata?: Metadata; filename?: string; mediaType?: string }
  | { raw: string; metadata?: Metadata; filename?: string; mediaType?: string };

export interface WireMessage {
  messageId: string;
  contextId?: string;
  taskId?: string;
  role: WireRole;
  parts: WirePart[];
  metadata?: Metadata;
}

export interface WireTaskStatus {
  state: WireTaskState;
  message?: WireMessage;
  timestamp?: string;
}

export interface WireArtifact {
  artifactId: string;
  name?: string;
  description?: string;
  parts: WirePart[];
  metadata?: Metadata;
}

export interface WireTask {
  id: string;
  contextId: string;
  status: WireTaskStatus;
  artifacts?: WireArtifact[];
  history?: WireMessage[];
  metadata?: Metadata;
}

export interface WireStatusUpdate {
  taskId: string;
  contextId: string;
  status: WireTaskStatus;
  metadata?: Metadata;
}

export interface WireArtifactUpdate {
  taskId: string;
  contextId: string;
  artifact: WireArtifact;
  append?: boolean;
  lastChunk?: boolean;
  metadata?: Metadata;
}

/** Exactly one member is present, as A2A's `StreamResponse` requires. */
export type WireStreamResponse =
  | { task: WireTask }
  | { message: WireMessage }
  | { statusUpdate: WireStatusUpdate }
  | { artifactUpdate: WireArtifactUpdate };

export type StreamEventKind = 'task' | 'message' | 'statusUpdate' | 'artifactUpdate';

export function streamEventKind(event: WireStreamResponse): StreamEventKind {
  if ('statusUpdate' in event) return 'statusUpdate';
  if ('artifactUpdate' in event) return 'artifactUpdate';
  if ('message' in event) return 'message';
  return 'task';
}

/** The state an event moves its task to, when it is a status update. */
export function eventState(event: WireStreamResponse): WireTaskState | undefined {
  if ('statusUpdate' in event) return event.statusUpdate.status.state;
  if ('task' in event) return event.task.status.state;
  return undefined;
}
