/**
 * Figure 4: a reconnect with `lastEventId=0` on a task with N retained events: time from the
 * request to the last event, against the driver's `find` of the same documents (same query the
 * replay needs: the task's unexpired events after a seq, in seq order). Compared as rates.
 */
import { appendBody } from '../lib/events.js';
import { epochMs, f } from '../lib/stats.js';
import { ApiClient, startApi, startDriver, startGenerator } from '../lib/systems.js';
import { check, medianOf, type Ctx, type FigureOutcome, type Row } from './types.js';

interface ReplayRun {
  apiMs: number;
  apiFirstFrameMs: number;
  apiOk: boolean;
  driverMs: number;
  driverOk: boolean;
}

export async function runReplay(ctx: Ctx): Promise<FigureOutcome> {
  const n = ctx.sizes.replayEvents;
  const dbName = 'bench_f4';
  const server = await startApi(ctx, {
    dbUri: ctx.dbUri,
    dbName,
    secret: ctx.secret,
    cpuProf: ctx.profile.has('4'),
  });
  const runs: ReplayRun[] = [];
  try {
    const api = new ApiClient(server.port, ctx.secret);
    const taskId = await api.createTask();
    const t0 = performance.now();
    for (let i = 0; i < n; i += 500) await api.append(taskId, appendBody(epochMs(), i, Math.min(500, n - i)));
    ctx.log(`  seeded ${n} events through the API in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const [gen, driver] = await Promise.all([startGenerator(ctx, 'replayer'), startDriver(ctx)]);
    try {
      await driver.request('setup', { uri: ctx.dbUri, dbName, collection: 'task_messages', indexes: false });
      ctx.loadStartedAt = Date.now();
      for (let run = 0; run <= ctx.runs; run++) {
        const a = await gen.request<{
          ok: boolean;
          ms: number;
          firstFrameMs: number;
          frames: number;
          error?: string;
        }>(
          'replay',
          { port: server.port, path: api.streamPath(taskId, 0), expectLast: n, timeoutMs: 120_000 },
          150_000,
        );
        const d = await driver.request<{ ok: boolean; ms: number; count: number }>('find', {
          collection: 'task_messages',
          taskId,
          after: 0,
          expect: n,
        });
        const label = run === 0 ? 'warm-up' : `run ${run}/${ctx.runs}`;
        ctx.log(
          `  ${label}: API replay ${f(a.ms, 0)} ms (first frame ${f(a.firstFrameMs, 0)} ms, ${a.frames} events${a.ok ? '' : `, FAILED ${a.error}`}), driver find ${f(d.ms, 0)} ms (${d.count})`,
        );
        if (run > 0)
          runs.push({
            apiMs: a.ms,
            apiFirstFrameMs: a.firstFrameMs,
            apiOk: a.ok,
            driverMs: d.ms,
            driverOk: d.ok,
          });
      }
    } finally {
      await Promise.all([gen.stop(), driver.stop()]);
    }
  } finally {
    await server.stop();
  }
  const ratio = medianOf(runs, (r) => r.driverMs / r.apiMs);
  const rate = (ms: number) => (n * 1000) / ms;
  const rows: Row[] = [
    {
      figure: '4 replay',
      metric: `lastEventId=0, ${n} events: rate to the last event`,
      value: medianOf(runs, (r) => rate(r.apiMs)),
      unit: 'events/s',
      baselineName: 'driver find',
      baseline: medianOf(runs, (r) => rate(r.driverMs)),
      ratio,
      target: '≥ 0.5',
      pass: runs.every((r) => r.apiOk) ? check(ratio, '>=', 0.5) : false,
      note: `API ${medianOf(runs, (r) => r.apiMs)?.toFixed(0)} ms (snapshot after ${medianOf(runs, (r) => r.apiFirstFrameMs)?.toFixed(0)} ms), driver ${medianOf(runs, (r) => r.driverMs)?.toFixed(0)} ms${runs.every((r) => r.apiOk) ? '' : '; replay INCOMPLETE'}`,
    },
  ];
  return { rows, details: runs };
}
