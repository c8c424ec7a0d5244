// One HTTP exchange over any transport: abort tracking registered before any await, a bounded
// body reader, JSON answers, and a streaming writer that honours backpressure.
import { errorBody, wireError, type WireError } from './errors.js';
import type { IncomingRequest, RawResponse } from './transport/types.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Default for the most bytes a streaming client may fall behind before it is cut off. */
export const DEFAULT_BUFFER_LIMIT = 8 << 20;

export class Exchange {
  aborted = false;
  finished = false;
  /** Headers every response of this exchange carries (CORS for an allowed browser origin). */
  readonly extraHeaders: Record<string, string> = {};
  private readonly abortHandlers: (() => void)[] = [];
  private backlog = '';
  private congested = false;
  private streaming = false;

  constructor(
    readonly req: IncomingRequest,
    private readonly res: RawResponse,
    private readonly bufferLimit = DEFAULT_BUFFER_LIMIT,
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

  /** The body as parsed JSON (whatever the Content-Type says), refusing it past `limit` bytes. */
  readJson(limit: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const declared = Number(this.header('content-length') || 0);
      if (declared > limit) return reject(wireError('payload_too_large', `the body is ${declared} bytes; the limit is ${limit}`));
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
        parts.push(chunk);
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

  /** A whole response; `closeConnection` when unread request bytes may still be on the wire. */
  send(code: number, contentType: string, body: string, headers?: Record<string, string>, closeConnection = false): void {
    if (!this.open) return;
    this.finished = true;
    this.res.respond(code, { ...this.extraHeaders, ...headers, 'Content-Type': contentType }, body, closeConnection);
  }

  json(code: number, body: unknown, headers?: Record<string, string>, closeConnection = false): void {
    this.send(code, 'application/json', JSON.stringify(body), headers, closeConnection);
  }

  error(e: WireError): void {
    // A body we refused to read leaves bytes on the wire: close rather than misparse them.
    this.json(e.status, errorBody(e), e.headers, e.code === 'payload_too_large');
  }

  /** Starts a streamed response; later `write` calls append to it. */
  beginStream(contentType: string): void {
    if (!this.open) return;
    this.streaming = true;
    this.res.begin(200, { ...this.extraHeaders, 'Content-Type': contentType, 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
  }

  /**
   * Writes streamed text. While the socket is congested, text waits in a JS backlog that is
   * flushed when it drains; a client that falls more than `bufferLimit` behind is cut off (its
   * onAbort handlers cancel the generation).
   */
  write(text: string): void {
    if (!this.open || !this.streaming) return;
    if (this.congested) {
      this.backlog += text;
      if (this.backlog.length > this.bufferLimit) this.cutOff();
      return;
    }
    if (!this.res.write(text)) {
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
    this.res.end(rest);
  }

  private cutOff(): void {
    this.onCutOff();
    this.backlog = '';
    this.finished = true;
    this.res.close();
    this.aborted = true;
    for (const fn of this.abortHandlers.splice(0)) fn();
  }
}
