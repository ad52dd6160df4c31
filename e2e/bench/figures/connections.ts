/**
 * Figure 1: hold N concurrent idle streams (authenticated, heartbeat on) on one server process;
 * memory per connection (heap and RSS growth after a forced GC ÷ N) and the time to open them.
 */
import { sourceAddresses } from '../lib/events.js';
import { sleep, type Child } from '../lib/children.js';
import { f } from '../lib/stats.js';
import { join } from 'node:path';
import {
  ApiClient,
  OUT_DIR,
  startApi,
  startBaseline,
  startGenerator,
  type Memory,
  type Server,
} from '../lib/systems.js';
import { check, KB, medianOf, type Ctx, type FigureOutcome, type Row } from './types.js';

interface Measure {
  system: string;
  n: number;
  opened: number;
  failed: number;
  retried: number;
  openMs: number;
  heapPerConn: number;
  rssPerConn: number;
  externalPerConn: number;
  serverStreams: number;
  before: Memory;
  after: Memory;
}

const FIGURE = '1 connections';

async function measure(
  ctx: Ctx,
  system: 'raw' | 'socketio' | 'api',
  run: number,
  gen: Child,
): Promise<Measure> {
  const n = ctx.sizes.connections;
  const tasks = Math.max(1, Math.round(n / 100));
  let server: Server;
  let api: ApiClient | undefined;
  let targets: Array<{ taskId: string; path?: string; count: number }>;
  if (system === 'api') {
    await ctx.freshDatabase();
    server = await startApi(ctx, {
      dbUri: ctx.dbUri,
      dbName: `bench_f1_r${run}`,
      secret: ctx.secret,
      cpuProf: ctx.profile.has('1'),
      name: 'api',
    });
    api = new ApiClient(server.port, ctx.secret);
    const ids = await api.createTasks(tasks);
    targets = ids.map((taskId) => ({ taskId, path: api!.streamPath(taskId), count: Math.ceil(n / tasks) }));
  } else {
    server = await startBaseline(system, ctx);
    targets = Array.from({ length: tasks }, (_, i) => ({
      taskId: `t${i}`,
      path: `/tasks/t${i}/stream`,
      count: Math.ceil(n / tasks),
    }));
  }
  // Exactly n connections.
  let extra = targets.reduce((s, t) => s + t.count, 0) - n;
  for (let i = targets.length - 1; extra > 0 && i >= 0; i--) {
    const take = Math.min(extra, targets[i]!.count);
    targets[i]!.count -= take;
    extra -= take;
  }
  try {
    await sleep(500);
    const before = await server.mem();
    ctx.loadStartedAt = Date.now();
    const snapshotBefore = join(OUT_DIR, `api-0-streams-${Date.now()}.heapsnapshot`);
    if (api && ctx.heapSnapshot && run === 1)
      await server.child.request('heapSnapshot', { file: snapshotBefore }, 300_000);
    const r = await gen.request<{
      opened: number;
      failed: number;
      retried: number;
      ms: number;
      errors: string[];
    }>(
      'subscribe',
      {
        kind: system === 'socketio' ? 'socketio' : 'sse',
        port: server.port,
        targets,
        concurrency: ctx.sizes.openConcurrency,
        sources: sourceAddresses(n),
        timeoutMs: ctx.sizes.openTimeoutSeconds * 1000,
      },
      ctx.sizes.openTimeoutSeconds * 1000 + 60_000,
    );
    if (r.failed > 0 || r.retried > 0)
      ctx.log(
        `    ${system}: ${r.retried} streams cut before their first frame and reopened, ${r.failed} failed (${r.errors.join('; ')})`,
      );
    await sleep(1000);
    const after = await server.mem();
    if (api && ctx.heapSnapshot && run === 1) {
      const file = join(OUT_DIR, `api-${n}-streams-${Date.now()}.heapsnapshot`);
      await server.child.request('heapSnapshot', { file }, 300_000);
      ctx.log(`    heap snapshots: node e2e/dist/bench/lib/heap-summary.js ${file} ${snapshotBefore} ${n}`);
    }
    const serverStreams = api
      ? await api.activeStreams()
      : ((after as unknown as { streams?: number }).streams ?? NaN);
    const opened = r.opened;
    const m: Measure = {
      system: server.name,
      n,
      opened,
      failed: r.failed,
      retried: r.retried,
      openMs: r.ms,
      heapPerConn: (after.heapUsed - before.heapUsed) / opened,
      rssPerConn: (after.rss - before.rss) / opened,
      externalPerConn: (after.external + after.arrayBuffers - before.external - before.arrayBuffers) / opened,
      serverStreams,
      before,
      after,
    };
    ctx.log(
      `    ${server.name}: ${opened}/${n} open in ${(r.ms / 1000).toFixed(1)} s, heap ${f(m.heapPerConn / KB)} KB/conn, RSS ${f(m.rssPerConn / KB)} KB/conn, server counts ${serverStreams}`,
    );
    return m;
  } finally {
    await gen.request('closeAll', {}, 60_000).catch(() => undefined);
    await server.stop();
  }
}

export async function runConnections(ctx: Ctx): Promise<FigureOutcome> {
  const runs: Array<Record<string, Measure>> = [];
  const gen = await startGenerator(ctx, 'subscribers');
  try {
    for (let run = 1; run <= ctx.runs; run++) {
      ctx.log(`  run ${run}/${ctx.runs}: ${ctx.sizes.connections} idle streams per server`);
      const r: Record<string, Measure> = {};
      for (const system of ['raw', 'socketio', 'api'] as const)
        if (ctx.systems.has(system)) r[system] = await measure(ctx, system, run, gen);
      runs.push(r);
      await sleep(1000);
    }
  } finally {
    await gen.stop();
  }
  const heap = (s: string) => medianOf(runs, (r) => (r[s] ? r[s].heapPerConn / KB : null));
  const rss = (s: string) => medianOf(runs, (r) => (r[s] ? r[s].rssPerConn / KB : null));
  const open = (s: string) => medianOf(runs, (r) => (r[s] ? r[s].openMs / 1000 : null));
  const ratio = (metric: (m: Measure) => number, base: string) =>
    medianOf(runs, (r) => (r.api && r[base] ? metric(r.api) / metric(r[base]) : null));
  const heapRaw = ratio((m) => m.heapPerConn, 'raw');
  const heapSio = ratio((m) => m.heapPerConn, 'socketio');
  const allOpen = runs.every((r) => Object.values(r).every((m) => m.opened === m.n && m.failed === 0));
  /** Per system, the streams open in each run, for the systems where some run fell short. */
  const shortfalls = (['raw', 'socketio', 'api'] as const)
    .filter((sys) => runs.some((r) => r[sys] && (r[sys].opened !== r[sys].n || r[sys].failed > 0)))
    .map((sys) => `${sys}: ${runs.map((r) => r[sys]?.opened ?? '–').join(', ')}`)
    .join('; ');
  const reopened = runs.reduce((sum, r) => sum + (r.api?.retried ?? 0), 0);
  const apiCounted = runs.every((r) => !r.api || r.api.serverStreams === r.api.n);
  const n = ctx.sizes.connections;
  const rows: Row[] = [
    {
      figure: FIGURE,
      metric: `heap per connection (${n} streams)`,
      value: heap('api'),
      unit: 'KB',
      baselineName: 'raw',
      baseline: heap('raw'),
      ratio: heapRaw,
      target: '≤ 1.3',
      pass: check(heapRaw, '<=', 1.3),
      note: `${allOpen && apiCounted ? 'every stream open and counted by the server' : `NOT every stream opened within ${ctx.sizes.openTimeoutSeconds} s (${shortfalls || `API counted ${runs.map((r) => r.api?.serverStreams ?? '–').join(', ')}`} of ${n}); per-connection figures divide by the streams open`}${reopened ? `; ${reopened} API streams were cut before their first frame and reopened` : ''}`,
    },
    {
      figure: FIGURE,
      metric: 'heap per connection vs socketio',
      value: heap('api'),
      unit: 'KB',
      baselineName: 'socketio',
      baseline: heap('socketio'),
      ratio: heapSio,
      target: '≤ 0.7',
      pass: check(heapSio, '<=', 0.7),
    },
    {
      figure: FIGURE,
      metric: 'RSS per connection',
      value: rss('api'),
      unit: 'KB',
      baselineName: 'raw',
      baseline: rss('raw'),
      ratio: ratio((m) => m.rssPerConn, 'raw'),
      target: 'report',
      pass: null,
      note: `socketio ${f(rss('socketio'))} KB`,
    },
    {
      figure: FIGURE,
      metric: `time to open ${n} streams`,
      value: open('api'),
      unit: 's',
      baselineName: 'raw',
      baseline: open('raw'),
      ratio: ratio((m) => m.openMs, 'raw'),
      target: 'report',
      pass: null,
      note: `socketio ${f(open('socketio'))} s; ${ctx.sizes.openConcurrency} opening at a time`,
    },
  ];
  return { rows, details: runs };
}
