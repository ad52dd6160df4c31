import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../test-support/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ LOG_LEVEL: 'debug' });
});
afterAll(() => t?.close());

/** Writes `bytes` on a fresh connection, then resets it (RST) or waits for the server to close it. */
function send(bytes: string, reset: boolean): Promise<void> {
  return new Promise((resolve) => {
    const url = new URL(t.baseUrl);
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(bytes, () => {
        if (reset) setTimeout(() => socket.resetAndDestroy(), 50);
      });
    });
    socket.on('data', () => {});
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    socket.setTimeout(2000, () => socket.destroy());
  });
}

const parsed = (lines: string[]) =>
  lines.map((line) => JSON.parse(line) as { level: number; msg: string; err?: { code?: string } });

async function linesAbout(code: RegExp, before: number) {
  for (let i = 0; i < 50; i++) {
    const found = parsed(t.logs.slice(before)).filter((l) => code.test(l.err?.code ?? ''));
    if (found.length > 0) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
  return [];
}

describe('client connection errors in the log', () => {
  it('logs a client that reset its connection mid-request at debug, not as an error', async () => {
    const before = t.logs.length;
    await send('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Partial: yes', true);
    const lines = await linesAbout(/^ECONNRESET$/, before);
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.every((l) => l.level === 20 && l.msg === 'client connection went away')).toBe(true);
  });

  it('warns about a request the HTTP parser refused', async () => {
    const before = t.logs.length;
    await send('NOT-HTTP at all\r\n\r\n', false);
    const lines = await linesAbout(/^HPE_/, before);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, msg: 'client request refused' });
  });
});
