/**
 * A stall probe: a process that does nothing but wake every TICK_MS on its core and note when a
 * wake-up came STALL_MS or more late. It has no work of its own, so that is other threads holding
 * the core for whole scheduler slices (4 ms ticks, no forced preemption on this kernel): `perf
 * sched` found the database's threads, the kernel's softirq, DAMON and mm workers, and V8's
 * helper threads of a pinned Node process there. Figure 2's p99 at 200 appends a run is the
 * second-worst append, and the twelfth session found most of the API's worst appends inside
 * 8–20 ms stalls in which the server and the database had both stopped: the probe lets every run
 * say how many such stalls fell in each system's turns.
 *
 *   IPC `stalls { from, to }` → `{ count, ms }`, the stalls that began in [from, to] (epoch ms)
 */
import { notifyReady, serveIpc } from './ipc.js';
import { epochMs } from './stats.js';

const TICK_MS = 5;
const STALL_MS = 8;
/** Stalls older than this are forgotten (a figure asks about its last few seconds). */
const KEEP_MS = 15 * 60_000;

const stalls: Array<{ at: number; ms: number }> = [];
let last = epochMs();
setInterval(() => {
  const now = epochMs();
  const late = now - last - TICK_MS;
  if (late >= STALL_MS) stalls.push({ at: last + TICK_MS, ms: late });
  last = now;
  while (stalls.length > 0 && stalls[0]!.at < now - KEEP_MS) stalls.shift();
}, TICK_MS);

serveIpc({
  stalls: ({ from, to }: { from: number; to: number }) => {
    const within = stalls.filter((s) => s.at >= from && s.at <= to);
    return { count: within.length, ms: within.reduce((sum, s) => sum + s.ms, 0) };
  },
});
notifyReady({ tickMs: TICK_MS, stallMs: STALL_MS });
