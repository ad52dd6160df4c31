/**
 * The child side of the bench's IPC: every benchmark process (baseline servers, load generators,
 * the API's memory probe) answers `{ id, cmd, args }` with `{ id, ok, result | error }`, exits when
 * its parent goes away, and never outlives a hard lifetime cap.
 */
export type Handler = (args: any) => unknown;

export interface ServeOptions {
  /** What to do when the parent disconnects (default: exit now). */
  onDisconnect?: () => void;
  /** Hard cap on this process's life (default 20 minutes, env BENCH_MAX_LIFETIME_MS). */
  maxLifetimeMs?: number;
}

export function serveIpc(handlers: Record<string, Handler>, options: ServeOptions = {}): void {
  const send = process.send?.bind(process);
  if (!send)
    throw new Error('This benchmark program must be started by e2e/bench/run.js (it needs an IPC channel)');
  process.on('message', (message: unknown) => {
    const m = message as { id?: unknown; cmd?: unknown; args?: unknown };
    if (typeof m?.id !== 'number' || typeof m.cmd !== 'string') return;
    const handler = handlers[m.cmd];
    const id = m.id;
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown command ${String(m.cmd)}`);
        return handler(m.args ?? {});
      })
      .then(
        (result) => send({ id, ok: true, result: result ?? null }),
        (error: unknown) =>
          send({
            id,
            ok: false,
            error: error instanceof Error ? (error.stack ?? error.message) : String(error),
          }),
      )
      .catch(() => undefined);
  });
  process.on('disconnect', options.onDisconnect ?? (() => process.exit(0)));
  const lifetime = options.maxLifetimeMs ?? Number(process.env.BENCH_MAX_LIFETIME_MS ?? 20 * 60_000);
  setTimeout(() => {
    process.stderr.write(`bench child ${process.pid}: lifetime cap of ${lifetime} ms reached, exiting\n`);
    process.exit(3);
  }, lifetime).unref();
}

/** Tells the parent this process is ready (with e.g. the port it listens on). */
export function notifyReady(info: Record<string, unknown> = {}): void {
  process.send?.({ ready: true, ...info });
}

/** Reads `--name value` pairs from argv. */
export function argValue(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i !== -1 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
