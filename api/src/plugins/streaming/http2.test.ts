import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http2 from 'node:http2';
import https from 'node:https';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestApp, status, textChunk, type TestApp } from '../../test-support/app.js';

const tlsDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-support', 'tls');

/** Reads an SSE stream over HTTP/2 until `until` says stop or the server ends it. */
function readH2(
  url: URL,
  headers: Record<string, string>,
  until: (text: string) => boolean,
  timeoutMs = 5000,
) {
  return new Promise<{ status: number; protocol: string; text: string; ended: boolean }>(
    (resolve, reject) => {
      const client = http2.connect(url.origin, { rejectUnauthorized: false });
      client.on('error', reject);
      const req = client.request({ ':path': url.pathname + url.search, ...headers });
      let text = '';
      let statusCode = 0;
      const finish = (ended: boolean) => {
        clearTimeout(timer);
        req.close();
        client.close();
        resolve({ status: statusCode, protocol: 'h2', text, ended });
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      req.on('response', (h) => (statusCode = Number(h[':status'])));
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => {
        text += chunk;
        if (until(text)) finish(false);
      });
      req.on('end', () => finish(true));
    },
  );
}

function readH1(
  url: URL,
  headers: Record<string, string>,
  until: (text: string) => boolean,
  timeoutMs = 5000,
) {
  return new Promise<{ status: number; protocol: string; text: string; ended: boolean }>(
    (resolve, reject) => {
      const req = https.get(url, { headers, rejectUnauthorized: false }, (res) => {
        let text = '';
        const finish = (ended: boolean) => {
          clearTimeout(timer);
          res.destroy();
          resolve({ status: res.statusCode ?? 0, protocol: `http/${res.httpVersion}`, text, ended });
        };
        const timer = setTimeout(() => finish(false), timeoutMs);
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          if (until(text)) finish(false);
        });
        res.on('end', () => finish(true));
      });
      req.on('error', reject);
    },
  );
}

const ids = (text: string) => [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));

describe('HTTP/2 over TLS (HTTP/1.1 still allowed)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      TLS_CERT_FILE: join(tlsDir, 'cert.pem'),
      TLS_KEY_FILE: join(tlsDir, 'key.pem'),
      SSE_HEARTBEAT_SECONDS: '0.2',
    });
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
  });
  afterAll(async () => {
    delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    await t.close();
  });

  for (const [name, read] of [
    ['HTTP/2', readH2],
    ['HTTP/1.1', readH1],
  ] as const) {
    it(`streams, resumes and beats over ${name}`, async () => {
      expect(t.baseUrl.startsWith('https://')).toBe(true);
      const task = await t.createTask();
      await t.append(task.id, {
        events: [status('TASK_STATE_WORKING', 'go'), textChunk('a', false), textChunk('b')],
      });
      const token = await t.streamToken(task.id);
      const url = new URL(t.streamUrl(task.id, { token }));

      const first = await read(
        url,
        { 'last-event-id': '0' },
        (text) => ids(text).includes(3) && /^:\s*$/m.test(text.split('id: 3')[1] ?? ''),
        3000,
      );
      expect(first.status).toBe(200);
      expect(first.protocol).toBe(name === 'HTTP/2' ? 'h2' : 'http/1.1');
      expect(ids(first.text)).toEqual([0, 1, 2, 3]);
      // A heartbeat comment after the last event.
      expect(first.text.split('id: 3')[1]).toMatch(/^:\s*$/m);

      await t.append(task.id, { events: [textChunk('c'), status('TASK_STATE_COMPLETED', 'done')] });
      const resumed = await read(url, { 'last-event-id': '3' }, () => false);
      expect(ids(resumed.text)).toEqual([3, 4, 5]);
      expect(resumed.ended).toBe(true);
      // Already at the final event: 204.
      const done = await read(url, { 'last-event-id': '5' }, () => false);
      expect(done.status).toBe(204);
    });
  }
});
