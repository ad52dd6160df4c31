import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, type PluginOption } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';

/**
 * The demo app: `vite build` → `web/dist/app` (served by the API at `/`), with the Service
 * Worker built from `sw/src/worker/sw.ts` into `web/dist/app/sw.js` (workbox injectManifest:
 * `self.__WB_MANIFEST` holds the app's files for precaching). `vite` (dev) proxies the API on
 * :3000; the worker is not built in dev, so the page client falls back to a direct connection.
 *
 * The library builds are in vite.lib.config.ts.
 */
const here = fileURLToPath(new URL('.', import.meta.url));
const swDir = fileURLToPath(new URL('../sw/src/worker', import.meta.url));
const swEntry = `${swDir}/sw.ts`;
const api = process.env['API_URL'] ?? `http://127.0.0.1:${process.env['PORT'] ?? 3000}`;

function worker(): PluginOption {
  if (!existsSync(swEntry)) {
    console.warn(
      `[web] ${swEntry} not found: building the app without /sw.js (the client falls back to direct).`,
    );
    return [];
  }
  return VitePWA({
    strategies: 'injectManifest',
    srcDir: swDir,
    filename: 'sw.ts',
    outDir: fileURLToPath(new URL('dist/app', import.meta.url)),
    injectRegister: false,
    manifest: false,
    injectManifest: {
      rollupFormat: 'iife',
      globPatterns: ['**/*.{js,css,html,svg,png,ico,woff2}'],
      globIgnores: ['sw.js'],
      maximumFileSizeToCacheInBytes: 2 * 1024 * 1024,
    },
    devOptions: { enabled: false },
  });
}

export default defineConfig({
  root: here,
  base: '/',
  build: {
    outDir: 'dist/app',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
  },
  plugins: [worker()],
  server: {
    proxy: Object.fromEntries(
      ['/agent-to-agent', '/auth', '/metrics', '/healthz', '/readyz', '/documentation'].map((p) => [
        p,
        { target: api, changeOrigin: false },
      ]),
    ),
  },
});
