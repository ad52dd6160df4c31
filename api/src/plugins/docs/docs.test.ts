import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { startTestApp, type TestApp } from '../../test-support/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

describe('API documentation', () => {
  it('serves an OpenAPI 3 document built from the routes, with the SSE format described', async () => {
    const res = await fetch(`${t.baseUrl}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { description?: string }>>;
    };
    expect(doc.openapi).toMatch(/^3\./);
    const paths = Object.keys(doc.paths);
    expect(paths).toContain('/agent-to-agent/{org}/{agent}/tasks/{taskId}/stream');
    expect(paths).toContain('/agent-to-agent/{org}/{agent}/tasks/{taskId}/events');
    expect(JSON.stringify(doc.paths['/agent-to-agent/{org}/{agent}/tasks/{taskId}/stream'])).toContain(
      'Last-Event-ID',
    );
  });

  it('serves browsable docs at /documentation', async () => {
    const res = await fetch(`${t.baseUrl}/documentation`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/swagger/i);
  });
});

describe('Swagger UI assets', () => {
  it('serves the browser bundle without evaluating it in the API process', async () => {
    const res = await fetch(`${t.baseUrl}/swaggerui/swagger-ui-bundle.js`);
    expect(res.status).toBe(200);
    expect((await res.text()).length).toBeGreaterThan(100_000);
    const require = createRequire(import.meta.url);
    const loaded = Object.keys(require.cache).filter((file) => file.includes('swagger-ui-dist'));
    expect(loaded.some((file) => file.endsWith('absolute-path.js'))).toBe(true);
    expect(loaded.filter((file) => /swagger-ui-(bundle|standalone-preset)\.js$/.test(file))).toEqual([]);
  });
});
