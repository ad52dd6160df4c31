import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_AGENT, DEMO_ORG } from '@orchestrator-ai/transport-types';
import { ConfigError, loadConfig } from './config.js';
import { connectDatabase } from './db/connect.js';
import { startDatabaseServer } from './db/launcher.js';
import { runMigrations } from './db/migrations.js';
import { createLogger } from './logging.js';
import { createServer } from './server.js';

/** `npm start`: database (external or embedded), migrations, the API with the demo app. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`Configuration error: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel });
  const here = dirname(fileURLToPath(import.meta.url));
  const defaultWebRoot = join(here, '..', '..', 'web', 'dist', 'app');
  config.webRoot ??= existsSync(defaultWebRoot) ? defaultWebRoot : undefined;

  const dbServer = await startDatabaseServer({ logger });
  const database = await connectDatabase(dbServer.uri, dbServer.kind);
  const applied = await runMigrations(database.db, logger);
  logger.info({ applied }, applied.length ? 'migrations applied' : 'migrations up to date');

  const app = await createServer({ config, database, logger });
  await app.server.start();

  logger.info(
    {
      authMode: config.authMode,
      jwt: config.jwksUri
        ? 'jwks'
        : config.jwtPublicKey
          ? 'public-key'
          : config.jwtSecretGenerated
            ? 'generated-secret'
            : 'JWT_SECRET',
      devTokenRoute: config.authMode === 'dev',
      simulator: config.simulator,
    },
    'auth mode',
  );
  logger.info(
    {
      messageTtlMinutes: config.taskMessageTtlMinutes,
      streamTokenTtlSeconds: config.streamTokenTtlSeconds,
      snapshotDelayMs: config.snapshotDelayMs,
      snapshotContentDelayMs: config.snapshotContentDelayMs,
    },
    'retention and snapshot pace',
  );
  logger.info({ uri: app.server.info.uri, demo: Boolean(config.webRoot) }, 'listening');

  const url = `${app.server.info.uri}/`;
  process.stdout.write(
    `\n  Orchestrator task streaming is running.\n  Demo:   ${url}${config.webRoot ? '' : '  (demo app not built: npm run build)'}\n  Agent:  ${app.server.info.uri}/agent-to-agent/${DEMO_ORG}/${DEMO_AGENT}\n\n`,
  );
  if (config.openBrowser && config.webRoot) openBrowser(url);

  const shutdown = async (signal: string) => {
    logger.info({ signal }, 'shutting down');
    await app.server.stop({ timeout: 5000 });
    await database.close();
    await dbServer.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}

function openBrowser(url: string): void {
  const command =
    process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'start' : 'xdg-open';
  try {
    const child = spawn(command, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => undefined);
    child.unref();
  } catch {
    // No desktop to open a browser in: the URL is printed above.
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
