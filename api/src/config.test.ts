import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

const refuses = (env: Record<string, string>, message: RegExp) => {
  let error: unknown;
  try {
    loadConfig(env);
  } catch (e) {
    error = e;
  }
  expect(error, `expected ${JSON.stringify(env)} to be refused`).toBeInstanceOf(ConfigError);
  expect((error as Error).message).toMatch(message);
};

describe('loadConfig defaults (npm start without configuration)', () => {
  const config = loadConfig({});

  it('listens on 127.0.0.1:3000 with the embedded database', () => {
    expect(config.port).toBe(3000);
    expect(config.host).toBe('127.0.0.1');
    expect(config.mongodbUri).toBeUndefined();
  });

  it('uses the documented stream and retention defaults', () => {
    expect(config.streamTokenTtlSeconds).toBe(300);
    expect(config.taskMessageTtlMinutes).toBe(60);
    expect(config.sseHeartbeatSeconds).toBe(15);
    expect(config.maxEventBytes).toBe(256 * 1024);
    expect(config.maxAppendBatch).toBe(500);
    expect(config.snapshotDelayMs).toBe(200);
    expect(loadConfig({ SNAPSHOT_DELAY_MS: '50' }).snapshotDelayMs).toBe(50);
    expect(config.snapshotContentDelayMs).toBe(30_000);
    expect(loadConfig({ SNAPSHOT_CONTENT_DELAY_MS: '1000' }).snapshotContentDelayMs).toBe(1000);
    expect(config.clockSkewSeconds).toBeGreaterThan(0);
    expect(config.clockSkewSeconds).toBeLessThanOrEqual(60);
    expect(config.streamTokenAudience).toBe('stream');
    expect(config.userTokenAudience).not.toBe(config.streamTokenAudience);
    expect(config.agentTokenAudience).not.toBe(config.userTokenAudience);
  });

  it('is dev mode without keys, with the simulator on', () => {
    expect(config.authMode).toBe('dev');
    expect(config.simulator).toBe(true);
  });

  it('generates a random secret per start when JWT_SECRET is unset', () => {
    expect(config.jwtSecretGenerated).toBe(true);
    expect(config.jwtSecret.length).toBeGreaterThanOrEqual(32);
    const again = loadConfig({});
    expect(again.jwtSecret).not.toBe(config.jwtSecret);
    // Blank means unset.
    expect(loadConfig({ JWT_SECRET: '  ' }).jwtSecretGenerated).toBe(true);
  });

  it('treats empty variables as unset', () => {
    const blank = loadConfig({
      PORT: '',
      HOST: '',
      STREAM_TOKEN_TTL_SECONDS: '',
      TASK_MESSAGE_TTL_MINUTES: '',
    });
    expect(blank).toMatchObject({
      port: 3000,
      host: '127.0.0.1',
      streamTokenTtlSeconds: 300,
      taskMessageTtlMinutes: 60,
    });
  });
});

describe('loadConfig honours the environment', () => {
  it('reads PORT, HOST, MONGODB_URI, JWT_SECRET', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: '0.0.0.0',
      MONGODB_URI: 'mongodb://db:27017/x',
      JWT_SECRET: 'shh',
    });
    expect(config).toMatchObject({ port: 8080, host: '0.0.0.0', mongodbUri: 'mongodb://db:27017/x' });
    expect(config.jwtSecret).toBe('shh');
    expect(config.jwtSecretGenerated).toBe(false);
    // Tokens stay valid across restarts: the same secret every time.
    expect(loadConfig({ JWT_SECRET: 'shh' }).jwtSecret).toBe('shh');
  });

  it('allows fractions of a minute for TASK_MESSAGE_TTL_MINUTES', () => {
    expect(loadConfig({ TASK_MESSAGE_TTL_MINUTES: '0.05' }).taskMessageTtlMinutes).toBe(0.05);
    expect(loadConfig({ TASK_MESSAGE_TTL_MINUTES: '1.5' }).taskMessageTtlMinutes).toBe(1.5);
  });

  it('honours any STREAM_TOKEN_TTL_SECONDS from 10 up and refuses less', () => {
    expect(loadConfig({ STREAM_TOKEN_TTL_SECONDS: '10' }).streamTokenTtlSeconds).toBe(10);
    expect(loadConfig({ STREAM_TOKEN_TTL_SECONDS: '600' }).streamTokenTtlSeconds).toBe(600);
    for (const value of ['9', '1', '0'])
      refuses({ STREAM_TOKEN_TTL_SECONDS: value }, /STREAM_TOKEN_TTL_SECONDS/);
  });

  it('reads SSE_HEARTBEAT_SECONDS and the limits', () => {
    const config = loadConfig({ SSE_HEARTBEAT_SECONDS: '2', MAX_APPEND_BATCH: '5', MAX_EVENT_BYTES: '1024' });
    expect(config).toMatchObject({ sseHeartbeatSeconds: 2, maxAppendBatch: 5, maxEventBytes: 1024 });
  });

  it('nudges peers over UDP on the listening address by default; PEER_NUDGE_* choose another', () => {
    expect(loadConfig({}).peerNudges).toEqual({ bindHost: '127.0.0.1', advertiseHost: '127.0.0.1', port: 0 });
    expect(loadConfig({ HOST: 'localhost' }).peerNudges?.bindHost).toBe('127.0.0.1');
    const wildcard = loadConfig({ HOST: '0.0.0.0' }).peerNudges!;
    expect(wildcard.bindHost).toBe('0.0.0.0');
    // Peers cannot send to 0.0.0.0: they get an address of this machine.
    expect(wildcard.advertiseHost).not.toBe('0.0.0.0');
    expect(
      loadConfig({
        PEER_NUDGE_HOST: '10.0.0.5',
        PEER_NUDGE_ADVERTISE: 'api-1.internal',
        PEER_NUDGE_PORT: '7400',
      }).peerNudges,
    ).toEqual({ bindHost: '10.0.0.5', advertiseHost: 'api-1.internal', port: 7400 });
    expect(loadConfig({ PEER_NUDGES: 'off' }).peerNudges).toBeUndefined();
    refuses({ PEER_NUDGES: 'maybe' }, /PEER_NUDGES must be on or off/);
    refuses({ PEER_NUDGE_PORT: '70000' }, /PEER_NUDGE_PORT must be at most 65535/);
  });
});

describe('production mode', () => {
  it('refuses to start without keys', () => {
    refuses({ AUTH_MODE: 'production' }, /JWT_SECRET/);
  });

  it('refuses an empty or blank JWT_SECRET, with a message that says so', () => {
    refuses({ AUTH_MODE: 'production', JWT_SECRET: '' }, /JWT_SECRET/);
    refuses({ AUTH_MODE: 'production', JWT_SECRET: '' }, /empty/i);
    refuses({ AUTH_MODE: 'production', JWT_SECRET: '   ' }, /JWT_SECRET/);
  });

  it('starts with JWT_SECRET, and has no simulator or generated secret', () => {
    const config = loadConfig({ AUTH_MODE: 'production', JWT_SECRET: 'x' });
    expect(config.authMode).toBe('production');
    expect(config.jwtSecretGenerated).toBe(false);
    expect(config.jwtSecret).toBe('x');
    expect(config.simulator).toBe(false);
  });

  it('is chosen by a public key or JWKS, which then need a stream token secret of our own', () => {
    refuses({ JWKS_URI: 'https://idp.example/jwks.json' }, /STREAM_TOKEN_SECRET/);
    const config = loadConfig({ JWKS_URI: 'https://idp.example/jwks.json', STREAM_TOKEN_SECRET: 'ours' });
    expect(config.authMode).toBe('production');
    expect(config.streamTokenSecret).toBe('ours');
  });

  it('refuses an unknown AUTH_MODE', () => {
    refuses({ AUTH_MODE: 'prod' }, /AUTH_MODE/);
  });
});

describe('bad numbers are refused with the variable named', () => {
  it.each([
    ['PORT', 'abc'],
    ['PORT', '-1'],
    ['PORT', '1.5'],
    ['PORT', 'NaN'],
    ['PORT', 'Infinity'],
    ['PORT', '70000'],
    ['STREAM_TOKEN_TTL_SECONDS', 'five minutes'],
    ['STREAM_TOKEN_TTL_SECONDS', '30.5'],
    ['TASK_MESSAGE_TTL_MINUTES', 'abc'],
    ['TASK_MESSAGE_TTL_MINUTES', '-5'],
    ['SSE_HEARTBEAT_SECONDS', 'x'],
    ['SSE_HEARTBEAT_SECONDS', '0'],
    ['SSE_REPLAY_STALL_SECONDS', '0'],
    ['SSE_REPLAY_STALL_SECONDS', 'soon'],
    ['MAX_APPEND_BATCH', '1e400'],
    ['MAX_EVENT_BYTES', '-1'],
    ['STREAM_TOKEN_RATE_PER_TASK', 'many'],
    ['JWT_CLOCK_SKEW_SECONDS', '-3'],
  ])('%s=%s', (name, value) => {
    refuses({ [name]: value }, new RegExp(name));
  });
});
