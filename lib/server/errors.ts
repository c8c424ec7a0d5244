// The one place where errors become HTTP statuses and bodies: the shimmy API's error object
// {"error":{"code","message","details"}} and OpenAI's {"error":{"message","type","param","code"}}.
// Engine codes (lib/engine/errors.ts) map to wire codes in one table.
import { ShimmyError, type ErrorCode } from '../engine/errors.js';

/** The seed's four codes, then those the server adds (documented in the README). */
const wire = {
  model_not_found: [404, 'The specified model was not found'],
  invalid_request: [400, 'Request format is invalid'],
  generation_failed: [500, 'Text generation failed'],
  server_error: [500, 'Internal server error'],
  overloaded: [503, 'The server is busy; retry shortly'],
  unauthorized: [401, 'A valid API key is required'],
  forbidden: [403, 'This client is not allowed'],
  not_found: [404, 'No such endpoint'],
  method_not_allowed: [405, 'This endpoint does not take that method'],
  payload_too_large: [413, 'The request body is too large'],
  worker_unavailable: [503, 'An RPC worker holding part of the model cannot be reached'],
} as const satisfies Record<string, readonly [number, string]>;

export type WireCode = keyof typeof wire;

export interface WireError {
  status: number;
  code: WireCode;
  message: string;
  details: string;
  headers?: Record<string, string>;
}

const byEngineCode: Record<ErrorCode, WireCode> = {
  model_not_found: 'model_not_found',
  invalid_model: 'generation_failed',
  invalid_request: 'invalid_request',
  context_overflow: 'invalid_request',
  queue_full: 'overloaded',
  aborted: 'server_error',
  model_closed: 'overloaded',
  generation_failed: 'generation_failed',
  context_failed: 'generation_failed',
  invalid_argument: 'server_error',
  worker_unavailable: 'worker_unavailable',
};

export function wireError(code: WireCode, details: string): WireError {
  const [status, message] = wire[code];
  const error: WireError = { status, code, message, details };
  if (code === 'overloaded') error.headers = { 'Retry-After': '1' };
  return error;
}

export function isWireError(error: unknown): error is WireError {
  const e = error as Partial<WireError> | null;
  return typeof e === 'object' && e !== null && typeof e.status === 'number' && typeof e.code === 'string' && e.code in wire && typeof e.details === 'string';
}

/** Any throw as a wire error: engine errors by their code, anything else as server_error. */
export function asWireError(error: unknown): WireError {
  if (isWireError(error)) return error;
  if (error instanceof ShimmyError) return wireError(byEngineCode[error.code], error.message);
  return wireError('server_error', error instanceof Error ? error.message : String(error));
}

export function errorBody(e: WireError): { error: { code: string; message: string; details: string } } {
  return { error: { code: e.code, message: e.message, details: e.details } };
}

const openAiType: Partial<Record<number, string>> = { 400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error', 404: 'not_found_error', 413: 'invalid_request_error' };

export function openAiErrorBody(e: WireError) {
  return { error: { message: e.details || e.message, type: openAiType[e.status] ?? 'server_error', param: null, code: e.code } };
}
