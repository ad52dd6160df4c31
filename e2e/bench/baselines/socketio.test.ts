import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { io, type Socket } from 'socket.io-client';

/** The built baseline (npm test builds before it runs the unit tests). */
const BASELINE = fileURLToPath(new URL('../../dist/bench/baselines/socketio.js', import.meta.url));
const INTERVAL_MS = 300;
const CLIENTS = 40;

let server: ChildProcess | undefined;
const clients: Socket[] = [];

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  server?.kill('SIGKILL');
  server = undefined;
});

function startBaseline(): Promise<number> {
  if (!existsSync(BASELINE)) throw new Error(`${BASELINE} is missing: run npm run build first`);
  const child = fork(BASELINE, ['--ping-interval', String(INTERVAL_MS)], { stdio: 'pipe' });
  server = child;
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`baseline exited (${code})`)));
    child.on('message', (m: { ready?: boolean; port?: number }) => {
      if (m.ready && m.port) resolve(m.port);
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the Socket.IO baseline', () => {
  it("keeps its clients' pings apart after the bench freezes and thaws it", async () => {
    const port = await startBaseline();
    const pings = new Map<number, number[]>();
    await Promise.all(
      Array.from({ length: CLIENTS }, (_, i) => {
        const socket = io(`http://127.0.0.1:${port}`, {
          transports: ['websocket'],
          query: { taskId: 't0' },
          reconnection: false,
        });
        clients.push(socket);
        pings.set(i, []);
        // The manager opens its engine as it is created (autoConnect): listen there from the start.
        socket.io.engine.on('ping', () => pings.get(i)!.push(performance.now()));
        return new Promise<void>((resolve, reject) => {
          socket.once('snapshot', () => resolve());
          socket.once('connect_error', reject);
        });
      }),
    );

    // As figures 2 and 5 do between turns: every ping timer comes due while the server is stopped.
    server!.kill('SIGSTOP');
    await sleep(INTERVAL_MS * 2.5);
    const thawed = performance.now();
    server!.kill('SIGCONT');
    await sleep(INTERVAL_MS * 3);

    // The pings that came due fire together at the thaw; what matters is the round after them.
    const second = [...pings.values()]
      .map((times) => times.filter((t) => t >= thawed))
      .filter((times) => times.length >= 2)
      .map((times) => times[1]! - times[0]!);
    expect(second.length).toBeGreaterThanOrEqual(CLIENTS - 1);
    expect(clients.every((c) => c.connected)).toBe(true);
    // Fixed intervals would keep them within a few ms of one another (in step); drawn between
    // 0.5× and 1.5× of the interval, forty of them spread over most of that range.
    const spread = Math.max(...second) - Math.min(...second);
    expect(spread).toBeGreaterThan(INTERVAL_MS * 0.5);
  });
});
