import http from 'node:http';

/**
 * A minimal SSE reader on node:http for the load generators: thousands of them must cost the
 * generator little, so no EventSource/fetch machinery. Dispatches `(id, data)` per event frame;
 * comments (heartbeats) and `retry:` lines are skipped.
 */
export interface SseOptions {
  host: string;
  port: number;
  path: string;
  localAddress?: string | undefined;
  headers?: Record<string, string>;
  onFrame(id: string | undefined, data: string): void;
  onHeaders?(status: number): void;
  onClose?(error?: Error): void;
}

export interface SseConnection {
  close(): void;
}

export function openSse(options: SseOptions): SseConnection {
  let closed = false;
  const done = (error?: Error) => {
    if (closed) return;
    closed = true;
    options.onClose?.(error);
  };
  const req = http.request({
    host: options.host,
    port: options.port,
    path: options.path,
    method: 'GET',
    agent: false,
    localAddress: options.localAddress,
    headers: { accept: 'text/event-stream', ...options.headers },
  });
  req.on('response', (res) => {
    options.onHeaders?.(res.statusCode ?? 0);
    if (res.statusCode !== 200) {
      res.resume();
      done(new Error(`HTTP ${res.statusCode}`));
      req.destroy();
      return;
    }
    res.setEncoding('utf8');
    let buffer = '';
    let bytes = 0;
    res.on('data', (chunk: string) => {
      bytes += chunk.length;
      buffer += chunk;
      let end = buffer.indexOf('\n\n');
      while (end !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        parseBlock(block, options.onFrame);
        end = buffer.indexOf('\n\n');
      }
    });
    const ended = (how: string) => () =>
      done(
        new Error(
          `stream ${how} by the server after ${bytes} bytes (${String(res.headers['content-type'])}${bytes ? `: ${JSON.stringify(buffer.slice(0, 80))}` : ''})`,
        ),
      );
    res.on('end', ended('ended'));
    res.on('error', (e) => done(e));
    res.on('close', ended('closed'));
  });
  req.on('error', (e) => done(e));
  req.end();
  return {
    close() {
      closed = true;
      req.destroy();
    },
  };
}

function parseBlock(block: string, onFrame: (id: string | undefined, data: string) => void): void {
  let id: string | undefined;
  let data: string | undefined;
  for (const line of block.split('\n')) {
    if (line.startsWith('data:')) {
      const v = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
      data = data === undefined ? v : `${data}\n${v}`;
    } else if (line.startsWith('id:')) {
      id = line.charCodeAt(3) === 32 ? line.slice(4) : line.slice(3);
    }
  }
  if (data !== undefined) onFrame(id, data);
}
