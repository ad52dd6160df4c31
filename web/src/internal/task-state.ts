import {
  isTerminalState,
  streamEventKind,
  type SnapshotTask,
  type StreamEventKind,
  type TaskEvent,
  type WireArtifact,
  type WireMessage,
  type WirePart,
  type WireStreamResponse,
  type WireTask,
  type WireTaskState,
} from '@orchestrator-ai/transport-types';
import { formatTime } from './format.js';

/**
 * The view state of one task, built from the stream's snapshot and events.
 *
 * Rules (DESIGN.md "Stream semantics"): an event changes the task state only when its seq is
 * above the seq the state reflects; the log is the union of events by seq (each seq once, in
 * order). So a snapshot, stored history and live events can arrive in any order and overlap.
 */
export interface TaskViewState {
  taskId: string;
  contextId?: string;
  /** The seq the task state reflects (snapshot seq or last applied event). 0 = nothing yet. */
  seq: number;
  state?: WireTaskState;
  /** The latest message an agent attached to a status (or sent as a message). */
  message?: WireMessage;
  /** 0..1 when the agent reports progress (`metadata.progress` of a status update). */
  progress?: number;
  /** ISO timestamp of the latest status. */
  timestamp?: string;
  artifacts: ArtifactView[];
  /** Events by seq, ascending, without duplicates. */
  log: LogEntry[];
  /** The latest snapshot said events the client asked for have expired. */
  historyTruncated: boolean;
  earliestSeq?: number;
  final: boolean;
  /** What people call the task (`metadata.title`, else its first user message), once a snapshot told. */
  title?: string;
}

export interface ArtifactView {
  artifactId: string;
  name?: string;
  description?: string;
  parts: WirePart[];
  /** `lastChunk` seen (or the artifact arrived whole). */
  complete: boolean;
}

export interface LogEntry {
  seq: number;
  kind: StreamEventKind;
  /** Task state after a status update / task event. */
  state?: WireTaskState;
  /** One line for people. */
  summary: string;
  createdAt?: string;
  /** `createdAt` formatted for people, computed once. */
  time: string;
  event: WireStreamResponse;
}

export function emptyTaskState(taskId = ''): TaskViewState {
  return { taskId, seq: 0, artifacts: [], log: [], historyTruncated: false, final: false };
}

/** What changed when something was applied; lets the caller dispatch events and re-render. */
export interface ApplyResult {
  /** The event was new to the log. */
  logged: boolean;
  /** The task state (status, artifacts…) moved forward. */
  applied: boolean;
  /** The task's A2A state changed (from → to). */
  stateChanged?: { from?: WireTaskState; to: WireTaskState };
}

const NOTHING: ApplyResult = { logged: false, applied: false };

/** Merge a snapshot (`Task` with `metadata.seq`). Returns what changed. Mutates `s`. */
export function applySnapshot(s: TaskViewState, snapshot: SnapshotTask): ApplyResult {
  const meta = snapshot.metadata ?? { seq: 0 };
  const seq = typeof meta.seq === 'number' ? meta.seq : 0;
  if (seq < s.seq) return NOTHING;
  // Truncation is about this log. A later snapshot is relative to where the client resumed (a
  // reconnect) and does not repeat it, yet those events are still missing: keep the last report.
  if (meta.historyTruncated === true) {
    s.historyTruncated = true;
    s.earliestSeq = typeof meta.earliestSeq === 'number' ? meta.earliestSeq : undefined;
  }
  const from = s.state;
  s.taskId = snapshot.id || s.taskId;
  s.contextId = snapshot.contextId;
  s.title = taskTitle(snapshot) ?? s.title;
  s.seq = seq;
  setStatus(s, snapshot.status, snapshot.metadata);
  s.artifacts = (snapshot.artifacts ?? []).map((a) => artifactView(a, s.final));
  const to = s.state;
  return {
    logged: false,
    applied: true,
    ...(to !== undefined && to !== from ? { stateChanged: { from, to } } : {}),
  };
}

/** Add one stream event to the log (deduped by seq) and apply it if it is newer than the state. */
export function applyEvent(s: TaskViewState, e: TaskEvent): ApplyResult {
  const logged = insertLog(s.log, toLogEntry(e));
  if (e.seq <= s.seq) return logged ? { logged, applied: false } : NOTHING;
  const from = s.state;
  s.seq = e.seq;
  const ev = e.event;
  if ('statusUpdate' in ev) {
    setStatus(s, ev.statusUpdate.status, ev.statusUpdate.metadata);
    s.contextId ??= ev.statusUpdate.contextId;
  } else if ('artifactUpdate' in ev) {
    applyArtifact(s, ev.artifactUpdate.artifact, ev.artifactUpdate.append, ev.artifactUpdate.lastChunk);
  } else if ('message' in ev) {
    if (ev.message.role !== 'ROLE_USER') s.message = ev.message;
  } else if ('task' in ev) {
    setStatus(s, ev.task.status, ev.task.metadata);
    s.artifacts = (ev.task.artifacts ?? []).map((a) => artifactView(a, true));
  }
  const to = s.state;
  return {
    logged,
    applied: true,
    ...(to !== undefined && to !== from ? { stateChanged: { from, to } } : {}),
  };
}

function setStatus(
  s: TaskViewState,
  status: { state: WireTaskState; message?: WireMessage; timestamp?: string },
  metadata: Record<string, unknown> | undefined,
): void {
  s.state = status.state;
  s.timestamp = status.timestamp ?? s.timestamp;
  if (status.message && status.message.role !== 'ROLE_USER') s.message = status.message;
  const p = metadata?.['progress'];
  if (typeof p === 'number' && Number.isFinite(p)) s.progress = Math.min(1, Math.max(0, p));
  s.final = isTerminalState(status.state);
  if (status.state === 'TASK_STATE_COMPLETED') s.progress = 1;
}

function artifactView(a: WireArtifact, complete: boolean): ArtifactView {
  return {
    artifactId: a.artifactId,
    name: a.name,
    description: a.description,
    parts: a.parts.map((p) => ({ ...p })),
    complete,
  };
}

function applyArtifact(
  s: TaskViewState,
  a: WireArtifact,
  append: boolean | undefined,
  lastChunk: boolean | undefined,
): void {
  const i = s.artifacts.findIndex((x) => x.artifactId === a.artifactId);
  const existing = i >= 0 ? s.artifacts[i] : undefined;
  // A2A: lastChunk true ends the artifact; an update without append/lastChunk is the whole thing.
  const complete = lastChunk === true || (lastChunk === undefined && !append);
  let next: ArtifactView;
  if (existing && append) {
    const parts = existing.parts.slice();
    for (const part of a.parts) {
      const last = parts[parts.length - 1];
      if (last && 'text' in last && 'text' in part) {
        parts[parts.length - 1] = { ...last, text: last.text + part.text };
      } else {
        parts.push({ ...part });
      }
    }
    next = {
      ...existing,
      name: a.name ?? existing.name,
      description: a.description ?? existing.description,
      parts,
      complete,
    };
  } else {
    next = artifactView(a, complete);
  }
  // New array so renderers keyed on identity notice the change.
  s.artifacts = i >= 0 ? s.artifacts.map((x, j) => (j === i ? next : x)) : [...s.artifacts, next];
}

/**
 * Events the snapshot reported as expired that the log does not hold either (a tab may still
 * have them from its own store). 0 when nothing is missing.
 */
export function missingHistory(s: TaskViewState): number {
  if (!s.historyTruncated) return 0;
  const earliest = s.earliestSeq ?? s.log[0]?.seq ?? s.seq + 1;
  let held = 0;
  for (const e of s.log) {
    if (e.seq >= earliest) break;
    held++;
  }
  return Math.max(0, earliest - 1 - held);
}

/** Insert keeping ascending seq order; false when the seq is already there. */
export function insertLog(log: LogEntry[], entry: LogEntry): boolean {
  const last = log[log.length - 1];
  if (!last || last.seq < entry.seq) {
    log.push(entry);
    return true;
  }
  let lo = 0;
  let hi = log.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (log[mid]!.seq < entry.seq) lo = mid + 1;
    else hi = mid;
  }
  if (log[lo]?.seq === entry.seq) return false;
  log.splice(lo, 0, entry);
  return true;
}

export function toLogEntry(e: TaskEvent): LogEntry {
  const kind = streamEventKind(e.event);
  const ev = e.event;
  let summary = '';
  let state: WireTaskState | undefined;
  if ('statusUpdate' in ev) {
    state = ev.statusUpdate.status.state;
    const text = messageText(ev.statusUpdate.status.message);
    const p = ev.statusUpdate.metadata?.['progress'];
    summary = stateLabel(state);
    if (typeof p === 'number') summary += ` · ${Math.round(p * 100)}%`;
    if (text) summary += ` · ${text}`;
  } else if ('artifactUpdate' in ev) {
    const a = ev.artifactUpdate.artifact;
    const name = a.name || a.artifactId;
    const what = a.parts.map(partSummary).join(' ');
    const verb = ev.artifactUpdate.append ? 'appended to' : 'artifact';
    summary = `${verb} ${name}${ev.artifactUpdate.lastChunk ? ' (last chunk)' : ''}: ${what}`;
  } else if ('message' in ev) {
    summary = `${ev.message.role === 'ROLE_USER' ? 'User' : 'Agent'} message: ${messageText(ev.message)}`;
  } else {
    state = ev.task.status.state;
    summary = `Task snapshot · ${stateLabel(state)}`;
  }
  return {
    seq: e.seq,
    kind,
    state,
    summary: clip(summary, 300),
    createdAt: e.createdAt,
    time: formatTime(e.createdAt),
    event: ev,
  };
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

export function partSummary(p: WirePart): string {
  if ('text' in p) return JSON.stringify(clip(p.text, 120));
  if ('url' in p) return p.url;
  if ('data' in p) return clip(JSON.stringify(p.data), 120);
  return `${p.mediaType ?? 'binary'} (${base64Bytes(p.raw)} bytes)`;
}

/** Decoded size of a base64 string. */
export function base64Bytes(b64: string): number {
  const clean = b64.replace(/[^A-Za-z0-9+/=_-]/g, '');
  const pad = clean.endsWith('==') ? 2 : clean.endsWith('=') ? 1 : 0;
  return Math.max(0, Math.floor((clean.length * 3) / 4) - pad);
}

/** A task's title: `metadata.title`, else its first user message (cut at 80 characters). */
export function taskTitle(t: Pick<WireTask, 'metadata' | 'history'>): string | undefined {
  const meta = t.metadata?.['title'];
  if (typeof meta === 'string' && meta.trim()) return meta.trim();
  const text = messageText(t.history?.find((m) => m.role === 'ROLE_USER')).trim();
  if (text) return text.length > 80 ? `${text.slice(0, 79)}…` : text;
  return undefined;
}

/** Text parts of a message joined; empty when there is none. */
export function messageText(m: WireMessage | undefined): string {
  if (!m) return '';
  return m.parts
    .map((p) => ('text' in p ? p.text : ''))
    .filter(Boolean)
    .join('\n');
}

const LABELS: Record<WireTaskState, string> = {
  TASK_STATE_UNSPECIFIED: 'Unknown',
  TASK_STATE_SUBMITTED: 'Submitted',
  TASK_STATE_WORKING: 'Working',
  TASK_STATE_COMPLETED: 'Completed',
  TASK_STATE_FAILED: 'Failed',
  TASK_STATE_CANCELED: 'Canceled',
  TASK_STATE_INPUT_REQUIRED: 'Input required',
  TASK_STATE_REJECTED: 'Rejected',
  TASK_STATE_AUTH_REQUIRED: 'Authorization required',
};

export function stateLabel(state: string | undefined): string {
  if (!state) return 'Waiting';
  return LABELS[state as WireTaskState] ?? state.replace(/^TASK_STATE_/, '').toLowerCase();
}

/** Short lowercase token for CSS / data attributes: `working`, `completed`… */
export function stateToken(state: string | undefined): string {
  return state ? state.replace(/^TASK_STATE_/, '').toLowerCase() : 'unknown';
}
