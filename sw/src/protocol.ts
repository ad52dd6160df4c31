/**
 * The page ↔ worker protocol (see PROTOCOL.md): the message types come from shared-types; the
 * guards check what arrives before either end acts on it.
 */
export type {
  ConnectionState,
  PageToWorker,
  StreamConfigInput,
  TaskRef,
  TokenKind,
  WatchedTaskInfo,
  WorkerToPage,
} from '@orchestrator-ai/transport-types';
export { isPageToWorker, isTaskRef, isWorkerToPage } from './shared/messages.js';
export { DB_NAME, DEFAULT_STREAM_CONFIG } from './shared/config.js';
