import type { MongoClient, Db } from 'mongodb';

/** Which database server the API talks to; logged once at start-up. */
export type DatabaseKind = 'external' | 'mongod-memory-server' | 'jongodb';

export interface DatabaseServer {
  uri: string;
  kind: DatabaseKind;
  /** Stops an embedded server (no-op for an external one). */
  stop(): Promise<void>;
}

export interface Database {
  client: MongoClient;
  db: Db;
  kind: DatabaseKind;
  close(): Promise<void>;
}

/** Document shapes of our collections. */
export interface TaskDoc {
  _id: string;
  org: string;
  agent: string;
  ownerId: string;
  contextId: string;
  status: import('@orchestrator-ai/transport-types').WireTaskStatus;
  artifacts: import('@orchestrator-ai/transport-types').WireArtifact[];
  history: import('@orchestrator-ai/transport-types').WireMessage[];
  metadata: Record<string, unknown>;
  lastSeq: number;
  final: boolean;
  /** Where the task's orchestration stands (steps, latest checkpoint); outlives the messages. */
  orchestration?: import('../store/orchestration-store.js').OrchestrationSummary;
  createdAt: Date;
  updatedAt: Date;
}

export interface TaskMessageDoc {
  taskId: string;
  seq: number;
  kind: import('@orchestrator-ai/transport-types').StreamEventKind;
  event: import('@orchestrator-ai/transport-types').WireStreamResponse;
  createdAt: Date;
  expiresAt: Date;
}

export const COLLECTIONS = {
  tasks: 'tasks',
  taskMessages: 'task_messages',
  orchestrationSteps: 'orchestration_steps',
  orchestrationCheckpoints: 'orchestration_checkpoints',
  migrations: 'migrations',
  agendaJobs: 'agenda_jobs',
  rateLimits: 'rate_limits',
  streamLeases: 'stream_leases',
  deliveryPeers: 'delivery_peers',
} as const;
