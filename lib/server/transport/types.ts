// The small interface between the protocols (lib/server/*.ts) and the HTTP/WebSocket library
// that carries them. Two implementations: uWebSockets.js (uws.ts), the fast path where its
// binary loads, and node:http with the `ws` package (node-http.ts) everywhere else. The route
// table, the error boundary and all protocol code sit above this line, so both serve the same API.

/** What a handler may read of a request: copied at once, valid after any await. */
export interface IncomingRequest {
  /** Upper case: GET, POST, OPTIONS, … */
  method: string;
  /** The path as sent, still percent-encoded, without the query. */
  path: string;
  /** The query string without '?'. */
  query: string;
  /** Header values by lower-case name. */
  headers: Record<string, string>;
  /** Why the headers frame the request ambiguously (framing.ts): it is refused before any route. */
  framing?: string | undefined;
}

/** One HTTP response, written once (respond) or streamed (begin, write…, end). */
export interface RawResponse {
  /** Called once when the client goes away before the response ended. */
  onAborted(fn: () => void): void;
  /** The request body in chunks; `last` marks the final one (an empty body is one empty last chunk). */
  onData(fn: (chunk: Buffer, last: boolean) => void): void;
  /** The whole response; with `close`, the connection closes after it. */
  respond(status: number, headers: Record<string, string>, body: string, close: boolean): void;
  /** Starts a streamed response: the status and headers leave at once. */
  begin(status: number, headers: Record<string, string>): void;
  /** Appends to a streamed response; false when the socket is congested (see onWritable). */
  write(text: string): boolean;
  /** Calls `fn` when the socket can take more; `fn` returns false to be called again later. */
  onWritable(fn: () => boolean): void;
  end(text: string): void;
  /** Cuts the connection now. */
  close(): void;
}

/** One WebSocket connection. Sends after close are ignored. */
export interface WsConnection {
  send(text: string): void;
  /** Bytes queued for this client and not yet written to its socket. */
  bufferedAmount(): number;
  end(code: number, reason: string): void;
}

/** A refusal of an HTTP request or a WebSocket upgrade, answered before any handler runs. */
export interface Refusal {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface WsHandlers<State> {
  path: string;
  maxPayload: number;
  /** Decides on an upgrade (to any path: it refuses those other than `path`): the new connection's state, or a refusal answered over HTTP. */
  upgrade(req: IncomingRequest): { state: State } | { refusal: Refusal };
  open(ws: WsConnection, state: State): void;
  message(ws: WsConnection, state: State, data: Buffer): void;
  close(ws: WsConnection, state: State): void;
}

export interface Listening {
  port: number;
  /** Stops accepting connections. */
  stopAccepting(): void;
  /** Closes every remaining connection. */
  closeAll(): void;
}

export interface Transport {
  /** 'uws' or 'node', with the library build it runs on, for diag, the startup line and /metrics. */
  readonly name: 'uws' | 'node';
  readonly description: string;
  listen<State>(host: string, port: number, http: (req: IncomingRequest, res: RawResponse) => void, ws: WsHandlers<State>): Promise<Listening>;
}

/** Idle connections (no request, or a request whose body stalls) are closed after this long. */
export const IDLE_TIMEOUT_S = 10;
/**
 * A request body slower than this, over each IDLE_TIMEOUT_S, is cut off: uWS's rule
 * (HTTP_RECEIVE_THROUGHPUT_BYTES), which node-http.ts applies too.
 */
export const BODY_MIN_BYTES_PER_S = 16 * 1024;
/** WebSocket connections that answer no ping for this long are closed. */
export const WS_IDLE_TIMEOUT_S = 120;

export const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 204: 'No Content', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 413: 'Payload Too Large', 500: 'Internal Server Error', 503: 'Service Unavailable',
};
