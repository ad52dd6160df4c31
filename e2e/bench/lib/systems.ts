import { mkdirSync } from 'node:fs';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { routes } from '@orchestrator-ai/transport-types';
import { Child, sleep } from './children.js';
import { agentToken, streamToken, userToken } from './jwt.js';

/** Paths: this file is e2e/dist/bench/lib/systems.js once built. */
export const BENCH_DIST = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = resolve(BENCH_DIST, '..', '..', '..');
/** The API under test; BENCH_API_MAIN may point at a frozen copy of api/dist (see RESULTS.md). */
export const API_MAIN = process.env.BENCH_API_MAIN ?? join(REPO_ROOT, 'api', 'dist', 'main.js');
export const OUT_DIR = join(REPO_ROOT, 'e2e', 'bench', '.bench-results');

export const SERVER_CORE = 0;
export const GENERATOR_CORE = 1;
export const ORG = 'bench';
export const AGENT = 'load';
export const USER = 'bench-user';

export interface Memory {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  handles: number;
  fds?: number;
}

export interface Server {
  kind: 'api' | 'raw' | 'socketio';
  name: string;
  port: number;
  child: Child;
  /** The UDP port a `--relay-listen` raw instance takes frames on. */
  relayPort?: number;
  mem(): Promise<Memory>;
  stop(): Promise<void>;
}

export interface Common {
  verbose: boolean;
  /** Directory for `--cpu-prof` output of API processes, when profiling. */
  cpuProfDir?: string | undefined;
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolvePort(port));
    });
  });
}

/** `mongodb://host:port/?opts` + name → `mongodb://host:port/name?opts`. */
export function withDatabase(uri: string, dbName: string): string {
  const m = /^(mongodb(?:\+srv)?:\/\/[^/?]+)(?:\/[^?]*)?(\?.*)?$/.exec(uri);
  return m ? `${m[1]}/${dbName}${m[2] ?? ''}` : uri;
}

export const benchFile = (rel: string) => join(BENCH_DIST, rel);

/** Node flags for every server process (API and baselines), for investigations: `--trace-gc` with --verbose. */
const serverNodeFlags = () => (process.env.BENCH_SERVER_NODE_FLAGS ?? '').split(' ').filter(Boolean);
/** The same for the bench's own pinned programs (generators, driver, stall probes). */
const helperNodeFlags = () => (process.env.BENCH_HELPER_NODE_FLAGS ?? '').split(' ').filter(Boolean);

export async function startBaseline(
  kind: 'raw' | 'socketio',
  common: Common,
  options: {
    dbUri?: string | undefined;
    dbName?: string;
    heartbeatSeconds?: number;
    /** raw only: take frames from UDP (`listen`), or send each append's frames to this port. */
    relay?: 'listen' | number;
    name?: string;
  } = {},
): Promise<Server> {
  const script = benchFile(kind === 'raw' ? 'baselines/raw-sse.js' : 'baselines/socketio.js');
  const args = ['--port', '0', '--heartbeat', String(options.heartbeatSeconds ?? 15)];
  if (options.dbUri) args.push('--db', options.dbUri, '--db-name', options.dbName ?? 'bench_baselines');
  if (options.relay === 'listen') args.push('--relay-listen', '1');
  else if (options.relay !== undefined) args.push('--relay-to', String(options.relay));
  const name = options.name ?? `${kind}${options.dbUri ? '+db' : ''}`;
  const child = new Child({
    name,
    script,
    args,
    execArgv: ['--expose-gc', ...serverNodeFlags()],
    core: SERVER_CORE,
    verbose: common.verbose,
    nofile: 65536,
  });
  const ready = await child.ready(30_000);
  const port = Number(ready.port);
  return {
    kind,
    name,
    port,
    child,
    ...(ready.relayPort ? { relayPort: Number(ready.relayPort) } : {}),
    async mem() {
      const res = await fetch(`http://127.0.0.1:${port}/__mem`);
      return (await res.json()) as Memory;
    },
    stop: () => child.stop(),
  };
}

export interface ApiOptions {
  dbUri: string;
  dbName: string;
  secret: string;
  name?: string;
  env?: NodeJS.ProcessEnv;
  cpuProf?: boolean;
}

export async function startApi(common: Common, options: ApiOptions): Promise<Server> {
  const port = await freePort();
  const execArgv = ['--expose-gc', '--import', pathToFileURL(benchFile('lib/mem-probe.js')).href];
  execArgv.push(...serverNodeFlags());
  if (options.cpuProf && common.cpuProfDir) {
    mkdirSync(common.cpuProfDir, { recursive: true });
    execArgv.push(
      '--cpu-prof',
      '--cpu-prof-dir',
      common.cpuProfDir,
      '--cpu-prof-name',
      `${options.name ?? 'api'}-${Date.now()}.cpuprofile`,
    );
  }
  const name = options.name ?? 'api';
  const child = new Child({
    name,
    script: API_MAIN,
    execArgv,
    core: SERVER_CORE,
    verbose: common.verbose,
    nofile: 65536,
    cwd: REPO_ROOT,
    env: {
      PORT: String(port),
      HOST: '127.0.0.1',
      BROWSER: 'none',
      MONGODB_URI: withDatabase(options.dbUri, options.dbName),
      JWT_SECRET: options.secret,
      LOG_LEVEL: 'warn',
      SIMULATOR: 'off',
      MAX_STREAMS_PER_USER: '100000',
      STREAM_TOKEN_RATE_PER_USER: '1000000',
      STREAM_TOKEN_RATE_PER_TASK: '1000000',
      SSE_HEARTBEAT_SECONDS: '15',
      WEB_ROOT: '',
      ...options.env,
    },
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (!child.alive) throw new Error(`${name} exited during start-up\n${child.tail()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await child.stop();
      throw new Error(`${name} not ready within 60 s\n${child.tail()}`);
    }
    await sleep(100);
  }
  return {
    kind: 'api',
    name,
    port,
    child,
    mem: () => child.request<Memory>('mem', {}, 60_000),
    stop: () => child.stop(15_000),
  };
}

/** Talks to an API instance the way its users and agents do. */
export class ApiClient {
  readonly user: string;
  readonly agent: string;
  constructor(
    readonly port: number,
    private readonly secret: string,
  ) {
    this.user = userToken(secret, USER);
    this.agent = agentToken(secret, ORG, AGENT);
  }

  async createTask(): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${this.port}${routes.tasks(ORG, AGENT)}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.user}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: { parts: [{ text: 'bench' }] } }),
    });
    if (res.status !== 201) throw new Error(`create task: HTTP ${res.status} ${await res.text()}`);
    return ((await res.json()) as { id: string }).id;
  }

  async createTasks(n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i += 20) {
      const chunk = await Promise.all(Array.from({ length: Math.min(20, n - i) }, () => this.createTask()));
      ids.push(...chunk);
    }
    return ids;
  }

  /** Counters from the API's Prometheus metrics (`name value` lines), 0 for one it lacks. */
  async counters<K extends string>(names: readonly K[]): Promise<Record<K, number>> {
    const text = await (await fetch(`http://127.0.0.1:${this.port}${routes.metrics}`)).text();
    const out = {} as Record<K, number>;
    for (const name of names) {
      const line = text.split('\n').find((l) => l.startsWith(`${name} `));
      out[name] = line ? Number(line.slice(name.length + 1)) : 0;
    }
    return out;
  }

  /** The stream path with a stream token minted like the API's own route does. */
  streamPath(taskId: string, lastEventId?: number): string {
    const token = streamToken(this.secret, USER, taskId);
    return `${routes.stream(ORG, AGENT, taskId)}?token=${token}${lastEventId === undefined ? '' : `&lastEventId=${lastEventId}`}`;
  }

  /** A stream token from the API's route (checks the route works; the bench mints its own otherwise). */
  async streamTokenFromRoute(taskId: string): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${this.port}${routes.streamToken(ORG, AGENT, taskId)}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.user}` },
    });
    if (res.status !== 200) throw new Error(`stream-token: HTTP ${res.status} ${await res.text()}`);
    return ((await res.json()) as { token: string }).token;
  }

  eventsPath(taskId: string): string {
    return routes.events(ORG, AGENT, taskId);
  }

  async append(taskId: string, body: string): Promise<number[]> {
    const res = await fetch(`http://127.0.0.1:${this.port}${this.eventsPath(taskId)}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.agent}`, 'content-type': 'application/json' },
      body,
    });
    if (res.status !== 200) throw new Error(`append: HTTP ${res.status} ${await res.text()}`);
    return ((await res.json()) as { seqs: number[] }).seqs;
  }

  async activeStreams(): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${this.port}/metrics`)).text();
    const m = /^a2a_sse_active_streams(?:\{[^}]*\})?\s+([0-9.e+-]+)/m.exec(text);
    return m ? Number(m[1]) : NaN;
  }
}

/** A bench program (IPC, lib/ipc.ts) pinned to `core`, once it says it is ready. */
function startHelper(
  common: Common,
  name: string,
  script: string,
  core: number,
  nofile?: number,
): Promise<Child> {
  const child = new Child({
    name,
    script: benchFile(script),
    core,
    verbose: common.verbose,
    nofile,
    execArgv: helperNodeFlags(),
  });
  return child.ready(20_000).then(() => child);
}

export const startGenerator = (common: Common, name: string) =>
  startHelper(common, name, 'gen/load.js', GENERATOR_CORE, 65536);

/** A stall probe pinned to `core` (lib/stall-probe.ts): stalls of that core during a window. */
export const startStallProbe = (common: Common, core: number) =>
  startHelper(common, `stall-probe-${core}`, 'lib/stall-probe.js', core);

export const startDriver = (common: Common) =>
  startHelper(common, 'driver', 'baselines/driver.js', SERVER_CORE);
