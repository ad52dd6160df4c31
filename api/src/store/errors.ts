import { Boom } from '@hapi/boom';
import { ErrorCode } from '@orchestrator-ai/transport-types';

/** A domain failure carrying its HTTP status and stable code (`error.data.code`). */
export function domainError(code: ErrorCode, statusCode: number, message: string): Boom<{ code: ErrorCode }> {
  return new Boom(message, { statusCode, data: { code } });
}

export function errorCodeOf(error: unknown): ErrorCode | undefined {
  return (error as { data?: { code?: ErrorCode } } | null)?.data?.code;
}

export const taskNotFound = () => domainError(ErrorCode.TaskNotFound, 404, 'Task not found');
export const taskFinal = () =>
  domainError(ErrorCode.TaskFinal, 409, 'The task is in a final state and accepts no more events');
export const invalidEvent = (message: string) => domainError(ErrorCode.InvalidEvent, 400, message);
