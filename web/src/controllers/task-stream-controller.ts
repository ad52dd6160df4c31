import type { ReactiveController, ReactiveControllerHost } from 'lit';
import {
  CORS_BLOCKED_REASON,
  type ConnectionInfo,
  type SnapshotTask,
  type TaskEvent,
  type TaskStreamClient,
  type TaskStreamSubscription,
  type WatchTarget,
} from '@orchestrator-ai/transport-types';
import { emit, type A2AErrorDetail } from '../events.js';
import {
  applyEvent,
  applySnapshot,
  emptyTaskState,
  type ApplyResult,
  type TaskViewState,
} from '../internal/task-state.js';

export interface TaskStreamControllerOptions {
  /** The task to watch; `undefined` while the host lacks org, agent or task id. */
  target(): WatchTarget | undefined;
  /**
   * The client to watch through; `undefined` while the host cannot make one yet (no token
   * source), or a `config` error to report.
   */
  client(): TaskStreamClient | undefined | { error: string };
  /** Called when the task's A2A state changes (after the host's events are dispatched). */
  onStateChange?(state: TaskViewState): void;
}

type Host = ReactiveControllerHost & HTMLElement;

/**
 * Feeds a host element from a {@link TaskStreamClient}: watches while the host is connected,
 * re-watches when the target or client changes, folds the snapshot and events into a
 * {@link TaskViewState}, dispatches the `a2a-*` events from the host, and asks the host to
 * render at most once per animation frame however fast events come.
 */
export class TaskStreamController implements ReactiveController {
  /** The folded task state; replaced (not mutated) when the target changes. */
  state: TaskViewState = emptyTaskState();
  /** Latest connection report; `undefined` until watching starts. */
  connection: ConnectionInfo | undefined;
  /** The error being shown, if any. */
  problem: A2AErrorDetail | undefined;
  /** Bumped for every batch of changes; cheap "did anything change" for the host. */
  version = 0;

  private subscription: TaskStreamSubscription | undefined;
  private key: { client: TaskStreamClient; org: string; agent: string; taskId: string } | undefined;
  private generation = 0;
  private connected = false;
  private frame: number | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastRender = -Infinity;
  private configError: string | undefined;
  private stateKey: string | undefined;

  constructor(
    private readonly host: Host,
    private readonly options: TaskStreamControllerOptions,
  ) {
    host.addController(this);
  }

  get watching(): boolean {
    return this.subscription !== undefined;
  }

  hostConnected(): void {
    this.connected = true;
    // hostUpdate() (re)starts the watch, so one update is enough.
    this.host.requestUpdate();
  }

  hostDisconnected(): void {
    this.connected = false;
    this.stop();
    this.key = undefined;
    if (this.frame !== undefined) cancelFrame(this.frame);
    clearTimeout(this.timer);
    this.frame = undefined;
    this.timer = undefined;
  }

  hostUpdate(): void {
    if (this.connected) this.sync();
  }

  /** Start over on the same task (after an error): the log is kept, replay dedupes by seq. */
  retry(): void {
    this.stop();
    this.key = undefined;
    this.problem = undefined;
    this.sync();
    this.host.requestUpdate();
  }

  private sync(): void {
    const target = this.options.target();
    const resolved = target ? this.options.client() : undefined;
    const client = resolved && 'watch' in resolved ? resolved : undefined;
    const configError = resolved && 'error' in resolved ? resolved.error : undefined;
    if (configError !== this.configError) {
      this.configError = configError;
      if (configError) this.fail({ kind: 'config', message: configError, taskId: target?.taskId });
      else if (this.problem?.kind === 'config') this.problem = undefined;
    }
    if (!target || !client) {
      if (this.key) {
        this.stop();
        this.key = undefined;
      }
      return;
    }
    const k = this.key;
    if (
      k &&
      k.client === client &&
      k.org === target.org &&
      k.agent === target.agent &&
      k.taskId === target.taskId
    ) {
      return;
    }
    this.stop();
    const stateKey = `${target.org}\n${target.agent}\n${target.taskId}`;
    if (stateKey !== this.stateKey) {
      // Another task: start from nothing. The same task again (host moved in the DOM, client
      // swapped): keep what we have, the replay is deduped by seq.
      this.stateKey = stateKey;
      this.state = emptyTaskState(target.taskId);
      this.connection = undefined;
      this.problem = undefined;
    }
    this.key = { client, ...target };
    this.start(client, { org: target.org, agent: target.agent, taskId: target.taskId });
  }

  private start(client: TaskStreamClient, target: WatchTarget): void {
    const gen = ++this.generation;
    const live = () => gen === this.generation;
    this.connection = { state: 'connecting', transport: this.connection?.transport ?? 'direct' };
    try {
      this.subscription = client.watch(target, {
        onSnapshot: (snapshot) => live() && this.onSnapshot(snapshot),
        onEvent: (event) => live() && this.onEvent(event),
        onConnection: (info) => live() && this.onConnection(info),
      });
    } catch (err) {
      this.subscription = undefined;
      this.connection = { state: 'error', transport: this.connection.transport, reason: String(err) };
      this.fail({
        kind: 'unknown',
        message: `Could not watch the task: ${messageOf(err)}`,
        taskId: target.taskId,
      });
    }
    this.schedule();
  }

  private stop(): void {
    this.generation++;
    const sub = this.subscription;
    this.subscription = undefined;
    sub?.close();
  }

  private onSnapshot(snapshot: SnapshotTask): void {
    this.after(applySnapshot(this.state, snapshot));
  }

  private onEvent(event: TaskEvent): void {
    const result = applyEvent(this.state, event);
    if (result.logged) emit(this.host, 'a2a-event', { taskId: this.state.taskId, event });
    this.after(result);
  }

  private after(result: ApplyResult): void {
    if (result.stateChanged) {
      const s = this.state;
      emit(this.host, 'a2a-status-change', {
        taskId: s.taskId,
        state: result.stateChanged.to,
        previousState: result.stateChanged.from,
        final: s.final,
        seq: s.seq,
        message: s.message,
      });
      this.options.onStateChange?.(s);
    }
    if (result.logged || result.applied) this.schedule();
  }

  private onConnection(info: ConnectionInfo): void {
    const prev = this.connection;
    this.connection = info;
    if (
      prev &&
      prev.state === info.state &&
      prev.transport === info.transport &&
      prev.via === info.via &&
      prev.reason === info.reason &&
      prev.status === info.status
    ) {
      return;
    }
    emit(this.host, 'a2a-connection-change', { ...info, taskId: this.state.taskId });
    if (info.state === 'error') {
      this.fail(errorDetail(info, this.state.taskId));
    } else if (info.state === 'open' && this.problem && this.problem.kind !== 'config') {
      this.problem = undefined;
    }
    this.schedule();
  }

  private fail(detail: A2AErrorDetail): void {
    this.problem = detail;
    emit(this.host, 'a2a-error', detail);
    this.schedule();
  }

  /**
   * One host update per animation frame however many events arrived in it, and under a
   * sustained fast stream at most one per {@link MIN_RENDER_INTERVAL_MS}: a lone event still
   * shows at the next frame, a burst of 100 events/s costs 20 renders/s, not 60.
   */
  private schedule(): void {
    if (this.frame !== undefined || this.timer !== undefined) return;
    const wait = this.lastRender + MIN_RENDER_INTERVAL_MS - now();
    if (wait > 4) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.schedule();
      }, wait);
      return;
    }
    this.frame = requestFrame(() => {
      this.frame = undefined;
      this.lastRender = now();
      this.version++;
      this.host.requestUpdate();
    });
  }
}

/** Turn a connection error into what a person should do about it. */
export function errorDetail(info: ConnectionInfo, taskId?: string): A2AErrorDetail {
  const why = info.reason ? ` (${info.reason})` : '';
  if (info.status === 401) {
    return {
      taskId,
      status: 401,
      kind: 'auth',
      message: `Your sign-in has expired or was refused${why}. Sign in again, then retry.`,
    };
  }
  if (info.status === 403 || info.status === 404) {
    return {
      taskId,
      status: info.status,
      kind: 'not-found',
      message: `This task does not exist or is not yours${why}. Check the link or pick a task from your list.`,
    };
  }
  if (info.reason?.startsWith(CORS_BLOCKED_REASON)) {
    return {
      taskId,
      kind: 'config',
      message: `This page may not read tasks from the API: ${info.reason}.`,
    };
  }
  return {
    taskId,
    status: info.status,
    kind: info.status ? 'unknown' : 'network',
    message: `The task stream failed${why}. Check your network connection, then retry.`,
  };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Minimum time between two renders while events keep coming. */
export const MIN_RENDER_INTERVAL_MS = 50;

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

const requestFrame = (cb: () => void): number =>
  typeof requestAnimationFrame === 'function'
    ? requestAnimationFrame(cb)
    : (setTimeout(cb, 16) as unknown as number);

const cancelFrame = (id: number): void =>
  typeof cancelAnimationFrame === 'function' ? cancelAnimationFrame(id) : clearTimeout(id);
