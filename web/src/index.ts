/**
 * `@orchestrator-ai/web`: Lit components for A2A task streams.
 *
 * Importing this module defines `<a2a-task-stream>`, `<a2a-connection-status>` and
 * `<a2a-task-list>`. The single-file bundle (`dist/lib/a2a-components.js`, Lit included) does the
 * same for a page that loads it with one `<script type="module">`.
 */
export { default as A2ATaskStream } from './components/task-stream/task-stream.js';
export {
  default as A2AConnectionStatus,
  describeConnection,
} from './components/connection-status/connection-status.js';
export type { ConnectionStatusState } from './components/connection-status/connection-status.js';
export { default as A2ATaskList } from './components/task-list/task-list.js';
export {
  TaskStreamController,
  errorDetail,
  type TaskStreamControllerOptions,
} from './controllers/task-stream-controller.js';
export {
  applyEvent,
  applySnapshot,
  emptyTaskState,
  stateLabel,
  type ArtifactView,
  type LogEntry,
  type TaskViewState,
} from './internal/task-state.js';
export { defaultClient, createTaskStreamClient } from './stream-client.js';
export * from './events.js';
export type {
  ConnectionInfo,
  ConnectionState,
  SnapshotTask,
  StreamTransport,
  TaskEvent,
  TaskStreamClient,
  TaskStreamClientOptions,
  TaskStreamListener,
  TaskStreamSubscription,
  WatchTarget,
  WireTask,
  WireTaskState,
} from '@orchestrator-ai/transport-types';
