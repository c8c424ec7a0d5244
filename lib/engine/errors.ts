// Every error shimmy raises carries one of these codes. The server maps them to HTTP statuses
// and the seed's error object in one place (lib/server/errors.ts); the README lists them.
export const errorCodes = {
  model_not_found: 'no model file at that path or with that name',
  invalid_model: 'the file is not a GGUF model llama.cpp can load (corrupt, truncated, unsupported)',
  invalid_request: 'an option has the wrong type or is out of range',
  context_overflow: 'the prompt plus max tokens does not fit the per-request context',
  queue_full: 'all slots are busy and the wait queue is full',
  aborted: 'the caller aborted a model load',
  model_closed: 'the model or engine was closed',
  generation_failed: 'llama.cpp failed while generating',
  context_failed: 'llama.cpp could not create a context (usually out of memory)',
  invalid_argument: 'a native call got arguments of the wrong type (a bug in the caller)',
  worker_unavailable: 'an RPC worker the model is split over could not be reached at load',
} as const;

export type ErrorCode = keyof typeof errorCodes;

export class ShimmyError extends Error {
  override name = 'ShimmyError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Native errors carry `code`; this turns them (and anything else) into ShimmyError. */
export function toShimmyError(error: unknown, fallback: ErrorCode = 'generation_failed'): ShimmyError {
  if (error instanceof ShimmyError) return error;
  const code = (error as { code?: unknown })?.code;
  const message = error instanceof Error ? error.message : String(error);
  return new ShimmyError(typeof code === 'string' && code in errorCodes ? (code as ErrorCode) : fallback, message);
}
