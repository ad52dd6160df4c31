/**
 * EXPERIMENT, not a product path: preloaded into the API by figure 2, it answers agent appends
 * (`POST …/tasks/{id}/events`) with a bare node:http handler in front of hapi, to measure what
 * hapi's request lifecycle costs the figure. What it keeps of the product's append: the route's
 * Joi schema, the agent token's org/agent binding, and the same EventLog (seqs, storage, fan-out).
 * Auth is a cached check: a bearer token is let through here only after hapi has verified it on
 * an append that succeeded (the product caches verified tokens too). Everything else goes to hapi.
 *
 *   npm run build
 *   BENCH_SERVER_NODE_FLAGS="--import=file://$PWD/e2e/bench/experiments/append-without-hapi.mjs" \
 *     node e2e/dist/bench/run.js --figures=2 --verbose
 *
 * The API logs how many appends it answered here when it stops (`--verbose` shows it).
 */
import { createRequire } from 'node:module';

const apiDist = new URL('../../../api/dist/', import.meta.url);
const Hapi = createRequire(new URL('main.js', apiDist))('@hapi/hapi');
const { EventLog } = await import(new URL('store/event-log.js', apiDist).href);
const { appendPayloadSchema } = await import(new URL('plugins/tasks/event-schema.js', apiDist).href);

const APPEND = /^\/agent-to-agent\/([^/]+)\/([^/]+)\/tasks\/([^/?]+)\/events$/;
/** Bearer header → the org/agent of an append hapi answered 200 with it. */
const verified = new Map();
let log;
let answered = 0;

const append = EventLog.prototype.append;
EventLog.prototype.append = function (...args) {
  remember(this);
  return append.apply(this, args);
};

/** The API's own EventLog, kept from its first append (which hapi answers). */
function remember(eventLog) {
  log ??= eventLog;
}

const createServer = Hapi.server;
Hapi.server = function (...args) {
  const server = createServer.apply(this, args);
  const listener = server.listener;
  const hapi = listener.listeners('request');
  listener.removeAllListeners('request');
  listener.on('request', (req, res) => {
    const route = req.method === 'POST' ? APPEND.exec(req.url ?? '') : null;
    const bearer = req.headers.authorization;
    const binding = route && bearer ? verified.get(bearer) : undefined;
    if (!route || !log || !binding) {
      if (route && bearer)
        res.once('finish', () => {
          if (res.statusCode === 200) verified.set(bearer, { org: route[1], agent: route[2] });
        });
      for (const handler of hapi) handler.call(listener, req, res);
      return;
    }
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => void answer(route, binding, Buffer.concat(chunks), res));
  });
  return server;
};

async function answer([, org, agent, taskId], binding, body, res) {
  const send = (status, value) => {
    const text = JSON.stringify(value);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  try {
    if (binding.org !== org || binding.agent !== agent) return send(403, { error: 'bound to another agent' });
    const { error, value } = appendPayloadSchema.validate(JSON.parse(body.toString('utf8')));
    if (error) return send(400, { error: error.message });
    const stored = await log.append(taskId, 'events' in value ? value.events : [value], { org, agent });
    answered++;
    send(200, { seqs: stored.map((event) => event.seq) });
  } catch (error) {
    send(500, { error: String(error) });
  }
}

process.on('exit', () => console.error(`append-without-hapi: ${answered} appends answered without hapi`));
