export * from './a2a.js';
export * from './envelope.js';
export * from './sse.js';
export * from './routes.js';
export * from './errors.js';
export * from './protocol.js';
export * from './limits.js';
export * from './client.js';
