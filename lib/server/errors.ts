// Errors on the wire: every throw becomes a ShimmyError (an HttpError when it carries headers),
// and each protocol's error body is made here from the registry (lib/engine/errors.ts): the shimmy
// API's {"error":{"code","message","details"}} and OpenAI's {"error":{"message","type","param","code"}}.
import { errorEntry, errorRegistry, ShimmyError, type ErrorCode, type SentCode } from '../engine/errors.js';

/** An error the server raises, with the headers its response carries (Retry-After, …). */
export class HttpError extends ShimmyError {
  override name = 'HttpError';
  readonly headers: Record<string, string>;
  constructor(code: ErrorCode, details: string) {
    super(code, details);
    this.headers = 'retry' in errorRegistry[code] ? { 'Retry-After': '1' } : {};
  }
}

export const httpError = (code: ErrorCode, details: string) => new HttpError(code, details);

/** Any throw as a ShimmyError: its own code when it has one, else server_error. */
export function asShimmyError(error: unknown): ShimmyError {
  if (error instanceof ShimmyError) return error;
  return new ShimmyError('server_error', error instanceof Error ? error.message : String(error));
}

export const statusOf = (e: ShimmyError): number => errorEntry(e.code).status;

export const headersOf = (e: ShimmyError): Record<string, string> =>
  e instanceof HttpError ? e.headers : 'retry' in errorRegistry[e.code] ? { 'Retry-After': '1' } : {};

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
