// The one registry of error codes: what each means, who raises it (the library, or only the
// server), the HTTP status it answers with, the code the seed's error object sends for it, and
// OpenAI's error type. Every wire body (lib/server/errors.ts), the README's error tables
// (scripts/doc-tables.mjs) and native/napi/error_codes.h (checked by test/unit/errors.test.mjs) follow it.

interface ErrorEntry {
  /** Raised by the library (`ShimmyError` from loadModel, generate…) or only by the server. */
  raisedBy: 'library' | 'server';
  status: number;
  /**
   * The code the seed API's error object carries: the code itself for the seed's four and the
   * server's own, else the one it is reported as (context_overflow is an invalid_request there).
   */
  sentAs?: string;
  /** The seed error object's `message` for a code that is sent as itself. */
  title?: string;
  /** OpenAI's `error.type` (its client picks the exception class by the status). */
  openAiType: 'invalid_request_error' | 'authentication_error' | 'permission_error' | 'not_found_error' | 'server_error';
  /** Sent with `Retry-After: 1`: the refusal is transient. */
  retry?: true;
  /** When it happens (the README's tables). */
  meaning: string;
}

export const errorRegistry = {
  // The seed's four, then those the server adds.
  model_not_found: { raisedBy: 'library', status: 404, title: 'The specified model was not found', openAiType: 'not_found_error', meaning: 'no model file at that path, or no model by that name' },
  invalid_request: { raisedBy: 'library', status: 400, title: 'Request format is invalid', openAiType: 'invalid_request_error', meaning: 'malformed JSON, invalid UTF-8, wrong types, missing fields, out-of-range values' },
  generation_failed: { raisedBy: 'library', status: 500, title: 'Text generation failed', openAiType: 'server_error', meaning: 'llama.cpp failed while generating (a lost RPC worker, a failed decode)' },
  server_error: { raisedBy: 'server', status: 500, title: 'Internal server error', openAiType: 'server_error', meaning: 'anything else (logged)' },
  overloaded: { raisedBy: 'server', status: 503, title: 'The server is busy; retry shortly', openAiType: 'server_error', retry: true, meaning: 'the server is shutting down and cancelled the generation' },
  unauthorized: { raisedBy: 'server', status: 401, title: 'A valid API key is required', openAiType: 'authentication_error', meaning: '`--api-key` set and the request carries the key neither as `Authorization: Bearer KEY` nor as `X-Api-Key: KEY` (a WebSocket upgrade may also send `?api_key=KEY`)' },
  forbidden: { raisedBy: 'server', status: 403, title: 'This client is not allowed', openAiType: 'permission_error', meaning: 'a browser page on an origin not allowed, or a `Host` not allowed (see Security)' },
  not_found: { raisedBy: 'server', status: 404, title: 'No such endpoint', openAiType: 'not_found_error', meaning: 'no such route' },
  method_not_allowed: { raisedBy: 'server', status: 405, title: 'This endpoint does not take that method', openAiType: 'invalid_request_error', meaning: 'the route exists for another method' },
  payload_too_large: { raisedBy: 'server', status: 413, title: 'The request body is too large', openAiType: 'invalid_request_error', meaning: 'body over `--body-limit` (refused before parsing; the connection is closed)' },
  response_not_found: { raisedBy: 'server', status: 404, title: 'No stored response has that id', openAiType: 'invalid_request_error', meaning: 'a Responses id (GET, DELETE, `previous_response_id`) that was never stored, was deleted or evicted, or belongs to another API key' },
  worker_unavailable: { raisedBy: 'library', status: 503, title: 'An RPC worker holding part of the model cannot be reached', openAiType: 'server_error', meaning: 'an RPC worker the model is split over could not be reached at load (one lost later fails its requests with `generation_failed`)' },
  // The library's own, each sent as one of the above.
  invalid_model: { raisedBy: 'library', status: 500, sentAs: 'generation_failed', openAiType: 'server_error', meaning: 'the file is not a GGUF model llama.cpp can load (corrupt, truncated, unsupported)' },
  context_overflow: { raisedBy: 'library', status: 400, sentAs: 'invalid_request', openAiType: 'invalid_request_error', meaning: 'the prompt plus max tokens does not fit the per-request context' },
  queue_full: { raisedBy: 'library', status: 503, sentAs: 'overloaded', openAiType: 'server_error', retry: true, meaning: 'all slots are busy and the wait queue is full' },
  model_closed: { raisedBy: 'library', status: 503, sentAs: 'overloaded', openAiType: 'server_error', retry: true, meaning: 'the model or engine was closed (the server unloaded it)' },
  aborted: { raisedBy: 'library', status: 500, sentAs: 'server_error', openAiType: 'server_error', meaning: "the caller's AbortSignal stopped a model load" },
  context_failed: { raisedBy: 'library', status: 500, sentAs: 'generation_failed', openAiType: 'server_error', meaning: 'llama.cpp could not create a context (usually out of memory)' },
  invalid_argument: { raisedBy: 'library', status: 500, sentAs: 'server_error', openAiType: 'server_error', meaning: 'a native call got arguments of the wrong type: a bug in the caller, thrown as a `TypeError` carrying this code' },
} as const satisfies Record<string, ErrorEntry>;

export type ErrorCode = keyof typeof errorRegistry;

/** The codes a seed error object can carry: those sent as themselves. */
export type SentCode = { [K in ErrorCode]: (typeof errorRegistry)[K] extends { sentAs: string } ? never : K }[ErrorCode];

/** The codes the library raises (the others come only from the server). */
export type LibraryErrorCode = { [K in ErrorCode]: (typeof errorRegistry)[K]['raisedBy'] extends 'library' ? K : never }[ErrorCode];

/** Meanings by code, for the library's codes. */
export const errorCodes = Object.fromEntries(
  Object.entries(errorRegistry as Record<string, ErrorEntry>).filter(([, e]) => e.raisedBy === 'library').map(([code, e]) => [code, e.meaning]),
) as Record<LibraryErrorCode, string>;

export function errorEntry(code: ErrorCode): ErrorEntry & { sentAs?: SentCode } {
  return errorRegistry[code] as ErrorEntry & { sentAs?: SentCode };
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(errorRegistry, code);
}

export class ShimmyError extends Error {
  override name = 'ShimmyError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A caller's bug (arguments of the wrong type): a TypeError, with the registry's code. */
export class ShimmyTypeError extends TypeError {
  override name = 'TypeError';
  readonly code = 'invalid_argument';
}

/**
 * Native errors carry `code`; this turns them (and anything else) into ShimmyError, or into a
 * ShimmyTypeError for a call with arguments of the wrong type.
 */
export function toShimmyError(error: unknown, fallback: ErrorCode = 'generation_failed'): ShimmyError | ShimmyTypeError {
  if (error instanceof ShimmyError || error instanceof ShimmyTypeError) return error;
  const code = (error as { code?: unknown })?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'invalid_argument') return new ShimmyTypeError(message);
  return new ShimmyError(isErrorCode(code) ? code : fallback, message);
}
