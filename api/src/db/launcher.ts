/**
 * Where MongoDB comes from (DESIGN.md "Where MongoDB comes from", STACK.md §7/§8):
 *
 * 1. `MONGODB_URI` set → that server (`external`; stop is a no-op).
 * 2. `MONGOMS_SYSTEM_BINARY` set, or a `mongod` on PATH → mongodb-memory-server with that binary.
 * 3. mongodb-memory-server with cached binaries only (`MONGOMS_RUNTIME_DOWNLOAD=false` unless the
 *    environment says otherwise): fails in ~11 ms when nothing is cached.
 * 4. The jongodb binary shipped by `@jongodb/memory-server-bin-linux-x64-gnu`.
 *
 * Exactly one info line names the choice. URIs are logged without credentials.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, realpathSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DatabaseKind, DatabaseServer } from './types.js';

export interface LauncherLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface StartDatabaseServerOptions {
  logger?: LauncherLogger;
  /** Environment to read `MONGODB_URI`, `MONGOMS_SYSTEM_BINARY` and `PATH` from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** How long jongodb may take to report its URI (default 10 s). */
  startTimeoutMs?: number;
}

export interface LaunchedDatabaseServer extends DatabaseServer {
  /** Recent stderr lines of an embedded server (noise removed), for diagnostics. */
  stderrTail(): string[];
}

const JONGODB_PACKAGE = '@jongodb/memory-server-bin-linux-x64-gnu';
const JONGODB_NOISE = /tcp client io failure: Connection reset/i;
const MMS_FAILURE_BANNER = 'Starting the MongoMemoryServer Instance failed';
const STDERR_TAIL_LINES = 100;

/** Removes `user:pass@` and secret-looking query values from a MongoDB URI before it is logged. */
export function redactMongoUri(uri: string): string {
  let out = uri.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1');
  out = out.replace(
    /([?&])([^=&#]*(?:password|secret|token|authMechanismProperties)[^=&#]*)=([^&#]*)/gi,
    '$1$2=***',
  );
  return out;
}

/** The absolute path of an executable `mongod` on PATH, if any (mongodb-memory-server does not search PATH). */
export function findMongodOnPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'mongod');
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export async function startDatabaseServer(
  opts: StartDatabaseServerOptions = {},
): Promise<LaunchedDatabaseServer> {
  const env = opts.env ?? process.env;
  const logger = opts.logger;

  const external = env.MONGODB_URI?.trim();
  if (external) {
    const server: LaunchedDatabaseServer = {
      uri: external,
      kind: 'external',
      stop: async () => {},
      stderrTail: () => [],
    };
    logChoice(logger, server.kind, server.uri);
    return server;
  }

  const explicitBinary = env.MONGOMS_SYSTEM_BINARY?.trim();
  const systemBinary = explicitBinary || findMongodOnPath(env);
  const skipped: Record<string, string> = {};
  if (systemBinary) {
    try {
      const server = await startMemoryServer(systemBinary);
      logChoice(logger, server.kind, server.uri, { binary: systemBinary });
      return server;
    } catch (err) {
      if (explicitBinary) {
        throw new Error(
          `MONGOMS_SYSTEM_BINARY=${explicitBinary} could not be started: ${errorMessage(err)}`,
          { cause: err },
        );
      }
      skipped.mongodOnPath = `${systemBinary}: ${errorMessage(err)}`;
    }
  }

  try {
    const server = await startMemoryServer(undefined);
    logChoice(logger, server.kind, server.uri);
    return server;
  } catch (err) {
    skipped.mongodMemoryServer = errorMessage(err);
  }

  const server = await startJongodb(opts.startTimeoutMs ?? 10_000);
  logChoice(logger, server.kind, server.uri, { skipped });
  return server;
}

function logChoice(
  logger: LauncherLogger | undefined,
  kind: DatabaseKind,
  uri: string,
  extra: object = {},
): void {
  logger?.info({ database: kind, uri: redactMongoUri(uri), ...extra }, `database: ${kind}`);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------------------------
// mongodb-memory-server

async function startMemoryServer(systemBinary: string | undefined): Promise<LaunchedDatabaseServer> {
  const { MongoMemoryServer } = await import('mongodb-memory-server-core');
  // Without a system binary only cached binaries are acceptable: a download attempt takes ~7 s
  // to fail offline (STACK.md §8). An explicit MONGOMS_RUNTIME_DOWNLOAD in the environment wins.
  const restoreEnv =
    systemBinary === undefined && process.env.MONGOMS_RUNTIME_DOWNLOAD === undefined
      ? setTemporaryEnv('MONGOMS_RUNTIME_DOWNLOAD', 'false')
      : () => {};
  // MMS prints the whole stack with console.warn when it cannot start; the caller reports the
  // failure in one line instead.
  const originalWarn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith(MMS_FAILURE_BANNER)) return;
    originalWarn.apply(console, args);
  };
  // Our own data directory: when MMS cannot start (no binary, the usual case here) it keeps the
  // one it made "for investigation", and every start of the API or a test left one in the
  // temporary directory.
  const dbPath = await mkdtemp(join(tmpdir(), 'mongo-mem-'));
  const removeDbPath = () => rm(dbPath, { recursive: true, force: true }).catch(() => undefined);
  try {
    const mms = await MongoMemoryServer.create({
      instance: { dbPath },
      ...(systemBinary === undefined ? {} : { binary: { systemBinary } }),
    });
    return {
      uri: mms.getUri(),
      kind: 'mongod-memory-server',
      stop: async () => {
        await mms.stop({ doCleanup: true, force: true });
        await removeDbPath();
      },
      stderrTail: () => [],
    };
  } catch (error) {
    await removeDbPath();
    throw error;
  } finally {
    console.warn = originalWarn;
    restoreEnv();
  }
}

function setTemporaryEnv(key: string, value: string): () => void {
  process.env[key] = value;
  return () => {
    delete process.env[key];
  };
}

// ---------------------------------------------------------------------------------------------
// jongodb

/**
 * The jongodb child runs under a small `sh` watchdog that reads our end of a stdin pipe: when
 * Node dies in any way (even SIGKILL) the pipe closes and the watchdog kills jongodb, which would
 * otherwise outlive us (STACK.md §7). Watchdog and jongodb form their own process group, so a
 * terminal Ctrl-C reaches Node only and Node decides when the database goes away; stopping kills
 * the whole group.
 */
const WATCHDOG_SCRIPT = '"$0" "$@" & read -r _ignored; kill "$!" 2>/dev/null; wait';

interface LiveChild {
  watchdog: ChildProcess;
}

const liveChildren = new Set<LiveChild>();
let exitHooksInstalled = false;

function killGroup(live: LiveChild, signal: NodeJS.Signals): void {
  const pid = live.watchdog.pid;
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function killChildSync(live: LiveChild): void {
  killGroup(live, 'SIGKILL');
}

function onProcessExit(): void {
  for (const live of liveChildren) killChildSync(live);
  liveChildren.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  // When someone else handles the signal (a graceful shutdown), leave the database up for it;
  // the 'exit' hook and the watchdog still take it down. Otherwise behave like Node's default:
  // kill the database, then die of the same signal.
  const others = process.listeners(signal).filter((l) => l !== signalHandlers[signal]);
  if (others.length > 0) return;
  onProcessExit();
  removeExitHooks();
  process.kill(process.pid, signal);
}

const signalHandlers: Partial<Record<NodeJS.Signals, () => void>> = {
  SIGINT: () => onSignal('SIGINT'),
  SIGTERM: () => onSignal('SIGTERM'),
};

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', onProcessExit);
  for (const [signal, handler] of Object.entries(signalHandlers)) {
    process.on(signal, handler);
  }
}

function removeExitHooks(): void {
  if (!exitHooksInstalled) return;
  exitHooksInstalled = false;
  process.off('exit', onProcessExit);
  for (const [signal, handler] of Object.entries(signalHandlers)) {
    process.off(signal, handler);
  }
}

function jongodbBinaryPath(): string {
  let packageJson: string;
  try {
    packageJson = createRequire(import.meta.url).resolve(`${JONGODB_PACKAGE}/package.json`);
  } catch (err) {
    throw new Error(
      `No database available: MONGODB_URI is not set, no mongod was found, and ${JONGODB_PACKAGE} ` +
        `is not installed (it exists for linux x64 glibc only). Set MONGODB_URI or MONGOMS_SYSTEM_BINARY.`,
      { cause: err },
    );
  }
  return join(dirname(packageJson), 'bin', 'jongodb');
}

/** `mongodb://127.0.0.1:NNNN/test` → `mongodb://127.0.0.1:NNNN/`: the database name is the app's choice. */
function withoutDatabaseName(uri: string): string {
  const match = /^(mongodb:\/\/[^/?]+)(?:\/[^?]*)?(\?.*)?$/.exec(uri);
  if (!match) return uri;
  return `${match[1]}/${match[2] ?? ''}`;
}

async function startJongodb(timeoutMs: number): Promise<LaunchedDatabaseServer> {
  const binary = jongodbBinaryPath();
  const watchdog = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT, binary, '--host=127.0.0.1', '--port=0'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  const live: LiveChild = { watchdog };
  liveChildren.add(live);
  installExitHooks();

  const stderrTail: string[] = [];
  let stderrRest = '';
  watchdog.stderr!.setEncoding('utf8');
  watchdog.stderr!.on('data', (chunk: string) => {
    const lines = (stderrRest + chunk).split('\n');
    stderrRest = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim() || JONGODB_NOISE.test(line)) continue;
      stderrTail.push(line);
      if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
    }
  });

  let exited = false;
  const exitPromise = new Promise<void>((resolve) => {
    watchdog.once('exit', () => {
      exited = true;
      liveChildren.delete(live);
      if (liveChildren.size === 0) removeExitHooks();
      resolve();
    });
  });
  watchdog.stdin!.on('error', () => {}); // EPIPE when the watchdog is gone

  const describeStderr = () =>
    stderrTail.length > 0 ? `; stderr: ${stderrTail.slice(-10).join(' | ')}` : '';

  let uri: string;
  try {
    uri = await new Promise<string>((resolve, reject) => {
      let stdoutRest = '';
      const timer = setTimeout(() => {
        reject(
          new Error(
            `jongodb (${binary}) did not report JONGODB_URI within ${timeoutMs} ms${describeStderr()}`,
          ),
        );
      }, timeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      watchdog.once('error', (err) =>
        fail(new Error(`could not start jongodb (${binary}): ${err.message}`, { cause: err })),
      );
      watchdog.once('exit', (code, signal) =>
        fail(
          new Error(
            `jongodb (${binary}) exited before reporting its URI (code ${code}, signal ${signal})${describeStderr()}`,
          ),
        ),
      );
      watchdog.stdout!.setEncoding('utf8');
      watchdog.stdout!.on('data', (chunk: string) => {
        const lines = (stdoutRest + chunk).split('\n');
        stdoutRest = lines.pop() ?? '';
        for (const raw of lines) {
          const line = raw.trim();
          if (line.startsWith('JONGODB_START_FAILURE=')) {
            fail(new Error(`jongodb failed to start: ${line.slice('JONGODB_START_FAILURE='.length)}`));
          } else if (line.startsWith('JONGODB_URI=')) {
            clearTimeout(timer);
            resolve(withoutDatabaseName(line.slice('JONGODB_URI='.length)));
          }
        }
      });
    });
  } catch (err) {
    killChildSync(live);
    throw err;
  }

  // Keep draining its output, but never let the child keep Node alive: the 'exit' hook and the
  // watchdog take care of it when Node ends.
  watchdog.stdout!.resume();
  watchdog.unref();
  for (const stream of [watchdog.stdin, watchdog.stdout, watchdog.stderr]) {
    (stream as unknown as { unref?: () => void } | null)?.unref?.();
  }

  let stopping: Promise<void> | undefined;
  return {
    uri,
    kind: 'jongodb',
    stderrTail: () => [...stderrTail],
    stop: () => {
      stopping ??= (async () => {
        if (exited) return;
        killGroup(live, 'SIGTERM');
        watchdog.stdin!.end();
        const timer = setTimeout(() => killChildSync(live), 3_000);
        await exitPromise;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// CLI

/**
 * Starts a database server the way the API would, prints `MONGODB_URI=<uri>` on stdout (one
 * line, for scripts), logs the choice as JSON on stderr, and keeps it up until SIGINT/SIGTERM.
 * Run it with `node api/dist/db/launcher.js`.
 */
export async function runDatabaseServerCli(): Promise<void> {
  const log = (level: string) => (obj: object, msg: string) =>
    process.stderr.write(`${JSON.stringify({ level, ...obj, msg })}\n`);
  const server = await startDatabaseServer({ logger: { info: log('info'), warn: log('warn') } });
  process.stdout.write(
    `MONGODB_URI=${server.kind === 'external' ? redactMongoUri(server.uri) : server.uri}\n`,
  );
  const keepAlive = setInterval(() => {}, 1 << 30);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  clearInterval(keepAlive);
  await server.stop();
}

function isMainModule(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return pathToFileURL(realpathSync(entry)).href === import.meta.url;
  } catch {
    return false;
  }
}

if (isMainModule()) {
  runDatabaseServerCli().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
