import type {
  ConnectionInfo,
  SnapshotTask,
  TaskEvent,
  TaskStreamClient,
  TaskStreamListener,
  WatchTarget,
  WireStreamResponse,
  WireTaskState,
} from '@orchestrator-ai/transport-types';
import { MIN_RENDER_INTERVAL_MS } from '../controllers/task-stream-controller.js';

/** One watch() call of the fake, with handles to drive it. */
export interface FakeWatch {
  target: WatchTarget;
  listener: TaskStreamListener;
  closed: boolean;
  snapshot(s: SnapshotTask): void;
  event(e: TaskEvent): void;
  connection(info: ConnectionInfo): void;
}

/** A TaskStreamClient driven by the test: it records watches and pushes what the test says. */
export class FakeClient implements TaskStreamClient {
  readonly watches: FakeWatch[] = [];
  cleared = 0;

  watch(target: WatchTarget, listener: TaskStreamListener) {
    const w: FakeWatch = {
      target,
      listener,
      closed: false,
      snapshot: (s) => !w.closed && listener.onSnapshot?.(s),
      event: (e) => !w.closed && listener.onEvent(e),
      connection: (i) => !w.closed && listener.onConnection?.(i),
    };
    this.watches.push(w);
    return { close: () => void (w.closed = true) };
  }

  async clear() {
    this.cleared++;
  }

  /** The latest watch that is still open. */
  get active(): FakeWatch {
    const w = [...this.watches].reverse().find((x) => !x.closed);
    if (!w) throw new Error('no active watch');
    return w;
  }
}

const T0 = Date.parse('2025-01-01T12:00:00Z');

export function status(
  seq: number,
  state: WireTaskState,
  opts: { text?: string; progress?: number; taskId?: string } = {},
): TaskEvent {
  const taskId = opts.taskId ?? 't1';
  const event: WireStreamResponse = {
    statusUpdate: {
      taskId,
      contextId: 'c1',
      status: {
        state,
        timestamp: new Date(T0 + seq * 1000).toISOString(),
        ...(opts.text
          ? { message: { messageId: `m${seq}`, role: 'ROLE_AGENT', parts: [{ text: opts.text }] } }
          : {}),
      },
      ...(opts.progress !== undefined ? { metadata: { progress: opts.progress } } : {}),
    },
  };
  return wrap(taskId, seq, event);
}

export function artifact(
  seq: number,
  parts: Array<{ text: string } | { data: unknown } | { url: string; filename?: string } | { raw: string }>,
  opts: { id?: string; name?: string; append?: boolean; lastChunk?: boolean; taskId?: string } = {},
): TaskEvent {
  const taskId = opts.taskId ?? 't1';
  return wrap(taskId, seq, {
    artifactUpdate: {
      taskId,
      contextId: 'c1',
      artifact: { artifactId: opts.id ?? 'a1', ...(opts.name ? { name: opts.name } : {}), parts },
      ...(opts.append !== undefined ? { append: opts.append } : {}),
      ...(opts.lastChunk !== undefined ? { lastChunk: opts.lastChunk } : {}),
    },
  });
}

export function message(seq: number, text: string, taskId = 't1'): TaskEvent {
  return wrap(taskId, seq, {
    message: { messageId: `msg${seq}`, role: 'ROLE_AGENT', taskId, parts: [{ text }] },
  });
}

export function snapshot(
  seq: number,
  state: WireTaskState,
  extra: Partial<SnapshotTask['metadata']> & { text?: string; artifacts?: SnapshotTask['artifacts'] } = {},
): SnapshotTask {
  const { text, artifacts, ...meta } = extra;
  return {
    id: 't1',
    contextId: 'c1',
    status: {
      state,
      timestamp: new Date(T0 + seq * 1000).toISOString(),
      ...(text ? { message: { messageId: 's', role: 'ROLE_AGENT', parts: [{ text }] } } : {}),
    },
    ...(artifacts ? { artifacts } : {}),
    metadata: { seq, ...meta },
  };
}

function wrap(taskId: string, seq: number, event: WireStreamResponse): TaskEvent {
  const at = new Date(T0 + seq * 1000);
  return {
    taskId,
    seq,
    event,
    createdAt: at.toISOString(),
    expiresAt: new Date(at.getTime() + 3_600_000).toISOString(),
  };
}

/** Wait for the component's batched (per animation frame) render to land. */
export async function settle(el: Element & { updateComplete: Promise<unknown> }): Promise<void> {
  // Renders are at most one per MIN_RENDER_INTERVAL_MS, at an animation frame.
  await new Promise((r) => setTimeout(r, MIN_RENDER_INTERVAL_MS + 5));
  await new Promise<void>((r) =>
    typeof requestAnimationFrame === 'function' ? requestAnimationFrame(() => r()) : setTimeout(r, 20),
  );
  await el.updateComplete;
  await new Promise((r) => setTimeout(r, 0));
  await el.updateComplete;
}
