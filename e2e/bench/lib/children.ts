import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

/**
 * The parent side: every benchmark process is a child of run.js with an IPC channel, pinned to a
 * core with `taskset` when the machine has it, and killed when run.js ends in any way.
 */
export interface ChildOptions {
  name: string;
  script: string;
  args?: string[];
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  /** CPU core to pin to (all threads); undefined = not pinned. */
  core?: number | undefined;
  cwd?: string;
  /** Forward the child's output to our stderr. */
  verbose?: boolean;
  /** Raise the open-files limit to this (up to the hard limit) before starting node. */
  nofile?: number;
}

const live = new Set<Child>();
let hooks = false;

let tasksetChecked: boolean | undefined;
export function hasTaskset(): boolean {
  if (tasksetChecked === undefined) {
    const r = spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    tasksetChecked = r.status === 0;
  }
  return tasksetChecked;
}

export class Child {
  readonly proc: ChildProcess;
  readonly name: string;
  readonly #pending = new Map<
    number,
    { resolve: (v: any) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  #nextId = 1;
  #tail: string[] = [];
  #ready: Promise<Record<string, unknown>>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #exitedFlag = false;

  constructor(options: ChildOptions) {
    installHooks();
    this.name = options.name;
    const nodeArgs = [...(options.execArgv ?? []), options.script, ...(options.args ?? [])];
    const pin = options.core !== undefined && hasTaskset();
    let command = pin ? 'taskset' : process.execPath;
    let args = pin ? ['-c', String(options.core), process.execPath, ...nodeArgs] : nodeArgs;
    if (options.nofile) {
      // `ulimit -n` in a shell that then execs the command: the fd and IPC channel stay as they are.
      args = [
        '-c',
        `ulimit -n ${options.nofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`,
        'sh',
        command,
        ...args,
      ];
      command = '/bin/sh';
    }
    this.proc = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, ...options.env },
      cwd: options.cwd,
    });
    live.add(this);
    for (const stream of [this.proc.stdout!, this.proc.stderr!]) {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.trim()) continue;
          this.#tail.push(line);
          if (this.#tail.length > 40) this.#tail.shift();
          if (options.verbose) process.stderr.write(`  [${this.name}] ${line}\n`);
        }
      });
    }
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.#exitedFlag = true;
        live.delete(this);
        for (const [, p] of this.#pending) {
          clearTimeout(p.timer);
          p.reject(new Error(`${this.name} exited (code ${code}, signal ${signal})\n${this.tail()}`));
        }
        this.#pending.clear();
        resolve({ code, signal });
      });
    });
    this.#ready = new Promise((resolve, reject) => {
      const onMessage = (m: any) => {
        if (m && m.ready) {
          this.proc.off('message', onMessage);
          resolve(m);
        }
      };
      this.proc.on('message', onMessage);
      void this.exited.then(({ code, signal }) =>
        reject(
          new Error(
            `${this.name} exited before it was ready (code ${code}, signal ${signal})\n${this.tail()}`,
          ),
        ),
      );
    });
    this.#ready.catch(() => undefined);
    this.proc.on('message', (m: any) => {
      if (!m || typeof m.id !== 'number') return;
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`${this.name}: ${m.error}`));
    });
    this.proc.on('error', () => undefined);
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get alive(): boolean {
    return !this.#exitedFlag;
  }

  tail(): string {
    return this.#tail.map((l) => `    ${this.name}| ${l}`).join('\n');
  }

  async ready(timeoutMs = 20_000): Promise<Record<string, unknown>> {
    return withTimeout(
      this.#ready,
      timeoutMs,
      `${this.name} not ready within ${timeoutMs} ms\n${this.tail()}`,
    );
  }

  request<T = any>(cmd: string, args: unknown = {}, timeoutMs = 120_000): Promise<T> {
    if (!this.alive || !this.proc.connected)
      return Promise.reject(new Error(`${this.name} is not running\n${this.tail()}`));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.name}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.proc.send({ id, cmd, args });
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 8000): Promise<void> {
    if (!this.alive) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

function killAll(): void {
  for (const c of live) {
    try {
      c.proc.kill('SIGKILL');
    } catch {
      // gone
    }
  }
}

function installHooks(): void {
  if (hooks) return;
  hooks = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping every child\n`);
      killAll();
      process.exit(130);
    });
  }
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop()));
}

export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
