/**
 * SSE framing. Data is one JSON line: JSON escapes CR, LF and NUL, so content can never end a
 * frame early or forge a field; ids are plain decimal seqs.
 */
export interface SseFrame {
  id?: string | number;
  event?: string;
  data: unknown;
}

export function encodeSseFrame(frame: SseFrame): string {
  let out = '';
  if (frame.event !== undefined) out += `event: ${sanitizeField(frame.event)}\n`;
  if (frame.id !== undefined) out += `id: ${sanitizeField(String(frame.id))}\n`;
  out += `data: ${JSON.stringify(frame.data)}\n\n`;
  return out;
}

export function encodeSseComment(text = ''): string {
  return `: ${sanitizeField(text)}\n\n`;
}

function sanitizeField(value: string): string {
  return value.replace(/[\r\n\0]/g, ' ');
}

/** Parses a Last-Event-ID / lastEventId value: a non-negative safe integer, or undefined if invalid. */
export function parseEventId(value: string | undefined | null): number | undefined {
  if (value === undefined || value === null) return undefined;
  const trimmed = value.trim();
  if (!/^\d{1,16}$/.test(trimmed)) return undefined;
  const n = Number(trimmed);
  return Number.isSafeInteger(n) ? n : undefined;
}
