import type { Boom } from '@hapi/boom';
import type { Plugin, Request, ResponseToolkit } from '@hapi/hapi';
import { ErrorCode, type ErrorBody } from '@orchestrator-ai/transport-types';

const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: ErrorCode.BadRequest,
  401: ErrorCode.Unauthorized,
  403: ErrorCode.Forbidden,
  404: ErrorCode.NotFound,
  405: ErrorCode.MethodNotAllowed,
  409: ErrorCode.TaskFinal,
  413: ErrorCode.PayloadTooLarge,
  415: ErrorCode.UnsupportedMediaType,
  429: ErrorCode.RateLimited,
  503: ErrorCode.Unavailable,
};

const KNOWN_CODES = new Set<unknown>(Object.values(ErrorCode));

/**
 * One error mapper for every route, hapi's own errors included: `{ code, message, statusCode }`.
 * Messages of 5xx never leave the server; client errors keep hapi's message, which names fields
 * but never echoes their values.
 */
export const errorsPlugin: Plugin<void> = {
  name: 'errors',
  register(server) {
    server.ext('onPreResponse', (request: Request, h: ResponseToolkit) => {
      const response = request.response;
      if (!('isBoom' in response) || !response.isBoom) return h.continue;
      const body = toErrorBody(response);
      // The JSON reply below replaces the Boom, so hapi no longer logs the cause of a 5xx: log it here.
      if (body.statusCode >= 500) request.log(['error'], response);
      const reply = h.response(body).code(body.statusCode);
      for (const [name, value] of Object.entries(response.output.headers)) {
        if (name.toLowerCase() !== 'content-type' && value !== undefined) reply.header(name, String(value));
      }
      return reply;
    });
  },
};

export function toErrorBody(error: Boom): ErrorBody {
  const statusCode = error.output.statusCode;
  if (statusCode >= 500) {
    return {
      statusCode,
      code: statusCode === 503 ? ErrorCode.Unavailable : ErrorCode.Internal,
      message: 'Internal server error',
    };
  }
  // Only our own codes: hapi's and Node's errors carry theirs in `data` too (e.g. zlib's Z_DATA_ERROR).
  const dataCode = (error.data as { code?: unknown } | null | undefined)?.code;
  const code =
    (KNOWN_CODES.has(dataCode) ? (dataCode as ErrorCode) : undefined) ??
    CODE_BY_STATUS[statusCode] ??
    ErrorCode.BadRequest;
  const message = String(error.output.payload.message ?? error.message);
  return { statusCode, code, message };
}
