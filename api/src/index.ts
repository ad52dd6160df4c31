export { createServer, type App, type AppDependencies } from './server.js';
export { loadConfig, type Config } from './config.js';
export { startDatabaseServer } from './db/launcher.js';
export { connectDatabase } from './db/connect.js';
export { runMigrations } from './db/migrations.js';
export { createLogger } from './logging.js';
