/**
 * Baseline "raw": a minimal node:http SSE server, no framework, no auth (and no database unless
 * `--db <uri>`, for "raw plus the database write"). The practical ceiling for Node.
 *
 *   GET  /tasks/{id}/stream   retry + a snapshot frame (id 0), then `id: seq` frames
 *   POST /tasks/{id}/events   one event or { events }: seqs allocated, (stored,) framed ONCE and
 *                              the same string written to every stream of the task → { seqs }
 *   GET  /__mem               heap and RSS after a forced GC (needs --expose-gc)
 *
 * One shared heartbeat timer writes `:\n\n` to every stream.
 *
 * As two processes ("raw A→B", figure 5's report-only reference): `--relay-listen` makes one
 * instance take frames from UDP datagrams (`taskId\n` + frames) and write them to its streams;
 * `--relay-to PORT` makes another send each append's frames there, once stored, before it
 * answers. The least a second process costs an event: one datagram and one more event loop.
 */
import dgram from 'node:dgram';
import http from 'node:http';
import { argValue, notifyReady, serveIpc } from '../lib/ipc.js';
import { BaselineStore, eventsOf, memoryAfterGc, readJson, TaskQueues } from './store.js';

const streams = new Map<string, Set<http.ServerResponse>>();
const seqs = new Map<string, number>();
const store = new BaselineStore();
const queues = new TaskQueues();
const heartbeatMs = Number(argValue('heartbeat', '15')) * 1000;
let open = 0;

const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  const m = /^\/tasks\/([^/?]+)\/(stream|events)(?:\?|$)/.exec(url);
  if (req.method === 'GET' && m?.[2] === 'stream') return stream(m[1]!, res);
  if (req.method === 'POST' && m?.[2] === 'events') return void append(m[1]!, req, res);
  if (req.method === 'GET' && url === '/__mem') return json(res, 200, { ...memoryAfterGc(), streams: open });
  json(res, 404, { error: 'not found' });
});
server.keepAliveTimeout = 60_000;

function stream(taskId: string, res: http.ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
  });
  res.socket?.setNoDelay(true);
  const seq = seqs.get(taskId) ?? 0;
  res.write(
    `retry: 2000\n\nid: ${seq}\ndata: ${JSON.stringify({ task: { id: taskId, metadata: { seq } } })}\n\n`,
  );
  let set = streams.get(taskId);
  if (!set) streams.set(taskId, (set = new Set()));
  set.add(res);
  open++;
  res.once('close', () => {
    open--;
    const s = streams.get(taskId);
    s?.delete(res);
    if (s?.size === 0) streams.delete(taskId);
  });
}

async function append(taskId: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  let events: unknown[];
  try {
    events = eventsOf(await readJson(req));
  } catch {
    return json(res, 400, { error: 'bad json' });
  }
  await queues
    .run(taskId, async () => {
      const first = (seqs.get(taskId) ?? 0) + 1;
      await store.insert(taskId, first, events);
      seqs.set(taskId, first + events.length - 1);
      let frames = '';
      for (let i = 0; i < events.length; i++)
        frames += `id: ${first + i}\ndata: ${JSON.stringify(events[i])}\n\n`;
      relayTo?.(taskId, frames);
      writeFrames(taskId, frames);
      json(res, 200, { seqs: events.map((_, i) => first + i) });
    })
    .catch((error: unknown) => json(res, 500, { error: String(error) }));
}

function writeFrames(taskId: string, frames: string): void {
  const subscribers = streams.get(taskId);
  if (subscribers) for (const s of subscribers) s.write(frames);
}

const relaying = argValue('relay-to') !== undefined || argValue('relay-listen') !== undefined;
const relay = relaying ? dgram.createSocket('udp4') : undefined;
const relayPort = Number(argValue('relay-to', '0'));
const relayTo = relayPort
  ? (taskId: string, frames: string) => relay!.send(`${taskId}\n${frames}`, relayPort, '127.0.0.1')
  : undefined;
if (relay && argValue('relay-listen')) {
  relay.on('message', (message) => {
    const text = message.toString('utf8');
    const nl = text.indexOf('\n');
    writeFrames(text.slice(0, nl), text.slice(nl + 1));
  });
  await new Promise<void>((resolve) => relay.bind(0, '127.0.0.1', resolve));
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

setInterval(() => {
  for (const set of streams.values()) for (const s of set) s.write(':\n\n');
}, heartbeatMs).unref();

await store.open(argValue('db'), argValue('db-name', 'bench_baselines')!, 'raw_messages');
server.listen(Number(argValue('port', '0')), '127.0.0.1', () => {
  const port = (server.address() as { port: number }).port;
  serveIpc({ mem: () => ({ ...memoryAfterGc(), streams: open }) });
  notifyReady({
    port,
    db: store.enabled,
    ...(relay && argValue('relay-listen') ? { relayPort: relay.address().port } : {}),
  });
});
