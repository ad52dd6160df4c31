import { defineConfig } from 'vite';

/**
 * Standalone build of the Service Worker into `dist/sw.js` (one classic script, no imports), for
 * tests and for hosts that serve it themselves. The web app builds the same entry through
 * vite-plugin-pwa (`strategies: 'injectManifest'`), which fills `self.__WB_MANIFEST`; here it
 * stays undefined and the worker precaches nothing.
 */
export default defineConfig({
  define: { 'process.env.NODE_ENV': JSON.stringify('production') },
  build: {
    outDir: 'dist',
    emptyOutDir: false,
    target: 'es2022',
    sourcemap: true,
    minify: true,
    copyPublicDir: false,
    rolldownOptions: {
      input: 'src/worker/sw.ts',
      output: { format: 'iife', entryFileNames: 'sw.js' },
    },
  },
});
