/**
 * Figure 3: the highest sustained append rate (10 subscribers per task) whose p99 stays under
 * 100 ms, against the driver's insertOne rate on the same database server. Closed loop at a few
 * concurrency levels; a level counts when its p99 (delivery to subscribers and the append's own
 * answer; for the driver the insert's round trip) is under 100 ms, and the figure is the best
 * counting level.
 *   single    one event per request, one request in flight per task: nothing to batch
 *   batched   one event per request, 4 in flight per task (c/4 tasks): the API's per-task
 *             queue turns concurrent appends into insertMany. Only levels with 4 or more in
 *             flight count here: at concurrency 1 there is nothing concurrent to batch, and that
 *             level (the first, on the smallest collection) used to decide this row. The API's
 *             own counters say how many events each insert carried.
 * Each mode gets a fresh database server and API: the embedded database slows down as a
 * collection grows, so a mode measured after another would pay for the other's documents.
 */
import { METRICS } from '@orchestrator-ai/transport-types';
import { sourceAddresses } from '../lib/events.js';
import { sleep, type Child } from '../lib/children.js';
import { epochMs, f, type Summary } from '../lib/stats.js';
import { ApiClient, startApi, startDriver, startGenerator } from '../lib/systems.js';
import { check, medianOf, type Ctx, type FigureOutcome, type Row } from './types.js';

const P99_LIMIT_MS = 100;
const SUBS_PER_TASK = 10;
/** Appends in flight per task in the batched mode. */
const BATCH_DEPTH = 4;
const batchedTasks = (concurrency: number) => Math.max(1, Math.round(concurrency / BATCH_DEPTH));
/** The levels a mode is measured at: batching needs appends in flight together on one task. */
export function levelsOf(mode: 'single' | 'batched', levels: readonly number[]): number[] {
  if (mode === 'single') return [...levels];
  const concurrent = levels.filter((c) => c >= BATCH_DEPTH);
  return concurrent.length ? concurrent : [BATCH_DEPTH];
}

interface Level {
  concurrency: number;
  rate: number;
  p99: number;
  ackP99?: number;
  errors?: number;
  /** Events stored per insert command (the API's counters over the level). */
  eventsPerInsert?: number;
  ok: boolean;
}

interface RunResult {
  driver: Level[];
  single: Level[];
  batched: Level[];
  verified: { single: boolean; batched: boolean; notes: string[] };
}

/** The best rate among levels whose p99 < 100 ms; when none qualifies, the best rate at all. */
const best = (levels: Level[]) => {
  const ok = levels.filter((l) => l.ok);
  return Math.max(...(ok.length ? ok : levels).map((l) => l.rate));
};
const anyOk = (levels: Level[]) => levels.some((l) => l.ok);
/**
 * Past saturation: the last level was slower than one before it. More appends in flight then
 * only queue (on the embedded database, concurrency 16 gave a third of concurrency 1's rate at a
 * p99 of 300 ms in every run), so the search stops climbing.
 */
const saturated = (levels: Level[]) =>
  levels.length >= 2 && levels.at(-1)!.rate < Math.max(...levels.slice(0, -1).map((l) => l.rate));

async function apiLevels(
  ctx: Ctx,
  subs: Child,
  agents: Child,
  api: ApiClient,
  mode: 'single' | 'batched',
  allLevels: readonly number[],
  warmupMs: number,
  durationMs: number,
): Promise<{ levels: Level[]; ok: boolean; note: string }> {
  const levels = levelsOf(mode, allLevels);
  const counted = [METRICS.eventsAppended, METRICS.appendBatches] as const;
  const taskCount = mode === 'single' ? Math.max(...levels) : batchedTasks(Math.max(...levels));
  const ids = await api.createTasks(taskCount);
  const sub = await subs.request<{ opened: number; failed: number }>(
    'subscribe',
    {
      kind: 'sse',
      port: api.port,
      targets: ids.map((taskId) => ({ taskId, path: api.streamPath(taskId), count: SUBS_PER_TASK })),
      concurrency: 256,
      sources: sourceAddresses(taskCount * SUBS_PER_TASK),
    },
    120_000,
  );
  if (sub.failed) throw new Error(`${sub.failed} subscribers failed to open`);
  const out: Level[] = [];
  const lastSeq: Record<string, number> = {};
  for (const c of levels) {
    const tasks = ids.slice(0, mode === 'single' ? c : batchedTasks(c)).map((taskId) => ({
      taskId,
      path: api.eventsPath(taskId),
    }));
    const before = await api.counters(counted);
    const from = epochMs() + warmupMs;
    await subs.request('record', { from, until: from + durationMs });
    const r = await agents.request<{
      windowEventsPerSec: number;
      ack: Summary;
      errors: number;
      errorSamples: string[];
      lastSeq: Record<string, number>;
    }>(
      'appendClosed',
      { port: api.port, tasks, token: api.agent, concurrency: c, warmupMs, durationMs },
      warmupMs + durationMs + 60_000,
    );
    for (const [k, v] of Object.entries(r.lastSeq)) lastSeq[k] = Math.max(lastSeq[k] ?? 0, v);
    await sleep(300);
    const st = await subs.request<{ latency: Summary }>('stats');
    const after = await api.counters(counted);
    const inserts = after[METRICS.appendBatches] - before[METRICS.appendBatches];
    const p99 = st.latency.p99;
    const level: Level = {
      concurrency: c,
      rate: r.windowEventsPerSec,
      p99,
      ackP99: r.ack.p99,
      errors: r.errors,
      ...(inserts > 0
        ? { eventsPerInsert: (after[METRICS.eventsAppended] - before[METRICS.eventsAppended]) / inserts }
        : {}),
      ok: r.errors === 0 && (p99 ?? Infinity) < P99_LIMIT_MS && (r.ack.p99 ?? Infinity) < P99_LIMIT_MS,
    };
    out.push(level);
    ctx.log(
      `    api ${mode} c=${c}: ${f(level.rate, 0)} events/s, ${f(level.eventsPerInsert, 2)} events per insert, delivery p99 ${f(p99, 1)} ms, ack p99 ${f(r.ack.p99, 1)} ms${r.errors ? `, ${r.errors} errors (${r.errorSamples[0]})` : ''}`,
    );
    if (saturated(out)) break;
  }
  const v = await subs.request<{
    incomplete: number;
    missing: number;
    dups: number;
    connections: number;
    samples: string[];
  }>('verify', { expected: lastSeq, timeoutMs: 20_000 }, 60_000);
  await subs.request('closeAll');
  const ok = v.incomplete === 0;
  return {
    levels: out,
    ok,
    note: ok ? '' : `${mode}: ${v.missing} missing, ${v.dups} dup (${v.samples[0]})`,
  };
}

export async function runThroughput(ctx: Ctx): Promise<FigureOutcome> {
  const levels = ctx.sizes.throughputLevels;
  const durationMs = ctx.sizes.throughputSeconds * 1000;
  const warmupMs = 1000;
  const runs: RunResult[] = [];
  const [subs, agents] = await Promise.all([
    startGenerator(ctx, 'subscribers'),
    startGenerator(ctx, 'agents'),
  ]);
  try {
    for (let run = 1; run <= ctx.runs; run++) {
      ctx.log(
        `  run ${run}/${ctx.runs}: concurrency ${levels.join('/')}, ${ctx.sizes.throughputSeconds} s each`,
      );
      await ctx.freshDatabase();
      const driver = await startDriver(ctx);
      const drv: Level[] = [];
      try {
        await driver.request('setup', { uri: ctx.dbUri, dbName: `bench_f3_driver_r${run}` });
        for (const c of levels) {
          const r = await driver.request<{ docsPerSec: number; latency: Summary }>(
            'insertOne',
            { concurrency: c, warmupMs, durationMs },
            durationMs + 60_000,
          );
          drv.push({
            concurrency: c,
            rate: r.docsPerSec,
            p99: r.latency.p99,
            ok: r.latency.p99 < P99_LIMIT_MS,
          });
          ctx.log(`    driver insertOne c=${c}: ${f(r.docsPerSec, 0)} docs/s, p99 ${f(r.latency.p99, 1)} ms`);
          if (saturated(drv)) break;
        }
      } finally {
        await driver.stop();
      }
      const measured: Partial<Record<'single' | 'batched', Awaited<ReturnType<typeof apiLevels>>>> = {};
      for (const mode of ['single', 'batched'] as const) {
        await ctx.freshDatabase();
        const server = await startApi(ctx, {
          dbUri: ctx.dbUri,
          dbName: `bench_f3_${mode}_r${run}`,
          secret: ctx.secret,
          cpuProf: ctx.profile.has('3'),
        });
        try {
          const api = new ApiClient(server.port, ctx.secret);
          ctx.loadStartedAt ??= Date.now();
          measured[mode] = await apiLevels(ctx, subs, agents, api, mode, levels, warmupMs, durationMs);
        } finally {
          await subs.request('closeAll').catch(() => undefined);
          await server.stop();
        }
      }
      const single = measured.single!;
      const batched = measured.batched!;
      runs.push({
        driver: drv,
        single: single.levels,
        batched: batched.levels,
        verified: {
          single: single.ok,
          batched: batched.ok,
          notes: [single.note, batched.note].filter(Boolean),
        },
      });
    }
  } finally {
    await Promise.all([subs.stop(), agents.stop()]);
  }
  const driverBest = medianOf(runs, (r) => best(r.driver));
  const singleRatio = medianOf(runs, (r) => best(r.single) / best(r.driver));
  const batchedRatio = medianOf(runs, (r) => best(r.batched) / best(r.driver));
  const verifiedAll = runs.every((r) => r.verified.single && r.verified.batched);
  const within = (pick: (r: RunResult) => Level[]) => runs.every((r) => anyOk(pick(r)));
  const p99note = (pick: (r: RunResult) => Level[]) =>
    within(pick)
      ? ''
      : `; NO level kept p99 < 100 ms (best p99 ${medianOf(runs, (r) => Math.min(...pick(r).map((l) => l.p99)))?.toFixed(0)} ms)`;
  const notes = runs.flatMap((r) => r.verified.notes);
  /** Events per insert at the best batched level of each run, median over runs. */
  const perInsert = medianOf(runs, (r) => {
    const ok = r.batched.filter((l) => l.ok);
    const top = (ok.length ? ok : r.batched).reduce((a, b) => (b.rate > a.rate ? b : a));
    return top.eventsPerInsert ?? NaN;
  });
  const rows: Row[] = [
    {
      figure: '3 throughput',
      metric: 'single appends, p99 < 100 ms (10 subs/task)',
      value: medianOf(runs, (r) => best(r.single)),
      unit: 'events/s',
      baselineName: 'driver insertOne',
      baseline: driverBest,
      ratio: singleRatio,
      target: '≥ 0.7',
      pass: within((r) => r.single) && within((r) => r.driver) ? check(singleRatio, '>=', 0.7) : false,
      note: `best of concurrency ${levels.join('/')} (climbing stops past saturation)${verifiedAll ? '; all seqs delivered' : `; LOSS: ${notes.join('; ')}`}${p99note((r) => r.single)}${within((r) => r.driver) ? '' : '; driver p99 ≥ 100 ms too'}`,
    },
    {
      figure: '3 throughput',
      metric: `concurrent appends batched (${BATCH_DEPTH} in flight per task)`,
      value: medianOf(runs, (r) => best(r.batched)),
      unit: 'events/s',
      baselineName: 'driver insertOne',
      baseline: driverBest,
      ratio: batchedRatio,
      target: '≥ 1.0',
      pass: within((r) => r.batched) ? check(batchedRatio, '>=', 1.0) : false,
      note: `one event per request, c/${BATCH_DEPTH} tasks at concurrency ${levelsOf('batched', levels).join('/')}; ${f(perInsert, 2)} events per insert at the best level (the API's counters)${p99note((r) => r.batched)}`,
    },
  ];
  return { rows, details: runs };
}
