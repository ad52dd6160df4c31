import { networkInterfaces } from 'node:os';
import { randomBytes } from 'node:crypto';
import { DEFAULTS } from '@orchestrator-ai/transport-types';

/** Everything the API reads from the environment, read here and nowhere else. */
export interface Config {
  port: number;
  host: string;
  mongodbUri: string | undefined;
  authMode: 'dev' | 'production';
  /** HS256 secret for user and agent tokens (dev, or production without a public key/JWKS). */
  jwtSecret: string;
  /** True when JWT_SECRET was generated for this start (tokens die with the process). */
  jwtSecretGenerated: boolean;
  /** PEM public key for user/agent tokens (production, RS256/ES256). */
  jwtPublicKey: string | undefined;
  /** JWKS URL for user/agent tokens (production). */
  jwksUri: string | undefined;
  userTokenAudience: string;
  agentTokenAudience: string;
  streamTokenAudience: string;
  /** HS256 secret we sign stream tokens with (ours alone: never the IdP's). */
  streamTokenSecret: string;
  clockSkewSeconds: number;
  streamTokenTtlSeconds: number;
  devTokenTtlSeconds: number;
  taskMessageTtlMinutes: number;
  sseHeartbeatSeconds: number;
  sseRetryMs: number;
  /** Bytes a stream may have waiting in its socket before it counts as a slow reader. */
  sseMaxBufferBytes: number;
  /** A replay whose reader takes nothing for this long is dropped as too slow. */
  sseReplayStallSeconds: number;
  maxEventBytes: number;
  maxAppendBatch: number;
  /** Whole request body limit of the append route. */
  maxAppendBytes: number;
  maxStreamsPerUser: number;
  streamTokenRateLimit: { perUser: number; perTask: number; windowSeconds: number };
  corsOrigins: string[];
  simulator: boolean;
  /** How other instances' events reach this one: auto-detect, force tailing, or off. */
  crossInstance: 'auto' | 'tailing' | 'off';
  /** Poll interval of the tailing query. */
  tailPollMs: number;
  /** How often the tail asks task by task (its safety net for late-visible inserts). */
  tailSweepMs: number;
  /** How long a task's snapshot write waits for more appends to fold in. */
  snapshotDelayMs: number;
  /** How long it may wait when only artifact chunks and messages came (readers fold them in). */
  snapshotContentDelayMs: number;
  /** UDP hints between tailing instances ("I just stored events of these tasks"); undefined: off. */
  peerNudges: { bindHost: string; advertiseHost: string; port: number } | undefined;
  pruneEveryMs: number;
  /** Orchestration data of tasks finished longer ago than this is removed. */
  taskRetentionDays: number;
  logLevel: string;
  /** Folder of the built demo app (served at `/`). */
  webRoot: string | undefined;
  openBrowser: boolean;
  /** PEM files: when both are set the API serves HTTP/2 over TLS (HTTP/1.1 still allowed). */
  tls: { certFile: string; keyFile: string } | undefined;
}

type Env = Record<string, string | undefined>;

export class ConfigError extends Error {}

export function loadConfig(env: Env = process.env): Config {
  const jwtPublicKey = nonEmpty(env.JWT_PUBLIC_KEY);
  const jwksUri = nonEmpty(env.JWKS_URI);
  const hasProductionKeys = Boolean(jwtPublicKey || jwksUri || nonEmpty(env.JWT_SECRET));
  const authMode = parseAuthMode(env.AUTH_MODE, Boolean(jwtPublicKey || jwksUri));

  if (authMode === 'production') {
    if (env.JWT_SECRET !== undefined && env.JWT_SECRET.trim() === '')
      throw new ConfigError('AUTH_MODE=production refuses an empty JWT_SECRET');
    if (!hasProductionKeys)
      throw new ConfigError('AUTH_MODE=production needs JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URI');
    if (!nonEmpty(env.JWT_SECRET) && !nonEmpty(env.STREAM_TOKEN_SECRET))
      throw new ConfigError('AUTH_MODE=production with a public key or JWKS needs STREAM_TOKEN_SECRET');
  }
  const secretGiven = nonEmpty(env.JWT_SECRET);
  const jwtSecret = secretGiven ?? randomBytes(32).toString('hex');
  const streamTokenTtlSeconds = int(env, 'STREAM_TOKEN_TTL_SECONDS', DEFAULTS.streamTokenTtlSeconds);
  if (streamTokenTtlSeconds < DEFAULTS.minStreamTokenTtlSeconds)
    throw new ConfigError(`STREAM_TOKEN_TTL_SECONDS must be at least ${DEFAULTS.minStreamTokenTtlSeconds}`);
  const port = int(env, 'PORT', DEFAULTS.port);
  if (port > 65535) throw new ConfigError(`PORT must be at most 65535, got "${env.PORT}"`);
  const sseHeartbeatSeconds = num(env, 'SSE_HEARTBEAT_SECONDS', DEFAULTS.sseHeartbeatSeconds);
  if (sseHeartbeatSeconds <= 0)
    throw new ConfigError(`SSE_HEARTBEAT_SECONDS must be above 0, got "${env.SSE_HEARTBEAT_SECONDS}"`);
  const sseReplayStallSeconds = num(env, 'SSE_REPLAY_STALL_SECONDS', 60);
  if (sseReplayStallSeconds <= 0)
    throw new ConfigError(`SSE_REPLAY_STALL_SECONDS must be above 0, got "${env.SSE_REPLAY_STALL_SECONDS}"`);

  return {
    port,
    host: env.HOST || DEFAULTS.host,
    mongodbUri: nonEmpty(env.MONGODB_URI),
    authMode,
    jwtSecret,
    jwtSecretGenerated: !secretGiven,
    jwtPublicKey,
    jwksUri,
    userTokenAudience: env.USER_TOKEN_AUDIENCE || 'user',
    agentTokenAudience: env.AGENT_TOKEN_AUDIENCE || 'agent',
    streamTokenAudience: 'stream',
    streamTokenSecret: nonEmpty(env.STREAM_TOKEN_SECRET) ?? jwtSecret,
    clockSkewSeconds: int(env, 'JWT_CLOCK_SKEW_SECONDS', 5),
    streamTokenTtlSeconds,
    devTokenTtlSeconds: int(env, 'DEV_TOKEN_TTL_SECONDS', 3600),
    taskMessageTtlMinutes: num(env, 'TASK_MESSAGE_TTL_MINUTES', DEFAULTS.taskMessageTtlMinutes),
    sseHeartbeatSeconds,
    sseRetryMs: int(env, 'SSE_RETRY_MS', DEFAULTS.sseRetryMs),
    sseMaxBufferBytes: int(env, 'SSE_MAX_BUFFER_BYTES', 1024 * 1024),
    sseReplayStallSeconds,
    maxEventBytes: int(env, 'MAX_EVENT_BYTES', DEFAULTS.maxEventBytes),
    maxAppendBatch: int(env, 'MAX_APPEND_BATCH', DEFAULTS.maxAppendBatch),
    maxAppendBytes: int(env, 'MAX_APPEND_BYTES', 16 * 1024 * 1024),
    maxStreamsPerUser: int(env, 'MAX_STREAMS_PER_USER', DEFAULTS.maxStreamsPerUser),
    streamTokenRateLimit: {
      perUser: int(env, 'STREAM_TOKEN_RATE_PER_USER', 120),
      perTask: int(env, 'STREAM_TOKEN_RATE_PER_TASK', 30),
      windowSeconds: int(env, 'STREAM_TOKEN_RATE_WINDOW_SECONDS', 60),
    },
    corsOrigins: (env.CORS_ORIGINS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    simulator: env.SIMULATOR ? env.SIMULATOR !== 'off' : authMode === 'dev',
    pruneEveryMs: Math.round(num(env, 'PRUNE_INTERVAL_MINUTES', 15) * 60_000),
    taskRetentionDays: num(env, 'TASK_RETENTION_DAYS', 30),
    crossInstance: parseCrossInstance(env.CROSS_INSTANCE),
    tailPollMs: int(env, 'TAIL_POLL_MS', 20),
    tailSweepMs: int(env, 'TAIL_SWEEP_MS', 5000),
    peerNudges: parsePeerNudges(env, env.HOST || DEFAULTS.host),
    snapshotDelayMs: int(env, 'SNAPSHOT_DELAY_MS', 200),
    snapshotContentDelayMs: int(env, 'SNAPSHOT_CONTENT_DELAY_MS', 30_000),
    logLevel: env.LOG_LEVEL || 'info',
    webRoot: nonEmpty(env.WEB_ROOT),
    openBrowser: env.BROWSER !== 'none' && !env.CI,
    tls: parseTls(env.TLS_CERT_FILE, env.TLS_KEY_FILE),
  };
}

/**
 * On unless PEER_NUDGES=off. The UDP socket binds to PEER_NUDGE_HOST (default: HOST) and other
 * instances send to PEER_NUDGE_ADVERTISE (default: the bind address, or this machine's first
 * external IPv4 address when that is a wildcard).
 */
function parsePeerNudges(env: NodeJS.ProcessEnv, host: string): Config['peerNudges'] {
  const mode = env.PEER_NUDGES || 'on';
  if (mode === 'off') return undefined;
  if (mode !== 'on') throw new ConfigError(`PEER_NUDGES must be on or off, got "${mode}"`);
  const bindHost = nonEmpty(env.PEER_NUDGE_HOST) ?? (host === 'localhost' ? '127.0.0.1' : host);
  const port = int(env, 'PEER_NUDGE_PORT', 0);
  if (port > 65535) throw new ConfigError(`PEER_NUDGE_PORT must be at most 65535, got "${port}"`);
  const wildcard = bindHost === '0.0.0.0' || bindHost === '::';
  const advertiseHost = nonEmpty(env.PEER_NUDGE_ADVERTISE) ?? (wildcard ? externalAddress() : bindHost);
  return { bindHost, advertiseHost, port };
}

function externalAddress(): string {
  for (const addresses of Object.values(networkInterfaces()))
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return '127.0.0.1';
}

/** Dev mode unless asked otherwise or an identity provider's key is configured. */
function parseAuthMode(value: string | undefined, hasPublicKeys: boolean): 'dev' | 'production' {
  if (value === undefined || value === '') return hasPublicKeys ? 'production' : 'dev';
  if (value === 'dev' || value === 'production') return value;
  throw new ConfigError(`AUTH_MODE must be "dev" or "production", got "${value}"`);
}

function parseCrossInstance(value: string | undefined): 'auto' | 'tailing' | 'off' {
  if (value === undefined || value === '') return 'auto';
  if (value === 'auto' || value === 'tailing' || value === 'off') return value;
  throw new ConfigError(`CROSS_INSTANCE must be auto, tailing or off, got "${value}"`);
}

function parseTls(cert: string | undefined, key: string | undefined): Config['tls'] {
  const certFile = nonEmpty(cert);
  const keyFile = nonEmpty(key);
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) throw new ConfigError('TLS needs both TLS_CERT_FILE and TLS_KEY_FILE');
  return { certFile, keyFile };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function num(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0)
    throw new ConfigError(`${name} must be a non-negative number, got "${raw}"`);
  return n;
}

function int(env: Env, name: string, fallback: number): number {
  const n = num(env, name, fallback);
  if (!Number.isInteger(n)) throw new ConfigError(`${name} must be an integer, got "${env[name]}"`);
  return n;
}
