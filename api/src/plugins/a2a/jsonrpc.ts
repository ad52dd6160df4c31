/**
 * JSON-RPC envelopes the route writes itself: before the SDK's transport handler runs (401, bad
 * JSON, wrong content type, version) and for hapi's own errors on the route.
 */
import type { Boom } from '@hapi/boom';
import { A2A_ERROR_CODE, ContentTypeNotSupportedError } from '@a2a-js/sdk/errors';
import { JsonRpcTransportHandler } from '@a2a-js/sdk/server';

export type JsonRpcId = string | number | null;

export interface JsonRpcError {
  code: number;
  message: string;
  data?: unknown[];
}

export interface JsonRpcResponse {
  jsonrpc: '2.0';
  id: JsonRpcId;
  result?: unknown;
  error?: JsonRpcError;
}

/**
 * Errors A2A leaves to the implementation (JSON-RPC's "server error" code; the A2A-specific range
 * starts at -32001). `data[0]` is a `google.rpc.ErrorInfo` naming which one.
 */
export const SERVER_ERROR_CODE = -32000;
export const ERROR_DOMAIN = 'orchestrator-ai';

export function envelope(id: JsonRpcId, error: JsonRpcError): JsonRpcResponse {
  return { jsonrpc: '2.0', id, error };
}

export function serverError(reason: 'UNAUTHENTICATED' | 'RESOURCE_EXHAUSTED', message: string): JsonRpcError {
  return {
    code: SERVER_ERROR_CODE,
    message,
    data: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason, domain: ERROR_DOMAIN }],
  };
}

/** The request's id when the body is a request object with a valid one; else null. */
export function requestId(payload: unknown): JsonRpcId {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return null;
  const id = (payload as { id?: unknown }).id;
  if (typeof id === 'string' || (typeof id === 'number' && Number.isInteger(id))) return id;
  return null;
}

/** An error as A2A's JSON-RPC error object (the SDK's own mapping). */
export function toJsonRpcError(error: unknown): JsonRpcError {
  return JsonRpcTransportHandler.mapToJSONRPCError(error) as JsonRpcError;
}

/**
 * hapi's errors on the route (payload, auth, validation, limits) as an HTTP status plus the
 * JSON-RPC error to send with it.
 */
export function fromBoom(error: Boom): { status: number; error: JsonRpcError } {
  const status = error.output.statusCode;
  switch (status) {
    case 400:
      return { status: 200, error: { code: A2A_ERROR_CODE.INVALID_REQUEST, message: error.message } };
    case 401:
      return { status, error: serverError('UNAUTHENTICATED', 'A valid Bearer token is required') };
    case 413:
      return {
        status,
        error: {
          code: A2A_ERROR_CODE.PARSE_ERROR,
          message: 'The request body is too large and was not parsed',
        },
      };
    case 415:
      return {
        status: 200,
        error: toJsonRpcError(new ContentTypeNotSupportedError('The request body must be application/json')),
      };
    case 429:
      return { status, error: serverError('RESOURCE_EXHAUSTED', String(error.output.payload.message)) };
    default:
      if (status >= 500)
        return { status: 500, error: { code: A2A_ERROR_CODE.INTERNAL_ERROR, message: 'Internal error' } };
      return { status: 200, error: { code: A2A_ERROR_CODE.INVALID_REQUEST, message: error.message } };
  }
}
