/** Stable error codes of every REST error body `{ code, message }`. */
export const ErrorCode = {
  BadRequest: 'bad_request',
  InvalidEventId: 'invalid_event_id',
  InvalidEvent: 'invalid_event',
  Unauthorized: 'unauthorized',
  TokenExpired: 'token_expired',
  Forbidden: 'forbidden',
  WrongTask: 'wrong_task',
  NotFound: 'not_found',
  TaskNotFound: 'task_not_found',
  MethodNotAllowed: 'method_not_allowed',
  TaskFinal: 'task_final',
  PayloadTooLarge: 'payload_too_large',
  UnsupportedMediaType: 'unsupported_media_type',
  RateLimited: 'rate_limited',
  TooManyStreams: 'too_many_streams',
  Unavailable: 'unavailable',
  Internal: 'internal',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  statusCode: number;
}
