let timeFormat: Intl.DateTimeFormat | undefined;

/** `14:03:07` in the reader's locale; empty for a missing or bad timestamp. */
export function formatTime(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  timeFormat ??= new Intl.DateTimeFormat(undefined, {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  return timeFormat.format(d);
}

/** `3 min ago`, `just now`… for task lists. */
export function formatAge(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '';
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return '';
  const s = Math.round((now - t) / 1000);
  if (s < 10) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(t).toLocaleDateString();
}

/**
 * The last `limit` characters of a text, started at a line or word boundary when one is near, so
 * the shown end does not begin mid-word.
 */
export function tailOf(text: string, limit: number): string {
  if (text.length <= limit) return text;
  const start = text.length - limit;
  const head = text.slice(start, start + Math.min(200, Math.floor(limit / 4)));
  const line = head.indexOf('\n');
  if (line >= 0) return text.slice(start + line + 1);
  const space = head.search(/\s/);
  return space >= 0 ? text.slice(start + space + 1) : text.slice(start);
}
