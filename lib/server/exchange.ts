// One HTTP exchange over any transport: abort tracking registered before any await, a bounded
// body reader, JSON answers, and a streaming writer that honours backpressure: while the socket
// is congested the generation feeding it is paused (Client.onCongestion), and only a client that
// takes nothing for the stall limit, or falls past the byte limit, is cut off.
import type { Client } from './completion/run-generation.js';
import { errorBody, headersOf, httpError, statusOf } from './errors.js';
import type { ShimmyError } from '../engine/errors.js';
import { depthExceeds } from '../engine/json-depth.js';
import type { IncomingRequest, RawResponse } from './transport/types.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The deepest JSON nesting a request body may have (a chat request's own limit is lower: lib/engine/chat.ts). */
export const MAX_BODY_DEPTH = 128;

/** Default for the most bytes a streaming client may fall behind before it is cut off. */
export const DEFAULT_BUFFER_LIMIT = 8 << 20;
/** Default for how long a congested streaming client may take nothing (its generation paused) before it is cut off. */
export const DEFAULT_STALL_LIMIT_MS = 30_000;

export interface StreamLimits {
  bufferLimit: number;
  stallLimitMs: number;
}

export class Exchange implements Client {
  aborted = false;
  finished = false;
  /** Headers every response of this exchange carries (CORS for an allowed browser origin). */
  readonly extraHeaders: Record<string, string> = {};
  private readonly abortHandlers: (() => void)[] = [];
  private backlog = '';
  private congested = false;
  private streaming = false;
  private readonly congestionHandlers: { pause: () => void; resume: () => void }[] = [];
  private stallTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly req: IncomingRequest,
    private readonly res: RawResponse,
    private readonly limits: StreamLimits = { bufferLimit: DEFAULT_BUFFER_LIMIT, stallLimitMs: DEFAULT_STALL_LIMIT_MS },
    private readonly onCutOff = () => {},
  ) {
    res.onAborted(() => {
      this.aborted = true;
      for (const fn of this.abortHandlers.splice(0)) fn();
    });
  }

  header(name: string): string {
    return this.req.headers[name] ?? '';
  }

  get open(): boolean {
    return !this.aborted && !this.finished;
  }

  onAbort(fn: () => void): void {
    if (this.aborted) fn();
    else this.abortHandlers.push(fn);
  }

  onCongestion(pause: () => void, resume: () => void): void {
    this.congestionHandlers.push({ pause, resume });
    if (this.congested) pause();
  }

  /** The body as parsed JSON (whatever the Content-Type says), refusing it past `limit` bytes. */
  readJson(limit: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const declared = Number(this.header('content-length') || 0);
      if (declared > limit) return reject(httpError('payload_too_large', `the body is ${declared} bytes; the limit is ${limit}`));
      const parts: Buffer[] = [];
      let size = 0;
      let refused = false;
      this.res.onData((chunk, isLast) => {
        if (refused) return;
        size += chunk.byteLength;
        if (size > limit) {
          refused = true;
          return reject(httpError('payload_too_large', `the body exceeds the limit of ${limit} bytes`));
        }
        parts.push(chunk);
        if (!isLast) return;
        let text: string;
        try {
          text = utf8.decode(Buffer.concat(parts));
        } catch {
          return reject(httpError('invalid_request', 'the body is not valid UTF-8'));
        }
        if (text.trim() === '') return reject(httpError('invalid_request', 'the body is empty; send a JSON object'));
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch (error) {
          return reject(httpError('invalid_request', `malformed JSON: ${(error as Error).message}`));
        }
        // Deeper than any real request: refused before code that recurses (JSON.stringify) meets it.
        if (depthExceeds(body, MAX_BODY_DEPTH)) return reject(httpError('invalid_request', `the body is nested deeper than ${MAX_BODY_DEPTH} levels`));
        resolve(body);
      });
    });
  }

  /** A whole response; `closeConnection` when unread request bytes may still be on the wire. */
  send(code: number, contentType: string, body: string, headers?: Record<string, string>, closeConnection = false): void {
    if (!this.open) return;
    this.finished = true;
    this.res.respond(code, { ...this.extraHeaders, ...headers, 'Content-Type': contentType }, body, closeConnection);
  }

  json(code: number, body: unknown, headers?: Record<string, string>, closeConnection = false): void {
    this.send(code, 'application/json', JSON.stringify(body), headers, closeConnection);
  }

  /** The seed API's error object; `body` makes another dialect's. */
  error(e: ShimmyError, body: (e: ShimmyError) => unknown = errorBody): void {
    // A stream already begun cannot take a status any more: it ends as it is.
    if (this.streaming) return this.endStream();
    // A body we refused to read, or one whose framing we do not trust, leaves bytes on the wire:
    // close rather than misparse them.
    this.json(statusOf(e), body(e), headersOf(e), e.code === 'payload_too_large' || this.req.framing !== undefined);
  }

  /** Starts a streamed response; later `write` calls append to it. */
  beginStream(contentType: string): void {
    if (!this.open) return;
    this.streaming = true;
    this.res.begin(200, { ...this.extraHeaders, 'Content-Type': contentType, 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
  }

  /**
   * Writes streamed text. While the socket is congested, text waits in a JS backlog that is
   * flushed when it drains, and the generations feeding it are paused; a client that stays
   * congested past the stall limit, or falls more than the byte limit behind, is cut off (its
   * onAbort handlers cancel the generation).
   */
  write(text: string): void {
    if (!this.open || !this.streaming) return;
    if (this.congested) {
      this.backlog += text;
      if (this.backlog.length > this.limits.bufferLimit) this.cutOff();
      return;
    }
    if (!this.res.write(text)) this.congest();
  }

  private congest(): void {
    this.congested = true;
    for (const h of this.congestionHandlers) h.pause();
    this.armStallTimer();
    this.res.onWritable(() => {
      if (!this.open) return true;
      this.armStallTimer(); // the socket took some: the client reads, however slowly
      const pending = this.backlog;
      this.backlog = '';
      const written = pending === '' || this.res.write(pending);
      if (written) this.drained();
      return written;
    });
  }

  /** A client that takes nothing for the stall limit is cut off. */
  private armStallTimer(): void {
    clearTimeout(this.stallTimer);
    this.stallTimer = setTimeout(() => this.cutOff(), this.limits.stallLimitMs);
    this.stallTimer.unref?.();
  }

  private drained(): void {
    this.congested = false;
    clearTimeout(this.stallTimer);
    for (const h of this.congestionHandlers) h.resume();
  }

  /** Ends a streamed response with its last text (the backlog goes first). */
  endStream(text = ''): void {
    if (!this.open) return;
    this.finished = true;
    clearTimeout(this.stallTimer);
    const rest = this.backlog + text;
    this.backlog = '';
    this.res.end(rest);
  }

  private cutOff(): void {
    if (!this.open) return;
    clearTimeout(this.stallTimer);
    this.onCutOff();
    this.backlog = '';
    this.finished = true;
    this.res.close();
    this.aborted = true;
    for (const fn of this.abortHandlers.splice(0)) fn();
  }
}
