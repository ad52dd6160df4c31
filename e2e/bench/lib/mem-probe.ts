/**
 * Preloaded into the API process (`node --expose-gc --import …/mem-probe.js api/dist/main.js`) so
 * the bench can read its memory without any product code: on the IPC command `mem` it forces a GC
 * and answers `process.memoryUsage()`, the active handle count and the open file descriptors.
 * When run.js goes away it sends the API a SIGTERM (graceful stop, so `--cpu-prof` is written),
 * and exits hard if that takes too long.
 */
import { readdirSync } from 'node:fs';
import { writeHeapSnapshot } from 'node:v8';
import { serveIpc } from './ipc.js';

function fds(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return NaN;
  }
}

if (process.send) {
  serveIpc(
    {
      mem: () => {
        const gc = (globalThis as { gc?: () => void }).gc;
        if (!gc) throw new Error('run with --expose-gc');
        gc();
        gc();
        return { ...process.memoryUsage(), handles: process.getActiveResourcesInfo().length, fds: fds() };
      },
      /** Writes a heap snapshot (for finding what a stream retains); answers its path. */
      heapSnapshot: (args: { file: string }) => ({ file: writeHeapSnapshot(args.file) }),
      usage: () => ({
        ...process.resourceUsage(),
        handles: process.getActiveResourcesInfo().length,
        fds: fds(),
      }),
    },
    {
      onDisconnect: () => {
        process.kill(process.pid, 'SIGTERM');
        setTimeout(() => process.exit(1), 10_000).unref();
      },
    },
  );
  // The IPC channel must not keep the API alive on its own.
  (process.channel as { unref?: () => void } | undefined)?.unref?.();
}
