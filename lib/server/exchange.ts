// One HTTP exchange on uWebSockets.js: abort tracking registered before any await, a bounded
// body reader, corked JSON answers, and a streaming writer that honours backpressure.
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { errorBody, wireError, type WireError } from './errors.js';

const STATUS: Record<number, string> = {
  200: '200 OK', 400: '400 Bad Request', 401: '401 Unauthorized', 404: '404 Not Found', 405: '405 Method Not Allowed',
  413: '413 Payload Too Large', 500: '500 Internal Server Error', 503: '503 Service Unavailable',
};
const status = (code: number) => STATUS[code] ?? `${code} Error`;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Most bytes a streaming client may fall behind before its request is cancelled. */
const MAX_BACKLOG = 8 << 20;

export class Exchange {
  aborted = false;
  finished = false;
  private readonly abortHandlers: (() => void)[] = [];
  private backlog = '';
  private congested = false;
  private streaming = false;

  constructor(
    readonly res: HttpResponse,
    readonly headers: { contentLength: number; authorization: string },
  ) {
    res.onAborted(() => {
      this.aborted = true;
      for (const fn of this.abortHandlers.splice(0)) fn();
    });
  }

  static start(res: HttpResponse, req: HttpRequest): Exchange {
    // Everything needed from `req` is copied now: it is invalid after the first await.
    return new Exchange(res, {
      contentLength: Number(req.getHeader('content-length') || 0),
      authorization: req.getHeader('authorization') || (req.getHeader('x-api-key') ? `Bearer ${req.getHeader('x-api-key')}` : ''),
    });
  }

  get open(): boolean {
    return !this.aborted && !this.finished;
  }

  onAbort(fn: () => void): void {
    if (this.aborted) fn();
    else this.abortHandlers.push(fn);
  }

  /** The body as parsed JSON (whatever the Content-Type says), refusing it past `limit` bytes. */
  readJson(limit: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.headers.contentLength > limit) {
        return reject(wireError('payload_too_large', `the body is ${this.headers.contentLength} bytes; the limit is ${limit}`));
      }
      const parts: Buffer[] = [];
      let size = 0;
      let refused = false;
      this.res.onData((chunk, isLast) => {
        if (refused) return;
        size += chunk.byteLength;
        if (size > limit) {
          refused = true;
          return reject(wireError('payload_too_large', `the body exceeds the limit of ${limit} bytes`));
        }
        parts.push(Buffer.from(chunk.slice(0))); // the ArrayBuffer is reused after this callback
        if (!isLast) return;
        let text: string;
        try {
          text = utf8.decode(Buffer.concat(parts));
        } catch {
          return reject(wireError('invalid_request', 'the body is not valid UTF-8'));
        }
        if (text.trim() === '') return reject(wireError('invalid_request', 'the body is empty; send a JSON object'));
        try {
          resolve(JSON.parse(text));
        } catch (error) {
          reject(wireError('invalid_request', `malformed JSON: ${(error as Error).message}`));
        }
      });
    });
  }

  json(code: number, body: unknown, headers?: Record<string, string>, closeConnection = false): void {
    if (!this.open) return;
    this.finished = true;
    const text = JSON.stringify(body);
    this.res.cork(() => {
      this.res.writeStatus(status(code));
      for (const [k, v] of Object.entries(headers ?? {})) this.res.writeHeader(k, v);
      this.res.writeHeader('Content-Type', 'application/json');
      this.res.end(text, closeConnection);
    });
  }

  error(e: WireError): void {
    // A body we refused to read leaves bytes on the wire: close rather than misparse them.
    this.json(e.status, errorBody(e), e.headers, e.code === 'payload_too_large');
  }

  /** Starts a streamed response; later `write` calls append to it. */
  beginStream(contentType: string): void {
    if (!this.open) return;
    this.streaming = true;
    this.res.cork(() => {
      this.res.writeStatus('200 OK');
      this.res.writeHeader('Content-Type', contentType);
      this.res.writeHeader('Cache-Control', 'no-cache');
      this.res.writeHeader('X-Accel-Buffering', 'no');
      this.res.write(''); // flush headers now, so clients see the stream start
    });
  }

  /**
   * Writes streamed text. While the socket is congested, text waits in a JS backlog that is
   * flushed from onWritable; a client that falls more than MAX_BACKLOG behind is cut off
   * (its onAbort handlers cancel the generation).
   */
  write(text: string): void {
    if (!this.open || !this.streaming) return;
    if (this.congested) {
      this.backlog += text;
      if (this.backlog.length > MAX_BACKLOG) this.cutOff();
      return;
    }
    let ok = true;
    this.res.cork(() => (ok = this.res.write(text)));
    if (!ok) {
      this.congested = true;
      this.res.onWritable(() => {
        if (!this.open) return true;
        const pending = this.backlog;
        this.backlog = '';
        const written = pending === '' || this.res.write(pending);
        if (written) this.congested = false;
        return written;
      });
    }
  }

  /** Ends a streamed response with its last text (the backlog goes first). */
  endStream(text = ''): void {
    if (!this.open) return;
    this.finished = true;
    const rest = this.backlog + text;
    this.backlog = '';
    this.res.cork(() => this.res.end(rest));
  }

  private cutOff(): void {
    this.backlog = '';
    this.finished = true;
    this.res.close();
    this.aborted = true;
    for (const fn of this.abortHandlers.splice(0)) fn();
  }
}
