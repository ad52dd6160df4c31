import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectDatabase, databaseNameFromUri, isDuplicateKeyError } from './connect.js';
import { findMongodOnPath, redactMongoUri, startDatabaseServer } from './launcher.js';

function recordingLogger() {
  const lines: Array<{ level: 'info' | 'warn'; obj: Record<string, unknown>; msg: string }> = [];
  return {
    lines,
    logger: {
      info: (obj: object, msg: string) =>
        lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
      warn: (obj: object, msg: string) =>
        lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
    },
  };
}

/** The environment without a configured database, so the launcher has to embed one. */
function embeddedEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.MONGODB_URI;
  delete env.MONGOMS_SYSTEM_BINARY;
  return env;
}

describe('startDatabaseServer', () => {
  it('embeds a server, logs exactly one line naming it, and stops it', async () => {
    const env = embeddedEnv();
    const expected = findMongodOnPath(env) ? 'mongod-memory-server' : 'jongodb';
    const { lines, logger } = recordingLogger();
    const started = Date.now();
    const server = await startDatabaseServer({ logger, env });
    try {
      expect(server.kind).toBe(expected);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 'info', obj: { database: expected } });
      expect(lines[0]?.obj.uri).toMatch(/^mongodb:\/\/127\.0\.0\.1:\d+\/$/);

      // The URI names no database, so the API's default applies.
      expect(databaseNameFromUri(server.uri)).toBe('orchestrator');
      const database = await connectDatabase(server.uri, server.kind);
      try {
        expect(database.db.databaseName).toBe('orchestrator');
        expect(await database.db.command({ ping: 1 })).toMatchObject({ ok: 1 });
      } finally {
        await database.close();
      }
    } finally {
      await server.stop();
    }
    // Gone: nothing answers on that port any more.
    await expect(connectDatabase(server.uri, server.kind, { serverSelectionTimeoutMS: 500 })).rejects.toThrow(
      /Cannot connect to MongoDB/,
    );
    // Stopping twice is harmless.
    await server.stop();
  });

  it('leaves nothing in the temporary directory once stopped, whichever server it embedded', async () => {
    // mongodb-memory-server is tried first; where it cannot start it used to keep the data
    // directory it had made, one per start of the API or of a test.
    const own = mkdtempSync(join(tmpdir(), 'launcher-tmp-'));
    const previous = process.env.TMPDIR;
    process.env.TMPDIR = own;
    try {
      const server = await startDatabaseServer({ env: embeddedEnv() });
      await server.stop();
      expect(readdirSync(own)).toEqual([]);
    } finally {
      if (previous === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = previous;
      rmSync(own, { recursive: true, force: true });
    }
  });

  it('uses MONGODB_URI as is and never logs its credentials', async () => {
    const { lines, logger } = recordingLogger();
    const uri = 'mongodb://alice:s3cret@db.example.invalid:27017/prod?authSource=admin';
    const server = await startDatabaseServer({ logger, env: { ...embeddedEnv(), MONGODB_URI: uri } });
    expect(server).toMatchObject({ kind: 'external', uri });
    await server.stop(); // no-op
    expect(lines).toEqual([
      {
        level: 'info',
        obj: { database: 'external', uri: 'mongodb://db.example.invalid:27017/prod?authSource=admin' },
        msg: 'database: external',
      },
    ]);
  });
});

describe('connectDatabase', () => {
  it('fails fast with a clear message when MONGODB_URI points nowhere', async () => {
    const started = Date.now();
    const err = await connectDatabase('mongodb://bob:hunter2@127.0.0.1:1/app', 'external').then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(err).toBeInstanceOf(Error);
    expect(err?.message).toMatch(
      /^Cannot connect to MongoDB \(external\) at MONGODB_URI mongodb:\/\/127\.0\.0\.1:1\/app within 5000 ms: /,
    );
    expect(err?.message).not.toContain('hunter2');
  });

  it('rejects a malformed connection string with a clear message', async () => {
    await expect(connectDatabase('postgres://localhost/x', 'external')).rejects.toThrow(
      /^Invalid MongoDB connection string \(MONGODB_URI postgres:\/\/localhost\/x\)/,
    );
  });

  it('takes the database name from the URI path', () => {
    expect(databaseNameFromUri('mongodb://h:1/app?replicaSet=rs0')).toBe('app');
    expect(databaseNameFromUri('mongodb+srv://u:p@cluster.example.net/my%2Ddb')).toBe('my-db');
    expect(databaseNameFromUri('mongodb://h1:1,h2:2/?replicaSet=rs0')).toBe('orchestrator');
    expect(databaseNameFromUri('mongodb://h:1')).toBe('orchestrator');
  });
});

describe('redactMongoUri', () => {
  it('removes credentials and secret query values', () => {
    expect(redactMongoUri('mongodb+srv://u:p%40ss@c.example.net/db')).toBe('mongodb+srv://c.example.net/db');
    expect(
      redactMongoUri(
        'mongodb://h:1/db?tls=true&tlsCertificateKeyFilePassword=x&authMechanismProperties=AWS_SESSION_TOKEN:y',
      ),
    ).toBe('mongodb://h:1/db?tls=true&tlsCertificateKeyFilePassword=***&authMechanismProperties=***');
  });
});

describe('isDuplicateKeyError', () => {
  it('recognises E11000 from single and bulk writes', async () => {
    const { useTestDatabase } = await import('../test-support/database.js');
    const t = await useTestDatabase();
    try {
      const messages = t.db.collection('task_messages');
      const doc = { taskId: 't1', seq: 1, expiresAt: new Date(Date.now() + 60_000) };
      await messages.insertOne({ ...doc });
      const single = await messages.insertOne({ ...doc }).catch((e: unknown) => e);
      expect(isDuplicateKeyError(single)).toBe(true);
      const bulk = await messages.insertMany([{ ...doc, seq: 2 }, { ...doc }]).catch((e: unknown) => e);
      expect(isDuplicateKeyError(bulk)).toBe(true);
      expect(isDuplicateKeyError(new Error('other'))).toBe(false);
      expect(isDuplicateKeyError(undefined)).toBe(false);
    } finally {
      await t.close();
    }
  });
});
