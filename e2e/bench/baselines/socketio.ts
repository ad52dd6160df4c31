/**
 * Baseline "socketio": what this product replaces. A Socket.IO 4 server on node:http; a client
 * connects (websocket transport) with `?taskId=`, joins the task's room and gets a `snapshot`;
 * appends come in over HTTP like the others (`POST /tasks/{id}/events`, optionally stored with
 * `--db <uri>`) and are broadcast to the room as `event` `{ seq, event }` (Socket.IO encodes a
 * room broadcast once). Its heartbeat is the default ping, every 25 s on average (below). Its ping
 * timeout is 60 s, not 20: figures 2 and 5 freeze a server (SIGSTOP) while another system takes its
 * turn, and a pong that arrived meanwhile is read only after the timer that gave up on it has fired.
 *
 * Each client's ping interval is drawn once, between 0.5× and 1.5× the default 25 s (so as many
 * pings a minute as stock). With the stock fixed interval, the freezes put every client's pings in
 * step: each ping timer that came due while the server was frozen fires at the thaw, and the next
 * ones 25 s later, all together, so 2,000 pings and pongs landed in one burst (a 50–100 ms stall)
 * that set Socket.IO+db's p99 in most 30 s runs: 46–110 ms, against 16–18 ms with pings off. In a
 * deployment, clients connect at different moments and their pings are spread over the interval;
 * the spread intervals keep them apart here too.
 *
 *   GET /__mem   heap and RSS after a forced GC (needs --expose-gc)
 */
import http from 'node:http';
import { Server } from 'socket.io';
import { argValue, notifyReady, serveIpc } from '../lib/ipc.js';
import { BaselineStore, eventsOf, memoryAfterGc, readJson, TaskQueues } from './store.js';

/** Socket.IO's default; `--ping-interval` only for the test of the spread. */
const PING_INTERVAL_MS = Number(argValue('ping-interval', '25000'));
const seqs = new Map<string, number>();
const store = new BaselineStore();
const queues = new TaskQueues();

const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  if (url.startsWith('/socket.io/')) return; // Socket.IO's own handler answers
  const m = /^\/tasks\/([^/?]+)\/events(?:\?|$)/.exec(url);
  if (req.method === 'POST' && m) return void append(m[1]!, req, res);
  if (req.method === 'GET' && url === '/__mem')
    return json(res, 200, { ...memoryAfterGc(), streams: io.engine.clientsCount });
  json(res, 404, { error: 'not found' });
});
server.keepAliveTimeout = 60_000;

const io = new Server(server, {
  transports: ['websocket'],
  serveClient: false,
  cors: { origin: false },
  pingInterval: PING_INTERVAL_MS,
  pingTimeout: 60_000,
});
// engine.io announces each client's socket right after making it, its first ping already scheduled.
io.engine.on('connection', (conn: EngineSocket) => drawPingInterval(conn));
io.on('connection', (socket) => {
  const taskId = String(socket.handshake.query.taskId ?? '');
  void socket.join(taskId);
  socket.emit('snapshot', { seq: seqs.get(taskId) ?? 0 });
});

/** What `drawPingInterval` uses of an engine.io socket (its `schedulePing`'s fields). */
interface EngineSocket {
  pingIntervalTimer: NodeJS.Timeout | null;
  hasRefreshedPingTimeout: boolean;
  sendPacket(type: string): void;
  resetPingTimeout(): void;
}

/**
 * Replaces a client's ping timer (engine.io's `schedulePing`, same body) with one whose interval
 * is drawn for that client. engine.io re-arms this same timer with `refresh()` after each pong, so
 * the client keeps its interval. Done per socket as engine.io makes it: patching the class at the
 * first Socket.IO connection missed every socket made before it (when 40 clients connected at once,
 * often all of them), and those pinged in step.
 */
function drawPingInterval(conn: EngineSocket): void {
  if (conn.pingIntervalTimer) clearTimeout(conn.pingIntervalTimer);
  conn.pingIntervalTimer = setTimeout(
    () => {
      conn.hasRefreshedPingTimeout = false;
      conn.sendPacket('ping');
      conn.resetPingTimeout();
    },
    PING_INTERVAL_MS * (0.5 + Math.random()),
  );
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
      for (let i = 0; i < events.length; i++)
        io.to(taskId).emit('event', { seq: first + i, event: events[i] });
      json(res, 200, { seqs: events.map((_, i) => first + i) });
    })
    .catch((error: unknown) => json(res, 500, { error: String(error) }));
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

await store.open(argValue('db'), argValue('db-name', 'bench_baselines')!, 'socketio_messages');
server.listen(Number(argValue('port', '0')), '127.0.0.1', () => {
  const port = (server.address() as { port: number }).port;
  serveIpc({ mem: () => ({ ...memoryAfterGc(), streams: io.engine.clientsCount }) });
  notifyReady({ port, db: store.enabled });
});
