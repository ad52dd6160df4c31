import pino, { type Logger } from 'pino';

/** Every place a token could appear in a log line: query values, auth headers, cookies, raw packets. */
export const REDACT_PATHS = [
  'req.query.token',
  'req.headers.authorization',
  'req.headers.cookie',
  // Node's HTTP parser errors (clientError) carry the raw request bytes: headers and query included.
  'err.rawPacket',
  'queryParams.token',
  'request.query.token',
  'token',
  '*.token',
];

export function createLogger(options: { level: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { service: 'orchestrator-api' },
    },
    options.destination ?? pino.destination(1),
  );
}

/** A URL with any `token` query value replaced, for our own messages. */
export function scrubUrl(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, '$1[redacted]');
}
