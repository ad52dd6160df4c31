import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The component library, two ways (`vite build --config vite.lib.config.ts --mode <mode>`):
 *
 * - `lib`: `dist/lib/index.js`, an ES module with Lit left external, for apps with a bundler
 *   that already ship Lit.
 * - `bundle`: `dist/lib/a2a-components.js`, one self-contained ES module (Lit inlined) that a
 *   foreign page loads with a single `<script type="module" src="…">`.
 *
 * Declarations come from `tsc -b web` (`dist/types`).
 */
export default defineConfig(({ mode }) => {
  const bundle = mode === 'bundle';
  return {
    root: fileURLToPath(new URL('.', import.meta.url)),
    publicDir: false,
    build: {
      outDir: 'dist/lib',
      emptyOutDir: !bundle,
      target: 'es2022',
      sourcemap: true,
      copyPublicDir: false,
      lib: {
        entry: fileURLToPath(new URL('src/index.ts', import.meta.url)),
        formats: ['es'],
        fileName: () => (bundle ? 'a2a-components.js' : 'index.js'),
      },
      rolldownOptions: {
        external: bundle ? [] : [/^lit(\/|$)/, /^@lit\//, /^lit-html(\/|$)/, /^lit-element(\/|$)/],
        // The bundle ships as it is: minify whitespace too (Vite keeps ES lib output readable).
        output: bundle ? { codeSplitting: false, minify: true } : {},
      },
    },
  };
});
