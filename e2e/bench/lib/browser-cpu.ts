/**
 * CPU time of the browser side of figure 6: the Service Worker's thread, every Chromium process,
 * and a V8 CPU profile of the worker through the DevTools protocol.
 *
 * - Worker thread: Chromium runs a Service Worker on its own thread, named "ServiceWorker thread"
 *   (the kernel keeps 15 characters: "ServiceWorker t"), inside a renderer process that also hosts
 *   pages of the same site. Its on-CPU time comes from `/proc/<pid>/task/<tid>/schedstat`
 *   (nanoseconds). Only descendants of this Node process are searched: other browsers may run on
 *   the machine.
 * - Chromium as a whole: `SystemInfo.getProcessInfo` on the browser session (CPU seconds of every
 *   process: browser, renderers, GPU, network and storage services).
 * - CDP: a Service Worker target has no `Performance` domain in Chromium ("'Performance.getMetrics'
 *   wasn't found"), and Playwright's `newCDPSession` takes pages and frames only. The `Profiler`
 *   domain works: `Target.attachToTarget({ flatten: false })` on a browser session, then
 *   `Target.sendMessageToTarget` / `Target.receivedMessageFromTarget`. Busy time = the profile's
 *   time minus its `(idle)` samples.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { CDPSession } from '@playwright/test';

function statFields(path: string): { name: string; fields: string[] } | undefined {
  try {
    const s = readFileSync(path, 'utf8');
    return {
      name: s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')),
      fields: s.slice(s.lastIndexOf(')') + 2).split(' '),
    };
  } catch {
    return undefined;
  }
}

/** Every process below `root` (children, grandchildren…). */
export function descendants(root = process.pid): number[] {
  const children = new Map<number, number[]>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
  for (const d of entries) {
    const ppid = Number(statFields(`/proc/${d}/stat`)?.fields[1]);
    if (!Number.isFinite(ppid)) continue;
    let list = children.get(ppid);
    if (!list) children.set(ppid, (list = []));
    list.push(Number(d));
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length) {
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

export interface ThreadRef {
  pid: number;
  tid: number;
}

/** Threads named `name` (as the kernel shows it, 15 characters) in processes below this one. */
export function findThreads(name: string, root = process.pid): ThreadRef[] {
  const found: ThreadRef[] = [];
  for (const pid of descendants(root)) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const t of tids) {
      if (statFields(`/proc/${pid}/task/${t}/stat`)?.name === name) found.push({ pid, tid: Number(t) });
    }
  }
  return found;
}

export const SERVICE_WORKER_THREAD = 'ServiceWorker t';

/** On-CPU time of one thread in ms (schedstat: ns), NaN when it is gone. */
export function threadCpuMs(t: ThreadRef): number {
  try {
    const ns = Number(readFileSync(`/proc/${t.pid}/task/${t.tid}/schedstat`, 'utf8').split(' ')[0]);
    return ns / 1e6;
  } catch {
    return NaN;
  }
}

/**
 * On-CPU ms of every thread of the Chromium processes below this one, summed by process type
 * (`--type=` of its command line; the browser has none) and thread name, e.g.
 * `renderer/CrRendererMain` or `browser/Chrome_IOThread`. Taken before and after a window, the
 * difference says which threads a mode's extra CPU went to, which the per-process totals of
 * {@link chromiumCpu} cannot.
 */
export function chromiumThreadCpu(root = process.pid): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of descendants(root)) {
    let cmdline: string;
    let tids: string[];
    try {
      // Zygote children rewrite their command line, sometimes with spaces instead of NULs.
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    if (!/^\S*chrom/i.test(cmdline)) continue;
    const threads = tids.map((t) => ({
      tid: Number(t),
      name: statFields(`/proc/${pid}/task/${t}/stat`)?.name,
    }));
    const type = /--type=([\w-]+)/.exec(cmdline)?.[1] ?? 'browser';
    // The renderer that hosts the Service Worker is told apart from the tabs' renderers.
    const kind = threads.some((t) => t.name === SERVICE_WORKER_THREAD) ? `${type}+sw` : type;
    for (const { tid, name } of threads) {
      const ms = threadCpuMs({ pid, tid });
      if (name === undefined || !Number.isFinite(ms)) continue;
      const key = `${kind}/${name}`;
      out.set(key, (out.get(key) ?? 0) + ms);
    }
  }
  return out;
}

/** Per-key growth from `before` to `after`, largest first (threads that ended are left out). */
export function threadCpuGrowth(
  before: Map<string, number>,
  after: Map<string, number>,
): Array<{ thread: string; ms: number }> {
  return [...after]
    .map(([thread, ms]) => ({ thread, ms: ms - (before.get(thread) ?? 0) }))
    .filter((t) => t.ms > 0)
    .sort((a, b) => b.ms - a.ms);
}

/** CPU ms of every Chromium process, by type, from the browser session (`SystemInfo.getProcessInfo`). */
export async function chromiumCpu(browserSession: CDPSession): Promise<{
  totalMs: number;
  byType: Record<string, number>;
  processes: number;
  countByType: Record<string, number>;
}> {
  const { processInfo } = (await browserSession.send('SystemInfo.getProcessInfo')) as {
    processInfo: Array<{ type: string; id: number; cpuTime: number }>;
  };
  const byType: Record<string, number> = {};
  const countByType: Record<string, number> = {};
  let totalMs = 0;
  for (const p of processInfo) {
    const ms = p.cpuTime * 1000;
    totalMs += ms;
    byType[p.type] = (byType[p.type] ?? 0) + ms;
    countByType[p.type] = (countByType[p.type] ?? 0) + 1;
  }
  return { totalMs, byType, processes: processInfo.length, countByType };
}

export interface ProfileSummary {
  /** Time the profile covers, ms. */
  spanMs: number;
  /** Non-idle sampled time: JS + `(program)` + `(garbage collector)`, ms. */
  busyMs: number;
  jsMs: number;
  gcMs: number;
  programMs: number;
  idleMs: number;
  samples: number;
  /** Hottest JS functions by self time. */
  top: Array<{ name: string; url: string; ms: number }>;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/**
 * A DevTools session on the Service Worker target, through the browser session (non-flat
 * attach: Playwright's CDPSession cannot address a flat child session).
 */
export class WorkerProfiler {
  #nextId = 0;
  readonly #pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  readonly #onMessage = (e: { sessionId: string; message: string }) => {
    if (e.sessionId !== this.sessionId) return;
    const m = JSON.parse(e.message) as { id?: number; result?: unknown; error?: { message: string } };
    if (typeof m.id !== 'number') return;
    const p = this.#pending.get(m.id);
    if (!p) return;
    this.#pending.delete(m.id);
    if (m.error) p.reject(new Error(m.error.message));
    else p.resolve(m.result);
  };

  private constructor(
    private readonly browserSession: CDPSession,
    readonly sessionId: string,
    readonly targetUrl: string,
  ) {
    browserSession.on('Target.receivedMessageFromTarget', this.#onMessage);
  }

  /** Attaches to the only `service_worker` target; throws when there is none or several. */
  static async attach(browserSession: CDPSession): Promise<WorkerProfiler> {
    const { targetInfos } = (await browserSession.send('Target.getTargets')) as {
      targetInfos: Array<{ type: string; url: string; targetId: string }>;
    };
    const workers = targetInfos.filter((t) => t.type === 'service_worker');
    if (workers.length !== 1) throw new Error(`expected one service_worker target, found ${workers.length}`);
    const { sessionId } = (await browserSession.send('Target.attachToTarget', {
      targetId: workers[0]!.targetId,
      flatten: false,
    })) as { sessionId: string };
    return new WorkerProfiler(browserSession, sessionId, workers[0]!.url);
  }

  send<T = unknown>(method: string, params: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<T> {
    const id = ++this.#nextId;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`worker CDP ${method} timed out`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.browserSession
        .send('Target.sendMessageToTarget', {
          sessionId: this.sessionId,
          message: JSON.stringify({ id, method, params }),
        })
        .catch((e: unknown) => {
          this.#pending.delete(id);
          clearTimeout(timer);
          reject(e instanceof Error ? e : new Error(String(e)));
        });
    });
  }

  async start(intervalUs: number): Promise<void> {
    await this.send('Profiler.enable');
    await this.send('Profiler.setSamplingInterval', { interval: intervalUs });
    await this.send('Profiler.start');
  }

  async stop(): Promise<ProfileSummary> {
    const { profile } = await this.send<{
      profile: {
        nodes: ProfileNode[];
        samples: number[];
        timeDeltas: number[];
        startTime: number;
        endTime: number;
      };
    }>('Profiler.stop', {}, 60_000);
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    let idle = 0;
    let gc = 0;
    let program = 0;
    let js = 0;
    const self = new Map<string, { name: string; url: string; ms: number }>();
    for (let i = 0; i < profile.samples.length; i++) {
      const node = byId.get(profile.samples[i]!);
      const ms = (profile.timeDeltas[i] ?? 0) / 1000;
      const name = node?.callFrame.functionName ?? '';
      if (name === '(idle)') idle += ms;
      else if (name === '(garbage collector)') gc += ms;
      else if (name === '(program)' || name === '(root)') program += ms;
      else {
        js += ms;
        const key = `${name}@${node?.callFrame.url}:${node?.callFrame.lineNumber}`;
        const entry = self.get(key) ?? { name: name || '(anonymous)', url: node?.callFrame.url ?? '', ms: 0 };
        entry.ms += ms;
        self.set(key, entry);
      }
    }
    const spanMs = (profile.endTime - profile.startTime) / 1000;
    return {
      spanMs,
      busyMs: js + gc + program,
      jsMs: js,
      gcMs: gc,
      programMs: program,
      idleMs: idle,
      samples: profile.samples.length,
      top: [...self.values()]
        .sort((a, b) => b.ms - a.ms)
        .slice(0, 8)
        .map((e) => ({ name: e.name, url: e.url.replace(/^.*\//, ''), ms: Math.round(e.ms * 10) / 10 })),
    };
  }

  async detach(): Promise<void> {
    this.browserSession.off('Target.receivedMessageFromTarget', this.#onMessage);
    for (const [, p] of this.#pending) p.reject(new Error('detached'));
    this.#pending.clear();
    await this.browserSession
      .send('Target.detachFromTarget', { sessionId: this.sessionId })
      .catch(() => undefined);
  }
}
