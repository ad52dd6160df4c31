/**
 * Figures 2, 5 and 7: subscribers spread over tasks, agents appending at a fixed total rate;
 * latency from the append's send time (inside the event) to the event received, p50/p99/max,
 * and every subscriber's seqs checked (no loss, no duplicate).
 *   2  one server (API, raw+db, socketio+db)
 *   5  appends on API instance A, subscribers on instance B (same database)
 *   7  figure 2 at half rate for minutes: memory after GC and handles sampled, slope reported
 */
import { appendBody, sourceAddresses } from '../lib/events.js';
import { sleep, type Child } from '../lib/children.js';
import { epochMs, f, slope, type Summary } from '../lib/stats.js';
import { cpuMs, findDescendant } from '../lib/proc-stat.js';
import {
  ApiClient,
  startApi,
  startBaseline,
  startGenerator,
  type Memory,
  type Server,
} from '../lib/systems.js';
import { check, KB, medianOf, naRow, type Ctx, type FigureOutcome, type Row } from './types.js';

export interface FanoutMeasure {
  system: string;
  subscribers: number;
  tasks: number;
  rate: number;
  seconds: number;
  latency: Summary;
  ack: Summary;
  sent: number;
  acked: number;
  errors: number;
  errorSamples: string[];
  achievedRate: number;
  verify: {
    connections: number;
    complete: number;
    incomplete: number;
    closedEarly: number;
    missing: number;
    dups: number;
    samples: string[];
  };
  samples?: Array<{ t: number; mem: Memory; streams: number }>;
  /** Server process(es) CPU ms per appended event, over the whole append phase. */
  serverCpuPerEvent: number;
  /** Database server CPU ms per appended event (NaN when the database is not ours). */
  dbCpuPerEvent: number;
}

interface Gens {
  subs: Child;
  agents: Child;
}

type System = 'raw' | 'socketio' | 'api' | 'cross';

interface FanoutOptions {
  system: System;
  dbName: string;
  subscribers: number;
  tasks: number;
  rate: number;
  seconds: number;
  warmupSeconds: number;
  profile: boolean;
  /** Soak: sample the API's memory every this many seconds. */
  sampleEverySeconds?: number;
  /** Extra environment for the API instance(s). */
  apiEnv?: Record<string, string>;
}

export async function fanoutOnce(ctx: Ctx, gens: Gens, o: FanoutOptions): Promise<FanoutMeasure> {
  const servers: Server[] = [];
  await ctx.freshDatabase();
  try {
    let subscribePort: number;
    let appendPort: number;
    let token: string | undefined;
    let subTargets: Array<{ taskId: string; path: string; count: number }>;
    let agentTargets: Array<{ taskId: string; path: string }>;
    const perTask = Math.max(1, Math.round(o.subscribers / o.tasks));
    let apiForMem: Server | undefined;
    let apiClient: ApiClient | undefined;
    if (o.system === 'api' || o.system === 'cross') {
      const a = await startApi(ctx, {
        dbUri: ctx.dbUri,
        dbName: o.dbName,
        secret: ctx.secret,
        cpuProf: o.profile,
        name: o.system === 'cross' ? 'api-A' : 'api',
        env: o.apiEnv,
      });
      servers.push(a);
      const b =
        o.system === 'cross'
          ? await startApi(ctx, {
              dbUri: ctx.dbUri,
              dbName: o.dbName,
              secret: ctx.secret,
              cpuProf: o.profile,
              name: 'api-B',
              env: o.apiEnv,
            })
          : a;
      if (b !== a) servers.push(b);
      const clientA = new ApiClient(a.port, ctx.secret);
      apiClient = new ApiClient(b.port, ctx.secret);
      const ids = await clientA.createTasks(o.tasks);
      subscribePort = b.port;
      appendPort = a.port;
      token = clientA.agent;
      subTargets = ids.map((taskId) => ({ taskId, path: apiClient!.streamPath(taskId), count: perTask }));
      agentTargets = ids.map((taskId) => ({ taskId, path: clientA.eventsPath(taskId) }));
      apiForMem = b;
    } else {
      const s = await startBaseline(o.system, ctx, { dbUri: ctx.dbUri, dbName: o.dbName });
      servers.push(s);
      subscribePort = appendPort = s.port;
      const ids = Array.from({ length: o.tasks }, (_, i) => `t${i}`);
      subTargets = ids.map((taskId) => ({ taskId, path: `/tasks/${taskId}/stream`, count: perTask }));
      agentTargets = ids.map((taskId) => ({ taskId, path: `/tasks/${taskId}/events` }));
    }
    const name =
      o.system === 'raw' || o.system === 'socketio'
        ? `${o.system}+db`
        : o.system === 'cross'
          ? 'api A→B'
          : 'api';
    const sub = await gens.subs.request<{
      opened: number;
      failed: number;
      retried: number;
      ms: number;
      errors: string[];
    }>(
      'subscribe',
      {
        kind: o.system === 'socketio' ? 'socketio' : 'sse',
        port: subscribePort,
        targets: subTargets,
        concurrency: 256,
        sources: sourceAddresses(o.subscribers),
        timeoutMs: 120_000,
      },
      180_000,
    );
    if (sub.failed > 0)
      throw new Error(`${name}: ${sub.failed} subscribers failed to open (${sub.errors.join('; ')})`);
    await sleep(300);
    const recordFrom = epochMs() + o.warmupSeconds * 1000;
    ctx.loadStartedAt = Date.now() + o.warmupSeconds * 1000;
    await gens.subs.request('record', { from: recordFrom });
    const durationMs = (o.warmupSeconds + o.seconds) * 1000;
    const dbPid = findDescendant('jongodb') ?? findDescendant('mongod');
    const serverCpu = () => servers.reduce((sum, s) => sum + cpuMs(s.child.pid), 0);
    const cpu0 = { server: serverCpu(), db: cpuMs(dbPid) };
    const samples: Array<{ t: number; mem: Memory; streams: number }> = [];
    let sampling: Promise<void> | undefined;
    let stopSampling = false;
    const t0 = Date.now();
    if (o.sampleEverySeconds && apiForMem) {
      const server = apiForMem;
      sampling = (async () => {
        while (!stopSampling) {
          const mem = await server.mem();
          const streams = apiClient ? await apiClient.activeStreams() : NaN;
          samples.push({ t: (Date.now() - t0) / 1000, mem, streams });
          ctx.log(
            `    t=${Math.round((Date.now() - t0) / 1000)} s heap ${f(mem.heapUsed / 1048576, 1)} MB, RSS ${f(mem.rss / 1048576, 1)} MB, handles ${mem.handles}, fds ${mem.fds}, streams ${streams}`,
          );
          const until = Date.now() + o.sampleEverySeconds! * 1000;
          while (!stopSampling && Date.now() < until) await sleep(200);
        }
      })();
    }
    const appended = await gens.agents.request<{
      sent: number;
      acked: number;
      errors: number;
      errorSamples: string[];
      ack: Summary;
      windowEventsPerSec: number;
      lastSeq: Record<string, number>;
    }>(
      'appendRate',
      { port: appendPort, tasks: agentTargets, token, rate: o.rate, durationMs, recordFrom },
      durationMs + 120_000,
    );
    const cpu1 = { server: serverCpu(), db: cpuMs(dbPid) };
    stopSampling = true;
    await sampling;
    const verify = await gens.subs.request(
      'verify',
      { expected: appended.lastSeq, timeoutMs: 20_000 },
      60_000,
    );
    const st = await gens.subs.request<{ latency: Summary }>('stats');
    if (o.sampleEverySeconds && apiForMem) {
      const mem = await apiForMem.mem();
      samples.push({
        t: (Date.now() - t0) / 1000,
        mem,
        streams: apiClient ? await apiClient.activeStreams() : NaN,
      });
    }
    const m: FanoutMeasure = {
      system: name,
      subscribers: sub.opened,
      tasks: o.tasks,
      rate: o.rate,
      seconds: o.seconds,
      latency: st.latency,
      ack: appended.ack,
      sent: appended.sent,
      acked: appended.acked,
      errors: appended.errors,
      errorSamples: appended.errorSamples,
      achievedRate: appended.windowEventsPerSec,
      verify,
      serverCpuPerEvent: (cpu1.server - cpu0.server) / Math.max(1, appended.acked),
      dbCpuPerEvent: (cpu1.db - cpu0.db) / Math.max(1, appended.acked),
      ...(samples.length ? { samples } : {}),
    };
    ctx.log(
      `    ${name}: ${sub.opened} subscribers, ${appended.acked}/${appended.sent} appends (${appended.errors} errors), latency p50 ${f(m.latency.p50)} p99 ${f(m.latency.p99)} max ${f(m.latency.max, 1)} ms; ack p99 ${f(m.ack.p99)} ms; CPU/append server ${f(m.serverCpuPerEvent)} ms, db ${f(m.dbCpuPerEvent)} ms; seqs: ${verify.complete}/${verify.connections} complete, ${verify.missing} missing, ${verify.dups} dup`,
    );
    if (appended.errors) ctx.log(`      append errors: ${appended.errorSamples.join(' | ')}`);
    if (verify.incomplete) ctx.log(`      incomplete: ${verify.samples.join(' | ')}`);
    return m;
  } finally {
    await gens.subs.request('closeAll', {}, 60_000).catch(() => undefined);
    for (const s of servers.reverse()) await s.stop();
  }
}

async function withGens<T>(ctx: Ctx, fn: (g: Gens) => Promise<T>): Promise<T> {
  const [subs, agents] = await Promise.all([
    startGenerator(ctx, 'subscribers'),
    startGenerator(ctx, 'agents'),
  ]);
  try {
    return await fn({ subs, agents });
  } finally {
    await Promise.all([subs.stop(), agents.stop()]);
  }
}

const verified = (m: FanoutMeasure) =>
  m.verify.missing === 0 && m.verify.dups === 0 && m.verify.incomplete === 0 && m.errors === 0;

function latencyRows(
  figure: string,
  runs: Array<Record<string, FanoutMeasure>>,
  subject: string,
  withSocketio: boolean,
): Row[] {
  const p = (s: string, k: 'p50' | 'p99' | 'max') => medianOf(runs, (r) => r[s]?.latency[k]);
  const ratio = (s: string, k: 'p50' | 'p99' | 'max') =>
    medianOf(runs, (r) => (r[s] ? r[subject]!.latency[k] / r[s].latency[k] : null));
  if (!runs.every((r) => r[subject])) return [];
  const okAll = runs.every((r) => verified(r[subject]!));
  const achieved = (s: string) => medianOf(runs, (r) => r[s]?.achievedRate);
  const baselinesOk = runs.every((r) => Object.values(r).every(verified));
  const rows: Row[] = [
    {
      figure,
      metric: 'latency p99 (send → received)',
      value: p(subject, 'p99'),
      unit: 'ms',
      baselineName: 'raw+db',
      baseline: p('raw', 'p99'),
      ratio: ratio('raw', 'p99'),
      target: '≤ 1.5',
      pass: check(ratio('raw', 'p99'), '<=', 1.5),
      note: `appends acked ${f(achieved(subject), 0)}/s (raw+db ${f(achieved('raw'), 0)}/s${withSocketio ? `, socketio+db ${f(achieved('socketio'), 0)}/s` : ''}) of ${runs[0]![subject]!.rate}/s offered`,
    },
  ];
  if (withSocketio)
    rows.push({
      figure,
      metric: 'latency p99 vs socketio',
      value: p(subject, 'p99'),
      unit: 'ms',
      baselineName: 'socketio+db',
      baseline: p('socketio', 'p99'),
      ratio: ratio('socketio', 'p99'),
      target: '< 1.0',
      pass: check(ratio('socketio', 'p99'), '<', 1.0),
    });
  rows.push(
    {
      figure,
      metric: 'latency p50',
      value: p(subject, 'p50'),
      unit: 'ms',
      baselineName: 'raw+db',
      baseline: p('raw', 'p50'),
      ratio: ratio('raw', 'p50'),
      target: 'report',
      pass: null,
      ...(withSocketio ? { note: `socketio+db ${p('socketio', 'p50')?.toFixed(2)} ms` } : {}),
    },
    {
      figure,
      metric: 'latency max',
      value: p(subject, 'max'),
      unit: 'ms',
      baselineName: 'raw+db',
      baseline: p('raw', 'max'),
      ratio: ratio('raw', 'max'),
      target: 'report',
      pass: null,
      ...(withSocketio ? { note: `socketio+db ${p('socketio', 'max')?.toFixed(1)} ms` } : {}),
    },
    {
      figure,
      metric: 'server CPU per append (incl. fan-out)',
      value: medianOf(runs, (r) => r[subject]!.serverCpuPerEvent),
      unit: 'ms',
      baselineName: 'raw+db',
      baseline: medianOf(runs, (r) => r.raw?.serverCpuPerEvent),
      ratio: medianOf(runs, (r) => (r.raw ? r[subject]!.serverCpuPerEvent / r.raw.serverCpuPerEvent : null)),
      target: 'report',
      pass: null,
      ...(withSocketio
        ? { note: `socketio+db ${f(medianOf(runs, (r) => r.socketio?.serverCpuPerEvent))} ms` }
        : {}),
    },
    {
      figure,
      metric: 'database CPU per append',
      value: medianOf(runs, (r) => r[subject]!.dbCpuPerEvent),
      unit: 'ms',
      baselineName: 'raw+db',
      baseline: medianOf(runs, (r) => r.raw?.dbCpuPerEvent),
      ratio: medianOf(runs, (r) => (r.raw ? r[subject]!.dbCpuPerEvent / r.raw.dbCpuPerEvent : null)),
      target: 'report',
      pass: null,
    },
    {
      figure,
      metric: 'every subscriber: all seqs, once, in order',
      value: runs.reduce((s, r) => s + r[subject]!.verify.missing + r[subject]!.verify.dups, 0),
      unit: 'lost+dup',
      baselineName: null,
      baseline: null,
      ratio: null,
      target: '= 0',
      pass: okAll,
      note: `${runs.map((r) => `${r[subject]!.verify.complete}/${r[subject]!.verify.connections}`).join(', ')} subscribers complete${baselinesOk ? '' : '; a baseline run was incomplete'}`,
    },
  );
  return rows;
}

export async function runFanout(ctx: Ctx): Promise<FigureOutcome> {
  const z = ctx.sizes;
  const runs: Array<Record<string, FanoutMeasure>> = [];
  await withGens(ctx, async (gens) => {
    for (let run = 1; run <= ctx.runs; run++) {
      ctx.log(
        `  run ${run}/${ctx.runs}: ${z.fanoutSubscribers} subscribers on ${z.fanoutTasks} tasks, ${z.fanoutRate} appends/s for ${z.fanoutSeconds} s (+${z.warmupSeconds} s warm-up)`,
      );
      const r: Record<string, FanoutMeasure> = {};
      for (const system of ['raw', 'socketio', 'api'] as const) {
        if (!ctx.systems.has(system)) continue;
        r[system] = await fanoutOnce(ctx, gens, {
          system,
          dbName: `bench_f2_${system}_r${run}`,
          subscribers: z.fanoutSubscribers,
          tasks: z.fanoutTasks,
          rate: z.fanoutRate,
          seconds: z.fanoutSeconds,
          warmupSeconds: z.warmupSeconds,
          profile: system === 'api' && ctx.profile.has('2'),
        });
      }
      runs.push(r);
    }
  });
  ctx.shared.set(
    'fanout-raw',
    runs.map((r) => r.raw),
  );
  const rows = latencyRows(`2 fan-out (${z.fanoutSubscribers} subs, ${z.fanoutRate}/s)`, runs, 'api', true);
  return { rows, details: runs };
}

/** Figure 5: is an append on A ever seen by a subscriber on B? (bounded wait) */
async function crossInstanceAvailable(ctx: Ctx, gens: Gens, waitMs: number): Promise<boolean> {
  const dbName = 'bench_f5_probe';
  await ctx.freshDatabase();
  const a = await startApi(ctx, { dbUri: ctx.dbUri, dbName, secret: ctx.secret, name: 'api-A' });
  const b = await startApi(ctx, { dbUri: ctx.dbUri, dbName, secret: ctx.secret, name: 'api-B' }).catch(
    async (e) => {
      await a.stop();
      throw e;
    },
  );
  try {
    const ca = new ApiClient(a.port, ctx.secret);
    const cb = new ApiClient(b.port, ctx.secret);
    const taskId = await ca.createTask();
    await gens.subs.request('subscribe', {
      kind: 'sse',
      port: b.port,
      targets: [{ taskId, path: cb.streamPath(taskId), count: 1 }],
    });
    await ca.append(taskId, appendBody(epochMs(), 0, 1));
    const v = await gens.subs.request<{ complete: number }>(
      'verify',
      { expected: { [taskId]: 1 }, timeoutMs: waitMs },
      waitMs + 10_000,
    );
    return v.complete === 1;
  } finally {
    await gens.subs.request('closeAll').catch(() => undefined);
    await Promise.all([a.stop(), b.stop()]);
  }
}

export async function runCrossInstance(ctx: Ctx): Promise<FigureOutcome> {
  const z = ctx.sizes;
  const figure = `5 cross-instance (${z.fanoutSubscribers} subs on B, ${z.fanoutRate}/s)`;
  return withGens(ctx, async (gens) => {
    const waitMs = 5000;
    ctx.log(`  probe: one event appended on A, waiting up to ${waitMs / 1000} s for it on B`);
    if (!(await crossInstanceAvailable(ctx, gens, waitMs))) {
      ctx.log('  cross-instance delivery not available: figure 5 skipped');
      return {
        rows: [naRow(figure, 'latency p99 (A → B)', 'n/a (cross-instance delivery not available)')],
        details: { available: false },
      };
    }
    const earlierRaw = ctx.shared.get('fanout-raw') as FanoutMeasure[] | undefined;
    const runs: Array<Record<string, FanoutMeasure>> = [];
    for (let run = 1; run <= ctx.runs; run++) {
      ctx.log(`  run ${run}/${ctx.runs}: appends on A, ${z.fanoutSubscribers} subscribers on B`);
      const r: Record<string, FanoutMeasure> = {};
      const common = {
        subscribers: z.fanoutSubscribers,
        tasks: z.fanoutTasks,
        rate: z.fanoutRate,
        seconds: z.fanoutSeconds,
        warmupSeconds: z.warmupSeconds,
      };
      r.raw =
        earlierRaw?.[run - 1] ??
        (await fanoutOnce(ctx, gens, {
          ...common,
          system: 'raw',
          dbName: `bench_f5_raw_r${run}`,
          profile: false,
        }));
      r.cross = await fanoutOnce(ctx, gens, {
        ...common,
        system: 'cross',
        dbName: `bench_f5_r${run}`,
        profile: ctx.profile.has('5'),
      });
      runs.push(r);
    }
    return { rows: latencyRows(figure, runs, 'cross', false), details: { available: true, runs } };
  });
}

/**
 * The soak keeps what production keeps: events expire after a while and are pruned. Here that is
 * one minute, pruned every 15 s, so `task_messages` holds about a minute of events. Kept for the
 * default hour, 10 minutes at 10/s grow it to 6,000 documents. jongodb's inserts cost O(collection
 * size), so from about minute 4 the database could not keep up: appends queued for minutes, and
 * the driver's pool grew under the queue (+92 handles, which the handles check counted as a leak).
 * That measured the embedded database, not the API.
 */
const SOAK_RETENTION = { TASK_MESSAGE_TTL_MINUTES: '1', PRUNE_INTERVAL_MINUTES: '0.25' };

export async function runSoak(ctx: Ctx): Promise<FigureOutcome> {
  const z = ctx.sizes;
  const figure = `7 soak (${z.soakMinutes} min, ${Math.round(z.fanoutRate / 2)}/s)`;
  const sampleEvery = z.soakMinutes >= 5 ? 30 : 10;
  const m = await withGens(ctx, (gens) =>
    fanoutOnce(ctx, gens, {
      system: 'api',
      dbName: 'bench_f7',
      subscribers: z.fanoutSubscribers,
      tasks: z.fanoutTasks,
      rate: Math.round(z.fanoutRate / 2),
      seconds: z.soakMinutes * 60,
      warmupSeconds: 0,
      profile: ctx.profile.has('7'),
      sampleEverySeconds: sampleEvery,
      apiEnv: SOAK_RETENTION,
    }),
  );
  const samples = m.samples ?? [];
  // Skip the first minute (or first fifth) as warm-up: JIT, pools, caches filling.
  const skip = Math.min(60, (z.soakMinutes * 60) / 5);
  const baseName = `same API at ${skip >= 60 ? '1 min' : `${Math.round(skip)} s`}`;
  const steady = samples.filter((s) => s.t >= skip);
  const xs = steady.map((s) => s.t / 60);
  const heapSlope = slope(
    xs,
    steady.map((s) => s.mem.heapUsed / KB),
  );
  const rssSlope = slope(
    xs,
    steady.map((s) => s.mem.rss / KB),
  );
  const handleSlope = slope(
    xs,
    steady.map((s) => s.mem.handles),
  );
  const fdSlope = slope(
    xs,
    steady.map((s) => s.mem.fds ?? NaN),
  );
  const first = steady[0];
  const last = steady.at(-1);
  const heapRatio = first && last ? last.mem.heapUsed / first.mem.heapUsed : null;
  const handleGrowth = first && last ? last.mem.handles - first.mem.handles : null;
  const ok = verified(m);
  const rows: Row[] = [
    {
      figure,
      metric: 'heap after GC: end ÷ start of steady state',
      value: last ? last.mem.heapUsed / 1048576 : null,
      unit: 'MB',
      baselineName: baseName,
      baseline: first ? first.mem.heapUsed / 1048576 : null,
      ratio: heapRatio,
      target: '≤ 1.1',
      pass: check(heapRatio, '<=', 1.1),
      note: `slope ${f(heapSlope, 1)} KB/min (RSS ${f(rssSlope, 1)} KB/min)`,
    },
    {
      figure,
      metric: 'active handles: end − start',
      value: last?.mem.handles ?? null,
      unit: 'handles',
      baselineName: baseName,
      baseline: first?.mem.handles ?? null,
      ratio: null,
      target: 'flat (≤ +10)',
      pass: handleGrowth === null ? null : handleGrowth <= 10,
      note: `slope ${f(handleSlope)}/min, fds slope ${f(fdSlope)}/min`,
    },
    {
      figure,
      metric: 'soak: every subscriber complete, latency p99',
      value: m.latency.p99,
      unit: 'ms',
      baselineName: null,
      baseline: null,
      ratio: null,
      target: 'no loss',
      pass: ok,
      note: `${m.verify.complete}/${m.verify.connections} complete, ${m.verify.missing} missing, ${m.verify.dups} dup, ${m.errors} append errors; events kept ${SOAK_RETENTION.TASK_MESSAGE_TTL_MINUTES} min, pruned every ${Number(SOAK_RETENTION.PRUNE_INTERVAL_MINUTES) * 60} s`,
    },
  ];
  return { rows, details: m };
}
