/**
 * Starts the real product (`node api/dist/main.js`, as `npm start` does after building) as a
 * child process on a loopback port, with an embedded database shared across restarts, so
 * browser tests can stop and restart the API on the same origin.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const mainJs = join(root, 'api', 'dist', 'main.js');
const launcherJs = join(root, 'api', 'dist', 'db', 'launcher.js');

export interface RunningApi {
  baseUrl: string;
  port: number;
  mongodbUri: string;
  /** Everything the API printed (stdout and stderr). */
  output(): string;
  stop(): Promise<void>;
  /** Stops the API (closing every socket), then starts it again on the same port and database. */
  restart(extraEnv?: Record<string, string>): Promise<void>;
  /** Stops the API and keeps it down until `start()`. */
  start(extraEnv?: Record<string, string>): Promise<void>;
  /**
   * Stops the API process only (closing every socket; the port then refuses connections) and
   * keeps the database, so `start()` brings the same API back on the same port and data.
   */
  halt(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function startDatabase(): Promise<{ uri: string; stop(): void }> {
  if (process.env.MONGODB_URI) return { uri: process.env.MONGODB_URI, stop: () => undefined };
  const child = spawn(process.execPath, [launcherJs], { stdio: ['ignore', 'pipe', 'pipe'] });
  const uri = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`database did not start: ${out}`)), 15_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk;
      const match = /MONGODB_URI=(\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.on('exit', (code) => reject(new Error(`database exited ${code}: ${out}`)));
  });
  return { uri, stop: () => void child.kill('SIGTERM') };
}

export async function startApi(env: Record<string, string> = {}): Promise<RunningApi> {
  const database = await startDatabase();
  const port = Number(env.PORT ?? (await freePort()));
  const dbName = `e2e_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
  const mongodbUri = database.uri.replace(/\/?(\?|$)/, `/${dbName}$1`);
  let child: ChildProcess | undefined;
  let output = '';

  const launch = async (extra: Record<string, string> = {}) => {
    child = spawn(process.execPath, [mainJs], {
      cwd: root,
      env: {
        ...process.env,
        BROWSER: 'none',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        JWT_SECRET: 'e2e-secret',
        ...env,
        ...extra,
        PORT: String(port),
        MONGODB_URI: mongodbUri,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (c: Buffer) => (output += c));
    child.stderr!.on('data', (c: Buffer) => (output += c));
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`API exited (${child.exitCode}):\n${output}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`API not ready after 20 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const halt = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
      c.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      c.kill('SIGTERM');
    });
  };

  await launch();
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    port,
    mongodbUri,
    output: () => output,
    async stop() {
      await halt();
      database.stop();
    },
    async restart(extra) {
      await halt();
      await launch(extra);
    },
    async start(extra) {
      await launch(extra);
    },
    async halt() {
      await halt();
    },
  };
}

/** Dev-mode user token through the API's own route, as the demo app signs in. */
export async function devToken(baseUrl: string, sub = 'demo-user'): Promise<string> {
  const res = await fetch(`${baseUrl}/auth/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub, role: 'user' }),
  });
  return ((await res.json()) as { token: string }).token;
}

export async function agentToken(baseUrl: string, org: string, agent: string): Promise<string> {
  const res = await fetch(`${baseUrl}/auth/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub: `${org}/${agent}`, role: 'agent', org, agent }),
  });
  return ((await res.json()) as { token: string }).token;
}

/** Current value of a Prometheus gauge/counter from /metrics. */
export async function metric(baseUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return match ? Number(match[1]) : NaN;
}
