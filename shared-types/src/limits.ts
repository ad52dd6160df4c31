/** Defaults of the documented limits (DESIGN.md "Interfaces"). */
export const DEFAULTS = {
  port: 3000,
  host: '127.0.0.1',
  streamTokenTtlSeconds: 300,
  minStreamTokenTtlSeconds: 10,
  taskMessageTtlMinutes: 60,
  sseHeartbeatSeconds: 15,
  sseRetryMs: 2000,
  maxEventBytes: 256 * 1024,
  maxAppendBatch: 500,
  maxJsonDepth: 64,
  maxStreamsPerUser: 100,
  messagesPageLimit: 1000,
  database: 'orchestrator',
} as const;
