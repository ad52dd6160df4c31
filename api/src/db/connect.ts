import { MongoClient, type MongoClientOptions } from 'mongodb';
import { redactMongoUri } from './launcher.js';
import type { Database, DatabaseKind } from './types.js';

/** The database the API uses when the URI names none (DESIGN.md). */
export const DEFAULT_DATABASE_NAME = 'orchestrator';

export interface ConnectDatabaseOptions {
  /** Overrides the database name taken from the URI. */
  dbName?: string;
  /** How long to look for a server before giving up (default 5000 ms, so a wrong URI fails fast). */
  serverSelectionTimeoutMS?: number;
  maxPoolSize?: number;
  appName?: string;
  /** Any other driver option; the ones above win. */
  clientOptions?: MongoClientOptions;
}

/** The database named in the URI's path (`mongodb://host/db?…` → `db`), else `orchestrator`. */
export function databaseNameFromUri(uri: string): string {
  const match = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*\/([^?#]*)/i.exec(uri);
  const raw = match?.[1] ?? '';
  let name = raw;
  try {
    name = decodeURIComponent(raw);
  } catch {
    // keep it as written
  }
  return name || DEFAULT_DATABASE_NAME;
}

/**
 * Connects with the official driver and checks the server answers (`ping`). A wrong or
 * unreachable URI fails after `serverSelectionTimeoutMS` with a message naming the (redacted)
 * URI, instead of the driver's default 30 s wait.
 */
export async function connectDatabase(
  uri: string,
  kind: DatabaseKind,
  opts: ConnectDatabaseOptions = {},
): Promise<Database> {
  const where = `${kind === 'external' ? 'MONGODB_URI ' : ''}${redactMongoUri(uri)}`;
  const serverSelectionTimeoutMS = opts.serverSelectionTimeoutMS ?? 5_000;
  const options: MongoClientOptions = {
    ...opts.clientOptions,
    serverSelectionTimeoutMS,
    appName: opts.appName ?? opts.clientOptions?.appName ?? 'orchestrator-api',
  };
  if (opts.maxPoolSize !== undefined) options.maxPoolSize = opts.maxPoolSize;

  let client: MongoClient;
  try {
    client = new MongoClient(uri, options);
  } catch (err) {
    throw new Error(`Invalid MongoDB connection string (${where}): ${errorMessage(err)}`, {
      cause: err,
    });
  }

  const dbName = opts.dbName ?? databaseNameFromUri(uri);
  try {
    await client.connect();
    await client.db(dbName).command({ ping: 1 });
  } catch (err) {
    await client.close(true).catch(() => {});
    throw new Error(
      `Cannot connect to MongoDB (${kind}) at ${where} within ${serverSelectionTimeoutMS} ms: ${errorMessage(err)}`,
      { cause: err },
    );
  }

  const db = client.db(dbName);
  let closing: Promise<void> | undefined;
  return {
    client,
    db,
    kind,
    close: () => (closing ??= client.close()),
  };
}

/** True for MongoDB's duplicate-key error (E11000), also inside a bulk write error. */
export function isDuplicateKeyError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as {
    code?: unknown;
    errorResponse?: { code?: unknown };
    writeErrors?: unknown;
  };
  if (e.code === 11000 || e.errorResponse?.code === 11000) return true;
  const writeErrors = Array.isArray(e.writeErrors) ? e.writeErrors : e.writeErrors ? [e.writeErrors] : [];
  return writeErrors.some(
    (w: unknown) => typeof w === 'object' && w !== null && (w as { code?: unknown }).code === 11000,
  );
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
