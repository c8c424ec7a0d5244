// WebSocket /ws/generate: each message is a request {model, prompt, max_tokens, temperature, …};
// the server answers {"token": …} per token, then {"done": true}. The socket stays open for more.
// An optional `id` lets one socket run several requests at once (every frame then carries it),
// and {"cancel": id} stops one. Errors are the shimmy API's error object. While the client reads
// too slowly its requests are paused; one that stays behind past the stall limit, or falls more
// than the buffer limit behind, has its requests cancelled and is closed with 1008.
import type { ShimmyError } from '../../engine/errors.js';
import { parseFields } from '../../engine/schema.js';
import { hasApiKey, WS_API_KEY_HINT } from '../auth.js';
import { browserRefusal } from '../browser-guard.js';
import { runGeneration, type Client, type Sink } from '../completion/run-generation.js';
import { countRequest, type ServerContext } from '../context.js';
import { asShimmyError, errorBody, httpError, statusOf } from '../errors.js';
import type { IncomingRequest, WsConnection, WsHandlers } from '../transport/types.js';
import { parseWebSocketRequest, websocketCancelFields } from './request.js';
import { usageOf } from './routes.js';

/** How often a congested socket is looked at again (the transports report no drain for WebSockets). */
const DRAIN_POLL_MS = 20;
/** Bytes queued for a client past which its requests pause (a frame or two in flight is normal). */
const PAUSE_AT_BYTES = 64 << 10;

interface Socket {
  closed: boolean;
  authorized: boolean;
  /** Running requests by id: their cancel, and pause/resume while the socket is congested. */
  running: Map<string, { cancel(): void; pause(): void; resume(): void }>;
  /** While congested: when the client last took some of what is queued for it. */
  congestedSince: number | undefined;
}

const ANON = '\u0000';
const utf8 = new TextDecoder('utf-8', { fatal: true });

function send(ctx: ServerContext, ws: WsConnection, s: Socket, frame: unknown): void {
  if (s.closed) return;
  ws.send(JSON.stringify(frame));
  const behind = ws.bufferedAmount();
  if (behind > ctx.bufferLimit) return cutOff(ctx, ws, s, `the client fell more than ${ctx.bufferLimit} bytes behind`);
  if (behind > PAUSE_AT_BYTES && s.congestedSince === undefined) congest(ctx, ws, s);
}

function congest(ctx: ServerContext, ws: WsConnection, s: Socket): void {
  s.congestedSince = Date.now();
  for (const r of s.running.values()) r.pause();
  let behind = ws.bufferedAmount();
  const check = () => {
    if (s.closed) return;
    const now = ws.bufferedAmount();
    if (now < behind) s.congestedSince = Date.now(); // the client reads, however slowly
    behind = now;
    if (now <= PAUSE_AT_BYTES / 2) {
      s.congestedSince = undefined;
      for (const r of s.running.values()) r.resume();
    } else if (Date.now() - s.congestedSince! > ctx.stallLimitMs) {
      cutOff(ctx, ws, s, `the client read nothing for ${ctx.stallLimitMs} ms`);
    } else {
      setTimeout(check, DRAIN_POLL_MS).unref();
    }
  };
  setTimeout(check, DRAIN_POLL_MS).unref();
}

function cutOff(ctx: ServerContext, ws: WsConnection, s: Socket, why: string): void {
  for (const r of s.running.values()) r.cancel();
  s.closed = true;
  ctx.metrics.slowClientsCutOff.websocket++;
  ws.end(1008, why);
}

const sendError = (ctx: ServerContext, ws: WsConnection, s: Socket, e: ShimmyError, id: unknown) =>
  send(ctx, ws, s, id === undefined ? errorBody(e) : { id, ...errorBody(e) });

async function start(ctx: ServerContext, ws: WsConnection, s: Socket, message: Record<string, unknown>): Promise<number> {
  const { id, model, request } = parseWebSocketRequest(message);
  const key = id === undefined ? ANON : String(id);
  if (s.running.has(key)) {
    throw httpError('invalid_request', id === undefined
      ? 'a request is already running on this socket; give each request an "id" to run several at once'
      : `a request with id ${JSON.stringify(id)} is already running`);
  }
  const tag = id === undefined ? {} : { id };
  // The id is taken at once: a cancel while the model loads ends the request before it starts.
  // The socket's close cancels every request it runs (s.running); congestion pauses them all.
  let cancelled = false;
  const entry: { cancel(): void; pause(): void; resume(): void } = { cancel: () => void (cancelled = true), pause: () => {}, resume: () => {} };
  s.running.set(key, entry);
  const client: Client = {
    get open() {
      return !s.closed && !cancelled;
    },
    onAbort: (cancel) => {
      entry.cancel = cancel;
      if (cancelled || s.closed) cancel();
    },
    onCongestion: (pause, resume) => {
      Object.assign(entry, { pause, resume });
      if (s.congestedSince !== undefined) pause();
    },
  };
  const sink: Sink = {
    open: () => {},
    text: (token) => send(ctx, ws, s, { ...tag, token }),
    done: (r) => {
      s.running.delete(key);
      send(ctx, ws, s, { ...tag, done: true, finish_reason: r.finishReason, usage: usageOf(r) });
    },
    error: (e) => {
      s.running.delete(key);
      sendError(ctx, ws, s, e, id);
    },
  };
  try {
    const status = await runGeneration(ctx, model, client, () => ({ request, sink }));
    if (status === 499 && !s.closed) {
      s.running.delete(key);
      send(ctx, ws, s, { ...tag, done: true, finish_reason: 'cancelled', usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } });
    }
    return status;
  } catch (error) {
    s.running.delete(key);
    throw error;
  }
}

function onMessage(ctx: ServerContext, ws: WsConnection, s: Socket, data: Buffer): void {
  let message: unknown;
  try {
    message = JSON.parse(utf8.decode(data));
  } catch {
    return sendError(ctx, ws, s, httpError('invalid_request', 'each message must be a JSON object in UTF-8'), undefined);
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    return sendError(ctx, ws, s, httpError('invalid_request', 'each message must be a JSON object'), undefined);
  }
  const m = message as Record<string, unknown>;
  if ('cancel' in m) {
    try {
      s.running.get(String(parseFields(websocketCancelFields, m, { wire: true }).cancel))?.cancel();
    } catch (error) {
      sendError(ctx, ws, s, asShimmyError(error), undefined);
    }
    return;
  }
  start(ctx, ws, s, m).then(
    (status) => countRequest(ctx, 'WS /ws/generate', status),
    (error) => {
      const e = asShimmyError(error);
      sendError(ctx, ws, s, e, m.id);
      countRequest(ctx, 'WS /ws/generate', statusOf(e));
    },
  );
}

function refuse(e: ShimmyError) {
  return { refusal: { status: statusOf(e), headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(errorBody(e)) } };
}

export function webSocketHandlers(ctx: ServerContext): WsHandlers<Socket> {
  const path = '/ws/generate';
  return {
    path,
    maxPayload: ctx.bodyLimit,
    upgrade: (req: IncomingRequest) => {
      if (req.framing) return refuse(httpError('invalid_request', req.framing));
      if (req.path !== path) return refuse(httpError('not_found', `WebSocket upgrades are served at ${path}`));
      // Browsers send no preflight for WebSockets: the Origin check is the only guard.
      const refusal = browserRefusal(ctx.browser, req.headers.host, req.headers.origin);
      if (refusal) return refuse(httpError('forbidden', refusal));
      const authorized = hasApiKey(ctx.apiKey, req.headers, req.query);
      return { state: { closed: false, authorized, running: new Map(), congestedSince: undefined } };
    },
    open: (ws, s) => {
      if (s.authorized) return;
      sendError(ctx, ws, s, httpError('unauthorized', WS_API_KEY_HINT), undefined);
      s.closed = true;
      ws.end(4401, 'unauthorized');
    },
    message: (ws, s, data) => {
      // The error boundary of the WebSocket protocol: no message can throw past here.
      try {
        if (!s.closed) onMessage(ctx, ws, s, data);
      } catch (error) {
        ctx.log(`unexpected error on /ws/generate: ${(error as Error)?.stack ?? String(error)}`);
        sendError(ctx, ws, s, httpError('server_error', 'an unexpected error occurred; it was logged'), undefined);
      }
    },
    close: (_ws, s) => {
      s.closed = true;
      for (const r of s.running.values()) r.cancel(); // a socket that leaves frees its slots
      s.running.clear();
    },
  };
}
