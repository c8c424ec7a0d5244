// Errors on the wire: every throw becomes a ShimmyError (an HttpError when the server raised it),
// and each protocol's error body is made here from the registry (lib/engine/errors.ts): the shimmy
// API's {"error":{"code","message","details"}}, OpenAI's {"error":{"message","type","param","code"}}
// and Anthropic's {"type":"error","error":{"type","message"}}.
import { errorEntry, errorRegistry, ShimmyError, type ErrorCode, type SentCode } from '../engine/errors.js';

/** An error the server itself raises (a refused body, route or key); answered as every ShimmyError is. */
export class HttpError extends ShimmyError {
  override name = 'HttpError';
}

export const httpError = (code: ErrorCode, details: string) => new HttpError(code, details);

/** A generation the server stopped (a shutdown): no dialect has a finish reason for it, so it is an error. */
export const shutdownCancelled = () => httpError('overloaded', 'the generation was cancelled: the server is shutting down');

/** Any throw as a ShimmyError: its own code when it has one, else server_error. */
export function asShimmyError(error: unknown): ShimmyError {
  if (error instanceof ShimmyError) return error;
  return new ShimmyError('server_error', error instanceof Error ? error.message : String(error));
}

export const statusOf = (e: ShimmyError): number => errorEntry(e.code).status;

/** The headers an error's response carries: Retry-After for the transient refusals. */
export const headersOf = (e: ShimmyError): Record<string, string> => ('retry' in errorRegistry[e.code] ? { 'Retry-After': '1' } : {});

/** The code a seed error object carries for `e`. */
export function sentCode(e: ShimmyError): SentCode {
  const entry = errorEntry(e.code);
  return entry.sentAs ?? (e.code as SentCode);
}

export function errorBody(e: ShimmyError): { error: { code: string; message: string; details: string } } {
  const code = sentCode(e);
  return { error: { code, message: errorEntry(code).title!, details: e.message } };
}

export function openAiErrorBody(e: ShimmyError) {
  return { error: { message: e.message || errorEntry(sentCode(e)).title!, type: errorEntry(e.code).openAiType, param: null, code: sentCode(e) } };
}

// Anthropic's error types go by status (its clients pick the exception class by the status too).
const anthropicTypes: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  405: 'invalid_request_error',
  413: 'request_too_large',
  503: 'overloaded_error',
};

export function anthropicErrorBody(e: ShimmyError) {
  return { type: 'error', error: { type: anthropicTypes[statusOf(e)] ?? 'api_error', message: e.message || errorEntry(sentCode(e)).title! } };
}
