import type { Server } from '@hapi/hapi';
import type { Logger } from 'pino';

/** A peer that reset or dropped its connection: a closed tab, a lost network, a proxy timing out. */
const WENT_AWAY = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'ERR_STREAM_PREMATURE_CLOSE']);

/**
 * hapi reports Node's `clientError` tagged `error`, which hapi-pino writes at level error: every
 * stream a client dropped with a reset became an error line (2,000 when a load generator closed
 * its subscribers), burying real errors. A connection that went away is routine and logged at
 * debug; a request Node's parser refused is worth a warning. The error's raw bytes (headers,
 * tokens) are redacted by the logger like every other line.
 */
export function logClientErrors(server: Server, logger: Logger): void {
  server.events.on({ name: 'log', channels: 'internal', filter: 'client' }, (event) => {
    const err = event.error as NodeJS.ErrnoException | undefined;
    if (!err) return;
    if (err.code !== undefined && WENT_AWAY.has(err.code))
      logger.debug({ err, tags: event.tags }, 'client connection went away');
    else logger.warn({ err, tags: event.tags }, 'client request refused');
  });
}

/** For hapi-pino's `ignoredEventTags`: these events are logged by `logClientErrors` instead. */
export const CLIENT_ERROR_TAGS = ['client'];
