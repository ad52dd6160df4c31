/**
 * Wire JSON of the A2A binding: our stored ProtoJSON (`Wire*`) ↔ the SDK's ts-proto types, and
 * the normalisation every answer goes through (camelCase keys inside `metadata`, UTC timestamps
 * ending in `Z`). Pure functions; the SDK codecs do the schema work (unknown fields are dropped,
 * snake_case is accepted on the way in).
 */
import {
  Message,
  StreamResponse,
  Task,
  type WireMessage,
  type WireStreamResponse,
  type WireTask,
} from '@orchestrator-ai/transport-types';
import { toWireTask, type WireTaskOptions } from '../../store/task-store.js';
import type { TaskDoc } from '../../db/types.js';

type Json = Record<string, unknown>;

const isPlainObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);

/** `trace_id` → `traceId`; leading/trailing underscores and non-snake keys stay as they are. */
export function camelCaseKey(key: string): string {
  return key.replace(/(?<=[A-Za-z0-9])_+([A-Za-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** Every key of every object below `value` in camelCase; an explicit camelCase key wins a clash. */
export function camelizeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelizeKeys);
  if (!isPlainObject(value)) return value;
  const out: Json = {};
  for (const [key, v] of Object.entries(value)) if (camelCaseKey(key) === key) out[key] = camelizeKeys(v);
  for (const [key, v] of Object.entries(value)) {
    const camel = camelCaseKey(key);
    if (camel !== key && !(camel in out)) out[camel] = camelizeKeys(v);
  }
  return out;
}

/** Any parseable timestamp as ISO 8601 UTC with milliseconds (`…Z`); anything else unchanged. */
export function toUtcTimestamp(value: string): string {
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(value)) return value;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? value : new Date(ms).toISOString();
}

/**
 * Normalises A2A response JSON (a Task, StreamResponse, ListTasksResponse…): keys inside every
 * `metadata` become camelCase, `timestamp` fields become UTC `…Z`. A data part's `data` is the
 * client's payload and is left exactly as sent.
 */
export function normaliseResponseJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normaliseResponseJson);
  if (!isPlainObject(value)) return value;
  const out: Json = {};
  for (const [key, v] of Object.entries(value)) {
    if (key === 'metadata') out[key] = camelizeKeys(v);
    else if (key === 'data') out[key] = v;
    else if (key === 'timestamp' && typeof v === 'string') out[key] = toUtcTimestamp(v);
    else out[key] = normaliseResponseJson(v);
  }
  return out;
}

/** A task document as the SDK's `Task` (our endpoints and seq under `metadata`). */
export function taskFromDoc(doc: TaskDoc, options: WireTaskOptions = {}): Task {
  return wireTaskToSdk(toWireTask(doc, options));
}

export function wireTaskToSdk(task: WireTask): Task {
  return Task.fromJSON(task);
}

/** A stored stream event as the SDK's `StreamResponse`. */
export function wireEventToSdk(event: WireStreamResponse): StreamResponse {
  return StreamResponse.fromJSON(event);
}

/** An SDK message as we store it (ProtoJSON, camelCase metadata). */
export function messageToWire(message: Message): WireMessage {
  const json = Message.toJSON(message) as WireMessage;
  return json.metadata ? { ...json, metadata: camelizeKeys(json.metadata) as Json } : json;
}

export function wireMessageToSdk(message: WireMessage): Message {
  return Message.fromJSON(message);
}

/**
 * `historyLength` as A2A defines it: unset = everything we keep, 0 = none, N = the N most recent.
 * Negative values are the caller's to reject.
 */
export function historyOptions(historyLength: number | undefined): WireTaskOptions {
  return historyLength === undefined ? {} : { historyLength };
}
