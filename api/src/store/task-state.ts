import {
  isTerminalState,
  type WireArtifact,
  type WireMessage,
  type WirePart,
  type WireStreamResponse,
  type WireTaskStatus,
} from '@orchestrator-ai/transport-types';

/** The parts of a task document that events change. */
export interface TaskState {
  status: WireTaskStatus;
  artifacts: WireArtifact[];
  history: WireMessage[];
  final: boolean;
}

const MAX_HISTORY = 100;
/**
 * Text an artifact may hold in the snapshot. Beyond it the snapshot stops growing (and says so in
 * the artifact's metadata): rewriting an ever larger document on every append is quadratic, and
 * a document is capped at 16 MB. The events still carry every chunk.
 */
export const MAX_SNAPSHOT_ARTIFACT_CHARS = 512 * 1024;

/**
 * Folds one stream event into the task snapshot. Consecutive text chunks of an appended
 * artifact are merged, so a snapshot stays one part per chunk run, not one per chunk.
 */
export function applyEvent(state: TaskState, event: WireStreamResponse): TaskState {
  if ('statusUpdate' in event) {
    const status = event.statusUpdate.status;
    const history = status.message ? capHistory([...state.history, status.message]) : state.history;
    return { ...state, status, history, final: isTerminalState(status.state) };
  }
  if ('artifactUpdate' in event) {
    const { artifact, append } = event.artifactUpdate;
    return { ...state, artifacts: mergeArtifact(state.artifacts, artifact, Boolean(append)) };
  }
  if ('message' in event) return { ...state, history: capHistory([...state.history, event.message]) };
  return {
    status: event.task.status,
    artifacts: event.task.artifacts ?? state.artifacts,
    history: event.task.history ?? state.history,
    final: isTerminalState(event.task.status.state),
  };
}

function capHistory(history: WireMessage[]): WireMessage[] {
  return history.length > MAX_HISTORY ? history.slice(-MAX_HISTORY) : history;
}

function mergeArtifact(artifacts: WireArtifact[], incoming: WireArtifact, append: boolean): WireArtifact[] {
  const index = artifacts.findIndex((a) => a.artifactId === incoming.artifactId);
  if (index === -1) return [...artifacts, incoming];
  const existing = artifacts[index]!;
  let merged: WireArtifact = incoming;
  if (append) {
    merged =
      textLength(existing.parts) + textLength(incoming.parts) > MAX_SNAPSHOT_ARTIFACT_CHARS
        ? { ...existing, metadata: { ...existing.metadata, snapshotTruncated: true } }
        : { ...existing, ...withoutParts(incoming), parts: appendParts(existing.parts, incoming.parts) };
  }
  return artifacts.map((a, i) => (i === index ? merged : a));
}

/** Text and raw characters in a snapshot's artifacts: what makes a snapshot large. */
export function artifactChars(state: TaskState): number {
  let n = 0;
  for (const artifact of state.artifacts) n += textLength(artifact.parts);
  return n;
}

function textLength(parts: WirePart[]): number {
  let n = 0;
  for (const p of parts) n += 'text' in p ? p.text.length : 'raw' in p ? p.raw.length : 0;
  return n;
}

function withoutParts(artifact: WireArtifact): Omit<WireArtifact, 'parts'> {
  const { parts: _parts, ...rest } = artifact;
  return rest;
}

function appendParts(existing: WirePart[], incoming: WirePart[]): WirePart[] {
  const out = [...existing];
  for (const part of incoming) {
    const last = out[out.length - 1];
    if (last && 'text' in last && 'text' in part && !part.metadata && !last.metadata) {
      out[out.length - 1] = { ...last, text: last.text + part.text };
    } else {
      out.push(part);
    }
  }
  return out;
}
