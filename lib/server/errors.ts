// The one place where error codes become HTTP statuses and the seed's error object
// {"error":{"code","message","details"}}. The OpenAI routes reshape the same mapping.
import { ShimmyError, type ErrorCode } from '../engine/errors.js';

/** Codes the server adds to the seed's four (documented in the README). */
export type WireCode = 'model_not_found' | 'invalid_request' | 'generation_failed' | 'server_error' | 'overloaded' | 'unauthorized' | 'not_found' | 'payload_too_large';

export interface WireError {
  status: number;
  code: WireCode;
  message: string;
  details: string;
  headers?: Record<string, string>;
}

const messages: Record<WireCode, string> = {
  model_not_found: 'The specified model was not found',
  invalid_request: 'Request format is invalid',
  generation_failed: 'Text generation failed',
  server_error: 'Internal server error',
  overloaded: 'The server is busy; retry shortly',
  unauthorized: 'A valid API key is required',
  not_found: 'No such endpoint',
  payload_too_large: 'The request body is too large',
};

const byEngineCode: Record<ErrorCode, [number, WireCode]> = {
  model_not_found: [404, 'model_not_found'],
  invalid_model: [500, 'generation_failed'],
  invalid_request: [400, 'invalid_request'],
  context_overflow: [400, 'invalid_request'],
  queue_full: [503, 'overloaded'],
  aborted: [500, 'server_error'],
  model_closed: [503, 'overloaded'],
  generation_failed: [500, 'generation_failed'],
  context_failed: [500, 'generation_failed'],
  invalid_argument: [500, 'server_error'],
};

export function wireError(code: WireCode, details: string, status?: number): WireError {
  const defaults: Record<WireCode, number> = {
    model_not_found: 404, invalid_request: 400, generation_failed: 500, server_error: 500,
    overloaded: 503, unauthorized: 401, not_found: 404, payload_too_large: 413,
  };
  const error: WireError = { status: status ?? defaults[code], code, message: messages[code], details };
  if (code === 'overloaded') error.headers = { 'Retry-After': '1' };
  return error;
}

export function toWireError(error: unknown): WireError {
  if (error instanceof ShimmyError) {
    const [status, code] = byEngineCode[error.code];
    return wireError(code, error.message, status);
  }
  return wireError('server_error', error instanceof Error ? error.message : String(error));
}

export function errorBody(e: WireError): { error: { code: string; message: string; details: string } } {
  return { error: { code: e.code, message: e.message, details: e.details } };
}
