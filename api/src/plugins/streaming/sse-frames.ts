import type { HubEvent } from '../../hub/hub.js';

/**
 * SSE wire frames. Event data is JSON, which never contains a raw CR or LF, so every event is a
 * single `data:` line and needs no splitting.
 */
export function eventFrame(seq: number, json: string): string {
  return `id: ${seq}\ndata: ${json}\n\n`;
}

/** A live event's frame, built once and shared by every stream of the task. */
export function hubEventFrame(event: HubEvent): Buffer {
  return (event.frame ??= Buffer.from(eventFrame(event.seq, event.json)));
}

export const HEARTBEAT_FRAME = Buffer.from(':\n\n');

export function commentFrame(text: string): string {
  return `: ${text.replace(/[\r\n]+/g, ' ')}\n\n`;
}

/** What every stream starts with: the reconnect delay and a comment that flushes proxies. */
export function preambleFrame(retryMs: number): string {
  return `retry: ${retryMs}\n: ok\n\n`;
}
