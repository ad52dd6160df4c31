import { createRequire, Module } from 'node:module';

/**
 * hapi-swagger only needs `swagger-ui-dist` for the folder of its browser files, but that
 * package's entry point also evaluates the whole Swagger UI bundle in Node: 10 MB of heap kept
 * for the life of the process and about 0.4 s of start-up, for code that only ever runs in the
 * browser. Imported before hapi-swagger, this module puts in its place an entry point holding the
 * folder alone; the files are still served from that folder.
 */
const requireFromSwagger = createRequire(createRequire(import.meta.url).resolve('hapi-swagger'));
const entry = requireFromSwagger.resolve('swagger-ui-dist');

if (!requireFromSwagger.cache[entry]) {
  const getAbsoluteFSPath = requireFromSwagger('swagger-ui-dist/absolute-path.js') as () => string;
  const assetsOnly = new Module(entry);
  assetsOnly.filename = entry;
  assetsOnly.loaded = true;
  assetsOnly.exports = { getAbsoluteFSPath, absolutePath: getAbsoluteFSPath };
  requireFromSwagger.cache[entry] = assetsOnly;
}
