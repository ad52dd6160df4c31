/**
 * Load generator (a separate process from every server; run.js pins it to its own core).
 * Subscribers: thousands of SSE (or Socket.IO) connections that check every seq and measure
 * latency from the send time inside each event. Agents: appends at a fixed rate (open loop) or
 * with a fixed number in flight (closed loop).
 */
import http from 'node:http';
import { io, type Socket } from 'socket.io-client';
import { serveIpc, notifyReady } from '../lib/ipc.js';
import { openSse, type SseConnection } from '../lib/sse-client.js';
import { appendBody, sendTimeOf } from '../lib/events.js';
import { epochMs, Samples, summarize } from '../lib/stats.js';

type Kind = 'sse' | 'socketio';

interface Conn {
  taskId: string;
  last: number;
  started: boolean;
  frames: number;
  gaps: number;
  dups: number;
  closed: boolean;
  error?: string | undefined;
  close(): void;
}

const conns: Conn[] = [];
const latency = new Samples();
/**
 * Each recorded append's receipts (latency in ms) among its task's subscribers. A late first
 * receipt means the append was late leaving the server (its handling or its database write); a
 * wide spread means some subscribers read it late (this generator's core).
 */
const receipts = new Map<string, number[]>();
let recordFrom = Infinity;
let recordUntil = Infinity;
let framesTotal = 0;
let snapshotsTotal = 0;

function onEvent(c: Conn, seq: number, t: number | undefined): void {
  c.frames++;
  framesTotal++;
  if (seq === c.last + 1) c.last = seq;
  else if (seq <= c.last) c.dups++;
  else {
    c.gaps += seq - c.last - 1;
    c.last = seq;
  }
  if (t !== undefined && t >= recordFrom && t < recordUntil) {
    const ms = epochMs() - t;
    latency.add(ms);
    const key = `${c.taskId} ${t}`;
    const seen = receipts.get(key);
    if (seen) seen.push(ms);
    else receipts.set(key, [ms]);
  }
}

/** Per append: the latency of its first receipt, and how much later its last one came. */
function receiptSummary() {
  const first: number[] = [];
  const spread: number[] = [];
  for (const all of receipts.values()) {
    let earliest = Infinity;
    let latest = -Infinity;
    for (const ms of all) {
      if (ms < earliest) earliest = ms;
      if (ms > latest) latest = ms;
    }
    first.push(earliest);
    spread.push(latest - earliest);
  }
  return { first: summarize(first), spread: summarize(spread) };
}

/**
 * Every recorded receipt's latency, grouped by append (µs-rounded ms), for statistics that pool
 * runs or resample appends (`ratioInterval`).
 */
function receiptLatencies(): number[][] {
  return [...receipts.values()].map((all) => all.map((ms) => Math.round(ms * 1000) / 1000));
}

interface Target {
  taskId: string;
  /** SSE: the path with its query (token, lastEventId). */
  path?: string;
  count: number;
}

interface SubscribeArgs {
  kind: Kind;
  host?: string;
  port: number;
  targets: Target[];
  concurrency?: number;
  sources?: string[];
  timeoutMs?: number;
  retries?: number;
}

function openOne(
  kind: Kind,
  host: string,
  port: number,
  target: Target,
  source: string | undefined,
): Promise<Conn> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const conn: Conn = {
      taskId: target.taskId,
      last: 0,
      started: false,
      frames: 0,
      gaps: 0,
      dups: 0,
      closed: false,
      close: () => undefined,
    };
    const started = (snapshotSeq: number) => {
      conn.started = true;
      conn.last = snapshotSeq;
      snapshotsTotal++;
      if (!settled) {
        settled = true;
        resolve(conn);
      }
    };
    const failed = (error: Error) => {
      conn.closed = true;
      conn.error ??= error.message;
      if (!settled) {
        settled = true;
        reject(error);
      }
    };
    if (kind === 'sse') {
      let sse: SseConnection | undefined;
      sse = openSse({
        host,
        port,
        path: target.path!,
        localAddress: source,
        onFrame(id, data) {
          const seq = id === undefined ? NaN : Number(id);
          if (!conn.started) {
            started(Number.isFinite(seq) ? seq : 0);
            return;
          }
          let t: number | undefined;
          try {
            t = sendTimeOf(JSON.parse(data));
          } catch {
            t = undefined;
          }
          onEvent(conn, seq, t);
        },
        onClose(error) {
          failed(error ?? new Error('closed by the server'));
        },
      });
      conn.close = () => {
        conn.closed = true;
        sse?.close();
        sse = undefined;
      };
    } else {
      const socket: Socket = io(`http://${host}:${port}`, {
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
        timeout: 60_000,
        query: { taskId: target.taskId },
        ...(source ? { localAddress: source } : {}),
      } as Parameters<typeof io>[1]);
      socket.on('snapshot', (m: { seq: number }) => started(m.seq));
      socket.on('event', (m: { seq: number; event: unknown }) => onEvent(conn, m.seq, sendTimeOf(m.event)));
      socket.on('connect_error', (e: Error) => failed(e));
      socket.on('disconnect', (reason: string) => failed(new Error(`disconnected: ${reason}`)));
      conn.close = () => {
        conn.closed = true;
        socket.removeAllListeners();
        socket.disconnect();
      };
    }
  });
}

async function subscribe(args: SubscribeArgs) {
  const host = args.host ?? '127.0.0.1';
  const sources = args.sources?.length ? args.sources : [undefined];
  let queue: Target[] = [];
  for (const t of args.targets) for (let i = 0; i < t.count; i++) queue.push(t);
  const concurrency = args.concurrency ?? 200;
  const timeoutMs = args.timeoutMs ?? 120_000;
  const retries = args.retries ?? 2;
  const started = performance.now();
  const deadline = started + timeoutMs;
  let opened = 0;
  let failed = 0;
  let retried = 0;
  const errors: string[] = [];
  // A stream the server refused or cut before its first frame is opened again (as a client
  // would reconnect), at most `retries` times; what still fails is counted.
  for (let attempt = 0; attempt <= retries && queue.length > 0; attempt++) {
    const failedTargets: Target[] = [];
    let next = 0;
    const worker = async () => {
      while (next < queue.length && performance.now() < deadline) {
        const i = next++;
        const target = queue[i]!;
        try {
          conns.push(
            await openOne(args.kind, host, args.port, target, sources[(opened + i) % sources.length]),
          );
          opened++;
        } catch (error) {
          failedTargets.push(target);
          if (errors.length < 5) errors.push(error instanceof Error ? error.message : String(error));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
    if (attempt < retries) retried += failedTargets.length;
    else failed = failedTargets.length;
    queue = failedTargets;
  }
  return {
    opened,
    failed,
    retried,
    errors,
    ms: performance.now() - started,
    open: conns.filter((c) => !c.closed).length,
  };
}

function record(args: { from?: number; until?: number }) {
  latency.reset();
  receipts.clear();
  recordFrom = args.from ?? epochMs();
  recordUntil = args.until ?? Infinity;
  return { from: recordFrom };
}

function stats() {
  let gaps = 0;
  let dups = 0;
  let closed = 0;
  for (const c of conns) {
    gaps += c.gaps;
    dups += c.dups;
    if (c.closed) closed++;
  }
  return {
    connections: conns.length,
    closed,
    frames: framesTotal,
    snapshots: snapshotsTotal,
    gaps,
    dups,
    latency: latency.summary(),
    perAppend: receiptSummary(),
  };
}

/** Waits until every connection reached its task's expected last seq, then checks all of them. */
async function verify(args: { expected: Record<string, number>; timeoutMs?: number }) {
  const deadline = performance.now() + (args.timeoutMs ?? 15_000);
  const behind = () => conns.filter((c) => !c.closed && c.last < (args.expected[c.taskId] ?? 0)).length;
  while (behind() > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  let complete = 0;
  let incomplete = 0;
  let closedEarly = 0;
  let missing = 0;
  let dups = 0;
  const samples: string[] = [];
  for (const c of conns) {
    const want = args.expected[c.taskId] ?? 0;
    dups += c.dups;
    missing += c.gaps + Math.max(0, want - c.last);
    if (c.last >= want && c.gaps === 0 && c.dups === 0) complete++;
    else {
      incomplete++;
      if (c.closed) closedEarly++;
      if (samples.length < 5)
        samples.push(
          `${c.taskId}: last ${c.last}/${want}, gaps ${c.gaps}, dups ${c.dups}${c.error ? `, ${c.error}` : ''}`,
        );
    }
  }
  return { connections: conns.length, complete, incomplete, closedEarly, missing, dups, samples };
}

function closeAll() {
  const n = conns.length;
  for (const c of conns) c.close();
  conns.length = 0;
  framesTotal = 0;
  snapshotsTotal = 0;
  latency.reset();
  receipts.clear();
  return { closed: n };
}

/** One SSE reconnect from `lastEventId=0`: time to the last event, every seq checked. */
async function replay(args: {
  host?: string;
  port: number;
  path: string;
  expectLast: number;
  timeoutMs?: number;
}) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let firstFrameMs = NaN;
    let last = 0;
    let frames = 0;
    let bad = 0;
    let snapshot = false;
    let done = false;
    const finish = (ok: boolean, error?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      conn.close();
      resolve({ ok, ms: performance.now() - t0, firstFrameMs, frames, bad, last, error });
    };
    const timer = setTimeout(() => finish(false, 'timeout'), args.timeoutMs ?? 60_000);
    const conn = openSse({
      host: args.host ?? '127.0.0.1',
      port: args.port,
      path: args.path,
      onFrame(id) {
        if (!snapshot) {
          snapshot = true;
          firstFrameMs = performance.now() - t0;
          return;
        }
        const seq = Number(id);
        frames++;
        if (seq !== last + 1) bad++;
        last = seq;
        if (seq >= args.expectLast) finish(bad === 0 && frames === args.expectLast);
      },
      onClose(error) {
        finish(last >= args.expectLast && bad === 0, error?.message ?? 'closed');
      },
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Agents

interface AgentTarget {
  taskId: string;
  /** The append route's path. */
  path: string;
}

interface AppendBase {
  host?: string;
  port: number;
  tasks: AgentTarget[];
  /** Bearer token (API); none for the baselines. */
  token?: string;
  batch?: number;
  durationMs: number;
}

const agents = new Map<number, http.Agent>();
function agentFor(maxSockets: number): http.Agent {
  let a = agents.get(maxSockets);
  if (!a) {
    a = new http.Agent({ keepAlive: true, maxSockets, scheduling: 'fifo' });
    agents.set(maxSockets, a);
  }
  return a;
}

function post(
  agent: http.Agent,
  host: string,
  port: number,
  path: string,
  token: string | undefined,
  body: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host,
        port,
        path,
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', (e) => resolve({ status: 0, body: e.message }));
      },
    );
    req.on('error', (e) => resolve({ status: 0, body: e.message }));
    req.end(body);
  });
}

class AppendStats {
  sent = 0;
  acked = 0;
  events = 0;
  errors = 0;
  errorSamples: string[] = [];
  ack = new Samples();
  lastSeq: Record<string, number> = {};
  windowEvents = 0;
  /** Every acknowledgement time in the window, for callers that merge several calls. */
  ackValues: number[] | undefined;
  onResult(taskId: string, sentAt: number, r: { status: number; body: string }, inWindow: boolean): void {
    if (r.status !== 200 && r.status !== 201) {
      this.errors++;
      if (this.errorSamples.length < 5) this.errorSamples.push(`${r.status} ${r.body.slice(0, 200)}`);
      return;
    }
    this.acked++;
    const seqs = (JSON.parse(r.body) as { seqs: number[] }).seqs;
    this.events += seqs.length;
    const top = seqs[seqs.length - 1] ?? 0;
    if (top > (this.lastSeq[taskId] ?? 0)) this.lastSeq[taskId] = top;
    if (inWindow) {
      const ms = epochMs() - sentAt;
      this.ack.add(ms);
      this.ackValues?.push(ms);
      this.windowEvents += seqs.length;
    }
  }
  result(windowMs: number) {
    return {
      sent: this.sent,
      acked: this.acked,
      events: this.events,
      errors: this.errors,
      errorSamples: this.errorSamples,
      ack: this.ack.summary(),
      windowEventsPerSec: (this.windowEvents * 1000) / windowMs,
      windowEvents: this.windowEvents,
      lastSeq: this.lastSeq,
      ...(this.ackValues ? { ackValues: this.ackValues } : {}),
    };
  }
}

/** Open loop: `rate` appends per second, round-robin over the tasks, whatever the answers. */
async function appendRate(
  args: AppendBase & { rate: number; recordFrom?: number; maxInFlight?: number; keepAck?: boolean },
) {
  const host = args.host ?? '127.0.0.1';
  const agent = agentFor(64);
  const s = new AppendStats();
  if (args.keepAck) s.ackValues = [];
  const batch = args.batch ?? 1;
  const maxInFlight = args.maxInFlight ?? 5000;
  const recordFrom = args.recordFrom ?? 0;
  let inFlight = 0;
  let skipped = 0;
  const t0 = performance.now();
  const end = t0 + args.durationMs;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const due = Math.min(
        Math.floor(((Math.min(now, end) - t0) * args.rate) / 1000),
        Math.ceil((args.durationMs * args.rate) / 1000),
      );
      while (s.sent + skipped < due) {
        const target = args.tasks[(s.sent + skipped) % args.tasks.length]!;
        if (inFlight >= maxInFlight) {
          skipped++;
          continue;
        }
        const sentAt = epochMs();
        const n = s.sent;
        s.sent++;
        inFlight++;
        void post(agent, host, args.port, target.path, args.token, appendBody(sentAt, n, batch)).then((r) => {
          inFlight--;
          s.onResult(target.taskId, sentAt, r, sentAt >= recordFrom);
        });
      }
      if (now >= end) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  const drainDeadline = performance.now() + 30_000;
  while (inFlight > 0 && performance.now() < drainDeadline) await new Promise((r) => setTimeout(r, 10));
  const windowMs = Math.max(1, t0 + args.durationMs - Math.max(t0, recordFrom - performance.timeOrigin));
  return { ...s.result(windowMs), skipped, inFlightAtEnd: inFlight, offeredRate: args.rate };
}

/** Closed loop: `concurrency` workers, each sending its next append when the last is answered. */
async function appendClosed(args: AppendBase & { concurrency: number; warmupMs: number }) {
  const host = args.host ?? '127.0.0.1';
  const agent = agentFor(Math.max(1, args.concurrency));
  const s = new AppendStats();
  const batch = args.batch ?? 1;
  const t0 = performance.now();
  const windowStart = t0 + args.warmupMs;
  const end = windowStart + args.durationMs;
  const worker = async (w: number) => {
    const target = args.tasks[w % args.tasks.length]!;
    while (performance.now() < end) {
      const sentAt = epochMs();
      const inWindow = performance.now() >= windowStart;
      s.sent++;
      const r = await post(
        agent,
        host,
        args.port,
        target.path,
        args.token,
        appendBody(sentAt, s.sent, batch),
      );
      s.onResult(target.taskId, sentAt, r, inWindow && performance.now() <= end);
    }
  };
  await Promise.all(Array.from({ length: args.concurrency }, (_, w) => worker(w)));
  return {
    ...s.result(args.durationMs),
    concurrency: args.concurrency,
    windowFrom: performance.timeOrigin + windowStart,
  };
}

serveIpc({
  subscribe,
  record,
  stats,
  receipts: receiptLatencies,
  verify,
  closeAll,
  replay,
  appendRate,
  appendClosed,
  summarize: (a: { values: number[] }) => summarize(a.values),
  ping: () => ({ pid: process.pid, epoch: epochMs() }),
});
notifyReady({ pid: process.pid });
